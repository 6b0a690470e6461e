"""Settings of one simulator process."""

from pydantic import BaseModel, Field


class SimulatorConfig(BaseModel):
    latency_ms: float = Field(default=0, ge=0)
    fail_every: int = Field(default=0, ge=0)
    fail_status: int = Field(default=529, ge=400, le=599)
    api_key: str | None = None
    cache_min_tokens: int = Field(default=1024, ge=1)
    # Items in a generated plan (capped by the request's limit); None varies it by prompt.
    plan_size: int | None = Field(default=None, ge=1, le=20)
