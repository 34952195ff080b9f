"""Account pool and fair queue against real simulators: maxJobs, fairness, pooled accounts, failover."""

from __future__ import annotations

from bot.core.models import ErrorReason, JobStatus

from .conftest import API_KEY, Harness, make_job


async def test_useapi_max_jobs_is_respected(harness: Harness) -> None:
    sim = await harness.sim("useapi", step_seconds=0.03, steps=3)
    engine = await harness.engine(harness.adapter("useapi", sim, max_jobs=2))
    peak = 0

    def watch(event: object) -> None:
        nonlocal peak
        peak = max(peak, sum(1 for j in sim.jobs.values() if not j.terminal))

    engine.add_listener(watch)
    jobs = [await engine.submit(make_job("useapi", user_id=i % 3)) for i in range(6)]
    for job in jobs:
        assert (await harness.finished(engine, job.id)).status is JobStatus.COMPLETED
    assert peak <= 2
    # The pool kept within maxJobs, so useapi never had to answer 429.
    assert all(r["status"] != 429 for r in sim.requests)
    assert {r["body"]["maxJobs"] for r in sim.requests if r["path"] == "/v2/jobs/imagine"} == {2}


async def test_one_members_burst_does_not_starve_another(harness: Harness) -> None:
    sim = await harness.sim("imaginepro", step_seconds=0.03, steps=2)
    engine = await harness.engine(harness.adapter("imaginepro", sim, max_jobs=1))
    burst = [
        await engine.submit(make_job("imaginepro", user_id=1, prompt=f"burst {i}", prompt_final=f"burst {i}"))
        for i in range(5)
    ]
    other = await engine.submit(make_job("imaginepro", user_id=2, prompt="other", prompt_final="the other member"))
    # Behind at most the one burst job not yet taken: the member is not queued behind all five.
    assert engine.queue_position(other.id) in (None, 1, 2)
    await harness.finished(engine, other.id, within=10)
    order = [r["body"]["prompt"] for r in sim.requests if r["path"].endswith("/imagine")]
    # Round-robin: the other member's job goes right after the first of the burst, not after all five.
    assert order.index("the other member") <= 2, order
    for job in burst:
        await harness.finished(engine, job.id, within=10)


async def test_queue_position_per_account(harness: Harness) -> None:
    sim = await harness.sim("apiframe", step_seconds=0.05, steps=2)
    engine = await harness.engine(harness.adapter("apiframe", sim, max_jobs=1))
    jobs = [await engine.submit(make_job("apiframe", user_id=i)) for i in range(3)]
    positions = [engine.queue_position(job.id) for job in jobs]
    # One runs (or is about to), the others wait in order.
    assert [p for p in positions if p is not None] == list(range(1, 1 + sum(p is not None for p in positions)))
    assert positions[-1] is not None
    for job in jobs:
        await harness.finished(engine, job.id)


async def test_pooled_accounts_share_the_load(harness: Harness) -> None:
    sim = await harness.sim("useapi", step_seconds=0.03, steps=2)
    second_key = "second-key-0123456789"
    sim.api_keys.add(second_key)
    first = harness.adapter("useapi", sim, account="one", max_jobs=1)
    second = harness.adapter("useapi", sim, account="two", max_jobs=1, api_key=second_key)
    engine = await harness.engine(first, second)
    jobs = [await engine.submit(make_job("useapi", user_id=i)) for i in range(4)]
    done = [await harness.finished(engine, job.id) for job in jobs]
    assert {j.account for j in done} == {"one", "two"}
    assert all(j.status is JobStatus.COMPLETED for j in done)


async def test_out_of_fast_hours_fails_over_to_the_next_provider(harness: Harness) -> None:
    primary = await harness.sim("imaginepro")
    backup = await harness.sim("apiframe")
    primary.fail_next.append("no_fast_hours_submit")
    engine = await harness.engine(
        harness.adapter("imaginepro", primary), harness.adapter("apiframe", backup), failover=("apiframe",)
    )
    job = await harness.imagine(engine, "imaginepro")
    assert job.status is JobStatus.COMPLETED
    assert job.provider == "apiframe"
    paused = await harness.store.paused_accounts()
    assert paused[("imaginepro", "a")][0] == ErrorReason.OUT_OF_FAST_HOURS.value
    # The next imagine goes straight to the backup: the paused account hears nothing.
    calls = len(primary.requests)
    again = await harness.imagine(engine, "imaginepro")
    assert again.provider == "apiframe" and len(primary.requests) == calls


async def test_thenextleg_no_fast_hours_in_a_result_pauses_the_account(harness: Harness) -> None:
    tnl = await harness.sim("thenextleg")
    backup = await harness.sim("useapi")
    tnl.fail_next.append("no_fast_hours")
    engine = await harness.engine(
        harness.adapter("thenextleg", tnl), harness.adapter("useapi", backup), failover=("useapi",)
    )
    first = await harness.imagine(engine, "thenextleg")
    assert first.error is ErrorReason.OUT_OF_FAST_HOURS
    second = await harness.imagine(engine, "thenextleg")
    assert second.status is JobStatus.COMPLETED and second.provider == "useapi"
    assert API_KEY not in str(await harness.store.paused_accounts())
