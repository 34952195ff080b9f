"""Moderation state in SQLite, with a per-guild snapshot in memory for the checks that run before defer.

:class:`Moderation` owns every read and write of the moderation tables. Each write updates the cached
snapshot of its guild, so an edit takes effect on the very next prompt without a restart; the checks a
prompt meets before the interaction is acknowledged (banned words, allowed channels, bans, button
policy) read only that snapshot. Admission, the check of quota, concurrency, cooldown and ban that
must hold under concurrent presses, runs inside the job store's exclusive transaction together with
the insert of the job row (see :meth:`Moderation.admitter` and ``JobEngine.submit``).

No Discord here: callers pass member, role and channel ids.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import json
import logging
import sqlite3
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Any

from bot.core.models import ErrorReason, Job, JobStatus, utcnow
from bot.core.moderation.defaults import DEFAULT_PHRASES
from bot.core.moderation.matcher import InvalidTerm, Term, Verdict, WordFilter, check_regex, phrase_pattern
from bot.core.moderation.policy import (
    MAX_COOLDOWN_S,
    MAX_LIMIT,
    AuditAction,
    AuditEntry,
    Ban,
    ButtonPolicy,
    GuildConfig,
    Limits,
    MemberSettings,
    Refusal,
    RoleLimits,
    StrikeOutcome,
    Usage,
    WordEntry,
)
from bot.core.store import Store
from bot.core.store._store import iso

__all__ = ["MAX_REGEXES", "MAX_WORDS", "GuildState", "Moderation", "Stats"]

_log = logging.getLogger(__name__)

# A guild's own list; past this a server needs a different tool, and the compiled filter stays small.
MAX_WORDS = 500
# Regexes are checked one by one with a time limit each; keep their number low.
MAX_REGEXES = 50
# Strikes older than this no longer count towards the escalation.
STRIKE_WINDOW = dt.timedelta(days=1)
# A member suffix is parameters only and short; the prompt itself keeps the room.
MAX_SUFFIX_LENGTH = 200
# Audit details keep this much of a prompt; the audit channel shows less.
MAX_AUDIT_PROMPT = 1000

# Statuses that count against a quota: everything but failed, moderated, cancelled and timed-out jobs.
# Written out literally in the SQL below so SQLite can use the partial index on unfinished jobs.
_COUNTED_SQL = "('queued', 'submitted', 'running', 'completed')"
_UNFINISHED_SQL = "('queued', 'submitted', 'running')"

AuditListener = Callable[[AuditEntry], None]


def _time(value: str | None) -> dt.datetime | None:
    return dt.datetime.fromisoformat(value) if value else None


def day_start(now: dt.datetime) -> dt.datetime:
    """Quotas are per UTC day, so every member's day resets at the same moment."""
    return now.astimezone(dt.UTC).replace(hour=0, minute=0, second=0, microsecond=0)


@dataclasses.dataclass(frozen=True, slots=True)
class GuildState:
    """Everything the pre-defer checks need about one guild, rebuilt whenever a moderator edits it."""

    config: GuildConfig
    words: tuple[WordEntry, ...]
    filter: WordFilter
    bans: dict[int, Ban]
    role_limits: dict[int, RoleLimits]
    channels: frozenset[int]

    def ban_for(self, user_id: int, now: dt.datetime | None = None) -> Ban | None:
        ban = self.bans.get(user_id)
        return ban if ban is not None and ban.active(now or utcnow()) else None

    def limits_for(self, role_ids: Iterable[int]) -> Limits:
        """The guild's limits, loosened by the most generous override among the member's roles."""
        base = self.config.limits
        overrides = [self.role_limits[r].over(base) for r in role_ids if r in self.role_limits]
        if not overrides:
            return base
        best = overrides[0]
        for other in overrides[1:]:
            best = best.most_generous(other)
        return best

    def channel_allowed(self, *channel_ids: int | None) -> bool:
        """Whether jobs may start here; a thread passes its own id and its parent's."""
        return not self.channels or any(c in self.channels for c in channel_ids if c)

    def is_moderator_role(self, role_ids: Iterable[int]) -> bool:
        role = self.config.moderator_role_id
        return role is not None and role in set(role_ids)


