"""The result backend's cached properties, read while another thread holds kombu's lock, and
its Redis pool (blocking, a connection for every thread)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest
import redis
from celery.backends.redis import RedisBackend

from chorus.runtime.app import create_celery_app
from chorus.runtime.backend_compat import with_blocking_pool, without_property_locks
from chorus.settings import Settings

WAIT_S = 5.0


def backend() -> RedisBackend:
    # No command is sent: building the client and registering a script touch no socket.
    app = create_celery_app(Settings(redis_url="redis://127.0.0.1:1/0"))
    found = app.backend
    assert isinstance(found, RedisBackend)
    return found


def read_while_locked(found: RedisBackend, name: str, timeout_s: float = WAIT_S) -> object:
    """Read `name` from another thread while this one holds the property's kombu lock (the
    same lock for every instance of the stock class)."""
    lock = vars(RedisBackend)[name].lock
    with ThreadPoolExecutor(1) as pool, lock:  # the lock is let go before the pool is joined
        return pool.submit(getattr, found, name).result(timeout=timeout_s)


@pytest.mark.parametrize("name", ["client", "_chord_part_return_script", "_transport_options"])
def test_a_built_property_is_read_without_kombus_lock(name: str) -> None:
    found = backend()
    first = getattr(found, name)  # built once, under a lock
    assert read_while_locked(found, name) is first


def test_the_stock_backend_would_wait_for_the_lock() -> None:
    """What the test above guards against: the stock class's read waits on the lock."""
    stock = RedisBackend(app=create_celery_app(Settings(redis_url="redis://127.0.0.1:1/0")))
    stock.client  # noqa: B018 (built: the next read still takes the lock)
    with pytest.raises(TimeoutError):
        read_while_locked(stock, "client", timeout_s=0.2)


def test_built_once_across_threads() -> None:
    found = backend()
    with ThreadPoolExecutor(8) as pool:
        clients = set(map(id, pool.map(lambda _: found.client, range(64))))
    assert len(clients) == 1


def test_the_class_keeps_its_name_and_is_made_once() -> None:
    one, two = backend(), without_property_locks(backend())
    assert type(one) is type(two)
    assert type(one).__name__ == "RedisBackend" and isinstance(one, RedisBackend)
    assert type(one) is not RedisBackend


def test_one_backend_for_every_thread() -> None:
    app = create_celery_app(Settings(redis_url="redis://127.0.0.1:1/0"))
    first = app.backend
    with ThreadPoolExecutor(4) as pool:
        backends = set(map(id, pool.map(lambda _: app.backend, range(16))))
    assert backends == {id(first)}


def test_the_backends_pool_waits_and_holds_a_connection_for_every_thread() -> None:
    settings = Settings(redis_url="redis://127.0.0.1:1/0", worker_concurrency=1000)
    pool = create_celery_app(settings).backend.client.connection_pool
    assert isinstance(pool, redis.BlockingConnectionPool)
    assert pool.max_connections >= 1000


def test_a_backend_given_its_own_pool_class_keeps_it() -> None:
    given = backend()
    given._ConnectionPool = redis.ConnectionPool
    assert with_blocking_pool(given)._ConnectionPool is redis.ConnectionPool
