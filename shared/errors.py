"""Every error Chorus raises on purpose, under one root: catch `ChorusError` and nothing a
user can act on escapes. Each class also derives from the builtin it refines (`LookupError`,
`TimeoutError`, `ValueError`), so code written against those keeps working.

Model-call failures are classified at the SDK boundary (`chorus.llm.errors`); nothing here
imports the SDK.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from chorus.contract.models import Usage


class ChorusError(Exception):
    """Base of every error Chorus raises on purpose."""


class ConfigError(ChorusError, ValueError):
    """A setting, token list or profile is invalid; the message names it (never its secret)."""


class InvalidRequest(ChorusError, ValueError):
    """A job request failed validation; the message names each field at fault, and `fields`
    lists them (`{"field", "message"}`) when the HTTP API gave them."""

    def __init__(self, message: str, fields: list[dict[str, str]] | None = None) -> None:
        super().__init__(message)
        self.fields = fields or []


class JobIdInUse(InvalidRequest):
    """The job id already names a job with a different request: nothing was enqueued."""


class JobNotFound(ChorusError, LookupError):
    """No such job: unknown, another tenant's, or expired after its TTL."""

    def __init__(self, job_id: str) -> None:
        super().__init__(f"no job {job_id!r}")
        self.job_id = job_id


class JobTimeout(ChorusError, TimeoutError):
    """A job did not reach a final status within the time a caller was willing to wait."""


class InvalidTransition(ChorusError):
    """The record is not in a state that allows this change (e.g. already final)."""


class ApiError(ChorusError):
    """The HTTP API answered with an error status; `message` is its readable line and
    `fields` names each field at fault (422)."""

    def __init__(
        self, status: int, message: str, fields: list[dict[str, str]] | None = None
    ) -> None:
        super().__init__(f"{status}: {message}")
        self.status = status
        self.message = message
        self.fields = fields or []


class ApiUnavailable(ChorusError, ConnectionError):
    """The HTTP API could not be reached (refused, timed out, dropped)."""


class StackError(ChorusError, RuntimeError):
    """A local process (Redis, simulator, Celery, API) could not be started or exited."""


class ModelCallError(ChorusError):
    """A model call failed. `retryable` says whether trying again can help."""

    def __init__(
        self,
        message: str,
        *,
        retryable: bool,
        status: int | None = None,
        retry_after_s: float | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.retryable = retryable
        self.status = status
        self.retry_after_s = retry_after_s


class PlanError(ChorusError):
    """The model's plan could not be used; the message says why, for the record.

    `usage` carries what the rejected planning calls cost, so the record still shows it;
    `repairable` is False when asking again could not help (a plan cut off at max_tokens)."""

    def __init__(
        self, message: str, usage: Usage | None = None, *, repairable: bool = True
    ) -> None:
        super().__init__(message)
        self.usage = usage
        self.repairable = repairable


class RetryLater(ChorusError):
    """Raised by task logic to ask for another try in `countdown` seconds. The Celery wrapper
    turns it into `task.retry`, so the waiting message holds no worker slot; `kwargs`, when
    given, replace the task's arguments for the next delivery."""

    def __init__(
        self, countdown: float, reason: str, *, kwargs: dict[str, Any] | None = None
    ) -> None:
        super().__init__(f"retry in {countdown:.1f}s: {reason}")
        self.countdown = countdown
        self.reason = reason
        self.kwargs = kwargs


class ResultNotStored(ChorusError):
    """A worker holds a model reply it could not store before giving up (Redis away past the
    cap, the job's deadline or the visibility timeout). The reconciler runs the subtask again."""


class WebhookSignatureError(ChorusError, ValueError):
    """A webhook's `Chorus-Signature` does not check out (`chorus.webhooks.verify`): malformed,
    outside the time tolerance, or signed with another secret or over another body."""