@dataclasses.dataclass(frozen=True, slots=True)
class Stats:
    since: dt.datetime
    total: int
    by_status: dict[JobStatus, int]
    top_errors: list[tuple[str, int]]
    top_members: list[tuple[int, int, int]]  # (user, jobs, completed)
    blocked_prompts: int
    active_bans: int


class Moderation:
    def __init__(self, store: Store, *, clock: Callable[[], dt.datetime] = utcnow) -> None:
        self.store = store
        self.clock = clock
        self._guilds: dict[int, GuildState] = {}
        self._members: dict[int, MemberSettings] = {}
        # Who has any settings stored, read once: everyone else has the defaults, known without a query on
        # the way to acknowledging their /imagine. The bot is the database's only writer.
        self._with_settings: asyncio.Future[set[int]] | None = None
        self._listeners: list[AuditListener] = []
        self._default_terms = tuple(Term(p, default=True) for p in DEFAULT_PHRASES)

    def add_listener(self, listener: AuditListener) -> None:
        """Called with every audit entry after it is stored; must not block."""
        self._listeners.append(listener)

    # -- the per-guild snapshot ------------------------------------------------------------------

    def cached(self, guild_id: int) -> GuildState | None:
        return self._guilds.get(guild_id)

    async def guild(self, guild_id: int) -> GuildState:
        state = self._guilds.get(guild_id)
        if state is None:
            state = self._guilds[guild_id] = await self._load(guild_id)
        return state

    async def _reload(self, guild_id: int) -> GuildState:
        state = self._guilds[guild_id] = await self._load(guild_id)
        return state

    async def _load(self, guild_id: int) -> GuildState:
        config = await self._config(guild_id)
        words = [
            WordEntry(r["id"], guild_id, r["term"], r["kind"] == "regex", r["added_by"], _time(r["added_at"]))  # type: ignore[arg-type]
            for r in await self.store.fetchall(
                "SELECT id, term, kind, added_by, added_at FROM mod_words WHERE guild_id = ? ORDER BY id", (guild_id,)
            )
        ]
        now = self.clock()
        bans = {
            ban.user_id: ban
            for ban in (
                _ban(r) for r in await self.store.fetchall("SELECT * FROM mod_bans WHERE guild_id = ?", (guild_id,))
            )
            if ban.active(now)
        }
        role_limits = {
            r["role_id"]: RoleLimits(r["role_id"], r["daily_quota"], r["max_concurrent"], r["cooldown_s"])
            for r in await self.store.fetchall("SELECT * FROM mod_role_limits WHERE guild_id = ?", (guild_id,))
        }
        rows = await self.store.fetchall("SELECT channel_id FROM mod_channels WHERE guild_id = ?", (guild_id,))
        channels = frozenset(r[0] for r in rows)
        terms = [Term(w.term, is_regex=w.is_regex) for w in words]
        if config.use_default_words:
            terms = [*self._default_terms, *terms]
        return GuildState(config, tuple(words), WordFilter(terms), bans, role_limits, channels)

    async def _config(self, guild_id: int) -> GuildConfig:
        row = await self.store.fetchone("SELECT * FROM mod_guild_config WHERE guild_id = ?", (guild_id,))
        if row is None:
            return GuildConfig(guild_id)
        return GuildConfig(
            guild_id=guild_id,
            limits=Limits(row["daily_quota"], row["max_concurrent"], row["cooldown_s"]),
            button_policy=ButtonPolicy(row["button_policy"]),
            moderator_role_id=row["moderator_role_id"],
            audit_channel_id=row["audit_channel_id"],
            use_default_words=bool(row["use_default_words"]),
            strike_limit=row["strike_limit"],
            strike_block_minutes=row["strike_block_minutes"],
        )

    # -- banned words ----------------------------------------------------------------------------

    async def check_prompt(self, guild_id: int, text: str) -> Verdict:
        return (await self.guild(guild_id)).filter.check(text)

    async def test_prompt(self, guild_id: int, text: str) -> Verdict:
        """Every term the text would trip, without recording anything."""
        return (await self.guild(guild_id)).filter.check(text, every=True)

    async def add_word(self, guild_id: int, term: str, *, is_regex: bool, actor_id: int) -> WordEntry:
        """Add a phrase or regex; raises InvalidTerm with a plain-language reason when it cannot be used."""
        term = term.strip()
        if is_regex:
            check_regex(term)
        else:
            phrase_pattern(term)
        state = await self.guild(guild_id)
        kind = "regex" if is_regex else "phrase"
        if any(w.term == term and w.is_regex == is_regex for w in state.words):
            raise InvalidTerm(f"{'That regex' if is_regex else 'That phrase'} is already on the list.")
        if len(state.words) >= MAX_WORDS:
            raise InvalidTerm(f"The list already has {MAX_WORDS} entries; remove some first.")
        if is_regex and sum(w.is_regex for w in state.words) >= MAX_REGEXES:
            raise InvalidTerm(f"The list already has {MAX_REGEXES} regexes; remove some first.")
        now = self.clock()
        async with self.store.transaction():
            try:
                await self.store.execute(
                    "INSERT INTO mod_words (guild_id, kind, term, added_by, added_at) VALUES (?, ?, ?, ?, ?)",
                    (guild_id, kind, term, actor_id, iso(now)),
                )
            except sqlite3.IntegrityError:
                raise InvalidTerm("That entry is already on the list.") from None
            row = await self.store.fetchone("SELECT last_insert_rowid()")
            entry = await self._audit(guild_id, actor_id, AuditAction.WORD_ADDED, detail={"term": term, "kind": kind})
        await self._reload(guild_id)
        self._emit(entry)
        return WordEntry(int(row[0]) if row else 0, guild_id, term, is_regex, actor_id, now)

    async def remove_word(self, guild_id: int, term: str, *, actor_id: int) -> WordEntry | None:
        """Remove an entry by its text (phrase or regex); returns it, or None if there was none."""
        term = term.strip()
        state = await self.guild(guild_id)
        entry = next((w for w in state.words if w.term == term), None)
        if entry is None:
            return None
        async with self.store.transaction():
            await self.store.execute("DELETE FROM mod_words WHERE id = ?", (entry.id,))
            audit = await self._audit(
                guild_id,
                actor_id,
                AuditAction.WORD_REMOVED,
                detail={"term": term, "kind": "regex" if entry.is_regex else "phrase"},
            )
        await self._reload(guild_id)
        self._emit(audit)
        return entry

    async def record_block(self, guild_id: int, user_id: int, verdict: Verdict, prompt: str) -> StrikeOutcome:
        """Count a blocked prompt; the ``strike_limit``-th of a day (and every multiple) earns a timed block."""
        state = await self.guild(guild_id)
        config = state.config
        now = self.clock()
        term = verdict.hits[0].term.text if verdict.hits else "(a regex ran out of time)"
        entries = []
        ban: Ban | None = None
        async with self.store.transaction():
            await self.store.execute(
                "INSERT INTO mod_strikes (guild_id, user_id, term, at) VALUES (?, ?, ?, ?)",
                (guild_id, user_id, term, iso(now)),
            )
            row = await self.store.fetchone(
                "SELECT COUNT(*) FROM mod_strikes WHERE guild_id = ? AND user_id = ? AND at > ?",
                (guild_id, user_id, iso(now - STRIKE_WINDOW)),
            )
            count = int(row[0]) if row else 1
            entries.append(
                await self._audit(
                    guild_id,
                    0,
                    AuditAction.PROMPT_BLOCKED,
                    target_user_id=user_id,
                    detail={"term": term, "prompt": prompt[:MAX_AUDIT_PROMPT], "strikes": count},
                )
            )
            limit = config.strike_limit
            if limit > 0 and count >= limit and count % limit == 0:
                minutes = config.strike_block_minutes * (count // limit)
                expires = now + dt.timedelta(minutes=minutes)
                current = await self._ban_row(guild_id, user_id)
                # Never shorten a block a moderator (or an earlier round) already set.
                if (
                    current is None
                    or not current.active(now)
                    or (current.expires_at is not None and current.expires_at < expires)
                ):
                    reason = f"{count} blocked prompts within a day"
                    ban = Ban(guild_id, user_id, reason, 0, now, expires)
                    await self._write_ban(ban)
                    entries.append(
                        await self._audit(
                            guild_id,
                            0,
                            AuditAction.MEMBER_BANNED,
                            target_user_id=user_id,
                            detail={"reason": reason, "minutes": minutes, "automatic": True},
                        )
                    )
        if ban is not None:
            await self._reload(guild_id)
        for entry in entries:
            self._emit(entry)
        return StrikeOutcome(count, limit, ban)

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
        now = self.clock()
        ban = Ban(guild_id, user_id, reason, actor_id, now, now + duration if duration else None)
        async with self.store.transaction():
            await self._write_ban(ban)
            detail: dict[str, Any] = {"reason": reason}
            if duration:
                detail["minutes"] = round(duration.total_seconds() / 60)
            entry = await self._audit(
                guild_id, actor_id, AuditAction.MEMBER_BANNED, target_user_id=user_id, detail=detail
            )
        await self._reload(guild_id)
        self._emit(entry)
        return ban

    async def unban(self, guild_id: int, user_id: int, *, actor_id: int) -> Ban | None:
        """Lift a ban; returns the ban that was active, or None if there was none."""
        now = self.clock()
        async with self.store.transaction():
            current = await self._ban_row(guild_id, user_id)
            await self.store.execute("DELETE FROM mod_bans WHERE guild_id = ? AND user_id = ?", (guild_id, user_id))
            if current is None or not current.active(now):
                return None
            entry = await self._audit(guild_id, actor_id, AuditAction.MEMBER_UNBANNED, target_user_id=user_id)
        await self._reload(guild_id)
        self._emit(entry)
        return current

    async def active_bans(self, guild_id: int) -> list[Ban]:
        state = await self.guild(guild_id)
        now = self.clock()
        return sorted((b for b in state.bans.values() if b.active(now)), key=lambda b: b.created_at)

    async def _ban_row(self, guild_id: int, user_id: int) -> Ban | None:
        row = await self.store.fetchone(
            "SELECT * FROM mod_bans WHERE guild_id = ? AND user_id = ?", (guild_id, user_id)
        )
        return _ban(row) if row else None

    async def _write_ban(self, ban: Ban) -> None:
        await self.store.execute(
            "INSERT INTO mod_bans (guild_id, user_id, reason, banned_by, created_at, expires_at)"
            " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (guild_id, user_id) DO UPDATE SET reason = excluded.reason,"
            " banned_by = excluded.banned_by, created_at = excluded.created_at, expires_at = excluded.expires_at",
            (
                ban.guild_id,
                ban.user_id,
                ban.reason,
                ban.banned_by,
                iso(ban.created_at),
                iso(ban.expires_at) if ban.expires_at else None,
            ),
        )

    # -- limits and policy -----------------------------------------------------------------------

    async def update_config(self, guild_id: int, *, actor_id: int, **changes: Any) -> GuildConfig:
        """Change guild settings: any of daily_quota, max_concurrent, cooldown_s, button_policy,
        moderator_role_id, audit_channel_id, use_default_words, strike_limit, strike_block_minutes."""
        allowed = {
            "daily_quota",
            "max_concurrent",
            "cooldown_s",
            "button_policy",
            "moderator_role_id",
            "audit_channel_id",
            "use_default_words",
            "strike_limit",
            "strike_block_minutes",
        }
        unknown = set(changes) - allowed
        if unknown:
            raise ValueError(f"unknown settings: {sorted(unknown)}")
        for name in ("daily_quota", "max_concurrent", "strike_limit"):
            if name in changes:
                _check_range(name, changes[name], MAX_LIMIT)
        if "cooldown_s" in changes:
            _check_range("cooldown_s", changes["cooldown_s"], MAX_COOLDOWN_S)
        if "strike_block_minutes" in changes:
            _check_range("strike_block_minutes", changes["strike_block_minutes"], 60 * 24 * 30, minimum=1)
        if "button_policy" in changes:
            changes["button_policy"] = ButtonPolicy(changes["button_policy"]).value
        if "use_default_words" in changes:
            changes["use_default_words"] = int(bool(changes["use_default_words"]))
        if not changes:
            return (await self.guild(guild_id)).config
        now = iso(self.clock())
        columns = list(changes)
        async with self.store.transaction():
            await self.store.execute(
                f"INSERT INTO mod_guild_config (guild_id, {', '.join(columns)}, updated_at)"
                f" VALUES (?, {', '.join('?' for _ in columns)}, ?) ON CONFLICT (guild_id) DO UPDATE SET"
                f" {', '.join(f'{c} = excluded.{c}' for c in columns)}, updated_at = excluded.updated_at",
                (guild_id, *changes.values(), now),
            )
            entry = await self._audit(guild_id, actor_id, _config_action(changes), detail=changes)
        state = await self._reload(guild_id)
        self._emit(entry)
        return state.config

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
        if daily_quota is not None:
            _check_range("daily_quota", daily_quota, MAX_LIMIT)
        if max_concurrent is not None:
            _check_range("max_concurrent", max_concurrent, MAX_LIMIT)
        if cooldown_s is not None:
            _check_range("cooldown_s", cooldown_s, MAX_COOLDOWN_S)
        override = None if clear else RoleLimits(role_id, daily_quota, max_concurrent, cooldown_s)
        async with self.store.transaction():
            if override is None:
                await self.store.execute(
                    "DELETE FROM mod_role_limits WHERE guild_id = ? AND role_id = ?", (guild_id, role_id)
                )
            else:
                await self.store.execute(
                    "INSERT INTO mod_role_limits (guild_id, role_id, daily_quota, max_concurrent, cooldown_s)"
                    " VALUES (?, ?, ?, ?, ?) ON CONFLICT (guild_id, role_id) DO UPDATE SET"
                    " daily_quota = excluded.daily_quota, max_concurrent = excluded.max_concurrent,"
                    " cooldown_s = excluded.cooldown_s",
                    (guild_id, role_id, daily_quota, max_concurrent, cooldown_s),
                )
            entry = await self._audit(
                guild_id,
                actor_id,
                AuditAction.ROLE_LIMITS_CHANGED,
                detail={
                    "role_id": role_id,
                    "cleared": clear,
                    "daily_quota": daily_quota,
                    "max_concurrent": max_concurrent,
                    "cooldown_s": cooldown_s,
                },
            )
        await self._reload(guild_id)
        self._emit(entry)
        return override

    async def set_channel(self, guild_id: int, channel_id: int, *, allowed: bool, actor_id: int) -> bool:
        """Add or remove an allowed channel; returns whether anything changed."""
        async with self.store.transaction():
            if allowed:
                changed = await self.store.execute(
                    "INSERT OR IGNORE INTO mod_channels (guild_id, channel_id) VALUES (?, ?)", (guild_id, channel_id)
                )
            else:
                changed = await self.store.execute(
                    "DELETE FROM mod_channels WHERE guild_id = ? AND channel_id = ?", (guild_id, channel_id)
                )
            if not changed:
                return False
            action = AuditAction.CHANNEL_ALLOWED if allowed else AuditAction.CHANNEL_DISALLOWED
            entry = await self._audit(guild_id, actor_id, action, detail={"channel_id": channel_id})
        await self._reload(guild_id)
        self._emit(entry)
        return True

    # -- admission -------------------------------------------------------------------------------

    def admitter(self, role_ids: Sequence[int] = ()) -> Callable[[Job], Awaitable[None]]:
        """The check ``JobEngine.submit(job, admit=…)`` runs in the transaction that inserts the job."""

        async def admit(job: Job) -> None:
            await self.admit(job, role_ids)

        return admit

    async def admit(self, job: Job, role_ids: Sequence[int] = ()) -> None:
        """Raise Refusal unless the job's member may start it now. Run inside ``store.transaction()``."""
        if job.guild_id is None:
            return
        if job.parent_id is not None:
            # A press of a button already pressed returns the existing job, which was charged already.
            existing = await self.store.fetchone(
                "SELECT 1 FROM jobs WHERE parent_id = ? AND action = ?", (job.parent_id, job.action.value)
            )
            if existing is not None:
                return
        guild_id, user_id = job.guild_id, job.user_id
        now = self.clock()
        ban = await self._ban_row(guild_id, user_id)
        if ban is not None and ban.active(now):
            raise Refusal(ErrorReason.MEMBER_BANNED, ban=ban, retry_at=ban.expires_at)
        limits = (await self.guild(guild_id)).limits_for(role_ids)
        if limits.max_concurrent:
            running = await self._unfinished_count(guild_id, user_id)
            if running >= limits.max_concurrent:
                raise Refusal(ErrorReason.TOO_MANY_JOBS, used=running, limit=limits.max_concurrent)
        if limits.daily_quota:
            used = await self._used_since(guild_id, user_id, day_start(now))
            if used >= limits.daily_quota:
                raise Refusal(
                    ErrorReason.QUOTA_REACHED,
                    used=used,
                    limit=limits.daily_quota,
                    retry_at=day_start(now) + dt.timedelta(days=1),
                )
        if limits.cooldown_s:
            last = await self._last_counted(guild_id, user_id, now - dt.timedelta(seconds=limits.cooldown_s))
            if last is not None:
                raise Refusal(ErrorReason.COOLDOWN, retry_at=last + dt.timedelta(seconds=limits.cooldown_s))

    async def usage(self, guild_id: int, user_id: int, role_ids: Sequence[int] = ()) -> Usage:
        state = await self.guild(guild_id)
        limits = state.limits_for(role_ids)
        now = self.clock()
        start = day_start(now)
        rows = await self.store.fetchall(
            f"SELECT status, COUNT(*) FROM jobs WHERE guild_id = ? AND user_id = ? AND status IN {_UNFINISHED_SQL}"
            " GROUP BY status",
            (guild_id, user_id),
        )
        counts = {r[0]: r[1] for r in rows}
        cooldown_until = None
        if limits.cooldown_s:
            last = await self._last_counted(guild_id, user_id, now - dt.timedelta(seconds=limits.cooldown_s))
            if last is not None:
                cooldown_until = last + dt.timedelta(seconds=limits.cooldown_s)
        return Usage(
            limits=limits,
            used_today=await self._used_since(guild_id, user_id, start),
            resets_at=start + dt.timedelta(days=1),
            running=counts.get("submitted", 0) + counts.get("running", 0),
            queued=counts.get("queued", 0),
            cooldown_until=cooldown_until,
            ban=state.ban_for(user_id, now),
        )

    async def _unfinished_count(self, guild_id: int, user_id: int) -> int:
        row = await self.store.fetchone(
            f"SELECT COUNT(*) FROM jobs WHERE guild_id = ? AND user_id = ? AND status IN {_UNFINISHED_SQL}",
            (guild_id, user_id),
        )
        return int(row[0]) if row else 0

    async def _used_since(self, guild_id: int, user_id: int, since: dt.datetime) -> int:
        row = await self.store.fetchone(
            "SELECT COUNT(*) FROM jobs WHERE guild_id = ? AND user_id = ? AND created_at >= ?"
            f" AND status IN {_COUNTED_SQL}",
            (guild_id, user_id, iso(since)),
        )
        return int(row[0]) if row else 0

    async def _last_counted(self, guild_id: int, user_id: int, since: dt.datetime) -> dt.datetime | None:
        row = await self.store.fetchone(
            "SELECT MAX(created_at) FROM jobs WHERE guild_id = ? AND user_id = ? AND created_at > ?"
            f" AND status IN {_COUNTED_SQL}",
            (guild_id, user_id, iso(since)),
        )
        return _time(row[0]) if row else None

    # -- member settings -------------------------------------------------------------------------

    async def member_settings(self, user_id: int) -> MemberSettings:
        settings = self._members.get(user_id)
        if settings is None:
            if self._with_settings is None:
                self._with_settings = asyncio.ensure_future(self._members_with_settings())
            try:
                stored = user_id in await asyncio.shield(self._with_settings)
            except Exception:
                self._with_settings = None  # try again next time; read this member directly meanwhile
                stored = True
            row = None
            if stored:
                row = await self.store.fetchone("SELECT * FROM member_settings WHERE user_id = ?", (user_id,))
            settings = (
                MemberSettings(user_id, row["aspect"], row["suffix"], bool(row["dm_on_finish"]))
                if row
                else MemberSettings(user_id)
            )
            self._members[user_id] = settings
        return settings

    async def _members_with_settings(self) -> set[int]:
        return {row[0] for row in await self.store.fetchall("SELECT user_id FROM member_settings")}

    async def update_member_settings(self, user_id: int, **changes: Any) -> MemberSettings:
        """Change any of aspect (None clears it), suffix ("" clears it) and dm_on_finish."""
        current = await self.member_settings(user_id)
        if "suffix" in changes and len(changes["suffix"] or "") > MAX_SUFFIX_LENGTH:
            raise ValueError(f"A suffix can be at most {MAX_SUFFIX_LENGTH} characters long.")
        updated = dataclasses.replace(current, **changes)
        await self.store.execute(
            "INSERT INTO member_settings (user_id, aspect, suffix, dm_on_finish, updated_at) VALUES (?, ?, ?, ?, ?)"
            " ON CONFLICT (user_id) DO UPDATE SET aspect = excluded.aspect, suffix = excluded.suffix,"
            " dm_on_finish = excluded.dm_on_finish, updated_at = excluded.updated_at",
            (user_id, updated.aspect, updated.suffix or "", int(updated.dm_on_finish), iso(self.clock())),
        )
        self._members[user_id] = updated
        return updated

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
        # One INSERT is atomic on its own; a transaction around it would only serialise it needlessly.
        entry = await self._audit(
            guild_id, actor_id, action, target_user_id=target_user_id, job_id=job_id, detail=detail
        )
        self._emit(entry)
        return entry

    async def record_job_end(self, job: Job) -> AuditEntry | None:
        """Record a finished job once; None when it had been recorded before (an event replayed at start)."""
        if job.guild_id is None or not job.terminal:
            return None
        detail = {
            "status": job.status.value,
            "error": job.error.value if job.error else None,
            "provider": job.provider,
            "action": job.action.value,
            "prompt": job.prompt[:MAX_AUDIT_PROMPT],
            "channel_id": job.channel_id,
            "message_id": job.message_id,
        }
        try:
            # One INSERT needs no transaction around it: a duplicate fails whole on the unique index.
            entry = await self._audit(
                job.guild_id,
                job.user_id,
                AuditAction.JOB_FINISHED,
                target_user_id=job.user_id,
                job_id=job.id,
                detail=detail,
            )
        except sqlite3.IntegrityError:
            return None
        self._emit(entry)
        return entry

    async def deleted(self, job_id: str) -> AuditEntry | None:
        """The record of a moderator deleting this job's message, if one did."""
        row = await self.store.fetchone(
            "SELECT * FROM mod_audit WHERE job_id = ? AND action = ? ORDER BY id DESC LIMIT 1",
            (job_id, AuditAction.JOB_DELETED.value),
        )
        return _audit_entry(row) if row else None

    async def audit_log(self, guild_id: int, *, limit: int = 20) -> list[AuditEntry]:
        rows = await self.store.fetchall(
            "SELECT * FROM mod_audit WHERE guild_id = ? ORDER BY at DESC, id DESC LIMIT ?", (guild_id, limit)
        )
        return [_audit_entry(r) for r in rows]

    async def _audit(
        self,
        guild_id: int,
        actor_id: int,
        action: AuditAction,
        *,
        target_user_id: int | None = None,
        job_id: str | None = None,
        detail: dict[str, Any] | None = None,
    ) -> AuditEntry:
        now = self.clock()
        detail = detail or {}
        entry_id = await self.store.insert(
            "INSERT INTO mod_audit (guild_id, at, actor_id, action, target_user_id, job_id, detail)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            (
                guild_id,
                iso(now),
                actor_id,
                action.value,
                target_user_id,
                job_id,
                json.dumps(detail, ensure_ascii=False, separators=(",", ":")),
            ),
        )
        return AuditEntry(entry_id, guild_id, now, actor_id, action, target_user_id, job_id, detail)

    def _emit(self, entry: AuditEntry) -> None:
        for listener in self._listeners:
            try:
                listener(entry)
            except Exception:
                _log.exception("audit listener %r failed", listener)

    # -- oversight -------------------------------------------------------------------------------

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

    async def stats(self, guild_id: int, since: dt.datetime) -> Stats:
        params = (guild_id, iso(since))
        by_status = {
            JobStatus(r[0]): r[1]
            for r in await self.store.fetchall(
                "SELECT status, COUNT(*) FROM jobs WHERE guild_id = ? AND created_at >= ? GROUP BY status", params
            )
        }
        errors = [
            (r[0], r[1])
            for r in await self.store.fetchall(
                "SELECT error, COUNT(*) AS n FROM jobs WHERE guild_id = ? AND created_at >= ? AND error IS NOT NULL"
                " GROUP BY error ORDER BY n DESC, error LIMIT 5",
                params,
            )
        ]
        members = [
            (r[0], r[1], r[2])
            for r in await self.store.fetchall(
                "SELECT user_id, COUNT(*) AS n, SUM(status = 'completed') FROM jobs WHERE guild_id = ?"
                " AND created_at >= ? GROUP BY user_id ORDER BY n DESC, user_id LIMIT 10",
                params,
            )
        ]
        blocked = await self.store.fetchone("SELECT COUNT(*) FROM mod_strikes WHERE guild_id = ? AND at >= ?", params)
        return Stats(
            since=since,
            total=sum(by_status.values()),
            by_status=by_status,
            top_errors=errors,
            top_members=members,
            blocked_prompts=int(blocked[0]) if blocked else 0,
            active_bans=len(await self.active_bans(guild_id)),
        )


