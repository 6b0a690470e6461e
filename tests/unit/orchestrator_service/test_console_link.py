"""The console link in the gather task's result, as Flower shows it."""

from __future__ import annotations

from chorus.orchestrator_service.tasks import console_link


def test_without_a_console_url_the_link_is_the_job_pages_path() -> None:
    assert console_link(None, "job-1") == "/ui/jobs/job-1"


def test_with_a_console_url_the_link_is_a_full_url_with_the_id_quoted() -> None:
    link = console_link("https://chorus.example/", "team/a b")
    assert link == "https://chorus.example/ui/jobs/team%2Fa%20b"
