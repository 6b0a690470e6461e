import pytest
from pydantic import ValidationError

from chorus.contract.models import Usage
from chorus.core.pricing import DEFAULT_PRICES, ModelPrice, cache_saving_usd, cost_usd, priced
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


# Found by mutation testing (docs/mutation.md): each test pins behaviour a mutant changed.


def test_a_million_tokens_cost_exactly_the_listed_price() -> None:
    price = ModelPrice(input=3, output=15, cache_write=3.75, cache_read=0.3)
    assert cost_usd(Usage(input_tokens=1_000_000), price) == 3.0
    assert cost_usd(Usage(output_tokens=1_000_000), price) == 15.0


def test_default_prices_are_list_prices_with_cache_writes_at_125_and_reads_at_10_percent() -> None:
    def listed(input_usd: float, output_usd: float) -> object:
        cache = {
            "cache_write": input_usd * 1.25,
            "cache_read": input_usd / 10,
            "cache_write_1h": input_usd * 2,
        }
        return pytest.approx({"input": input_usd, "output": output_usd, **cache})

    assert {name: price.model_dump() for name, price in DEFAULT_PRICES.items()} == {
        "claude-opus-5-5": listed(5, 25),
        "claude-sonnet-5-5": listed(3, 15),
        "claude-haiku-5-5": listed(1, 5),
        "claude-opus-4-8": listed(5, 25),
        "claude-sonnet-4-6": listed(3, 15),
        "claude-haiku-4-5": listed(1, 5),
    }


FIELDS = ("input", "output", "cache_write", "cache_read")


@pytest.mark.parametrize("field", FIELDS)
def test_a_price_needs_every_rate_may_be_free_and_is_never_negative(field: str) -> None:
    free = dict.fromkeys(FIELDS, 0.0)
    # The 1-hour write is optional: 2x input unless given.
    assert ModelPrice.model_validate(free).model_dump() == free | {"cache_write_1h": 0.0}
    with pytest.raises(ValidationError):
        ModelPrice.model_validate({**free, field: -0.5})
    with pytest.raises(ValidationError):
        ModelPrice.model_validate({k: v for k, v in free.items() if k != field})


def test_a_cost_is_rounded_to_a_hundred_millionth_of_a_dollar() -> None:
    price = ModelPrice(input=0.012, output=0, cache_write=0, cache_read=0)
    assert cost_usd(Usage(input_tokens=1), price) == 0.00000001


def test_a_1_hour_write_costs_twice_input_and_a_batch_call_half_of_everything() -> None:
    price = DEFAULT_PRICES["claude-haiku-5-5"]  # $1 in, $5 out per million
    usage = Usage(
        input_tokens=1_000_000,
        output_tokens=1_000_000,
        cache_creation_input_tokens=3_000_000,
        cache_write_1h_input_tokens=1_000_000,  # of the three million written
        cache_read_input_tokens=10_000_000,
    )
    full = 1 + 5 + 2 * 1.25 + 1 * 2 + 10 * 0.1
    assert cost_usd(usage, price) == pytest.approx(full)
    assert cost_usd(usage, price, batch=True) == pytest.approx(full / 2)


def test_the_saving_is_what_the_cached_tokens_would_have_cost_plain_less_what_they_cost() -> None:
    price = DEFAULT_PRICES["claude-sonnet-5-5"]  # $3 per million input
    one_write_four_reads = Usage(cache_creation_input_tokens=20_000, cache_read_input_tokens=80_000)
    plain = 100_000 * 3 / 1e6
    paid = (20_000 * 3.75 + 80_000 * 0.3) / 1e6
    assert cache_saving_usd(one_write_four_reads, price) == pytest.approx(plain - paid)
    # A write nobody reads is a loss of a quarter of its input price.
    lonely = Usage(cache_creation_input_tokens=1_000_000)
    assert cache_saving_usd(lonely, price) == pytest.approx(-0.75)
    assert cache_saving_usd(lonely, price, batch=True) == pytest.approx(-0.375)
    assert cache_saving_usd(lonely, None) == 0.0
    priced_usage = priced(one_write_four_reads, price)
    assert priced_usage.cache_saving_usd == pytest.approx(plain - paid)
    assert priced_usage.cost_usd == pytest.approx(paid)


def test_savings_and_1_hour_writes_add_up_across_calls() -> None:
    one = Usage(cache_write_1h_input_tokens=5, cache_creation_input_tokens=5, cache_saving_usd=-1)
    two = Usage(cache_read_input_tokens=7, cache_saving_usd=3.5)
    total = one + two
    assert (total.cache_write_1h_input_tokens, total.cache_saving_usd) == (5, 2.5)
