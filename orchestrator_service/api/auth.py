"""Bearer tokens from config; each token is a tenant. Compared in constant time."""

from __future__ import annotations

import hmac

from pydantic import SecretStr

from chorus.errors import ConfigError

LOOPBACK_TENANT = "local"


def parse_tokens(raw: SecretStr | None) -> dict[str, str]:
    """`name:token,name:token` → {token: tenant}. The error never echoes a token."""
    if raw is None or not raw.get_secret_value().strip():
        return {}
    tokens: dict[str, str] = {}
    for n, item in enumerate(raw.get_secret_value().split(","), start=1):
        name, sep, token = item.strip().partition(":")
        if not sep or not name or len(token) < 16:
            raise ConfigError(
                f"CHORUS_API_TOKENS entry {n} must be name:token with a token of 16+ characters"
            )
        tokens[token] = name
    return tokens


def tenant_for(tokens: dict[str, str], authorization: str | None) -> str | None:
    """The tenant a bearer token belongs to, or None. With no tokens configured the API only
    listens on loopback and every caller is the one local tenant."""
    if not tokens:
        return LOOPBACK_TENANT
    scheme, _, given = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not given:
        return None
    found = None
    for token, tenant in tokens.items():
        # Check every token, so timing does not tell how many exist or which matched.
        if hmac.compare_digest(token.encode(), given.encode()):
            found = tenant
    return found
