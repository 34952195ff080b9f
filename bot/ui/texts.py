"""Pure text for the moderation and member commands: refusals, job lists, statistics, audit lines.

No I/O. Member text goes through :func:`quote_prompt`; user and channel mentions are written as
``<@id>``/``<#id>`` and rely on every message being sent with mentions disabled. Every function keeps
its result under Discord's 2000-character content limit.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Sequence

from bot.core.errors import InputError
from bot.core.models import ErrorReason, Job, JobStatus
from bot.core.moderation import (
    AuditAction,
    AuditEntry,
    Ban,
    GuildState,
    Limits,
    MemberSettings,
    Refusal,
    Stats,
    StrikeOutcome,
    Usage,
    Verdict,
)
from bot.core.safety import SafetyMode, SafetyPolicy
from bot.ui.i18n import language, t
from bot.ui.render import MAX_CONTENT, job_link, quote_prompt, reason_text

__all__ = [
    "audit_text",
    "ban_text",
    "blocked_text",
    "duration_text",
    "info_text",
    "job_list_page",
    "job_list_text",
    "limits_text",
    "page_start",
    "pause_text",
    "refusal_text",
    "settings_text",
    "stats_text",
    "when",
    "words_text",
]

# How much of a prompt a one-line listing shows.
LIST_PROMPT = 80
# Rows of a job list page at most; fewer when long rows would pass Discord's 2000 characters.
JOBS_PER_PAGE = 10
# How much of a prompt an audit-channel post shows.
AUDIT_PROMPT = 600
# Channels named in a "use the bot over there" pointer.
MAX_POINTED_CHANNELS = 10

STATUS_ICONS = {
    JobStatus.QUEUED: "⏳",
    JobStatus.SUBMITTED: "🚀",
    JobStatus.RUNNING: "🎨",
    JobStatus.COMPLETED: "✅",
    JobStatus.FAILED: "❌",
    JobStatus.MODERATED: "🚫",
    JobStatus.CANCELLED: "⏹️",
    JobStatus.TIMED_OUT: "⌛",
}


def when(moment: dt.datetime, style: str = "R") -> str:
    """A Discord timestamp, shown in each reader's own time zone and language."""
    return f"<t:{int(moment.timestamp())}:{style}>"


def code(text: str, limit: int = 200) -> str:
    """Member text inside an inline code span: shown literally, so only the backticks need taming."""
    text = re.sub(r"[\x00-\x1f\x7f\u200b-\u200f\u202a-\u202e\u2066-\u2069]", " ", text).replace("`", "ˋ")
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _cap(text: str) -> str:
    return text if len(text) <= MAX_CONTENT else text[: MAX_CONTENT - 1] + "…"


# -- refusals ------------------------------------------------------------------------------------------


def ban_text(ban: Ban, locale: object = None) -> str:
    text = reason_text(ErrorReason.MEMBER_BANNED, locale)
    if ban.expires_at is not None:
        text += t(locale, "ban.ends", when=when(ban.expires_at))
    if ban.automatic:
        text += t(locale, "ban.automatic")
    elif ban.reason:
        text += t(locale, "ban.reason", reason=quote_prompt(ban.reason, 300))
    return text


def refusal_text(refusal: Refusal, locale: object = None) -> str:
    """Why a job was refused, in ``locale`` (the member's)."""
    reason = refusal.reason
    if reason is ErrorReason.MEMBER_BANNED and refusal.ban is not None:
        return ban_text(refusal.ban, locale)
    if reason is ErrorReason.QUOTA_REACHED and refusal.limit is not None:
        text = t(locale, "refusal.quota", used=refusal.used, limit=refusal.limit)
        if refusal.retry_at is not None:
            text += t(locale, "refusal.quota_resets", when=when(refusal.retry_at))
        return text
    if reason is ErrorReason.TOO_MANY_JOBS and refusal.limit is not None:
        return t(locale, "refusal.too_many", used=refusal.used, limit=refusal.limit)
    if reason is ErrorReason.COOLDOWN and refusal.retry_at is not None:
        return t(locale, "refusal.cooldown", when=when(refusal.retry_at))
    return reason_text(reason, locale)


