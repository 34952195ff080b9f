"""Helpers shared by the test suites: deadline waits, job factories, an engine-event recorder."""

from __future__ import annotations

import asyncio
import inspect
import secrets
import socket
import ssl
import time
from collections.abc import Callable, Coroutine
from contextvars import ContextVar
from typing import Any, TypeVar

import httpx

from bot.core.models import Job, JobEvent

__all__ = ["TLS", "Recorder", "blocking", "make_job", "wait_until"]

T = TypeVar("T")

# One TLS context for every test's HTTP client (``httpx.AsyncClient(verify=TLS)``): httpx's default builds a
# new one per client, and loading the CA bundle costs ~50 ms of CPU each time, for hundreds of clients a
# run. It is httpx's own default context, so a client behaves exactly as with ``verify=True``.
TLS: ssl.SSLContext = httpx.create_ssl_context()

# Set only while ``blocking`` drives a wait: then the pause between polls sleeps the thread.
_BLOCKING: ContextVar[bool] = ContextVar("wait_until_blocking", default=False)


async def _pause(seconds: float) -> None:
    if _BLOCKING.get():
        time.sleep(seconds)  # noqa: ASYNC251 - only under blocking(), where no event loop runs this coroutine
    else:
        await asyncio.sleep(seconds)


async def wait_until(
    predicate: Callable[[], Any], within: float = 5.0, what: str = "", *, interval: float = 0.05
) -> Any:
    """Poll ``predicate`` (sync, or returning an awaitable) until it returns something truthy, and return that.

    Fails with ``AssertionError`` naming ``what`` (or the predicate) and the last value once ``within``
    seconds have passed; the predicate is always asked at least once, and once more at the deadline. The
    50 ms between polls is far shorter than any state a test catches, and spares the shared cores that
    the bot under test needs. A test that cannot await runs it with ``blocking(wait_until(...))``.
    """
    deadline = time.monotonic() + within
    while True:
        value = predicate()
        if inspect.isawaitable(value):
            if _BLOCKING.get():
                if inspect.iscoroutine(value):
                    value.close()  # never awaited, on purpose: no RuntimeWarning for it
                raise TypeError("blocking() waits on a synchronous predicate only; await wait_until(...) instead")
            value = await value
        if value:
            return value
        if time.monotonic() > deadline:
            described = what or getattr(predicate, "__qualname__", repr(predicate))
            raise AssertionError(f"timed out after {within}s waiting for {described}; last value: {value!r}")
        await _pause(interval)


def blocking(waiting: Coroutine[Any, Any, T]) -> T:
    """Run ``wait_until(...)`` to its end in a synchronous test, sleeping the thread between polls.

    For tests in which no event loop may be started: Playwright's sync API claims the thread's loop, so
    ``asyncio.run`` is refused there. The predicate must then be synchronous too.
    """
    token = _BLOCKING.set(True)
    try:
        # With a synchronous predicate and thread sleeps, the coroutine never suspends: one step runs it.
        waiting.send(None)
    except StopIteration as finished:
        return finished.value  # type: ignore[no-any-return]  # StopIteration.value is Any
    finally:
        _BLOCKING.reset(token)
    waiting.close()
    raise TypeError("blocking() runs wait_until(...) only, not another coroutine")


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


def free_port() -> int:
    """A TCP port free on loopback right now, for a server a test starts itself."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
