"""The job engine: from a stored job to a finished one, with no Discord in sight.

It takes jobs from the cogs, queues them fairly, submits each within its account's concurrency limit,
follows it by polling (with backoff) or webhooks, writes every change to the store and tells its
listeners. It ends any job that stops moving, and at start picks up every job the last run left
unfinished. Listeners are plain callables and must not block: the Discord layer only records the new
state and lets its own editor task act on it.

:class:`JobEngine` is the face, defined here with its lifecycle and what the cogs call; each seam behind it
is a mixin of its own module, built on the ones it uses::

    _base.EngineBase           the shared state; locks, events, tasks, queueing, request spacing, reads
    _updating.Updating         applying what providers say; ending a job; pausing an account
    _following.Following       tracking a submitted job; limbo, claims by callback or by ref
    _submitting.Submitting     sending a job exactly once; retry, fail over or fail (bot.core.retry)
    _scheduling.Scheduling     which queued job goes next, to which account
    _watching.Watching         the watchdog, and the queue-position ticker
    _webhooks.Webhooks         providers' callbacks, applied to the job they are about

The invariants they keep together: a job is never submitted twice (``submit_started_at`` is written right
before the send and cleared only after a refusal the provider certainly did not take; while it is set the
job is followed, claimed or ended, never sent again); every job ends (the watchdog, and limbo's grace
period); an account slot is held and given back exactly once (``_Tracker.holds``).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

from bot.core.engine._base import WORK_SECTIONS as WORK_SECTIONS
from bot.core.engine._base import Admission, Clearance, Listener, SubmitGuard, log
from bot.core.engine._base import seconds_since as seconds_since
from bot.core.engine._scheduling import Scheduling
from bot.core.engine._watching import QUEUE_TICK_S as QUEUE_TICK_S
from bot.core.engine._watching import Watching
from bot.core.engine._webhooks import MAX_REF_LENGTH as MAX_REF_LENGTH
from bot.core.engine._webhooks import Webhooks
from bot.core.errors import ProviderError, StoreError
from bot.core.models import ErrorReason, Job, JobEventKind, JobStatus, Verb
from bot.core.providers.base import DescribeRequest, Provider
from bot.core.scheduling import AccountPool
from bot.core.store import Store

__all__ = ["Admission", "Clearance", "EngineConfig", "JobEngine", "Listener", "SubmitGuard"]

# A job unfinished at start whose submit may or may not have reached the provider is ended after this
# long without a callback claiming it.
LIMBO_GRACE_S = 30.0
# Delivered flags are written together this often: one commit for a burst of results. A crash forgets at
# most this window, and those results are shown again at the next start (the same edit, harmless).
DELIVERED_FLUSH_S = 0.5
# Ids per UPDATE of delivered flags, well under SQLite's limit on bound parameters.
DELIVERED_BATCH = 500
# A /describe or a seed is asked for while the member waits on a deferred answer; providers take ~10-20 s
# (mj-verbs.md §13), Discord allows 15 minutes, a member waits about two.
VERB_TIMEOUT_S = 120.0


# Defined here, in the package's own namespace, because its default limbo grace is read from LIMBO_GRACE_S
# when a config is made: a test that patches bot.core.engine.LIMBO_GRACE_S shortens it.
class EngineConfig:
    """The engine's knobs, taken from the settings so the engine does not import them."""

    def __init__(
        self,
        *,
        stall_timeout_s: float = 600.0,
        queue_timeout_s: float = 1800.0,
        max_submit_attempts: int = 5,
        limbo_grace_s: float | None = None,
        webhook_url_for: Callable[[str], str | None] | None = None,
        webhook_fallback_poll_s: float = 30.0,
        failover: tuple[str, ...] = (),
    ) -> None:
        self.stall_timeout_s = stall_timeout_s
        self.queue_timeout_s = queue_timeout_s
        self.max_submit_attempts = max_submit_attempts
        self.limbo_grace_s = LIMBO_GRACE_S if limbo_grace_s is None else limbo_grace_s
        self.webhook_url_for = webhook_url_for or (lambda provider: None)
        self.webhook_fallback_poll_s = webhook_fallback_poll_s
        self.failover = failover


