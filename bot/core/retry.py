"""When to try again: after a refused submit, and between polls of a running job.

Pure functions of what happened and what is available, so that every case is a row in a table-driven
test. :func:`decide_after_refusal` is asked only about submits the provider certainly did not take
(``SubmitOutcome.NOT_TAKEN``): one it may have taken is never sent again, whatever it would say.
"""

from __future__ import annotations

import dataclasses
from enum import StrEnum

from bot.core.models import Action, ErrorReason, ReasonKind

__all__ = ["MAX_RETRY_DELAY_S", "Decision", "Verdict", "decide_after_refusal", "next_poll_interval", "poll_ceiling"]

# Longest pause between retries of a transient submit error, whatever Retry-After says.
MAX_RETRY_DELAY_S = 60.0


class Verdict(StrEnum):
    RETRY = "retry"  # queue the job again (after ``delay``); the scheduler picks the account
    FAIL_OVER = "fail_over"  # move the job to ``provider`` and queue it at once
    FAIL = "fail"  # end the job with the refusal's reason


@dataclasses.dataclass(frozen=True)
class Decision:
    verdict: Verdict
    delay: float = 0.0
    provider: str | None = None


def decide_after_refusal(
    reason: ErrorReason,
    *,
    action: Action,
    attempts: int,
    max_attempts: int,
    retry_after: float | None,
    provider_usable: bool,
    failover: tuple[str, ...],
) -> Decision:
    """Decide after a refused submit.

    ``attempts`` counts submits of this job to its current provider, this one included; ``provider_usable``
    says whether the provider still has an account in service (after any pause the refusal caused);
    ``failover`` lists the providers the job may still move to, in order, each with an account in service.
    Only a new /imagine moves between accounts and providers: a button press belongs to the account that
    made its parent's result.
    """
    if reason.kind is ReasonKind.ACCOUNT:
        # The account is paused; an /imagine waits for another account (the scheduler's routing picks it).
        if action is Action.IMAGINE and (provider_usable or failover):
            return Decision(Verdict.RETRY)
        return Decision(Verdict.FAIL)
    if reason.kind is ReasonKind.TRANSIENT:
        if attempts < max_attempts:
            delay = retry_after if retry_after is not None else 2.0**attempts
            return Decision(Verdict.RETRY, delay=min(delay, MAX_RETRY_DELAY_S))
        if action is Action.IMAGINE and failover:
            return Decision(Verdict.FAIL_OVER, provider=failover[0])
    return Decision(Verdict.FAIL)


def poll_ceiling(*, base: float, max_poll_interval: float, fallback: float, callbacks: bool) -> float:
    """The longest gap between two polls of one job, backoff after failed polls included.

    With callbacks on, polling is the safety net for a lost callback, so the gap never passes ``fallback``
    (WEBHOOK_FALLBACK_POLL_S): that bounds how late a lost callback can make a result. Without, the
    provider's own slowest useful pace.
    """
    if callbacks:
        return max(base, min(max_poll_interval, fallback))
    return max(base, max_poll_interval)


def next_poll_interval(
    current: float, *, base: float, ceiling: float, moved: bool, failed: bool, retry_after: float | None = None
) -> float:
    """The wait before the next poll: back to ``base`` when the job moved, slower while nothing changes,
    doubled (or the provider's Retry-After) after a failed poll; never past ``ceiling``."""
    if failed:
        return min(retry_after or current * 2, ceiling)
    if moved:
        return base
    return min(current * 1.5, ceiling)
