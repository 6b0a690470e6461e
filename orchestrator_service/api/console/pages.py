"""The console's pages as HTML strings, from records already checked to be the caller's."""

from __future__ import annotations

from datetime import datetime
from urllib.parse import quote, urlencode

from chorus.contract.models import JobRecord, JobStatus, SubtaskResult
from chorus.orchestrator_service.api.console.html import (
    csrf_field,
    dollars,
    esc,
    page,
    pretty_json,
    seconds,
    timeline_svg,
    tree,
)
from chorus.orchestrator_service.api.console.markdown import render
from chorus.orchestrator_service.api.console.review import review_form
from chorus.orchestrator_service.api.console.timeline import layout

TIMELINE_PX = 640
TASK_CHARS = 90
DASH = "\u2013"


def login_page(csrf: str, error: str | None = None) -> str:
    problem = f'<p class="error">{esc(error)}</p>' if error else ""
    return page(
        "Sign in",
        "<h1>Sign in</h1>"
        f'{problem}<form method="post" action="/ui/login" class="login">'
        f"{csrf_field(csrf)}"
        '<label>API token <input type="password" name="token" autocomplete="current-password" '
        "required autofocus></label> <button type=submit>Sign in</button></form>",
        nav=False,
    )


def message_page(title: str, text: str) -> str:
    return page(title, f"<h1>{esc(title)}</h1><p>{esc(text)}</p>")


def duration(record: JobRecord, now: datetime) -> float:
    return ((record.finished_at or now) - record.created_at).total_seconds()


def done(record: JobRecord) -> str:
    failed = f" ({record.subtasks_failed} failed)" if record.subtasks_failed else ""
    return f"{len(record.results)}/{record.subtasks_total}{failed}"


def job_link(record: JobRecord) -> str:
    return f"/ui/jobs/{quote(record.job_id, safe='')}"


def jobs_page(
    records: list[JobRecord],
    counts: dict[JobStatus, int],
    *,
    status: JobStatus | None,
    text: str,
    next_before: float | None,
    scanned: int,
    now: datetime,
    profile: str = "",
    profiles: tuple[str, ...] | list[str] = (),
    live: bool = True,
) -> str:
    named = "".join(
        f'<option value="{esc(p)}"{" selected" if p == profile else ""}>{esc(p)}</option>'
        for p in profiles
    )
    options = "".join(
        f'<option value="{s.value}"{" selected" if s is status else ""}>{s.value}</option>'
        for s in JobStatus
    )
    summary = " ".join(
        f'<a class="count status-{s.value}" href="/ui?{urlencode({"status": s.value})}">'
        f'{s.value} <b id="count-{s.value}">{counts.get(s, 0)}</b></a>'
        for s in JobStatus
    )
    rows = "".join(
        f'<tr><td><span class="status status-{r.status.value}">{r.status.value}</span></td>'
        f"<td>{done(r)}</td><td>{seconds(duration(r, now))}</td>"
        f"<td>{r.usage.total_tokens:,}</td><td>{dollars(r.usage.cost_usd)}</td>"
        f'<td class="task"><a href="{esc(job_link(r))}">{esc(_cut(r.request.task))}</a></td>'
        f"<td><code>{esc(r.job_id)}</code></td></tr>"
        for r in records
    )
    more = ""
    if next_before is not None:
        query = {"before": repr(next_before), "q": text, "profile": profile}
        query |= {"status": status.value} if status else {}
        more = f'<p><a class="more" href="/ui?{esc(urlencode(query))}">Older jobs \u2192</a></p>'
    empty = "" if records else '<p class="empty">No jobs match.</p>'
    # console.js refreshes page one's counts (the newest jobs) from /ui/counts; an older
    # page counts an older window, so it stays as it is.
    refresh = ' data-counts="/ui/counts"' if live else ""
    return page(
        "Jobs",
        f'<h1>Jobs</h1><p class="counts"{refresh}>Last {scanned} jobs: '
        f"{summary}</p>"
        '<form method="get" action="/ui" class="filters">'
        f'<select name="status"><option value="">any status</option>{options}</select> '
        f'<select name="profile"><option value="">any profile</option>{named}</select> '
        f'<input name="q" placeholder="text in the task" value="{esc(text)}"> '
        "<button type=submit>Filter</button></form>"
        '<form method="get" action="/ui" class="filters">'
        '<input name="id" placeholder="job id"> <button type=submit>Open</button></form>'
        "<table><thead><tr><th>Status</th><th>Subtasks</th><th>Duration</th><th>Tokens</th>"
        f"<th>Cost</th><th>Task</th><th>Job id</th></tr></thead><tbody>{rows}</tbody></table>"
        f"{empty}{more}",
    )


def _cut(text: str) -> str:
    one_line = " ".join(text.split())
    return one_line if len(one_line) <= TASK_CHARS else one_line[: TASK_CHARS - 1] + "\u2026"


def timeline_fragment(record: JobRecord, now: datetime) -> str:
    return timeline_svg(layout(record, TIMELINE_PX, now))


def _via(result: SubtaskResult) -> str:
    return " (batch price)" if result.batched else ""


def _cache(result: SubtaskResult) -> str:
    """Cache writes and reads of the call, why, and the saving against no caching."""
    u = result.usage
    if not (u.cache_creation_input_tokens or u.cache_read_input_tokens or result.cache):
        return DASH
    return esc(
        f"{u.cache_creation_input_tokens:,} written / {u.cache_read_input_tokens:,} read, "
        f"saved {dollars(u.cache_saving_usd)}" + (f" ({result.cache})" if result.cache else "")
    )


