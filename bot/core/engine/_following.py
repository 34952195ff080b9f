"""Following a job the provider has: tracking it by polling, and claiming a job in limbo.

:class:`Following` owns the trackers. A job is followed once its provider job is known
(:meth:`~Following._record_submission`, from a submit's answer or a look-up by our ref); from then on it
is never submitted again. :meth:`~Following._track` polls it at the provider's pace, backing off while
nothing moves (``bot.core.retry``), and stands back while callbacks bring the news. A job whose submit may
or may not have reached the provider (a crash mid-send, an unclear answer) waits in limbo
(:meth:`~Following._await_claim`) until a callback carrying our ref or a look-up by that ref claims it,
or ends honestly. A followed job counts against its account once (:meth:`~Following._hold`).
"""

from __future__ import annotations

import asyncio
import contextlib
import time

from bot.core.engine._base import _kind, _Tracker, log
from bot.core.engine._updating import Updating
from bot.core.errors import ProviderError, StoreError
from bot.core.models import ErrorReason, Job, JobStatus, ReasonKind, utcnow
from bot.core.providers.base import Provider, Submission
from bot.core.retry import next_poll_interval, poll_ceiling

__all__ = ["Following"]


class Following(Updating):
    """Tracks submitted jobs, and claims the ones in limbo by callback or by ref."""

    def _follow(self, job: Job, *, limbo: bool = False, track: bool = True, catch_up: bool = False) -> _Tracker:
        """Start following ``job``; ``catch_up`` polls it at once (a job taken up after a restart)."""
        tracker = self._active.get(job.id)
        if tracker is None:
            tracker = self._active[job.id] = _Tracker(job)
        if limbo:
            tracker.task = asyncio.create_task(self._await_claim(tracker), name=f"limbo-{job.id}")
        elif track:
            tracker.task = asyncio.create_task(self._track(tracker, catch_up=catch_up), name=f"track-{job.id}")
        return tracker

    def _hold(self, tracker: _Tracker) -> None:
        """Count a job the provider has against its account, once (after a restart, or when it is claimed)."""
        job = tracker.job
        if not tracker.holds and job.account:
            self.pool.hold((job.provider, job.account))
            tracker.holds = True

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
            log.exception("could not record the submission of job %s", job.id)

    async def _await_claim(self, tracker: _Tracker) -> None:
        """Follow a job whose submit may have reached the provider, once something proves it did.

        A callback carrying our ref claims it (handle_webhook), or the provider finds it by our ref where its
        API can list jobs. Callbacks are waited for only where they are on; unclaimed, the job ends with a
        message that says the truth: the image may exist, it was not sent twice, 🔄 tries again.
        """
        job = tracker.job
        adapter = self.pool.provider(job.provider, job.account)
        await self._claim_by_ref(job, adapter)
        callbacks = (
            adapter is not None
            and adapter.capabilities.webhooks
            and self.config.webhook_url_for(adapter.name) is not None
        )
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
            log.info("looking up job %s by its ref failed: %s", job.id, exc)
            return
        except Exception:
            log.exception("looking up job %s by its ref failed unexpectedly", job.id)
            return
        if found is None or job.provider_job_id is not None or job.terminal:
            return
        log.info("job %s was found at %s by its ref as %s", job.id, adapter.account.name, found.provider_job_id)
        await self._record_submission(job, found)
        if (tracker := self._active.get(job.id)) is not None:
            self._hold(tracker)
        if found.update is not None:
            await self.apply_update(job, found.update)

    async def _track(self, tracker: _Tracker, *, catch_up: bool = False) -> None:
        """Poll the job until it ends. ``catch_up`` makes the first poll at once: a job taken up from a run
        that ended may have moved, or finished, while no process listened, and a callback sent then is lost
        for good (APIFrame, for one, documents no retries); waiting the fallback interval first (30 s by
        default where callbacks carry progress) would leave the member looking at a stale message that long.
        The receiver listens before jobs are taken up, so whatever this poll misses comes by callback."""
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
            if not catch_up:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(tracker.poke.wait(), interval)
            catch_up = False
            # Read through job.status: after the loop's condition a type checker takes job.terminal for
            # false here, yet the job may have ended during the wait.
            if job.status.terminal:
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
                    log.info("poll of job %s failed (%d in a row): %s", job.id, failures, exc)
                    continue  # the watchdog ends it if this goes on past the stall timeout
                if exc.reason.kind is ReasonKind.ACCOUNT:
                    await self.pause_account(adapter.account.provider, adapter.account.name, exc.reason, exc.detail)
                await self._safe_finish(job, exc.reason, exc.detail)
                return
            except Exception as exc:
                log.exception("polling job %s failed unexpectedly", job.id)
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
