"""Where a webhook URL's host resolves to, checked against the private-address rule
(`chorus.core.webhooks.address_problem`): by the API when a job is submitted, and by the
sender before each delivery (a name may resolve elsewhere by then)."""

from __future__ import annotations

import concurrent.futures
import functools
import socket
from collections.abc import Callable
from urllib.parse import urlsplit

from chorus.core.webhooks import address_problem

Resolve = Callable[[str, int], list[str]]

RESOLVE_TIMEOUT_S = 3.0


@functools.cache
def _resolvers() -> concurrent.futures.ThreadPoolExecutor:
    # getaddrinfo has no timeout of its own: it runs on these threads and is waited for briefly.
    return concurrent.futures.ThreadPoolExecutor(max_workers=4, thread_name_prefix="resolve")


def system_resolve(host: str, port: int) -> list[str]:
    """Every address `host` resolves to (raises OSError when it does not)."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return sorted({str(info[4][0]) for info in infos})


def url_address_problem(
    url: str,
    allow: list[str],
    *,
    resolve: Resolve = system_resolve,
    timeout_s: float = RESOLVE_TIMEOUT_S,
) -> str | None:
    """Why a webhook may not be sent to `url` given where its host resolves now, or None.
    Every address must pass: a name with one public and one private address is refused."""
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    port = parts.port or (443 if parts.scheme == "https" else 80)
    future = _resolvers().submit(resolve, host, port)
    try:
        addresses = future.result(timeout=timeout_s)
    except concurrent.futures.TimeoutError:
        return f"webhook_url host {host!r} did not resolve within {timeout_s:.0f}s"
    except (OSError, UnicodeError):
        return f"webhook_url host {host!r} does not resolve"
    if not addresses:
        return f"webhook_url host {host!r} does not resolve"
    for address in addresses:
        problem = address_problem(address, host, allow)
        if problem is not None:
            return problem
    return None
