"""The layout is the architecture: each layer imports only the layers below it, production
code never imports the local developer tooling, there is no import cycle and no oversized
module. See docs/architecture.md for the picture these rules enforce."""

from __future__ import annotations

import pytest

from tests.support.source import internal, modules

# Which layers each layer may import (its own included). Lower layers first.
ALLOWED: dict[str, set[str]] = {
    "errors": {"contract"},
    "contract": {"errors"},
    "core": {"contract", "errors", "settings"},
    "settings": {"contract", "core", "errors"},
    "llm": {"contract", "core", "errors", "settings"},
    "store": {"contract", "core", "errors", "settings"},
    "runtime": {"contract", "core", "errors", "settings", "store", "llm"},
    "worker_service": {"contract", "core", "errors", "settings", "runtime"},
    "orchestrator_service": {"contract", "core", "errors", "settings", "store", "runtime"},
    "client": {"contract", "core", "errors", "settings", "store", "runtime"},
    "devstack": {"contract", "core", "errors", "settings", "runtime"},
    "cli": {
        "chorus",
        "contract",
        "core",
        "errors",
        "settings",
        "store",
        "runtime",
        "client",
        "orchestrator_service",
        "devstack",
    },
    "chorus": {"client", "contract", "errors", "settings", "webhooks"},
    # `chorus.webhooks`: a receiver's signature check, the standard library and errors only.
    "webhooks": {"errors"},
}
# The composition root of a Celery process wires the services into the app; the notebook-style
# API starts an embedded local stack when nothing is configured (#12), from this module only.
EXCEPTIONS = {
    "chorus.runtime.main": {"orchestrator_service", "worker_service"},
    "chorus.client.embedded": {"devstack"},
}


def layer(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else parts[0]


def test_every_module_belongs_to_a_known_layer() -> None:
    unknown = {m.name for m in modules() if layer(m.name) not in ALLOWED}
    assert not unknown, f"modules outside every layer: {sorted(unknown)}"


@pytest.mark.parametrize("module", modules(), ids=lambda m: m.name)
def test_imports_point_down_the_layers(module: object) -> None:
    from tests.support.source import Module

    assert isinstance(module, Module)
    own = layer(module.name)
    allowed = ALLOWED[own] | {own} | EXCEPTIONS.get(module.name, set())
    wrong = sorted(i for i in internal(module.all_imports) if layer(i) not in allowed)
    assert not wrong, f"{module.name} ({own}) imports {wrong}"


def test_production_code_never_imports_devstack() -> None:
    offenders = {
        m.name
        for m in modules()
        if layer(m.name) not in ("devstack", "cli")
        and "devstack" not in EXCEPTIONS.get(m.name, set())
        and any(layer(i) == "devstack" for i in internal(m.all_imports))
    }
    assert not offenders, f"production modules importing chorus.devstack: {sorted(offenders)}"


def test_no_import_cycle_at_import_time() -> None:
    graph = {m.name: internal(m.top_imports) - {m.name} for m in modules()}
    # A package importing its own submodules is how packages work, not a cycle.
    for name, targets in graph.items():
        graph[name] = {t for t in targets if not name.startswith(t + ".")}
    visiting: list[str] = []
    done: set[str] = set()

    def visit(node: str) -> None:
        if node in done:
            return
        if node in visiting:
            cycle = [*visiting[visiting.index(node) :], node]
            raise AssertionError("import cycle: " + " -> ".join(cycle))
        visiting.append(node)
        for target in sorted(graph.get(node, ())):
            visit(target)
        visiting.pop()
        done.add(node)

    for node in sorted(graph):
        visit(node)


def test_no_module_over_300_lines() -> None:
    big = {m.name: m.lines for m in modules() if m.lines > 300}
    assert not big, f"split these: {big}"
