"""Where a server may listen, and what counts as a password for Flower."""

from __future__ import annotations

import pytest

from chorus.core.network import basic_auth_problem, is_loopback


@pytest.mark.parametrize("host", ["127.0.0.1", "127.9.9.9", "::1", "localhost"])
def test_loopback_addresses_are_loopback(host: str) -> None:
    assert is_loopback(host)


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.0.2.7", "example.com", ""])  # noqa: S104
def test_anything_else_is_not(host: str) -> None:
    assert not is_loopback(host)


@pytest.mark.parametrize("value", ["admin:s3cret", "a:b,c:d", "ops: pass word "])
def test_user_password_pairs_protect_flower(value: str) -> None:
    assert basic_auth_problem(value) is None


@pytest.mark.parametrize(
    ("value", "says"),
    [
        (None, "not set"),
        ("", "not set"),
        ("   ", "not set"),
        ("admin", "both parts"),
        ("admin:", "both parts"),
        (":secret", "both parts"),
        ("admin:ok, :", "both parts"),
        ("admin: ", "both parts"),
    ],
)
def test_a_value_that_protects_nothing_is_named(value: str | None, says: str) -> None:
    problem = basic_auth_problem(value)
    assert problem is not None and says in problem
