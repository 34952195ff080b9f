"""Helpers shared by the test suites: deadline waits, job factories, an engine-event recorder."""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import Awaitable, Callable
from typing import Any

from bot.core.models import Job, JobEvent

__all__ = ["Recorder", "make_job", "wait_until"]


async def wait_until(predicate: Callable[[], Awaitable[Any]], within: float = 5.0, interval: float = 0.02) -> Any:
    """Poll an async predicate until it is truthy; fail with the last value after the deadline."""
    deadline = time.monotonic() + within
    value = None
    while time.monotonic() < deadline:
        value = await predicate()
        if value:
            return value
        await asyncio.sleep(interval)
    raise AssertionError(f"condition not met within {within}s (last value: {value!r})")


def make_job(provider: str = "local", **fields: Any) -> Job:
    """A job with plausible defaults; any field can be overridden."""
    defaults: dict[str, Any] = {
        "id": secrets.token_hex(8),
        "user_id": 1,
        "channel_id": 10,
        "provider": provider,
        "prompt": "a red fox",
        "prompt_final": "a red fox",
    }
    return Job(**(defaults | fields))


class Recorder:
    """An engine listener that keeps every event."""

    def __init__(self) -> None:
        self.events: list[JobEvent] = []

    def __call__(self, event: JobEvent) -> None:
        self.events.append(event)

    def for_job(self, job_id: str) -> list[JobEvent]:
        return [e for e in self.events if e.job.id == job_id]

    def kinds(self, job_id: str) -> list[str]:
        return [e.kind.value for e in self.for_job(job_id)]
