"""The simulators' fault knobs, and what the adapters and the engine make of them."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from bot.core.errors import ProviderError
from bot.core.models import ErrorReason, JobStatus
from bot.core.providers.base import ImagineRequest

from .conftest import API_KEY, Harness, make_job, wait_until


async def test_hanging_provider_is_a_transient_timeout(harness: Harness) -> None:
    sim = await harness.sim("imaginepro")
    sim.faults.update({"timeout_rate": 1.0, "hang_seconds": 2.0})
    adapter = harness.adapter("imaginepro", sim)
    adapter.http = httpx.AsyncClient(timeout=httpx.Timeout(0.2))
    try:
        with pytest.raises(ProviderError) as caught:
            await adapter.imagine(ImagineRequest(job_id="j", prompt="x"))
    finally:
        await adapter.http.aclose()
    assert caught.value.reason is ErrorReason.PROVIDER_UNAVAILABLE
    assert caught.value.reason.kind.value == "transient"


async def test_5xx_to_a_submit_is_not_resent(harness: Harness) -> None:
    """A 502 does not prove the provider refused the job (issue 9, item 1): it was retried until the
    provider answered, which could bill a second generation; now it is sent once and ends unconfirmed."""
    from providersim._core import ErrorSpec

    sim = await harness.sim("apiframe")
    sim.errors = {**sim.errors, "bad_gateway": ErrorSpec(502, {}, headers={"Retry-After": "0"})}
    sim.fail_next.append("bad_gateway")
    engine = await harness.engine(harness.adapter("apiframe", sim), max_submit_attempts=3)
    job = await harness.imagine(engine, "apiframe")
    assert job.error is ErrorReason.UNCONFIRMED and job.attempts == 1
    assert len([r for r in sim.requests if r["path"] == "/imagine"]) == 1


async def test_5xx_to_a_poll_is_retried_until_the_provider_answers(harness: Harness) -> None:
    sim = await harness.sim("apiframe", step_seconds=0.05)
    engine = await harness.engine(harness.adapter("apiframe", sim), max_submit_attempts=3)
    job = await engine.submit(make_job("apiframe"))
    await wait_until(lambda: _polled(sim))
    sim.faults.error_rate = 1.0
    await wait_until(lambda: _failed_polls(sim, 2))
    sim.faults.error_rate = 0.0
    done = await harness.finished(engine, job.id)
    assert done.status is JobStatus.COMPLETED and done.attempts == 1


async def _polled(sim: Any) -> bool:
    return any(r["path"] == "/fetch" for r in sim.requests)


async def _failed_polls(sim: Any, count: int) -> bool:
    return sum(1 for r in sim.requests if r["path"] == "/fetch" and r.get("status") == 502) >= count


async def test_malformed_submit_answer_is_a_protocol_error(harness: Harness) -> None:
    sim = await harness.sim("useapi")
    sim.faults.malformed_rate = 1.0
    with pytest.raises(ProviderError) as caught:
        await harness.adapter("useapi", sim).imagine(ImagineRequest(job_id="j", prompt="x"))
    assert caught.value.reason is ErrorReason.MALFORMED_RESPONSE


async def test_wrong_key_is_unauthorized_everywhere(harness: Harness) -> None:
    for name in ("thenextleg", "useapi", "imaginepro", "apiframe"):
        sim = await harness.sim(name)
        with pytest.raises(ProviderError) as caught:
            await harness.adapter(name, sim, api_key="wrong").imagine(ImagineRequest(job_id="j", prompt="x"))
        assert caught.value.reason is ErrorReason.UNAUTHORIZED, name
        assert "wrong" not in str(caught.value)
    assert API_KEY


async def test_control_endpoints(harness: Harness) -> None:
    sim = await harness.sim("useapi")
    http = harness.http
    assert "pending_moderation" in (await http.get(f"{sim.public_url}/_sim/errors")).json()["errors"]
    faults = (await http.post(f"{sim.public_url}/_sim/faults", json={"latency": 0.01})).json()
    assert faults["latency"] == 0.01
    assert (await http.post(f"{sim.public_url}/_sim/faults", json={"nope": 1})).status_code == 400
    assert (await http.post(f"{sim.public_url}/_sim/fail-next", json={"error": "moderated"})).status_code == 200
    answer = await http.post(f"{sim.api_base_url}/jobs/imagine", json={"prompt": "x"},
                             headers={"Authorization": f"Bearer {API_KEY}"})  # fmt: skip
    assert answer.status_code == 422
    log = (await http.get(f"{sim.public_url}/_sim/requests")).json()["requests"]
    assert [(r["path"], r["status"]) for r in log] == [("/v2/jobs/imagine", 422)]
    assert "Authorization" not in str(log)
    await http.delete(f"{sim.public_url}/_sim/requests")
    assert (await http.get(f"{sim.public_url}/_sim/requests")).json()["requests"] == []


async def test_webhook_token_never_reaches_an_error_detail(harness: Harness) -> None:
    from providersim._core import ErrorSpec

    sim = await harness.sim("imaginepro")
    echo = {"success": False, "error": "bad webhookOverride http://bot/core/webhooks/imaginepro/SECRETTOKEN123"}
    sim.errors = {**sim.errors, "echo": ErrorSpec(400, echo)}
    sim.fail_next.append("echo")
    with pytest.raises(ProviderError) as caught:
        await harness.adapter("imaginepro", sim).imagine(ImagineRequest(job_id="j", prompt="x"))
    assert "SECRETTOKEN123" not in str(caught.value)