def _result(result: SubtaskResult) -> str:
    facts = (
        f"<dl><dt>Status</dt><dd>{esc(result.status.value)}</dd>"
        f"<dt>Model</dt><dd>{esc(result.model or DASH)}</dd>"
        f"<dt>Attempts</dt><dd>{result.attempts}</dd>"
        f"<dt>Tokens</dt><dd>{result.usage.total_tokens:,}</dd>"
        f"<dt>Cost</dt><dd>{dollars(result.usage.cost_usd)}{_via(result)}</dd>"
        f"<dt>Cache</dt><dd>{_cache(result)}</dd>"
        f"<dt>Worker</dt><dd>{esc(result.worker or DASH)}</dd></dl>"
    )
    error = f'<p class="error">{esc(result.error)}</p>' if result.error else ""
    output = markdown(result.output) if result.output is not None else ""
    data = f'<div class="tree">{tree(result.data)}</div>' if result.data is not None else ""
    return (
        f'<details class="result status-{result.status.value}"><summary>#{result.index} '
        f"{esc(result.type)}: {esc(result.status.value)}</summary>"
        f"{facts}{error}{output}{data}</details>"
    )


def markdown(text: str) -> str:
    """Model text as the safe Markdown subset (escaped first: see markdown.py)."""
    return f'<div class="markdown">{render(text)}</div>'


def flower_link(flower_url: str, record: JobRecord) -> str:
    """Flower's tasks page prefills its search box only from `state`, `worker` and `name`
    in the URL (flower.js), not from a free search: the link opens the page and says what
    to type to see this job's tasks."""
    tasks = esc(f"{flower_url.rstrip('/')}/tasks")
    search = esc(f"kwargs:job={record.job_id}")
    return (
        f'<p class="flower"><a href="{tasks}" rel="noreferrer">Tasks in Flower</a>: '
        f"search <code>{search}</code></p>"
    )


def job_page(record: JobRecord, csrf: str, now: datetime, *, flower_url: str | None = None) -> str:
    final = record.status.is_final
    link = esc(job_link(record))
    cancel = (
        ""
        if final
        else f'<form method="post" action="{link}/cancel" class="cancel">{csrf_field(csrf)}'
        "<button type=submit>Cancel job</button></form>"
    )
    # The script follows the job's events and fetches the timeline on each (see console.js).
    live = "" if final else f' data-live="{link}/timeline" data-events="{link}/events"'
    flower = flower_link(flower_url, record) if flower_url else ""
    # Filled by console.js from the job's `subtask_delta` events while it runs.
    live_text = (
        ""
        if final
        else '<h2>Live output</h2><div id="live-text" class="live-text">'
        "<p class=empty>The workers' text appears here as they write it.</p></div>"
    )
    plan = ""
    if record.plan is not None:
        items = "".join(
            f"<li><b>#{s.index} {esc(s.type)}</b>"
            f"{f' <i>tier {esc(s.tier)}</i>' if s.tier else ''}: {esc(s.description)}</li>"
            for s in record.plan.subtasks
        )
        plan = (
            f'<h2>Analysis</h2><div class="analysis">{markdown(record.plan.analysis)}</div>'
            f'<h2>Plan</h2><ol class="plan">{items}</ol>'
        )
    synthesis = ""
    if record.synthesis is not None or record.synthesis_error:
        problem = record.synthesis_error
        synthesis = (
            "<h2>Synthesis</h2>"
            + (f'<p class="error">{esc(problem)}</p>' if problem else "")
            + (markdown(record.synthesis) if record.synthesis is not None else "")
            + (f'<div class="tree">{tree(record.synthesis_data)}</div>'
               if record.synthesis_data is not None else "")
        )  # fmt: skip
    error = f'<p class="error">{esc(record.error)}</p>' if record.error else ""
    options = record.request.options.model_dump(exclude_defaults=True, mode="json")
    results = "".join(_result(r) for r in sorted(record.results, key=lambda r: r.index))
    return page(
        f"Job {record.job_id}",
        f"<h1>Job <code>{esc(record.job_id)}</code> "
        f'<span class="status status-{record.status.value}">{record.status.value}</span></h1>'
        f"{error}{review_form(record, csrf)}{cancel}{flower}"
        f'<p class="totals">Subtasks <span id="subtasks">{done(record)}</span> \u00b7 '
        f"tokens {record.usage.total_tokens:,} \u00b7 cost {dollars(record.usage.cost_usd)} "
        f"\u00b7 caching saved {dollars(record.usage.cache_saving_usd)} "
        f"\u00b7 duration {seconds(duration(record, now))} \u00b7 models "
        f"{esc(record.orchestrator_model)} / {esc(record.worker_model)}</p>"
        f'<h2>Timeline</h2><div id="timeline"{live}>{timeline_fragment(record, now)}</div>'
        f'<h2>Request</h2><pre class="task">{esc(record.request.task)}</pre>'
        f"<h3>Context</h3>{pretty_json(record.request.context)}"
        f"<h3>Options</h3>{pretty_json(options)}"
        f"{plan}{live_text}<h2>Outputs</h2>"
        f"{results or '<p class=empty>No results yet.</p>'}{synthesis}",
    )