def input_text(error: Exception, locale: object = None) -> str:
    """A refused input, for the member: in English the core's own sentence; in another language the reason's
    sentence in it, with the core's exact detail (English, naming the parameter) quoted below."""
    if language(locale) == "en" or not isinstance(error, InputError):
        return str(error)
    if error.detail is None:
        return reason_text(error.reason, locale)
    return f"{reason_text(error.reason, locale)}\n> {quote_prompt(error.detail, 300)}"


def channel_pointer(state: GuildState, locale: object = None) -> str:
    channels = sorted(state.channels)
    named = ", ".join(f"<#{c}>" for c in channels[:MAX_POINTED_CHANNELS])
    extra = len(channels) - MAX_POINTED_CHANNELS
    more = t(locale, "refusal.channel_more", count=extra) if extra > 0 else ""
    reason = reason_text(ErrorReason.CHANNEL_NOT_ALLOWED, locale)
    return t(locale, "refusal.channel", reason=reason, channels=named, more=more)


def blocked_text(verdict: Verdict, outcome: StrikeOutcome | None = None, locale: object = None) -> str:
    """The one private answer to a blocked prompt: what matched, then where the member stands.

    The second part is worded apart from the first: how many more blocked prompts today before the bot
    pauses for them and for how long, or, when this one reached the limit, that they are paused now.
    """
    if not verdict.hits:
        return t(locale, "blocked.unchecked", reason=reason_text(ErrorReason.PROMPT_UNCHECKED, locale))
    excerpt = quote_prompt(verdict.hits[0].excerpt, 60)
    text = t(locale, "blocked.matched", reason=reason_text(ErrorReason.BLOCKED_PROMPT, locale), excerpt=excerpt)
    if outcome is not None:
        if outcome.ban is not None:
            text += "\n" + pause_text(outcome, outcome.ban, locale)
        elif outcome.strike_limit:
            left = outcome.strikes_left
            pause = ""
            if outcome.pause_minutes > 0:
                pause = t(locale, "blocked.pause_for", duration=duration_text(outcome.pause_minutes, locale))
            text += "\n" + t(locale, "blocked.left_one" if left == 1 else "blocked.left_many", left=left, pause=pause)
    return text


def pause_text(outcome: StrikeOutcome, ban: Ban, locale: object = None) -> str:
    """The escalation just fired: the member is paused now, for how long, and until when."""
    pause = ""
    if outcome.pause_minutes > 0:
        pause = t(locale, "blocked.pause_for", duration=duration_text(outcome.pause_minutes, locale))
    ends = t(locale, "pause.ends", when=when(ban.expires_at)) if ban.expires_at is not None else ""
    return t(locale, "pause.now", strikes=outcome.strikes_today, pause=pause, ends=ends)


def duration_text(minutes: int, locale: object = None) -> str:
    """``30 minutes``, ``an hour``, ``1 hour 30 minutes``, ``2 days``: a pause length as a member reads it."""
    days, rest = divmod(max(0, minutes), 1440)
    hours, mins = divmod(rest, 60)
    amounts = [(amount, unit) for amount, unit in ((days, "day"), (hours, "hour"), (mins, "minute")) if amount]
    if len(amounts) == 1 and amounts[0][0] == 1:
        return t(locale, f"duration.{amounts[0][1]}")
    parts = [
        t(locale, f"duration.one_{unit}") if n == 1 else t(locale, f"duration.{unit}s", n=n) for n, unit in amounts
    ]
    return t(locale, "duration.join").join(parts) or t(locale, "duration.moment")


# -- lists ------------------------------------------------------------------------------------------


def job_line(job: Job, *, show_member: bool, deleted: bool = False, locale: object = None) -> str:
    parts = [f"`{job.id}`", f"{STATUS_ICONS[job.status]} {t(locale, f'list.{job.status.value}')}"]
    if show_member:
        parts.append(f"<@{job.user_id}>")
    parts.append(when(job.created_at))
    parts.append(quote_prompt(job.prompt, LIST_PROMPT))
    link = job_link(job)
    if deleted:
        parts.append(t(locale, "list.removed"))
    elif link:
        parts.append(t(locale, "list.jump", link=link))
    return " · ".join(parts)


