"""The fixtures live in `tests/support/fixtures.py`; this file registers them and marks tests
by folder: `tests/integration` are integration tests, `tests/fault` fault tests too."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest_plugins = ["tests.support.fixtures"]

_HERE = Path(__file__).parent
# pytest-timeout's limit per folder, above the longest sum of deadlines a test of the tier
# waits out (integration: `chorus up` 120 s then a job; fault: 300 jobs from three submitters,
# 120 s then 240 s), so a hang is reported by the test's own deadline and its message, not by
# pytest-timeout. A test's own @pytest.mark.timeout wins; unit tests keep the 120 s default.
TIMEOUT_S = {"integration": 300, "fault": 600}


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # Longest first: the fault tests run in two processes, and the one that waits out a 90 s
    # outage should not start last. pytest-randomly shuffles in a hook wrapper, before every
    # plain implementation; trylast puts this stable sort after any other reordering too, so
    # the order is random within each group and `long` still comes first.
    items.sort(key=lambda item: item.get_closest_marker("long") is None)
    for item in items:
        parts = Path(str(item.fspath)).relative_to(_HERE).parts
        if parts[0] in ("integration", "fault"):
            item.add_marker(pytest.mark.integration)
        if parts[0] == "fault":
            item.add_marker(pytest.mark.fault)
        if parts[0] in TIMEOUT_S and item.get_closest_marker("timeout") is None:
            item.add_marker(pytest.mark.timeout(TIMEOUT_S[parts[0]]))
