"""The console's session cookie, CSRF tokens and response headers.

The cookie holds the bearer token itself, so the console asks `tenant_for` exactly as the API
does and a revoked token ends its sessions at once. SameSite=Strict keeps the cookie off
cross-site requests; the CSRF token on every form is the second line, for browsers or proxies
that do not honour it.
"""

from __future__ import annotations

import hashlib
import hmac
from urllib.parse import parse_qs

from starlette.requests import Request
from starlette.responses import Response

from chorus.orchestrator_service.api.auth import LOOPBACK_TENANT, tenant_for

COOKIE = "chorus_session"
LOGIN = "login"  # what a sign-in form's token is bound to: there is no session yet
HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


def csrf_token(secret: bytes, session: str) -> str:
    return hmac.new(secret, session.encode(), hashlib.sha256).hexdigest()


def csrf_ok(secret: bytes, session: str, given: str | None) -> bool:
    return given is not None and hmac.compare_digest(csrf_token(secret, session), given)


class Sessions:
    def __init__(self, tokens: dict[str, str], secret: bytes) -> None:
        self.tokens = tokens
        self.secret = secret

    @property
    def open(self) -> bool:
        """No tokens configured: the API is loopback only and everyone is the local tenant."""
        return not self.tokens

    def key(self, request: Request) -> str:
        """What this browser's CSRF tokens are bound to."""
        return LOOPBACK_TENANT if self.open else request.cookies.get(COOKIE, "")

    def tenant(self, request: Request) -> str | None:
        if self.open:
            return LOOPBACK_TENANT
        token = request.cookies.get(COOKIE)
        return tenant_for(self.tokens, f"Bearer {token}") if token else None

    def csrf(self, request: Request) -> str:
        return csrf_token(self.secret, self.key(request))

    def sign_in(self, token: str) -> str | None:
        return tenant_for(self.tokens, f"Bearer {token}")


def over_https(request: Request) -> bool:
    forwarded = request.headers.get("x-forwarded-proto", "").split(",")[0].strip().lower()
    return request.url.scheme == "https" or forwarded == "https"


def set_session(response: Response, request: Request, token: str) -> None:
    response.set_cookie(
        COOKIE, token, httponly=True, samesite="strict", path="/ui", secure=over_https(request)
    )


def clear_session(response: Response, request: Request) -> None:
    response.delete_cookie(
        COOKIE, path="/ui", httponly=True, samesite="strict", secure=over_https(request)
    )


async def form(request: Request) -> dict[str, str]:
    """An urlencoded form body's first value of each field (no multipart: the console's
    forms have a few short fields)."""
    raw = (await request.body()).decode("utf-8", errors="replace")
    return {k: v[0] for k, v in parse_qs(raw, keep_blank_values=True).items()}


def add_headers(response: Response) -> None:
    for name, value in HEADERS.items():
        response.headers[name] = value
