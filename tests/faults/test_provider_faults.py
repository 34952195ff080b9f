"""A provider misbehaving at a set rate: 5xx, hangs past the client's timeout, malformed JSON, 429 with
Retry-After, and the same faults after the provider took the job (a gateway's 502/503/504, a garbled
200, a hang); webhooks lost, duplicated and out of order. No job stays unfinished, every job that fails
says why in the words the member reads, and the simulators' own counts show no job sent twice.

In process for each of the four providers (fast, every adapter's error mapping), then once end to end
through the real bot and the local Discord, where "says why" means the message shows the reason.
"""

from __future__ import annotations

import asyncio
import collections
import random
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest
from aiohttp import web

from bot.core.models import ErrorReason, JobStatus
from bot.ui.render import job_content
from localdiscord import LocalDiscord
from providersim import SimServer, simulator
from providersim._core import ErrorSpec, json_response
from tests.faults.support import API_KEY, free_port, provider_env, response_message_id, settle
from tests.helpers import make_job, wait_until
from tests.providers.conftest import PROVIDERS, Harness

SEED = 77
JOBS = 12
# The mix, per request to the provider: about a third of them go wrong in one way or another.
FAULTS = {
    "error_rate": 0.1,
    "timeout_rate": 0.05,
    "malformed_rate": 0.1,
    # The ambiguous ones (issue 9, item 1): the job is created, then the answer is lost or garbled.
    "after_error_rate": 0.1,
    "after_malformed_rate": 0.1,
    "after_timeout_rate": 0.05,
    "webhook_drop_rate": 0.3,
    "webhook_duplicate": True,
    "webhook_reorder": True,
    "webhook_progress": True,
}
THROTTLE_RATE = 0.1
RETRY_AFTER_S = 0.2
NO_WAIT = {"Retry-After": "0"}
# The reasons these faults may leave a job with, once the retries are spent.
FAULT_REASONS = {
    ErrorReason.PROVIDER_UNAVAILABLE,
    ErrorReason.RATE_LIMITED,
    ErrorReason.MALFORMED_RESPONSE,
    ErrorReason.JOB_QUEUED,
    ErrorReason.STALLED,
    # A submit whose answer did not prove a refusal, never claimed: ended honestly, never resent.
    ErrorReason.UNCONFIRMED,
}


