"""Moderation state: words, sanctions and escalation, limits and admission, settings, audit, statistics."""

from __future__ import annotations

import asyncio
import datetime as dt

import pytest

from bot.core.engine import JobEngine
from bot.core.models import ErrorReason, JobStatus
from bot.core.moderation import AuditAction, AuditEntry, ButtonPolicy, InvalidTerm, Moderation, Refusal
from bot.core.scheduling import AccountPool
from bot.core.store import Store

from .conftest import ALICE, BOB, GUILD, MOD, Clock, job

# -- banned words --------------------------------------------------------------------------------------


async def test_defaults_apply_until_switched_off(mod: Moderation) -> None:
    assert (await mod.check_prompt(GUILD, "a n.u.d.e figure")).blocked
    await mod.update_config(GUILD, actor_id=MOD, use_default_words=False)
    assert not (await mod.check_prompt(GUILD, "a n.u.d.e figure")).blocked


async def test_added_word_takes_effect_at_once_and_removal_too(mod: Moderation, audit: list[AuditEntry]) -> None:
    assert not (await mod.check_prompt(GUILD, "a pineapple pizza")).blocked
    await mod.add_word(GUILD, "pineapple", is_regex=False, actor_id=MOD)
    assert (await mod.check_prompt(GUILD, "a p1neapp|e pizza")).blocked
    # Another guild is not affected.
    assert not (await mod.check_prompt(GUILD + 1, "a pineapple pizza")).blocked
    removed = await mod.remove_word(GUILD, "pineapple", actor_id=MOD)
    assert removed is not None and removed.term == "pineapple"
    assert not (await mod.check_prompt(GUILD, "a pineapple pizza")).blocked
    assert [e.action for e in audit] == [AuditAction.WORD_ADDED, AuditAction.WORD_REMOVED]


async def test_words_survive_a_restart(store: Store, mod: Moderation, clock: Clock) -> None:
    await mod.add_word(GUILD, r"\bpine\w*", is_regex=True, actor_id=MOD)
    fresh = Moderation(store, clock=clock)
    assert (await fresh.check_prompt(GUILD, "PINEAPPLE")).blocked
    assert [w.term for w in (await fresh.guild(GUILD)).words] == [r"\bpine\w*"]


async def test_duplicate_and_invalid_words_are_refused(mod: Moderation) -> None:
    await mod.add_word(GUILD, "pineapple", is_regex=False, actor_id=MOD)
    with pytest.raises(InvalidTerm, match="already"):
        await mod.add_word(GUILD, "pineapple", is_regex=False, actor_id=MOD)
    with pytest.raises(InvalidTerm):
        await mod.add_word(GUILD, "(a|aa)+$", is_regex=True, actor_id=MOD)
    assert await mod.remove_word(GUILD, "never added", actor_id=MOD) is None


async def test_test_prompt_lists_every_hit(mod: Moderation) -> None:
    await mod.add_word(GUILD, "pineapple", is_regex=False, actor_id=MOD)
    verdict = await mod.test_prompt(GUILD, "gore and pineapple")
    assert {h.term.text for h in verdict.hits} == {"gore", "pineapple"}
    assert {h.term.default for h in verdict.hits} == {True, False}


# -- sanctions and escalation ----------------------------------------------------------------------------


async def test_ban_with_duration_expires(mod: Moderation, clock: Clock) -> None:
    ban = await mod.ban(GUILD, ALICE, actor_id=MOD, duration=dt.timedelta(hours=1), reason="spam")
    assert ban.expires_at == clock.now + dt.timedelta(hours=1)
    assert (await mod.guild(GUILD)).ban_for(ALICE, clock.now) is not None
    with pytest.raises(Refusal) as refused:
        await mod.admit(job(ALICE))
    assert refused.value.reason is ErrorReason.MEMBER_BANNED and refused.value.retry_at == ban.expires_at
    clock.advance(hours=1, seconds=1)
    assert (await mod.guild(GUILD)).ban_for(ALICE, clock.now) is None
    await mod.admit(job(ALICE))