def job_list_page(
    jobs: Sequence[Job],
    *,
    title: str,
    page: int,
    show_member: bool,
    deleted: Iterable[str] = (),
    per_page: int = JOBS_PER_PAGE,
    locale: object = None,
) -> tuple[str, int]:
    """One page of a job list and how many of ``jobs`` it shows.

    ``jobs`` are the rows from this page's first one on, newest first. Rows are added whole, in order,
    while the text stays within Discord's 2000 characters and the page holds at most ``per_page``; the
    next page starts right after the last row shown. The first row is always shown (no row comes near
    the limit on its own), so a list always moves forward.
    """
    gone = set(deleted)
    if not jobs:
        return f"**{title}**\n" + t(locale, "list.empty_page" if page else "list.empty"), 0
    text = f"**{title}** · " + t(locale, "list.page", page=page + 1)
    shown = 0
    for job in jobs[: max(1, per_page)]:
        line = job_line(job, show_member=show_member, deleted=job.id in gone, locale=locale)
        if shown and len(text) + 1 + len(line) > MAX_CONTENT:
            break
        text += "\n" + line
        shown += 1
    return _cap(text), shown


def page_start(
    jobs: Sequence[Job],
    *,
    title: str,
    page: int,
    show_member: bool,
    deleted: Iterable[str] = (),
    per_page: int = JOBS_PER_PAGE,
    locale: object = None,
) -> int:
    """Where page ``page`` of a list begins, given the list from its first row on.

    Pages are laid out from the top, as :func:`job_list_page` fills them, so a page reached by going back
    is the very page that was shown on the way forward. ``len(jobs)`` when the list ends before that page.
    """
    gone = frozenset(deleted)
    start = 0
    for number in range(max(0, page)):
        if start >= len(jobs):
            break
        _, shown = job_list_page(
            jobs[start:],
            title=title,
            page=number,
            show_member=show_member,
            deleted=gone,
            per_page=per_page,
            locale=locale,
        )
        start += shown
    return min(start, len(jobs))


def job_list_text(jobs: Sequence[Job], *, title: str, page: int, show_member: bool, deleted: Iterable[str] = ()) -> str:
    """A page of ``jobs``: as many whole rows as fit, never a row cut in the middle."""
    text, _ = job_list_page(
        jobs, title=title, page=page, show_member=show_member, deleted=deleted, per_page=max(1, len(jobs))
    )
    return text


def words_text(state: GuildState, locale: object = None) -> str:
    config = state.config
    lines = [
        t(locale, "mod.words_title"),
        t(locale, "mod.words_builtin_on" if config.use_default_words else "mod.words_builtin_off"),
    ]
    if not state.words:
        lines.append(t(locale, "mod.words_none"))
    for word in state.words:
        kind = t(locale, "mod.kind_regex" if word.is_regex else "mod.kind_phrase")
        lines.append(t(locale, "mod.words_line", kind=kind, term=code(word.term), by=word.added_by))
    text = "\n".join(lines)
    if len(text) > MAX_CONTENT:
        shown = text[: MAX_CONTENT - 60].rsplit("\n", 1)[0]
        hidden = text.count("\n") - shown.count("\n")
        text = f"{shown}\n" + t(locale, "mod.and_more", count=hidden)
    return text


def safety_text(policies: Sequence[tuple[str, SafetyPolicy]], scorer: str, ready: bool, locale: object = None) -> str:
    """/mod safety: the policy in force for each configured provider, and what does the scoring."""
    chosen = any(policy.chosen for _, policy in policies)
    lines = [t(locale, "safety.title_chosen" if chosen else "safety.title_default")]
    for provider, policy in policies:
        where = "" if policy.chosen else t(locale, "safety.default_for_provider")
        if policy.mode is SafetyMode.OFF:
            threshold = ""
        else:
            threshold = t(locale, "safety.threshold", threshold=f"{policy.threshold:.2f}")
        mode = t(locale, f"safety.mode.{policy.mode.value}")
        lines.append(f"- `{provider}`: {mode}{threshold}{where}")
    if not ready:
        lines.append(t(locale, "safety.not_ready"))
    lines.append(t(locale, "safety.footer", scorer=scorer))
    return "\n".join(lines)


