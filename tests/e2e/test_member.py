"""Member self-service end to end: /jobs, /job, the Cancel button, /settings with its DMs, /info.

One bot serves the whole module, with three-second jobs so that a job can be caught while it runs.
"""

from __future__ import annotations

import asyncio
import io
from typing import Any

import pytest
from PIL import Image

from tests.e2e.harness import button_ids, download, job_id_of
from tests.e2e.moderation_support import World, answer, final, jobs_of, module_world, new_member, press, run
from tests.helpers import wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.asyncio(loop_scope="module")]

world = module_world(LOCAL_STEP_SECONDS="0.6", LOCAL_STEPS="5", EDIT_INTERVAL_S="0.3")


async def start(world: World, user: str, prompt: str, **options: Any) -> str:
    """Start an /imagine and return its message id."""
    interaction = await world.ld.invoke(user, "imagine", "imagine", {"prompt": prompt, **options})

    def responded() -> str | None:
        return world.ld.interaction(interaction["interaction_id"])["response_message_id"]

    return await wait_until(responded, within=15.0, what="the job message")


async def with_cancel(world: World, message_id: str) -> dict[str, Any]:
    def shown() -> dict[str, Any] | None:
        message = world.ld.message(message_id)
        return message if message and any(c.endswith(":cancel") for c in button_ids(message)) else None

    return await wait_until(shown, within=15.0, what="the Cancel button on the progress message")


async def test_jobs_lists_own_history_with_pages_and_jump_links(world: World) -> None:
    member, other = new_member(world), new_member(world)
    await start(world, other, "not mine")
    for i in range(11):
        await start(world, member, f"history {i}")
    interaction = await world.ld.invoke(member, "imagine", "jobs", {})
    first = await answer(world, interaction, contains="page 1")
    assert first.count("\n") == 10 and "history 10" in first and "not mine" not in first
    assert "[jump](https://discord.com/channels/" in first
    message = world.ld.message(world.ld.interaction(interaction["interaction_id"])["response_message_id"])
    assert message["_ephemeral"]
    older = [c for c in button_ids(message) if c.startswith("img1:pg:me:")][1]
    await world.ld.click(member, message["id"], older)

    def second_page() -> str | None:
        content = world.ld.message(message["id"])["content"]
        return content if "page 2" in content else None

    second = await wait_until(second_page, within=15.0, what="the second page of /jobs")
    assert "history 0" in second and second.count("\n") == 1


async def test_job_reposts_a_result_with_live_buttons_for_its_owner_or_a_moderator(world: World) -> None:
    owner, other = new_member(world), new_member(world)
    grid = await final(world, await start(world, owner, "a repost of a fox"))
    job_id = job_id_of(grid)
    assert "You can show your own jobs only" in await run(world, other, "job", {"job": job_id})
    assert "no job with that id" in await run(world, other, "job", {"job": "ffffffffffffffff"})

    interaction = await world.ld.invoke(owner, "imagine", "job", {"job": f"`{job_id.upper()}`"})
    await answer(world, interaction)
    repost = await final(world, world.ld.interaction(interaction["interaction_id"])["response_message_id"])
    assert not repost["_ephemeral"] and repost["id"] != grid["id"]
    assert [c.split(":")[2] for c in button_ids(repost)] == [c.split(":")[2] for c in button_ids(grid)]
    original = await download(grid["attachments"][0]["url"])
    again = await download(repost["attachments"][0]["url"])
    assert Image.open(io.BytesIO(again)).size == Image.open(io.BytesIO(original)).size

    # Its buttons are live: a press makes a child job of the original job.
    upscale = await answer(world, await press(world, other, repost, ":u3"))
    assert upscale is not None
    assert [row["parent_id"] for row in jobs_of(world, other)] == [job_id]
    # A moderator may show anybody's job.
    await answer(world, await world.ld.invoke("mod", "imagine", "job", {"job": job_id}))


async def choices(world: World, user: str, typed: str) -> list[dict[str, Any]]:
    """Type ``typed`` into /job's job option as ``user``; the bot's autocomplete answer."""
    interaction = await world.ld.autocomplete(user, "imagine", "job", "job", {"job": typed})

    def answered() -> tuple[list[dict[str, Any]]] | None:
        info = world.ld.interaction(interaction["interaction_id"])
        return (info["autocomplete_choices"],) if info["acked"] else None

    (found,) = await wait_until(answered, within=15.0, what=f"autocomplete choices for {typed!r}")
    return found


