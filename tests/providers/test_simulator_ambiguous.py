"""Ambiguous answers at the simulators (issue 9, item 1): the job was taken, the answer does not say so.

The ``after_*`` fault knobs run the provider's handler first — the job is created and runs to its end —
and only then lose or garble the answer: a gateway's 502/503/504 page, a 200 whose JSON is cut in the
middle, or a hang followed by a 504. useapi's documented 504 "Job queued" names the job Midjourney is
still processing. ``GET /_sim/submits`` counts the jobs created per caller reference, so a test can prove
that none was sent twice; useapi's ``GET /v2/jobs`` lists the caller's executing jobs.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from typing import Any

import httpx
import pytest

from providersim import SimServer

from .conftest import API_KEY, PROVIDERS, Simulators, WebhookSink, wait_until

PROMPT = "a lighthouse at dusk"
SEED = 11
GATEWAY = {502, 503, 504}
# Long enough to tell "hung, then answered" from "answered at once", short enough for a quick test.
HANG_S = 0.3
# A second key at useapi: another customer, whose jobs GET /v2/jobs must not show.
OTHER_KEY = "sim-key-other-customer-000"
# How long a started simulator process may take to print its address (it imports Pillow and the bot).
CLI_START_S = 20.0


def headers(name: str, key: str = API_KEY) -> dict[str, str]:
    # APIFrame's docs send the raw key; the others a Bearer token.
    return {"Authorization": key if name == "apiframe" else f"Bearer {key}"}


def submit_request(name: str, ref: str | None, sink_url: str) -> tuple[str, dict[str, Any]]:
    """(path, JSON body) of an imagine carrying our reference where each provider takes one."""
    if name == "thenextleg":
        return "/v2/imagine", {"msg": PROMPT} | ({"ref": ref} if ref else {})
    if name == "useapi":
        return "/v2/jobs/imagine", {"prompt": PROMPT} | ({"replyRef": ref} if ref else {})
    if name == "imaginepro":
        return "/api/v1/nova/imagine", {"prompt": PROMPT} | ({"ref": ref} if ref else {})
    # APIFrame has no correlation field: our reference rides the callback URL's query, as the adapter does.
    hook = f"{sink_url}?ref={ref}" if ref else sink_url
    return "/imagine", {"prompt": PROMPT, "webhook_url": hook, "webhook_secret": "hook-secret"}


def refused_request(name: str) -> tuple[str, dict[str, Any]]:
    """A submit the provider refuses before taking anything (no prompt)."""
    path, _ = submit_request(name, None, "http://127.0.0.1:1/hook")
    return path, {}


async def submit(
    http: httpx.AsyncClient, sim: SimServer, name: str, ref: str | None, sink: WebhookSink
) -> httpx.Response:
    path, body = submit_request(name, ref, sink.url)
    return await http.post(f"{sim.public_url}{path}", json=body, headers=headers(name))


async def poll(http: httpx.AsyncClient, sim: SimServer, name: str, job_id: str) -> httpx.Response:
    base = sim.public_url
    if name == "thenextleg":
        return await http.get(f"{base}/v2/message/{job_id}", headers=headers(name))
    if name == "useapi":
        return await http.get(f"{base}/v2/jobs/", params={"jobid": job_id}, headers=headers(name))
    if name == "imaginepro":
        return await http.get(f"{base}/api/v1/message/fetch/{job_id}", headers=headers(name))
    return await http.post(f"{base}/fetch", json={"task_id": job_id}, headers=headers(name))


async def control(http: httpx.AsyncClient, sim: SimServer, path: str, body: Any = None) -> Any:
    if body is None:
        answer = await http.get(f"{sim.public_url}/_sim/{path}")
    else:
        answer = await http.post(f"{sim.public_url}/_sim/{path}", json=body)
    assert answer.status_code == 200, answer.text
    return answer.json()


async def only_job_done(http: httpx.AsyncClient, sim: SimServer, ref: str) -> dict[str, Any]:
    """The one job the simulator has, once it has run to its end; it must carry ``ref``."""

    async def done() -> dict[str, Any] | None:
        jobs = (await control(http, sim, "jobs"))["jobs"]
        assert len(jobs) == 1, jobs
        return jobs[0] if jobs[0]["state"] == "done" else None

    job: dict[str, Any] = await wait_until(done, within=5.0)
    assert job["ref"] == ref
    return job


def is_json(text: str) -> bool:
    try:
        json.loads(text)
    except ValueError:
        return False
    return True


# -- the after_* knobs, at every provider --------------------------------------------------------


@pytest.mark.parametrize("name", PROVIDERS)
async def test_after_error_creates_the_job_and_answers_a_gateway_page(
    sims: Simulators, http: httpx.AsyncClient, webhook_sink: WebhookSink, name: str
) -> None:
    sim = await sims(name, seed=SEED, step_seconds=0.02, steps=3)
    # Set over HTTP, as a fault run outside the test process would.
    await control(http, sim, "faults", {"after_error_rate": 1.0})
    answer = await submit(http, sim, name, "ref-e", webhook_sink)
    assert answer.status_code in GATEWAY
    # The gateway's own page, never the provider's JSON: nothing in it says whether the job was taken.
    assert answer.headers["content-type"].split(";")[0] in ("text/plain", "text/html")
    assert not is_json(answer.text) and str(answer.status_code) in answer.text
    job = await only_job_done(http, sim, "ref-e")
    assert await control(http, sim, "submits") == {"by_ref": {"ref-e": 1}, "jobs": 1, "unreferenced": 0}
    entry = (await control(http, sim, "requests"))["requests"][-1]
    assert entry["after_fault"] == "error" and entry["status"] == answer.status_code
    assert entry["created"] == [job["id"]]


@pytest.mark.parametrize("name", PROVIDERS)
async def test_after_malformed_creates_the_job_and_answers_truncated_json(
    sims: Simulators, http: httpx.AsyncClient, webhook_sink: WebhookSink, name: str
) -> None:
    sim = await sims(name, seed=SEED, step_seconds=0.02, steps=3)
    sim.faults.after_malformed_rate = 1.0
    garbled = await submit(http, sim, name, "ref-m", webhook_sink)
    assert garbled.status_code == 200 and garbled.headers["content-type"].startswith("application/json")
    assert garbled.text and not is_json(garbled.text)
    await only_job_done(http, sim, "ref-m")
    # It is the real answer cut in the middle: it starts as an untouched answer does, at half the length.
    sim.faults.after_malformed_rate = 0.0
    whole = await submit(http, sim, name, "ref-whole", webhook_sink)
    assert whole.status_code == 200 and is_json(whole.text)
    assert garbled.text[:8] == whole.text[:8]
    assert len(garbled.text) < len(whole.text)
    counts = await control(http, sim, "submits")
    assert counts["by_ref"] == {"ref-m": 1, "ref-whole": 1} and counts["jobs"] == 2


@pytest.mark.parametrize("name", PROVIDERS)
async def test_after_timeout_creates_the_job_then_hangs_and_answers_504(
    sims: Simulators, http: httpx.AsyncClient, webhook_sink: WebhookSink, name: str
) -> None:
    sim = await sims(name, seed=SEED, step_seconds=0.02, steps=3)
    sim.faults.update({"after_timeout_rate": 1.0, "hang_seconds": HANG_S})
    started = time.monotonic()
    answer = await submit(http, sim, name, "ref-t", webhook_sink)
    assert answer.status_code == 504 and not is_json(answer.text)
    # The hang is the simulator's asyncio.sleep: allow for the clock's resolution, nothing more.
    assert time.monotonic() - started >= HANG_S * 0.95
    await only_job_done(http, sim, "ref-t")
    # A client that gives up first sees only its own timeout; the job exists all the same.
    async with httpx.AsyncClient(timeout=httpx.Timeout(HANG_S / 3)) as impatient:
        with pytest.raises(httpx.TimeoutException):
            await submit(impatient, sim, name, "ref-t2", webhook_sink)

    async def second_created() -> bool:
        return (await control(http, sim, "submits"))["by_ref"].get("ref-t2") == 1

    await wait_until(second_created, within=5.0)
    assert (await control(http, sim, "submits"))["jobs"] == 2


@pytest.mark.parametrize("name", PROVIDERS)
async def test_after_faults_touch_only_requests_that_create_jobs(
    sims: Simulators, http: httpx.AsyncClient, webhook_sink: WebhookSink, name: str
) -> None:
    sim = await sims(name, seed=SEED)
    sim.faults.update({"after_error_rate": 1.0, "after_malformed_rate": 1.0, "after_timeout_rate": 1.0})
    # A refused submit keeps its own answer: it proves nothing was taken, and a gateway did not eat it.
    path, body = refused_request(name)
    refused = await http.post(f"{sim.public_url}{path}", json=body, headers=headers(name))
    assert refused.status_code == 400 and is_json(refused.text)
    assert (await control(http, sim, "submits"))["jobs"] == 0
    # A poll is not a submit either.
    sim.faults.update({"after_malformed_rate": 0.0, "after_timeout_rate": 0.0})
    assert (await submit(http, sim, name, "ref-p", webhook_sink)).status_code in GATEWAY
    job = await only_job_done(http, sim, "ref-p")
    polled = await poll(http, sim, name, job["id"])
    assert polled.status_code == 200 and is_json(polled.text)


async def test_before_faults_still_create_no_job(
    sims: Simulators, http: httpx.AsyncClient, webhook_sink: WebhookSink
) -> None:
    # The old knobs answer before the provider sees the request: those answers are not ambiguous.
    sim = await sims("useapi", seed=SEED)
    sim.faults.error_rate = 1.0
    assert (await submit(http, sim, "useapi", "ref-b", webhook_sink)).status_code >= 500
    assert await control(http, sim, "submits") == {"by_ref": {}, "jobs": 0, "unreferenced": 0}


async def test_after_faults_follow_the_seed(
    sims: Simulators, http: httpx.AsyncClient, webhook_sink: WebhookSink
) -> None:
    outcomes: list[list[tuple[int, str]]] = []
    for _ in range(2):
        sim = await sims("useapi", seed=SEED)
        sim.faults.update({"after_error_rate": 0.4, "after_malformed_rate": 0.4})
        run = []
        for i in range(10):
            answer = await submit(http, sim, "useapi", f"ref-{i}", webhook_sink)
            run.append((answer.status_code, answer.headers["content-type"].split(";")[0]))
        counts = await control(http, sim, "submits")
        assert counts["jobs"] == 10 and set(counts["by_ref"].values()) == {1}
        outcomes.append(run)
    assert outcomes[0] == outcomes[1]
    assert len(set(outcomes[0])) > 1, outcomes[0]


# -- useapi: the documented 504 "Job queued", GET /v2/jobs, replyRef -----------------------------


async def test_useapi_job_queued_504_names_the_job_that_still_runs(sims: Simulators, http: httpx.AsyncClient) -> None:
    sim = await sims("useapi")
    sim.faults.stall = True  # the job waits until the test lets it run
    await control(http, sim, "fail-next", {"error": "job_queued_504"})
    answer = await http.post(
        f"{sim.api_base_url}/jobs/imagine", json={"prompt": PROMPT, "replyRef": "ref-q"}, headers=headers("useapi")
    )
    assert answer.status_code == 504
    body = answer.json()
    jobid = body["jobid"]
    assert body == {"error": "Job queued", "jobid": jobid, "status": "failed", "code": 504}
    assert await control(http, sim, "submits") == {"by_ref": {"ref-q": 1}, "jobs": 1, "unreferenced": 0}
    # Midjourney still processes it: it is executing, then completes.
    executing = await http.get(f"{sim.api_base_url}/jobs", headers=headers("useapi"))
    assert executing.json() == [jobid]
    await control(http, sim, f"jobs/{jobid}/resume", {})

    async def completed() -> dict[str, Any] | None:
        job = (await poll(http, sim, "useapi", jobid)).json()
        return job if job["status"] == "completed" else None

    job = await wait_until(completed, within=5.0)
    assert job["replyRef"] == "ref-q" and job["attachments"]
    assert (await http.get(f"{sim.api_base_url}/jobs", headers=headers("useapi"))).json() == []


async def test_useapi_lists_the_callers_executing_jobs(sims: Simulators, http: httpx.AsyncClient) -> None:
    sim = await sims("useapi")
    sim.api_keys.add(OTHER_KEY)
    sim.faults.stall = True
    url = f"{sim.api_base_url}/jobs/imagine"
    ours = [
        (await http.post(url, json={"prompt": PROMPT, "replyRef": f"ours-{i}"}, headers=headers("useapi"))).json()
        for i in range(2)
    ]
    theirs = (await http.post(url, json={"prompt": PROMPT}, headers=headers("useapi", OTHER_KEY))).json()
    # One of ours finishes: only the other one is still executing.
    await control(http, sim, f"jobs/{ours[0]['jobid']}/resume", {})
    listed = await http.get(f"{sim.api_base_url}/jobs", headers=headers("useapi"))
    assert listed.status_code == 200 and listed.json() == [ours[1]["jobid"]]
    other = await http.get(f"{sim.api_base_url}/jobs", headers=headers("useapi", OTHER_KEY))
    assert other.json() == [theirs["jobid"]]
    # Each job found there carries the caller's replyRef, so a lost submit answer can be matched.
    found = (await poll(http, sim, "useapi", ours[1]["jobid"])).json()
    assert found["replyRef"] == "ours-1" and found["status"] in ("created", "started")


# -- the submit counter --------------------------------------------------------------------------


@pytest.mark.parametrize("name", PROVIDERS)
async def test_submits_counts_jobs_per_reference(
    sims: Simulators, http: httpx.AsyncClient, webhook_sink: WebhookSink, name: str
) -> None:
    sim = await sims(name, step_seconds=0)
    for ref in ("a", "a", "b", None):
        assert (await submit(http, sim, name, ref, webhook_sink)).status_code == 200
    expected = {"by_ref": {"a": 2, "b": 1}, "jobs": 4, "unreferenced": 1}
    assert await control(http, sim, "submits") == expected
    # A job the simulator forgets was still sent: the count keeps it.
    forgotten = (await control(http, sim, "jobs"))["jobs"][0]["id"]
    await control(http, sim, f"jobs/{forgotten}/forget", {})
    assert await control(http, sim, "submits") == expected
    await control(http, sim, "reset", {})
    assert await control(http, sim, "submits") == {"by_ref": {}, "jobs": 0, "unreferenced": 0}


# -- the CLI -------------------------------------------------------------------------------------


async def _run_cli(*args: str) -> tuple[asyncio.subprocess.Process, dict[str, Any]]:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "providersim", *args, "--port", "0",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    assert process.stdout is not None
    try:
        line = await asyncio.wait_for(process.stdout.readline(), CLI_START_S)
    except BaseException:
        await _stop_cli(process)
        raise
    return process, json.loads(line)


async def _stop_cli(process: asyncio.subprocess.Process) -> None:
    if process.returncode is None:
        process.terminate()
        try:
            await asyncio.wait_for(process.wait(), 5.0)
        except TimeoutError:
            process.kill()
            await process.wait()


async def test_cli_exposes_the_after_knobs_and_the_nested_message(http: httpx.AsyncClient) -> None:
    process, started = await _run_cli(
        "useapi", "--api-key", API_KEY, "--step-seconds", "0", "--seed", str(SEED), "--after-error-rate", "0.25",
        "--after-malformed-rate", "1", "--after-timeout-rate", "0.5", "--hang-seconds", "0.1",
    )  # fmt: skip
    try:
        faults = (await http.get(f"{started['url']}/_sim/faults")).json()
        knobs = (faults["after_error_rate"], faults["after_malformed_rate"], faults["after_timeout_rate"])
        assert knobs == (0.25, 1.0, 0.5)
        # Every submit meets one of them (malformed at 1): whichever it is, the answer is ambiguous.
        answer = await http.post(
            f"{started['base_url']}/jobs/imagine", json={"prompt": PROMPT, "replyRef": "cli"}, headers=headers("useapi")
        )
        assert answer.status_code != 200 or not is_json(answer.text)
        counts = (await http.get(f"{started['url']}/_sim/submits")).json()
        assert counts == {"by_ref": {"cli": 1}, "jobs": 1, "unreferenced": 0}
    finally:
        await _stop_cli(process)
    process, started = await _run_cli(
        "thenextleg", "--api-key", API_KEY, "--step-seconds", "0", "--rate-limit-seconds", "0", "--nested-message"
    )
    try:
        base = started["base_url"]
        made = (await http.post(f"{base}/imagine", json={"msg": PROMPT}, headers=headers("thenextleg"))).json()
        message = (await http.get(f"{base}/message/{made['messageId']}", headers=headers("thenextleg"))).json()
        assert set(message) == {"progress", "response"} and message["response"]["imageUrl"]
    finally:
        await _stop_cli(process)
