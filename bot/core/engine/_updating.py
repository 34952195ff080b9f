"""Applying what providers say: a job moves forward, ends, or its account is taken out of service.

:class:`Updating` is the one place where a job's state changes in the store and in memory together, under
the job's lock: :meth:`~Updating.apply_update` moves a job forward by a provider's report (never
backwards, never past terminal) and :meth:`~Updating._finish` ends it, giving back its account slot
exactly once (``_Tracker.holds``) and telling the listeners. Every other seam ends a job through here.
"""

from __future__ import annotations

import contextlib
import time
from typing import Any

from bot.core.engine._base import EngineBase, log
from bot.core.errors import StoreError
from bot.core.models import ErrorReason, Job, JobEventKind, JobStatus, ProviderUpdate, ReasonKind, utcnow
from bot.core.safety import SafetyOutcome

__all__ = ["Updating"]


class Updating(EngineBase):
    """Moves jobs forward and ends them; pauses accounts a provider reports unusable."""

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
                if self.safety is not None:
                    # Checked before the job counts as completed, so the verdict is stored with it and every
                    # view of the job (its message, /job, a restart's redelivery) obeys it.
                    url = update.grid_url or update.image_urls[0]
                    verdict = await self.safety.check_result(job, url, adapter.fetch_image if adapter else None)
                    fields["safety_score"] = verdict.score
                    if verdict.outcome is SafetyOutcome.WITHHELD:
                        # Neither the image's links nor its buttons are kept: nothing can show it later.
                        detail = f"safety score {verdict.score:.3f} >= {verdict.policy.threshold:.2f}"
                        kept = {"safety_score": verdict.score, "progress": 100}
                        return await self._finish(job, ErrorReason.IMAGE_WITHHELD, detail, fields=kept, locked=True)
                    fields["spoiler"] = verdict.outcome is SafetyOutcome.SPOILERED
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
            log.exception("could not record the end of job %s; it will be resumed at the next start", job.id)
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

    async def _safe_finish(self, job: Job, reason: ErrorReason, detail: str | None = None) -> None:
        # A StoreError was logged in _finish; the job resumes at the next start.
        with contextlib.suppress(StoreError):
            await self._finish(job, reason, detail)

    async def pause_account(self, provider: str, account: str, reason: ErrorReason, detail: str | None) -> None:
        # Here rather than with the cogs' other calls: a result, a refused submit and a failed poll can each
        # show that an account is unusable.
        if self.pool.pause((provider, account), reason, detail):
            await self.store.pause_account(provider, account, reason, detail)
            log.warning("paused %s account %s: %s", provider, account, reason.value)
            placeholder = Job(id="-", user_id=0, channel_id=0, provider=provider, account=account, prompt="")
            self._emit(JobEventKind.ACCOUNT_PAUSED, placeholder, detail=reason.value)


def _default_reason(status: JobStatus) -> ErrorReason:
    return {
        JobStatus.MODERATED: ErrorReason.BANNED_PROMPT,
        JobStatus.CANCELLED: ErrorReason.CANCELLED_BY_OWNER,
        JobStatus.TIMED_OUT: ErrorReason.STALLED,
    }.get(status, ErrorReason.PROVIDER_FAILED)
