"""The README's Python examples run as written against a live stack: each block that imports
`chorus` runs in its own interpreter with only the environment a user would set
(`CHORUS_API_URL` for the HTTP client, `REDIS_URL` for `submit_job`)."""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from chorus.devstack.stack import LocalStack
from chorus.store.jobs import JobStore, wait_for_job
from tests.support.api_server import start_api
from tests.support.paths import REPO

BLOCKS = re.findall(r"```python\n(.*?)```", (REPO / "README.md").read_text(), flags=re.DOTALL)
CHORUS_BLOCKS = [block for block in BLOCKS if "import chorus" in block]


@pytest.fixture(scope="module")
def api_url(chorus_stack: LocalStack, workdir: Path) -> Iterator[str]:
    proc, url = start_api(dict(chorus_stack.env), workdir / "readme-api.log")
    yield url
    proc.stop()


def test_the_readme_has_python_examples_that_use_import_chorus() -> None:
    assert len(CHORUS_BLOCKS) >= 3
    assert not [b for b in BLOCKS if "from shared" in b or "import shared" in b]


@pytest.mark.parametrize("block", CHORUS_BLOCKS, ids=lambda b: b.strip().splitlines()[-1][:40])
def test_readme_example_runs_as_written(
    block: str, api_url: str, chorus_stack: LocalStack, store: JobStore, tmp_path: Path
) -> None:
    env = {
        "PATH": "/usr/bin:/bin",
        "CHORUS_API_URL": api_url,
        "REDIS_URL": chorus_stack.redis_url,
        "CHORUS_SIMULATOR_URL": chorus_stack.env["CHORUS_SIMULATOR_URL"],
    }
    done = subprocess.run(
        [sys.executable, "-c", block],
        env=env,
        cwd=tmp_path,  # outside the checkout, as a user would be
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    output = done.stdout.strip().splitlines()
    assert output, "the example printed nothing"
    if "submit_job" in block:
        # It printed the id of a job that now runs to the end on the fleet.
        record = wait_for_job(store, output[-1].strip(), timeout_s=60)
        assert record.status.value == "succeeded"
    else:
        assert "succeeded" in output[-1]
