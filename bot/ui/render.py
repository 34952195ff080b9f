"""Pure functions from a job to what its Discord message shows. No I/O: easy to test, cheap to call.

Every piece of member text that reaches a message passes through :func:`quote_prompt`, which escapes
markdown and neutralises mentions; the messages are also sent with mentions disabled, so a prompt can
neither ping anyone nor break the message's layout.
"""

from __future__ import annotations

import io
import re

import discord
from PIL import Image

from bot.core.models import ACTION_LABELS, FAILED_OVER_FROM, GRID_ACTIONS, Action, ErrorReason, Job, JobStatus
from bot.ui.i18n import t

__all__ = [
    "NO_MENTIONS",
    "encode_for_upload",
    "job_content",
    "job_link",
    "progress_bar",
    "prompt_line",
    "quote_link",
    "quote_prompt",
]

NO_MENTIONS = discord.AllowedMentions.none()
# Discord's limit on message content; the prompt is cut to leave room for the status lines.
MAX_CONTENT = 2000
PROMPT_BUDGET = 1600
BAR_WIDTH = 20
# Alt text on the uploaded image (Discord's attachment description limit is 1024).
MAX_ALT_TEXT = 1000

# Failures whose message shows the provider's own detail: it names the parameter the member can fix.
SHOWN_DETAIL_REASONS = frozenset({ErrorReason.INVALID_PARAMETER})
# Room for that detail in the message, well inside Discord's 2000 characters beside the prompt.
DETAIL_BUDGET = 200
# Failures after which the provider may or may not have made the image: the member decides whether to
# send it again (🔄), since the bot never does so on a guess.
RETRY_REASONS = frozenset({ErrorReason.INTERRUPTED, ErrorReason.UNCONFIRMED})

# Characters that steer text direction or hide themselves; shown escaped so a prompt cannot reorder
# the rest of the message.
_INVISIBLE = re.compile(r"[\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff]")
_SHORT_MENTION = re.compile(r"<[@#](?=[!&]?\d)")
# An image link as shown: http(s) only, and every character outside this set percent-encoded.
_LINK_SCHEME = re.compile(r"https?://", re.IGNORECASE)
_LINK_UNSAFE = re.compile(r"[^A-Za-z0-9\-.:/?=&%+,;]+")
MAX_LINK = 400


def quote_prompt(text: str, limit: int = PROMPT_BUDGET) -> str:
    """Member text made safe to show: no markdown, no mentions, no invisible steering, bounded."""
    text = _INVISIBLE.sub(lambda m: f"\\u{ord(m[0]):04x}", text)
    text = re.sub(r"[\x00-\x08\x0b-\x1f\x7f]", " ", text).replace("\n", " ")
    text = discord.utils.escape_markdown(text)
    # A zero-width space after @ keeps "@everyone" readable and inert even if mentions were allowed.
    text = discord.utils.escape_mentions(text)
    # escape_mentions knows only snowflake-sized ids; Discord draws <@&1> or <#5> as a mention too.
    text = _SHORT_MENTION.sub(lambda m: f"{m[0]}\u200b", text)
    # Cut after escaping: escapes can double a markdown-heavy prompt, which would push the job's status
    # past Discord's 2000 characters. An odd run of backslashes left at the cut would escape what follows.
    if len(text) > limit:
        text = text[: limit - 1]
        if (len(text) - len(text.rstrip("\\"))) % 2:
            text = text[:-1]
        text += "…"
    return text


def progress_bar(percent: int) -> str:
    filled = round(BAR_WIDTH * max(0, min(100, percent)) / 100)
    return "█" * filled + "░" * (BAR_WIDTH - filled)


def action_title(action: Action, locale: object = None) -> str:
    if action.is_upscale:
        return t(locale, "action.upscale", tile=action.tile)
    if action.is_variation:
        return t(locale, "action.variation", tile=action.tile)
    if action is Action.IMAGINE:
        return ""
    return t(locale, f"action.{action.value}")


