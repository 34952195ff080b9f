"""The public face of moderation: :class:`Moderation` composes the parts and adds nothing of its own.

====================  =====================================================  ==============================
part                  its one job                                            tables it owns
====================  =====================================================  ==============================
``rules``             what is stored: a guild's rules and their snapshot     mod_guild_config, mod_words,
                                                                             mod_bans, mod_strikes,
                                                                             mod_role_limits, mod_channels
``admission``         what is admitted: limits checked, usage reported       none (counts jobs via the store)
``audit``             what is audited: the audit trail and its listeners     mod_audit
``statistics``        what is counted: statistics, pages of jobs             none (reads the store, rules)
``members``           member settings                                        member_settings
====================  =====================================================  ==============================

The ``jobs`` table is the store's (:mod:`bot.core.store`): every question about a member's jobs is a
method there. No Discord here: callers pass member, role and channel ids.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from bot.core.models import Job, JobStatus, utcnow
from bot.core.moderation.admission import Admission
from bot.core.moderation.audit import AuditListener, AuditTrail
from bot.core.moderation.matcher import Verdict
from bot.core.moderation.members import MemberSettingsBook
from bot.core.moderation.policy import (
    AuditAction,
    AuditEntry,
    Ban,
    GuildConfig,
    MemberSettings,
    RoleLimits,
    StrikeOutcome,
    Usage,
    WordEntry,
)
from bot.core.moderation.rules import GuildRules, GuildState
from bot.core.moderation.stats import Statistics, Stats
from bot.core.store import Store

__all__ = ["GuildState", "Moderation", "Stats"]


class Moderation:
    """Community moderation and member self-service for the whole bot; one instance per store."""

    def __init__(self, store: Store, *, clock: Callable[[], dt.datetime] = utcnow) -> None:
        self.store = store
        self.clock = clock
        self.audit = AuditTrail(store, clock=clock)
        self.rules = GuildRules(store, self.audit, clock=clock)
        self.admission = Admission(store, self.rules, clock=clock)
        self.statistics = Statistics(store, self.rules)
        self.members = MemberSettingsBook(store, clock=clock)

    def add_listener(self, listener: AuditListener) -> None:
        """Called with every audit entry after it is stored; must not block."""
        self.audit.add_listener(listener)

    # -- the per-guild snapshot ------------------------------------------------------------------

    def cached(self, guild_id: int) -> GuildState | None:
        return self.rules.cached(guild_id)

    async def guild(self, guild_id: int) -> GuildState:
        return await self.rules.guild(guild_id)

    # -- banned words and strikes ----------------------------------------------------------------

    async def check_prompt(self, guild_id: int, text: str) -> Verdict:
        return await self.rules.check_prompt(guild_id, text)

    async def test_prompt(self, guild_id: int, text: str) -> Verdict:
        """Every term the text would trip, without recording anything."""
        return await self.rules.test_prompt(guild_id, text)

    async def add_word(self, guild_id: int, term: str, *, is_regex: bool, actor_id: int) -> WordEntry:
        """Add a phrase or regex; raises InvalidTerm with a plain-language reason when it cannot be used."""
        return await self.rules.add_word(guild_id, term, is_regex=is_regex, actor_id=actor_id)

    async def remove_word(self, guild_id: int, term: str, *, actor_id: int) -> WordEntry | None:
        """Remove an entry by its text (phrase or regex); returns it, or None if there was none."""
        return await self.rules.remove_word(guild_id, term, actor_id=actor_id)

    async def record_block(self, guild_id: int, user_id: int, verdict: Verdict, prompt: str) -> StrikeOutcome:
        """Count a blocked prompt; the ``strike_limit``-th of a day (and every multiple) earns a timed block."""
        return await self.rules.record_block(guild_id, user_id, verdict, prompt)

    # -- sanctions -------------------------------------------------------------------------------

    async def ban(
        self,
        guild_id: int,
        user_id: int,
        *,
        actor_id: int,
        duration: dt.timedelta | None = None,
        reason: str | None = None,
    ) -> Ban:
        return await self.rules.ban(guild_id, user_id, actor_id=actor_id, duration=duration, reason=reason)

    async def unban(self, guild_id: int, user_id: int, *, actor_id: int) -> Ban | None:
        """Lift a ban; returns the ban that was active, or None if there was none."""
        return await self.rules.unban(guild_id, user_id, actor_id=actor_id)

    async def active_bans(self, guild_id: int) -> list[Ban]:
        return await self.rules.active_bans(guild_id)

    # -- limits and policy -----------------------------------------------------------------------

    async def update_config(self, guild_id: int, *, actor_id: int, **changes: Any) -> GuildConfig:
        """Change guild settings: any of daily_quota, max_concurrent, cooldown_s, button_policy,
        moderator_role_id, audit_channel_id, use_default_words, strike_limit, strike_block_minutes,
        safety_mode, safety_threshold (None: back to the default)."""
        return await self.rules.update_config(guild_id, actor_id=actor_id, **changes)

    async def set_role_limits(
        self,
        guild_id: int,
        role_id: int,
        *,
        actor_id: int,
        daily_quota: int | None = None,
        max_concurrent: int | None = None,
        cooldown_s: int | None = None,
        clear: bool = False,
    ) -> RoleLimits | None:
        """Set (or with ``clear`` remove) a role's override; None fields inherit the guild's values."""
        return await self.rules.set_role_limits(
            guild_id,
            role_id,
            actor_id=actor_id,
            daily_quota=daily_quota,
            max_concurrent=max_concurrent,
            cooldown_s=cooldown_s,
            clear=clear,
        )

    async def set_channel(self, guild_id: int, channel_id: int, *, allowed: bool, actor_id: int) -> bool:
        """Add or remove an allowed channel; returns whether anything changed."""
        return await self.rules.set_channel(guild_id, channel_id, allowed=allowed, actor_id=actor_id)

    # -- admission -------------------------------------------------------------------------------

    def admitter(self, role_ids: Sequence[int] = ()) -> Callable[[Job], Awaitable[None]]:
        """The check ``JobEngine.submit(job, admit=…)`` runs in the transaction that inserts the job."""
        return self.admission.admitter(role_ids)

    async def admit(self, job: Job, role_ids: Sequence[int] = ()) -> None:
        """Raise Refusal unless the job's member may start it now. Run inside ``store.transaction()``."""
        await self.admission.admit(job, role_ids)

    async def usage(self, guild_id: int, user_id: int, role_ids: Sequence[int] = ()) -> Usage:
        return await self.admission.usage(guild_id, user_id, role_ids)

    # -- member settings -------------------------------------------------------------------------

    async def member_settings(self, user_id: int) -> MemberSettings:
        return await self.members.get(user_id)

    async def update_member_settings(self, user_id: int, **changes: Any) -> MemberSettings:
        """Change any of aspect (None clears it), suffix ("" clears it) and dm_on_finish."""
        return await self.members.update(user_id, **changes)

    # -- the audit trail -------------------------------------------------------------------------

    async def record(
        self,
        guild_id: int,
        actor_id: int,
        action: AuditAction,
        *,
        target_user_id: int | None = None,
        job_id: str | None = None,
        detail: dict[str, Any] | None = None,
    ) -> AuditEntry:
        """Record an action taken elsewhere (a cancel, a deleted message, an account reset)."""
        return await self.audit.record(
            guild_id, actor_id, action, target_user_id=target_user_id, job_id=job_id, detail=detail
        )

    async def record_job_end(self, job: Job) -> AuditEntry | None:
        """Record a finished job once; None when it had been recorded before (an event replayed at start)."""
        return await self.audit.record_job_end(job)

    async def deleted(self, job_id: str) -> AuditEntry | None:
        """The record of a moderator deleting this job's message, if one did."""
        return await self.audit.deleted(job_id)

    async def audit_log(self, guild_id: int, *, limit: int = 20) -> list[AuditEntry]:
        return await self.audit.audit_log(guild_id, limit=limit)

    # -- oversight -------------------------------------------------------------------------------

    async def job_choices(self, guild_id: int, typed: str, *, user_id: int | None = None) -> list[Job]:
        """Jobs matching what was typed into a job option (id prefix or prompt text), newest first."""
        return await self.statistics.job_choices(guild_id, typed, user_id=user_id)

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
        return await self.statistics.job_page(
            guild_id=guild_id, user_id=user_id, status=status, page=page, per_page=per_page
        )

    async def stats(self, guild_id: int, since: dt.datetime) -> Stats:
        return await self.statistics.stats(guild_id, since)
