"""Job lists that lose no row, and failures that still get an answer, end to end through the local Discord.

Pages: with long prompts a page of ``/jobs`` or ``/mod jobs`` holds fewer than ten rows, every one whole,
and Older leads on from exactly the row after the last one shown, to the end of the list; Newer comes
back to the very page shown before.

Failures: a command or a button that fails gets the polite answer, privately, and the bot writes one log
record about it. The failures are made deterministic from outside the bot: a job row it cannot read
(its parameters are not JSON), or the database held locked by the test past the bot's busy timeout.

One bot serves the module, with instant jobs; each test uses members of its own.
"""

from __future__ import annotations

import contextlib
import re
import sqlite3
from collections.abc import Iterator
from typing import Any

import pytest

from bot.ui.render import MAX_CONTENT
from bot.ui.replies import FAILED, SAVE_FAILED
from tests.e2e.harness import button_ids, message_buttons
from tests.e2e.moderation_support import World, answer, final, idle, jobs_of, module_world, new_member, run
from tests.helpers import wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.asyncio(loop_scope="module")]

world = module_world()

# A whole row: id, status, (member,) time, prompt, and its jump link at the very end.
ROW = re.compile(
    r"^`(?P<id>[0-9a-f]{16})` · .+ · <t:\d+:R> · .+ · \[jump\]\(https://discord\.com/channels/\d+/\d+/\d+\)$"
)


def long_prompt(tag: str, i: int) -> str:
    """80 characters, the most a list row shows, with nothing for markdown escaping to lengthen."""
    return f"{tag} {i:02d} " + ("a quiet harbour at dawn with fishing boats and gulls " * 3)[: 76 - len(tag)]


async def imagine_all(world: World, member: str, tag: str, count: int) -> None:
    for i in range(count):
        await answer(world, await world.ld.invoke(member, "imagine", "imagine", {"prompt": long_prompt(tag, i)}))
    await idle(world)


def button(message: dict[str, Any], label: str) -> dict[str, Any] | None:
    return next((b for b in message_buttons(message) if label in b.get("label", "")), None)


async def turn(world: World, user: str, message_id: str, label: str, number: int) -> str:
    """Press Older or Newer on a list and return the page it shows."""
    pressed = button(world.ld.message(message_id), label)
    assert pressed is not None and not pressed.get("disabled"), (label, world.ld.message(message_id)["content"])
    await world.ld.click(user, message_id, pressed["custom_id"])

    def shown() -> str | None:
        content = world.ld.message(message_id)["content"]
        return content if f"· page {number}\n" in content else None

    return await wait_until(shown, within=15.0, what=f"page {number}")


async def every_page(world: World, user: str, command: str, options: dict[str, Any]) -> tuple[list[str], str]:
    """Open a list and press Older until it is disabled; the pages in order, and the list's message id."""
    interaction = await world.ld.invoke(user, "imagine", command, options)
    pages = [await answer(world, interaction, contains="page 1")]
    message_id = world.ld.interaction(interaction["interaction_id"])["response_message_id"]
    while True:
        older = button(world.ld.message(message_id), "Older")
        assert older is not None, f"no Older button under page {len(pages)}"
        if older.get("disabled"):
            return pages, message_id
        pages.append(await turn(world, user, message_id, "Older", len(pages) + 1))


def listed_ids(pages: list[str]) -> list[str]:
    """The job ids on the pages, in order; every row must be whole."""
    ids = []
    for number, page in enumerate(pages, start=1):
        assert len(page) <= MAX_CONTENT, (number, len(page))
        rows = page.split("\n")[1:]
        assert 0 < len(rows) <= 10, (number, page)
        for row in rows:
            match = ROW.match(row)
            assert match, f"page {number} has a row that is not whole: {row!r}"
            ids.append(match["id"])
    return ids


async def test_jobs_pages_keep_every_row_whole_and_offer_older_until_the_last(world: World) -> None:
    member = new_member(world)
    await imagine_all(world, member, "mine", 23)
    newest_first = [row["id"] for row in reversed(jobs_of(world, member))]

    pages, message_id = await every_page(world, member, "jobs", {})
    # Ten such rows do not fit in 2000 characters: the first page is short, and Older is still offered.
    assert len(pages) >= 3 and len(pages[0].split("\n")) - 1 < 10
    assert listed_ids(pages) == newest_first

    # Newer goes back to exactly the page that was shown on the way forward.
    last = len(pages)
    assert await turn(world, member, message_id, "Newer", last - 1) == pages[-2]
    assert await turn(world, member, message_id, "Newer", last - 2) == pages[-3]
    assert await turn(world, member, message_id, "Older", last - 1) == pages[-2]


async def test_mod_jobs_pages_keep_every_row_whole_with_members_shown_and_filtered(world: World) -> None:
    member, other = new_member(world), new_member(world)
    await imagine_all(world, member, "theirs", 12)
    await imagine_all(world, other, "others", 7)
    guild_id = int(world.guild["id"])
    everyone = [
        r["id"] for r in world.rows("SELECT id FROM jobs WHERE guild_id = ? ORDER BY created_at DESC", (guild_id,))
    ]

    # Every member's jobs: the longest rows, with a mention in each.
    pages, _ = await every_page(world, "mod", "mod jobs", {})
    assert len(pages[0].split("\n")) - 1 < 10
    assert listed_ids(pages) == everyone

    # One member's, by status.
    pages, message_id = await every_page(world, "mod", "mod jobs", {"member": member, "status": "completed"})
    assert listed_ids(pages) == [row["id"] for row in reversed(jobs_of(world, member))]
    assert len(pages) == 2
    assert await turn(world, "mod", message_id, "Newer", 1) == pages[0]


