"""Job list pages: every row whole, at most ten a page, under Discord's 2000 characters, none lost or repeated.

Pure functions only (bot/ui/texts.py); the end-to-end side is tests/e2e/test_pages_and_errors.py.
"""

from __future__ import annotations

import datetime as dt
import re

import pytest

from bot.core.models import Job, JobStatus
from bot.ui.render import MAX_CONTENT
from bot.ui.texts import JOBS_PER_PAGE, job_line, job_list_page, job_list_text, page_start
from tests.helpers import make_job

START = dt.datetime(2030, 1, 1, 12, tzinfo=dt.UTC)
# Snowflake-sized ids, as real ones are: the rows are as long as they get in a real server.
GUILD, CHANNEL = 1_234_567_890_123_456_789, 1_234_567_890_123_456_790
# What a whole row ends in: its jump link, or the note that replaced it.
ROW_END = re.compile(r"(\[jump\]\(https://discord\.com/channels/\d+/\d+/\d+\)|removed by a moderator)$")


def prompt_of(i: int, length: int = 80) -> str:
    """An 80-character prompt with no markdown to escape, numbered so its row can be found."""
    return f"row {i:03d} " + ("a quiet harbour at dawn with fishing boats " * 3)[: length - 8]


def jobs(count: int, *, length: int = 80, every_short: int = 0) -> list[Job]:
    """Newest first, as the store returns them; every ``every_short``-th one has a short prompt."""
    made = [
        make_job(
            user_id=987_654_321_987_654_321,
            guild_id=GUILD,
            channel_id=CHANNEL,
            message_id=1_300_000_000_000_000_000 + i,
            status=JobStatus.COMPLETED,
            prompt=prompt_of(i, 12 if every_short and i % every_short == 0 else length),
            created_at=START + dt.timedelta(minutes=i),
        )
        for i in range(count)
    ]
    return made[::-1]


def rows_of(text: str) -> list[str]:
    return text.split("\n")[1:]


def walk(listed: list[Job], *, show_member: bool, deleted: frozenset[str] = frozenset()) -> list[tuple[str, int]]:
    """Every page from the top, each starting right after the last row of the one before."""
    pages, start = [], 0
    while True:
        page = len(pages)
        text, shown = job_list_page(
            listed[start : start + JOBS_PER_PAGE + 1], title="Jobs", page=page, show_member=show_member, deleted=deleted
        )
        pages.append((text, start))
        start += shown
        if start >= len(listed):
            return pages


@pytest.mark.parametrize("show_member", [False, True])
def test_ten_long_rows_do_not_fit_so_the_page_holds_whole_rows_and_says_how_many(show_member: bool) -> None:
    listed = jobs(10)
    text, shown = job_list_page(listed, title="Your jobs in this server", page=0, show_member=show_member)
    assert len(text) <= MAX_CONTENT
    # The case: ten such rows come to more than 2000 characters, so fewer are shown, all whole.
    assert len("\n".join(job_line(j, show_member=show_member) for j in listed)) > MAX_CONTENT
    assert 0 < shown < 10
    assert rows_of(text) == [job_line(j, show_member=show_member) for j in listed[:shown]]
    assert all(ROW_END.search(row) for row in rows_of(text))
    # One more row would not have fitted: the page is as full as it can be.
    assert len(text) + 1 + len(job_line(listed[shown], show_member=show_member)) > MAX_CONTENT


def test_short_rows_fill_a_page_up_to_its_usual_count() -> None:
    listed = jobs(25, length=12)
    text, shown = job_list_page(listed, title="Jobs", page=0, show_member=True)
    assert shown == JOBS_PER_PAGE == len(rows_of(text))


@pytest.mark.parametrize(("count", "every_short"), [(10, 0), (37, 0), (41, 3), (11, 0), (1, 0)])
@pytest.mark.parametrize("show_member", [False, True])
def test_walking_the_pages_shows_every_row_once_in_order(count: int, every_short: int, show_member: bool) -> None:
    listed = jobs(count, every_short=every_short)
    deleted = frozenset(job.id for job in listed[::7])
    pages = walk(listed, show_member=show_member, deleted=deleted)
    seen = [row for text, _ in pages for row in rows_of(text)]
    assert seen == [job_line(j, show_member=show_member, deleted=j.id in deleted) for j in listed]
    for number, (text, _) in enumerate(pages):
        assert text.startswith(f"**Jobs** · page {number + 1}\n")
        assert len(text) <= MAX_CONTENT and 0 < len(rows_of(text)) <= JOBS_PER_PAGE
        assert all(ROW_END.search(row) for row in rows_of(text))


@pytest.mark.parametrize("show_member", [False, True])
def test_a_page_found_from_the_top_is_the_page_shown_on_the_way_forward(show_member: bool) -> None:
    listed = jobs(41, every_short=3)
    deleted = frozenset(job.id for job in listed[::5])
    pages = walk(listed, show_member=show_member, deleted=deleted)
    assert len(pages) > 4
    for number, (text, start) in enumerate(pages):
        assert page_start(listed, title="Jobs", page=number, show_member=show_member, deleted=deleted) == start
        again, _ = job_list_page(listed[start:], title="Jobs", page=number, show_member=show_member, deleted=deleted)
        assert again == text
    # Past the end: an empty page, not an error.
    assert page_start(listed, title="Jobs", page=len(pages) + 3, show_member=show_member) == len(listed)


def test_an_empty_list_and_an_empty_page() -> None:
    assert job_list_page([], title="Jobs", page=0, show_member=True) == ("**Jobs**\nNo jobs.", 0)
    assert job_list_page([], title="Jobs", page=2, show_member=True) == ("**Jobs**\nNo jobs on this page.", 0)


def test_job_list_text_never_cuts_a_row() -> None:
    text = job_list_text(jobs(10), title="Jobs", page=0, show_member=True)
    assert len(text) <= MAX_CONTENT and all(ROW_END.search(row) for row in rows_of(text))
