"""What `pip install <checkout>` gives a user: one package, `chorus`, typed, with every module,
and nothing named shared/orchestrator_service/worker_service."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

from tests.support.paths import REPO
from tests.support.source import modules

LEGACY = ("shared", "orchestrator_service", "worker_service")


def _run(argv: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, cwd=cwd, capture_output=True, text=True, timeout=300, check=False)


def _copy_checkout(dest: Path) -> None:
    """The working tree as git sees it (tracked and new files), without build leftovers."""
    listed = _run(["git", "ls-files", "-co", "--exclude-standard"], REPO).stdout.splitlines()
    for name in listed:
        source = REPO / name
        if source.is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, dest / name)


def test_the_wheel_installs_one_typed_package_named_chorus(tmp_path: Path) -> None:
    source, wheels, venv = tmp_path / "src", tmp_path / "wheels", tmp_path / "venv"
    _copy_checkout(source)
    built = _run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(wheels), str(source)],
        tmp_path,
    )
    assert built.returncode == 0, built.stderr[-3000:]
    (wheel,) = wheels.glob("chorus_jobs-*.whl")

    with zipfile.ZipFile(wheel) as archive:
        shipped = {n for n in archive.namelist() if not n.startswith("chorus_jobs-")}
    assert all(name.startswith("chorus/") for name in shipped), sorted(shipped)[:10]
    assert "chorus/py.typed" in shipped
    expected = {
        "/".join(m.name.split(".")) + ("/__init__.py" if m.path.name == "__init__.py" else ".py")
        for m in modules()
    }
    assert expected <= shipped, sorted(expected - shipped)

    assert _run([sys.executable, "-m", "venv", str(venv)], tmp_path).returncode == 0
    python = str(venv / "bin" / "python")
    installed = _run([python, "-m", "pip", "install", "-q", "--no-deps", str(wheel)], tmp_path)
    assert installed.returncode == 0, installed.stderr[-3000:]
    # Outside the checkout: the user's view.
    version = _run([python, "-c", "import chorus; print(chorus.__version__)"], tmp_path)
    assert version.returncode == 0, version.stderr
    ours = _run([sys.executable, "-c", "import chorus; print(chorus.__version__)"], tmp_path)
    assert version.stdout.strip() == ours.stdout.strip()
    for name in LEGACY:
        legacy = _run([python, "-c", f"import {name}"], tmp_path)
        assert legacy.returncode != 0 and "ModuleNotFoundError" in legacy.stderr, name
