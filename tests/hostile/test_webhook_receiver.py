"""The webhook receiver under attack: unauthenticated, forged, oversized and replayed callbacks are
rejected (or dropped) without touching a job. "Without touching" is checked on the stored row, every
column of it, updated_at included, and on the engine, which must still be following the job.

Replays: the receiver remembers the digest of every callback it applied (provider, ref, body) for
REPLAY_WINDOW_S and answers a repeat 200 ``duplicate`` without handing it to the engine; a replay it no
longer remembers reaches the engine and is a no-op there. Both halves are proven below.
"""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from bot.core import webhooks
from bot.core.models import Job, JobStatus
from bot.core.providers._common import webhook_header_secret
from bot.core.webhooks import WebhookServer
from tests.helpers import make_job, wait_until
from tests.providers.conftest import WEBHOOK_SECRET, Harness


async def running_job(harness: Harness, name: str) -> tuple[Any, Job, WebhookServer]:
    """A job the provider holds mid-way (frozen at its first step), followed in webhook mode."""
    sim = await harness.sim(name, step_seconds=0.05, steps=4)
    engine = await harness.engine(harness.adapter(name, sim), webhooks=True, stall_timeout_s=60.0)
    sim.faults.stall = True
    job = await engine.submit(make_job(name))

    async def submitted() -> Job | None:
        stored = await harness.store.get_job(job.id)
        return stored if stored is not None and stored.provider_job_id else None

    return sim, await wait_until(submitted), harness.servers[0]


async def untouched(harness: Harness, before: Job) -> None:
    after = await harness.store.get_job(before.id)
    assert after is not None and after.model_dump() == before.model_dump(), "a rejected callback changed the job"
    assert harness.engines[0].running == 1, "the engine stopped following the job"


def url(server: WebhookServer, provider: str, token: str = WEBHOOK_SECRET) -> str:
    return f"{server.bound_url}/webhooks/{provider}/{token}"


def useapi_body(job: Job, **fields: Any) -> bytes:
    base = {
        "jobid": job.provider_job_id, "replyRef": job.id, "verb": "jobs/imagine", "status": "completed",
        "content": "done", "attachments": [{"url": "http://evil.example/owned.png"}], "buttons": ["U1"],
    }  # fmt: skip
    return json.dumps(base | fields).encode()


async def test_unauthenticated_callbacks_never_reach_a_job(harness: Harness) -> None:
    _, job, server = await running_job(harness, "useapi")
    http = harness.http
    body = useapi_body(job)
    tokens = ["", "x", WEBHOOK_SECRET[:-1], WEBHOOK_SECRET + "x", WEBHOOK_SECRET.upper(), "%00" + WEBHOOK_SECRET,
              WEBHOOK_SECRET[::-1], "..%2F" + WEBHOOK_SECRET]  # fmt: skip
    for token in tokens:
        answer = await http.post(f"{server.bound_url}/webhooks/useapi/{token}", content=body)
        assert answer.status_code in (404, 405), (token, answer.status_code)
        assert WEBHOOK_SECRET not in answer.text
    # The token in a query string or a header is no token at all.
    assert (
        await http.post(f"{server.bound_url}/webhooks/useapi?token={WEBHOOK_SECRET}", content=body)
    ).status_code == 404
    assert (await http.post(f"{server.bound_url}/webhooks/useapi/x", content=body,
                            headers={"Authorization": f"Bearer {WEBHOOK_SECRET}"})).status_code == 404  # fmt: skip
    # Other methods on the real route.
    for method in ("GET", "PUT", "DELETE", "PATCH"):
        assert (await http.request(method, url(server, "useapi"), content=body)).status_code == 405
    await untouched(harness, job)
    assert server.received == 0


async def test_forged_callbacks_are_refused_or_ignored(harness: Harness) -> None:
    sim, job, server = await running_job(harness, "apiframe")
    http = harness.http
    target = url(server, "apiframe") + f"?ref={job.id}"
    forged = json.dumps({"task_id": job.provider_job_id, "status": "finished", "task_type": "imagine",
                         "original_image_url": "http://evil.example/owned.png"}).encode()  # fmt: skip
    secret = webhook_header_secret(url(server, "apiframe"))
    refused = [
        {},  # no header secret
        {"x-webhook-secret": ""},
        {"x-webhook-secret": secret[:-1]},
        {"x-webhook-secret": webhook_header_secret(url(server, "useapi"))},  # another provider's secret
        {"x-webhook-secret": WEBHOOK_SECRET},  # the path token is not the header secret
    ]
    for headers in refused:
        answer = await http.post(target, content=forged, headers=headers)
        assert answer.status_code == 401, headers
    # With the right secret, a body about another task, or naming none while the job has one, is ignored.
    for body in (
        json.dumps({"task_id": "someone-elses-task", "status": "finished", "original_image_url": "http://e/x.png"}),
        json.dumps({"status": "finished", "original_image_url": "http://evil.example/owned.png"}),
    ):
        answer = await http.post(target, content=body, headers={"x-webhook-secret": secret})
        assert answer.status_code == 200
    # A callback on another provider's route for this job's ref is not about it either.
    other = await http.post(url(server, "useapi") + f"?ref={job.id}", content=forged)
    assert other.status_code == 404  # no useapi account here
    await untouched(harness, job)
    assert sim.jobs, "the provider still has the job"


