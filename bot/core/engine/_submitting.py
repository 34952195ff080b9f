"""Submitting a job to the account the scheduler picked, exactly once.

:class:`Submitting` sends a job and acts on the answer. It marks the job ``submit_started_at`` right before
the send: from then on the job may be at the provider and is never sent again. A clear answer is recorded
and the job followed; a refusal the provider certainly did not take is retried, failed over or ends the
job, as :func:`bot.core.retry.decide_after_refusal` decides; an unclear answer sends the job to limbo,
where a callback or a look-up by our ref may still claim it. While a submit is in flight its job is in
``_submitting``, and a callback that overtakes the answer waits for it (see ``handle_webhook``).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import random

from bot.core import crashpoints
from bot.core.engine._base import Clearance, _kind, log
from bot.core.engine._following import Following
from bot.core.errors import ProviderError, StoreError
from bot.core.models import (
    FAILED_OVER_FROM,
    MASK_PARAM,
    Action,
    ErrorReason,
    Job,
    JobEventKind,
    ReasonKind,
    SubmitOutcome,
    utcnow,
)
from bot.core.providers.base import ActionRequest, BlendRequest, ImagineRequest, Provider, Submission
from bot.core.retry import Verdict, decide_after_refusal
from bot.core.scheduling import WorkGate

__all__ = ["Submitting"]


class Submitting(Following):
    """Sends each job once; retries, fails over or ends it after a refusal; sends an unclear one to limbo."""

    async def _submit(self, job: Job, adapter: Provider) -> None:
        self._submitting[job.id] = recorded = asyncio.Event()
        try:
            await self._submit_and_follow(job, adapter)
        finally:
            del self._submitting[job.id]
            recorded.set()

    async def _submit_and_follow(self, job: Job, adapter: Provider) -> None:
        key = adapter.account.key
        if job.action is Action.IMAGINE and job.provider != key[0] and FAILED_OVER_FROM not in job.provider_data:
            # The scheduler sent it past its own provider (no account in service there): the message says so.
            job.provider_data = {**job.provider_data, FAILED_OVER_FROM: job.provider}
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
                if self.guard is None:
                    await self.store.record_submit_start(job)
                elif (clearance := await self.guard.begin_submit(job, adapter.account.max_jobs)) is not Clearance.GO:
                    # Another process holds the account's last slot, or has a member due first (WAIT), or
                    # took this job over (GONE): nothing was sent. A job that must wait goes back to the
                    # shared queue, where the first process with a slot free takes it in the fair order.
                    job.submit_started_at = None
                    job.attempts -= 1
                    self.pool.release(key)
                    if clearance is Clearance.WAIT:
                        # The jobs queued here for that provider would only be told the same, one transaction
                        # each: they go back with it, and come back in the fair order as slots free up.
                        same = [j for j in self._queue.jobs() if j.provider == job.provider]
                        self._give_back([job, *same])
                    return
                crashpoints.reached("before_submit")
                with crashpoints.submitting():
                    submission = await self._send(job, adapter)
                crashpoints.reached("after_answer")
        except ProviderError as exc:
            outcome = adapter.judge(exc)
            if outcome is SubmitOutcome.TAKEN and exc.provider_job_id:
                # The provider says it has the job despite the error (useapi's 504 "Job queued"): follow it.
                log.info("submit of job %s to %s was taken despite %s", job.id, adapter.account.name, exc)
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
            log.exception("submitting job %s failed unexpectedly", job.id)
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

    async def _send(self, job: Job, adapter: Provider) -> Submission:
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
        if job.action is Action.BLEND:
            self.provider_submits += 1
            return await adapter.blend(
                BlendRequest(
                    job_id=job.id,
                    image_urls=tuple(job.image_urls_in),
                    aspect_ratio=str(job.params.get("ar") or "1:1"),
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
                prompt=(job.prompt_final or job.prompt) if job.params.get("remix") else None,
                zoom=float(job.params["zoom"]) if isinstance(job.params.get("zoom"), int | float) else None,
                mask=_mask_of(job),
            )
        )

    async def _submit_failed(self, job: Job, adapter: Provider, exc: ProviderError) -> None:
        """A submit the provider certainly did not take: retry it, send it elsewhere, or end the job."""
        log.info("submit of job %s to %s failed (%s): %s", job.id, adapter.account.name, exc.status_code or "-", exc)
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
            log.info("job %s fails over from %s to %s", job.id, job.provider, decision.provider)
            job.provider_data = {**job.provider_data, "_tried": list(tried), FAILED_OVER_FROM: job.provider}
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
        log.warning(
            "submit of job %s to %s got an unclear answer (%s, %s); it will not be sent again",
            job.id, adapter.account.name, exc.answer, exc,
        )  # fmt: skip
        job.provider_data = {**job.provider_data, "unconfirmed": str(exc.answer or "unknown")}
        with contextlib.suppress(StoreError):
            await self.store.update_job(job.id, provider_data=job.provider_data)
        self._follow(job, limbo=True).holds = True  # the slot acquired for the submit

    def _give_back(self, jobs: list[Job]) -> None:
        """Several processes: queued jobs this one cannot start now leave its queue for the shared one."""
        assert self.guard is not None
        for job in jobs:
            self._queue.remove(job.id)
            self._queued_since.pop(job.id, None)
            self._positions.pop(job.id, None)
            # Its message says it waits, without a place in this process's queue, which no longer holds it.
            self._emit(JobEventKind.QUEUED, job)
        self.guard.hand_back(jobs)

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


def _mask_of(job: Job) -> bytes | None:
    """A Vary (Region) job's mask as PNG bytes, or None for every other job."""
    raw = job.params.get(MASK_PARAM)
    return base64.b64decode(raw) if isinstance(raw, str) else None
