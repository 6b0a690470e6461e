"""Every third-party package the code imports is declared, and pure layers stay pure."""

from __future__ import annotations

import importlib.metadata
import re
import sys
import tomllib

from tests.support.paths import REPO
from tests.support.source import modules

# Pure logic and the wire contract: the standard library and pydantic only, at import time.
PURE_LAYERS = ("chorus.contract", "chorus.core", "chorus.errors")


def _normal(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _third_party(imports: frozenset[str]) -> set[str]:
    tops = {name.split(".")[0] for name in imports}
    return {t for t in tops if t not in sys.stdlib_module_names and t not in ("chorus",)}


def _declared() -> set[str]:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    requirements = list(project["dependencies"])
    for extra in project["optional-dependencies"].values():
        requirements += extra
    return {_normal(re.split(r"[\[<>=!~; ]", r, maxsplit=1)[0]) for r in requirements}


def test_every_imported_distribution_is_declared() -> None:
    by_module = importlib.metadata.packages_distributions()
    declared = _declared()
    missing: dict[str, str] = {}
    for module in modules():
        for top in _third_party(module.all_imports):
            distributions = {_normal(d) for d in by_module.get(top, [top])}
            if not distributions & declared:
                missing[top] = module.name
    assert not missing, f"imported but not declared in pyproject.toml: {missing}"


def test_pure_layers_import_only_pydantic() -> None:
    impure = {
        module.name: sorted(_third_party(module.top_imports) - {"pydantic"})
        for module in modules()
        if module.name.startswith(PURE_LAYERS)
    }
    assert not {name: found for name, found in impure.items() if found}
