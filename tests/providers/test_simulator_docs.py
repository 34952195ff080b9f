"""The simulators speak their providers' documents (issue 9, item 11), checked over real HTTP.

Each test shows one documented shape a simulator used to get wrong: useapi's 400 for a prompt over
2048 characters (413 stays for replyUrl/replyRef over 1024), its submit answer saying ``started`` even
in instant mode, its Discord-side 429 carrying no Retry-After the doc never gives; TheNextLeg's finished
message flat as its docs show (nested under ``response`` only when asked); ImaginePro's ``Cancel Job``
button; APIFrame taking a second upscale of the same tile as a new task.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from providersim import SimServer

from .conftest import API_KEY, Simulators, WebhookSink, wait_until

BEARER = {"Authorization": f"Bearer {API_KEY}"}
# APIFrame's docs send the raw key, without "Bearer".
RAW = {"Authorization": API_KEY}
# useapi v2's prompt limit and its replyUrl / replyRef limit (providers.md §2.2).
USEAPI_MAX_PROMPT = 2048
USEAPI_MAX_REPLY_FIELD = 1024
# The keys of TheNextLeg's documented finished message (providers.md §1.4), all at the top level.
TNL_DOC_KEYS = {
    "progress", "createdAt", "buttons", "imageUrl", "imageUrls", "buttonMessageId", "originatingMessageId",
    "content", "ref", "responseAt",
}  # fmt: skip


async def submits(http: httpx.AsyncClient, sim: SimServer) -> dict[str, Any]:
    answer = await http.get(f"{sim.public_url}/_sim/submits")
    assert answer.status_code == 200
    body: dict[str, Any] = answer.json()
    return body


async def fail_next(http: httpx.AsyncClient, sim: SimServer, error: str) -> None:
    answer = await http.post(f"{sim.public_url}/_sim/fail-next", json={"error": error})
    assert answer.status_code == 200, answer.text


# -- useapi.net ----------------------------------------------------------------------------------


async def test_useapi_prompt_over_2048_is_a_400(sims: Simulators, http: httpx.AsyncClient) -> None:
    sim = await sims("useapi")
    url = f"{sim.api_base_url}/jobs/imagine"
    too_long = await http.post(url, json={"prompt": "x" * (USEAPI_MAX_PROMPT + 1)}, headers=BEARER)
    assert too_long.status_code == 400
    body = too_long.json()
    assert set(body) == {"error", "code"} and body["code"] == 400 and str(USEAPI_MAX_PROMPT) in body["error"]
    # The forced form of the same error says the same.
    await fail_next(http, sim, "too_long")
    forced = await http.post(url, json={"prompt": "a red fox"}, headers=BEARER)
    assert forced.status_code == 400 and forced.json()["code"] == 400
    # Exactly at the limit is a prompt like any other.
    at_limit = await http.post(url, json={"prompt": "x" * USEAPI_MAX_PROMPT}, headers=BEARER)
    assert at_limit.status_code == 200
    assert (await submits(http, sim))["jobs"] == 1


@pytest.mark.parametrize("field", ["replyUrl", "replyRef"])
async def test_useapi_reply_field_over_1024_is_still_a_413(
    sims: Simulators, http: httpx.AsyncClient, field: str
) -> None:
    sim = await sims("useapi")
    url = f"{sim.api_base_url}/jobs/imagine"
    value = "http://127.0.0.1/" + "r" * USEAPI_MAX_REPLY_FIELD
    answer = await http.post(url, json={"prompt": "a red fox", field: value}, headers=BEARER)
    assert answer.status_code == 413
    assert answer.json()["code"] == 413 and field in answer.json()["error"]
    assert (await submits(http, sim))["jobs"] == 0


async def test_useapi_submit_answer_says_started_even_in_instant_mode(
    sims: Simulators, http: httpx.AsyncClient
) -> None:
    sim = await sims("useapi", step_seconds=0)
    base = sim.api_base_url
    answer = await http.post(f"{base}/jobs/imagine", json={"prompt": "a red fox", "replyRef": "ref-1"}, headers=BEARER)
    assert answer.status_code == 200
    submitted = answer.json()
    # The documented success answer: started, with the job's identity but none of its results yet.
    assert submitted["status"] == "started" and submitted["verb"] == "imagine" and submitted["code"] == 200
    assert submitted["replyRef"] == "ref-1"
    assert "attachments" not in submitted and "buttons" not in submitted
    # The job itself is already finished: a poll says so.
    polled = (await http.get(f"{base}/jobs/", params={"jobid": submitted["jobid"]}, headers=BEARER)).json()
    assert polled["status"] == "completed" and polled["attachments"] and "U1" in polled["buttons"]
    # A button's submit answer too.
    pressed = await http.post(f"{base}/jobs/button", json={"jobid": submitted["jobid"], "button": "U1"}, headers=BEARER)
    assert pressed.status_code == 200
    assert pressed.json()["status"] == "started" and pressed.json()["parentJobId"] == submitted["jobid"]


async def test_useapi_discord_429_has_no_retry_after_and_no_executing_jobs(
    sims: Simulators, http: httpx.AsyncClient
) -> None:
    sim = await sims("useapi")
    sim.faults.stall = True  # jobs stay executing, so the queue-full form can be shown beside it
    url = f"{sim.api_base_url}/jobs/imagine"
    await fail_next(http, sim, "discord_429")
    discord = await http.post(url, json={"prompt": "a red fox"}, headers=BEARER)
    assert discord.status_code == 429
    # The doc says only "sleep a few seconds and retry": it gives no header, so none is sent.
    assert "retry-after" not in discord.headers
    assert "executingJobs" not in discord.json() and discord.json()["code"] == 429
    # The other documented 429: the account's maxJobs are all executing, and they are listed.
    first = await http.post(url, json={"prompt": "a red fox", "maxJobs": 1}, headers=BEARER)
    assert first.status_code == 200
    full = await http.post(url, json={"prompt": "a red fox", "maxJobs": 1}, headers=BEARER)
    assert full.status_code == 429 and full.json()["executingJobs"] == [first.json()["jobid"]]
    assert (await submits(http, sim))["jobs"] == 1


# -- TheNextLeg ----------------------------------------------------------------------------------


async def _tnl_finished_message(http: httpx.AsyncClient, sim: SimServer) -> tuple[str, dict[str, Any]]:
    answer = await http.post(f"{sim.api_base_url}/imagine", json={"msg": "a red fox", "ref": "r-1"}, headers=BEARER)
    assert answer.status_code == 200 and answer.json()["success"] is True
    message_id = answer.json()["messageId"]
    message = await http.get(f"{sim.api_base_url}/message/{message_id}", headers=BEARER)
    assert message.status_code == 200
    return message_id, message.json()


async def test_thenextleg_finished_message_is_flat_by_default(sims: Simulators, http: httpx.AsyncClient) -> None:
    sim = await sims("thenextleg")
    message_id, body = await _tnl_finished_message(http, sim)
    assert "response" not in body
    assert set(body) >= TNL_DOC_KEYS, TNL_DOC_KEYS - set(body)
    assert body["progress"] == 100 and body["originatingMessageId"] == message_id and body["ref"] == "r-1"
    assert body["imageUrl"] and len(body["imageUrls"]) == 4 and body["buttonMessageId"]


async def test_thenextleg_nested_message_is_kept_as_an_option(sims: Simulators, http: httpx.AsyncClient) -> None:
    sim = await sims("thenextleg", nested_message=True)
    message_id, body = await _tnl_finished_message(http, sim)
    assert set(body) == {"progress", "response"} and body["progress"] == 100
    assert TNL_DOC_KEYS - {"progress"} <= set(body["response"])
    assert body["response"]["originatingMessageId"] == message_id and body["response"]["imageUrl"]


# -- ImaginePro ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("submit", "fetch"),
    [("/api/v1/nova", "/api/v1/message/fetch"), ("/api/v1/midjourney", "/api/v1/midjourney/message")],
    ids=["nova", "legacy"],
)
async def test_imaginepro_cancel_job_while_in_progress(
    sims: Simulators, http: httpx.AsyncClient, webhook_sink: WebhookSink, submit: str, fetch: str
) -> None:
    # A hundred slow steps: the job is PROCESSING far longer than the test needs to press the button.
    sim = await sims("imaginepro", step_seconds=0.1, steps=100)
    base = sim.public_url
    answer = await http.post(
        f"{base}{submit}/imagine", json={"prompt": "a red fox", "webhookOverride": webhook_sink.url}, headers=BEARER
    )
    message_id = answer.json()["messageId"]

    async def processing() -> bool:
        message = (await http.get(f"{base}{fetch}/{message_id}", headers=BEARER)).json()
        return message["status"] == "PROCESSING" and message["progress"] < 100

    await wait_until(processing, within=5.0)
    cancel = await http.post(
        f"{base}{submit}/button", json={"messageId": message_id, "button": "Cancel Job"}, headers=BEARER
    )
    assert cancel.status_code == 200
    body = cancel.json()
    # Documented: success and createdAt, and no messageId — no new job is made.
    assert body["success"] is True and isinstance(body["createdAt"], str) and "messageId" not in body
    message = (await http.get(f"{base}{fetch}/{message_id}", headers=BEARER)).json()
    assert message["status"] == "FAIL" and "cancel" in message["error"].lower()

    async def told() -> list[Any]:
        return [b for b in webhook_sink.bodies if b.get("messageId") == message_id and b.get("status") == "FAIL"]

    await wait_until(told, within=5.0)
    # An ended job cannot be cancelled again.
    again = await http.post(
        f"{base}{submit}/button", json={"messageId": message_id, "button": "Cancel Job"}, headers=BEARER
    )
    assert again.status_code == 400 and again.json()["success"] is False
    assert (await submits(http, sim))["jobs"] == 1


async def test_imaginepro_cancel_job_refused_once_done(sims: Simulators, http: httpx.AsyncClient) -> None:
    sim = await sims("imaginepro", step_seconds=0)
    base = sim.public_url
    message_id = (await http.post(f"{base}/api/v1/nova/imagine", json={"prompt": "x"}, headers=BEARER)).json()[
        "messageId"
    ]
    cancel = await http.post(
        f"{base}/api/v1/nova/button", json={"messageId": message_id, "button": "Cancel Job"}, headers=BEARER
    )
    assert cancel.status_code == 400 and cancel.json()["success"] is False
    message = (await http.get(f"{base}/api/v1/message/fetch/{message_id}", headers=BEARER)).json()
    assert message["status"] == "DONE"


# -- APIFrame ------------------------------------------------------------------------------------


async def test_apiframe_second_upscale_of_the_same_tile_is_a_new_task(
    sims: Simulators, http: httpx.AsyncClient
) -> None:
    sim = await sims("apiframe", step_seconds=0)
    base = sim.public_url
    parent = (await http.post(f"{base}/imagine", json={"prompt": "a red fox"}, headers=RAW)).json()["task_id"]
    tasks = []
    for _ in range(2):
        answer = await http.post(f"{base}/upscale-1x", json={"parent_task_id": parent, "index": "2"}, headers=RAW)
        assert answer.status_code == 200, answer.text
        tasks.append(answer.json()["task_id"])
    assert tasks[0] != tasks[1]
    for task in tasks:
        fetched = (await http.post(f"{base}/fetch", json={"task_id": task}, headers=RAW)).json()
        assert fetched["status"] == "finished" and fetched["task_type"] == "upscale#2" and fetched["image_url"]
    assert (await submits(http, sim))["jobs"] == 3
