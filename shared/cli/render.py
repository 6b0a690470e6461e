"""How the CLI shows jobs to people (rich)."""

from __future__ import annotations

import sys
import time

import typer
from rich.console import Console, Group
from rich.panel import Panel
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from chorus.cli.app import EXIT_JOB_NOT_SUCCEEDED, EXIT_OK, out
from chorus.contract.events import EventKind
from chorus.contract.models import JobRecord, JobStatus, SubtaskStatus
from chorus.errors import JobTimeout
from chorus.store.events import JobEvents
from chorus.store.jobs import JobStore

STATUS_STYLE = {
    JobStatus.PLANNING: "cyan",
    JobStatus.AWAITING_REVIEW: "blue",
    JobStatus.RUNNING: "cyan",
    JobStatus.SUCCEEDED: "green",
    JobStatus.PARTIAL: "yellow",
    JobStatus.FAILED: "red",
    JobStatus.CANCELLED: "magenta",
}


def status_text(status: JobStatus) -> Text:
    return Text(status.value, style=f"bold {STATUS_STYLE[status]}")


def cost_text(usd: float) -> str:
    """Dollars to the cent, and finer below a cent, where most single jobs are."""
    return f"${usd:.2f}" if usd >= 1 else f"${usd:.4f}"


def _cache_note(saving_usd: float) -> str:
    """What prompt caching saved (or cost: a write nobody read) against sending it plain."""
    if saving_usd > 0:
        return f" (caching saved {cost_text(saving_usd)})"
    if saving_usd < 0:
        return f" (caching cost {cost_text(-saving_usd)} more)"
    return ""


def progress_bar(console: Console) -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    )


def summary_table(record: JobRecord) -> Table:
    table = Table.grid(padding=(0, 2))
    table.add_row("job", record.job_id)
    table.add_row("status", status_text(record.status))
    table.add_row("models", f"plan {record.orchestrator_model} / work {record.worker_model}")
    if record.simulated:
        table.add_row("model endpoint", Text("offline simulator", style="magenta"))
    table.add_row("subtasks", f"{record.subtasks_total} planned, {record.subtasks_failed} failed")
    u = record.usage
    table.add_row(
        "tokens",
        f"{u.input_tokens} in / {u.output_tokens} out / "
        f"{u.cache_read_input_tokens} cache read / {u.cache_creation_input_tokens} cache write",
    )
    table.add_row("cost", cost_text(u.cost_usd) + _cache_note(u.cache_saving_usd))
    if record.finished_at:
        seconds = (record.finished_at - record.created_at).total_seconds()
        table.add_row("time", f"{seconds:.2f}s (created → finished)")
    if record.error:
        table.add_row("error", Text(record.error, style="red"))
    return table


def listing(record: JobRecord) -> dict[str, object]:
    """One line of `chorus jobs --json`."""
    return {
        "job_id": record.job_id,
        "status": record.status.value,
        "created_at": record.created_at.isoformat(),
        "finished_at": record.finished_at.isoformat() if record.finished_at else None,
        "subtasks_total": record.subtasks_total,
        "subtasks_failed": record.subtasks_failed,
        "tokens": record.usage.total_tokens,
        "cost_usd": record.usage.cost_usd,
        "task": record.request.task,
    }


def show_record(console: Console, record: JobRecord) -> None:
    console.print(Panel(summary_table(record), title="Chorus job", expand=False))
    if record.plan:
        console.print(Panel(record.plan.analysis, title="Analysis", border_style="blue"))
    for result in record.results:
        ok = result.status is SubtaskStatus.SUCCEEDED
        body = Group(
            Text(result.description, style="italic"),
            Text(""),
            Text(result.output or "") if ok else Text(result.error or "", style="red"),
        )
        title = f"[{result.index + 1}] {result.type} — {result.status.value}"
        if result.attempts > 1:
            title += f" after {result.attempts} attempts"
        console.print(Panel(body, title=title, border_style="green" if ok else "red"))
    if record.synthesis:
        console.print(Panel(record.synthesis, title="Synthesis", border_style="magenta"))
    elif record.synthesis_error:
        console.print(Panel(record.synthesis_error, title="No synthesis", border_style="red"))


def follow(
    store: JobStore, events: JobEvents, job_id: str, *, timeout_s: float, console: Console
) -> JobRecord:
    """Wait for a job, driving a progress bar (n of N subtasks) from its event stream."""
    deadline = time.monotonic() + timeout_s
    with progress_bar(console) as progress:
        bar = progress.add_task("planning", total=None)
        after, done = "0", 0
        while True:
            record = store.find(job_id)
            if record is not None and record.status.is_final:
                return record
            for event in events.read(job_id, after, block_ms=500):
                after = event.id
                if event.kind is EventKind.AWAITING_REVIEW:
                    waiting = f"plan awaits review: chorus review {job_id}"
                    progress.update(bar, description=waiting)
                elif event.kind is EventKind.PLANNED:
                    total = int(event.data["subtasks"])
                    progress.update(bar, description="subtasks", total=total)
                elif event.kind is EventKind.SUBTASK_FINISHED:
                    done += 1
                    progress.update(bar, completed=done)
                elif event.kind is EventKind.RETRIED:  # what failed runs again
                    done -= len(event.data.get("subtasks", []))
                    progress.update(bar, completed=done)
            if time.monotonic() >= deadline:
                status = record.status.value if record else "not yet recorded"
                raise JobTimeout(f"job {job_id} still {status} after {timeout_s:.0f}s")


def end_with(record: JobRecord, *, as_json: bool) -> typer.Exit:
    """Show the final record (JSON on stdout with `as_json`); the exit that says whether the
    job succeeded (0) or not (1)."""
    if as_json:
        sys.stdout.write(record.model_dump_json(indent=2) + "\n")
    else:
        show_record(out(), record)
    return typer.Exit(EXIT_OK if record.status is JobStatus.SUCCEEDED else EXIT_JOB_NOT_SUCCEEDED)