def limits_text(state: GuildState, locale: object = None) -> str:
    config = state.config

    def describe(limits: Limits) -> str:
        quota = t(locale, "mod.quota", n=limits.daily_quota) if limits.daily_quota else t(locale, "mod.no_quota")
        if limits.max_concurrent:
            running = t(locale, "mod.at_a_time", n=limits.max_concurrent)
        else:
            running = t(locale, "mod.no_at_a_time")
        cooldown = t(locale, "mod.cooldown", n=limits.cooldown_s) if limits.cooldown_s else t(locale, "mod.no_cooldown")
        return t(locale, "mod.limits_join", quota=quota, running=running, cooldown=cooldown)

    lines = [t(locale, "mod.limits_title"), t(locale, "mod.limits_everyone", limits=describe(config.limits))]
    for role_id, override in sorted(state.role_limits.items()):
        lines.append(t(locale, "mod.limits_role", role=role_id, limits=describe(override.over(config.limits))))
    if config.strike_limit:
        lines.append(t(locale, "mod.escalation", strikes=config.strike_limit, minutes=config.strike_block_minutes))
    else:
        lines.append(t(locale, "mod.escalation_off"))
    channels = " ".join(f"<#{c}>" for c in sorted(state.channels)) or t(locale, "mod.every_channel")
    lines.append(t(locale, "mod.channels_some", channels=channels))
    policy = t(locale, "mod.buttons_anyone" if config.button_policy.value == "anyone" else "mod.buttons_owner")
    lines.append(t(locale, "mod.policy_set", policy=policy))
    role = f"<@&{config.moderator_role_id}>" if config.moderator_role_id else t(locale, "mod.no_moderator_role")
    lines.append(t(locale, "mod.moderator_role", role=role))
    audit = f"<#{config.audit_channel_id}>" if config.audit_channel_id else t(locale, "settings.off")
    lines.append(t(locale, "mod.audit_channel", channel=audit))
    return _cap("\n".join(lines))


def bans_text(bans: Sequence[Ban], locale: object = None) -> str:
    if not bans:
        return t(locale, "mod.bans_none")
    lines = [t(locale, "mod.bans_title")]
    for ban in bans:
        if ban.expires_at:
            until = t(locale, "mod.until", when=when(ban.expires_at, "f"))
        else:
            until = t(locale, "mod.until_lifted")
        by = t(locale, "mod.by_automatic") if ban.automatic else t(locale, "mod.by", member=ban.banned_by)
        reason = f" · {quote_prompt(ban.reason, 100)}" if ban.reason else ""
        lines.append(f"- <@{ban.user_id}> {until} · {by}{reason}")
    return _cap("\n".join(lines))


