"""The webhook receiver: authentication, size cap, idempotency under duplicated and out-of-order callbacks."""

from __future__ import annotations

import itertools
import json

import pytest

from bot.core.models import JobStatus
from bot.core.providers._common import webhook_header_secret

from .conftest import PROVIDERS, WEBHOOK_SECRET, Harness, make_job, wait_until


@pytest.mark.parametrize("name", PROVIDERS)
async def test_duplicated_and_out_of_order_callbacks_never_move_a_job_back(harness: Harness, name: str) -> None:
    sim = await harness.sim(name, step_seconds=0.02, steps=4)
    sim.faults.update({"webhook_progress": True, "webhook_duplicate": True, "webhook_reorder": True})
    engine = await harness.engine(harness.adapter(name, sim), webhooks=True)
    job = await harness.imagine(engine, name)
    assert job.status is JobStatus.COMPLETED

    # Wait for the stale progress callback that follows the final one, then check nothing moved.
    await wait_until(lambda: _delivered(sim, 2 + 2))
    stored = await harness.store.get_job(job.id)
    assert stored is not None and stored.status is JobStatus.COMPLETED and stored.progress == 100
    assert stored.grid_url == job.grid_url


async def _delivered(sim: object, at_least: int) -> bool:
    return len([w for w in getattr(sim, "webhooks", []) if not w["dropped"]]) >= at_least


async def test_receiver_refuses_bad_token_bad_secret_and_big_bodies(harness: Harness) -> None:
    sim = await harness.sim("apiframe")
    engine = await harness.engine(harness.adapter("apiframe", sim), webhooks=True)
    server = harness.servers[0]
    base = f"{server.bound_url}/webhooks"
    url = f"{base}/apiframe/{WEBHOOK_SECRET}"
    secret = webhook_header_secret(url)
    body = json.dumps({"task_id": "unknown", "status": "finished"})

    wrong_token = await harness.http.post(f"{base}/apiframe/{'x' * len(WEBHOOK_SECRET)}", content=body)
    assert wrong_token.status_code == 404
    no_secret = await harness.http.post(url, content=body)
    assert no_secret.status_code == 401
    bad_secret = await harness.http.post(url, content=body, headers={"x-webhook-secret": "nope"})
    assert bad_secret.status_code == 401
    # An authentic callback for a job we do not know is acknowledged and ignored.
    unknown = await harness.http.post(url, content=body, headers={"x-webhook-secret": secret})
    assert unknown.status_code == 200
    huge = await harness.http.post(url, content=b"{" + b" " * (server.max_body + 10) + b"}",
                                   headers={"x-webhook-secret": secret})  # fmt: skip
    assert huge.status_code == 413
    garbage = await harness.http.post(url, content=b"not json", headers={"x-webhook-secret": secret})
    assert garbage.status_code == 400
    not_configured = await harness.http.post(f"{base}/useapi/{WEBHOOK_SECRET}", content=b"{}")
    assert not_configured.status_code == 404
    assert engine.running == 0


async def test_callback_for_a_job_is_applied_by_ref(harness: Harness) -> None:
    """useapi posts the job object with our replyRef; a forged stale 'progress' after it changes nothing."""
    sim = await harness.sim("useapi", step_seconds=0.02, steps=3)
    engine = await harness.engine(harness.adapter("useapi", sim), webhooks=True)
    job = await harness.imagine(engine, "useapi")
    url = f"{harness.servers[0].bound_url}/webhooks/useapi/{WEBHOOK_SECRET}"
    stale = {"jobid": job.provider_job_id, "replyRef": job.id, "status": "progress", "content": "**x** (10%)"}
    answer = await harness.http.post(url, json=stale)
    assert answer.status_code == 200
    stored = await harness.store.get_job(job.id)
    assert stored is not None and stored.status is JobStatus.COMPLETED
    # A callback naming another provider job for the same ref is ignored too.
    other = {"jobid": "someone-else", "replyRef": job.id, "status": "failed", "error": "x"}
    assert (await harness.http.post(url, json=other)).status_code == 200
    stored = await harness.store.get_job(job.id)
    assert stored is not None and stored.status is JobStatus.COMPLETED


async def test_runtime_starts_and_stops_the_receiver(tmp_path: object, monkeypatch: pytest.MonkeyPatch) -> None:
    from bot.core.runtime import Runtime
    from bot.core.settings import Settings

    settings = Settings(
        _env_file=None, data_dir=tmp_path, webhook_enabled=True, webhook_port=0,
        webhook_secret=WEBHOOK_SECRET,
    )  # type: ignore[call-arg]  # fmt: skip
    runtime = Runtime(settings)
    await runtime.start()
    try:
        await runtime.start_engine()
        assert runtime.webhooks is not None
        url = runtime.webhook_url_for("useapi")
        assert url == f"{runtime.webhooks.bound_url}/webhooks/useapi/{WEBHOOK_SECRET}"
        health = await runtime.http.get(f"{runtime.webhooks.bound_url}/webhooks/health")
        assert health.status_code == 200
    finally:
        await runtime.close()
    assert runtime.webhooks is None


@pytest.mark.parametrize("name", ["apiframe", "useapi"])
async def test_a_lost_callback_delays_a_result_by_at_most_the_fallback_poll(harness: Harness, name: str) -> None:
    """Issue 9, item 5: after failed polls the fallback poll backed off to 60 s, so a job whose only
    callback was lost was shown minutes late. Every gap between polls now stays under the bound."""
    fallback = 0.4
    sim = await harness.sim(name, step_seconds=0.3, steps=3)
    sim.faults.update({"webhook_drop_rate": 1.0})
    engine = await harness.engine(harness.adapter(name, sim), webhooks=True, webhook_fallback_poll_s=fallback)
    job = await engine.submit(make_job(name))
    await wait_until(lambda: _polls(sim, 1))
    sim.faults.update({"error_rate": 1.0})  # eight failed polls in a row: the old backoff passed 2.5 s
    await wait_until(lambda: _failed_polls(sim, 8), within=20)
    sim.faults.update({"error_rate": 0.0})
    done = await harness.finished(engine, job.id, within=10)
    assert done.status is JobStatus.COMPLETED
    times = [r["time"] for r in sim.requests if _is_poll(r)]
    gaps = [b - a for a, b in itertools.pairwise(times)]
    # The bound plus generous room for a loaded machine; the old backoff doubled far past it (5 s and more).
    assert max(gaps) < fallback + 2.0, gaps


def _is_poll(request: dict[str, object]) -> bool:
    return request["path"] == "/fetch" or (request["method"] == "GET" and str(request["path"]).endswith("/jobs/"))


async def _polls(sim: object, count: int) -> bool:
    return sum(1 for r in getattr(sim, "requests", []) if _is_poll(r)) >= count


async def _failed_polls(sim: object, count: int) -> bool:
    return sum(1 for r in getattr(sim, "requests", []) if _is_poll(r) and r.get("status") == 502) >= count
