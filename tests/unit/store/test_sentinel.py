"""A sentinel:// REDIS_URL: parsed the way kombu and Celery read it, described without its
password, and handed to the broker, the result backend and Chorus's own clients."""

import kombu.transport.redis
import pytest
import redis.sentinel
from pydantic import SecretStr

from chorus.cli.up import _safe
from chorus.errors import ConfigError
from chorus.runtime.app import celery_config
from chorus.runtime.redelivery import KOMBU_UNACKED, KOMBU_UNACKED_INDEX
from chorus.settings import Settings
from chorus.store.connection import redis_client, redis_location, tls_options
from chorus.store.sentinel import SentinelURL, parse_sentinel_url

URL = "sentinel://:s%40cret@10.0.0.1:26379/2;sentinel://10.0.0.2:26380;sentinel://10.0.0.3"


def test_every_sentinel_with_the_first_parts_database_and_password() -> None:
    assert parse_sentinel_url(URL) == SentinelURL(
        sentinels=(("10.0.0.1", 26379), ("10.0.0.2", 26380), ("10.0.0.3", 26379)),
        db=2,
        password="s@cret",
    )
    assert parse_sentinel_url("sentinel://u:p@h:1/0;sentinel://u:p@h:2/0").username == "u"
    assert parse_sentinel_url("sentinel://h").credentials() == {"db": 0}


@pytest.mark.parametrize(
    "url",
    [
        "sentinel://:a@h:1;sentinel://:b@h:2",  # kombu would silently use only "a"
        "sentinel://h:1/0;sentinel://h:2/1",
        "sentinel://h:1;redis://h:2",
        "sentinel://h:port",
        "sentinel://h:1/db",
        "sentinel://:pw@",
        ";",
    ],
)
def test_a_url_kombu_would_misread_is_a_config_error_without_its_secret(url: str) -> None:
    with pytest.raises(ConfigError, match="REDIS_URL") as caught:
        parse_sentinel_url(url)
    assert "pw" not in str(caught.value) and ":a@" not in str(caught.value)


def test_location_names_every_sentinel_and_the_master_never_a_password() -> None:
    settings = Settings(redis_url=URL, redis_sentinel_master="jobs")
    assert redis_location(settings) == (
        "sentinel://:***@10.0.0.1:26379/2;sentinel://:***@10.0.0.2:26380/2;"
        "sentinel://:***@10.0.0.3:26379/2 (master jobs)"
    )
    assert redis_location(Settings(redis_url="redis://:pw@h:6380/1")) == "redis://:***@h:6380/1"
    assert "cret" not in _safe(URL) and _safe(URL).count("sentinel://") == 3


def test_broker_and_backend_get_the_master_name_and_the_sentinels_password() -> None:
    settings = Settings(
        redis_url=URL, redis_sentinel_master="jobs", redis_sentinel_password=SecretStr("sp")
    )
    config = celery_config(settings)
    # Kombu reads the password and database from the part it is on, and after an error moves
    # on to the next: every part carries them.
    assert (
        config["broker_url"]
        == config["result_backend"]
        == (
            "sentinel://:s%40cret@10.0.0.1:26379/2;sentinel://:s%40cret@10.0.0.2:26380/2;"
            "sentinel://:s%40cret@10.0.0.3:26379/2"
        )
    )
    for key in ("broker_transport_options", "result_backend_transport_options"):
        options = config[key]
        assert options["master_name"] == "jobs"
        assert options["sentinel_kwargs"]["password"] == "sp"
        assert options["sentinel_kwargs"]["socket_timeout"] > 0
        assert options["visibility_timeout"] == settings.visibility_timeout_s
    assert "broker_use_ssl" not in config and tls_options(settings) == {}
    assert "master_name" not in celery_config(Settings())["broker_transport_options"]


def test_own_clients_find_the_master_through_the_sentinels() -> None:
    settings = Settings(redis_url=URL, redis_sentinel_password=SecretStr("sp"))
    pool = redis_client(settings).connection_pool
    assert isinstance(pool, redis.sentinel.SentinelConnectionPool)
    assert isinstance(pool, redis.BlockingConnectionPool)  # threads wait for a connection
    assert pool.service_name == "mymaster"
    assert pool.connection_kwargs["password"] == "s@cret" and pool.connection_kwargs["db"] == 2
    assert redis.ReadOnlyError in pool.connection_kwargs["retry_on_error"]
    asked = pool.sentinel_manager.sentinels
    assert [s.connection_pool.connection_kwargs["port"] for s in asked] == [26379, 26380, 26379]
    assert asked[0].connection_pool.connection_kwargs["password"] == "sp"


def test_the_sentinel_transport_keeps_what_the_delivery_ledger_relies_on() -> None:
    channel = kombu.transport.redis.SentinelChannel
    assert (channel.unacked_key, channel.unacked_index_key) == (KOMBU_UNACKED, KOMBU_UNACKED_INDEX)
    # broker_compat adjusts kombu's Channel: the sentinel channel must inherit both changes.
    assert "QoS" not in vars(channel) and "do_restore" not in vars(channel)