def status_word(status: JobStatus, locale: object = None) -> str:
    return t(locale, f"status.{status.value}")


def reason_text(reason: ErrorReason, locale: object = None) -> str:
    """An error reason's member-facing sentence in ``locale`` (English, from bot/core/models.py, as fallback)."""
    return t(locale, f"reason.{reason.value}")


def job_link(job: Job, message_id: int | None = None) -> str | None:
    message_id = message_id or job.message_id
    if message_id is None:
        return None
    return f"https://discord.com/channels/{job.guild_id or '@me'}/{job.channel_id}/{message_id}"


def quote_link(url: str) -> str | None:
    """An image link made inert: percent-encoded outside a small safe set (so no markdown, mention, angle
    bracket or space survives), wrapped in <> so Discord draws it as a link without an embed. None for a
    link that is not http(s) or too long to show."""
    if not _LINK_SCHEME.match(url):
        return None
    safe = _LINK_UNSAFE.sub(lambda m: "".join(f"%{b:02X}" for b in m[0].encode()), url)
    return f"<{safe}>" if len(safe) <= MAX_LINK else None


def prompt_line(job: Job, limit: int = PROMPT_BUDGET) -> str:
    """What was sent, as Midjourney's line shows it: the starting images as links, then the prompt with
    every parameter applied (the member's /settings suffix and aspect, the command's aspect), escaped.

    A job stored before ``prompt_final`` existed shows the prompt as typed.
    """
    links: list[str] = []
    room = limit // 2
    for url in job.image_urls_in:
        link = quote_link(url)
        if link is None or len(link) + 1 > room:
            link = "[image]" if room >= 8 else ""
        if not link:
            break
        links.append(link)
        room -= len(link) + 1
    text = job.prompt_final or job.prompt
    head = " ".join(links)
    rest = limit - len(head) - (1 if head else 0)
    return " ".join(p for p in (head, quote_prompt(text, max(rest, 1))) if p)


def job_content(job: Job, *, queue_position: int | None = None, locale: object = None) -> str:
    """The message text for a job in any state, in ``locale`` (by default the server's, stored on the job)."""
    locale = job.locale if locale is None else locale
    title = action_title(job.action, locale)
    if job.action.is_upscale and (job.provider_data.get("kind") == "clip" or is_video(job.result_url)):
        # U1-U4 on a video picks one of its clips (Midjourney's video grid): a clip, not an image.
        title = t(locale, "action.clip", tile=job.action.tile)
    head = f"**{prompt_line(job)}** - <@{job.user_id}>"
    if title:
        head += f" · {title}"
    status = job.status
    word = status_word(status, locale)
    footer = "-# " + t(locale, "job.footer", id=job.id)
    previous = job.provider_data.get(FAILED_OVER_FROM)
    if isinstance(previous, str) and previous != job.provider:
        # Provider names come from the settings (never from a member): shown as they are.
        footer += " · " + t(locale, "job.failed_over", provider=job.provider, previous=previous)
    if status is JobStatus.COMPLETED:
        body = footer
    elif status.terminal:
        reason = reason_text(job.error, locale) if job.error else word
        if job.error in SHOWN_DETAIL_REASONS and job.error_detail:
            # The provider's own words name the flag to fix; escaped like any member text.
            detail = quote_prompt(job.error_detail, DETAIL_BUDGET)
            reason += "\n> " + t(locale, "job.service_said", detail=detail)
        body = f"❌ **{word}:** {reason}\n{footer}"
    elif status is JobStatus.QUEUED:
        where = t(locale, "job.queue_position", position=queue_position) if queue_position else ""
        body = f"⏳ {word}{where}\n{footer}"
    else:
        body = f"`{progress_bar(job.progress)}` {job.progress}% · {word}\n{footer}"
    return f"{head}\n{body}"[:MAX_CONTENT]


