"""/mod end to end, through the real bot and the local Discord: every subcommand as a moderator, every
one refused to a member, banned prompts in every evasion form kept from the provider, and quota,
concurrency, cooldown and bans holding when presses come in parallel.

One bot serves the whole module; each test uses fresh members and puts back the guild settings it changes.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from localdiscord._errors import ControlError
from tests.e2e.harness import button_ids, job_id_of
from tests.e2e.moderation_support import (
    World,
    answer,
    final,
    idle,
    jobs_of,
    module_world,
    new_member,
    press,
    provider_submits,
    run,
)
from tests.helpers import wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.asyncio(loop_scope="module")]

# Two-second jobs: long enough that parallel admissions all see the earlier jobs still running.
world = module_world(LOCAL_STEP_SECONDS="0.4", LOCAL_STEPS="5", EDIT_INTERVAL_S="0.3")

NOT_A_MODERATOR = "That command is for this server's moderators."
BLOCKED = "contains a word this server does not allow"

# Each /mod subcommand with options that would be valid for a moderator.
MOD_COMMANDS: list[tuple[str, dict[str, Any]]] = [
    ("mod words add", {"term": "forbidden-by-member"}),
    ("mod words remove", {"term": "gore"}),
    ("mod words list", {}),
    ("mod words test", {"prompt": "gore"}),
    ("mod words defaults", {"enabled": False}),
    ("mod ban", {"member": "bob", "duration": "1h", "reason": "spite"}),
    ("mod unban", {"member": "bob"}),
    ("mod bans", {}),
    ("mod limits show", {}),
    ("mod limits set", {"daily_quota": 1}),
    ("mod limits role", {"role": "Moderator", "daily_quota": 1}),
    ("mod limits escalation", {"blocked_prompts": 1}),
    ("mod channels allow", {"channel": "general"}),
    ("mod channels disallow", {"channel": "general"}),
    ("mod channels list", {}),
    ("mod policy", {"buttons": "owner"}),
    ("mod moderator-role", {"role": "Moderator"}),
    ("mod audit-channel", {"channel": "general"}),
    ("mod jobs", {}),
    ("mod cancel", {"job": "0123456789abcdef"}),
    ("mod delete", {"job": "0123456789abcdef", "reason": "spite"}),
    ("mod stats", {}),
    ("mod accounts list", {}),
    ("mod accounts reset", {"account": "local/local"}),
    ("mod safety", {"mode": "block", "threshold": 0.5}),
]


async def test_every_moderator_action_is_hidden_from_members_and_refused_when_forced(world: World) -> None:
    audit_before = world.rows("SELECT COUNT(*) FROM mod_audit")[0][0] if world.db_path.exists() else 0
    for command, options in MOD_COMMANDS:
        # Discord itself hides /mod from members (default permissions: Manage Server) ...
        with pytest.raises(ControlError) as hidden:
            await world.ld.invoke("carol", "imagine", command, options)
        assert hidden.value.status == 403, command
        # ... and the bot refuses it when the client is bypassed.
        text = await run(world, "carol", command, options, force=True)
        assert NOT_A_MODERATOR in text, (command, text)
    # Nothing changed: no audit entry, the words and bans are as before.
    assert world.rows("SELECT COUNT(*) FROM mod_audit WHERE action != 'job_finished'")[0][0] == audit_before
    assert not world.rows("SELECT * FROM mod_words")
    assert not world.rows("SELECT * FROM mod_bans")
    assert not world.rows("SELECT * FROM mod_guild_config")


async def test_words_add_list_test_remove(world: World) -> None:
    assert "Added the phrase `moonbeam*`" in await run(world, "mod", "mod words add", {"term": "moonbeam*"})
    added = await run(world, "mod", "mod words add", {"term": r"\bsun\s*flare\b", "regex": True})
    assert "Added the regex" in added
    refused = await run(world, "mod", "mod words add", {"term": "(a|aa)+$", "regex": True})
    assert "Not added" in refused and "too long" in refused
    duplicate = await run(world, "mod", "mod words add", {"term": "moonbeam*"})
    assert "already on the list" in duplicate

    listed = await run(world, "mod", "mod words list")
    assert "phrase `moonbeam*`" in listed and "regex" in listed and "Built-in list: on" in listed

    tested = await run(world, "mod", "mod words test", {"prompt": "MOONBEAMS and a sun flare over gore"})
    assert "would be **blocked**" in tested
    assert "moonbeam*" in tested and "sun" in tested and "(built-in)" in tested and "(this server)" in tested
    assert "would be allowed" in await run(world, "mod", "mod words test", {"prompt": "a quiet harbour"})

    assert "Removed" in await run(world, "mod", "mod words remove", {"term": r"\bsun\s*flare\b"})
    assert "not on this server's list" in await run(world, "mod", "mod words remove", {"term": "never-added"})
    assert "built-in list is now off" in await run(world, "mod", "mod words defaults", {"enabled": False})
    assert "would be allowed" in await run(world, "mod", "mod words test", {"prompt": "gore"})
    await run(world, "mod", "mod words defaults", {"enabled": True})
    assert "would be **blocked**" in await run(world, "mod", "mod words test", {"prompt": "gore"})
    # The test command spent nothing and created no job.
    assert not jobs_of(world, "mod")


EVASIONS = {
    "plain": "a moonbeam over the sea",
    "upper case": "a MOONBEAM over the sea",
    "zero-width characters": "a moon\u200bbe\u200dam over the sea",
    "fullwidth": "a ｍｏｏｎｂｅａｍ over the sea",
    "mathematical bold": "a 𝐦𝐨𝐨𝐧𝐛𝐞𝐚𝐦 over the sea",
    "cyrillic look-alikes": "a mооnbеаm over the sea",
    "accents": "a móönbéäm over the sea",
    "separators": "a m.o.o.n-b_e a m over the sea",
    "repeated letters": "a mmoooonnbbeeeaaamm over the sea",
    "leet": "a m00nb3@m over the sea",
    "prefix wildcard": "moonbeams everywhere",
}


async def test_banned_prompt_in_every_evasion_form_never_reaches_the_provider(world: World) -> None:
    await run(world, "mod", "mod words add", {"term": "moonbeam*"})
    # Escalation off, so every form is judged by the word list alone.
    await run(world, "mod", "mod limits escalation", {"blocked_prompts": 0})
    try:
        await idle(world)
        submits = await provider_submits(world)
        member = new_member(world)
        for name, prompt in EVASIONS.items():
            interaction = await world.ld.invoke(member, "imagine", "imagine", {"prompt": prompt})
            text = await answer(world, interaction, contains=BLOCKED)
            info = world.ld.interaction(interaction["interaction_id"])
            # Answered privately, at once: no public "thinking…" message was ever posted.
            assert info["response_type"] == 4, (name, info)
            reply = world.ld.message(info["response_message_id"])
            assert reply is not None and reply["_ephemeral"], name
            assert "Matched" in text, (name, text)
        assert not jobs_of(world, member)
        assert await provider_submits(world) == submits
        blocked = world.rows("SELECT COUNT(*) FROM mod_strikes WHERE user_id = ?", (int(world.user_id(member)),))
        assert blocked[0][0] == len(EVASIONS)
        # The counter does count: one clean prompt is one request.
        await run(world, member, "imagine", {"prompt": "a moon over the sea"})
        await idle(world)
        assert await provider_submits(world) == submits + 1 and len(jobs_of(world, member)) == 1
    finally:
        await run(world, "mod", "mod limits escalation", {"blocked_prompts": 3, "block_minutes": 60})


async def test_escalation_blocks_after_repeated_blocked_prompts_then_unban(world: World) -> None:
    await run(world, "mod", "mod limits escalation", {"blocked_prompts": 2, "block_minutes": 30})
    try:
        member = new_member(world)
        first = await world.ld.invoke(member, "imagine", "imagine", {"prompt": "gore one"})
        warning = await one_private_answer(world, first, contains="more blocked prompt")
        matched, standing = warning.split("\n")
        assert BLOCKED in matched and "Matched" in matched
        assert standing == "-# 1 more blocked prompt today and the bot pauses for you for 30 minutes."
        assert "paused for you" not in warning and "blocked from" not in warning
        second = await world.ld.invoke(member, "imagine", "imagine", {"prompt": "g.o.r.e two"})
        paused = await one_private_answer(world, second, contains="block ends")
        matched, standing = paused.split("\n")
        assert BLOCKED in matched and "Matched" in matched
        assert standing.startswith("That was 2 blocked prompts today, so the bot is now paused for you for 30 minutes.")
        assert "more blocked prompt" not in paused
        # Now even a clean prompt is refused, privately.
        clean = await run(world, member, "imagine", {"prompt": "a clean prompt"}, contains="blocked from")
        assert "paused" not in clean and not jobs_of(world, member)
        bans = await run(world, "mod", "mod bans")
        assert f"<@{world.user_id(member)}>" in bans and "automatic" in bans
        assert "may use the bot again" in await run(world, "mod", "mod unban", {"member": member})
        assert "was not blocked" in await run(world, "mod", "mod unban", {"member": member})
        await run(world, member, "imagine", {"prompt": "allowed again"})
        assert len(jobs_of(world, member)) == 1
    finally:
        await run(world, "mod", "mod limits escalation", {"blocked_prompts": 3, "block_minutes": 60})


async def one_private_answer(world: World, interaction: dict[str, Any], *, contains: str) -> str:
    """The bot's answer to a blocked prompt, checked to be a single ephemeral message and no follow-up."""
    text = await answer(world, interaction, contains=contains)
    info = world.ld.interaction(interaction["interaction_id"])
    assert info["response_type"] == 4 and not info["followup_message_ids"], info
    reply = world.ld.message(info["response_message_id"])
    assert reply is not None and reply["_ephemeral"] and reply["content"] == text
    return text


