"""The submit-time check of a job's webhook (its own or its profile's): a signing secret is
configured for the caller, and the URL's host resolves to no private, link-local or otherwise
internal address unless the operator's CHORUS_WEBHOOK_ALLOW names it. Refused with a 422
naming `options.webhook_url`."""

from __future__ import annotations

from chorus.contract.models import JobRequest
from chorus.core.webhooks import secret_for
from chorus.errors import InvalidRequest
from chorus.orchestrator_service.webhook_addresses import url_address_problem
from chorus.settings import Settings

FIELD = "options.webhook_url"


def webhook_problem(request: JobRequest, settings: Settings) -> str | None:
    url = request.options.webhook_url
    if url is None:
        return None
    if secret_for(settings.webhook_secrets, request.tenant) is None:
        return "webhook_url needs a signing secret: set CHORUS_WEBHOOK_SECRETS"
    return url_address_problem(url, settings.webhook_allow)


def check_webhook(request: JobRequest, settings: Settings) -> None:
    """Raise InvalidRequest (answered 422 with `fields`) when the webhook cannot be sent."""
    problem = webhook_problem(request, settings)
    if problem is not None:
        raise InvalidRequest(f"{FIELD}: {problem}", [{"field": FIELD, "message": problem}])