def result_actions(job: Job) -> list[Action]:
    """The buttons a finished job shows: the provider's offer, laid out in Midjourney's order.

    A job that ended without knowing whether the provider made it offers 🔄 alone, which sends it again
    as a new job (see RETRY_REASONS).
    """
    if job.status is not JobStatus.COMPLETED:
        return [Action.REROLL] if job.error in RETRY_REASONS else []
    offered = set(job.actions)
    if job.action.makes_grid:
        ordered = [a for a in GRID_ACTIONS if a in offered]
        ordered += [a for a in Action if a in offered and a not in ordered and a not in (Action.IMAGINE, Action.BLEND)]
    else:
        ordered = [a for a in Action if a in offered and a not in (Action.IMAGINE, Action.BLEND)]
    return ordered


def button_label(action: Action, locale: object = None) -> tuple[str | None, str | None]:
    """(label, emoji) for an action's button; worded labels (Vary, Zoom, Upscale) in ``locale``."""
    if action is Action.REROLL:
        return None, ACTION_LABELS[action]
    if action in (Action.PAN_LEFT, Action.PAN_RIGHT, Action.PAN_UP, Action.PAN_DOWN):
        return None, ACTION_LABELS[action]
    if action.is_upscale or action.is_variation:
        return ACTION_LABELS[action], None
    return t(locale, f"action.{action.value}"), None


_VARY_ZOOM = frozenset(
    {Action.VARY_STRONG, Action.VARY_SUBTLE, Action.ZOOM_OUT_2X, Action.ZOOM_OUT_1_5X, Action.CUSTOM_ZOOM}
)
_PANS = frozenset({Action.PAN_LEFT, Action.PAN_RIGHT, Action.PAN_UP, Action.PAN_DOWN})
_UPSCALES = frozenset({Action.UPSCALE_SUBTLE, Action.UPSCALE_CREATIVE})
# Results that are a video rather than a picture: attached as they are, never re-encoded as an image.
VIDEO_SUFFIXES = (".mp4", ".webm", ".gif")


def is_video(url: str | None) -> bool:
    return bool(url) and str(url).lower().split("?", 1)[0].endswith(VIDEO_SUFFIXES)


def button_rows(actions: list[Action]) -> list[list[Action]]:
    """Split buttons into Discord rows of at most five, in Midjourney's rows.

    A grid keeps U (and 🔄) on top and V below. After an upscale: Vary and Zoom on one row, the four pans
    on the next, the upscales after, anything else last.
    """
    if actions and all(a in GRID_ACTIONS for a in actions):
        top = [a for a in actions if a.is_upscale or a is Action.REROLL]
        bottom = [a for a in actions if a.is_variation]
        return [row for row in (top, bottom) if row]
    groups = (
        [a for a in actions if a in _VARY_ZOOM],
        [a for a in actions if a in _PANS],
        [a for a in actions if a in _UPSCALES],
        [a for a in actions if a not in _VARY_ZOOM | _PANS | _UPSCALES],
    )
    return [group[i : i + 5] for group in groups for i in range(0, len(group), 5)]


def alt_text(job: Job) -> str:
    # A blend has no prompt: its alt text says what it is rather than nothing.
    return job.prompt[:MAX_ALT_TEXT] or action_title(job.action, job.locale) or "image"


def encode_for_upload(data: bytes, limit: int | None, filename: str = "grid.png") -> tuple[bytes, str]:
    """Return image bytes that fit under ``limit``: the original, else JPEG at falling quality and size."""
    if limit is None or len(data) <= limit:
        return data, filename
    stem = filename.rsplit(".", 1)[0]
    with Image.open(io.BytesIO(data)) as source:
        image = source.convert("RGB")
    scale = 1.0
    while True:
        for quality in (90, 80, 65, 50):
            buffer = io.BytesIO()
            resized = image if scale == 1.0 else image.resize((int(image.width * scale), int(image.height * scale)))
            resized.save(buffer, format="JPEG", quality=quality, optimize=True)
            if buffer.tell() <= limit:
                return buffer.getvalue(), f"{stem}.jpg"
        scale *= 0.7
        if image.width * scale < 64:
            raise ValueError("the image cannot be made small enough to upload")
