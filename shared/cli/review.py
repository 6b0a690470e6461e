"""`chorus review JOB_ID`: show a plan awaiting review and approve, edit or reject it.

Interactive by default (the plan, then a choice; editing opens `$EDITOR` on the subtasks as
JSON); `--approve`, `--reject --reason TEXT` and `--plan FILE.json` answer without asking.
The answer goes through the same code as `POST /v1/jobs/{id}/plan`
(`chorus.orchestrator_service.review`). Imports beyond Typer happen inside the command.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from chorus.cli.app import EXIT_OK, app, bad_input, err, fail, load_settings, out
from chorus.cli.jobs import _load, _reaching_redis

if TYPE_CHECKING:
    from chorus.contract.actions import PlanReview
    from chorus.contract.models import JobRecord
    from chorus.store.jobs import JobStore


def _read_plan(path: Path) -> dict[str, Any]:
    """A plan file: {"subtasks": [...], "analysis"?} or just the list of subtasks."""
    try:
        given = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise bad_input(f"cannot read {path}: {exc.strerror or exc}") from exc
    except ValueError as exc:
        raise bad_input(f"{path} is not valid JSON: {exc}") from exc
    if isinstance(given, list):
        return {"subtasks": given}
    if not isinstance(given, dict):
        raise bad_input(f"{path} must hold a JSON object with `subtasks`, or a list of subtasks")
    return given


def show_plan(record: JobRecord) -> None:
    console = out()
    plan = record.plan
    console.print(f"[bold]{record.job_id}[/bold] {record.status.value}", highlight=False)
    console.print(f"task: {record.request.task}", highlight=False, markup=False)
    if plan is None:
        return
    console.print(f"analysis: {plan.analysis}", highlight=False, markup=False)
    for number, subtask in enumerate(plan.subtasks, start=1):
        tier = f" (tier {subtask.tier})" if subtask.tier else ""
        console.print(f"  {number}. {subtask.type}{tier}", highlight=False, markup=False)
        console.print(f"     {subtask.description}", highlight=False, markup=False)


def _edited(record: JobRecord) -> dict[str, Any]:
    """The subtasks as JSON in `$EDITOR`; what comes back is the edited plan."""
    subtasks = [
        {"type": s.type, "description": s.description, **({"tier": s.tier} if s.tier else {})}
        for s in (record.plan.subtasks if record.plan else [])
    ]
    original = json.dumps({"subtasks": subtasks}, indent=2) + "\n"
    text = _in_editor(original)
    if text == original:
        raise fail("the plan was not changed; nothing was sent")
    try:
        given = json.loads(text)
    except ValueError as exc:
        raise bad_input(f"the edited plan is not valid JSON: {exc}") from exc
    return given if isinstance(given, dict) else {"subtasks": given}


def _in_editor(text: str) -> str:
    """`text` as the person left it in $VISUAL or $EDITOR (vi without either)."""
    import os
    import shlex
    import subprocess
    import tempfile

    editor = shlex.split(os.environ.get("VISUAL") or os.environ.get("EDITOR") or "vi")
    with tempfile.TemporaryDirectory(prefix="chorus-review-") as folder:
        path = Path(folder) / "plan.json"
        path.write_text(text, encoding="utf-8")
        try:
            done = subprocess.run([*editor, str(path)], check=False)
        except OSError as exc:
            raise bad_input(f"cannot start the editor {editor[0]!r}: {exc.strerror}") from exc
        if done.returncode != 0:
            raise fail(f"the editor exited with {done.returncode}; nothing was sent")
        return path.read_text(encoding="utf-8")


def _ask(record: JobRecord) -> dict[str, Any]:
    choice = typer.prompt("approve, edit or reject? [a/e/r]", default="a").strip().lower()
    if choice in ("a", "approve"):
        return {"approve": True}
    if choice in ("e", "edit"):
        return {"plan": _edited(record)}
    if choice in ("r", "reject"):
        reason = typer.prompt("reason", default="", show_default=False).strip()
        return {"reject": True, **({"reason": reason} if reason else {})}
    raise bad_input(f"unknown choice {choice!r}: answer a, e or r")


@app.command()
def review(
    job_id: str,
    approve: Annotated[bool, typer.Option("--approve", help="Run the plan as it is.")] = False,
    reject: Annotated[bool, typer.Option("--reject", help="End the job, cancelled.")] = False,
    reason: Annotated[str | None, typer.Option(help="Why the plan is rejected.")] = None,
    plan: Annotated[
        Path | None,
        typer.Option(
            "--plan",
            help='Run this plan instead: JSON {"subtasks": [{"type", "description"}], '
            '"analysis"?} or a list of subtasks.',
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the JobRecord JSON.")] = False,
) -> None:
    """Show a plan awaiting review, then approve, edit or reject it."""
    from pydantic import ValidationError

    from chorus.contract.actions import PlanReview
    from chorus.contract.models import JobStatus, describe_validation_error

    given: dict[str, Any] = {"approve": approve, "reject": reject, "reason": reason}
    if plan is not None:
        given["plan"] = _read_plan(plan)
    chosen = approve or reject or plan is not None
    if reason is not None and not reject:
        raise bad_input("--reason goes with --reject")
    store, record = _load(job_id)
    if not chosen:
        show_plan(record)
        if record.status is not JobStatus.AWAITING_REVIEW:
            raise fail(f"job is {record.status.value}, not awaiting review")
        if not sys.stdin.isatty():
            raise bad_input("not a terminal: answer with --approve, --reject or --plan FILE")
        given = _ask(record)
    try:
        answer = PlanReview.model_validate(given)
    except ValidationError as exc:
        raise bad_input(describe_validation_error(exc)) from exc
    updated = _answer(store, record.job_id, answer)
    if as_json:
        sys.stdout.write(updated.model_dump_json(indent=2) + "\n")
    else:
        print(f"{updated.job_id} {updated.status.value}")
    raise typer.Exit(EXIT_OK)


def _answer(store: JobStore, job_id: str, answer: PlanReview) -> JobRecord:
    """As `POST /v1/jobs/{id}/plan` does: the answer, then the orchestrator sends an approved
    plan's subtasks (`orchestrator.run_job` resumes the job from its record)."""
    from chorus.contract.models import JobStatus
    from chorus.core import records
    from chorus.errors import InvalidRequest, InvalidTransition
    from chorus.orchestrator_service.review import review_plan
    from chorus.runtime.app import create_celery_app
    from chorus.runtime.enqueue import enqueue_job

    with _reaching_redis():
        try:
            updated = review_plan(store, job_id, answer, records.utc_now())
        except InvalidTransition as exc:
            raise fail(str(exc)) from exc
        except InvalidRequest as exc:
            raise bad_input(str(exc)) from exc
        if updated.status is JobStatus.RUNNING:
            enqueue_job(create_celery_app(load_settings(), fail_fast=True), updated.request)
    if updated.status is JobStatus.RUNNING:
        err().print("approved: the subtasks are on their way", highlight=False)
    return updated