async def test_permanent_ban_until_unbanned(mod: Moderation, audit: list[AuditEntry]) -> None:
    await mod.ban(GUILD, ALICE, actor_id=MOD, reason=None)
    with pytest.raises(Refusal):
        await mod.admit(job(ALICE))
    await mod.admit(job(BOB))  # only the banned member
    await mod.admit(job(ALICE, guild_id=GUILD + 1))  # only in that guild
    assert [b.user_id for b in await mod.active_bans(GUILD)] == [ALICE]
    assert await mod.unban(GUILD, ALICE, actor_id=MOD) is not None
    assert await mod.unban(GUILD, ALICE, actor_id=MOD) is None
    await mod.admit(job(ALICE))
    assert [e.action for e in audit] == [AuditAction.MEMBER_BANNED, AuditAction.MEMBER_UNBANNED]


async def test_escalation_blocks_after_n_blocked_prompts_in_a_day(mod: Moderation, clock: Clock) -> None:
    await mod.update_config(GUILD, actor_id=MOD, strike_limit=3, strike_block_minutes=30)
    verdict = await mod.test_prompt(GUILD, "gore")
    first = await mod.record_block(GUILD, ALICE, verdict, "gore")
    second = await mod.record_block(GUILD, ALICE, verdict, "gore")
    assert (first.strikes_today, second.strikes_today, second.ban) == (1, 2, None)
    # The outcome carries the numbers the member is told: how many more, and how long the pause would be.
    assert (first.strikes_left, first.pause_minutes, second.strikes_left) == (2, 30, 1)
    third = await mod.record_block(GUILD, ALICE, verdict, "gore")
    assert third.ban is not None and third.ban.automatic and third.pause_minutes == 30
    fourth = await mod.record_block(GUILD, ALICE, verdict, "gore")
    assert (fourth.strikes_left, fourth.pause_minutes) == (2, 60)
    assert third.ban.expires_at == clock.now + dt.timedelta(minutes=30)
    assert (await mod.guild(GUILD)).ban_for(ALICE) is not None
    # The next round of three doubles the block.
    for _ in range(2):
        outcome = await mod.record_block(GUILD, ALICE, verdict, "gore")
    assert outcome.ban is not None and outcome.ban.expires_at == clock.now + dt.timedelta(minutes=60)


async def test_strikes_older_than_a_day_do_not_count(mod: Moderation, clock: Clock) -> None:
    verdict = await mod.test_prompt(GUILD, "gore")
    await mod.record_block(GUILD, ALICE, verdict, "gore")
    await mod.record_block(GUILD, ALICE, verdict, "gore")
    clock.advance(hours=25)
    outcome = await mod.record_block(GUILD, ALICE, verdict, "gore")
    assert outcome.strikes_today == 1 and outcome.ban is None


async def test_escalation_never_shortens_a_moderator_ban(mod: Moderation) -> None:
    await mod.ban(GUILD, ALICE, actor_id=MOD, reason="for good")
    await mod.update_config(GUILD, actor_id=MOD, strike_limit=1)
    outcome = await mod.record_block(GUILD, ALICE, await mod.test_prompt(GUILD, "gore"), "gore")
    assert outcome.ban is None
    assert (await mod.guild(GUILD)).ban_for(ALICE).expires_at is None  # type: ignore[union-attr]


async def test_escalation_switched_off(mod: Moderation) -> None:
    await mod.update_config(GUILD, actor_id=MOD, strike_limit=0)
    verdict = await mod.test_prompt(GUILD, "gore")
    for _ in range(5):
        outcome = await mod.record_block(GUILD, ALICE, verdict, "gore")
    assert outcome.ban is None and (outcome.strikes_left, outcome.pause_minutes) == (0, 0)


async def test_parallel_blocked_prompts_escalate_exactly_once(mod: Moderation, audit: list[AuditEntry]) -> None:
    verdict = await mod.test_prompt(GUILD, "gore")
    outcomes = await asyncio.gather(*(mod.record_block(GUILD, ALICE, verdict, "gore") for _ in range(5)))
    assert sorted(o.strikes_today for o in outcomes) == [1, 2, 3, 4, 5]
    assert sum(o.ban is not None for o in outcomes) == 1
    assert sum(e.action is AuditAction.MEMBER_BANNED for e in audit) == 1


