"""The moderation vocabulary: limits, guild configuration, bans, member settings, audit entries, refusals.

Plain frozen values with no I/O; the modules beside this one store, admit, audit and count with them.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
from enum import StrEnum
from typing import Any

# Refusal lives in the exception tree (bot.core.errors); re-exported here, where callers found it.
from bot.core.errors import Refusal
from bot.core.safety import SafetyMode

__all__ = [
    "DEFAULT_LIMITS",
    "AuditAction",
    "AuditEntry",
    "Ban",
    "ButtonPolicy",
    "GuildConfig",
    "Limits",
    "MemberSettings",
    "Refusal",
    "RoleLimits",
    "StrikeOutcome",
    "Usage",
    "WordEntry",
    "parse_duration",
]

# The largest value a moderator may give a limit; past this a limit means nothing.
MAX_LIMIT = 10_000
# Cooldowns longer than a day are a ban by another name.
MAX_COOLDOWN_S = 86_400


_DURATION_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_DURATION = re.compile(r"(\d+)\s*([smhdw])")
# A timed ban longer than a year is a permanent one with extra steps.
MAX_DURATION = dt.timedelta(days=366)


def parse_duration(text: str) -> dt.timedelta:
    """``30m``, ``2h``, ``1d12h``, ``1w``; a bare number is minutes. Raises ValueError in plain words."""
    cleaned = text.strip().lower().replace(" ", "")
    if cleaned.isdigit():
        cleaned += "m"
    parts = _DURATION.findall(cleaned)
    if not parts or "".join(n + u for n, u in parts) != cleaned:
        raise ValueError(f"“{text}” is not a duration; write it like 30m, 2h, 1d or 1w.")
    duration = dt.timedelta(seconds=sum(int(n) * _DURATION_UNITS[u] for n, u in parts))
    if not dt.timedelta(minutes=1) <= duration <= MAX_DURATION:
        raise ValueError("A duration must be between one minute and one year.")
    return duration


class ButtonPolicy(StrEnum):
    """Who may press the buttons under a result."""

    ANYONE = "anyone"  # Midjourney's own behaviour
    OWNER = "owner"  # the member who made the job, and moderators


@dataclasses.dataclass(frozen=True, slots=True)
class Limits:
    """Per-member limits; 0 means no limit."""

    daily_quota: int = 0
    max_concurrent: int = 0
    cooldown_s: int = 0

    def most_generous(self, other: Limits) -> Limits:
        """Field by field, the looser of the two (a member with two roles gets the better of each)."""

        def loose(a: int, b: int) -> int:
            return 0 if a == 0 or b == 0 else max(a, b)

        return Limits(
            daily_quota=loose(self.daily_quota, other.daily_quota),
            max_concurrent=loose(self.max_concurrent, other.max_concurrent),
            # For a cooldown, shorter is looser.
            cooldown_s=min(self.cooldown_s, other.cooldown_s),
        )


# A new guild has no limits: the fair queue already keeps one member from starving the others, and
# moderators choose limits that fit their server with /mod limits.
DEFAULT_LIMITS = Limits()


@dataclasses.dataclass(frozen=True, slots=True)
class RoleLimits:
    """A role's override of the guild limits; None inherits the guild's value."""

    role_id: int
    daily_quota: int | None = None
    max_concurrent: int | None = None
    cooldown_s: int | None = None

    def over(self, base: Limits) -> Limits:
        return Limits(
            daily_quota=base.daily_quota if self.daily_quota is None else self.daily_quota,
            max_concurrent=base.max_concurrent if self.max_concurrent is None else self.max_concurrent,
            cooldown_s=base.cooldown_s if self.cooldown_s is None else self.cooldown_s,
        )


@dataclasses.dataclass(frozen=True, slots=True)
class GuildConfig:
    guild_id: int
    limits: Limits = DEFAULT_LIMITS
    button_policy: ButtonPolicy = ButtonPolicy.ANYONE
    moderator_role_id: int | None = None
    audit_channel_id: int | None = None
    use_default_words: bool = True
    # Blocked prompts within a day that earn a timed block; 0 switches escalation off. Three forgives a
    # typo or two but not someone probing the list.
    strike_limit: int = 3
    # The first block lasts this long; each further round of strike_limit blocked prompts adds as much again.
    strike_block_minutes: int = 60
    # The output-safety check (/mod safety); None: never chosen, so the job's provider decides the default.
    safety_mode: SafetyMode | None = None
    safety_threshold: float | None = None


@dataclasses.dataclass(frozen=True, slots=True)
class Ban:
    guild_id: int
    user_id: int
    reason: str | None
    # The moderator who banned; 0 when the escalation did.
    banned_by: int
    created_at: dt.datetime
    expires_at: dt.datetime | None = None

    @property
    def automatic(self) -> bool:
        return self.banned_by == 0

    def active(self, now: dt.datetime) -> bool:
        return self.expires_at is None or self.expires_at > now


@dataclasses.dataclass(frozen=True, slots=True)
class WordEntry:
    id: int
    guild_id: int
    term: str
    is_regex: bool
    added_by: int
    added_at: dt.datetime


@dataclasses.dataclass(frozen=True, slots=True)
class MemberSettings:
    user_id: int
    aspect: str | None = None
    suffix: str = ""
    dm_on_finish: bool = False
    # Remix: pressing Vary, Pan or 🔄 opens the prompt for editing first (where the provider offers it).
    remix: bool = False


@dataclasses.dataclass(frozen=True, slots=True)
class StrikeOutcome:
    """What one blocked prompt led to: the day's count and, if the escalation fired, the block.

    ``pause_minutes`` is the length of the automatic pause: the one that just started when ``ban`` is set,
    else the one the next ``strikes_left`` blocked prompts would start (0 when the escalation is off).
    """

    strikes_today: int
    strike_limit: int
    ban: Ban | None = None
    pause_minutes: int = 0

    @property
    def strikes_left(self) -> int:
        """Blocked prompts still to go before the next automatic pause (0 when the escalation is off)."""
        if self.strike_limit <= 0:
            return 0
        return self.strike_limit - self.strikes_today % self.strike_limit


@dataclasses.dataclass(frozen=True, slots=True)
class Usage:
    """A member's standing in a guild, for /info."""

    limits: Limits
    used_today: int
    resets_at: dt.datetime
    running: int
    queued: int
    cooldown_until: dt.datetime | None
    ban: Ban | None


