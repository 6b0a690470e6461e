"""Cost arithmetic: tokens × a per-model price table. Pure, so it is unit-tested alone."""

from pydantic import BaseModel, Field, model_validator

from chorus.contract.models import Usage

PER_MILLION = 1_000_000
# Anthropic's rules: a cache write costs 1.25x input (2x with the 1-hour TTL), a cache read
# 0.1x input, and every token of a Message Batches request half its price.
CACHE_WRITE_MULTIPLIER = 1.25
CACHE_WRITE_1H_MULTIPLIER = 2.0
CACHE_READ_MULTIPLIER = 0.1
BATCH_DISCOUNT = 0.5


class ModelPrice(BaseModel):
    """US dollars per million tokens; the 1-hour cache write defaults to 2x input."""

    input: float = Field(ge=0)
    output: float = Field(ge=0)
    cache_write: float = Field(ge=0)
    cache_read: float = Field(ge=0)
    cache_write_1h: float | None = Field(default=None, ge=0)

    @model_validator(mode="after")
    def _default_1h_write(self) -> "ModelPrice":
        if self.cache_write_1h is None:
            self.cache_write_1h = self.input * CACHE_WRITE_1H_MULTIPLIER
        return self


def _price(input_usd: float, output_usd: float) -> ModelPrice:
    return ModelPrice(
        input=input_usd,
        output=output_usd,
        cache_write=input_usd * CACHE_WRITE_MULTIPLIER,
        cache_read=input_usd * CACHE_READ_MULTIPLIER,
    )


DEFAULT_PRICES: dict[str, ModelPrice] = {
    "claude-opus-5-5": _price(5.0, 25.0),
    "claude-sonnet-5-5": _price(3.0, 15.0),
    "claude-haiku-5-5": _price(1.0, 5.0),
    "claude-opus-4-8": _price(5.0, 25.0),
    "claude-sonnet-4-6": _price(3.0, 15.0),
    "claude-haiku-4-5": _price(1.0, 5.0),
}


def _cached_input_usd(usage: Usage, price: ModelPrice) -> float:
    """What the cache writes and reads cost, per million tokens of each."""
    write_1h = min(usage.cache_write_1h_input_tokens, usage.cache_creation_input_tokens)
    write_5m = usage.cache_creation_input_tokens - write_1h
    assert price.cache_write_1h is not None
    return (
        write_5m * price.cache_write
        + write_1h * price.cache_write_1h
        + usage.cache_read_input_tokens * price.cache_read
    )


def cost_usd(usage: Usage, price: ModelPrice | None, *, batch: bool = False) -> float:
    """The cost of one call's usage (at the batch price for a batch request); 0 for a model
    missing from the table."""
    if price is None:
        return 0.0
    dollars = (
        usage.input_tokens * price.input
        + usage.output_tokens * price.output
        + _cached_input_usd(usage, price)
    ) / PER_MILLION
    return round(dollars * (BATCH_DISCOUNT if batch else 1.0), 8)


def cache_saving_usd(usage: Usage, price: ModelPrice | None, *, batch: bool = False) -> float:
    """What the call's cached tokens would have cost sent plain, less what they cost: positive
    when reads paid back the writes, negative for a write nobody read."""
    if price is None:
        return 0.0
    cached = usage.cache_creation_input_tokens + usage.cache_read_input_tokens
    dollars = (cached * price.input - _cached_input_usd(usage, price)) / PER_MILLION
    return round(dollars * (BATCH_DISCOUNT if batch else 1.0), 8)


def priced(usage: Usage, price: ModelPrice | None, *, batch: bool = False) -> Usage:
    return usage.model_copy(
        update={
            "cost_usd": cost_usd(usage, price, batch=batch),
            "cache_saving_usd": cache_saving_usd(usage, price, batch=batch),
        }
    )