async def test_ban_with_duration_and_reason_holds_under_parallel_commands(world: World) -> None:
    member = new_member(world)
    text = await run(world, "mod", "mod ban", {"member": member, "duration": "2h", "reason": "flooding"})
    assert "is blocked from the bot until" in text
    bad = await run(world, "mod", "mod ban", {"member": member, "duration": "soon"})
    assert "not a duration" in bad
    interactions = await asyncio.gather(
        *(world.ld.invoke(member, "imagine", "imagine", {"prompt": f"try {i}"}) for i in range(6))
    )
    for interaction in interactions:
        text = await answer(world, interaction, contains="blocked from using the image bot")
        assert "flooding" in text and "The block ends" in text
    assert not jobs_of(world, member)
    assert "may use the bot again" in await run(world, "mod", "mod unban", {"member": member})


async def imagine_message(world: World, user: str, prompt: str) -> dict[str, Any]:
    interaction = await world.ld.invoke(user, "imagine", "imagine", {"prompt": prompt})

    def responded() -> str | None:
        return world.ld.interaction(interaction["interaction_id"])["response_message_id"]

    return await final(world, await wait_until(responded, within=15.0, what="the job message"))


async def test_quota_holds_under_parallel_presses_and_failed_jobs_are_not_counted(world: World) -> None:
    owner = new_member(world)
    grid = await imagine_message(world, owner, "a quota harbour")
    presser = new_member(world)
    await run(world, "mod", "mod limits set", {"daily_quota": 3})
    try:
        clicks = await asyncio.gather(
            *(press(world, presser, grid, f":{a}") for a in ("u1", "u2", "u3", "u4", "v1", "v2"))
        )
        texts = [await answer(world, c) for c in clicks]
        refusals = [t for t in texts if "You have used 3 of your 3 images for today" in t]
        assert len(refusals) == 3, texts
        # The children belong to the presser and count against their quota, not the owner's.
        assert len(jobs_of(world, presser)) == 3
        assert len(jobs_of(world, owner)) == 1
        info = await run(world, presser, "info")
        assert "3 of 3 images used today" in info
    finally:
        await run(world, "mod", "mod limits set", {"daily_quota": 0})


