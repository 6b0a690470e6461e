"""The production source as data: every module of `chorus`, where it lives in the checkout,
and what it imports, for the architecture and packaging tests."""

from __future__ import annotations

import ast
import tomllib
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from tests.support.paths import REPO


@cache
def package_dirs() -> dict[str, Path]:
    """Package name -> source folder, as pyproject's setuptools package-dir maps them."""
    config = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]
    return {name: REPO / folder for name, folder in config["package-dir"].items()}


@cache
def listed_packages() -> tuple[str, ...]:
    config = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]
    return tuple(config["packages"])


def _module_name(path: Path) -> str:
    """chorus.x.y for a file, taking the most specific mapped root that contains it."""
    best = ""
    for name, folder in package_dirs().items():
        if path.is_relative_to(folder) and len(str(folder)) > len(
            str(package_dirs().get(best, ""))
        ):
            best = name
    parts = list(path.relative_to(package_dirs()[best]).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join([best, *parts])


@dataclass(frozen=True)
class Module:
    name: str
    path: Path
    top_imports: frozenset[str]  # executed at import time (not under TYPE_CHECKING)
    all_imports: frozenset[str]  # anywhere, including inside functions

    @property
    def lines(self) -> int:
        return len(self.path.read_text().splitlines())


def _imports(tree: ast.AST, module: str, *, top_level_only: bool) -> set[str]:
    found: set[str] = set()

    def visit(node: ast.AST, top: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test):
                continue  # type-only imports never run
            if isinstance(child, ast.Import):
                if top or not top_level_only:
                    found.update(alias.name for alias in child.names)
            elif isinstance(child, ast.ImportFrom):
                if top or not top_level_only:
                    base = child.module or ""
                    if child.level:
                        package = module.rsplit(".", child.level)[0]
                        base = f"{package}.{base}".rstrip(".")
                    found.add(base)
                    found.update(f"{base}.{alias.name}" for alias in child.names)
            else:
                inner = top and not isinstance(
                    child, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda
                )
                visit(child, inner)

    visit(tree, True)
    return found


@cache
def modules() -> tuple[Module, ...]:
    found: dict[str, Module] = {}
    for folder in package_dirs().values():
        for path in sorted(folder.rglob("*.py")):
            if "__pycache__" in path.parts:
                continue
            name = _module_name(path)
            tree = ast.parse(path.read_text(), filename=str(path))
            found[name] = Module(
                name,
                path,
                frozenset(_imports(tree, name, top_level_only=True)),
                frozenset(_imports(tree, name, top_level_only=False)),
            )
    return tuple(found[name] for name in sorted(found))


def known_modules() -> frozenset[str]:
    return frozenset(m.name for m in modules())


def internal(imports: frozenset[str]) -> set[str]:
    """The chorus modules among `imports` (a `from pkg import name` counts as pkg.name only
    when that is a module)."""
    known = known_modules()
    return {name for name in imports if name in known}