async def test_forged_ref_only_callback_cannot_complete_someone_elses_job(harness: Harness) -> None:
    _, job, server = await running_job(harness, "useapi")
    # Right token, our ref, but no provider job id: not about the job the provider is running for us.
    body = json.loads(useapi_body(job))
    del body["jobid"]
    answer = await harness.http.post(url(server, "useapi"), json=body)
    assert answer.status_code == 200
    await untouched(harness, job)


async def test_oversized_callbacks_are_refused_before_reading(harness: Harness) -> None:
    _, job, server = await running_job(harness, "useapi")
    http = harness.http
    padding = b" " * (server.max_body + 1)
    declared = await http.post(url(server, "useapi"), content=b"{" + padding + b"}")
    assert declared.status_code == 413

    async def chunks() -> Any:
        yield useapi_body(job)[:-1]
        for _ in range(server.max_body // 4096 + 2):
            yield b" " * 4096
        yield b"}"

    streamed = await http.post(url(server, "useapi"), content=chunks())  # chunked: no Content-Length
    assert streamed.status_code == 413
    # Just under the cap but not JSON: unreadable, still nothing touched.
    garbage = await http.post(url(server, "useapi"), content=b"[" * (server.max_body - 1))
    assert garbage.status_code == 400
    await untouched(harness, job)


async def test_replayed_callbacks_are_dropped_and_would_be_no_ops(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, job, server = await running_job(harness, "useapi")
    http = harness.http
    engine = harness.engines[0]
    handled: list[bytes] = []
    original = engine.handle_webhook

    async def counting(provider: str, headers: Any, body: bytes) -> Any:
        handled.append(body)
        return await original(provider, headers, body)

    monkeypatch.setattr(engine, "handle_webhook", counting)
    progress = useapi_body(job, status="progress", content="**x** (40%)", attachments=[])
    first = await http.post(url(server, "useapi"), content=progress)
    assert first.json() == {"ok": True}
    applied = await harness.store.get_job(job.id)
    assert applied is not None and applied.progress == 40 and applied.status is JobStatus.RUNNING

    # The same bytes again, a moment or many later: acknowledged, dropped, never handed to the engine.
    for _ in range(3):
        again = await http.post(url(server, "useapi"), content=progress)
        assert again.status_code == 200 and again.json() == {"ok": True, "duplicate": True}
    assert len(handled) == 1 and server.duplicates == 3
    await untouched(harness, applied)

    # Past the replay window (or after a restart) the engine sees it, and it changes nothing.
    monkeypatch.setattr(webhooks, "REPLAY_WINDOW_S", 0.0)
    late = await http.post(url(server, "useapi"), content=progress)
    assert late.json() == {"ok": True} and len(handled) == 2
    await untouched(harness, applied)

    # A body that failed to apply is not remembered: the provider's retry after our 500 is heard.
    monkeypatch.setattr(webhooks, "REPLAY_WINDOW_S", 600.0)

    async def broken(provider: str, headers: Any, body: bytes) -> Any:
        raise RuntimeError("database hiccup")

    monkeypatch.setattr(engine, "handle_webhook", broken)
    newer = useapi_body(job, status="progress", content="**x** (60%)", attachments=[])
    assert (await http.post(url(server, "useapi"), content=newer)).status_code == 500
    monkeypatch.setattr(engine, "handle_webhook", counting)
    retried = await http.post(url(server, "useapi"), content=newer)
    assert retried.json() == {"ok": True}
    moved = await harness.store.get_job(job.id)
    assert moved is not None and moved.progress == 60


async def test_replay_memory_is_bounded(harness: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    _, job, server = await running_job(harness, "useapi")
    monkeypatch.setattr(webhooks, "REPLAY_MEMORY", 5)
    transport = httpx.AsyncHTTPTransport()
    async with httpx.AsyncClient(transport=transport) as http:
        for i in range(12):
            body = useapi_body(job, status="progress", content=f"**x** ({i}%)", attachments=[])
            assert (await http.post(url(server, "useapi"), content=body)).status_code == 200
    assert len(server._applied) == 5
