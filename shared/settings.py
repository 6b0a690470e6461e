"""The one settings object. Every process builds its own `Settings()` from the environment.

Standard names are kept where the ecosystem has them (`REDIS_URL`, `ANTHROPIC_API_KEY`,
`ANTHROPIC_BASE_URL`); everything Chorus-specific is `CHORUS_*`.
"""

from typing import Any, Literal

from pydantic import (
    AliasChoices,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, SettingsConfigDict

from chorus.contract import limits
from chorus.core.pricing import DEFAULT_PRICES, ModelPrice
from chorus.core.rates import RateLimit
from chorus.errors import ConfigError

LogFormat = Literal["json", "text"]

# Optional settings for which an empty or blank value can only mean "not set".
OPTIONAL_VALUES = (
    "anthropic_api_key",
    "anthropic_base_url",
    "redis_tls_ca_file",
    "redis_sentinel_password",
    "simulator_api_key",
    "api_tokens",
    "metrics_token",
    "profiles_dir",
    "flower_url",
    "console_url",
)


class Settings(BaseSettings):
    # env_ignore_empty: `VAR=` (what compose passes for `${VAR:-}`) means unset, so the
    # default applies; a blank optional secret or URL is dropped by `_blank_is_unset` too.
    model_config = SettingsConfigDict(
        env_prefix="CHORUS_",
        extra="ignore",
        frozen=True,
        populate_by_name=True,
        env_ignore_empty=True,
    )

    redis_url: SecretStr = Field(
        default=SecretStr("redis://127.0.0.1:6379/0"),
        validation_alias=AliasChoices("REDIS_URL", "CHORUS_REDIS_URL"),
        description="Broker and result store. May carry a password; never logged.",
    )
    anthropic_api_key: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("ANTHROPIC_API_KEY", "CHORUS_ANTHROPIC_API_KEY")
    )
    anthropic_base_url: str | None = Field(
        default=None,
        validation_alias=AliasChoices("ANTHROPIC_BASE_URL", "CHORUS_ANTHROPIC_BASE_URL"),
    )

    redis_tls_ca_file: str | None = Field(
        default=None, description="CA bundle for a rediss:// URL (default: the system store)."
    )
    redis_retry_s: float = Field(default=limits.DEFAULT_REDIS_RETRY_S, ge=0)
    # Only for a sentinel:// REDIS_URL: the monitored master's name, and the sentinels' own
    # password (the data nodes' password goes in the URL, as for redis://).
    redis_sentinel_master: str = Field(default="mymaster", min_length=1)
    redis_sentinel_password: SecretStr | None = None

    simulator_url: str = Field(
        default="http://127.0.0.1:8765",
        description="Where the offline simulator listens; used only when no API key is set.",
    )
    simulator_api_key: SecretStr | None = Field(
        default=None, description="Sent to a simulator that listens beyond loopback."
    )

    # US dollars per million tokens by model; override with CHORUS_PRICES='{"model": {...}}'.
    prices: dict[str, ModelPrice] = Field(default_factory=lambda: dict(DEFAULT_PRICES))

    # Fleet-wide limits by model ("*" for any other), e.g.
    # CHORUS_RATE_LIMITS='{"claude-haiku-5-5": {"requests": 50, "output_tokens": 10000}}'.
    rate_limits: dict[str, RateLimit] = Field(default_factory=dict)
    rate_limit_window_s: float = Field(default=60.0, gt=0)

    orchestrator_model: str = limits.DEFAULT_ORCHESTRATOR_MODEL
    worker_model: str = limits.DEFAULT_WORKER_MODEL
    plan_max_tokens: int = Field(default=limits.DEFAULT_PLAN_MAX_TOKENS, ge=1)
    worker_max_tokens: int = Field(default=limits.DEFAULT_WORKER_MAX_TOKENS, ge=1)
    # A call answered in one piece (planning) completes within model_timeout_s; a streamed
    # call (workers, synthesis) within stream_timeout_s as a whole and model_idle_timeout_s
    # between two chunks: the two are checked separately.
    model_timeout_s: float = Field(default=limits.DEFAULT_MODEL_TIMEOUT_S, gt=0)
    stream_timeout_s: float = Field(default=limits.DEFAULT_STREAM_TIMEOUT_S, gt=0)
    model_idle_timeout_s: float = Field(default=limits.DEFAULT_MODEL_IDLE_TIMEOUT_S, gt=0)
    # Worker and synthesis text is published as `subtask_delta` events while it is written.
    stream_deltas: bool = True
    # How long delta streams outlive a subtask's result (and the job's end) before they expire.
    delta_linger_s: float = Field(default=limits.DEFAULT_DELTA_LINGER_S, gt=0)
    # Retries happen in Celery (a waiting task holds no worker slot); the SDK's own stay at 0
    # so the two layers never multiply.
    max_attempts: int = Field(default=limits.DEFAULT_MAX_ATTEMPTS, ge=1, le=20)
    retry_base_s: float = Field(default=limits.DEFAULT_RETRY_BASE_S, ge=0)
    retry_max_s: float = Field(default=limits.DEFAULT_RETRY_MAX_S, ge=0)

    job_ttl_s: int = Field(default=limits.DEFAULT_JOB_TTL_S, ge=60)
    shutdown_grace_s: float = Field(default=limits.DEFAULT_SHUTDOWN_GRACE_S, ge=0)
    heartbeat_interval_s: float = Field(default=limits.DEFAULT_HEARTBEAT_INTERVAL_S, gt=0)
    heartbeat_ttl_s: float = Field(default=limits.DEFAULT_HEARTBEAT_TTL_S, gt=0)
    visibility_timeout_s: int = Field(default=limits.DEFAULT_VISIBILITY_TIMEOUT_S, ge=10)
    # The reconciler sweeps this often and drives on a job left with nothing in flight for
    # the grace period (their sum bounds how long a stranded job waits).
    reconcile_interval_s: float = Field(default=limits.DEFAULT_RECONCILE_INTERVAL_S, gt=0)
    reconcile_grace_s: float = Field(default=limits.DEFAULT_RECONCILE_GRACE_S, gt=0)
    # How long a worker holding a model reply keeps trying to store it while Redis is away.
    result_save_cap_s: float = Field(default=limits.DEFAULT_RESULT_SAVE_CAP_S, ge=0)
    # "name:token,name:token": each token is a tenant of the HTTP API. Unset: loopback only.
    api_tokens: SecretStr | None = None
    # Celery task events (and sent events) for Flower.
    task_events: bool = True
    # Log lines as JSON (one object per line, with job_id and subtask) or plain text.
    log_format: LogFormat = "json"
    # Bearer token for GET /metrics when the API has tenants (metrics span every tenant).
    metrics_token: SecretStr | None = None
    api_max_body_bytes: int = Field(default=512_000, ge=1_000)
    # A directory of profile files (YAML, TOML or JSON) beside the built-in ones.
    profiles_dir: str | None = None
    # false: tenants of the HTTP API may not bring prompts or schemas inline, only profiles.
    inline_prompts: bool = True
    # Flower's base URL as a browser reaches it: the console's job page links to its tasks.
    flower_url: str | None = None
    # The console's base URL (the API's, e.g. https://chorus.example): the gather result that
    # Flower shows names the job's page under it; unset, the page's path alone.
    console_url: str | None = None
    # Webhook signing secrets by tenant (jobs without one sign with "default"), e.g.
    # CHORUS_WEBHOOK_SECRETS='{"default": "whsec_...", "acme": "whsec_..."}'.
    webhook_secrets: dict[str, SecretStr] = Field(default_factory=dict)
    # Hosts or networks (CIDR) a webhook may target although they are private addresses,
    # e.g. CHORUS_WEBHOOK_ALLOW='["10.0.0.0/8", "hooks.internal"]'.
    webhook_allow: list[str] = Field(default_factory=list)
    # The unit of the webhook retry schedule (10 s, 30 s, 1 min, … every 2 h for a day at the
    # default); tests make it small.
    webhook_retry_base_s: float = Field(default=10.0, gt=0)
    # Prompt caching (chorus.core.caching). The smallest prefix each model caches, by name
    # prefix, over the built-in table, e.g. CHORUS_CACHE_MIN_TOKENS='{"claude-sonnet": 2048}'.
    cache_min_tokens: dict[str, int] = Field(default_factory=dict)
    # The longest a worker call waits for the call warming the cache to start answering.
    cache_warm_wait_s: float = Field(default=limits.DEFAULT_CACHE_WARM_WAIT_S, ge=0)
    # "auto" warms the cache only when that saves at least this many dollars on the job.
    cache_min_saving_usd: float = Field(default=0.0, ge=0)
    # Batch mode (chorus.runtime.batches): requests are collected for up to batch_window_s or
    # batch_max_requests, whichever comes first, then sent as one batch polled every
    # batch_poll_s; a request unanswered after batch_max_wait_s is made directly instead.
    batch_window_s: float = Field(default=limits.DEFAULT_BATCH_WINDOW_S, gt=0)
    batch_max_requests: int = Field(
        default=limits.DEFAULT_BATCH_MAX_REQUESTS, ge=1, le=limits.MAX_BATCH_REQUESTS
    )
    batch_poll_s: float = Field(default=limits.DEFAULT_BATCH_POLL_S, gt=0)
    batch_max_wait_s: float = Field(default=limits.DEFAULT_BATCH_MAX_WAIT_S, gt=0)

    orchestrator_concurrency: int = Field(default=limits.DEFAULT_ORCHESTRATOR_CONCURRENCY, ge=1)
    worker_concurrency: int = Field(default=limits.DEFAULT_WORKER_CONCURRENCY, ge=1)

    @field_validator(*OPTIONAL_VALUES, mode="before")
    @classmethod
    def _blank_is_unset(cls, value: Any) -> Any:
        # An empty API key taken as a key sends every call to the real API with a 401 instead
        # of to the simulator; the same goes for a blank base URL, token or path.
        raw = value.get_secret_value() if isinstance(value, SecretStr) else value
        if isinstance(raw, str) and not raw.strip():
            return None
        return value

    @model_validator(mode="after")
    def _heartbeats_can_lapse_only_when_silent(self) -> "Settings":
        # With a TTL under two beats, one slow beat would declare a live process dead and
        # requeue everything it holds.
        if self.heartbeat_ttl_s < 2 * self.heartbeat_interval_s:
            raise ValueError(
                "CHORUS_HEARTBEAT_TTL_S must be at least twice CHORUS_HEARTBEAT_INTERVAL_S"
            )
        return self

    @property
    def uses_simulator(self) -> bool:
        """No real key configured: Chorus talks to its offline simulator instead."""
        return self.anthropic_api_key is None

    @property
    def model_base_url(self) -> str | None:
        """The Messages API endpoint; None means the SDK's default (api.anthropic.com)."""
        if self.uses_simulator:
            return self.anthropic_base_url or self.simulator_url
        return self.anthropic_base_url

    def describe_model_endpoint(self) -> str:
        """One line for people: which model endpoint is in use (never the key)."""
        if self.uses_simulator:
            return f"SIMULATOR (no ANTHROPIC_API_KEY set) at {self.model_base_url}"
        return f"Anthropic API at {self.model_base_url or 'the SDK default endpoint'}"


def env_name(field: str) -> str:
    """The environment variable a Settings field is read from."""
    info = Settings.model_fields.get(field)
    if info is None:  # already an alias, e.g. REDIS_URL
        return field.upper()
    alias = info.validation_alias
    if isinstance(alias, AliasChoices) and isinstance(alias.choices[0], str):
        return alias.choices[0]
    return f"CHORUS_{field.upper()}"


def load_settings() -> Settings:
    """Settings from the environment, or a ConfigError naming each bad variable (never its
    value: it may be a secret)."""
    try:
        return Settings()
    except ValidationError as exc:
        problems = []
        for item in exc.errors(include_url=False, include_input=False):
            where = env_name(str(item["loc"][0])) if item["loc"] else "settings"
            problems.append(f"{where}: {item['msg'].removeprefix('Value error, ')}")
        raise ConfigError("invalid setting: " + "; ".join(problems)) from None
