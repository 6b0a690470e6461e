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
