"""What a job's own prompts and typed outputs cost per subtask, in process: rendering the
notebook's worker template (with a 2 kB context) and validating a typed reply against the
code-review schema, median of many, beside building the built-in worker prompt."""

from __future__ import annotations

import json
import statistics
import time
from collections.abc import Callable
from typing import Any

from chorus.contract.models import Subtask, SubtaskAssignment
from chorus.core import prompts
from chorus.core.outputs import parse_output
from chorus.runtime.profiles import load_profiles
from chorus.settings import Settings

TARGET_MS = 5.0
WORKER_TEMPLATE = (
    "Generate content based on:\nTask: {original_task}\nStyle: {task_type}\n"
    "Guidelines: {task_description}\nAudience: {target_audience}\nNotes: {notes}\n\n"
    "Return your response in this format:\n\n<response>\nYour content here.\n</response>\n"
)
REPLY = json.dumps(
    {
        "findings": [
            {"severity": "high", "file": f"app{n}.py", "line": n + 1, "problem": "p" * 80,
             "fix": "f" * 120}
            for n in range(10)
        ]
    }
)  # fmt: skip


def _median_ms(work: Callable[[], object], runs: int) -> float:
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        work()
        samples.append((time.perf_counter() - started) * 1000)
    return statistics.median(samples)


def run(*, runs: int = 2000) -> dict[str, Any]:
    context = {"target_audience": "millennials", "notes": "n" * 2000}
    subtask = Subtask(index=0, type="formal", description="Write a precise version.")
    base = {"job_id": "j", "task": "Write a product description", "context": context,
            "subtask": subtask, "model": "m", "max_tokens": 100}  # fmt: skip
    templated = SubtaskAssignment(**base, worker_template=WORKER_TEMPLATE)
    built_in = SubtaskAssignment(**base)
    # The built-in code-review profile's typed findings.
    findings = load_profiles(Settings()).get("code-review").output_schema
    assert findings is not None
    parse_output(REPLY, findings)  # warm the validator's imports
    medians = {
        "built-in worker prompt": _median_ms(lambda: prompts.for_worker(built_in), runs),
        "worker template rendered": _median_ms(lambda: prompts.for_worker(templated), runs),
        "typed reply validated (10 findings)": _median_ms(
            lambda: parse_output(REPLY, findings), runs
        ),
    }
    return {"templates": {"runs": runs, "median_ms": medians}}


def targets(r: dict[str, Any]) -> list[tuple[str, str, bool]]:
    if "templates" not in r:
        return []
    m = r["templates"]["median_ms"]
    added = m["worker template rendered"] + m["typed reply validated (10 findings)"]
    return [
        (
            f"templates + typed outputs ≤ {TARGET_MS:.0f} ms per subtask",
            f"{added:.3f} ms (render {m['worker template rendered']:.3f} + validate "
            f"{m['typed reply validated (10 findings)']:.3f}; built-in prompt "
            f"{m['built-in worker prompt']:.3f})",
            added <= TARGET_MS,
        )
    ]


def markdown(r: dict[str, Any]) -> list[str]:
    if "templates" not in r:
        return []
    t = r["templates"]
    out = [f"## Prompt templates and typed outputs, per subtask (median of {t['runs']})", ""]
    out += ["| step | median |", "|---|---|"]
    out += [f"| {name} | {ms:.3f} ms |" for name, ms in t["median_ms"].items()]
    return [*out, ""]


if __name__ == "__main__":
    result = run()
    print("\n".join(markdown(result)))
    for goal, measured, passed in targets(result):
        print(f"{'PASS' if passed else 'FAIL'}  {goal}: {measured}")
