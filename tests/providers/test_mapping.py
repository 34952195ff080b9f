"""Unit tests of the adapters' reading of provider answers, including the contradictions of providers.md §9."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.core.errors import ProviderError, ProviderProtocolError, WebhookRejected
from bot.core.models import GRID_ACTIONS, Action, ErrorReason, JobStatus
from bot.core.providers import provider_class
from bot.core.providers._common import (
    REF_HEADER,
    actions_from_labels,
    compose_prompt,
    parse_progress,
    reason_from_text,
)
from bot.core.providers.base import Account, ImagineRequest, Provider


def adapter(name: str, handler: Any = None, **options: Any) -> Provider:
    transport = httpx.MockTransport(handler or (lambda request: httpx.Response(500)))
    account = Account(provider=name, name="a", base_url="http://sim.test/v2", api_key="KEY-123456", options=options)
    return provider_class(name)(account, httpx.AsyncClient(transport=transport))


def hook(name: str, body: dict[str, Any], headers: dict[str, str] | None = None) -> Any:
    return adapter(name).parse_webhook(headers or {}, json.dumps(body).encode())


# -- shared helpers ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [(37, 37), ("40", 40), ("40%", 40), (100.0, 100), ("**cat** - <@1> (31%) (fast)", 31), ("incomplete", None),
     (None, None), (True, None), ("(Waiting to start)", None), (250, 100)],
)  # fmt: skip
def test_progress_in_every_shape(raw: object, expected: int | None) -> None:
    assert parse_progress(raw) == expected


@given(st.one_of(st.text(), st.integers(), st.floats(allow_nan=True), st.none(), st.booleans()))
def test_progress_never_raises_and_stays_in_range(raw: object) -> None:
    value = parse_progress(raw)
    assert value is None or 0 <= value <= 100


@given(st.text())
def test_reason_from_any_text_never_raises(text: str) -> None:
    assert reason_from_text(text) is None or isinstance(reason_from_text(text), ErrorReason)


def test_button_labels_map_onto_the_closed_set() -> None:
    labels = ["U1", "U2", "U3", "U4", "\U0001f504", "V1", "V2", "V3", "V4", "Make Square", "\u2b05", "Custom Zoom", 7]
    actions = actions_from_labels(labels)
    assert actions is not None
    assert set(actions) == {*GRID_ACTIONS, Action.PAN_LEFT, Action.CUSTOM_ZOOM}
    assert actions_from_labels("U1") is None


def test_prompt_composition_never_doubles_links_or_ratio() -> None:
    url = "https://x.test/a.webp"
    request = ImagineRequest(job_id="j", prompt=f"{url} a cat --ar 2:3", image_urls=(url,), aspect_ratio="2:3")
    assert compose_prompt(request, with_aspect=True) == f"{url} a cat --ar 2:3"
    assert compose_prompt(request, with_aspect=False) == f"{url} a cat"
    bare = ImagineRequest(job_id="j", prompt="a cat", image_urls=(url,), aspect_ratio="16:9")
    assert compose_prompt(bare, with_aspect=True) == f"{url} a cat --ar 16:9"


# -- TheNextLeg -------------------------------------------------------------------------------------

TNL_RESULT = {
    "progress": 100, "createdAt": {"_seconds": 1678840347, "_nanoseconds": 215000000},
    "buttons": ["U1", "U2", "U3", "U4", "\U0001f504", "V1", "V2", "V3", "V4"], "imageUrl": "http://i/grid.png",
    "imageUrls": ["http://i/1.png", "http://i/2.png", "http://i/3.png", "http://i/4.png"],
    "buttonMessageId": "OtfxNzfMIKBPVE1aP4u4", "originatingMessageId": "m1", "content": "a cat", "ref": "job-1",
}  # fmt: skip


@pytest.mark.parametrize("shape", ["flat", "nested"])
async def test_thenextleg_message_flat_or_nested(shape: str) -> None:
    body = TNL_RESULT if shape == "flat" else {"progress": 100, "response": TNL_RESULT}
    tnl = adapter("thenextleg", lambda request: httpx.Response(200, json=body))
    update = await tnl.poll("m1", {"kind": "grid"})
    assert update.status is JobStatus.COMPLETED and update.grid_url == "http://i/grid.png"
    assert len(update.image_urls) == 4 and update.provider_data == {"buttonMessageId": "OtfxNzfMIKBPVE1aP4u4"}


async def test_thenextleg_progress_incomplete_and_unreadable() -> None:
    answers = iter([{"progress": 37, "progressImageUrl": None}, {"progress": 37}, {"progress": "incomplete"},
                    {"progress": {"odd": 1}}])  # fmt: skip
    tnl = adapter("thenextleg", lambda request: httpx.Response(200, json=next(answers)))
    first = await tnl.poll("m1", {})
    assert first.status is JobStatus.RUNNING and first.progress == 37 and first.preview_url is None
    assert (await tnl.poll("m1", {})).progress == 37
    lost = await tnl.poll("m1", {})
    assert lost.status is JobStatus.TIMED_OUT and lost.error is ErrorReason.LOST
    with pytest.raises(ProviderProtocolError):
        await tnl.poll("m1", {})


def test_thenextleg_webhook_codes_and_upscale_shape() -> None:
    failed = hook("thenextleg", {"originatingMessageId": "m1", "ref": "job-1", "content": "BANNED_PROMPT"})
    assert failed.error is ErrorReason.BANNED_PROMPT and failed.status is JobStatus.MODERATED and failed.ref == "job-1"
    unknown = hook("thenextleg", {"originatingMessageId": "m1", "content": "SOMETHING_NEW"})
    assert unknown.error is ErrorReason.PROVIDER_FAILED
    upscale = hook("thenextleg", {"originatingMessageId": "m2", "imageUrl": "http://i/u.png",
                                  "buttons": ["Vary (Strong)", "Zoom Out 2x"], "buttonMessageId": "b2"})  # fmt: skip
    assert upscale.grid_url is None and upscale.image_urls == ("http://i/u.png",)
    with pytest.raises(WebhookRejected):
        hook_raw = adapter("thenextleg").parse_webhook({}, b"[1, 2]")
        assert hook_raw


async def test_thenextleg_sends_the_documented_submit_body() -> None:
    seen: dict[str, Any] = {}

    def handler(request: httpx.Request) -> httpx.Response:
        seen["auth"] = request.headers["authorization"]
        seen["body"] = json.loads(request.content)
        return httpx.Response(200, json={"success": True, "messageId": "m1", "createdAt": "2023-04-04T13:07:01.927Z"})

    tnl = adapter("thenextleg", handler, ignore_prefilter=False)
    request = ImagineRequest(job_id="job-1", prompt="a cat", webhook_url="https://bot/core/webhooks/thenextleg/t")
    submission = await tnl.imagine(request)
    assert submission.provider_job_id == "m1"
    assert seen["auth"] == "Bearer KEY-123456"
    assert seen["body"] == {"msg": "a cat", "ref": "job-1", "webhookOverride": "https://bot/core/webhooks/thenextleg/t",
                            "ignorePrefilter": "false"}  # fmt: skip


# -- useapi -----------------------------------------------------------------------------------------


def test_useapi_progress_from_content_and_preview_attachment() -> None:
    update = hook("useapi", {"jobid": "j1", "replyRef": "job-1", "status": "progress",
                             "content": "**Steampunk cat --v 5.2** - <@123> (31%) (fast)",
                             "attachments": [{"url": "http://i/p.webp"}]})  # fmt: skip
    assert update.status is JobStatus.RUNNING and update.progress == 31 and update.preview_url == "http://i/p.webp"
    assert update.ref == "job-1"
    waiting = hook("useapi", {"jobid": "j1", "status": "created", "content": "**x** - <@1> (Waiting to start)"})
    assert waiting.status is JobStatus.SUBMITTED


def test_useapi_completed_without_attachment_and_moderated() -> None:
    empty = hook("useapi", {"jobid": "j1", "status": "completed", "content": "**x**"})
    assert empty.status is JobStatus.FAILED
    moderated = hook("useapi", {"jobid": "j1", "status": "moderated"})
    assert moderated.error is ErrorReason.BANNED_PROMPT and moderated.status is JobStatus.MODERATED


async def test_useapi_429_with_and_without_executing_jobs() -> None:
    answers = iter([
        httpx.Response(429, json={"error": "full", "executingJobs": ["a"], "code": 429}),
        httpx.Response(429, json={"error": "discord", "code": 429}, headers={"Retry-After": "2"}),
    ])  # fmt: skip
    api = adapter("useapi", lambda request: next(answers))
    for reason, wait in ((ErrorReason.QUEUE_FULL, 15.0), (ErrorReason.RATE_LIMITED, 2.0)):
        with pytest.raises(ProviderError) as caught:
            await api.imagine(ImagineRequest(job_id="j", prompt="x"))
        assert caught.value.reason is reason and caught.value.retry_after == wait


# -- ImaginePro ------------------------------------------------------------------------------------


def test_imaginepro_string_progress_and_either_id_spelling() -> None:
    running = hook("imaginepro", {"messageId": "m", "status": "PROCESSING", "progress": "42", "success": "true"})
    assert running.progress == 42
    done = hook("imaginepro", {"messageId": "m", "status": "DONE", "progress": 100, "uri": "http://i/g.png",
                               "originalMessageId": "p", "buttons": ["U1", "V1"], "ref": "job-1"})  # fmt: skip
    assert done.status is JobStatus.COMPLETED and done.grid_url == "http://i/g.png" and done.ref == "job-1"
    failed = hook("imaginepro", {"messageId": "m", "status": "FAIL", "error": "Invalid link"})
    assert failed.error is ErrorReason.INVALID_LINK


# -- APIFrame ---------------------------------------------------------------------------------------


def test_apiframe_result_without_status_and_integer_or_camel_ids() -> None:
    done = hook("apiframe", {"taskId": 1234567890123, "task_type": "imagine", "original_image_url": "http://i/g.png",
                             "image_urls": ["a", "b", "c", "d"]}, {REF_HEADER: "job-1"})  # fmt: skip
    assert done.status is JobStatus.COMPLETED and done.provider_job_id == "1234567890123" and done.ref == "job-1"
    assert set(done.actions or ()) == set(GRID_ACTIONS)
    upscale = hook("apiframe", {"task_id": "t", "task_type": "upscale#2", "status": "finished", "image_url": "u"})
    assert upscale.image_urls == ("u",) and Action.UPSCALE_CREATIVE in (upscale.actions or ())
    alt = hook("apiframe", {"task_id": "t", "task_type": "upscale-creative", "status": "completed", "image_url": "u"})
    assert Action.UPSCALE_CREATIVE not in (alt.actions or ()) and Action.VARY_STRONG in (alt.actions or ())
    # /inpaint takes an upscale-1x task only (mj-verbs.md §7.5): Vary (Region) on the one, not on the other.
    assert Action.VARY_REGION in (upscale.actions or ()) and Action.VARY_REGION not in (alt.actions or ())
    progress = hook("apiframe", {"task_id": "t", "status": "processing", "percentage": "40"})
    assert progress.progress == 40
    for waiting in ("pending", "staged", "starting", "retry", "retrying"):
        assert hook("apiframe", {"task_id": "t", "status": waiting}).status is JobStatus.SUBMITTED


@pytest.mark.parametrize("style", ["raw", "bearer"])
async def test_apiframe_auth_styles_and_action_endpoints(style: str) -> None:
    from bot.core.providers.base import ActionRequest

    seen: list[tuple[str, str, dict[str, Any]]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append((request.url.path, request.headers["authorization"], json.loads(request.content)))
        return httpx.Response(200, json={"task_id": "t2"})

    frame = adapter("apiframe", handler, auth_style=style)
    cases = {
        Action.U3: ("/upscale-1x", {"index": "3"}), Action.V1: ("/variations", {"index": "1"}),
        Action.REROLL: ("/reroll", {}), Action.VARY_SUBTLE: ("/variations", {"index": "subtle"}),
        Action.UPSCALE_CREATIVE: ("/upscale-alt", {"type": "creative"}),
        Action.ZOOM_OUT_1_5X: ("/outpaint", {"zoom_ratio": "1.5"}), Action.PAN_UP: ("/pan", {"direction": "up"}),
    }  # fmt: skip
    for action, (path, extra) in cases.items():
        await frame.act(ActionRequest(job_id="j", action=action, parent_provider_job_id="p",
                                      parent_provider_data={}, parent_prompt="x",
                                      webhook_url="https://bot/core/webhooks/apiframe/tok"))  # fmt: skip
        got_path, auth, body = seen[-1]
        assert got_path.endswith(path)
        assert auth == ("Bearer KEY-123456" if style == "bearer" else "KEY-123456")
        assert body["parent_task_id"] == "p" and all(body[k] == v for k, v in extra.items())
        assert body["webhook_url"] == "https://bot/core/webhooks/apiframe/tok?ref=j" and body["webhook_secret"]


async def test_errors_never_carry_the_key() -> None:
    api = adapter("imaginepro", lambda request: httpx.Response(400, json={"error": "bad key KEY-123456 given"}))
    with pytest.raises(ProviderError) as caught:
        await api.imagine(ImagineRequest(job_id="j", prompt="x"))
    assert "KEY-123456" not in str(caught.value) and "KEY-123456" not in (caught.value.detail or "")
