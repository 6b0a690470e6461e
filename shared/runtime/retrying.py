"""The one translation from task logic to Celery: `RetryLater` becomes `task.retry`."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from chorus.errors import RetryLater


@contextmanager
def retrying(task: Any) -> Iterator[None]:
    """Run task logic; a `RetryLater` it raises re-queues the message with its countdown (and
    its kwargs, when given), holding no worker slot while it waits."""
    try:
        yield
    except RetryLater as exc:
        raise task.retry(countdown=exc.countdown, kwargs=exc.kwargs, exc=exc) from exc
