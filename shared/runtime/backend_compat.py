"""Celery's Redis result backend without a lock on every attribute read, and with a pool that
waits for a free connection rather than raising.

The backend's `client` and its chord scripts are kombu `cached_property`s, and kombu's takes
the property's one RLock, shared by every instance, on every read, cached or not (a data
descriptor: the value in the instance's dict never short-cuts it). Each chord part reads
three of them. With 1,000 pool threads finishing subtasks at once, py-spy found 600 of them
queued on those locks, and every hand-over of a lock costs a GIL hand-over too.

The values never change once built (nothing in the backend sets or deletes them), so the
backend gets a subclass whose properties are the standard library's `cached_property`: built
once under its lock, then read from the instance's dict like any attribute.
"""

from __future__ import annotations

import functools
from typing import Any

import redis
from kombu.utils.objects import cached_property as KombuCachedProperty


def without_property_locks(backend: Any) -> Any:
    """`backend`, its kombu cached properties read without a lock once built."""
    kind: type = type(backend)
    backend.__class__ = _unlocked(kind)
    return backend


@functools.cache
def _unlocked(cls: type) -> type:
    found: dict[str, Any] = {}
    for klass in cls.__mro__:  # the first definition of a name is the one in force
        for name, attr in vars(klass).items():
            found.setdefault(name, attr)
    body = {
        name: functools.cached_property(attr.func)
        for name, attr in found.items()
        if isinstance(attr, KombuCachedProperty)
    }
    if not body:
        return cls
    return type(cls.__name__, (cls,), {"__module__": cls.__module__, **body})


def with_blocking_pool(backend: Any) -> Any:
    """`backend`, its Redis pool a blocking one: a thread finding every connection taken waits
    for one (up to redis-py's 20 s) instead of failing at once with `MaxConnectionsError`,
    which in a chord part loses the part (the job then waits for the reconciler). A backend
    given a pool class, or building its pool another way (sentinel), is left as it is."""
    if getattr(backend, "_ConnectionPool", ...) is None:
        backend._ConnectionPool = redis.BlockingConnectionPool
    return backend
