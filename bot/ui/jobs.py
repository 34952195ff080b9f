"""What the member and the moderator commands share about jobs: an id as members paste it, and a job
list a page at a time (/jobs and /mod jobs).

Here rather than in either extension, which may not import each other; here rather than in the core
because where a page ends depends on how long its rows are as :mod:`bot.ui.texts` renders them.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from bot.core.models import Job, JobStatus
from bot.ui.i18n import t
from bot.ui.texts import JOBS_PER_PAGE, job_list_page, page_start

if TYPE_CHECKING:
    from bot.core.moderation import Moderation

__all__ = ["CHOICE_NAME_MAX", "MAX_CHOICES", "PAGE_SIZE", "job_choice_name", "job_list", "parse_job_id"]

# Jobs per page of /jobs and /mod jobs at most; a page of long rows holds fewer (see job_list_page).
PAGE_SIZE = JOBS_PER_PAGE
_JOB_ID_CHARS = frozenset("0123456789abcdef")
# Discord's limits on an autocomplete answer: 25 choices, each name at most 100 characters.
MAX_CHOICES = 25
CHOICE_NAME_MAX = 100
# What a choice name leaves out of a prompt: control and format characters (zero-width, bidi overrides),
# which could hide or reorder what the member reads, and runs of whitespace.
_UNSHOWN = re.compile(r"[\x00-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff]+")


def job_choice_name(job: Job, locale: object = None) -> str:
    """An autocomplete choice for a job: ``id · status · start of the prompt``, in 100 characters.

    Discord shows a choice name as plain text (no markdown, no mentions), so the prompt is neutralised
    rather than escaped: invisible and control characters become spaces and whitespace is collapsed.
    """
    head = f"{job.id} · {t(locale, f'list.{job.status.value}')} · "
    prompt = " ".join(_UNSHOWN.sub(" ", job.prompt).split())
    room = CHOICE_NAME_MAX - len(head)
    if len(prompt) > room:
        prompt = prompt[: room - 1].rstrip() + "…"
    return head + prompt


def parse_job_id(text: str) -> str | None:
    """A job id as members paste it: with or without backticks, any case."""
    cleaned = text.strip().strip("`").strip().lower()
    return cleaned if len(cleaned) == 16 and set(cleaned) <= _JOB_ID_CHARS else None


async def job_list(
    moderation: Moderation,
    *,
    guild_id: int | None,
    user_id: int | None,
    status: JobStatus | None,
    title: str,
    show_member: bool,
    page: int,
    offset: int | None,
    locale: object = None,
) -> tuple[str, int | None]:
    """One page of a job list, newest first, and the row the next page starts at (None: nothing follows).

    ``offset`` is the row this page starts at; None (Newer, or a button from before pages were sized) lays
    the pages out from the top to find it, so going back shows exactly the page shown on the way forward.
    """
    statuses = [status] if status else None

    async def rows(limit: int, start: int) -> list[Job]:
        return await moderation.store.query_jobs(
            guild_id=guild_id, user_id=user_id, statuses=statuses, limit=limit, offset=start
        )

    if offset is None:
        # Each page holds at most PAGE_SIZE rows, so this page and one row past it lie within these.
        head = await rows((page + 1) * PAGE_SIZE + 1, 0)
        gone = [job.id for job in head if await moderation.deleted(job.id)]
        offset = page_start(
            head, title=title, page=page, show_member=show_member, deleted=gone, per_page=PAGE_SIZE, locale=locale
        )
        jobs = head[offset : offset + PAGE_SIZE + 1]
    else:
        jobs = await rows(PAGE_SIZE + 1, offset)
        gone = [job.id for job in jobs if await moderation.deleted(job.id)]
    text, shown = job_list_page(
        jobs, title=title, page=page, show_member=show_member, deleted=gone, per_page=PAGE_SIZE, locale=locale
    )
    return text, offset + shown if len(jobs) > shown else None