# -- limits and admission --------------------------------------------------------------------------------


async def insert(store: Store, mod: Moderation, *jobs_: object, role_ids: tuple[int, ...] = ()) -> None:
    for item in jobs_:
        async with store.transaction():
            await mod.admit(item, role_ids)  # type: ignore[arg-type]
            await store.insert_job(item)  # type: ignore[arg-type]


async def test_daily_quota_counts_only_jobs_that_did_not_fail(store: Store, mod: Moderation) -> None:
    await mod.update_config(GUILD, actor_id=MOD, daily_quota=2)
    first, second = job(), job()
    await insert(store, mod, first, second)
    with pytest.raises(Refusal) as refused:
        await mod.admit(job())
    assert (refused.value.reason, refused.value.used, refused.value.limit) == (ErrorReason.QUOTA_REACHED, 2, 2)
    assert refused.value.retry_at is not None and refused.value.retry_at.hour == 0
    # A failed, a moderated or a cancelled job is given back.
    for status in (JobStatus.FAILED, JobStatus.MODERATED, JobStatus.CANCELLED, JobStatus.TIMED_OUT):
        await store.update_job(first.id, status=status)
        await mod.admit(job())
    await store.update_job(first.id, status=JobStatus.COMPLETED)
    with pytest.raises(Refusal):
        await mod.admit(job())
    # Other members and other guilds have their own count.
    await mod.admit(job(BOB))
    await mod.admit(job(ALICE, guild_id=GUILD + 1))


async def test_concurrent_jobs_limit(store: Store, mod: Moderation) -> None:
    await mod.update_config(GUILD, actor_id=MOD, max_concurrent=1)
    running = job()
    await insert(store, mod, running)
    with pytest.raises(Refusal) as refused:
        await mod.admit(job())
    assert refused.value.reason is ErrorReason.TOO_MANY_JOBS
    await store.update_job(running.id, status=JobStatus.COMPLETED)
    await mod.admit(job())


async def test_cooldown(store: Store, mod: Moderation, clock: Clock) -> None:
    await mod.update_config(GUILD, actor_id=MOD, cooldown_s=60)
    first = job(created_at=clock.now)
    await insert(store, mod, first)
    with pytest.raises(Refusal) as refused:
        await mod.admit(job())
    assert refused.value.reason is ErrorReason.COOLDOWN
    assert refused.value.retry_at == clock.now + dt.timedelta(seconds=60)
    clock.advance(seconds=61)
    await mod.admit(job())


async def test_role_overrides_loosen_limits(store: Store, mod: Moderation) -> None:
    await mod.update_config(GUILD, actor_id=MOD, daily_quota=1, cooldown_s=600)
    await mod.set_role_limits(GUILD, 500, actor_id=MOD, daily_quota=3)
    await mod.set_role_limits(GUILD, 501, actor_id=MOD, daily_quota=0, cooldown_s=0)
    state = await mod.guild(GUILD)
    assert state.limits_for([]).daily_quota == 1
    assert state.limits_for([500]).daily_quota == 3 and state.limits_for([500]).cooldown_s == 600
    both = state.limits_for([500, 501])
    assert (both.daily_quota, both.cooldown_s) == (0, 0)
    await mod.set_role_limits(GUILD, 501, actor_id=MOD, clear=True)
    assert (await mod.guild(GUILD)).limits_for([501]).daily_quota == 1


async def test_pressing_an_already_pressed_button_is_not_charged(store: Store, mod: Moderation) -> None:
    await mod.update_config(GUILD, actor_id=MOD, daily_quota=1)
    parent = job(BOB)
    await store.insert_job(parent)
    child = job(parent_id=parent.id, action="u1")
    await insert(store, mod, child)
    # Alice is out of quota, but the same press again only finds the existing child.
    await mod.admit(job(parent_id=parent.id, action="u1"))
    with pytest.raises(Refusal):
        await mod.admit(job(parent_id=parent.id, action="u2"))


