"""Every exception the bot raises on purpose, in one place.

The hierarchy::

    ImagineBotError
     ├── ConfigError            a setting is missing or invalid; the bot does not start
     ├── StoreError             the job store could not read or write; nothing was half-written
     ├── InputError             a member's input was refused (prompt, image); carries an ErrorReason
     │    └── ImageRefused      an image link or upload the bot will not fetch or cannot use
     ├── Refusal                a member may not start a job now (ban, quota, concurrency, cooldown)
     ├── InvalidTerm            a moderator's banned phrase or regex cannot be used (also a ValueError)
     ├── ProviderError          a provider refused or failed a request; carries an ErrorReason
     │    └── ProviderProtocolError   the provider answered with a shape we do not understand
     ├── WebhookRejected        a webhook callback was not authentic or not well formed
     └── SafetyUnavailable      the output-safety check cannot run (extra not installed, model broken)

``InputError`` is about what a member typed or sent: the same request is refused whenever it is made.
``Refusal`` is about the member's standing under the server's rules: the same prompt passes later, or
for another member, so it is not an InputError and is caught and worded apart from one.

A ProviderError's ``reason.kind`` decides what the engine does: retry (transient), end the job (job),
or pause the account and try another (account) — but only once the submit's ``outcome`` says the
provider certainly does not have the job; a job it may have is never sent again.

Where these were defined before, they are still importable: ``ImageRefused`` from
:mod:`bot.core.netguard`, ``Refusal`` and ``InvalidTerm`` from :mod:`bot.core.moderation`.

Not in the tree: the standard library's own ``ValueError`` where a helper checks a single value for
its caller (a moderator's limit out of range, a duration, a member's suffix), which the callers catch
as such; and the Discord layer's check failure ``cogs.moderation.NotModerator``, which discord.py's
command tree must see as its own ``CheckFailure``.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

from bot.core.models import AnswerClass, ErrorReason, SubmitOutcome

if TYPE_CHECKING:
    # Only for the annotation of Refusal.ban; at run time errors.py stays the bottom of the core.
    from bot.core.moderation.policy import Ban

__all__ = [
    "ConfigError",
    "ImageRefused",
    "ImagineBotError",
    "InputError",
    "InvalidTerm",
    "ProviderError",
    "ProviderProtocolError",
    "Refusal",
    "SafetyUnavailable",
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


class ImageRefused(InputError):
    """A member's image was refused. ``str()`` is for the member; ``why`` is for the log."""

    def __init__(self, text: str, why: str) -> None:
        super().__init__(ErrorReason.INVALID_IMAGE, text)
        self.why = why


class Refusal(ImagineBotError):
    """A member may not start a job now. Carries what the Discord layer needs to say why."""

    def __init__(
        self,
        reason: ErrorReason,
        *,
        ban: Ban | None = None,
        used: int | None = None,
        limit: int | None = None,
        retry_at: dt.datetime | None = None,
    ) -> None:
        self.reason = reason
        self.ban = ban
        self.used = used
        self.limit = limit
        self.retry_at = retry_at
        super().__init__(reason.message)


class InvalidTerm(ImagineBotError, ValueError):
    """A phrase or regex that cannot be used; the message says why in plain language.

    Still a ValueError, as it was before it joined the tree: code that caught it as one keeps working.
    """


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


class SafetyUnavailable(ImagineBotError):
    """The output-safety classifier cannot run: its extra is not installed or its model would not load.
    The check then counts as not made (see :mod:`bot.core.safety`), never as passed."""
