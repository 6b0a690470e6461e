"""Redis Sentinel: a `sentinel://` REDIS_URL names the sentinels, and they say which data node
is the master now. Chorus's own clients, kombu's broker and Celery's result backend all ask
them again whenever they reconnect, so after a failover every process finds the new master.

The URL is kombu's and Celery's form, one `sentinel://[user:password@]host[:port][/db]` part
per sentinel joined by `;`. The password in the URL is the data nodes'; it and the database
may be given in the first part only (`full_url` repeats them in every part for kombu and
Celery). The sentinels' own password and the master's name are settings
(`CHORUS_REDIS_SENTINEL_PASSWORD`, `CHORUS_REDIS_SENTINEL_MASTER`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, unquote, urlsplit

import redis
import redis.asyncio
import redis.asyncio.sentinel
import redis.sentinel
from redis.asyncio.retry import Retry as AsyncRetry
from redis.backoff import NoBackoff
from redis.retry import Retry

from chorus.contract import limits
from chorus.errors import ConfigError
from chorus.settings import Settings

SCHEME = "sentinel"
DEFAULT_PORT = 26379


@dataclass(frozen=True)
class SentinelURL:
    sentinels: tuple[tuple[str, int], ...]
    db: int = 0
    username: str | None = None
    password: str | None = None

    def credentials(self) -> dict[str, Any]:
        """Connection arguments for the data nodes (the sentinels' come from settings)."""
        found = {"username": self.username, "password": self.password}
        return {"db": self.db, **{k: v for k, v in found.items() if v is not None}}

    def url(self, *, masked: bool = False) -> str:
        """Every part with the credentials and database. Kombu reads them from the part it
        is connecting through, and after an error it moves on to the next part: one without
        them would reach the data nodes unauthenticated, or the wrong database."""
        auth = quote(self.username or "", safe="")
        if self.password:
            auth += ":***" if masked else ":" + quote(self.password, safe="")
        auth += "@" if auth else ""
        return ";".join(
            f"{SCHEME}://{auth}{f'[{host}]' if ':' in host else host}:{port}/{self.db}"
            for host, port in self.sentinels
        )


def is_sentinel_url(url: str) -> bool:
    return url.startswith(f"{SCHEME}://")


def parse_sentinel_url(url: str) -> SentinelURL:
    """The sentinels, database and data-node credentials of a `sentinel://` URL. Messages name
    REDIS_URL, never its text: it may carry a password."""
    hosts: list[tuple[str, int]] = []
    first: tuple[str | None, str | None, int | None] | None = None
    for chunk in filter(None, (part.strip() for part in url.split(";"))):
        parts = urlsplit(chunk)
        try:
            port = parts.port or DEFAULT_PORT
            db_text = parts.path.strip("/")
            db = int(db_text) if db_text else None
        except ValueError:
            raise ConfigError("REDIS_URL: a sentinel:// part has a bad port or database") from None
        if parts.scheme != SCHEME or not parts.hostname:
            raise ConfigError("REDIS_URL: every ';'-separated part must be sentinel://host:port")
        hosts.append((parts.hostname, port))
        own = (
            unquote(parts.username) if parts.username else None,
            unquote(parts.password) if parts.password else None,
            db,
        )
        if first is None:
            first = own
        elif any(mine not in (None, theirs) for mine, theirs in zip(own, first, strict=True)):
            # Kombu would use whichever part it is connected through: refuse to guess.
            raise ConfigError(
                "REDIS_URL: the sentinel:// parts disagree on user, password or database"
            )
    if first is None:
        raise ConfigError("REDIS_URL: no sentinel named")
    username, password, db = first
    return SentinelURL(tuple(hosts), db=db or 0, username=username, password=password)


def describe(url: str, master: str) -> str:
    """The sentinels, database and master name for people; a password masked."""
    return f"{parse_sentinel_url(url).url(masked=True)} (master {master})"


def full_url(url: str) -> str:
    """The URL for kombu and Celery: the first part's credentials and database in every part."""
    return parse_sentinel_url(url).url()


def sentinel_kwargs(settings: Settings, *, timeout_s: float) -> dict[str, Any]:
    """How to reach the sentinels themselves. Their answers are one small reply, so a short
    timeout: a hung sentinel must not hold up asking the next one."""
    options: dict[str, Any] = {"socket_timeout": timeout_s, "socket_connect_timeout": timeout_s}
    if settings.redis_sentinel_password is not None:
        options["password"] = settings.redis_sentinel_password.get_secret_value()
    return options


def transport_options(settings: Settings) -> dict[str, Any]:
    """What kombu's sentinel transport and Celery's sentinel backend need beyond the URL."""
    return {
        "master_name": settings.redis_sentinel_master,
        "sentinel_kwargs": sentinel_kwargs(settings, timeout_s=limits.REDIS_CONNECT_TIMEOUT_S),
    }


class _BlockingSentinelPool(redis.sentinel.SentinelConnectionPool, redis.BlockingConnectionPool):
    """The master's connections, its address asked of the sentinels on every (re)connect, in
    a pool where a thread waits for a free connection (as in `connection.redis_client`)."""


class _AsyncBlockingSentinelPool(
    redis.asyncio.sentinel.SentinelConnectionPool, redis.asyncio.BlockingConnectionPool
):
    """The same for asyncio clients."""


def master_pool(
    settings: Settings, *, sentinel_timeout_s: float, **options: Any
) -> redis.BlockingConnectionPool:
    target = parse_sentinel_url(settings.redis_url.get_secret_value())
    # One attempt per sentinel: discovery moves on to the next, and the data connection's
    # own retry loop asks them all again.
    ask = sentinel_kwargs(settings, timeout_s=sentinel_timeout_s)
    ask["retry"] = Retry(NoBackoff(), 0)
    manager = redis.sentinel.Sentinel(list(target.sentinels), sentinel_kwargs=ask)  # type: ignore[no-untyped-call]
    return _BlockingSentinelPool(  # type: ignore[no-untyped-call]
        settings.redis_sentinel_master, manager, **target.credentials(), **options
    )


def async_master_pool(
    settings: Settings, *, sentinel_timeout_s: float, **options: Any
) -> redis.asyncio.BlockingConnectionPool:
    target = parse_sentinel_url(settings.redis_url.get_secret_value())
    ask = sentinel_kwargs(settings, timeout_s=sentinel_timeout_s)
    ask["retry"] = AsyncRetry(NoBackoff(), 0)
    manager = redis.asyncio.sentinel.Sentinel(list(target.sentinels), sentinel_kwargs=ask)  # type: ignore[no-untyped-call]
    return _AsyncBlockingSentinelPool(  # type: ignore[no-untyped-call]
        settings.redis_sentinel_master, manager, **target.credentials(), **options
    )