@pytest.mark.parametrize("limit", ["quota", "concurrent", "cooldown", "ban"])
async def test_limits_hold_under_parallel_submits(store: Store, mod: Moderation, clock: Clock, limit: str) -> None:
    """Twenty submits race through the real engine; exactly the allowed number get in."""
    settings = {"quota": {"daily_quota": 3}, "concurrent": {"max_concurrent": 2}, "cooldown": {"cooldown_s": 3600}}
    allowed = {"quota": 3, "concurrent": 2, "cooldown": 1, "ban": 0}[limit]
    if limit == "ban":
        await mod.ban(GUILD, ALICE, actor_id=MOD)
    else:
        await mod.update_config(GUILD, actor_id=MOD, **settings[limit])
    engine = JobEngine(store, AccountPool([]))  # never started: jobs stay queued, nothing reaches a provider

    async def attempt() -> bool:
        try:
            await engine.submit(job(created_at=clock.now), admit=mod.admitter())
        except Refusal:
            return False
        return True

    results = await asyncio.gather(*(attempt() for _ in range(20)))
    assert sum(results) == allowed
    row = await store.fetchone("SELECT COUNT(*) FROM jobs WHERE user_id = ?", (ALICE,))
    assert row is not None and row[0] == allowed
    assert engine.queued == allowed


async def test_parallel_presses_of_one_button_make_one_child(store: Store, mod: Moderation) -> None:
    await mod.update_config(GUILD, actor_id=MOD, daily_quota=5)
    parent = job(BOB, status=JobStatus.COMPLETED)
    await store.insert_job(parent)
    engine = JobEngine(store, AccountPool([]))
    results = await asyncio.gather(
        *(engine.submit_child(job(parent_id=parent.id, action="v1"), admit=mod.admitter()) for _ in range(10))
    )
    assert sum(created for _, created in results) == 1
    assert len({stored.id for stored, _ in results}) == 1


async def test_usage_reports_standing(store: Store, mod: Moderation, clock: Clock) -> None:
    await mod.update_config(GUILD, actor_id=MOD, daily_quota=5, cooldown_s=60)
    await insert(store, mod, job(created_at=clock.now))
    done = job(created_at=clock.now - dt.timedelta(hours=1), status=JobStatus.COMPLETED)
    await store.insert_job(done)
    usage = await mod.usage(GUILD, ALICE)
    assert (usage.used_today, usage.limits.daily_quota, usage.queued, usage.running) == (2, 5, 1, 0)
    assert usage.cooldown_until == clock.now + dt.timedelta(seconds=60)
    assert usage.resets_at == clock.now.replace(hour=0) + dt.timedelta(days=1)


async def test_limit_values_are_validated(mod: Moderation) -> None:
    with pytest.raises(ValueError, match="daily_quota"):
        await mod.update_config(GUILD, actor_id=MOD, daily_quota=-1)
    with pytest.raises(ValueError, match="unknown"):
        await mod.update_config(GUILD, actor_id=MOD, colour="red")


async def test_policy_and_channels(mod: Moderation) -> None:
    config = await mod.update_config(GUILD, actor_id=MOD, button_policy="owner", moderator_role_id=77)
    assert config.button_policy is ButtonPolicy.OWNER
    state = await mod.guild(GUILD)
    assert state.channel_allowed(5) and state.is_moderator_role([1, 77]) and not state.is_moderator_role([1])
    assert await mod.set_channel(GUILD, 7, allowed=True, actor_id=MOD)
    assert not await mod.set_channel(GUILD, 7, allowed=True, actor_id=MOD)
    state = await mod.guild(GUILD)
    assert state.channel_allowed(7) and not state.channel_allowed(5)
    assert state.channel_allowed(123, 7)  # a thread whose parent is allowed
    assert await mod.set_channel(GUILD, 7, allowed=False, actor_id=MOD)
    assert (await mod.guild(GUILD)).channel_allowed(5)


# -- member settings, audit, statistics --------------------------------------------------------------


async def test_member_settings_round_trip(store: Store, mod: Moderation, clock: Clock) -> None:
    assert (await mod.member_settings(ALICE)).suffix == ""
    await mod.update_member_settings(ALICE, aspect="16:9", suffix="--v 6", dm_on_finish=True)
    fresh = Moderation(store, clock=clock)
    settings = await fresh.member_settings(ALICE)
    assert (settings.aspect, settings.suffix, settings.dm_on_finish) == ("16:9", "--v 6", True)
    await fresh.update_member_settings(ALICE, aspect=None)
    assert (await fresh.member_settings(ALICE)).aspect is None