async def test_concurrency_holds_under_parallel_imagines(world: World) -> None:
    member = new_member(world)
    await run(world, "mod", "mod limits set", {"concurrent": 2})
    try:
        interactions = await asyncio.gather(
            *(world.ld.invoke(member, "imagine", "imagine", {"prompt": f"parallel {i}"}) for i in range(7))
        )
        texts = [await answer(world, i) for i in interactions]
        refused = [t for t in texts if "this server allows 2 at a time" in t]
        assert len(refused) == 5, texts
        assert len(jobs_of(world, member)) == 2
        # Refusals are private: the "thinking…" message of each refused command was removed.
        for interaction in interactions:
            info = world.ld.interaction(interaction["interaction_id"])
            original = world.ld.message(info["response_message_id"])
            assert original is not None
            assert original["_deleted"] or not original["_ephemeral"]
    finally:
        await run(world, "mod", "mod limits set", {"concurrent": 0})


async def test_cooldown_holds_under_parallel_imagines_and_roles_override(world: World) -> None:
    helpers = world.ld.add_role("Quick", 0)
    quick = new_member(world, "quick", role_ids=[helpers["id"]])
    member = new_member(world)
    await run(world, "mod", "mod limits set", {"cooldown": 3600})
    await run(world, "mod", "mod limits role", {"role": "Quick", "cooldown": 0})
    try:
        shown = await run(world, "mod", "mod limits show")
        assert "3600 s between jobs" in shown and f"<@&{helpers['id']}>: " in shown
        interactions = await asyncio.gather(
            *(world.ld.invoke(member, "imagine", "imagine", {"prompt": f"cool {i}"}) for i in range(5))
        )
        texts = [await answer(world, i) for i in interactions]
        assert sum("You can start your next job" in t for t in texts) == 4, texts
        assert len(jobs_of(world, member)) == 1
        # A role override lifts the cooldown for its members.
        quick_runs = await asyncio.gather(
            *(world.ld.invoke(quick, "imagine", "imagine", {"prompt": f"quick {i}"}) for i in range(3))
        )
        for interaction in quick_runs:
            await answer(world, interaction)
        assert len(jobs_of(world, quick)) == 3
    finally:
        await run(world, "mod", "mod limits role", {"role": "Quick", "clear": True})
        await run(world, "mod", "mod limits set", {"cooldown": 0})