class JobEngine(Scheduling, Watching, Webhooks):
    def __init__(self, store: Store, pool: AccountPool, config: EngineConfig | None = None) -> None:
        super().__init__(store, pool, config or EngineConfig())

    # -- lifecycle -------------------------------------------------------------------------------

    def add_listener(self, listener: Listener) -> None:
        self._listeners.append(listener)

    async def start(self) -> None:
        """Restore paused accounts and every unfinished job, then start scheduling."""
        for key, (reason, detail) in (await self.store.paused_accounts()).items():
            self.pool.pause(key, ErrorReason(reason) if reason else ErrorReason.NO_ACCOUNT, detail)
        resumed = self.adopt(await self.store.unfinished_jobs(), await self.store.undelivered_jobs())
        if resumed:
            log.info("resumed %d unfinished jobs", resumed)
        self._running = True
        self._loops = [
            asyncio.create_task(self._schedule_loop(), name="engine-scheduler"),
            asyncio.create_task(self._watchdog_loop(), name="engine-watchdog"),
            asyncio.create_task(self._queue_ticker(), name="engine-queue-ticker"),
        ]
        self._wakeup.set()

    def adopt(self, unfinished: list[Job], undelivered: list[Job], *, claimed: bool = False) -> int:
        """Take up jobs left by a run that ended (at start) or by a process that died (bot.core.cluster),
        exactly as a restart does; returns how many were unfinished. ``claimed``: queued jobs taken from the
        processes' shared queue, whose wait counts from their creation towards the queue timeout."""
        for job in unfinished:
            if job.id in self._active or job.id in self._queue or job.id in self._submitting:
                continue  # already ours
            if job.status is JobStatus.QUEUED and job.submit_started_at is None:
                if claimed:
                    self._queued_since[job.id] = time.monotonic() - seconds_since(job.created_at)
                self._enqueue(job)
            elif job.provider_job_id is None:
                # Killed while the submit was in flight: the provider may or may not have the job. Never
                # submit it again; give a webhook carrying our ref a moment to claim it, then end it.
                self._follow(job, limbo=True)
            else:
                # Polled at once: callbacks sent while no process listened are lost (see Following._track).
                self._hold(self._follow(job, catch_up=True))
            self._emit(JobEventKind.PROGRESS if job.status is not JobStatus.QUEUED else JobEventKind.QUEUED, job)
        for job in undelivered:
            self._emit(JobEventKind.FINISHED, job)
        return len(unfinished)

    async def stop(self) -> None:
        """Stop every task. Jobs keep their stored state and resume at the next start."""
        self._running = False
        tasks = [*self._loops, *self._tasks, *(t.task for t in self._active.values() if t.task)]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._loops.clear()
        self._tasks.clear()
        self._active.clear()
        if self._delivered_flush is not None:
            self._delivered_flush.cancel()
            await asyncio.gather(self._delivered_flush, return_exceptions=True)
        await self.flush_delivered()

    # -- what the cogs call ----------------------------------------------------------------------
    # get() and pause_account() are here too, inherited: the seams use them as well.

    async def submit(self, job: Job, *, admit: Admission | None = None) -> Job:
        """Store a new /imagine job and queue it.

        ``admit`` runs in the same store transaction as the insert and refuses the job by raising, so a
        limit it checks (quota, concurrency) holds however many submits race.
        """
        job.status = JobStatus.QUEUED
        if admit is None:
            await self.store.insert_job(job)
        else:
            async with self.store.transaction():
                await admit(job)
                await self.store.insert_job(job)
        self._enqueue(job)
        self._emit(JobEventKind.CREATED, job)
        return job

    async def submit_child(self, job: Job, *, admit: Admission | None = None) -> tuple[Job, bool]:
        """Store a button-press job and queue it, unless that button was already pressed on its parent."""
        job.status = JobStatus.QUEUED
        if admit is None:
            stored, created = await self.store.insert_child(job)
        else:
            async with self.store.transaction():
                await admit(job)
                stored, created = await self.store.insert_child(job)
        if created:
            self._enqueue(stored)
            self._emit(JobEventKind.CREATED, stored)
        return stored, created

    async def cancel(self, job_id: str, reason: ErrorReason) -> Job | None:
        """End a queued or running job. Returns the ended job, or None if it had already finished."""
        job = await self.get(job_id)
        if job is None or job.terminal:
            return None
        self._queue.remove(job_id)
        ended = await self._finish(job, reason)
        adapter = self.pool.provider(job.provider, job.account)
        if adapter is not None and job.provider_job_id and Verb.CANCEL not in adapter.capabilities.verbs:
            # A GPU the server owns should stop drawing what nobody will see (ComfyUI, A1111); best effort.
            # A provider offering cancel as a verb is asked by cancel_at_provider, whose answer is reported.
            self._spawn(_cancel_quietly(adapter, job.provider_job_id, dict(job.provider_data)), f"cancel-{job_id}")
        return ended

    # -- the verbs beyond imagine ------------------------------------------------------------------

    def verbs_for(self, job: Job) -> frozenset[Verb]:
        """The verbs the provider (account) of ``job`` offers: which of its buttons are shown."""
        adapter = self.pool.provider(job.provider, job.account) or self.pool.provider(job.provider)
        return adapter.capabilities.verbs if adapter is not None else frozenset()

    def offered_verbs(self) -> frozenset[Verb]:
        """The verbs any configured provider (the main one or a failover one) offers: which commands exist."""
        return frozenset().union(*(slot.provider.capabilities.verbs for slot in self.pool))

    def provider_for(self, verb: Verb) -> str | None:
        """The first configured provider (main, then failover, as configured) offering ``verb``."""
        for slot in self.pool:
            if verb in slot.provider.capabilities.verbs and not slot.paused:
                return slot.account.provider
        return None

    async def cancel_at_provider(self, job: Job) -> bool | None:
        """Ask the job's provider to stop it, so it stops costing. True: it said it did; False: it was asked
        and refused or could not be reached; None: it offers no cancel, or never named the job (nothing to
        ask about)."""
        adapter = self.pool.provider(job.provider, job.account)
        if adapter is None or Verb.CANCEL not in adapter.capabilities.verbs or not job.provider_job_id:
            return None
        try:
            await self._throttle(adapter)
            await asyncio.wait_for(adapter.cancel(job.provider_job_id, job.provider_data), VERB_TIMEOUT_S)
        except (ProviderError, TimeoutError) as exc:
            log.info("cancel of job %s at %s failed: %s", job.id, job.provider, exc)
            return False
        log.info("job %s cancelled at %s", job.id, job.provider)
        return True

    async def seed_of(self, job: Job) -> int:
        """The seed of a finished job: the one the member gave, else the provider's. Raises ProviderError."""
        given = job.params.get("seed")
        if isinstance(given, int):
            return given
        adapter = self.pool.provider(job.provider, job.account)
        if adapter is None or Verb.SEED not in adapter.capabilities.verbs or not job.provider_job_id:
            raise ProviderError(ErrorReason.UNSUPPORTED_ACTION, f"{job.provider} offers no seed for this job")
        await self._throttle(adapter)
        try:
            return await asyncio.wait_for(adapter.seed(job.provider_job_id, job.provider_data), VERB_TIMEOUT_S)
        except TimeoutError:
            raise ProviderError(ErrorReason.PROVIDER_UNAVAILABLE, "the seed did not come in time") from None

    async def describe(self, image_url: str, ref: str) -> list[str]:
        """Prompt suggestions for an image from the first provider offering /describe with a free slot.

        Not a job: nothing is drawn and nothing is shown publicly; it holds an account slot while it runs,
        so it never pushes an account past its concurrency. Raises ProviderError.
        """
        adapter: Provider | None = None
        for slot in self.pool:
            if Verb.DESCRIBE in slot.provider.capabilities.verbs:
                adapter = self.pool.acquire(slot.account.provider, slot.account.name)
                if adapter is not None:
                    break
        if adapter is None:
            raise ProviderError(ErrorReason.QUEUE_FULL, "no account offering describe has a free slot")
        try:
            await self._throttle(adapter)
            self.provider_submits += 1
            return await asyncio.wait_for(adapter.describe_image(DescribeRequest(ref, image_url)), VERB_TIMEOUT_S)
        except TimeoutError:
            raise ProviderError(ErrorReason.PROVIDER_UNAVAILABLE, "the description did not come in time") from None
        finally:
            self.pool.release(adapter.account.key)

    def queue_position(self, job_id: str) -> int | None:
        # Computed now rather than read from the last tick, so a job queued a moment ago has its place.
        return self._queue.positions().get(job_id) if job_id in self._queue else None

    @property
    def queued(self) -> int:
        return len(self._queue)

    @property
    def running(self) -> int:
        return len(self._active)

    async def mark_delivered(self, job_id: str) -> None:
        """Note that the job's message shows its end; written with others within DELIVERED_FLUSH_S."""
        self._delivered.add(job_id)
        if self._delivered_flush is None or self._delivered_flush.done():
            self._delivered_flush = asyncio.create_task(self._flush_delivered_soon(), name="engine-delivered")

    async def _flush_delivered_soon(self) -> None:
        await asyncio.sleep(DELIVERED_FLUSH_S)
        await self.flush_delivered()

    async def flush_delivered(self) -> None:
        """Write the delivered flags noted so far."""
        while self._delivered:
            batch = [self._delivered.pop() for _ in range(min(DELIVERED_BATCH, len(self._delivered)))]
            try:
                await self.store.mark_delivered(batch)
            except StoreError:
                # Left undelivered: the next start shows these results again.
                log.warning("could not record %d delivered results", len(batch))

    async def attach_message(self, job: Job, message_id: int) -> None:
        job.message_id = message_id
        await self.store.update_job(job.id, message_id=message_id)

    async def resume_account(self, provider: str, account: str) -> bool:
        changed = await self.store.resume_account(provider, account)
        resumed = self.pool.resume((provider, account))
        self._wakeup.set()
        return changed or resumed


async def _cancel_quietly(adapter: Provider, provider_job_id: str, provider_data: dict[str, Any]) -> None:
    try:
        await adapter.cancel(provider_job_id, provider_data)
    except Exception as exc:  # the job has ended either way; a failed stop is worth a log line only
        log.info("asking %s to stop job %s failed: %s", adapter.account.provider, provider_job_id, exc)