class AuditAction(StrEnum):
    WORD_ADDED = "word_added"
    WORD_REMOVED = "word_removed"
    DEFAULT_WORDS = "default_words"
    PROMPT_BLOCKED = "prompt_blocked"
    MEMBER_BANNED = "member_banned"
    MEMBER_UNBANNED = "member_unbanned"
    LIMITS_CHANGED = "limits_changed"
    ROLE_LIMITS_CHANGED = "role_limits_changed"
    ESCALATION_CHANGED = "escalation_changed"
    CHANNEL_ALLOWED = "channel_allowed"
    CHANNEL_DISALLOWED = "channel_disallowed"
    BUTTON_POLICY = "button_policy"
    MODERATOR_ROLE = "moderator_role"
    AUDIT_CHANNEL = "audit_channel"
    JOB_CANCELLED = "job_cancelled"
    JOB_DELETED = "job_deleted"
    ACCOUNT_RESET = "account_reset"
    JOB_FINISHED = "job_finished"
    SAFETY_CHANGED = "safety_changed"


@dataclasses.dataclass(frozen=True, slots=True)
class AuditEntry:
    id: int
    guild_id: int
    at: dt.datetime
    # The moderator or member who acted; 0 for the bot itself.
    actor_id: int
    action: AuditAction
    target_user_id: int | None = None
    job_id: str | None = None
    detail: dict[str, Any] = dataclasses.field(default_factory=dict)
