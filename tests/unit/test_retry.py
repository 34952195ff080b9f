"""The decision after a refused submit, one row per case."""

from __future__ import annotations

import pytest

from bot.core.models import Action, ErrorReason
from bot.core.retry import MAX_RETRY_DELAY_S, Decision, Verdict, decide_after_refusal, next_poll_interval, poll_ceiling

R = ErrorReason
IMAGINE, PRESS = Action.IMAGINE, Action.U2

# (reason, action, attempts, max, retry_after, provider usable, failover) -> decision
ROWS: list[tuple[ErrorReason, Action, int, int, float | None, bool, tuple[str, ...], Decision]] = [
    # Transient: retried while attempts remain, with Retry-After or exponential backoff, capped.
    (R.RATE_LIMITED, IMAGINE, 1, 5, 7.0, True, (), Decision(Verdict.RETRY, delay=7.0)),
    (R.QUEUE_FULL, IMAGINE, 3, 5, None, True, (), Decision(Verdict.RETRY, delay=8.0)),
    (R.PROVIDER_UNAVAILABLE, PRESS, 1, 5, 600.0, True, (), Decision(Verdict.RETRY, delay=MAX_RETRY_DELAY_S)),
    (R.PROVIDER_UNAVAILABLE, PRESS, 4, 5, None, True, ("useapi",), Decision(Verdict.RETRY, delay=16.0)),
    # Transient, attempts used up: an /imagine fails over in order; a press, or nowhere to go, fails.
    (R.PROVIDER_UNAVAILABLE, IMAGINE, 5, 5, None, True, ("useapi", "apiframe"),
     Decision(Verdict.FAIL_OVER, provider="useapi")),
    (R.PROVIDER_UNAVAILABLE, IMAGINE, 5, 5, None, True, (), Decision(Verdict.FAIL)),
    (R.PROVIDER_UNAVAILABLE, PRESS, 5, 5, None, True, ("useapi",), Decision(Verdict.FAIL)),
    # Account trouble: an /imagine waits for another account or provider; a press cannot move.
    (R.OUT_OF_FAST_HOURS, IMAGINE, 1, 5, None, True, (), Decision(Verdict.RETRY)),
    (R.UNAUTHORIZED, IMAGINE, 1, 5, None, False, ("apiframe",), Decision(Verdict.RETRY)),
    (R.PENDING_MODERATION, IMAGINE, 1, 5, None, False, (), Decision(Verdict.FAIL)),
    (R.SUBSCRIPTION_EXPIRED, PRESS, 1, 5, None, True, ("apiframe",), Decision(Verdict.FAIL)),
    # About the job itself: never retried, wherever it could go.
    (R.BANNED_PROMPT, IMAGINE, 1, 5, None, True, ("useapi",), Decision(Verdict.FAIL)),
    (R.INVALID_PARAMETER, IMAGINE, 1, 5, 3.0, True, ("useapi",), Decision(Verdict.FAIL)),
    (R.ALREADY_REQUESTED, PRESS, 1, 5, None, True, (), Decision(Verdict.FAIL)),
]  # fmt: skip


@pytest.mark.parametrize(
    ("reason", "action", "attempts", "max_attempts", "retry_after", "usable", "failover", "expected"),
    ROWS,
    ids=[f"{r[0].value}-{r[1].value}-{r[2]}of{r[3]}" for r in ROWS],
)
def test_decision(
    reason: ErrorReason,
    action: Action,
    attempts: int,
    max_attempts: int,
    retry_after: float | None,
    usable: bool,
    failover: tuple[str, ...],
    expected: Decision,
) -> None:
    decided = decide_after_refusal(
        reason,
        action=action,
        attempts=attempts,
        max_attempts=max_attempts,
        retry_after=retry_after,
        provider_usable=usable,
        failover=failover,
    )
    assert decided == expected


def test_with_callbacks_on_no_backoff_outlasts_the_fallback_poll() -> None:
    """Issue 9, item 5: failed polls backed off to 60 s, so a lost callback showed a result minutes late."""
    ceiling = poll_ceiling(base=30.0, max_poll_interval=15.0, fallback=30.0, callbacks=True)
    interval = 30.0
    for _ in range(10):
        interval = next_poll_interval(interval, base=30.0, ceiling=ceiling, moved=False, failed=True)
        assert interval <= 30.0
    # A provider asking for a long pause does not stretch it either.
    assert next_poll_interval(5.0, base=5.0, ceiling=ceiling, moved=False, failed=True, retry_after=120) == 30.0
    # useapi: completion-only callbacks, polled at its own pace, still under the fallback.
    assert poll_ceiling(base=10.0, max_poll_interval=30.0, fallback=20.0, callbacks=True) == 20.0


def test_without_callbacks_polls_slow_down_to_the_providers_pace_and_spring_back() -> None:
    ceiling = poll_ceiling(base=2.0, max_poll_interval=15.0, fallback=30.0, callbacks=False)
    assert ceiling == 15.0
    interval = 2.0
    for _ in range(20):
        interval = next_poll_interval(interval, base=2.0, ceiling=ceiling, moved=False, failed=False)
    assert interval == 15.0
    assert next_poll_interval(interval, base=2.0, ceiling=ceiling, moved=True, failed=False) == 2.0
    assert next_poll_interval(4.0, base=2.0, ceiling=ceiling, moved=False, failed=True) == 8.0
