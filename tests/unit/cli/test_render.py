"""The CLI's job summary says what prompt caching saved (or cost) against sending it plain."""

from __future__ import annotations

from rich.console import Console

from chorus.cli import render
from chorus.contract.models import Usage
from tests.support.factories import running


def summary_text(saving_usd: float) -> str:
    record = running(1).model_copy(
        update={"usage": Usage(cost_usd=0.05, cache_saving_usd=saving_usd)}
    )
    console = Console(width=200, record=True)
    console.print(render.summary_table(record))
    return console.export_text()


def test_the_summary_shows_the_caching_saving_or_its_loss_or_nothing() -> None:
    assert "$0.0500 (caching saved $0.0850)" in summary_text(0.085)
    assert "$0.0500 (caching cost $0.0010 more)" in summary_text(-0.001)
    assert "caching" not in summary_text(0.0)
