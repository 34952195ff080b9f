"""The foundation's end-to-end scenarios, through the real bot process and the local Discord.

/imagine → progress edits → grid + 9 buttons → U2 → upscale message → V3 → new grid → 🔄 → new grid;
kill -9 mid-job and restart; a double-pressed button; a job that outlives its interaction token.
"""

from __future__ import annotations

import asyncio
import io
import itertools
from typing import Any

import pytest
from PIL import Image

from localdiscord import LocalDiscord
from tests.e2e.harness import button_ids, download, job_id_of, message_buttons
from tests.helpers import wait_until

pytestmark = pytest.mark.e2e

GRID_BUTTONS = ["u1", "u2", "u3", "u4", "reroll", "v1", "v2", "v3", "v4"]


def job_actions(message: dict[str, Any]) -> list[str]:
    """The job buttons' actions under a message; ✉️ (the seed, where the provider gives one) is not one."""
    return [c.split(":")[2] for c in button_ids(message) if not c.endswith(":seed")]


async def response_message_id(ld: LocalDiscord, interaction_id: str) -> str:
    def answered() -> str | None:
        return ld.interaction(interaction_id)["response_message_id"]

    return await wait_until(answered, within=15.0, what=f"a response to interaction {interaction_id}")


async def final(ld: LocalDiscord, message_id: str, *, within: float = 20.0) -> dict[str, Any]:
    """The message once it shows a finished job: an image attached, or a failure line."""

    def done() -> dict[str, Any] | None:
        message = ld.message(message_id)
        if message and message.get("attachments") and not (message["flags"] & 128) and "%" not in message["content"]:
            return message
        return None

    return await wait_until(done, within=within, what=f"message {message_id} to show a result")


async def imagine(ld: LocalDiscord, user: str, prompt: str, **options: Any) -> str:
    result = await ld.invoke(user, "imagine", "imagine", {"prompt": prompt, **options})
    return await response_message_id(ld, result["interaction_id"])


async def press(ld: LocalDiscord, user: str, message: dict[str, Any], action: str) -> str:
    custom_id = next(c for c in button_ids(message) if c.endswith(f":{action}"))
    result = await ld.click(user, message["id"], custom_id)
    return await response_message_id(ld, result["interaction_id"])


def edits_of(ld: LocalDiscord, message_id: str) -> list[dict[str, Any]]:
    return [r for r in ld.requests if r["method"] == "PATCH" and r["path"].endswith(f"/messages/{message_id}")]


async def test_imagine_upscale_vary_reroll(ld: LocalDiscord, start_bot: Any) -> None:
    bot = await start_bot(LOCAL_STEP_SECONDS="0.4", LOCAL_STEPS="3")
    mention = ld.state()["guilds"][0]["members"][0]["id"]
    prompt = f"a lighthouse at dawn @everyone <@{mention}> **bold** --ar 16:9"
    grid_id = await imagine(ld, "alice", prompt)

    grid = await final(ld, grid_id)
    assert job_actions(grid) == GRID_BUTTONS, bot.log()
    assert grid["_pinged"] is False and not grid["mention_everyone"] and not grid["mentions"]
    assert "@everyone" not in grid["content"].replace("@\u200beveryone", "")
    assert "\\*\\*bold\\*\\*" in grid["content"]
    image = Image.open(io.BytesIO(await download(grid["attachments"][0]["url"])))
    assert abs(image.width / image.height - 16 / 9) < 0.05

    # Progress was shown: edits with a percentage, a preview image, and never closer than the interval.
    edits = edits_of(ld, grid_id)
    progress = [e for e in edits if e["json"] and "%" in (e["json"].get("content") or "")]
    assert progress, [e["json"] for e in edits]
    assert any(f["filename"].startswith("preview") for e in progress for f in e["files"])
    gaps = [b["t_mono"] - a["t_mono"] for a, b in itertools.pairwise(edits)]
    assert all(gap >= 0.25 for gap in gaps), gaps

    upscale_id = await press(ld, "bob", grid, "u2")
    upscale = await final(ld, upscale_id)
    followups = [c.split(":")[2] for c in button_ids(upscale)]
    assert "zoom_2x" in followups and "vary_subtle" in followups and "u1" not in followups
    upscaled = Image.open(io.BytesIO(await download(upscale["attachments"][0]["url"])))
    assert upscaled.width == image.width  # one tile of the grid, doubled
    assert "Image #2" in upscale["content"]

    variation_id = await press(ld, "alice", grid, "v3")
    variation = await final(ld, variation_id)
    assert job_actions(variation) == GRID_BUTTONS

    reroll_id = await press(ld, "carol", grid, "reroll")
    reroll = await final(ld, reroll_id)
    assert job_actions(reroll) == GRID_BUTTONS
    hashes = {await download(m["attachments"][0]["url"]) for m in (grid, variation, reroll)}
    assert len(hashes) == 3
    assert len({job_id_of(m) for m in (grid, upscale, variation, reroll)}) == 4


