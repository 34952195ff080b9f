"""Scheduling: which queued job goes next, and to which account.

:class:`Scheduling` runs the loop that wakes whenever a job is queued or a slot may have come free, takes
the next job the fair queue offers that some account can take now, acquires that account's slot and
hands the job to a submit task. A new /imagine may go to any account of its provider, or fail over to the
next configured provider it has not tried; a button press belongs to the account that made its parent's
result.
"""

from __future__ import annotations

from bot.core.engine._submitting import Submitting
from bot.core.models import Action, Job

__all__ = ["Scheduling"]


class Scheduling(Submitting):
    """Takes queued jobs in fair order and starts each one's submit on an account with a free slot."""

    def _route(self, job: Job) -> tuple[str, str | None] | None:
        """Which provider (and account) a queued job may go to now, or None to keep it waiting."""
        if job.action is not Action.IMAGINE:
            # A button press belongs to the account that made the parent's result; a blend, to the provider
            # the command chose because it offers blends (any of its accounts).
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
            if self.guard is not None:
                self._share_waiting()

    def _share_waiting(self) -> None:
        """With several processes: queued jobs this one has no slot for go back to the shared queue (while
        another process is alive to take them), and a free slot asks for the jobs the others gave back
        (bot.core.cluster)."""
        assert self.guard is not None
        waiting = [job for job in self._queue.jobs() if self._waits_for_a_slot(job)] if self.guard.sharing else []
        if waiting:
            self._give_back(waiting)
        if self.pool.has_free():
            self.guard.idle()

    def _waits_for_a_slot(self, job: Job) -> bool:
        """Busy, not broken: an account that could run the job is in service but has no slot free here.
        A job whose accounts are all paused stays in this process's queue, as with one process."""
        if self._route(job) is not None:
            return False  # pragma: no cover - the pass just took every job it could route
        account = None if job.action is Action.IMAGINE else job.account
        return self.pool.in_service(job.provider, account)
