"""Watching: the watchdog that ends any job that stops moving, and the queue-position announcer.

:class:`Watching` runs two loops beside the scheduler. The watchdog ends a followed job that has shown no
progress for the stall timeout, and a queued job that has waited past the queue timeout, so that every
job ends; it leaves a job in limbo to its own grace period. The ticker announces queue positions that
changed, at most every ``QUEUE_TICK_S``.
"""

from __future__ import annotations

import asyncio
import time

from bot.core.engine._updating import Updating
from bot.core.models import ErrorReason, JobEventKind

__all__ = ["QUEUE_TICK_S", "Watching"]

# Queue positions are re-announced at most this often; each announcement may become a message edit.
QUEUE_TICK_S = 2.0


class Watching(Updating):
    """Ends stalled and long-queued jobs, and announces changed queue positions."""

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
                    if isinstance(hint, str) and hint in ErrorReason._value2member_map_:
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