async def test_job_end_is_recorded_once(store: Store, mod: Moderation, audit: list[AuditEntry]) -> None:
    done = job(status=JobStatus.FAILED, error=ErrorReason.PROVIDER_FAILED)
    assert await mod.record_job_end(done) is not None
    assert await mod.record_job_end(done) is None
    assert await mod.record_job_end(job()) is None  # not finished
    entries = await mod.audit_log(GUILD)
    assert [e.action for e in entries] == [AuditAction.JOB_FINISHED]
    assert entries[0].detail["error"] == "provider_failed" and entries[0].job_id == done.id
    assert len(audit) == 1


async def test_stats(store: Store, mod: Moderation, clock: Clock) -> None:
    for user, status, error in [
        (ALICE, JobStatus.COMPLETED, None),
        (ALICE, JobStatus.COMPLETED, None),
        (ALICE, JobStatus.FAILED, ErrorReason.PROVIDER_FAILED),
        (BOB, JobStatus.MODERATED, ErrorReason.BANNED_PROMPT),
        (BOB, JobStatus.FAILED, ErrorReason.PROVIDER_FAILED),
    ]:
        await store.insert_job(job(user, status=status, error=error))
    await store.insert_job(job(BOB, guild_id=GUILD + 1))
    await mod.record_block(GUILD, BOB, await mod.test_prompt(GUILD, "gore"), "gore")
    stats = await mod.stats(GUILD, clock.now - dt.timedelta(days=7))
    assert stats.total == 5
    assert stats.by_status[JobStatus.COMPLETED] == 2
    assert stats.top_errors[0] == ("provider_failed", 2)
    assert stats.top_members[0] == (ALICE, 3, 2)
    assert stats.blocked_prompts == 1


async def test_job_pages(store: Store, mod: Moderation, clock: Clock) -> None:
    for i in range(12):
        await store.insert_job(job(created_at=clock.now + dt.timedelta(seconds=i)))
    await store.insert_job(job(BOB, status=JobStatus.FAILED))
    first, more = await mod.job_page(guild_id=GUILD, user_id=ALICE, page=0, per_page=5)
    assert len(first) == 5 and more
    last, more = await mod.job_page(guild_id=GUILD, user_id=ALICE, page=2, per_page=5)
    assert len(last) == 2 and not more
    failed, _ = await mod.job_page(guild_id=GUILD, status=JobStatus.FAILED)
    assert [j.user_id for j in failed] == [BOB]


@pytest.mark.parametrize(
    ("sql", "index"),
    [
        ("SELECT COUNT(*) FROM jobs WHERE guild_id = 1 AND user_id = 2 AND status IN"
         " ('queued', 'submitted', 'running')", "jobs_member_unfinished"),
        ("SELECT COUNT(*) FROM jobs WHERE guild_id = 1 AND user_id = 2 AND created_at >= '' AND status IN"
         " ('queued', 'submitted', 'running', 'completed')", "jobs_guild_user_created"),
        ("SELECT * FROM jobs WHERE guild_id = 1 AND status IN ('failed') ORDER BY created_at DESC",
         "jobs_guild_status_created"),
        ("SELECT COUNT(*) FROM mod_strikes WHERE guild_id = 1 AND user_id = 2 AND at > ''", "mod_strikes_member"),
        ("SELECT COUNT(*) FROM mod_strikes WHERE guild_id = 1 AND at >= ''", "mod_strikes_guild"),
        ("SELECT * FROM mod_audit WHERE guild_id = 1 ORDER BY at DESC, id DESC LIMIT 5", "mod_audit_guild"),
    ],
)  # fmt: skip
async def test_queries_use_their_index(store: Store, sql: str, index: str) -> None:
    if store.dialect != "sqlite":
        pytest.skip("reads SQLite's query plan; PostgreSQL's planner picks among usable indexes by its statistics")
    plan = " ".join(str(tuple(r)) for r in await store.fetchall(f"EXPLAIN QUERY PLAN {sql}"))
    assert index in plan, plan
