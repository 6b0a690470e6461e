"""`chorus.webhooks.verify`, the receiver's check of a delivery's signature."""

from __future__ import annotations

import pytest

import chorus
from chorus.core.webhooks import sign
from chorus.errors import ChorusError
from chorus.webhooks import WebhookSignatureError, verify

BODY = b'{"type":"job.finished","job_id":"j1","status":"succeeded"}'
NOW = 1_800_000_000


def test_a_signed_body_verifies() -> None:
    verify(BODY, sign("whsec_a", NOW, BODY), "whsec_a", now=NOW + 10)
    chorus.verify_webhook(BODY, sign("whsec_a", NOW, BODY), "whsec_a", now=NOW)


@pytest.mark.parametrize(
    ("body", "secret"),
    [(BODY + b" ", "whsec_a"), (BODY.replace(b"succeeded", b"failed"), "whsec_a"),
     (BODY, "whsec_b")],
)  # fmt: skip
def test_a_tampered_body_or_another_secret_is_refused(body: bytes, secret: str) -> None:
    with pytest.raises(WebhookSignatureError, match="no v1 signature matches"):
        verify(body, sign("whsec_a", NOW, BODY), secret, now=NOW)


def test_a_timestamp_outside_the_tolerance_is_refused() -> None:
    header = sign("whsec_a", NOW, BODY)
    with pytest.raises(WebhookSignatureError, match="tolerance"):
        verify(BODY, header, "whsec_a", now=NOW + 301)
    with pytest.raises(WebhookSignatureError, match="tolerance"):
        verify(BODY, header, "whsec_a", now=NOW - 301)
    verify(BODY, header, "whsec_a", now=NOW + 3000, tolerance_s=3600)


def test_the_timestamp_is_signed_too() -> None:
    v1 = sign("whsec_a", NOW, BODY).split("v1=")[1]
    with pytest.raises(WebhookSignatureError, match="no v1 signature matches"):
        verify(BODY, f"t={NOW + 5},v1={v1}", "whsec_a", now=NOW)


def test_rotation_several_signatures_or_several_secrets() -> None:
    old = sign("whsec_old", NOW, BODY).split("v1=")[1]
    header = sign("whsec_new", NOW, BODY) + f",v1={old}"
    verify(BODY, header, "whsec_old", now=NOW)
    verify(BODY, header, "whsec_new", now=NOW)
    verify(BODY, sign("whsec_old", NOW, BODY), ["whsec_new", "whsec_old"], now=NOW)


@pytest.mark.parametrize(
    "header",
    ["", "garbage", f"v1={'0' * 64}", f"t={NOW}", f"t=soon,v1={'0' * 64}", f"t={NOW},,v1=x"],
)
def test_malformed_headers_are_refused_with_a_reason(header: str) -> None:
    with pytest.raises(WebhookSignatureError, match="malformed"):
        verify(BODY, header, "whsec_a", now=NOW)


def test_the_error_is_a_chorus_error_exported_from_the_package() -> None:
    assert issubclass(WebhookSignatureError, ChorusError)
    assert chorus.WebhookSignatureError is WebhookSignatureError
