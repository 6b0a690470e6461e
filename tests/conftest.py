"""The fixtures live in `tests/support/fixtures.py`; this file registers them and marks tests
by folder: `tests/integration` are integration tests, `tests/fault` fault tests too."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest_plugins = ["tests.support.fixtures"]

_HERE = Path(__file__).parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # Longest first: the fault tests run in two processes, and the one that waits out a 90 s
    # outage should not start last.
    items.sort(key=lambda item: item.get_closest_marker("long") is None)
    for item in items:
        parts = Path(str(item.fspath)).relative_to(_HERE).parts
        if parts[0] in ("integration", "fault"):
            item.add_marker(pytest.mark.integration)
        if parts[0] == "fault":
            item.add_marker(pytest.mark.fault)
