"""Where a server may listen: anything beyond loopback needs auth (API tokens, a simulator
key, Flower's basic auth)."""

from __future__ import annotations

import ipaddress


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def basic_auth_problem(value: str | None) -> str | None:
    """Why Flower's `FLOWER_BASIC_AUTH` (comma-separated `user:password` pairs) protects
    nothing, or None. Blank, a user with no password or a password with no user would let a
    listener beyond loopback start with no real password."""
    if value is None or not value.strip():
        return "FLOWER_BASIC_AUTH is not set"
    for entry in value.split(","):
        user, colon, password = entry.partition(":")
        if not colon or not user.strip() or not password.strip():
            return "FLOWER_BASIC_AUTH must be user:password pairs, each with both parts"
    return None