def _check_range(name: str, value: Any, maximum: int, *, minimum: int = 0) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or not minimum <= value <= maximum:
        raise ValueError(f"{name} must be a whole number from {minimum} to {maximum}.")


def _config_action(changes: dict[str, Any]) -> AuditAction:
    names = set(changes)
    if names <= {"daily_quota", "max_concurrent", "cooldown_s"}:
        return AuditAction.LIMITS_CHANGED
    if names <= {"strike_limit", "strike_block_minutes"}:
        return AuditAction.ESCALATION_CHANGED
    if names == {"button_policy"}:
        return AuditAction.BUTTON_POLICY
    if names == {"moderator_role_id"}:
        return AuditAction.MODERATOR_ROLE
    if names == {"audit_channel_id"}:
        return AuditAction.AUDIT_CHANNEL
    if names == {"use_default_words"}:
        return AuditAction.DEFAULT_WORDS
    return AuditAction.LIMITS_CHANGED


def _ban(row: sqlite3.Row) -> Ban:
    return Ban(
        guild_id=row["guild_id"],
        user_id=row["user_id"],
        reason=row["reason"],
        banned_by=row["banned_by"],
        created_at=_time(row["created_at"]),  # type: ignore[arg-type]
        expires_at=_time(row["expires_at"]),
    )


def _audit_entry(row: sqlite3.Row) -> AuditEntry:
    return AuditEntry(
        id=row["id"],
        guild_id=row["guild_id"],
        at=_time(row["at"]),  # type: ignore[arg-type]
        actor_id=row["actor_id"],
        action=AuditAction(row["action"]),
        target_user_id=row["target_user_id"],
        job_id=row["job_id"],
        detail=json.loads(row["detail"] or "{}"),
    )
