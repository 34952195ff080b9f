"""Engine behaviour the load benchmark leans on: instant providers, batched writes, a busy queue."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from typing import Any

from bot.core.engine import DELIVERED_FLUSH_S
from bot.core.models import Job, JobStatus, ProviderUpdate
from bot.core.providers.base import Capabilities, ImagineRequest, Submission
from bot.core.scheduling import FairQueue
from bot.core.store import Store
from tests.unit.conftest import make_job, wait_until
from tests.unit.test_engine import ScriptedProvider, done, finished


class InstantProvider(ScriptedProvider):
    """Finishes every job at once and calls back before its submit has even been answered."""

    capabilities = Capabilities(
        grid_actions=ScriptedProvider.capabilities.grid_actions, webhooks=True, progress_webhooks=True
    )

    def __init__(self) -> None:
        super().__init__(max_jobs=8)
        self.engine: Any = None
        self.callbacks: list[asyncio.Task[Any]] = []

    async def imagine(self, request: ImagineRequest) -> Submission:
        callback = asyncio.create_task(self.engine.handle_webhook("scripted", {}, request.job_id.encode()))
        self.callbacks.append(callback)
        await asyncio.sleep(0.05)  # the callback is handled while this answer is still on its way
        return Submission(provider_job_id=f"p-{request.job_id}")

    def parse_webhook(self, headers: Mapping[str, str], body: bytes) -> ProviderUpdate:
        job_id = body.decode()
        return done().model_copy(update={"ref": job_id, "provider_job_id": f"p-{job_id}"})


async def test_callback_overtaking_its_submit_finishes_the_job_once(make_engine: Any, store: Store) -> None:
    provider = InstantProvider()
    # Webhook mode: a lost callback would only be noticed by the 30 s safety-net poll.
    engine, events = make_engine(provider, webhook_url_for=lambda name: "http://127.0.0.1:1/webhooks/x")
    provider.engine = engine
    await engine.start()
    job = await engine.submit(make_job(provider="scripted"))
    result = await wait_until(lambda: finished(store, job.id), within=3.0)
    await asyncio.gather(*provider.callbacks)
    await asyncio.sleep(0.1)

    assert result.status is JobStatus.COMPLETED and result.provider_job_id == f"p-{job.id}"
    stored = await store.get_job(job.id)
    assert stored is not None and stored.status is JobStatus.COMPLETED  # not put back to "submitted"
    assert events.kinds(job.id).count("finished") == 1
    assert engine.running == 0 and engine.queued == 0


async def test_delivered_flags_are_written_together_and_on_stop(make_engine: Any, store: Store) -> None:
    engine, _ = make_engine()
    await engine.start()
    jobs = [await engine.submit(make_job()) for _ in range(3)]
    for job in jobs:
        await wait_until(lambda job=job: finished(store, job.id))
        await engine.mark_delivered(job.id)
    assert await delivered(store, jobs) == [False] * 3  # not one write per result
    await asyncio.sleep(DELIVERED_FLUSH_S + 0.3)
    assert await delivered(store, jobs) == [True] * 3

    late = await engine.submit(make_job())
    await wait_until(lambda: finished(store, late.id))
    await engine.mark_delivered(late.id)
    await engine.stop()  # a clean stop writes what is pending
    assert await delivered(store, [late]) == [True]


async def delivered(store: Store, jobs: list[Job]) -> list[bool]:
    return [bool(stored and stored.delivered) for stored in [await store.get_job(j.id) for j in jobs]]


def test_fair_queue_pops_in_linear_time() -> None:
    queue = FairQueue()
    jobs = [make_job(user_id=n) for n in range(5000)]
    for job in jobs:
        queue.push(job)
    started = time.perf_counter()
    taken = [queue.pop_next(lambda job: True) for _ in range(len(jobs))]
    # Copying the member list on every pop made this quadratic: seconds, not milliseconds.
    assert time.perf_counter() - started < 1.0
    assert [j.id for j in taken if j is not None] == [j.id for j in jobs]
