"""Callbacks: a provider's webhook applied to the job it is about, and to no other.

:class:`Webhooks` finds the job a callback names (by our ref, else by the provider's job id), waits for a
submit the callback overtook, lets a callback carrying our ref claim a job in limbo, drops one about
another provider job, and applies the rest as an update. The adapter's parser, called first, rejects what
is not authentic; the receiver (``bot.core.webhooks``) drops recent replays before they get here.
"""

from __future__ import annotations

from collections.abc import Mapping

from bot.core.engine._base import log
from bot.core.engine._following import Following
from bot.core.errors import ProviderError, WebhookRejected
from bot.core.models import Job

__all__ = ["MAX_REF_LENGTH", "Webhooks"]

# Our job ids are 16 hex digits; a callback ref longer than this (or not printable ASCII) is not ours.
MAX_REF_LENGTH = 64


class Webhooks(Following):
    """Applies providers' callbacks: claims jobs in limbo by our ref and wakes the jobs they are about."""

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
            log.info("ignoring a %s callback for a job we do not know", provider_name)
            return None
        submitting = self._submitting.get(job.id)
        if submitting is not None:  # found by the provider's id rather than our ref: the same race
            await submitting.wait()
            job = await self.get(job.id) or job
        tracker = self._active.get(job.id)
        if tracker is not None:
            job = tracker.job
        elif self.guard is not None and await self.guard.forward_webhook(job.id, provider_name, headers, body):
            return None  # another process owns the job and applies the callback
        if job.provider_job_id is None and update.provider_job_id:
            # A job from before a crash, or after an unclear answer, is claimed by the callback carrying our ref.
            job.provider_job_id = update.provider_job_id
            await self.store.update_job(job.id, provider_job_id=job.provider_job_id)
            if tracker is not None:
                self._hold(tracker)
        if job.provider_job_id is not None and update.provider_job_id != job.provider_job_id:
            # A callback that names no provider job, or another one, is not about this job (or is forged).
            log.info("ignoring a %s callback for another provider job of %s", provider_name, job.id)
            return job
        if tracker is not None:
            # Only a callback about this very job is news: it wakes a job in limbo and spares a poll.
            tracker.poke.set()
        return await self.apply_update(job, update)


def _plausible_ref(ref: str) -> bool:
    """Whether a callback's ref could be one of our job ids; anything else is not looked up at all."""
    return len(ref) <= MAX_REF_LENGTH and ref.isascii() and ref.isprintable()
