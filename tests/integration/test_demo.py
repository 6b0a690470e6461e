"""`chorus demo` from nothing: its own Redis, simulator and Celery processes, then a clean stop."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
from pathlib import Path

from chorus.contract.models import JobRecord, JobStatus


def test_demo_runs_the_sample_job_and_stops_everything(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "ANTHROPIC_API_KEY")}
    env["COLUMNS"] = "120"
    output = tmp_path / "record.json"
    done = subprocess.run(
        [sys.executable, "-m", "chorus.cli", "demo", "--latency-ms", "50", "--output", str(output)],
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    text = done.stdout
    assert "SIMULATOR" in text and "offline simulator" in text
    assert "Analysis" in text and "eco-friendly water bottle" in text

    record = JobRecord.model_validate_json(output.read_text())
    assert record.status is JobStatus.SUCCEEDED
    assert record.request.context["target_audience"] == "environmentally conscious millennials"
    assert record.results and all(r.output for r in record.results)
    for result in record.results:
        assert result.type in text

    # The Redis it started is gone: nothing is left listening on its port.
    port = int(re.search(r"redis://127\.0\.0\.1:(\d+)", text).group(1))  # type: ignore[union-attr]
    with socket.socket() as sock:
        assert sock.connect_ex(("127.0.0.1", port)) != 0
