"""Community moderation and member self-service, without Discord: banned words, sanctions, limits,
member settings, the audit trail and statistics. Public face: :class:`Moderation`.

The modules, one job each (the tables each owns in brackets; ``jobs`` belongs to the store):

* ``policy``: the vocabulary, plain values; ``matcher`` and ``defaults``: the word filter;
* ``rules``: what is stored, a guild's rules and their cached snapshot (mod_guild_config, mod_words,
  mod_bans, mod_strikes, mod_role_limits, mod_channels);
* ``admission``: what is admitted, limits checked under the store's transaction, usage reported;
* ``audit``: what is audited, the audit trail and its listeners (mod_audit);
* ``stats``: what is counted, statistics and pages of jobs;
* ``members``: member settings (member_settings);
* ``service``: :class:`Moderation`, which composes them.
"""

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
from bot.core.moderation.rules import GuildState
from bot.core.moderation.service import Moderation
from bot.core.moderation.stats import Stats

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