async def test_job_autocomplete_offers_own_recent_jobs_and_a_moderator_any(world: World) -> None:
    owner, other = new_member(world), new_member(world)
    await start(world, owner, "an autocomplete fox")
    await start(world, owner, "an autocomplete *cabin*\n<@1> at dusk " + "and snow " * 20)
    await start(world, other, "someone else's owl")
    await wait_until(lambda: len(jobs_of(world, owner)) == 2 and jobs_of(world, other), within=15.0, what="jobs")
    fox, cabin = (row["id"] for row in jobs_of(world, owner))
    (owl,) = (row["id"] for row in jobs_of(world, other))

    mine = await choices(world, owner, "")
    assert [c["value"] for c in mine] == [cabin, fox]
    for choice in mine:
        assert len(choice["name"]) <= 100 and "\n" not in choice["name"]
    assert mine[1]["name"].startswith(f"{fox} · ") and mine[1]["name"].endswith(" · an autocomplete fox")
    assert mine[0]["name"].startswith(f"{cabin} · ") and "an autocomplete *cabin* <@1> at dusk" in mine[0]["name"]
    assert mine[0]["name"].endswith("…")
    # Filtered by what was typed: part of the prompt, any case, or the start of the id (as pasted).
    assert [c["value"] for c in await choices(world, owner, "CABIN")] == [cabin]
    assert fox in [c["value"] for c in await choices(world, owner, f"`{fox[:6].upper()}")]
    assert await choices(world, owner, "owl") == []
    # A moderator gets any job of the server.
    assert [c["value"] for c in await choices(world, "mod", "someone else's owl")] == [owl]
    anyone = [c["value"] for c in await choices(world, "mod", "")]
    assert len(anyone) <= 25 and owl in anyone
    # The value is the id /job takes.
    assert "an autocomplete fox" in await answer(
        world, await world.ld.invoke(owner, "imagine", "job", {"job": mine[1]["value"]}), contains="fox"
    )


async def test_cancel_button_for_owner_and_moderator_only(world: World) -> None:
    owner, other = new_member(world), new_member(world)
    first_id = await start(world, owner, "a job to cancel")
    message = await with_cancel(world, first_id)
    refused = await answer(world, await press(world, other, message, ":cancel"))
    assert "Only the member who started this job, or a moderator, can cancel it" in refused
    await press(world, owner, message, ":cancel")
    ended = await final(world, first_id)
    assert "Cancelled by its owner" in ended["content"] and not button_ids(ended)
    assert jobs_of(world, owner)[0]["status"] == "cancelled"

    second_id = await start(world, owner, "a job a moderator cancels")
    await press(world, "mod", await with_cancel(world, second_id), ":cancel")
    assert "Cancelled by a moderator" in (await final(world, second_id))["content"]
    # A cancelled job does not count against the quota.
    info = await run(world, owner, "info")
    assert "0 images today" in info


async def test_settings_defaults_apply_and_a_dm_arrives_when_a_job_ends(world: World) -> None:
    member = new_member(world)
    shown = await run(world, member, "settings")
    assert "Aspect ratio: not set" in shown and "DM when a job ends: off" in shown
    bad = await run(world, member, "settings", {"suffix": "watercolor please"})
    assert "parameters only" in bad
    assert "--chaos needs a number" in await run(world, member, "settings", {"suffix": "--chaos 900"})
    assert "does not allow" in await run(world, member, "settings", {"suffix": "--no gore"})
    saved = await run(world, member, "settings", {"aspect": "16:9", "suffix": "--seed 42 --chaos 5", "notify": True})
    assert (
        "Saved." in saved and "16:9" in saved and "--seed 42 --chaos 5" in saved and "DM when a job ends: on" in saved
    )

    grid = await final(world, await start(world, member, "a settings test --chaos 9"))
    image = Image.open(io.BytesIO(await download(grid["attachments"][0]["url"])))
    assert abs(image.width / image.height - 16 / 9) < 0.05
    row = jobs_of(world, member)[0]
    # The prompt's own parameter wins over the suffix; the suffix fills in the rest.
    assert (
        "--seed 42" in row["prompt_final"] and "--chaos 9" in row["prompt_final"] and "--ar 16:9" in row["prompt_final"]
    )

    def dm() -> list[dict[str, Any]]:
        return [m for m in world.dms(member) if job_id_of(grid) in m["content"]]

    messages = await wait_until(dm, within=15.0, what="a DM about the finished job")
    assert "is done" in messages[0]["content"] and not messages[0]["_pinged"]

    cleared = await run(world, member, "settings", {"aspect": "off", "suffix": "off", "notify": False})
    assert "Aspect ratio: not set" in cleared and "Suffix added to every prompt: none" in cleared


async def test_info_shows_usage_running_and_queue_positions(world: World) -> None:
    member = new_member(world)
    await run(world, "mod", "mod limits set", {"daily_quota": 20})
    try:
        # More jobs than the local provider runs at once, so some wait in the queue.
        await asyncio.gather(*(start(world, member, f"busy {i}") for i in range(6)))

        async def queued_info() -> str | None:
            text = await run(world, member, "info")
            return text if "in the queue" in text else None

        text = await wait_until(queued_info, within=15.0, what="/info to show a queue position")
        assert "of 20 images used today" in text and "Running:" in text and "waiting:" in text
    finally:
        await run(world, "mod", "mod limits set", {"daily_quota": 0})
