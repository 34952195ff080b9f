"""The job engine: from a stored job to a finished one, with no Discord in sight.

It takes jobs from the cogs, queues them fairly, submits each within its account's concurrency limit,
follows it by polling (with backoff) or webhooks, writes every change to the store and tells its
listeners. It ends any job that stops moving, and at start picks up every job the last run left
unfinished. Listeners are plain callables and must not block: the Discord layer only records the new
state and lets its own editor task act on it.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import random
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from bot.core import crashpoints
from bot.core.errors import ProviderError, StoreError, WebhookRejected
from bot.core.models import (
    Action,
    ErrorReason,
    Job,
    JobEvent,
    JobEventKind,
    JobStatus,
    ProviderUpdate,
    ReasonKind,
    SubmitOutcome,
    utcnow,
)
from bot.core.providers.base import ActionRequest, ImagineRequest, Provider, Submission
from bot.core.retry import Verdict, decide_after_refusal, next_poll_interval, poll_ceiling
from bot.core.scheduling import AccountPool, FairQueue, WorkGate
from bot.core.store import Store

__all__ = ["Admission", "EngineConfig", "JobEngine", "Listener"]

_log = logging.getLogger(__name__)

Listener = Callable[[JobEvent], None]
# A check run in the transaction that stores a new job; it refuses the job by raising.
Admission = Callable[[Job], Awaitable[None]]

# Queue positions are re-announced at most this often; each announcement may become a message edit.
QUEUE_TICK_S = 2.0
# A job unfinished at start whose submit may or may not have reached the provider is ended after this
# long without a callback claiming it.
LIMBO_GRACE_S = 30.0
# Our job ids are 16 hex digits; a callback ref longer than this (or not printable ASCII) is not ours.
MAX_REF_LENGTH = 64
# Delivered flags are written together this often: one commit for a burst of results. A crash forgets at
# most this window, and those results are shown again at the next start (the same edit, harmless).
DELIVERED_FLUSH_S = 0.5
# Ids per UPDATE of delivered flags, well under SQLite's limit on bound parameters.
DELIVERED_BATCH = 500
# Submits and result edits in progress at once (see WorkGate): enough to keep a provider's and Discord's
# round trips overlapped, few enough that an interaction is never queued behind a whole burst.
WORK_SECTIONS = 8


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


class JobEngine:
    def __init__(self, store: Store, pool: AccountPool, config: EngineConfig | None = None) -> None:
        self.store = store
        self.pool = pool
        self.config = config or EngineConfig()
        self._listeners: list[Listener] = []
        self._queue = FairQueue()
        self._queued_since: dict[str, float] = {}
        self._active: dict[str, _Tracker] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self._wakeup = asyncio.Event()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._loops: list[asyncio.Task[None]] = []
        self._last_request: dict[tuple[str, str], float] = {}
        self._positions: dict[str, int] = {}
        # Jobs whose submit is in flight; set once the submit's outcome is recorded and followed.
        self._submitting: dict[str, asyncio.Event] = {}
        self._delivered: set[str] = set()
        self._delivered_flush: asyncio.Task[None] | None = None
        self._running = False
        # Shared with the presenter, which shows results through it.
        self.work = WorkGate(WORK_SECTIONS)
        # Submits sent to providers since start (imagines and button actions); /mod stats shows it, and
        # tests use it to prove a refused prompt never reached a provider.
        self.provider_submits = 0

    # -- lifecycle -------------------------------------------------------------------------------

    def add_listener(self, listener: Listener) -> None:
        self._listeners.append(listener)

    async def start(self) -> None:
        """Restore paused accounts and every unfinished job, then start scheduling."""
        for key, (reason, detail) in (await self.store.paused_accounts()).items():
            self.pool.pause(key, ErrorReason(reason) if reason else ErrorReason.NO_ACCOUNT, detail)
        resumed = 0
        for job in await self.store.unfinished_jobs():
            resumed += 1
            if job.status is JobStatus.QUEUED and job.submit_started_at is None:
                self._enqueue(job)
            elif job.provider_job_id is None:
                # Killed while the submit was in flight: the provider may or may not have the job. Never
                # submit it again; give a webhook carrying our ref a moment to claim it, then end it.
                self._follow(job, limbo=True)
            else:
                self._hold(self._follow(job))
            self._emit(JobEventKind.PROGRESS if job.status is not JobStatus.QUEUED else JobEventKind.QUEUED, job)
        for job in await self.store.undelivered_jobs():
            self._emit(JobEventKind.FINISHED, job)
        if resumed:
            _log.info("resumed %d unfinished jobs", resumed)
        self._running = True
        self._loops = [
            asyncio.create_task(self._schedule_loop(), name="engine-scheduler"),
            asyncio.create_task(self._watchdog_loop(), name="engine-watchdog"),
            asyncio.create_task(self._queue_ticker(), name="engine-queue-ticker"),
        ]
        self._wakeup.set()

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
        return await self._finish(job, reason)

    async def get(self, job_id: str) -> Job | None:
        tracker = self._active.get(job_id)
        if tracker is not None:
            return tracker.job
        return await self.store.get_job(job_id)

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
                _log.warning("could not record %d delivered results", len(batch))

    async def attach_message(self, job: Job, message_id: int) -> None:
        job.message_id = message_id
        await self.store.update_job(job.id, message_id=message_id)

    async def pause_account(self, provider: str, account: str, reason: ErrorReason, detail: str | None) -> None:
        if self.pool.pause((provider, account), reason, detail):
            await self.store.pause_account(provider, account, reason, detail)
            _log.warning("paused %s account %s: %s", provider, account, reason.value)
            placeholder = Job(id="-", user_id=0, channel_id=0, provider=provider, account=account, prompt="")
            self._emit(JobEventKind.ACCOUNT_PAUSED, placeholder, detail=reason.value)

    async def resume_account(self, provider: str, account: str) -> bool:
        changed = await self.store.resume_account(provider, account)
        resumed = self.pool.resume((provider, account))
        self._wakeup.set()
        return changed or resumed

    # -- webhooks --------------------------------------------------------------------------------

    async def handle_webhook(self, provider_name: str, headers: Mapping[str, str], body: bytes) -> Job | None:
        """Apply one callback. Raises WebhookRejected for anything not authentic or not readable."""
        adapter = self.pool.provider(provider_name)
        if adapter is None:
            raise WebhookRejected(404, f"no {provider_name} account is configured")
        try:
            update = adapter.parse_webhook(headers, body)
        except ProviderError as exc:
            raise WebhookRejected(400, f"unreadable {provider_name} callback: {exc.reason.value}") from exc
        if update.ref and (submitting := self._submitting.get(update.ref)) is not None:
            # The callback overtook the submit's answer (an instant provider). Applied now, it would land on
            # a stale stored copy that the submit then overwrites; once the submit is recorded it is followed.
            await submitting.wait()
        job = None
        if update.ref and _plausible_ref(update.ref):
            job = await self.get(update.ref)
            if job is not None and job.provider != provider_name:
                job = None
        if job is None and update.provider_job_id:
            job = await self.store.find_by_provider_job(provider_name, update.provider_job_id)
        if job is None:
            _log.info("ignoring a %s callback for a job we do not know", provider_name)
            return None
        submitting = self._submitting.get(job.id)
        if submitting is not None:  # found by the provider's id rather than our ref: the same race
            await submitting.wait()
            job = await self.get(job.id) or job
        tracker = self._active.get(job.id)
        if tracker is not None:
            job = tracker.job
        if job.provider_job_id is None and update.provider_job_id:
            # A job from before a crash, or after an unclear answer, is claimed by the callback carrying our ref.
            job.provider_job_id = update.provider_job_id
            await self.store.update_job(job.id, provider_job_id=job.provider_job_id)
            if tracker is not None:
                self._hold(tracker)
        if job.provider_job_id is not None and update.provider_job_id != job.provider_job_id:
            # A callback that names no provider job, or another one, is not about this job (or is forged).
            _log.info("ignoring a %s callback for another provider job of %s", provider_name, job.id)
            return job
        if tracker is not None:
            # Only a callback about this very job is news: it wakes a job in limbo and spares a poll.
            tracker.poke.set()
        return await self.apply_update(job, update)

    # -- applying what providers say -------------------------------------------------------------

    async def apply_update(self, job: Job, update: ProviderUpdate) -> Job:
        """Move a job forward by what its provider reported; never backwards, never past terminal."""
        async with self._lock(job.id):
            if job.terminal:
                return job
            status = update.status if update.status.rank >= job.status.rank else job.status
            if status.terminal and status is not JobStatus.COMPLETED:
                reason = update.error or _default_reason(status)
                if reason.kind is ReasonKind.ACCOUNT and job.account:
                    # Reported in a result (TheNextLeg's NO_FAST_HOURS): the account is as unusable as if
                    # it had refused the submit, so later jobs go elsewhere.
                    await self.pause_account(job.provider, job.account, reason, update.error_detail)
                return await self._finish(job, reason, update.error_detail, locked=True)
            fields: dict[str, Any] = {}
            progress = max(job.progress, min(100, update.progress or 0))
            if status is JobStatus.COMPLETED:
                if not (update.grid_url or update.image_urls):
                    return await self._finish(
                        job, ErrorReason.MALFORMED_RESPONSE, "completed without an image", locked=True
                    )
                adapter = self.pool.provider(job.provider, job.account)
                actions = list(adapter.actions_for(update, job.action)) if adapter else list(update.actions or ())
                fields |= {
                    "grid_url": update.grid_url,
                    "image_urls": list(update.image_urls),
                    "actions": actions,
                    "progress": 100,
                }
                if update.provider_data:
                    fields["provider_data"] = {**job.provider_data, **update.provider_data}
                return await self._finish(job, None, fields=fields, locked=True)
            if status is not job.status:
                fields["status"] = status
            if progress != job.progress:
                fields["progress"] = progress
            if update.preview_url and update.preview_url != job.preview_url:
                fields["preview_url"] = update.preview_url
            if update.provider_data and {**job.provider_data, **update.provider_data} != job.provider_data:
                fields["provider_data"] = {**job.provider_data, **update.provider_data}
            if not fields:
                return job
            now = utcnow()
            if "progress" in fields or "status" in fields or "preview_url" in fields:
                fields["last_progress_at"] = now
                tracker = self._active.get(job.id)
                if tracker is not None:
                    tracker.last_change = time.monotonic()
            await self.store.update_job(job.id, **fields, updated_at=now)
            for name, value in fields.items():
                setattr(job, name, value)
            self._emit(JobEventKind.PROGRESS, job)
            return job

    async def _finish(
        self,
        job: Job,
        reason: ErrorReason | None,
        detail: str | None = None,
        *,
        fields: dict[str, Any] | None = None,
        locked: bool = False,
    ) -> Job:
        """End a job: completed when reason is None, else the reason's terminal status."""
        if not locked:
            async with self._lock(job.id):
                return await self._finish(job, reason, detail, fields=fields, locked=True)
        if job.terminal:
            return job
        adapter = self.pool.provider(job.provider, job.account)
        if detail and adapter is not None:
            # A provider's failure text may echo our key or callback URL back (caught at submit, not here).
            detail = adapter.scrub(detail)
        now = utcnow()
        fields = dict(fields or {})
        fields |= {
            "status": JobStatus.COMPLETED if reason is None else reason.status,
            "error": reason,
            "error_detail": detail,
            "finished_at": now,
            "updated_at": now,
        }
        try:
            await self.store.update_job(job.id, **fields)
        except StoreError:
            _log.exception("could not record the end of job %s; it will be resumed at the next start", job.id)
            raise
        for name, value in fields.items():
            setattr(job, name, value)
        self._queue.remove(job.id)
        self._queued_since.pop(job.id, None)
        tracker = self._active.pop(job.id, None)
        if tracker is not None:
            tracker.poke.set()
            if tracker.holds and job.account:
                tracker.holds = False
                self.pool.release((job.provider, job.account))
        self._locks.pop(job.id, None)
        self._wakeup.set()
        self._emit(JobEventKind.FINISHED, job)
        return job

    # -- scheduling ------------------------------------------------------------------------------

    def _enqueue(self, job: Job) -> None:
        self._queue.push(job)
        self._queued_since.setdefault(job.id, time.monotonic())
        self._wakeup.set()

    def _route(self, job: Job) -> tuple[str, str | None] | None:
        """Which provider (and account) a queued job may go to now, or None to keep it waiting."""
        if job.action is not Action.IMAGINE:
            # A button press belongs to the account that made the parent's result.
            return (job.provider, job.account) if self.pool.can_take(job.provider, job.account) else None
        tried = set(job.provider_data.get("_tried", ()))
        for provider in (job.provider, *self.config.failover):
            if provider in tried and provider != job.provider:
                continue
            if self.pool.can_take(provider):
                return provider, None
            if self.pool.has_active_account(provider):
                return None  # busy, not broken: wait for it rather than fail over
        return None

    async def _schedule_loop(self) -> None:
        while self._running:
            await self._wakeup.wait()
            self._wakeup.clear()
            while True:
                if not self.pool.has_free():
                    break  # nothing queued can go anywhere: skip the scan of the whole queue
                routes: dict[str, tuple[str, str | None]] = {}

                def eligible(job: Job, routes: dict[str, tuple[str, str | None]] = routes) -> bool:
                    route = self._route(job)
                    if route is not None:
                        routes[job.id] = route
                    return route is not None

                job = self._queue.pop_next(eligible)
                if job is None:
                    break
                provider_name, account = routes[job.id]
                adapter = self.pool.acquire(provider_name, account)
                if adapter is None:  # pragma: no cover - eligible() just checked
                    self._queue.push(job)
                    break
                self._queued_since.pop(job.id, None)
                self._spawn(self._submit(job, adapter), f"submit-{job.id}")

    def _spawn(self, coro: Any, name: str) -> None:
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

    async def _submit(self, job: Job, adapter: Provider) -> None:
        self._submitting[job.id] = recorded = asyncio.Event()
        try:
            await self._submit_and_follow(job, adapter)
        finally:
            del self._submitting[job.id]
            recorded.set()

    async def _submit_and_follow(self, job: Job, adapter: Provider) -> None:
        key = adapter.account.key
        job.provider, job.account = key
        job.attempts += 1
        try:
            await self._throttle(adapter)
            async with self.work.slot(WorkGate.SUBMIT):
                if job.terminal:
                    # Cancelled while it waited: never sent.
                    self.pool.release(key)
                    return
                # Marked right before the send, not before the waits for the throttle and a slot: a crash
                # before this write leaves the job queued and it is submitted after the restart; after it,
                # the job may have reached the provider and is never sent again (limbo, see start()).
                job.submit_started_at = utcnow()
                await self.store.update_job(
                    job.id,
                    provider=job.provider,
                    account=job.account,
                    attempts=job.attempts,
                    submit_started_at=job.submit_started_at,
                )
                crashpoints.reached("before_submit")
                with crashpoints.submitting():
                    submission = await self._send(job, adapter)
                crashpoints.reached("after_answer")
        except ProviderError as exc:
            outcome = adapter.judge(exc)
            if outcome is SubmitOutcome.TAKEN and exc.provider_job_id:
                # The provider says it has the job despite the error (useapi's 504 "Job queued"): follow it.
                _log.info("submit of job %s to %s was taken despite %s", job.id, adapter.account.name, exc)
                submission = Submission(provider_job_id=exc.provider_job_id, provider_data={"kind": _kind(job)})
            elif outcome is SubmitOutcome.UNKNOWN:
                await self._unconfirmed(job, adapter, exc)
                return
            else:
                self.pool.release(key)
                await self._submit_failed(job, adapter, exc)
                return
        except Exception as exc:
            # A bug of ours after the send may follow a job the provider took: never resend it.
            self.pool.release(key)
            _log.exception("submitting job %s failed unexpectedly", job.id)
            await self._safe_finish(job, ErrorReason.INTERNAL_ERROR, type(exc).__name__)
            return
        if job.terminal:
            # Cancelled while the submit was in flight; the provider's result will simply be ignored.
            self.pool.release(key)
            return
        await self._record_submission(job, submission)
        tracker = self._follow(job, track=False)
        tracker.holds = True  # the slot acquired for the submit
        self._emit(JobEventKind.SUBMITTED, job)
        if submission.update is not None:
            await self.apply_update(job, submission.update)
        if not job.terminal and tracker.task is None:
            tracker.task = asyncio.create_task(self._track(tracker), name=f"track-{job.id}")

    async def _record_submission(self, job: Job, submission: Submission) -> None:
        """Note the provider's job as this job's: from here on it is followed, never submitted again."""
        now = utcnow()
        job.provider_job_id = submission.provider_job_id
        job.provider_data = {**job.provider_data, **submission.provider_data}
        job.status = JobStatus.SUBMITTED if job.status.rank < JobStatus.SUBMITTED.rank else job.status
        job.submitted_at = job.last_progress_at = now
        tracker = self._active.get(job.id)
        if tracker is not None:
            tracker.last_change = time.monotonic()
        try:
            await self.store.update_job(
                job.id,
                provider_job_id=job.provider_job_id,
                provider_data=job.provider_data,
                status=job.status,
                submitted_at=now,
                last_progress_at=now,
            )
        except StoreError:
            # The provider has the job but we could not note it; keep following it in memory.
            _log.exception("could not record the submission of job %s", job.id)

    async def _send(self, job: Job, adapter: Provider) -> Any:
        webhook = self.config.webhook_url_for(adapter.name) if adapter.capabilities.webhooks else None
        if job.action is Action.IMAGINE:
            self.provider_submits += 1
            return await adapter.imagine(
                ImagineRequest(
                    job_id=job.id,
                    prompt=job.prompt_final or job.prompt,
                    image_urls=tuple(job.image_urls_in),
                    aspect_ratio=job.params.get("ar"),
                    seed=job.params.get("seed"),
                    webhook_url=webhook,
                )
            )
        parent = await self.store.get_job(job.parent_id) if job.parent_id else None
        while parent and parent.provider_job_id is None and parent.action is job.action and parent.parent_id:
            # A retry (🔄 on a job that ended unconfirmed) repeats that job's press on that job's own parent.
            parent = await self.store.get_job(parent.parent_id)
        if parent is None or parent.provider_job_id is None:
            raise ProviderError(ErrorReason.BUTTON_NOT_FOUND, "the parent job has no provider job")
        self.provider_submits += 1
        return await adapter.act(
            ActionRequest(
                job_id=job.id,
                action=job.action,
                parent_provider_job_id=parent.provider_job_id,
                parent_provider_data=parent.provider_data,
                parent_prompt=parent.prompt_final or parent.prompt,
                parent_image_urls=tuple(parent.image_urls),
                webhook_url=webhook,
            )
        )

    async def _submit_failed(self, job: Job, adapter: Provider, exc: ProviderError) -> None:
        """A submit the provider certainly did not take: retry it, send it elsewhere, or end the job."""
        _log.info("submit of job %s to %s failed (%s): %s", job.id, adapter.account.name, exc.status_code or "-", exc)
        if exc.reason.kind is ReasonKind.ACCOUNT:
            await self.pause_account(adapter.account.provider, adapter.account.name, exc.reason, exc.detail)
        tried = (*job.provider_data.get("_tried", ()), job.provider)
        failover = tuple(p for p in self.config.failover if p not in tried and self.pool.has_active_account(p))
        decision = decide_after_refusal(
            exc.reason,
            action=job.action,
            attempts=job.attempts,
            max_attempts=self.config.max_submit_attempts,
            retry_after=exc.retry_after,
            provider_usable=self.pool.has_active_account(job.provider),
            failover=failover,
        )
        if decision.verdict is Verdict.RETRY:
            await self._requeue(job, decision.delay * random.uniform(1.0, 1.2) if decision.delay else 0.0)
        elif decision.verdict is Verdict.FAIL_OVER and decision.provider is not None:
            _log.info("job %s fails over from %s to %s", job.id, job.provider, decision.provider)
            job.provider_data = {**job.provider_data, "_tried": list(tried)}
            job.provider, job.account, job.attempts = decision.provider, None, 0
            await self.store.update_job(
                job.id, provider=job.provider, account=None, attempts=0, provider_data=job.provider_data
            )
            await self._requeue(job, 0.0)
        else:
            await self._safe_finish(job, exc.reason, exc.detail)

    async def _unconfirmed(self, job: Job, adapter: Provider, exc: ProviderError) -> None:
        """The provider may or may not have the job: never send it again; find it, or end it honestly.

        It goes the way a job caught mid-send by a crash goes (see start()): ``submit_started_at`` stays set,
        so a restart treats it the same, and a callback or a look-up by our ref can still claim it.
        """
        _log.warning(
            "submit of job %s to %s got an unclear answer (%s, %s); it will not be sent again",
            job.id, adapter.account.name, exc.answer, exc,
        )  # fmt: skip
        job.provider_data = {**job.provider_data, "unconfirmed": str(exc.answer or "unknown")}
        with contextlib.suppress(StoreError):
            await self.store.update_job(job.id, provider_data=job.provider_data)
        self._follow(job, limbo=True).holds = True  # the slot acquired for the submit

    async def _requeue(self, job: Job, delay: float) -> None:
        job.submit_started_at = None
        if job.action is Action.IMAGINE:
            job.account = None  # an imagine may go to whichever account is free next
        await self.store.update_job(job.id, submit_started_at=None, account=job.account)

        async def later() -> None:
            await asyncio.sleep(delay)
            if not job.terminal:
                self._enqueue(job)

        if delay <= 0:
            self._enqueue(job)
        else:
            self._spawn(later(), f"requeue-{job.id}")

    async def _safe_finish(self, job: Job, reason: ErrorReason, detail: str | None = None) -> None:
        # A StoreError was logged in _finish; the job resumes at the next start.
        with contextlib.suppress(StoreError):
            await self._finish(job, reason, detail)

    # -- following a submitted job ---------------------------------------------------------------

    def _follow(self, job: Job, *, limbo: bool = False, track: bool = True) -> _Tracker:
        tracker = self._active.get(job.id)
        if tracker is None:
            tracker = self._active[job.id] = _Tracker(job)
        if limbo:
            tracker.task = asyncio.create_task(self._await_claim(tracker), name=f"limbo-{job.id}")
        elif track:
            tracker.task = asyncio.create_task(self._track(tracker), name=f"track-{job.id}")
        return tracker

    def _hold(self, tracker: _Tracker) -> None:
        """Count a job the provider has against its account, once (after a restart, or when it is claimed)."""
        job = tracker.job
        if not tracker.holds and job.account:
            self.pool.hold((job.provider, job.account))
            tracker.holds = True

    async def _await_claim(self, tracker: _Tracker) -> None:
        """Follow a job whose submit may have reached the provider, once something proves it did.

        A callback carrying our ref claims it (handle_webhook), or the provider finds it by our ref where its
        API can list jobs. Callbacks are waited for only where they are on; unclaimed, the job ends with a
        message that says the truth: the image may exist, it was not sent twice, 🔄 tries again.
        """
        job = tracker.job
        adapter = self.pool.provider(job.provider, job.account)
        await self._claim_by_ref(job, adapter)
        callbacks = adapter is not None and adapter.capabilities.webhooks
        callbacks = callbacks and self.config.webhook_url_for(adapter.name) is not None
        if job.provider_job_id is None and callbacks and not job.terminal:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(tracker.poke.wait(), self.config.limbo_grace_s)
            # One more look: a job still queued at the first look may be listed by now.
            await self._claim_by_ref(job, adapter)
        if job.terminal:
            return
        if job.provider_job_id is None:
            crashed = "unconfirmed" not in job.provider_data
            await self._safe_finish(job, ErrorReason.INTERRUPTED if crashed else ErrorReason.UNCONFIRMED)
            return
        self._hold(tracker)
        tracker.poke.clear()
        tracker.task = asyncio.create_task(self._track(tracker), name=f"track-{job.id}")

    async def _claim_by_ref(self, job: Job, adapter: Provider | None) -> None:
        """Ask the provider for the job it took with our ref, where its API allows; follow it if found."""
        if adapter is None or not adapter.finds_by_ref or job.provider_job_id is not None or job.terminal:
            return
        try:
            await self._throttle(adapter)
            found = await adapter.find_by_ref(job.id, _kind(job))
        except ProviderError as exc:
            _log.info("looking up job %s by its ref failed: %s", job.id, exc)
            return
        except Exception:
            _log.exception("looking up job %s by its ref failed unexpectedly", job.id)
            return
        if found is None or job.provider_job_id is not None or job.terminal:
            return
        _log.info("job %s was found at %s by its ref as %s", job.id, adapter.account.name, found.provider_job_id)
        await self._record_submission(job, found)
        if (tracker := self._active.get(job.id)) is not None:
            self._hold(tracker)
        if found.update is not None:
            await self.apply_update(job, found.update)

    async def _track(self, tracker: _Tracker) -> None:
        job = tracker.job
        adapter = self.pool.provider(job.provider, job.account)
        if adapter is None:
            await self._safe_finish(job, ErrorReason.NO_ACCOUNT, f"{job.provider}/{job.account} is not configured")
            return
        caps = adapter.capabilities
        webhook_mode = caps.webhooks and self.config.webhook_url_for(adapter.name) is not None
        # Callbacks that carry progress make polling a slow safety net; completion-only callbacks leave
        # polling at its usual pace, or the member would see no progress until the end.
        base = self.config.webhook_fallback_poll_s if webhook_mode and caps.progress_webhooks else caps.poll_interval
        ceiling = poll_ceiling(
            base=base,
            max_poll_interval=caps.max_poll_interval,
            fallback=self.config.webhook_fallback_poll_s,
            callbacks=webhook_mode,
        )
        interval = base
        failures = 0
        while not job.terminal:
            tracker.poke.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(tracker.poke.wait(), interval)
            if job.terminal:
                return
            if webhook_mode and tracker.poke.is_set():
                interval = base
                continue  # a callback just arrived; polling now would tell us nothing new
            before = (job.status, job.progress)
            try:
                await self._throttle(adapter)
                update = await adapter.poll(job.provider_job_id or "", job.provider_data)
            except ProviderError as exc:
                if exc.reason.kind is ReasonKind.TRANSIENT:
                    failures += 1
                    interval = next_poll_interval(
                        interval, base=base, ceiling=ceiling, moved=False, failed=True, retry_after=exc.retry_after
                    )
                    _log.info("poll of job %s failed (%d in a row): %s", job.id, failures, exc)
                    continue  # the watchdog ends it if this goes on past the stall timeout
                if exc.reason.kind is ReasonKind.ACCOUNT:
                    await self.pause_account(adapter.account.provider, adapter.account.name, exc.reason, exc.detail)
                await self._safe_finish(job, exc.reason, exc.detail)
                return
            except Exception as exc:
                _log.exception("polling job %s failed unexpectedly", job.id)
                await self._safe_finish(job, ErrorReason.INTERNAL_ERROR, type(exc).__name__)
                return
            failures = 0
            try:
                await self.apply_update(job, update)
            except StoreError:
                interval = next_poll_interval(interval, base=base, ceiling=ceiling, moved=False, failed=True)
                continue
            moved = (job.status, job.progress) != before
            interval = next_poll_interval(interval, base=base, ceiling=ceiling, moved=moved, failed=False)

    # -- the watchdog ----------------------------------------------------------------------------

    async def _watchdog_loop(self) -> None:
        period = max(0.05, min(self.config.stall_timeout_s, self.config.queue_timeout_s) / 4)
        period = min(period, 5.0)
        while self._running:
            await asyncio.sleep(period)
            now = time.monotonic()
            for tracker in list(self._active.values()):
                job = tracker.job
                if job.provider_job_id is None:
                    # Waiting to be claimed (a crash or an unclear answer): _await_claim ends it within
                    # LIMBO_GRACE_S with the true reason; "the provider lost it" would not be true.
                    continue
                if not job.terminal and now - tracker.last_change > self.config.stall_timeout_s:
                    detail = f"no progress for {self.config.stall_timeout_s:g} s at {job.progress}%"
                    reason = ErrorReason.STALLED
                    # An adapter may know better why nothing moves (the provider said it queued the job).
                    hint = job.provider_data.get("stall_reason")
                    if hint in ErrorReason._value2member_map_:
                        reason = ErrorReason(hint)
                    await self._safe_finish(job, reason, detail)
            for job in list(self._queue.jobs()):
                since = self._queued_since.get(job.id, now)
                if now - since > self.config.queue_timeout_s:
                    await self._safe_finish(
                        job, ErrorReason.QUEUE_TIMEOUT, f"waited {self.config.queue_timeout_s:g} s for a provider slot"
                    )

    async def _queue_ticker(self) -> None:
        while self._running:
            positions = self._queue.positions()
            for job in self._queue.jobs():
                position = positions.get(job.id)
                if position != self._positions.get(job.id):
                    self._emit(JobEventKind.QUEUED, job, queue_position=position)
            self._positions = positions
            await asyncio.sleep(QUEUE_TICK_S)

    # -- plumbing --------------------------------------------------------------------------------

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
                _log.exception("job listener %r failed", listener)


def _kind(job: Job) -> str:
    """What a job makes, in the adapters' words: one upscaled image, or a grid."""
    return "upscale" if job.action.is_upscale else "grid"


def _plausible_ref(ref: str) -> bool:
    """Whether a callback's ref could be one of our job ids; anything else is not looked up at all."""
    return len(ref) <= MAX_REF_LENGTH and ref.isascii() and ref.isprintable()


def _default_reason(status: JobStatus) -> ErrorReason:
    return {
        JobStatus.MODERATED: ErrorReason.BANNED_PROMPT,
        JobStatus.CANCELLED: ErrorReason.CANCELLED_BY_OWNER,
        JobStatus.TIMED_OUT: ErrorReason.STALLED,
    }.get(status, ErrorReason.PROVIDER_FAILED)


def seconds_since(moment: dt.datetime | None) -> float:
    return (utcnow() - moment).total_seconds() if moment else 0.0
