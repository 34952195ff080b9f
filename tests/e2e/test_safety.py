"""/mod safety end to end, through the real bot and the local Discord: every result image is scored before
it is posted, and each mode does what it says.

The bot runs with ``SAFETY_SCORER=fixed:0.5`` (every image scores 0.5: the images are the local provider's,
drawn for this test), so the threshold alone forces each outcome: 0.4 flags every image, 0.6 none. The real
model is run in ``tests/unit/test_safety.py``.
"""

from __future__ import annotations

from typing import Any

import pytest

from localdiscord._errors import ControlError
from tests.e2e.harness import button_ids, job_id_of
from tests.e2e.moderation_support import World, answer, final, module_world, new_member, run
from tests.helpers import wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.asyncio(loop_scope="module")]

# Three steps a little apart, so a job shows progress (and previews) before its result.
world = module_world(SAFETY_SCORER="fixed:0.5", LOCAL_STEP_SECONDS="0.4", LOCAL_STEPS="3", EDIT_INTERVAL_S="0.3")

WITHHELD = "this server's safety check flagged it"


async def imagine(world: World, user: str, prompt: str) -> dict[str, Any]:
    """The job's message once it shows the finished job."""
    interaction = await world.ld.invoke(user, "imagine", "imagine", {"prompt": prompt})

    def posted() -> str | None:
        return world.ld.interaction(interaction["interaction_id"])["response_message_id"]

    message_id = await wait_until(posted, within=15, what="the job's message")
    return await final(world, message_id)


def previews(world: World, message_id: str) -> list[str]:
    """The preview files the bot attached to a job's message in its progress edits."""
    edits = [r for r in world.ld.requests if r["method"] == "PATCH" and r["path"].endswith(f"/messages/{message_id}")]
    return [
        f["filename"]
        for e in edits
        for f in e.get("files") or ()
        if f["filename"].startswith(("preview", "SPOILER_preview"))
    ]


def row(world: World, job_id: str | None) -> Any:
    return world.rows("SELECT * FROM jobs WHERE id = ?", (job_id,))[0]


async def test_each_mode_end_to_end_with_the_audit_record(world: World) -> None:
    member = new_member(world)
    await run(world, "mod", "mod audit-channel", {"channel": "audit-log"})
    try:
        # Never set: the local provider draws only shapes (moderates_output), so the default is off.
        shown = await imagine(world, member, "a harbour at noon")
        assert shown["attachments"][0]["filename"] == "grid.png"
        assert row(world, job_id_of(shown))["safety_score"] is None

        # spoiler, flagged: posted behind Discord's spoiler; the previews were never posted at all.
        text = await run(world, "mod", "mod safety", {"mode": "spoiler", "threshold": 0.4})
        assert "Saved." in text and "`local`: spoiler" in text and "0.40" in text, text
        flagged = await imagine(world, member, "a harbour at dusk")
        assert flagged["attachments"][0]["filename"] == "SPOILER_grid.png", world.bot.log()
        assert previews(world, flagged["id"]) == []
        job = row(world, job_id_of(flagged))
        assert job["status"] == "completed" and job["spoiler"] == 1 and job["safety_score"] == 0.5
        assert "U1" in " ".join(button_ids(flagged)).upper()
        # /job shows it again behind the spoiler too: the verdict is stored with the job.
        interaction = await world.ld.invoke(member, "imagine", "job", {"job": job["id"]})
        await answer(world, interaction)
        repost = await final(world, world.ld.interaction(interaction["interaction_id"])["response_message_id"])
        assert repost["attachments"][0]["filename"] == "SPOILER_grid.png"

        # spoiler, under the threshold: posted plainly, previews too.
        await run(world, "mod", "mod safety", {"threshold": 0.6})
        plain = await imagine(world, member, "a harbour at night")
        assert plain["attachments"][0]["filename"] == "grid.png"
        assert previews(world, plain["id"]), "a preview under the threshold is posted"
        assert row(world, job_id_of(plain))["spoiler"] == 0

        # block, flagged: no image and no buttons; the member is told why, and so is the audit channel.
        await run(world, "mod", "mod safety", {"mode": "block", "threshold": 0.4})
        blocked = await imagine(world, member, "a harbour in fog")
        assert not blocked["attachments"] and not button_ids(blocked)
        assert WITHHELD in blocked["content"] and "❌" in blocked["content"]
        assert previews(world, blocked["id"]) == []
        job_id = job_id_of(blocked)
        job = row(world, job_id)
        assert job["status"] == "moderated" and job["error"] == "image_withheld"
        assert job["grid_url"] is None and job["safety_score"] == 0.5

        def audit_post() -> str | None:
            posts = [m["content"] for m in world.ld.messages("audit-log") if job_id and job_id in m["content"]]
            return posts[0] if posts else None

        post = await wait_until(audit_post, within=15, what="the audit channel to record the withheld image")
        assert "scored 0.50 and was withheld" in post and "a harbour in fog" in post
        action = world.rows("SELECT detail FROM mod_audit WHERE job_id = ? AND action = 'job_finished'", (job_id,))
        assert '"error":"image_withheld"' in action[0]["detail"]

        # off: no check at all.
        text = await run(world, "mod", "mod safety", {"mode": "off"})
        assert "`local`: off" in text
        unchecked = await imagine(world, member, "a harbour at dawn")
        assert unchecked["attachments"][0]["filename"] == "grid.png"
        assert row(world, job_id_of(unchecked))["safety_score"] is None
        assert any(a["action"] == "safety_changed" for a in world.rows("SELECT action FROM mod_audit"))
    finally:
        await run(world, "mod", "mod safety", {"mode": "default"})
        await run(world, "mod", "mod audit-channel")


async def test_mod_safety_is_for_moderators_and_checks_its_threshold(world: World) -> None:
    member = new_member(world)
    # Hidden from members by Discord, and refused by the bot when the client is bypassed.
    with pytest.raises(ControlError) as hidden:
        await world.ld.invoke(member, "imagine", "mod safety", {"mode": "block"})
    assert hidden.value.status == 403
    text = await run(world, member, "mod safety", {"mode": "block"}, force=True)
    assert "That command is for this server's moderators." in text
    # Discord refuses a threshold outside [0, 1] before the bot sees it (the command declares the range).
    with pytest.raises(ControlError) as refused:
        await world.ld.invoke("mod", "imagine", "mod safety", {"threshold": 1.5})
    assert refused.value.status == 400
    assert not world.rows("SELECT * FROM mod_guild_config WHERE safety_mode IS NOT NULL")
    # Without options it shows the state in force: the defaults, never set here.
    shown = await run(world, "mod", "mod safety")
    assert "the defaults (never set here)" in shown and "`local`: off" in shown
