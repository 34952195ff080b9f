"""Issue 14, items 1 and 3 through the real bot and the local Discord: a press colours its button on the
grid (spaced like every edit, kept across a restart), and the message's first line shows what was sent."""

from __future__ import annotations

import itertools
from typing import Any

import pytest

from localdiscord import LocalDiscord
from tests.e2e.harness import button_ids, message_buttons
from tests.e2e.test_imagine_flow import edits_of, final, imagine, press, response_message_id
from tests.helpers import wait_until

pytestmark = pytest.mark.e2e

PRIMARY, SECONDARY = 1, 2


def styles(message: dict[str, Any]) -> dict[str, int]:
    return {b["custom_id"].rsplit(":", 1)[1]: b["style"] for b in message_buttons(message)}


async def settings(ld: LocalDiscord, user: str, **options: Any) -> None:
    interaction = await ld.invoke(user, "imagine", "settings", options)
    message_id = await response_message_id(ld, interaction["interaction_id"])

    def answered() -> bool:
        message = ld.message(message_id)
        return bool(message and "Your settings" in (message["content"] or ""))

    await wait_until(answered, within=15.0, what="the answer to /settings")


async def test_a_press_colours_its_button_and_the_line_shows_what_was_sent(ld: LocalDiscord, start_bot: Any) -> None:
    bot = await start_bot(LOCAL_STEP_SECONDS="0.3", LOCAL_STEPS="2")
    await settings(ld, "alice", suffix="--stylize 250", aspect="2:3")
    grid_id = await imagine(ld, "alice", "a quiet harbour @everyone", aspect="16:9")
    grid = await final(ld, grid_id)

    # The first line: the prompt with the command's aspect (over the member's 2:3) and the suffix applied.
    first_line = grid["content"].split("\n", 1)[0]
    assert first_line.startswith("**a quiet harbour @\u200beveryone --ar 16:9 --stylize 250**"), first_line
    assert "2:3" not in first_line and not grid["mention_everyone"]
    ids = button_ids(grid)
    assert set(styles(grid).values()) == {SECONDARY}, bot.log()

    upscale = await final(ld, await press(ld, "bob", grid, "u2"))
    assert upscale["content"].split("\n", 1)[0].startswith("**a quiet harbour @\u200beveryone --ar 16:9 --stylize 250")

    def restyled() -> dict[str, Any] | None:
        message = ld.message(grid_id)
        return message if message and styles(message).get("u2") == PRIMARY else None

    grid = await wait_until(restyled, within=15.0, what="the grid's U2 button drawn as pressed")
    assert button_ids(grid) == ids  # byte for byte: old and new presses still reach the same handler
    assert {a for a, s in styles(grid).items() if s == PRIMARY} == {"u2"}
    assert grid["attachments"] and first_line in grid["content"]  # only the buttons changed
    edits = edits_of(ld, grid_id)
    assert all(b["t_mono"] - a["t_mono"] >= 0.25 for a, b in itertools.pairwise(edits))

    # A restart keeps it: the pressed state comes from the store, e.g. when /job shows the grid again.
    await bot.restart()
    interaction = await ld.invoke("alice", "imagine", "job", {"job": ids[0].split(":")[1]})
    repost = await final(ld, await response_message_id(ld, interaction["interaction_id"]))
    assert button_ids(repost) == ids
    assert {a for a, s in styles(repost).items() if s == PRIMARY} == {"u2"}
