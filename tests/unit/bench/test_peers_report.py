"""The peers section's verdicts and tables, from figures shaped as bench/peers/suite.py
writes them."""

from __future__ import annotations

from typing import Any

from bench.peers import report

RSS = {"main_mb": 90.0, "children": 0, "children_mb": 0.0, "total_mb": 90.0, "pss_now_mb": 80.0}


def _fast(jobs_per_s: float) -> dict[str, Any]:
    return {
        "wall_s": 100 / jobs_per_s,
        "jobs_per_s": jobs_per_s,
        "subtasks_per_s": 5 * jobs_per_s,
        "samples_wall_s": [1.0, 2.0, 3.0],
        "cpu_ms_per_job": {"worker": 40.0, "redis": 3.0},
        "cpu_ms_per_job_total": 43.0,
        "redis_commands_per_job": 50.0,
        "redis_top_commands_per_job": {},
        "model_call_retries": 0,
    }


def _slow(wall_s: float, in_flight: int) -> dict[str, Any]:
    return {
        "wall_s": wall_s,
        "samples_wall_s": [wall_s] * 3,
        "in_flight": in_flight,
        "samples_in_flight": [in_flight] * 3,
        "worker_peak_rss": RSS,
        "model_call_retries": 0,
    }


def _results(chorus_wall: float, chorus_rate: float, *, peers: bool = True) -> dict[str, Any]:
    fast = {"chorus": _fast(chorus_rate)}
    slow = {"chorus": _slow(chorus_wall, 200)}
    if peers:
        fast |= {"arq": _fast(20.0), "dramatiq": _fast(12.0)}
        slow |= {"arq": _slow(11.0, 1000), "dramatiq": _slow(12.0, 1000)}
    skipped = {} if peers else {"arq": "arq is not installed", "dramatiq": "arq is not installed"}
    return {
        "peers": {
            "skipped": skipped,
            "throughput": {"latency_ms_per_call": 0.0, "jobs": 100, "subtasks": 5,
                           "systems": fast},
            "load": {"latency_ms_per_call": 5000.0, "jobs": 200, "subtasks": 5, "systems": slow},
        }
    }  # fmt: skip


def test_chorus_behind_the_best_peer_misses_both_targets() -> None:
    load, rate = report.targets(_results(chorus_wall=26.0, chorus_rate=6.0))
    assert not load[2] and "best peer arq 11.0 s" in load[1]
    assert not rate[2] and "best peer arq 20.0/s" in rate[1]


def test_chorus_ahead_of_every_peer_passes() -> None:
    verdicts = report.targets(_results(chorus_wall=10.5, chorus_rate=25.0))
    assert all(passed for _, _, passed in verdicts)


def test_a_run_without_peers_says_why_and_claims_no_comparison() -> None:
    r = _results(chorus_wall=10.0, chorus_rate=25.0, peers=False)
    load, rate = report.targets(r)
    assert "no peer measured" in load[1] and "arq is not installed" in rate[1]
    assert not rate[2]
    assert any(line.startswith("Skipped: ") for line in report.markdown(r))


def test_tables_and_readme_line_show_every_system() -> None:
    r = _results(chorus_wall=26.0, chorus_rate=6.0)
    text = "\n".join(report.markdown(r))
    for name in ("| Chorus |", "| arq |", "| dramatiq (gevent) |", "1000"):
        assert name in text
    (line,) = report.readme_line(r)
    assert "arq 20.0" in line and "Chorus 26.0 s" in line
    assert report.targets({}) == [] and report.markdown({}) == []


def test_the_bare_chord_is_shown_as_the_floor_never_taken_for_the_best_peer() -> None:
    r = _results(chorus_wall=10.5, chorus_rate=25.0)
    r["peers"]["throughput"]["systems"]["bare_chord"] = _fast(40.0)
    r["peers"]["load"]["systems"]["bare_chord"] = _slow(9.5, 1000)
    load, rate = report.targets(r)
    assert load[2] and rate[2]  # ahead of arq and dramatiq, behind the floor: still a pass
    assert "best peer arq 11.0 s; bare Celery chord 9.5 s" in load[1]
    assert "best peer arq 20.0/s; bare Celery chord 40.0/s" in rate[1]
    assert "| bare Celery chord |" in "\n".join(report.markdown(r))
