"""The fair queue, the account pool and the work gate the engine schedules with. No I/O."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from collections import OrderedDict, deque
from collections.abc import AsyncIterator, Callable, Iterable, Iterator

from bot.core.models import ErrorReason, Job
from bot.core.providers.base import Account, Provider

__all__ = ["AccountPool", "FairQueue", "WorkGate"]

# Discord's deadline for answering an interaction: an expected answer not given by then no longer holds work.
ANSWER_DEADLINE_S = 3.0
# The longest a section of background work waits for interactions to be answered first, however many keep
# coming: it delays results and submits by at most this much, so a stream of interactions cannot starve them.
ANSWER_HOLD_S = 1.0


class FairQueue:
    """Jobs waiting for a provider slot, served round-robin across members.

    Each member has a FIFO of their own jobs; the scheduler takes one job from each member in turn, so
    a member who queues fifty jobs waits behind their own jobs, not in front of everybody else's.
    """

    def __init__(self) -> None:
        self._by_user: OrderedDict[int, deque[Job]] = OrderedDict()
        self._where: dict[str, int] = {}

    def __len__(self) -> int:
        return len(self._where)

    def __contains__(self, job_id: object) -> bool:
        return job_id in self._where

    def push(self, job: Job) -> None:
        if job.id in self._where:
            return
        self._by_user.setdefault(job.user_id, deque()).append(job)
        self._where[job.id] = job.user_id

    def remove(self, job_id: str) -> Job | None:
        user_id = self._where.pop(job_id, None)
        if user_id is None:
            return None
        jobs = self._by_user[user_id]
        for job in jobs:
            if job.id == job_id:
                jobs.remove(job)
                break
        else:  # pragma: no cover - _where and _by_user move together
            return None
        if not jobs:
            del self._by_user[user_id]
        return job

    def pop_next(self, eligible: Callable[[Job], bool]) -> Job | None:
        """Take the next job, in round-robin order, that ``eligible`` accepts; its member goes to the back."""
        # Found first and taken after, so the scan walks the queue in place instead of copying it per pop.
        found = next(((u, job) for u, jobs in self._by_user.items() for job in jobs if eligible(job)), None)
        if found is None:
            return None
        user_id, job = found
        self.remove(job.id)
        if user_id in self._by_user:
            self._by_user.move_to_end(user_id)
        return job

    def order(self) -> Iterator[Job]:
        """The jobs in the order they will be served, if every one were eligible."""
        queues = [list(jobs) for jobs in self._by_user.values()]
        depth = 0
        while queues:
            remaining = []
            for jobs in queues:
                yield jobs[depth]
                if len(jobs) > depth + 1:
                    remaining.append(jobs)
            queues = remaining
            depth += 1

    def positions(self) -> dict[str, int]:
        return {job.id: position for position, job in enumerate(self.order(), start=1)}

    def jobs(self) -> Iterable[Job]:
        for jobs in self._by_user.values():
            yield from jobs


@dataclasses.dataclass
class _Slot:
    provider: Provider
    in_use: int = 0
    paused: ErrorReason | None = None
    pause_detail: str | None = None

    @property
    def account(self) -> Account:
        return self.provider.account

    @property
    def free(self) -> int:
        return 0 if self.paused else self.account.max_jobs - self.in_use


class AccountPool:
    """The provider accounts, each with a count of the jobs it is running.

    ``limit`` caps the jobs this process runs on all its accounts together (``PROCESS_MAX_JOBS``): with
    several processes, what one process cannot take is left to the others (bot.core.cluster).
    """

    def __init__(self, providers: Iterable[Provider], *, limit: int | None = None) -> None:
        self._slots: dict[tuple[str, str], _Slot] = {p.account.key: _Slot(p) for p in providers}
        self.limit = limit or None

    def __iter__(self) -> Iterator[_Slot]:
        return iter(self._slots.values())

    def provider(self, provider: str, account: str | None = None) -> Provider | None:
        """The adapter of that account, or any account of that provider when none is named."""
        if account is not None:
            slot = self._slots.get((provider, account))
            return slot.provider if slot else None
        return next((s.provider for s in self._slots.values() if s.account.provider == provider), None)

    def providers_named(self, provider: str) -> list[Provider]:
        return [s.provider for s in self._slots.values() if s.account.provider == provider]

    def can_take(self, provider: str, account: str | None = None) -> bool:
        return self._pick(provider, account) is not None

    def has_free(self) -> bool:
        """Whether any account could take a job now."""
        return not self._full() and any(s.free > 0 for s in self._slots.values())

    def _full(self) -> bool:
        return self.limit is not None and sum(s.in_use for s in self._slots.values()) >= self.limit

    def has_active_account(self, provider: str) -> bool:
        return any(s.account.provider == provider and not s.paused for s in self._slots.values())

    def in_service(self, provider: str, account: str | None = None) -> bool:
        """Whether that account (or, unnamed, any account of that provider) is configured and not paused."""
        if account is None:
            return self.has_active_account(provider)
        slot = self._slots.get((provider, account))
        return slot is not None and not slot.paused

    def acquire(self, provider: str, account: str | None = None) -> Provider | None:
        slot = self._pick(provider, account)
        if slot is None:
            return None
        slot.in_use += 1
        return slot.provider

    def hold(self, key: tuple[str, str]) -> None:
        """Count a job that is already running on an account (after a restart)."""
        if key in self._slots:
            self._slots[key].in_use += 1

    def release(self, key: tuple[str, str]) -> None:
        slot = self._slots.get(key)
        if slot is not None and slot.in_use > 0:
            slot.in_use -= 1

    def pause(self, key: tuple[str, str], reason: ErrorReason, detail: str | None = None) -> bool:
        """Take an account out of service; returns False if it already was."""
        slot = self._slots.get(key)
        if slot is None or slot.paused:
            return False
        slot.paused, slot.pause_detail = reason, detail
        return True

    def resume(self, key: tuple[str, str]) -> bool:
        slot = self._slots.get(key)
        if slot is None or not slot.paused:
            return False
        slot.paused = slot.pause_detail = None
        return True

    def _pick(self, provider: str, account: str | None) -> _Slot | None:
        if self._full():
            return None
        if account is not None:
            slot = self._slots.get((provider, account))
            return slot if slot is not None and slot.free > 0 else None
        candidates = [s for s in self._slots.values() if s.account.provider == provider and s.free > 0]
        return max(candidates, key=lambda s: s.free, default=None)


class WorkGate:
    """At most ``size`` sections of the bot's own background work at once; waiting results go first.

    Submitting a job and showing a result are a few milliseconds of work each, but two hundred started
    together fill the event loop, and every interaction then waits behind all of them for Discord's 3 s
    acknowledgement. Through the gate a burst runs a few at a time, interactions slip in between, and the
    backlog waits here, where a job simply shows "Waiting to start". Only work is gated, never the wait
    for a provider, so it does not limit how many jobs run at the providers.
    """

    RESULT = 0  # a finished job's message
    SUBMIT = 1  # sending a job to its provider
    PROGRESS = 2  # progress edits and button restyles: cosmetic, so they wait behind both

    def __init__(self, size: int) -> None:
        self.size = max(1, size)
        self._busy = 0
        self._waiting: tuple[deque[asyncio.Future[None]], ...] = (deque(), deque(), deque())
        # Interactions received and not yet answered (see expect_answer); set when there are none.
        self._unanswered: dict[int, asyncio.TimerHandle] = {}
        self._answered = asyncio.Event()
        self._answered.set()

    # -- interactions first ------------------------------------------------------------------------

    def expect_answer(self, key: int) -> None:
        """An interaction arrived: until :meth:`answered` (or its deadline), new work waits for it.

        Discord gives 3 s for the first answer. In a burst of hundreds, every section of background work
        started meanwhile (a submit, a result edit, a store transaction) is CPU the answers wait behind;
        holding those back a moment answers the burst first, and they catch up once it is answered.
        """
        if key in self._unanswered:
            return
        timer = asyncio.get_running_loop().call_later(ANSWER_DEADLINE_S, self.answered, key)
        self._unanswered[key] = timer
        self._answered.clear()

    def answered(self, key: int) -> None:
        timer = self._unanswered.pop(key, None)
        if timer is not None:
            timer.cancel()
            if not self._unanswered:
                self._answered.set()

    @property
    def unanswered(self) -> int:
        return len(self._unanswered)

    async def answers_first(self) -> None:
        """Wait until no interaction waits for its answer, or ANSWER_HOLD_S at most."""
        if self._unanswered:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._answered.wait(), ANSWER_HOLD_S)

    @property
    def waiting(self) -> int:
        return sum(len(queue) for queue in self._waiting)

    @contextlib.asynccontextmanager
    async def slot(self, priority: int) -> AsyncIterator[None]:
        await self._acquire(priority)
        try:
            yield
        finally:
            self._release()

    @contextlib.asynccontextmanager
    async def slot_unless(self, priority: int, stop: asyncio.Future[None]) -> AsyncIterator[bool]:
        """A slot as :meth:`slot` gives it (True), or none (False) if ``stop`` is done first.

        For work that something more urgent of its own can make moot while it waits (a progress edit
        overtaken by the job's result): waiting behind the queue would hold that up too.
        """
        acquire = asyncio.ensure_future(self._acquire(priority))
        try:
            await asyncio.wait((acquire, stop), return_when=asyncio.FIRST_COMPLETED)
        finally:
            if not acquire.done():
                acquire.cancel()  # _acquire gives back a slot it was handed meanwhile
                await asyncio.gather(acquire, return_exceptions=True)
        got = not acquire.cancelled() and acquire.exception() is None
        try:
            yield got
        finally:
            if got:
                self._release()

    async def _acquire(self, priority: int) -> None:
        await self.answers_first()
        if self._busy < self.size and not self.waiting:
            self._busy += 1
            return
        waiter = asyncio.get_running_loop().create_future()
        self._waiting[priority].append(waiter)
        try:
            await waiter  # the releaser hands its slot over: _busy already counts us
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():
                self._release()  # handed a slot we will not use
            else:
                self._waiting[priority].remove(waiter)
            raise

    def _release(self) -> None:
        for queue in self._waiting:
            while queue:
                waiter = queue.popleft()
                if not waiter.done():
                    waiter.set_result(None)
                    return
        self._busy -= 1
