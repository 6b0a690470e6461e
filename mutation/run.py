"""`make mutation`: mutmut 2.x over the pure core, in a private copy of the checkout.

mutmut 2.x rewrites the file under test in place. The checkout is shared with other people's
test runs (and the editable install links straight to shared/), so a mutant written there
could fail someone else's integration test. This script copies the sources and unit tests to
.mutation/ (git-ignored), lays them out as the `chorus` package the way the editable install
does, and runs mutmut there; the checkout is never written to.

Score = killed / (killed + survived); a timed-out or suspicious mutant made the tests fail or
hang, so it counts as killed. Survivors listed in mutation/equivalent.toml are printed with
their reason; the run fails when the score is below --min-score."""

import argparse
import contextlib
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
import tomllib
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WORK = ROOT / ".mutation"
# The package folders and where the `chorus` import package finds them (pyproject package-dir).
FOLDERS = {"shared": "chorus", "orchestrator_service": "chorus/orchestrator_service"}
COPIED = ["shared", "orchestrator_service", "worker_service", "tests"]
KEEP = {".mutmut-cache"}  # results of earlier runs: unchanged lines are not tested again
KILLED = {"ok_killed", "ok_suspicious", "bad_timeout"}
SURVIVED = "bad_survived"


@dataclass(frozen=True)
class Survivor:
    mutant_id: int
    filename: str
    line_number: int  # 1-based
    diff: str


def prepare() -> None:
    """A fresh copy of the sources each run: no mutant of an interrupted run can survive it."""
    WORK.mkdir(exist_ok=True)
    for entry in WORK.iterdir():
        if entry.name in KEEP:
            continue
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry)
        else:
            entry.unlink()
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", ".hypothesis")
    for folder in COPIED:
        shutil.copytree(ROOT / folder, WORK / folder, ignore=ignore)
    shutil.copy2(ROOT / "pyproject.toml", WORK / "pyproject.toml")
    for script in ("mutmut_config.py", "run_tests.py"):
        shutil.copy2(ROOT / "mutation" / script, WORK / script)
    # The same shape as the strict editable install's link tree: a real `chorus` folder of
    # links into shared/, plus the two service folders linked in as subpackages.
    package = WORK / "pkg" / "chorus"
    package.mkdir(parents=True)
    for entry in (WORK / "shared").iterdir():
        (package / entry.name).symlink_to(entry)
    for folder in ("orchestrator_service", "worker_service"):
        (package / folder).symlink_to(WORK / folder)


def run_mutmut(*args: str) -> int:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(WORK / "pkg")
    # The plugins the runner names are loaded explicitly: autoloading all of them (schemathesis,
    # xdist, ...) costs ~1.5 s per mutant.
    env["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
    command = [sys.executable, "-m", "mutmut", "run", "--simple-output", *args]
    # mutmut tests mutants in a multiprocessing child that outlives its parent: an interrupted
    # run ends the whole session so no stray worker keeps rewriting .mutation/.
    process = subprocess.Popen(command, cwd=WORK, env=env, start_new_session=True)
    try:
        return process.wait()
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)


def retest_stale_survivors() -> None:
    """A survivor cached against older tests is, now and then, not enumerated again by a full
    run (seen with a removed decorator), so it would keep its stale status: test it by id."""
    with sqlite3.connect(WORK / ".mutmut-cache") as db:
        (current,) = db.execute("SELECT value FROM MiscData WHERE key = 'hash_of_tests'").fetchone()
        stale = db.execute(
            "SELECT id FROM Mutant WHERE status = ? AND tested_against_hash != ?",
            (SURVIVED, current),
        ).fetchall()
    for (mutant_id,) in stale:
        run_mutmut(str(mutant_id))


def mutant_diff(mutant_id: int) -> str:
    shown = subprocess.run(
        [sys.executable, "-m", "mutmut", "show", str(mutant_id)],
        cwd=WORK,
        capture_output=True,
        text=True,
        check=False,
    )
    return "\n".join(line for line in shown.stdout.splitlines() if line.startswith(("+", "-", "@")))


def results() -> tuple[dict[str, int], list[Survivor]]:
    with sqlite3.connect(WORK / ".mutmut-cache") as db:
        rows = db.execute(
            "SELECT m.id, m.status, f.filename, l.line_number FROM Mutant m "
            "JOIN Line l ON m.line = l.id JOIN SourceFile f ON l.sourcefile = f.id "
            "ORDER BY f.filename, l.line_number, m.id"
        ).fetchall()
    counts: dict[str, int] = {}
    survivors = []
    for mutant_id, status, filename, line_number in rows:
        counts[status] = counts.get(status, 0) + 1
        if status == SURVIVED:
            diff = mutant_diff(mutant_id)
            survivors.append(Survivor(mutant_id, filename, line_number + 1, diff))
    return counts, survivors


def equivalence_reason(survivor: Survivor, known: list[dict[str, str]]) -> str | None:
    """Known equivalents are matched by file and text, not by id: ids shift with the code."""
    lines = survivor.diff.splitlines()
    removed = " ".join(line[1:].strip() for line in lines if line[:1] == "-" and line[:3] != "---")
    added = " ".join(line[1:].strip() for line in lines if line[:1] == "+" and line[:3] != "+++")
    found = (survivor.filename, removed, added)
    for entry in known:
        if (entry["file"], entry["original"], entry["mutant"]) == found:
            return entry["reason"]
    return None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--min-score", type=float, default=85.0, help="percent killed")
    args = parser.parse_args()
    os.nice(10)  # the machine's cores are shared with other test runs
    # A terminated run unwinds like Ctrl-C, through run_mutmut's cleanup.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    started = time.monotonic()
    prepare()
    if run_mutmut() & 1:  # mutmut's exit code is a bit set; 1 is a fatal error
        print("mutmut failed to run (see above)", file=sys.stderr)
        return 1
    retest_stale_survivors()
    counts, survivors = results()
    known = tomllib.loads((ROOT / "mutation" / "equivalent.toml").read_text())["equivalent"]
    killed = sum(n for status, n in counts.items() if status in KILLED)
    total = killed + counts.get(SURVIVED, 0)
    score = 100.0 * killed / total if total else 100.0
    unexplained = 0
    print(f"\nSurviving mutants ({len(survivors)}):")
    for survivor in survivors:
        reason = equivalence_reason(survivor, known)
        unexplained += reason is None
        label = f"equivalent: {reason}" if reason else "NOT EXPLAINED"
        print(f"\n#{survivor.mutant_id} {survivor.filename}:{survivor.line_number} ({label})")
        print(survivor.diff)
    skipped = counts.get("skipped", 0) + counts.get("untested", 0)
    print(f"\nMutation score: {killed}/{total} killed = {score:.1f}% (minimum {args.min_score}%)")
    print(f"{len(survivors) - unexplained} survivors explained as equivalent, {unexplained} not")
    print(f"{skipped} mutants skipped (outside the targets) in {time.monotonic() - started:.0f} s")
    return 0 if score >= args.min_score else 1


if __name__ == "__main__":
    sys.exit(main())
