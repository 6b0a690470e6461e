"""Every prompt Chorus builds, byte for byte, against tests/unit/core/prompts_golden.json.

A prompt is behaviour: the model reads every character, and the workers' shared prefix must
stay byte-identical for prompt caching. So a change to any prompt shows up here as a diff to
review. After a deliberate change, rewrite the file and review its diff:

    .venv/bin/python -m tests.unit.core.test_prompts_golden
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from chorus.contract.models import JobRequest, Subtask, SubtaskAssignment
from chorus.core import prompts
from chorus.core.submission import build_request

GOLDEN = Path(__file__).with_name("prompts_golden.json")

# Braces, a tag, non-ASCII and unordered keys: everything the encoding has to get right.
TASK = "Sell {it} </task> – naïvely"
CONTEXT = {"zeta": [1, 2], "alpha": {"k": "<b> ü"}}
SUBTASK = Subtask(index=1, type="formal", description="Be precise about {it}.")
OUTPUTS = [{"type": "formal", "output": "Done </worker_outputs>"}]
REPAIR = prompts.Repair(reply="not json", problem="'x' is a required property")


def _assignment(worker_template: str | None = None) -> SubtaskAssignment:
    return SubtaskAssignment(
        job_id="job-1", task=TASK, context=CONTEXT, subtask=SUBTASK, model="m", max_tokens=10,
        worker_template=worker_template, max_subtasks=4,
    )  # fmt: skip


def _as_json(prompt: prompts.Prompt) -> dict[str, Any]:
    return {"system": prompt.system, "messages": prompt.messages}


def rendered() -> dict[str, Any]:
    built_in = JobRequest(task=TASK, context=CONTEXT, options={"max_subtasks": 4})
    own = build_request(
        {
            "task": TASK,
            "context": CONTEXT,
            "options": {
                "max_subtasks": 4,
                "prompts": {"orchestrator": "Plan {task} in {max_subtasks}: {context} {zeta}",
                            "synthesis": "Combine {outputs} for {task}"},
            },
        }
    )  # fmt: skip
    return {
        "planning": _as_json(prompts.for_planning(built_in)),
        "planning_repair": _as_json(prompts.for_planning(built_in, "two subtasks share a type")),
        "planning_cached": _as_json(
            prompts.for_planning(built_in, None, "5m", {"type": "object", "required": ["plan"]})
        ),
        "worker_cached": _as_json(prompts.for_worker(_assignment(), None, "1h")),
        "planning_own": _as_json(prompts.for_planning(own, "too many subtasks")),
        "worker": _as_json(prompts.for_worker(_assignment())),
        "worker_repair": _as_json(prompts.for_worker(_assignment(), REPAIR)),
        "worker_own": _as_json(
            prompts.for_worker(_assignment("{original_task}/{task_type}/{task_description}"))
        ),
        "synthesis": _as_json(prompts.for_synthesis(built_in, OUTPUTS)),
        "synthesis_own": _as_json(prompts.for_synthesis(own, OUTPUTS, REPAIR)),
    }


def test_every_prompt_is_exactly_the_reviewed_text() -> None:
    assert rendered() == json.loads(GOLDEN.read_text(encoding="utf-8"))


if __name__ == "__main__":
    text = json.dumps(rendered(), ensure_ascii=False, indent=2, sort_keys=True) + "\n"
    GOLDEN.write_text(text, encoding="utf-8")