def stats_text(stats: Stats, days: int, provider_submits: int | None = None, locale: object = None) -> str:
    title = t(locale, "mod.stats_title_one" if days == 1 else "mod.stats_title", days=days, total=stats.total)
    lines = [title]
    if stats.by_status:
        lines.append(
            " · ".join(
                f"{STATUS_ICONS[s]} {t(locale, f'list.{s.value}')} {n}" for s, n in sorted(stats.by_status.items())
            )
        )
    failed = sum(n for s, n in stats.by_status.items() if s is not JobStatus.COMPLETED and s.terminal)
    if stats.total:
        lines.append(t(locale, "mod.stats_failures", failed=failed, percent=failed * 100 // stats.total))
    if stats.top_errors:
        lines.append(t(locale, "mod.stats_top_errors"))
        for error, count in stats.top_errors:
            try:
                label = t(locale, f"reason.{ErrorReason(error).value}")
            except ValueError:
                label = error
            lines.append(f"- {count} × {label}")
    if stats.top_members:
        lines.append(t(locale, "mod.stats_members"))
        for user_id, jobs, completed in stats.top_members:
            lines.append(t(locale, "mod.stats_member", member=user_id, jobs=jobs, completed=completed))
    lines.append(t(locale, "mod.stats_blocked", blocked=stats.blocked_prompts, bans=stats.active_bans))
    if provider_submits is not None:
        lines.append(t(locale, "mod.stats_submits", submits=provider_submits))
    return _cap("\n".join(lines))


# -- members ----------------------------------------------------------------------------------------


def settings_text(settings: MemberSettings, locale: object = None) -> str:
    aspect = settings.aspect or t(locale, "settings.aspect_unset")
    suffix = f"`{code(settings.suffix)}`" if settings.suffix else t(locale, "settings.none")
    dm = t(locale, "settings.on" if settings.dm_on_finish else "settings.off")
    remix = t(locale, "settings.remix", state=t(locale, "settings.on" if settings.remix else "settings.off"))
    return t(locale, "settings.text", aspect=aspect, suffix=suffix, dm=dm) + "\n" + remix


def info_text(usage: Usage, queue: Sequence[tuple[str, int | None]], locale: object = None) -> str:
    limits = usage.limits
    if limits.daily_quota:
        left = max(0, limits.daily_quota - usage.used_today)
        today = t(locale, "info.quota", used=usage.used_today, quota=limits.daily_quota, left=left)
    else:
        today = t(locale, "info.no_quota", used=usage.used_today)
    lines = [t(locale, "info.title"), t(locale, "info.today", today=today, when=when(usage.resets_at))]
    at_a_time = t(locale, "info.at_a_time", limit=limits.max_concurrent) if limits.max_concurrent else ""
    lines.append(t(locale, "info.running", running=usage.running, queued=usage.queued, at_a_time=at_a_time))
    for job_id, position in queue:
        where = t(locale, "info.position", position=position) if position else t(locale, "info.about_to_start")
        lines.append(t(locale, "info.job", id=job_id, where=where))
    if usage.cooldown_until is not None:
        lines.append(t(locale, "info.cooldown", when=when(usage.cooldown_until)))
    if usage.ban is not None:
        lines.append(ban_text(usage.ban, locale))
    return _cap("\n".join(lines))


# -- the audit channel ------------------------------------------------------------------------------

# What the audit channel says a moderator did, by action: keys of the i18n catalogue ("{kind}" is the
# word's kind, itself translated).
_ACTION_WORDS = {
    AuditAction.WORD_ADDED: "audit.word_added",
    AuditAction.WORD_REMOVED: "audit.word_removed",
    AuditAction.LIMITS_CHANGED: "audit.limits_changed",
    AuditAction.ROLE_LIMITS_CHANGED: "audit.role_limits_changed",
    AuditAction.ESCALATION_CHANGED: "audit.escalation_changed",
    AuditAction.CHANNEL_ALLOWED: "audit.channel_allowed",
    AuditAction.CHANNEL_DISALLOWED: "audit.channel_disallowed",
    AuditAction.BUTTON_POLICY: "audit.button_policy",
    AuditAction.MODERATOR_ROLE: "audit.moderator_role",
    AuditAction.AUDIT_CHANNEL: "audit.audit_channel",
    AuditAction.DEFAULT_WORDS: "audit.default_words",
    AuditAction.ACCOUNT_RESET: "audit.account_reset",
    AuditAction.SAFETY_CHANGED: "audit.safety_changed",
}


# The settings an audit entry can name, each with its words in the catalogue ("audit.field.<name>").
_FIELDS = frozenset(
    {"daily_quota", "max_concurrent", "cooldown_s", "strike_limit", "strike_block_minutes", "button_policy",
     "moderator_role_id", "audit_channel_id", "use_default_words", "channel_id", "role_id", "cleared", "account",
     "safety_mode", "safety_threshold"}
)  # fmt: skip


def _settings_detail(detail: dict[str, object], locale: object = None) -> str:
    shown = []
    for key, value in detail.items():
        if value is None or (key == "cleared" and not value):
            continue
        if key in ("channel_id", "audit_channel_id"):
            value = f"<#{int(str(value))}>"
        elif key in ("role_id", "moderator_role_id"):
            value = f"<@&{int(str(value))}>"
        else:
            value = quote_prompt(str(value), 100)
        name = t(locale, f"audit.field.{key}") if key in _FIELDS else key.replace("_", " ")
        shown.append(f"{name}: {value}")
    return ", ".join(shown)


def audit_text(entry: AuditEntry, locale: object = None) -> str:
    """One audit-channel post for one entry, in ``locale`` (the server's)."""
    detail = entry.detail
    actor = t(locale, "audit.the_bot") if entry.actor_id == 0 else f"<@{entry.actor_id}>"
    target = f"<@{entry.target_user_id}>" if entry.target_user_id else t(locale, "audit.a_member")
    action = entry.action
    if action is AuditAction.JOB_FINISHED:
        status = JobStatus(str(detail.get("status")))
        word = t(locale, f"list.{status.value}")
        head = f"{STATUS_ICONS[status]} **{word}** · {target} · `{detail.get('provider')}`"
        head += f" · {detail.get('action')} · " + t(locale, "audit.job", id=entry.job_id)
        if detail.get("message_id"):
            link = (
                f"https://discord.com/channels/{entry.guild_id}/{detail.get('channel_id')}/{detail.get('message_id')}"
            )
            head += " · " + t(locale, "audit.message_link", link=link)
        error = detail.get("error")
        if error:
            try:
                head += "\n" + t(locale, f"reason.{ErrorReason(str(error)).value}")
            except ValueError:
                head += f"\n{error}"
        score = detail.get("safety_score")
        if error == ErrorReason.IMAGE_WITHHELD.value or detail.get("spoiler"):
            shown = "withheld" if error == ErrorReason.IMAGE_WITHHELD.value else "posted behind a spoiler"
            scored = f"scored {float(str(score)):.2f}" if score is not None else "could not be checked"
            head += f"\n🛡️ Safety check: the image {scored} and was {shown}."
        return _cap(f"{head}\n> {quote_prompt(str(detail.get('prompt', '')), AUDIT_PROMPT)}")
    if action is AuditAction.PROMPT_BLOCKED:
        text = t(
            locale,
            "audit.prompt_blocked",
            target=target,
            term=code(str(detail.get("term")), 100),
            strikes=detail.get("strikes"),
        )
        return _cap(f"{text}\n> {quote_prompt(str(detail.get('prompt', '')), AUDIT_PROMPT)}")
    if action is AuditAction.MEMBER_BANNED:
        minutes = detail.get("minutes")
        span = t(locale, "audit.for_minutes", minutes=minutes) if minutes else t(locale, "audit.until_lifted")
        reason = f": {quote_prompt(str(detail['reason']), 300)}" if detail.get("reason") else ""
        return _cap("🛡️ " + t(locale, "audit.banned", actor=actor, target=target, span=span) + reason)
    if action is AuditAction.MEMBER_UNBANNED:
        return "🛡️ " + t(locale, "audit.unbanned", actor=actor, target=target)
    if action is AuditAction.JOB_CANCELLED:
        return "🛡️ " + t(locale, "audit.cancelled", actor=actor, id=entry.job_id, target=target)
    if action is AuditAction.JOB_DELETED:
        reason = f": {quote_prompt(str(detail['reason']), 300)}" if detail.get("reason") else ""
        return _cap("🛡️ " + t(locale, "audit.deleted", actor=actor, id=entry.job_id, target=target) + reason)
    kind = t(locale, "mod.kind_regex" if detail.get("kind") == "regex" else "mod.kind_phrase")
    if detail.get("kind") not in ("regex", "phrase"):
        kind = t(locale, "audit.kind_word")
    key = _ACTION_WORDS.get(action)
    words = t(locale, key, kind=kind) if key else action.value.replace("_", " ")
    if action in (AuditAction.WORD_ADDED, AuditAction.WORD_REMOVED):
        return _cap(f"🛡️ {actor} {words}: `{code(str(detail.get('term')))}`")
    extra = _settings_detail(detail, locale)
    return _cap(f"🛡️ {actor} {words}{f' ({extra})' if extra else ''}")
