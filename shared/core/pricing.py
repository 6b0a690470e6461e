"""Cost arithmetic: tokens × a per-model price table. Pure, so it is unit-tested alone."""

from pydantic import BaseModel, Field

from chorus.contract.models import Usage

PER_MILLION = 1_000_000


class ModelPrice(BaseModel):
    """US dollars per million tokens."""

    input: float = Field(ge=0)
    output: float = Field(ge=0)
    cache_write: float = Field(ge=0)
    cache_read: float = Field(ge=0)


def _price(input_usd: float, output_usd: float) -> ModelPrice:
    # Anthropic's rule: a cache write costs 1.25× input, a cache read 0.1× input.
    return ModelPrice(
        input=input_usd, output=output_usd, cache_write=input_usd * 1.25, cache_read=input_usd * 0.1
    )


DEFAULT_PRICES: dict[str, ModelPrice] = {
    "claude-opus-5-5": _price(5.0, 25.0),
    "claude-sonnet-5-5": _price(3.0, 15.0),
    "claude-haiku-5-5": _price(1.0, 5.0),
    "claude-opus-4-8": _price(5.0, 25.0),
    "claude-sonnet-4-6": _price(3.0, 15.0),
    "claude-haiku-4-5": _price(1.0, 5.0),
}


def cost_usd(usage: Usage, price: ModelPrice | None) -> float:
    """The cost of one call's usage; 0 for a model missing from the table."""
    if price is None:
        return 0.0
    dollars = (
        usage.input_tokens * price.input
        + usage.output_tokens * price.output
        + usage.cache_creation_input_tokens * price.cache_write
        + usage.cache_read_input_tokens * price.cache_read
    ) / PER_MILLION
    return round(dollars, 8)


def priced(usage: Usage, price: ModelPrice | None) -> Usage:
    return usage.model_copy(update={"cost_usd": cost_usd(usage, price)})