def throttling(rate: float, seed: int) -> Callable[..., Awaitable[web.StreamResponse]]:
    """A simulator middleware answering a share of API requests 429 with Retry-After, as a provider's
    rate limiter does. It runs inside the simulator's own, so the request log records the 429."""
    # Every n-th API request, starting at a seeded offset: the rate holds even over the dozen requests a
    # provider whose jobs finish by callback receives (a random draw may hit none of them).
    every = max(1, round(1 / rate))
    count = random.Random(seed).randrange(every)

    @web.middleware
    async def middleware(
        request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        nonlocal count
        if request.path.startswith(("/_sim/", "/images/")):
            return await handler(request)
        count += 1
        if count % every == 0:
            headers = {"Retry-After": f"{RETRY_AFTER_S:g}"}
            return json_response(429, {"error": "Too many requests, slow down", "code": 429}, headers)
        return await handler(request)

    return middleware


async def faulty_sim(name: str, *, hang_s: float, **kwargs: Any) -> SimServer:
    if name == "thenextleg":
        kwargs.setdefault("rate_limit_seconds", 0.0)
    sim = simulator(name, api_key=API_KEY, seed=SEED, **kwargs)
    sim.faults.update(FAULTS | {"hang_seconds": hang_s})
    sim.app.middlewares.append(throttling(THROTTLE_RATE, SEED))
    await sim.start()
    return sim


def check_faults_happened(sim: SimServer) -> None:
    statuses = collections.Counter(r.get("status") for r in sim.requests)
    assert statuses[429] and statuses[502] + statuses[504], (sim.name, statuses)
    assert any(w["dropped"] for w in sim.webhooks), "no webhook was lost"


def ambiguous_answers(sim: SimServer) -> int:
    """Submits the simulator took and then answered unclearly (a dozen jobs may draw none at one provider)."""
    return sum(1 for r in sim.requests if r.get("after_fault"))


def check_none_sent_twice(sim: SimServer) -> None:
    """From the simulator's own count of jobs created per ref: never two for one of ours."""
    twice = {ref: n for ref, n in sim.submits.items() if n > 1}
    assert not twice, f"{sim.name}: jobs sent twice: {twice}"


async def test_every_job_ends_and_says_why_at_every_provider(harness: Harness) -> None:
    # The four providers side by side: the retries' back-off dominates, so together costs what one does.
    async with httpx.AsyncClient(timeout=httpx.Timeout(0.3)) as http:
        sims = await asyncio.gather(*(_one_provider(harness, http, name) for name in PROVIDERS))
    assert sum(ambiguous_answers(sim) for sim in sims), "no job was taken behind an unclear answer"


async def _one_provider(harness: Harness, http: httpx.AsyncClient, name: str) -> SimServer:
    # Hangs outlast the client's timeout: a real timeout on our side, not the provider's 504.
    sim = await faulty_sim(name, hang_s=1.0, step_seconds=0.03, steps=3, previews=True)
    harness.sims.append(sim)
    adapter = harness.adapter(name, sim, max_jobs=4, api_key=API_KEY)
    adapter.http = http
    engine = await harness.engine(
        adapter,
        webhooks=True,
        webhook_fallback_poll_s=0.3,
        max_submit_attempts=3,
        stall_timeout_s=3.0,
        limbo_grace_s=1.0,
    )
    jobs = [await engine.submit(make_job(name, prompt=f"fault {i}")) for i in range(JOBS)]

    async def all_done() -> list[Any] | None:
        stored = [await harness.store.get_job(job.id) for job in jobs]
        return stored if all(j is not None and j.terminal for j in stored) else None

    finished = await wait_until(all_done, within=30)
    outcomes = collections.Counter(job.error or job.status for job in finished)
    for job in finished:
        if job.status is JobStatus.COMPLETED:
            assert job.grid_url and job.actions, job
            continue
        assert job.error in FAULT_REASONS, (name, job.error, job.error_detail)
        # The member's message carries the reason in plain words, not a code.
        assert job.error.message in job_content(job), job_content(job)
    assert outcomes[JobStatus.COMPLETED] >= JOBS // 2, (name, outcomes)
    check_faults_happened(sim)
    check_none_sent_twice(sim)
    assert engine.running == 0 and engine.queued == 0
    return sim


@pytest.mark.e2e
async def test_faulty_provider_end_to_end(ld: LocalDiscord, start_bot: Any) -> None:
    # ImaginePro: polled at its own pace beside its callbacks, so the faults meet both paths.
    sim = await faulty_sim("imaginepro", hang_s=0.4, step_seconds=0.15, steps=3, previews=True)
    try:
        env = provider_env(
            "imaginepro",
            sim,
            free_port(),
            MAX_SUBMIT_ATTEMPTS=3,
            STALL_TIMEOUT_S=4,
            EDIT_INTERVAL_S=0.6,
            LIMBO_GRACE_S=1,
        )
        bot = await start_bot(**env)
        invoked = await asyncio.gather(
            *(ld.invoke(("alice", "bob", "carol")[i % 3], "imagine", "imagine", {"prompt": f"rough day {i}"})
              for i in range(JOBS))
        )  # fmt: skip
        message_ids = [await response_message_id(ld, i["interaction_id"]) for i in invoked]
        rows = await settle(ld, bot, message_ids, within=45)
        check_faults_happened(sim)
        # And one job the outage outlasts: every attempt fails, and the member reads why.
        sim.errors = {**sim.errors, "outage": ErrorSpec(503, {"error": "upstream unavailable"}, headers=NO_WAIT)}
        sim.fail_next.extend(["outage"] * 3)
        doomed = await ld.invoke("alice", "imagine", "imagine", {"prompt": "the unlucky one"})
        doomed_id = await response_message_id(ld, doomed["interaction_id"])
        rows = await settle(ld, bot, [*message_ids, doomed_id], within=30)
        check_none_sent_twice(sim)
    finally:
        await sim.stop()
    for row in rows.values():
        if row["status"] != JobStatus.COMPLETED.value:
            assert ErrorReason(row["error"]) in FAULT_REASONS, row
    # Every attempt failed; the last one says which way (the outage, or one of the random faults).
    doomed_reason = ErrorReason(rows[doomed_id]["error"])
    assert doomed_reason in FAULT_REASONS - {ErrorReason.STALLED}, doomed_reason
    assert doomed_reason.message in (ld.message(doomed_id) or {})["content"]
