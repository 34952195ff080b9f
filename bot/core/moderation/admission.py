"""What is admitted: whether a member may start a job now, and how much of their limits they have used.

Admission is the check of ban, concurrency, quota and cooldown that must hold under concurrent presses,
so it runs inside the job store's exclusive transaction together with the insert of the job row (see
:meth:`Admission.admitter` and ``JobEngine.submit``). It owns no table: the limits come from the
guild's rules (:mod:`bot.core.moderation.rules`), the counts of the member's jobs from the store, which
owns the ``jobs`` table and says which jobs are unfinished and which count against a quota.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable, Sequence

from bot.core.errors import Refusal
from bot.core.models import Action, ErrorReason, Job, JobStatus
from bot.core.moderation.policy import Usage
from bot.core.moderation.rules import GuildRules
from bot.core.store import Store

__all__ = ["Admission", "day_start"]


def day_start(now: dt.datetime) -> dt.datetime:
    """Quotas are per UTC day, so every member's day resets at the same moment."""
    return now.astimezone(dt.UTC).replace(hour=0, minute=0, second=0, microsecond=0)


class Admission:
    """Admits or refuses a member's job, and reports a member's standing."""

    def __init__(self, store: Store, rules: GuildRules, *, clock: Callable[[], dt.datetime]) -> None:
        self.store = store
        self.rules = rules
        self.clock = clock

    def admitter(self, role_ids: Sequence[int] = ()) -> Callable[[Job], Awaitable[None]]:
        """The check ``JobEngine.submit(job, admit=…)`` runs in the transaction that inserts the job."""

        async def admit(job: Job) -> None:
            await self.admit(job, role_ids)

        return admit

    async def admit(self, job: Job, role_ids: Sequence[int] = ()) -> None:
        """Raise Refusal unless the job's member may start it now. Run inside ``store.transaction()``."""
        if job.guild_id is None:
            return
        # A press of a button already pressed returns the existing job, which was charged already.
        # Vary (Region) is the exception: each of its jobs is a new mask (one editor link each), charged anew.
        repeatable = job.action is Action.VARY_REGION
        if job.parent_id is not None and not repeatable and await self.store.has_child(job.parent_id, job.action):
            return
        guild_id, user_id = job.guild_id, job.user_id
        now = self.clock()
        ban = await self.rules.ban_of(guild_id, user_id)
        if ban is not None and ban.active(now):
            raise Refusal(ErrorReason.MEMBER_BANNED, ban=ban, retry_at=ban.expires_at)
        limits = (await self.rules.guild(guild_id)).limits_for(role_ids)
        if limits.max_concurrent:
            running = await self.store.unfinished_count(guild_id, user_id)
            if running >= limits.max_concurrent:
                raise Refusal(ErrorReason.TOO_MANY_JOBS, used=running, limit=limits.max_concurrent)
        if limits.daily_quota:
            used = await self.store.counted_since(guild_id, user_id, day_start(now))
            if used >= limits.daily_quota:
                raise Refusal(
                    ErrorReason.QUOTA_REACHED,
                    used=used,
                    limit=limits.daily_quota,
                    retry_at=day_start(now) + dt.timedelta(days=1),
                )
        if limits.cooldown_s:
            cooldown = dt.timedelta(seconds=limits.cooldown_s)
            last = await self.store.last_counted_after(guild_id, user_id, now - cooldown)
            if last is not None:
                raise Refusal(ErrorReason.COOLDOWN, retry_at=last + cooldown)

    async def usage(self, guild_id: int, user_id: int, role_ids: Sequence[int] = ()) -> Usage:
        """The member's standing in the guild, for /info."""
        state = await self.rules.guild(guild_id)
        limits = state.limits_for(role_ids)
        now = self.clock()
        start = day_start(now)
        counts = await self.store.unfinished_by_status(guild_id, user_id)
        cooldown_until = None
        if limits.cooldown_s:
            cooldown = dt.timedelta(seconds=limits.cooldown_s)
            last = await self.store.last_counted_after(guild_id, user_id, now - cooldown)
            if last is not None:
                cooldown_until = last + cooldown
        return Usage(
            limits=limits,
            used_today=await self.store.counted_since(guild_id, user_id, start),
            resets_at=start + dt.timedelta(days=1),
            running=counts.get(JobStatus.SUBMITTED, 0) + counts.get(JobStatus.RUNNING, 0),
            queued=counts.get(JobStatus.QUEUED, 0),
            cooldown_until=cooldown_until,
            ban=state.ban_for(user_id, now),
        )
