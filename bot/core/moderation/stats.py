"""What is counted: a guild's statistics and the pages of jobs moderators look through.

It owns no table and runs no SQL of its own: the counts of jobs come from the store (which owns
``jobs``), the count of blocked prompts and the active bans from the guild's rules.
"""

from __future__ import annotations

import dataclasses
import datetime as dt

from bot.core.models import Job, JobStatus
from bot.core.moderation.rules import GuildRules
from bot.core.store import Store

__all__ = ["Statistics", "Stats"]


@dataclasses.dataclass(frozen=True, slots=True)
class Stats:
    since: dt.datetime
    total: int
    by_status: dict[JobStatus, int]
    top_errors: list[tuple[str, int]]
    top_members: list[tuple[int, int, int]]  # (user, jobs, completed)
    blocked_prompts: int
    active_bans: int


class Statistics:
    """Figures and listings for moderators; read-only."""

    def __init__(self, store: Store, rules: GuildRules) -> None:
        self.store = store
        self.rules = rules

    async def stats(self, guild_id: int, since: dt.datetime) -> Stats:
        by_status = await self.store.status_counts(guild_id, since)
        errors = await self.store.top_errors(guild_id, since)
        members = await self.store.top_members(guild_id, since)
        blocked = await self.rules.blocked_since(guild_id, since)
        return Stats(
            since=since,
            total=sum(by_status.values()),
            by_status=by_status,
            top_errors=errors,
            top_members=members,
            blocked_prompts=blocked,
            active_bans=len(await self.rules.active_bans(guild_id)),
        )

    async def job_choices(self, guild_id: int, typed: str, *, user_id: int | None = None) -> list[Job]:
        """Jobs matching what was typed into a job option (id prefix or prompt text), newest first."""
        return await self.store.job_choices(guild_id, typed, user_id=user_id)

    async def job_page(
        self,
        *,
        guild_id: int | None = None,
        user_id: int | None = None,
        status: JobStatus | None = None,
        page: int = 0,
        per_page: int = 10,
    ) -> tuple[list[Job], bool]:
        """One page of jobs, newest first, and whether another page follows."""
        jobs = await self.store.query_jobs(
            guild_id=guild_id,
            user_id=user_id,
            statuses=[status] if status else None,
            limit=per_page + 1,
            offset=max(0, page) * per_page,
        )
        return jobs[:per_page], len(jobs) > per_page
