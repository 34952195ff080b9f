"""Job lists that lose no row, and failures that still get an answer, end to end through the local Discord.

Pages: with long prompts a page of ``/jobs`` or ``/mod jobs`` holds fewer than ten rows, every one whole,
and Older leads on from exactly the row after the last one shown, to the end of the list; Newer comes
back to the very page shown before.

One bot serves the module, with instant jobs; each test uses members of its own.
"""

from __future__ import annotations

import re
from typing import Any

import pytest

from bot.ui.render import MAX_CONTENT
from tests.e2e.harness import eventually, message_buttons
from tests.e2e.moderation_support import World, answer, idle, jobs_of, module_world, new_member

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

    return await eventually(shown, what=f"page {number}")


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
