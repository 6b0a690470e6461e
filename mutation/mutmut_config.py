"""mutmut 2.x hooks, copied next to the work copy's pyproject.toml by mutation/run.py.

Each mutant runs only the unit tests that exercise its module: about a second, against the
~5 s of the whole pure-core selection (mostly hypothesis properties). The lists are generous
(every test file importing the module); a module missing here gets the whole selection."""

import ast
from pathlib import Path
from typing import Any

WIRE = "tests/unit/contract/test_wire_properties.py"

# The unit tests that exercise each target module.
TESTS_BY_MODULE: dict[str, list[str]] = {
    "shared/core/records.py": [
        "tests/unit/core/test_records.py",
        "tests/unit/core/test_cancelled_planning_spend.py",
        "tests/unit/core/test_reconcile.py",
        "tests/unit/core/test_metrics.py",
        "tests/unit/contract/test_models.py",
    ],
    "shared/core/reconcile.py": ["tests/unit/core/test_reconcile.py"],
    "shared/core/pricing.py": ["tests/unit/core/test_pricing.py"],
    "shared/core/retry.py": ["tests/unit/core/test_retry.py"],
    "shared/core/prompts.py": [
        "tests/unit/core/test_prompts_golden.py",
        "tests/unit/core/test_prompts.py",
        "tests/unit/core/test_templates.py",
        # Only the properties about prompts: the other ones take seconds and never build one.
        f"{WIRE}::test_user_text_reaches_every_prompt_intact",
        f"{WIRE}::test_user_text_can_never_close_its_block",
        f"{WIRE}::test_worker_outputs_stay_json_data_in_the_synthesis_prompt",
    ],
    "shared/core/templates.py": [
        "tests/unit/core/test_prompts_golden.py",
        "tests/unit/core/test_templates.py",
        "tests/unit/core/test_prompts.py",
    ],
    "shared/contract/templates.py": [
        "tests/unit/contract/test_templates.py",
        "tests/unit/core/test_profiles.py",
        "tests/unit/core/test_templates.py",
    ],
    "shared/contract/models.py": [
        "tests/unit/core/test_records.py",
        "tests/unit/contract/test_models.py",
    ],
    "orchestrator_service/plan_rules.py": ["tests/unit/orchestrator_service/test_plan_rules.py"],
}

# models.py is mostly pydantic field declarations; of it only the budget check is a target.
CLASSES_ONLY: dict[str, set[str]] = {"shared/contract/models.py": {"Budget"}}


def _class_lines(filename: str, names: set[str]) -> set[int]:
    """0-based line numbers (mutmut's convention) of the named top-level classes' bodies."""
    tree = ast.parse(Path(filename).read_text())
    lines: set[int] = set()
    for node in tree.body:
        if isinstance(node, ast.ClassDef) and node.name in names:
            lines.update(range(node.lineno - 1, (node.end_lineno or node.lineno)))
    return lines


_allowed: dict[str, set[int]] = {}


def pre_mutation(context: Any) -> None:
    filename = str(Path(context.filename)).replace("\\", "/")
    if filename in CLASSES_ONLY:
        if filename not in _allowed:
            _allowed[filename] = _class_lines(filename, CLASSES_ONLY[filename])
        if context.current_line_index not in _allowed[filename]:
            context.skip = True
            return
    tests = TESTS_BY_MODULE.get(filename)
    if tests:
        # The runner in [tool.mutmut] is pytest's options followed by the whole selection.
        options = [w for w in context.config.test_command.split() if not w.startswith("tests/")]
        context.config.test_command = " ".join(options + tests)
