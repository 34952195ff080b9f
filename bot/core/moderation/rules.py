"""What is stored: a guild's rules, and the snapshot of them in memory that the pre-defer checks read.

The rules live in six tables, all read and written here and nowhere else: ``mod_guild_config`` (limits,
button policy, moderator role, audit channel, default words, escalation), ``mod_words`` (banned phrases
and regexes), ``mod_bans``, ``mod_strikes`` (blocked prompts, counted for the escalation),
``mod_role_limits`` and ``mod_channels``.

Each write updates the cached snapshot of its guild (:class:`GuildState`), so an edit takes effect on
the very next prompt without a restart; the checks a prompt meets before the interaction is
acknowledged (banned words, allowed channels, bans, button policy) read only that snapshot. Each write
records its audit entry in the same transaction and announces it once committed. It also tells the
other processes sharing the database (``Store.announce("guild:<id>")``, sent with the commit), which drop
their snapshot of that guild and load it again for its next prompt.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
from collections.abc import Callable, Iterable
from typing import Any

from bot.core.models import utcnow
from bot.core.moderation.audit import MAX_AUDIT_PROMPT, AuditTrail
from bot.core.moderation.defaults import DEFAULT_PHRASES
from bot.core.moderation.matcher import InvalidTerm, Term, Verdict, WordFilter, check_regex, phrase_pattern
from bot.core.moderation.policy import (
    MAX_COOLDOWN_S,
    MAX_LIMIT,
    AuditAction,
    Ban,
    ButtonPolicy,
    GuildConfig,
    Limits,
    RoleLimits,
    StrikeOutcome,
    WordEntry,
)
from bot.core.safety import SafetyMode
from bot.core.store import IntegrityError, Row, Store, from_iso, iso

__all__ = ["MAX_REGEXES", "MAX_WORDS", "STRIKE_WINDOW", "GuildRules", "GuildState"]

# A guild's own list; past this a server needs a different tool, and the compiled filter stays small.
MAX_WORDS = 500
# Regexes are checked one by one with a time limit each; keep their number low.
MAX_REGEXES = 50
# Strikes older than this no longer count towards the escalation.
STRIKE_WINDOW = dt.timedelta(days=1)
# The guild settings update_config accepts: the columns of mod_guild_config a moderator may change.
_CONFIG_COLUMNS = frozenset(
    {
        "daily_quota",
        "max_concurrent",
        "cooldown_s",
        "button_policy",
        "moderator_role_id",
        "audit_channel_id",
        "use_default_words",
        "strike_limit",
        "strike_block_minutes",
        "safety_mode",
        "safety_threshold",
    }
)


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


class GuildRules:
    """The six rule tables of every guild, and the per-guild snapshot built from them."""

    def __init__(self, store: Store, audit: AuditTrail, *, clock: Callable[[], dt.datetime]) -> None:
        self.store = store
        self.audit = audit
        self.clock = clock
        self._guilds: dict[int, GuildState] = {}
        # A guild's snapshot being loaded, shared by every request that needs it meanwhile: after a start,
        # a burst of a thousand interactions would otherwise load (and compile the word filter) a thousand
        # times, each before its acknowledgement.
        self._loading: dict[int, asyncio.Future[GuildState]] = {}
        self._default_terms = tuple(Term(p, default=True) for p in DEFAULT_PHRASES)
        # Counts the snapshots dropped because another process changed them: a load that was under way
        # meanwhile may have read the old rules, so its result is used once but not kept.
        self._generation = 0
        store.watch(self._stale)

    def _stale(self, key: str | None) -> None:
        """Another process changed the guild ``key`` names (``guild:<id>``), or None: any may have changed."""
        if key is None:
            self._generation += 1
            self._guilds.clear()
            self._loading.clear()
        elif key.startswith("guild:"):
            self._generation += 1
            guild_id = int(key.removeprefix("guild:"))
            self._guilds.pop(guild_id, None)
            self._loading.pop(guild_id, None)

    # -- the per-guild snapshot ------------------------------------------------------------------

    def cached(self, guild_id: int) -> GuildState | None:
        return self._guilds.get(guild_id)

    async def guild(self, guild_id: int) -> GuildState:
        state = self._guilds.get(guild_id)
        if state is not None:
            return state
        loading = self._loading.get(guild_id)
        if loading is None:
            loading = self._loading[guild_id] = asyncio.ensure_future(self._reload(guild_id, keep=False))
            loading.add_done_callback(
                lambda done: self._loading.pop(guild_id, None) if self._loading.get(guild_id) is done else None
            )
        state = await asyncio.shield(loading)
        # A moderator's change reloaded it meanwhile: that snapshot is the newer one.
        return self._guilds.get(guild_id, state)

    async def _reload(self, guild_id: int, *, keep: bool = True) -> GuildState:
        """Load the guild's snapshot and cache it (``keep``: over the one cached, else only if none is),
        unless another process changed the rules while it loaded."""
        generation = self._generation
        state = await self._load(guild_id)
        if generation == self._generation:
            if keep:
                self._guilds[guild_id] = state
            else:
                self._guilds.setdefault(guild_id, state)
        return state

    async def _load(self, guild_id: int) -> GuildState:
        config = await self._config(guild_id)
        words = [
            WordEntry(r["id"], guild_id, r["term"], r["kind"] == "regex", r["added_by"], _moment(r["added_at"]))
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
            safety_mode=SafetyMode(row["safety_mode"]) if row["safety_mode"] else None,
            safety_threshold=row["safety_threshold"],
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
                word_id = await self.store.insert(
                    "INSERT INTO mod_words (guild_id, kind, term, added_by, added_at) VALUES (?, ?, ?, ?, ?)",
                    (guild_id, kind, term, actor_id, iso(now)),
                )
            except IntegrityError:
                raise InvalidTerm("That entry is already on the list.") from None
            entry = await self.audit.write(
                guild_id, actor_id, AuditAction.WORD_ADDED, detail={"term": term, "kind": kind}
            )
            await self.store.announce(f"guild:{guild_id}")
        await self._reload(guild_id)
        self.audit.emit(entry)
        return WordEntry(word_id, guild_id, term, is_regex, actor_id, now)

    async def remove_word(self, guild_id: int, term: str, *, actor_id: int) -> WordEntry | None:
        """Remove an entry by its text (phrase or regex); returns it, or None if there was none."""
        term = term.strip()
        state = await self.guild(guild_id)
        entry = next((w for w in state.words if w.term == term), None)
        if entry is None:
            return None
        async with self.store.transaction():
            await self.store.execute("DELETE FROM mod_words WHERE id = ?", (entry.id,))
            await self.store.announce(f"guild:{guild_id}")
            audit = await self.audit.write(
                guild_id,
                actor_id,
                AuditAction.WORD_REMOVED,
                detail={"term": term, "kind": "regex" if entry.is_regex else "phrase"},
            )
        await self._reload(guild_id)
        self.audit.emit(audit)
        return entry

    # -- strikes and the escalation --------------------------------------------------------------

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
                await self.audit.write(
                    guild_id,
                    0,
                    AuditAction.PROMPT_BLOCKED,
                    target_user_id=user_id,
                    detail={"term": term, "prompt": prompt[:MAX_AUDIT_PROMPT], "strikes": count},
                )
            )
            limit = config.strike_limit
            # Each round of the escalation pauses for longer: the n-th for n times the configured minutes.
            pause_minutes = config.strike_block_minutes * (count // limit + 1) if limit > 0 else 0
            if limit > 0 and count >= limit and count % limit == 0:
                minutes = config.strike_block_minutes * (count // limit)
                expires = now + dt.timedelta(minutes=minutes)
                current = await self.ban_of(guild_id, user_id)
                # Never shorten a block a moderator (or an earlier round) already set.
                if (
                    current is None
                    or not current.active(now)
                    or (current.expires_at is not None and current.expires_at < expires)
                ):
                    reason = f"{count} blocked prompts within a day"
                    ban = Ban(guild_id, user_id, reason, 0, now, expires)
                    await self._write_ban(ban)
                    pause_minutes = minutes
                    entries.append(
                        await self.audit.write(
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
            self.audit.emit(entry)
        return StrikeOutcome(count, limit, ban, pause_minutes)

    async def blocked_since(self, guild_id: int, since: dt.datetime) -> int:
        """The guild's prompts blocked at or after ``since`` (for the statistics)."""
        row = await self.store.fetchone(
            "SELECT COUNT(*) FROM mod_strikes WHERE guild_id = ? AND at >= ?", (guild_id, iso(since))
        )
        return int(row[0]) if row else 0

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
            entry = await self.audit.write(
                guild_id, actor_id, AuditAction.MEMBER_BANNED, target_user_id=user_id, detail=detail
            )
        await self._reload(guild_id)
        self.audit.emit(entry)
        return ban

    async def unban(self, guild_id: int, user_id: int, *, actor_id: int) -> Ban | None:
        """Lift a ban; returns the ban that was active, or None if there was none."""
        now = self.clock()
        async with self.store.transaction():
            current = await self.ban_of(guild_id, user_id)
            await self.store.execute("DELETE FROM mod_bans WHERE guild_id = ? AND user_id = ?", (guild_id, user_id))
            await self.store.announce(f"guild:{guild_id}")
            if current is None or not current.active(now):
                return None
            entry = await self.audit.write(guild_id, actor_id, AuditAction.MEMBER_UNBANNED, target_user_id=user_id)
        await self._reload(guild_id)
        self.audit.emit(entry)
        return current

    async def active_bans(self, guild_id: int) -> list[Ban]:
        state = await self.guild(guild_id)
        now = self.clock()
        return sorted((b for b in state.bans.values() if b.active(now)), key=lambda b: b.created_at)

    async def ban_of(self, guild_id: int, user_id: int) -> Ban | None:
        """The member's stored ban, expired or not, read from the table rather than the snapshot: inside a
        transaction (admission, escalation) this is the answer no concurrent write can change."""
        row = await self.store.fetchone(
            "SELECT * FROM mod_bans WHERE guild_id = ? AND user_id = ?", (guild_id, user_id)
        )
        return _ban(row) if row else None

    async def _write_ban(self, ban: Ban) -> None:
        await self.store.announce(f"guild:{ban.guild_id}")
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

    # -- limits, policy and channels -------------------------------------------------------------

    async def update_config(self, guild_id: int, *, actor_id: int, **changes: Any) -> GuildConfig:
        """Change guild settings: any of daily_quota, max_concurrent, cooldown_s, button_policy,
        moderator_role_id, audit_channel_id, use_default_words, strike_limit, strike_block_minutes."""
        unknown = set(changes) - _CONFIG_COLUMNS
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
        if changes.get("safety_mode") is not None:
            changes["safety_mode"] = SafetyMode(changes["safety_mode"]).value
        if changes.get("safety_threshold") is not None:
            changes["safety_threshold"] = _check_fraction("safety_threshold", changes["safety_threshold"])
        if not changes:
            return (await self.guild(guild_id)).config
        now = iso(self.clock())
        columns = list(changes)
        async with self.store.transaction():
            # The column names come from _CONFIG_COLUMNS (checked above), never from a member.
            await self.store.execute(
                f"INSERT INTO mod_guild_config (guild_id, {', '.join(columns)}, updated_at)"
                f" VALUES (?, {', '.join('?' for _ in columns)}, ?) ON CONFLICT (guild_id) DO UPDATE SET"
                f" {', '.join(f'{c} = excluded.{c}' for c in columns)}, updated_at = excluded.updated_at",
                (guild_id, *changes.values(), now),
            )
            entry = await self.audit.write(guild_id, actor_id, _config_action(changes), detail=changes)
            await self.store.announce(f"guild:{guild_id}")
        state = await self._reload(guild_id)
        self.audit.emit(entry)
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
            entry = await self.audit.write(
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
            await self.store.announce(f"guild:{guild_id}")
        await self._reload(guild_id)
        self.audit.emit(entry)
        return override

    async def set_channel(self, guild_id: int, channel_id: int, *, allowed: bool, actor_id: int) -> bool:
        """Add or remove an allowed channel; returns whether anything changed."""
        async with self.store.transaction():
            if allowed:
                changed = await self.store.execute(
                    "INSERT INTO mod_channels (guild_id, channel_id) VALUES (?, ?) ON CONFLICT DO NOTHING",
                    (guild_id, channel_id),
                )
            else:
                changed = await self.store.execute(
                    "DELETE FROM mod_channels WHERE guild_id = ? AND channel_id = ?", (guild_id, channel_id)
                )
            if not changed:
                return False
            await self.store.announce(f"guild:{guild_id}")
            action = AuditAction.CHANNEL_ALLOWED if allowed else AuditAction.CHANNEL_DISALLOWED
            entry = await self.audit.write(guild_id, actor_id, action, detail={"channel_id": channel_id})
        await self._reload(guild_id)
        self.audit.emit(entry)
        return True


def _check_range(name: str, value: Any, maximum: int, *, minimum: int = 0) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or not minimum <= value <= maximum:
        raise ValueError(f"{name} must be a whole number from {minimum} to {maximum}.")


def _check_fraction(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0.0 <= value <= 1.0:
        raise ValueError(f"{name} must be a number from 0 to 1.")
    return float(value)


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
    if names <= {"safety_mode", "safety_threshold"}:
        return AuditAction.SAFETY_CHANGED
    return AuditAction.LIMITS_CHANGED


def _moment(value: str) -> dt.datetime:
    """A NOT NULL timestamp column, in the form :func:`bot.core.store.iso` wrote it."""
    return dt.datetime.fromisoformat(value)


def _ban(row: Row) -> Ban:
    return Ban(
        guild_id=row["guild_id"],
        user_id=row["user_id"],
        reason=row["reason"],
        banned_by=row["banned_by"],
        created_at=_moment(row["created_at"]),
        expires_at=from_iso(row["expires_at"]),
    )