async def test_kill_mid_job_then_restart_finishes_and_old_buttons_work(ld: LocalDiscord, start_bot: Any) -> None:
    bot = await start_bot(LOCAL_STEP_SECONDS="0.6", LOCAL_STEPS="4")
    first = await final(ld, await imagine(ld, "alice", "an old map"))
    second_id = await imagine(ld, "bob", "a new map")

    def running() -> bool:
        message = ld.message(second_id)
        return bool(message and "%" in message["content"])

    await wait_until(running, within=15.0, what="the second job to show progress")
    await bot.kill()
    await bot.start()

    second = await final(ld, second_id)
    assert job_actions(second) == GRID_BUTTONS, bot.log()
    # A button rendered by the first process works in the second.
    upscale = await final(ld, await press(ld, "carol", first, "u1"))
    assert message_buttons(upscale)


async def test_double_press_makes_one_child_job(ld: LocalDiscord, start_bot: Any) -> None:
    await start_bot()
    grid = await final(ld, await imagine(ld, "alice", "twin peaks"))
    custom_id = next(c for c in button_ids(grid) if c.endswith(":u2"))
    clicks = await asyncio.gather(ld.click("alice", grid["id"], custom_id), ld.click("bob", grid["id"], custom_id))
    answers = [await response_message_id(ld, c["interaction_id"]) for c in clicks]

    async def settled() -> list[dict[str, Any]] | None:
        channel = ld.messages("imagine", ephemeral=True)
        upscales = [m for m in channel if m["attachments"] and "Image #2" in m["content"]]
        notices = [m for m in channel if m["_ephemeral"] and "already requested" in m["content"]]
        return upscales + notices if len(upscales) == 1 and len(notices) == 1 else None

    upscale, notice = await wait_until(settled, within=15.0, what="one upscale and one 'already requested' notice")
    assert upscale["id"] in answers
    assert notice["_visible_to"] in {c["user_id"] for c in [ld.interaction(c["interaction_id"]) for c in clicks]}
    assert "https://discord.com/channels/" in notice["content"] and str(upscale["id"]) in notice["content"]


async def test_job_outliving_its_token_finishes_through_the_channel_route(ld: LocalDiscord, start_bot: Any) -> None:
    await start_bot(LOCAL_STEP_SECONDS="0.5", LOCAL_STEPS="3")
    # Born 14m40s ago: the bot sees the token within its safety margin and uses its own token at once.
    old = await ld.invoke("alice", "imagine", "imagine", {"prompt": "an old token"}, backdate_s=880)
    old_id = await response_message_id(ld, old["interaction_id"])
    # A token Discord kills while the job runs: the bot learns it from a 401 and switches route.
    young = await ld.invoke("bob", "imagine", "imagine", {"prompt": "a dying token"})
    young_id = await response_message_id(ld, young["interaction_id"])
    ld.expire(young["interaction_id"])

    for message_id in (old_id, young_id):
        message = await final(ld, message_id)
        assert job_actions(message) == GRID_BUTTONS
        channel_edits = [e for e in edits_of(ld, message_id) if e["path"].startswith("/api/v10/channels/")]
        assert channel_edits and channel_edits[-1]["status"] == 200
    assert not [e for e in edits_of(ld, old_id) if "/webhooks/" in e["path"]]


async def test_grid_over_the_upload_limit_is_reencoded(ld: LocalDiscord, start_bot: Any) -> None:
    await start_bot()
    # Below the size of the PNG grid, above what a JPEG of it needs.
    ld.set_limits({"attachment_size_limit": 30_000})
    grid = await final(ld, await imagine(ld, "alice", "a very detailed forest"))
    attachment = grid["attachments"][0]
    assert attachment["filename"] == "grid.jpg" and attachment["size"] <= 30_000
    assert attachment["content_type"] == "image/jpeg"
    assert job_actions(grid) == GRID_BUTTONS


async def test_deleted_message_ends_the_job_quietly(ld: LocalDiscord, start_bot: Any) -> None:
    bot = await start_bot(LOCAL_STEP_SECONDS="0.5", LOCAL_STEPS="6")
    message_id = await imagine(ld, "alice", "a message nobody wants")

    def running() -> bool:
        message = ld.message(message_id)
        return bool(message and "%" in message["content"])

    await wait_until(running, within=15.0, what="progress on the message")
    channel = ld.message(message_id)["channel_id"]
    await ld.delete_message(channel, message_id)
    await wait_until(
        lambda: "message of job" in bot.log() and "deleted" in bot.log(), within=15.0, what="the bot to notice"
    )
    # The bot carries on serving others.
    assert button_ids(await final(ld, await imagine(ld, "bob", "still here")))
    assert bot.process is not None and bot.process.returncode is None
