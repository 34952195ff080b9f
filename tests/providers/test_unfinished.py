"""No job stays unfinished: stalled, lost or unmappable jobs end timed_out with a reason, per provider."""

from __future__ import annotations

import pytest

from bot.core.models import ErrorReason, JobStatus

from .conftest import PROVIDERS, Harness, make_job, wait_until

STALL_S = 0.3


@pytest.mark.parametrize("name", PROVIDERS)
async def test_stalled_job_times_out(harness: Harness, name: str) -> None:
    sim = await harness.sim(name, step_seconds=0.02, steps=3)
    sim.faults.stall = True
    engine = await harness.engine(harness.adapter(name, sim), stall_timeout_s=STALL_S)
    job = await harness.imagine(engine, name)
    assert job.status is JobStatus.TIMED_OUT
    assert job.error is ErrorReason.STALLED and job.error_detail


@pytest.mark.parametrize("name", PROVIDERS)
async def test_lost_job_times_out(harness: Harness, name: str) -> None:
    sim = await harness.sim(name, step_seconds=0.05, steps=4)
    engine = await harness.engine(harness.adapter(name, sim), stall_timeout_s=5.0)
    job = await engine.submit(make_job(name))
    await wait_until(lambda: _has_sim_job(sim))
    # The provider forgets the job: it answers "not found" from now on.
    sim.jobs.clear()
    done = await harness.finished(engine, job.id)
    assert done.status is JobStatus.TIMED_OUT
    assert done.error is ErrorReason.LOST


async def test_thenextleg_incomplete_message_times_out(harness: Harness) -> None:
    sim = await harness.sim("thenextleg", step_seconds=0.05, steps=4)
    engine = await harness.engine(harness.adapter("thenextleg", sim))
    job = await engine.submit(make_job("thenextleg"))
    await wait_until(lambda: _has_sim_job(sim))
    sim.finish(next(iter(sim.jobs.values())), "expired")
    done = await harness.finished(engine, job.id)
    assert done.status is JobStatus.TIMED_OUT and done.error is ErrorReason.LOST


@pytest.mark.parametrize("name", PROVIDERS)
async def test_unmappable_answers_time_out(harness: Harness, name: str) -> None:
    sim = await harness.sim(name, step_seconds=0.05, steps=4)
    engine = await harness.engine(harness.adapter(name, sim), stall_timeout_s=STALL_S)
    job = await engine.submit(make_job(name))
    await wait_until(lambda: _has_sim_job(sim))
    # From here on every answer is garbage the adapter cannot map; the engine must not hang on it.
    sim.faults.malformed_rate = 1.0
    done = await harness.finished(engine, job.id)
    assert done.status is JobStatus.TIMED_OUT
    assert done.error is ErrorReason.STALLED


@pytest.mark.parametrize("name", PROVIDERS)
async def test_lost_webhooks_fall_back_to_polling(harness: Harness, name: str) -> None:
    sim = await harness.sim(name, step_seconds=0.02, steps=3)
    sim.faults.webhook_drop_rate = 1.0
    engine = await harness.engine(harness.adapter(name, sim), webhooks=True, webhook_fallback_poll_s=0.2)
    job = await harness.imagine(engine, name)
    assert job.status is JobStatus.COMPLETED
    assert sim.webhooks and all(w["dropped"] for w in sim.webhooks)


async def test_unknown_status_is_a_protocol_error_not_a_crash(harness: Harness) -> None:
    from bot.core.errors import ProviderProtocolError

    sim = await harness.sim("useapi")
    adapter = harness.adapter("useapi", sim)
    with pytest.raises(ProviderProtocolError):
        adapter.parse_webhook({}, b'{"jobid": "x", "status": "exploded"}')
    for name in ("thenextleg", "imaginepro", "apiframe"):
        other = harness.adapter(name, sim)
        with pytest.raises(ProviderProtocolError):
            other.parse_webhook({}, b'{"status": "exploded", "progress": {"a": 1}}')


async def _has_sim_job(sim: object) -> bool:
    return bool(getattr(sim, "jobs", None))
