"""How one model call of a job uses the prompt cache: decided where the job's calls are
planned (`chorus.core.caching`), carried by the call's message, followed by the model client."""

from typing import Literal

from pydantic import Field

from chorus.contract.wire import WireModel

CacheTtl = Literal["5m", "1h"]
# "lead": this call writes the entry and says so when its first token arrives; "follow": wait
# for that (at most `wait_s`), then read; "free": go at once (the entry exists, or nobody waits).
CacheRole = Literal["lead", "follow", "free"]


class CacheUse(WireModel):
    """Mark the job's shared block for caching, with this TTL and role."""

    ttl: CacheTtl = "5m"
    role: CacheRole = "free"
    wait_s: float = Field(default=0.0, ge=0)
    # Why this choice (shown in logs and, for the job, on its record).
    reason: str = ""