# -- failures ----------------------------------------------------------------------------------------

# A log record (not a traceback line) at WARNING or above.
PROBLEM = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} (WARNING|ERROR|CRITICAL)")


@contextlib.contextmanager
def unreadable(world: World, job_id: str, **columns: Any) -> Iterator[None]:
    """The job's row as the bot cannot read it (parameters that are not JSON), put back afterwards."""
    conn = sqlite3.connect(world.db_path, timeout=10, isolation_level=None)
    try:
        names = ["params", *columns]
        before = conn.execute(f"SELECT {', '.join(names)} FROM jobs WHERE id = ?", (job_id,)).fetchone()
        assert before is not None, job_id
        sets = ", ".join(f"{name} = ?" for name in names)
        conn.execute(f"UPDATE jobs SET {sets} WHERE id = ?", ("{", *columns.values(), job_id))
        try:
            yield
        finally:
            conn.execute(f"UPDATE jobs SET {sets} WHERE id = ?", (*before, job_id))
    finally:
        conn.close()


@contextlib.contextmanager
def locked(world: World) -> Iterator[None]:
    """The bot's database write-locked by another connection, as a backup or a second bot would hold it."""
    conn = sqlite3.connect(world.db_path, timeout=10, isolation_level=None)
    try:
        conn.execute("BEGIN EXCLUSIVE")
        try:
            yield
        finally:
            conn.execute("ROLLBACK")
    finally:
        conn.close()


class LogWatch:
    """The bot's log records at WARNING or above written since the watch started."""

    def __init__(self, world: World) -> None:
        self.world = world
        self.start = len(self._lines())

    def _lines(self) -> list[str]:
        return self.world.bot.log_path.read_text(errors="replace").splitlines()

    def problems(self) -> list[str]:
        return [line for line in self._lines()[self.start :] if PROBLEM.match(line)]


async def test_failing_commands_get_the_polite_answer_and_one_log_record(world: World) -> None:
    member = new_member(world)
    await imagine_all(world, member, "unreadable", 1)
    job_id = jobs_of(world, member)[0]["id"]
    # Queued, so that /info reads it too; the engine never sees it (it reads the queue only at start).
    with unreadable(world, job_id, status="queued"):
        for user, command, options in [
            (member, "jobs", {}),
            (member, "job", {"job": job_id}),
            (member, "info", {}),
            ("mod", "mod jobs", {"member": member}),
        ]:
            watch = LogWatch(world)
            interaction = await world.ld.invoke(user, "imagine", command, options)
            assert await answer(world, interaction, contains=FAILED) == FAILED, command
            info = world.ld.interaction(interaction["interaction_id"])
            shown = [world.ld.message(m) for m in [info["response_message_id"], *info["followup_message_ids"]] if m]
            assert all(m["_ephemeral"] for m in shown if not m["_deleted"]), command
            problems = watch.problems()
            assert len(problems) == 1 and f"/{command} failed for member" in problems[0], (command, problems)
    # The row is readable again, and so is everything that read it.
    assert "page 1" in await run(world, member, "jobs")


async def test_a_command_that_cannot_save_says_so(world: World) -> None:
    member = new_member(world)
    watch = LogWatch(world)
    with locked(world):
        # The write waits out the bot's busy timeout (5 s), then fails.
        text = await run(world, member, "settings", {"notify": True}, contains=SAVE_FAILED)
    assert text == SAVE_FAILED
    problems = [line for line in watch.problems() if "/settings" in line]
    assert len(problems) == 1 and "/settings failed for member" in problems[0], watch.problems()
    assert "DM when a job ends: on" in await run(world, member, "settings", {"notify": True})


async def test_failing_buttons_get_the_polite_answer_and_leave_their_message_alone(world: World) -> None:
    member = new_member(world)
    await imagine_all(world, member, "pressed", 12)
    newest = jobs_of(world, member)[-1]
    grid = await final(world, str(newest["message_id"]))

    # A result button whose job cannot be read: the "thinking…" message it started goes, the answer is private.
    watch = LogWatch(world)
    with unreadable(world, newest["id"]):
        pressed = await world.ld.click(member, grid["id"], next(c for c in button_ids(grid) if c.endswith(":u1")))
        assert await answer(world, pressed, contains=FAILED) == FAILED
    problems = watch.problems()
    assert len(problems) == 1 and f"button img1:{newest['id']}:u1 failed" in problems[0], problems
    assert not any("Ignoring exception" in line for line in world.bot.log().splitlines()[-50:])
    assert not world.ld.message(grid["id"])["_deleted"]

    # A page button whose next page cannot be read: the list stays as it was, the answer comes beside it.
    interaction = await world.ld.invoke(member, "imagine", "jobs", {})
    first = await answer(world, interaction, contains="page 1")
    listing = world.ld.interaction(interaction["interaction_id"])["response_message_id"]
    older = button(world.ld.message(listing), "Older")
    assert older is not None and not older.get("disabled")
    watch = LogWatch(world)
    with unreadable(world, jobs_of(world, member)[0]["id"]):
        pressed = await world.ld.click(member, listing, older["custom_id"])
        assert FAILED in await answer(world, pressed, contains=FAILED)
    problems = watch.problems()
    assert len(problems) == 1 and "button img1:pg:me:" in problems[0], problems
    message = world.ld.message(listing)
    assert not message["_deleted"] and message["content"] == first
    # Readable again: the same button works.
    assert "· page 2\n" in await turn(world, member, listing, "Older", 2)
