"""A small, safe Markdown subset for model outputs on the console.

The whole input is `html.escape`d first, so no markup of the author's can reach the page;
the rules below only ever add our own tags around escaped text. Links need an http(s) URL
(anything else, `javascript:` included, stays text) and get no target. No rule emits a style
or event attribute, so the page stays within its CSP. Each rule runs once, left to right,
with no backtracking across lines, so the cost is linear in the input for ordinary text.
"""

from __future__ import annotations

import html
import re

HEADING = re.compile(r"#{1,6}(?=\s)\s*(.*?)\s*#*\s*")
BULLET = re.compile(r"\s*[-*]\s+(.*)")
NUMBERED = re.compile(r"\s*\d{1,9}[.)]\s+(.*)")
FENCE = re.compile(r"\s*```")
CODE = re.compile(r"`([^`\n]+)`")
# After escaping, a quote is `&quot;`: a URL cannot leave its attribute.
LINK = re.compile(r"\[([^\[\]\n]+)\]\(([^()\s\x00]+)\)")
SAFE_URL = re.compile(r"https?://[^\s]+", re.IGNORECASE)
# Emphasis never spans a tag (`<` only comes from our own markup), so tags always nest; and
# never more than 300 characters, so a line of unmatched markers costs linear time, not n^2.
BOLD = re.compile(r"\*\*(?=[^\s*<])([^<\n]{0,300}?[^\s<])\*\*")
ITALIC_STAR = re.compile(r"(?<!\*)\*(?=[^\s*<])([^<*\n]{0,300}?[^\s<*])\*(?!\*)")
ITALIC_UNDERSCORE = re.compile(r"(?<![\w_])_(?=[^\s_<])([^<_\n]{0,300}?[^\s<_])_(?![\w_])")
SLOT = re.compile("\x00(\\d+)\x00")  # a placeholder for a finished code span or link
LINK_REL = "noopener noreferrer nofollow"


def render(text: str) -> str:
    """`text` as HTML: paragraphs, headings (as h4-h6), lists, code and links, all escaped."""
    # NUL marks our placeholders: the author's own become U+FFFD, as a browser shows them.
    lines = html.escape(text.replace("\x00", "\ufffd"), quote=True).splitlines()
    out: list[str] = []
    paragraph: list[str] = []
    items: list[str] = []
    kind = ""  # the open list's tag, "ul" or "ol"

    def close() -> None:
        nonlocal kind
        if paragraph:
            out.append("<p>" + "<br>".join(inline(line) for line in paragraph) + "</p>")
            paragraph.clear()
        if items:
            out.append(f"<{kind}>" + "".join(f"<li>{inline(i)}</li>" for i in items) + f"</{kind}>")
            items.clear()
            kind = ""

    index = 0
    while index < len(lines):
        line = lines[index]
        index += 1
        if FENCE.match(line):
            close()
            code: list[str] = []
            while index < len(lines) and not FENCE.match(lines[index]):
                code.append(lines[index])
                index += 1
            index += 1  # the closing fence; an unclosed block runs to the end
            out.append("<pre><code>" + "\n".join(code) + "</code></pre>")
            continue
        if not line.strip():
            close()
            continue
        heading = HEADING.fullmatch(line)
        if heading:
            close()
            level = min(3 + len(line) - len(line.lstrip("#")), 6)
            out.append(f"<h{level}>{inline(heading.group(1))}</h{level}>")
            continue
        bullet, numbered = BULLET.fullmatch(line), NUMBERED.fullmatch(line)
        item = bullet or numbered
        if item:
            wanted = "ul" if bullet else "ol"
            if paragraph or kind != wanted:
                close()
            kind = wanted
            items.append(item.group(1))
            continue
        if items:
            close()
        paragraph.append(line)
    close()
    return "".join(out)


def inline(escaped: str) -> str:
    """Code spans, links and emphasis in one line of already escaped text."""
    done: list[str] = []

    def keep(markup: str) -> str:
        done.append(markup)
        return f"\x00{len(done) - 1}\x00"

    def code(match: re.Match[str]) -> str:
        return keep(f"<code>{match.group(1)}</code>")

    def link(match: re.Match[str]) -> str:
        label, url = match.group(1), match.group(2)
        if not SAFE_URL.fullmatch(url):
            return match.group(0)  # another scheme or a relative URL: plain text
        return keep(f'<a href="{url}" rel="{LINK_REL}">{emphasis(label)}</a>')

    text = LINK.sub(link, CODE.sub(code, escaped))
    text = emphasis(text)
    # A link's label may hold a code span's slot: fill slots until none is left.
    while SLOT.search(text):
        text = SLOT.sub(lambda m: done[int(m.group(1))], text)
    return text


def emphasis(text: str) -> str:
    text = BOLD.sub(r"<strong>\1</strong>", text)
    text = ITALIC_STAR.sub(r"<em>\1</em>", text)
    return ITALIC_UNDERSCORE.sub(r"<em>\1</em>", text)
