"""The console's Markdown subset: each rule, and that no author markup ever reaches the page."""

from __future__ import annotations

import re
import time

import pytest

from chorus.orchestrator_service.api.console.markdown import render

REL = 'rel="noopener noreferrer nofollow"'


def test_blank_lines_separate_paragraphs_and_single_newlines_break_lines() -> None:
    assert render("one\ntwo\n\n\nthree") == "<p>one<br>two</p><p>three</p>"


def test_headings_render_as_h4_to_h6_so_they_never_outrank_the_page() -> None:
    assert render("# Top") == "<h4>Top</h4>"
    assert render("## Second ##") == "<h5>Second</h5>"
    assert render("### Third\n###### Sixth") == "<h6>Third</h6><h6>Sixth</h6>"
    assert render("####### seven") == "<p>####### seven</p>"
    assert render("#hashtag") == "<p>#hashtag</p>"


def test_bullets_and_numbers_make_one_level_lists() -> None:
    assert render("- a\n* b") == "<ul><li>a</li><li>b</li></ul>"
    assert render("1. a\n2. b\n\ntext") == "<ol><li>a</li><li>b</li></ol><p>text</p>"
    assert render("intro\n- a\n1. b\nafter") == (
        "<p>intro</p><ul><li>a</li></ul><ol><li>b</li></ol><p>after</p>"
    )


def test_a_fenced_block_keeps_markdown_and_html_literal_and_escaped() -> None:
    text = "```python\n# not a heading\n**not bold** <b>x</b> [a](https://e.com)\n```\nafter"
    assert render(text) == (
        "<pre><code># not a heading\n**not bold** &lt;b&gt;x&lt;/b&gt; [a](https://e.com)"
        "</code></pre><p>after</p>"
    )


def test_an_unclosed_fence_runs_to_the_end() -> None:
    assert render("```\n- x\n\n# y") == "<pre><code>- x\n\n# y</code></pre>"


def test_inline_code_bold_and_italics() -> None:
    assert render("use `x < 1` now") == "<p>use <code>x &lt; 1</code> now</p>"
    assert render("`**raw**`") == "<p><code>**raw**</code></p>"
    assert render("**bold** and *it* and _it_") == (
        "<p><strong>bold</strong> and <em>it</em> and <em>it</em></p>"
    )
    assert render("**a *b* c**") == "<p><strong>a <em>b</em> c</strong></p>"


def test_snake_case_and_spaced_or_unbalanced_markers_stay_text() -> None:
    for text in ("snake_case_name", "2 * 3 * 4", "**open", "*a **b* c**", "__", "a * b"):
        html = render(text)
        assert html.count("<em>") == html.count("</em>")
        assert html.count("<strong>") == html.count("</strong>")
    assert render("snake_case_name") == "<p>snake_case_name</p>"
    assert render("2 * 3 * 4") == "<p>2 * 3 * 4</p>"
    assert render("**open") == "<p>**open</p>"


def test_tags_always_nest_whatever_the_markers() -> None:
    html = render("*a **b* c** _d *e_ f* **`g`** [*h*](https://e.com/_i_)")
    stack: list[str] = []
    for closing, tag in re.findall(r"<(/?)(\w+)[^>]*>", html):
        if closing:
            assert stack and stack.pop() == tag, html
        else:
            stack.append(tag)
    assert stack == [], html


def test_http_and_https_links_get_a_safe_rel_and_no_target() -> None:
    assert render("[docs](https://example.com/a?b=1&c=2)") == (
        f'<p><a href="https://example.com/a?b=1&amp;c=2" {REL}>docs</a></p>'
    )
    assert render("[**x**](http://e.com)") == (
        f'<p><a href="http://e.com" {REL}><strong>x</strong></a></p>'
    )
    assert "target" not in render("[a](https://e.com)")


@pytest.mark.parametrize(
    "text",
    [
        "[x](javascript:alert(1))",
        "[x](javascript:alert%281%29)",
        "[x](JAVASCRIPT:void0)",
        "[x](JavaScript:alert`1`)",
        "[x](data:text/html,<script>alert(1)</script>)",
        "[x](//evil.example)",
        "[x](/ui/logout)",
        "[x](vbscript:msgbox)",
    ],
)
def test_any_other_link_scheme_stays_plain_text(text: str) -> None:
    html = render(text)
    assert "<a" not in html and "href" not in html
    assert "<script" not in html


def test_a_quote_in_a_url_cannot_leave_the_attribute() -> None:
    html = render('[x](https://e.com/"onmouseover="alert(1))')
    assert '"onmouseover' not in html and "&quot;onmouseover=&quot;" in html


def test_raw_html_is_escaped_everywhere() -> None:
    attacks = [
        "<script>alert(1)</script>",
        '<img src=x onerror="alert(1)">',
        "# <script>x</script>",
        "- <iframe src=//e>",
        "**<svg onload=alert(1)>**",
        "`<script>`",
        "[<b>x</b>](https://e.com)",
        '<a href="javascript:alert(1)">x</a>',
        "<style>body{}</style>",
    ]
    for text in attacks:
        html = render(text)
        tags = set(re.findall(r"<\s*/?\s*(\w+)", html))
        assert tags <= {"p", "h4", "h5", "h6", "ul", "ol", "li", "pre", "code", "strong", "em",
                        "a", "br"}, (text, html)  # fmt: skip
        assert "onerror=" not in html.replace("&quot;", "") or "<img" not in html
        assert "<img" not in html and "<script" not in html and "<iframe" not in html
        assert "style" not in re.sub(r"&lt;/?style&gt;", "", html)


def test_no_event_or_style_attribute_is_ever_emitted() -> None:
    html = render("# h\n- *a*\n1. **b**\n\n`c` [d](https://e.com) _f_\n```\ng\n```")
    attributes = set(re.findall(r"\s([a-z-]+)=\"", html))
    assert attributes == {"href", "rel"}


def test_a_nul_in_the_input_cannot_forge_a_placeholder() -> None:
    assert render("`a` \x000\x00") == "<p><code>a</code> \ufffd0\ufffd</p>"


def test_ten_thousand_lines_render_well_under_a_second() -> None:
    block = "# Title\nSome **bold** text with `code` and [a link](https://e.com).\n- item *one*\n\n"
    text = block * 2500  # 10,000 lines
    started = time.perf_counter()
    html = render(text)
    elapsed = time.perf_counter() - started
    assert elapsed < 1.0, f"{elapsed:.3f}s"
    assert html.count("<h4>") == 2500 and html.count("<a ") == 2500


def test_one_long_line_of_unbalanced_markers_renders_quickly() -> None:
    started = time.perf_counter()
    render("**a " * 5_000 + "_b " * 5_000 + "[x](" * 5_000)
    elapsed = time.perf_counter() - started
    assert elapsed < 1.0, f"{elapsed:.3f}s"