async def test_allowed_channels_point_elsewhere(world: World) -> None:
    member = new_member(world)
    assert "Jobs are taken in: <#" in await run(world, "mod", "mod channels allow", {"channel": "imagine"})
    try:
        assert f"<#{world.channel_id('imagine')}>" in await run(world, "mod", "mod channels list")
        text = await run(world, member, "imagine", {"prompt": "wrong room"}, channel="general")
        assert "not used in this channel" in text and f"<#{world.channel_id('imagine')}>" in text
        assert not jobs_of(world, member)
    finally:
        assert "every channel" in await run(world, "mod", "mod channels disallow", {"channel": "imagine"})


async def test_button_policy_owner_refuses_other_members_but_not_owner_or_moderator(world: World) -> None:
    owner, other = new_member(world), new_member(world)
    grid = await imagine_message(world, owner, "a private garden")
    await run(world, "mod", "mod policy", {"buttons": "owner"})
    try:
        refused = await answer(world, await press(world, other, grid, ":u1"))
        assert "only an image's owner (or a moderator)" in refused
        assert not jobs_of(world, other)
        await answer(world, await press(world, owner, grid, ":u2"))
        await answer(world, await press(world, "mod", grid, ":u3"))
        assert len(jobs_of(world, owner)) == 2
        assert "Result buttons: owner and moderators" in await run(world, "mod", "mod limits show")
    finally:
        await run(world, "mod", "mod policy", {"buttons": "anyone"})


async def test_moderator_role_grants_mod_at_run_time(world: World) -> None:
    role = world.ld.add_role("Helpers", 0)
    helper = new_member(world, "helper", role_ids=[role["id"]])
    assert NOT_A_MODERATOR in await run(world, helper, "mod bans", force=True)
    await run(world, "mod", "mod moderator-role", {"role": "Helpers"})
    try:
        assert "Nobody is blocked" in await run(world, helper, "mod bans", force=True)
    finally:
        await run(world, "mod", "mod moderator-role")
    assert NOT_A_MODERATOR in await run(world, helper, "mod bans", force=True)


