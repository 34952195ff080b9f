"""The state every seam of the engine shares, and the few primitives they all use.

:class:`EngineBase` declares everything the engine keeps in memory (the queue, the jobs it follows, the
submits in flight, the delivered flags not yet written) and the small operations on it that every seam
needs: a job's lock, telling the listeners, spawning a task, queueing a job, spacing requests to an
account and reading a job. It decides nothing; the mixins built on it do.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import enum
import logging
import time
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from typing import TYPE_CHECKING, Any, Protocol

from bot.core.models import Action, Job, JobEvent, JobEventKind, utcnow
from bot.core.providers.base import Provider
from bot.core.safety import SafetyCheck
from bot.core.scheduling import AccountPool, FairQueue, WorkGate
from bot.core.store import Store

if TYPE_CHECKING:
    from bot.core.engine import EngineConfig

__all__ = ["WORK_SECTIONS", "Admission", "Clearance", "EngineBase", "Listener", "SubmitGuard", "log", "seconds_since"]

# One logger for every module of the engine, named as it was when the engine was one module, so log
# filters and the formatter's logger column stay as they were.
log = logging.getLogger("bot.core.engine")

Listener = Callable[[JobEvent], None]
# A check run in the transaction that stores a new job; it refuses the job by raising.
Admission = Callable[[Job], Awaitable[None]]


class Clearance(enum.Enum):
    """A guard's answer before a submit: send it, let it wait its turn, or let it go (not ours any more)."""

    GO = "go"
    WAIT = "wait"
    GONE = "gone"


class SubmitGuard(Protocol):
    """What the engine asks when several processes share its jobs (bot.core.cluster); one process has none."""

    # Whether another process is alive to take the queued jobs this one has no slot for.
    sharing: bool

    async def begin_submit(self, job: Job, max_jobs: int) -> Clearance:
        """Record the submit about to be sent (as the plain engine does) if the job is still this process's,
        its account has a slot free across every process and no other process's member is due first."""

    async def forward_webhook(self, job_id: str, provider: str, headers: Mapping[str, str], body: bytes) -> bool:
        """Hand a callback about a job another process owns to that process; False: it is ours to apply."""

    def hand_back(self, jobs: list[Job]) -> None:
        """Queued jobs this process cannot start now (taken out of its queue): offer them to every process."""

    def idle(self) -> None:
        """This process has a slot free and nothing of its own to start: take work the others offer."""


# Submits and result edits in progress at once (see WorkGate): enough to keep a provider's and Discord's
# round trips overlapped, few enough that an interaction is never queued behind a whole burst.
WORK_SECTIONS = 8


class _Tracker:
    """What the engine keeps in memory about a job it is following; the store has the rest."""

    __slots__ = ("holds", "job", "last_change", "poke", "task")

    def __init__(self, job: Job) -> None:
        self.job = job
        self.last_change = time.monotonic()
        self.poke = asyncio.Event()
        self.task: asyncio.Task[None] | None = None
        # Whether the job counts against its account's concurrency; given back exactly once, when it ends.
        self.holds = False


class EngineBase:
    """The engine's shared state and primitives; :class:`bot.core.engine.JobEngine` is built on it."""

    def __init__(self, store: Store, pool: AccountPool, config: EngineConfig) -> None:
        self.store: Store = store
        self.pool: AccountPool = pool
        self.config: EngineConfig = config
        self._listeners: list[Listener] = []
        self._queue: FairQueue = FairQueue()
        # When each queued job was first queued (monotonic); the watchdog ends one that waits too long.
        self._queued_since: dict[str, float] = {}
        # The jobs being followed (or waiting in limbo to be claimed), by job id.
        self._active: dict[str, _Tracker] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        # Set whenever a job is queued or a slot may have come free: the scheduler looks again.
        self._wakeup: asyncio.Event = asyncio.Event()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._loops: list[asyncio.Task[None]] = []
        # The last request to each account (monotonic), for the providers that demand a gap between them.
        self._last_request: dict[tuple[str, str], float] = {}
        # Queue positions as last announced, so that only a change is announced again.
        self._positions: dict[str, int] = {}
        # Jobs whose submit is in flight; set once the submit's outcome is recorded and followed.
        self._submitting: dict[str, asyncio.Event] = {}
        self._delivered: set[str] = set()
        self._delivered_flush: asyncio.Task[None] | None = None
        # The output-safety check a finished result meets before it is marked completed (set by the Runtime).
        self.safety: SafetyCheck | None = None
        self._running: bool = False
        # Shared with the presenter, which shows results through it.
        self.work: WorkGate = WorkGate(WORK_SECTIONS)
        # Submits sent to providers since start (imagines and button actions); /mod stats shows it, and
        # tests use it to prove a refused prompt never reached a provider.
        self.provider_submits: int = 0
        # Several processes on one database: the cluster's guard, asked before every submit.
        self.guard: SubmitGuard | None = None

    async def get(self, job_id: str) -> Job | None:
        tracker = self._active.get(job_id)
        if tracker is not None:
            return tracker.job
        return await self.store.get_job(job_id)

    async def pressed(self, job_id: str) -> frozenset[Action]:
        """The buttons of a job already pressed into a child job: drawn apart on its message."""
        return await self.store.pressed_actions(job_id)

    def _enqueue(self, job: Job) -> None:
        self._queue.push(job)
        self._queued_since.setdefault(job.id, time.monotonic())
        self._wakeup.set()

    def _spawn(self, coro: Coroutine[Any, Any, Any], name: str) -> None:
        task = asyncio.create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _throttle(self, adapter: Provider) -> None:
        """Space requests to one account as its provider demands (TheNextLeg: one per 3 s)."""
        gap = adapter.capabilities.min_request_interval
        if gap <= 0:
            return
        key = adapter.account.key
        while True:
            now = time.monotonic()
            wait = self._last_request.get(key, 0.0) + gap - now
            if wait <= 0:
                self._last_request[key] = now
                return
            await asyncio.sleep(wait)

    def _lock(self, job_id: str) -> asyncio.Lock:
        lock = self._locks.get(job_id)
        if lock is None:
            lock = self._locks[job_id] = asyncio.Lock()
        return lock

    def _emit(
        self, kind: JobEventKind, job: Job, *, queue_position: int | None = None, detail: str | None = None
    ) -> None:
        if kind is JobEventKind.QUEUED and queue_position is None:
            queue_position = self._positions.get(job.id)
        # A shallow copy freezes the job's fields as they are now. Its lists and dicts are shared: the engine
        # always replaces them rather than changing them in place, and listeners only read them.
        event = JobEvent(kind=kind, job=job.model_copy(), queue_position=queue_position, detail=detail)
        for listener in self._listeners:
            try:
                listener(event)
            except Exception:
                log.exception("job listener %r failed", listener)


def _kind(job: Job) -> str:
    """What a job makes, in the adapters' words: one upscaled image, or a grid."""
    return "upscale" if job.action.is_upscale else "grid"


def seconds_since(moment: dt.datetime | None) -> float:
    return (utcnow() - moment).total_seconds() if moment else 0.0
