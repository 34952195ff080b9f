"""Community moderation and member self-service, without Discord: banned words, sanctions, limits,
member settings, the audit trail and statistics. Public face: :class:`Moderation`."""

from bot.core.moderation.matcher import InvalidTerm, Term, Verdict, WordFilter, normalize
from bot.core.moderation.policy import (
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
)
from bot.core.moderation.service import GuildState, Moderation, Stats

__all__ = [
    "AuditAction",
    "AuditEntry",
    "Ban",
    "ButtonPolicy",
    "GuildConfig",
    "GuildState",
    "InvalidTerm",
    "Limits",
    "MemberSettings",
    "Moderation",
    "Refusal",
    "RoleLimits",
    "Stats",
    "StrikeOutcome",
    "Term",
    "Usage",
    "Verdict",
    "WordFilter",
    "normalize",
]
