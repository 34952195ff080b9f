"""What the member and the moderator commands share about jobs: an id as members paste it, and a job
list a page at a time (/jobs and /mod jobs).

Here rather than in either extension, which may not import each other; here rather than in the core
because where a page ends depends on how long its rows are as :mod:`bot.ui.texts` renders them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from bot.core.models import Job, JobStatus
from bot.ui.texts import JOBS_PER_PAGE, job_list_page, page_start

if TYPE_CHECKING:
    from bot.core.moderation import Moderation

__all__ = ["PAGE_SIZE", "job_list", "parse_job_id"]

# Jobs per page of /jobs and /mod jobs at most; a page of long rows holds fewer (see job_list_page).
PAGE_SIZE = JOBS_PER_PAGE
_JOB_ID_CHARS = frozenset("0123456789abcdef")


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
        offset = page_start(head, title=title, page=page, show_member=show_member, deleted=gone, per_page=PAGE_SIZE)
        jobs = head[offset : offset + PAGE_SIZE + 1]
    else:
        jobs = await rows(PAGE_SIZE + 1, offset)
        gone = [job.id for job in jobs if await moderation.deleted(job.id)]
    text, shown = job_list_page(jobs, title=title, page=page, show_member=show_member, deleted=gone, per_page=PAGE_SIZE)
    return text, offset + shown if len(jobs) > shown else None
