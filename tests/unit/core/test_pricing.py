import pytest

from chorus.contract.models import Usage
from chorus.core.pricing import DEFAULT_PRICES, ModelPrice, cost_usd, priced
from chorus.settings import Settings


def test_cost_is_tokens_times_the_table() -> None:
    price = ModelPrice(input=3, output=15, cache_write=3.75, cache_read=0.3)
    usage = Usage(
        input_tokens=1_000,
        output_tokens=2_000,
        cache_creation_input_tokens=10_000,
        cache_read_input_tokens=100_000,
    )
    assert cost_usd(usage, price) == pytest.approx(0.003 + 0.03 + 0.0375 + 0.03)
    assert priced(usage, price).cost_usd == pytest.approx(0.1005)


def test_unknown_model_costs_nothing_and_sums_add_up() -> None:
    assert cost_usd(Usage(input_tokens=10), None) == 0
    total = Usage(input_tokens=1, cost_usd=0.25) + Usage(output_tokens=2, cost_usd=0.5)
    assert total.cost_usd == 0.75 and total.total_tokens == 3


def test_price_table_can_be_overridden_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(
        "CHORUS_PRICES",
        '{"my-model": {"input": 1, "output": 2, "cache_write": 1.25, "cache_read": 0.1}}',
    )
    assert Settings().prices == {
        "my-model": ModelPrice(input=1, output=2, cache_write=1.25, cache_read=0.1)
    }
    assert "claude-haiku-5-5" in DEFAULT_PRICES
