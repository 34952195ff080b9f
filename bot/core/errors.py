"""Exceptions raised by the bot's core.

The hierarchy::

    ImagineBotError
     ├── ConfigError            a setting is missing or invalid; the bot does not start
     ├── StoreError             the job store could not read or write; nothing was half-written
     ├── InputError             a member's input was refused (prompt, image); carries an ErrorReason
     ├── ProviderError          a provider refused or failed a request; carries an ErrorReason
     │    └── ProviderProtocolError   the provider answered with a shape we do not understand
     └── WebhookRejected        a webhook callback was not authentic or not well formed

A ProviderError's ``reason.kind`` decides what the engine does: retry (transient), end the job (job),
or pause the account and try another (account) — but only once the submit's ``outcome`` says the
provider certainly does not have the job; a job it may have is never sent again.
"""

from __future__ import annotations

from bot.core.models import AnswerClass, ErrorReason, SubmitOutcome

__all__ = [
    "ConfigError",
    "ImagineBotError",
    "InputError",
    "ProviderError",
    "ProviderProtocolError",
    "StoreError",
    "WebhookRejected",
]


class ImagineBotError(Exception):
    """Base class for every error the bot raises on purpose."""


class ConfigError(ImagineBotError):
    """A setting is missing or invalid. The message names the variable and says what to set."""


class StoreError(ImagineBotError):
    """The job store failed; the transaction was rolled back."""


class InputError(ImagineBotError):
    """A member's input cannot be used. ``str(err)`` is safe to show to the member."""

    def __init__(self, reason: ErrorReason, detail: str | None = None) -> None:
        self.reason = reason
        self.detail = detail
        super().__init__(detail or reason.message)


class ProviderError(ImagineBotError):
    """A provider refused or failed a request.

    ``detail`` is for logs and moderators and never contains a credential; ``retry_after`` is the
    provider's own hint in seconds, when it gave one.
    """

    def __init__(
        self,
        reason: ErrorReason,
        detail: str | None = None,
        *,
        retry_after: float | None = None,
        status_code: int | None = None,
        answer: AnswerClass | None = None,
        provider_job_id: str | None = None,
    ) -> None:
        self.reason = reason
        self.detail = detail
        self.retry_after = retry_after
        self.status_code = status_code
        # What kind of answer this was (set where a request was made), and, for a submit, what the
        # adapter's table says it means: whether the provider may have the job after all.
        self.answer = answer
        self.outcome: SubmitOutcome | None = None
        # The provider's id of a job it took despite the error (useapi's 504 "Job queued").
        self.provider_job_id = provider_job_id
        super().__init__(f"{reason.value}: {detail}" if detail else reason.value)


class ProviderProtocolError(ProviderError):
    """The provider's answer did not have a shape the adapter understands."""

    def __init__(self, detail: str, *, answer: AnswerClass | None = None) -> None:
        super().__init__(ErrorReason.MALFORMED_RESPONSE, detail, answer=answer)


class WebhookRejected(ImagineBotError):
    """A webhook request was refused: bad secret, unknown route, malformed or oversized body."""

    def __init__(self, status: int, detail: str) -> None:
        self.status = status
        super().__init__(detail)