async def test_oversight_jobs_cancel_delete_stats_accounts_and_audit_channel(world: World) -> None:
    await run(world, "mod", "mod audit-channel", {"channel": "audit-log"})
    try:
        member = new_member(world)
        done = await imagine_message(world, member, "an audited lighthouse")
        running = await world.ld.invoke(member, "imagine", "imagine", {"prompt": "a cancelled lighthouse"})

        def responded() -> str | None:
            return world.ld.interaction(running["interaction_id"])["response_message_id"]

        running_id = await wait_until(responded, within=15.0, what="the second job's message")
        running_job = await wait_until(
            lambda: job_id_of(world.ld.message(running_id) or {}), within=15.0, what="its job id"
        )

        listing = await run(world, "mod", "mod jobs", {"member": member})
        assert job_id_of(done) in listing and "[jump](https://discord.com/channels/" in listing
        assert f"of <@{world.user_id(member)}>" in listing

        cancelled = await run(world, "mod", "mod cancel", {"job": f"`{running_job}`"})
        assert f"Cancelled job `{running_job}`" in cancelled
        ended = await final(world, running_id)
        assert "Cancelled by a moderator" in ended["content"]
        assert "already ended" in await run(world, "mod", "mod cancel", {"job": running_job})
        assert "no job with that id" in await run(world, "mod", "mod cancel", {"job": "zzz"})

        deleted = await run(world, "mod", "mod delete", {"job": job_id_of(done), "reason": "off-topic"})
        assert "was deleted" in deleted
        assert world.ld.message(done["id"])["_deleted"]
        listing = await run(world, "mod", "mod jobs", {"member": member})
        assert "removed by a moderator" in listing
        member_view = await run(world, member, "job", {"job": job_id_of(done)})
        assert "A moderator removed" in member_view

        stats = await run(world, "mod", "mod stats", {"days": 1})
        assert "**Jobs in the last 1 day:**" in stats and f"<@{world.user_id(member)}>" in stats

        accounts = await run(world, "mod", "mod accounts list")
        assert "`local/local`" in accounts and "active" in accounts
        assert "was not paused" in await run(world, "mod", "mod accounts reset", {"account": "local/local"})
        assert "no account" in await run(world, "mod", "mod accounts reset", {"account": "nope/none"})

        async def audit_posts() -> list[str] | None:
            posts = [m["content"] for m in world.ld.messages("audit-log")]
            wanted = ("deleted the message of job", "cancelled job", "**completed**", "**cancelled**")
            return posts if all(any(w in p for p in posts) for w in wanted) else None

        posts = await wait_until(audit_posts, within=15.0, what="the audit channel to show the job ends and actions")
        assert all(not m["_pinged"] for m in world.ld.messages("audit-log"))
        assert any("off-topic" in p for p in posts)
        assert any("an audited lighthouse" in p and "`local`" in p for p in posts)
    finally:
        await run(world, "mod", "mod audit-channel")


async def test_mod_jobs_pages_and_filters_and_rechecks_on_each_page(world: World) -> None:
    member = new_member(world)
    for i in range(11):
        await answer(world, await world.ld.invoke(member, "imagine", "imagine", {"prompt": f"sheet {i}"}))
    await idle(world)
    # A moderator by role opens the list, then loses the role before turning the page.
    role = world.ld.add_role("Pagers", 0)
    helper = new_member(world, "pager", role_ids=[role["id"]])
    await run(world, "mod", "mod moderator-role", {"role": "Pagers"})
    options = {"member": member, "status": "completed"}
    interaction = await world.ld.invoke(helper, "imagine", "mod jobs", options, force=True)
    first = await answer(world, interaction, contains="page 1")
    await run(world, "mod", "mod moderator-role")
    assert first.count("\n") == 10
    message = world.ld.message(world.ld.interaction(interaction["interaction_id"])["response_message_id"])
    newer, older = (c for c in button_ids(message) if c.startswith("img1:pg:mod:"))
    assert newer.endswith(":0") and older.endswith(":1")
    refused = await world.ld.click(helper, message["id"], older)
    assert NOT_A_MODERATOR in await answer(world, refused)
    assert "page 1" in world.ld.message(message["id"])["content"]

    interaction = await world.ld.invoke("mod", "imagine", "mod jobs", options)
    await answer(world, interaction, contains="page 1")
    message = world.ld.message(world.ld.interaction(interaction["interaction_id"])["response_message_id"])
    await world.ld.click("mod", message["id"], older)

    def second_page() -> str | None:
        content = world.ld.message(message["id"])["content"]
        return content if "page 2" in content else None

    second = await wait_until(second_page, within=15.0, what="the second page")
    assert second.count("\n") == 1
    assert "No jobs" in await run(world, "mod", "mod jobs", {"member": member, "status": "failed"})
