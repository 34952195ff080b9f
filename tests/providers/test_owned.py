"""The backends a server owns (ComfyUI, A1111, OpenAI-shaped), each against its simulator over real HTTP.

The flow through a real engine and store (imagine → progress with a preview → grid composed by the bot
→ U / V / 🔄 / zoom), every documented error mapped onto the closed vocabulary, the submit table's rows
that these backends can give, and the pure parts (prompt reading, sizes, the workflow check).
"""

from __future__ import annotations

import io
import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from bot.core.errors import ConfigError, ProviderError
from bot.core.models import GRID_ACTIONS, Action, AnswerClass, ErrorReason, JobEventKind, JobStatus, SubmitOutcome
from bot.core.providers._owned import parse_prompt, size_for
from bot.core.providers.base import ImagineRequest, Provider
from bot.core.providers.comfyui import check_workflow, load_workflow
from providersim import SimServer

from .conftest import API_KEY, Harness, make_job, wait_until

EXAMPLE = Path(__file__).parents[2] / "examples" / "comfyui" / "sdxl_txt2img.json"
OWNED = ("comfyui", "a1111", "openai")


def _options(name: str, tmp_path: Path, **extra: Any) -> dict[str, Any]:
    options: dict[str, Any] = {"data_dir": str(tmp_path), "size": 128, "poll_interval": 0.02}
    if name == "comfyui":
        options["workflow"] = str(EXAMPLE)
    if name == "openai":
        options |= {"sizes": "free", "model": "gpt-image-1.5"}
    return options | extra


def _adapter(harness: Harness, name: str, sim: SimServer, **extra: Any) -> Provider:
    key = API_KEY if name == "openai" else ""
    adapter = harness.adapter(name, sim, api_key=key, **_options(name, harness.tmp_path, **extra))
    _OPEN.append(adapter)
    return adapter


_OPEN: list[Provider] = []


@pytest.fixture(autouse=True)
async def _close_adapters(harness: Harness) -> Any:
    """The engines do not own their adapters; their WebSocket sessions are closed here, before the
    harness stops the simulators (a simulator waits for its open sockets when it stops)."""
    yield
    for engine in harness.engines:
        await engine.stop()
    harness.engines.clear()
    while _OPEN:
        await _OPEN.pop().aclose()


# -- the pure parts ------------------------------------------------------------------------------


def test_prompt_reading() -> None:
    read = parse_prompt("a red fox --ar 16:9 --no snow, trees --stylize 250 --tile --seed 42 in the woods")
    assert read.positive == "a red fox in the woods"
    assert read.negative == "snow, trees"
    assert (read.aspect, read.seed) == ("16:9", 42)
    assert parse_prompt("x --ar 2:3", aspect="3:2").aspect == "3:2"  # the command's option wins
    assert size_for("16:9", 1024) == (1024, 576) and size_for("2:3", 1024) == (680, 1024)


def test_workflow_check_names_what_is_missing(tmp_path: Path) -> None:
    graph = json.loads(EXAMPLE.read_text())
    assert load_workflow(EXAMPLE).latent_node == "5"
    no_seed = json.loads(json.dumps(graph).replace('"{{seed}}"', "1"))
    with pytest.raises(ConfigError, match=r"no \{\{seed\}\} placeholder"):
        check_workflow(no_seed)
    with pytest.raises(ConfigError, match="UI format"):
        check_workflow({"nodes": [], "links": []})
    no_save = {k: v for k, v in graph.items() if k != "9"}
    with pytest.raises(ConfigError, match="no output node"):
        check_workflow(no_save)
    with pytest.raises(ConfigError, match="does not exist"):
        load_workflow(tmp_path / "missing.json")
    odd = json.loads(json.dumps(graph).replace("{{negative}}", "{{negativ}}"))
    with pytest.raises(ConfigError, match="unknown placeholder"):
        check_workflow(odd)


# -- the flow ------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", OWNED)
async def test_flow(harness: Harness, name: str) -> None:
    # A1111's request is held open: its steps outlast the submit's settle time, so progress is polled.
    step = 0.05 if name == "comfyui" else 0.3
    sim = await harness.sim(name, step_seconds=step, steps=3, previews=True)
    # OpenAI shows progress only by streaming partial images.
    adapter = _adapter(harness, name, sim, **({"partial_images": 2} if name == "openai" else {}))
    engine = await harness.engine(adapter)
    parent = await harness.imagine(engine, name, params={"ar": "3:2"}, prompt_final="a red fox --no snow")
    assert parent.status is JobStatus.COMPLETED, (parent.error, parent.error_detail)
    assert parent.grid_url and parent.grid_url.startswith("owned://") and len(parent.image_urls) == 4
    assert set(parent.actions) == set(GRID_ACTIONS)
    grid = Image.open(io.BytesIO(await adapter.fetch_image(parent.grid_url)))
    # Two 128×88 tiles each way: 3:2 at a long side of 128, multiples of 8 (OpenAI's free sizes: of 16).
    assert grid.size == ((256, 160) if name == "openai" else (256, 176))
    events = harness.recorder.for_job(parent.id)
    progress = [e.job.progress for e in events if e.kind is JobEventKind.PROGRESS]
    assert any(0 < p < 100 for p in progress), progress
    previews = {e.job.preview_url for e in events if e.job.preview_url}
    assert previews, "a preview frame reached the job"

    upscale = await harness.press(engine, parent, Action.U2)
    assert upscale.status is JobStatus.COMPLETED, (upscale.error, upscale.error_detail)
    doubled = Image.open(io.BytesIO(await adapter.fetch_image(upscale.image_urls[0])))
    assert doubled.size == grid.size
    assert Action.ZOOM_OUT_2X in upscale.actions and Action.U1 not in upscale.actions

    for action in (Action.V3, Action.REROLL):
        child = await harness.press(engine, parent, action)
        assert child.status is JobStatus.COMPLETED, (action, child.error, child.error_detail)
        assert child.grid_url and set(child.actions) == set(GRID_ACTIONS)
    zoom = await harness.press(engine, upscale, Action.ZOOM_OUT_2X)
    assert zoom.status is JobStatus.COMPLETED, (zoom.error, zoom.error_detail)
    # One backend job per press that needs the GPU (U2 is done by the bot), none sent twice.
    assert sim.submits_total == 4 and set(sim.submits.values()) <= {1}


async def test_comfyui_fills_the_workflow(harness: Harness) -> None:
    sim = await harness.sim("comfyui", step_seconds=0.0)
    adapter = _adapter(harness, "comfyui", sim)
    engine = await harness.engine(adapter)
    parent = await harness.imagine(engine, "comfyui", prompt_final='say "hi" --no rain --ar 2:1 --seed 7')
    assert parent.status is JobStatus.COMPLETED, (parent.error, parent.error_detail)
    graph = next(r["body"] for r in sim.requests if r["path"] == "/prompt")["prompt"]
    assert graph["6"]["inputs"]["text"] == 'say "hi"'
    assert graph["7"]["inputs"]["text"] == "rain, blurry, watermark"
    assert graph["3"]["inputs"]["seed"] == 7
    assert graph["5"]["inputs"] == {"width": 128, "height": 64, "batch_size": 4}
    variation = await harness.press(engine, parent, Action.V1)
    assert variation.status is JobStatus.COMPLETED, (variation.error, variation.error_detail)
    body = [r["body"] for r in sim.requests if r["path"] == "/prompt"][-1]
    graph = body["prompt"]
    assert "5" not in graph and graph["imagine_bot_load"]["class_type"] == "LoadImage"
    assert graph["3"]["inputs"]["latent_image"] == ["imagine_bot_repeat", 0]
    assert graph["3"]["inputs"]["denoise"] == 0.6 and graph["imagine_bot_repeat"]["inputs"]["amount"] == 4
    assert graph["3"]["inputs"]["seed"] != 7
    assert [r for r in sim.requests if r["path"] == "/upload/image"]


# -- errors --------------------------------------------------------------------------------------

COMFY_ERRORS = {
    "missing_node_type": (ErrorReason.PROVIDER_FAILED, AnswerClass.INVALID),
    "invalid_ckpt": (ErrorReason.PROVIDER_FAILED, AnswerClass.INVALID),
    "server_error": (ErrorReason.PROVIDER_UNAVAILABLE, AnswerClass.GATEWAY_ERROR),
    "proxy_unauthorized": (ErrorReason.UNAUTHORIZED, AnswerClass.AUTH),
    "proxy_rate_limited": (ErrorReason.RATE_LIMITED, AnswerClass.RATE_LIMITED),
    "bad_gateway": (ErrorReason.PROVIDER_UNAVAILABLE, AnswerClass.GATEWAY_ERROR),
}


@pytest.mark.parametrize("error", sorted(COMFY_ERRORS))
async def test_comfyui_submit_errors(harness: Harness, error: str) -> None:
    sim = await harness.sim("comfyui")
    adapter = _adapter(harness, "comfyui", sim)
    sim.fail_next.append(error)
    with pytest.raises(ProviderError) as caught:
        await adapter.imagine(ImagineRequest(job_id="j-" + error, prompt="a fox"))
    reason, answer = COMFY_ERRORS[error]
    assert (caught.value.reason, caught.value.answer) == (reason, answer)
    assert adapter.judge(caught.value) is adapter.submit_outcomes[answer]


async def test_comfyui_every_answer_class_is_in_the_table() -> None:
    from bot.core.providers.comfyui import ComfyUIProvider

    assert set(ComfyUIProvider.submit_outcomes) == set(AnswerClass)


async def test_comfyui_out_of_memory_fails_the_job(harness: Harness) -> None:
    sim = await harness.sim("comfyui", step_seconds=0.02, steps=2)
    adapter = _adapter(harness, "comfyui", sim)
    engine = await harness.engine(adapter)
    sim.fail_next.append("oom")
    job = await harness.imagine(engine, "comfyui")
    assert job.status is JobStatus.FAILED and job.error is ErrorReason.PROVIDER_FAILED
    assert "OutOfMemoryError" in (job.error_detail or "")


async def test_comfyui_resend_of_a_queued_prompt_is_taken_not_doubled(harness: Harness) -> None:
    """Our prompt_id is fixed by our job id: a second submit is refused 409 and read as taken."""
    sim = await harness.sim("comfyui", step_seconds=0.05, steps=3)
    adapter = _adapter(harness, "comfyui", sim)
    request = ImagineRequest(job_id="same-job", prompt="a fox")
    first = await adapter.imagine(request)
    with pytest.raises(ProviderError) as caught:
        await adapter.imagine(request)
    assert caught.value.answer is AnswerClass.QUEUED_WITH_ID
    assert adapter.judge(caught.value) is SubmitOutcome.TAKEN
    assert caught.value.provider_job_id == first.provider_job_id
    assert sim.submits["same-job"] == 1


async def test_comfyui_lost_answer_is_claimed_by_our_id(harness: Harness) -> None:
    """The submit's answer is lost after ComfyUI queued the prompt: found by our id, never sent again."""
    sim = await harness.sim("comfyui", step_seconds=0.05, steps=3)
    sim.faults.after_error_rate = 1.0
    adapter = _adapter(harness, "comfyui", sim)
    engine = await harness.engine(adapter, limbo_grace_s=0.5)
    job = await engine.submit(make_job("comfyui"))
    done = await harness.finished(engine, job.id, within=10.0)
    assert done.status is JobStatus.COMPLETED, (done.error, done.error_detail)
    assert sim.submits[job.id] == 1


async def test_comfyui_origin_check_and_proxy_key(harness: Harness) -> None:
    sim = await harness.sim("comfyui", proxy_key="proxy-secret")
    headers = {"Authorization": "Bearer proxy-secret", "Origin": "http://evil.example"}
    response = await harness.http.get(f"{sim.api_base_url}/queue", headers=headers)
    assert response.status_code == 403
    adapter = harness.adapter("comfyui", sim, api_key="proxy-secret", **_options("comfyui", harness.tmp_path))
    _OPEN.append(adapter)
    engine = await harness.engine(adapter)
    job = await harness.imagine(engine, "comfyui")
    assert job.status is JobStatus.COMPLETED, (job.error, job.error_detail)
    wrong = harness.adapter("comfyui", sim, api_key="wrong", **_options("comfyui", harness.tmp_path))
    with pytest.raises(ProviderError) as caught:
        await wrong.imagine(ImagineRequest(job_id="k", prompt="x"))
    assert caught.value.reason is ErrorReason.UNAUTHORIZED and "wrong" not in str(caught.value)
    await wrong.aclose()


async def test_comfyui_check_reports_a_missing_node(harness: Harness, tmp_path: Path) -> None:
    sim = await harness.sim("comfyui")
    graph = json.loads(EXAMPLE.read_text())
    graph["3"]["class_type"] = "FancySampler"
    custom = tmp_path / "custom.json"
    custom.write_text(json.dumps(graph))
    adapter = harness.adapter("comfyui", sim, api_key="", **_options("comfyui", tmp_path, workflow=str(custom)))
    problem = await adapter.check()  # type: ignore[attr-defined]
    assert problem is not None and "FancySampler" in problem and "\n" not in problem
    ok = _adapter(harness, "comfyui", sim)
    assert await ok.check() is None  # type: ignore[attr-defined]
    dead = harness.adapter("comfyui", sim, api_key="", **_options("comfyui", tmp_path))
    object.__setattr__(dead, "base_url", "http://127.0.0.1:9")
    assert "127.0.0.1:9" in (await dead.check() or "")  # type: ignore[attr-defined]
    for adapter_ in (adapter, ok, dead):
        await adapter_.aclose()


async def test_comfyui_restart_keeps_following_by_history(harness: Harness) -> None:
    """A new adapter (a restarted bot) with no socket state still finishes the job from /history."""
    sim = await harness.sim("comfyui", step_seconds=0.05, steps=3)
    first = _adapter(harness, "comfyui", sim)
    submission = await first.imagine(ImagineRequest(job_id="r1", prompt="a fox"))
    await first.aclose()
    second = _adapter(harness, "comfyui", sim)

    async def done() -> Any:
        update = await second.poll(submission.provider_job_id, submission.provider_data)
        return update if update.status is JobStatus.COMPLETED else None

    update = await wait_until(done, 10.0)
    assert update.grid_url and len(update.image_urls) == 4
    await second.aclose()
    shutil.rmtree(harness.tmp_path / "owned", ignore_errors=True)


A1111_ERRORS = {
    "unauthorized": (ErrorReason.UNAUTHORIZED, AnswerClass.AUTH),
    "sampler_not_found": (ErrorReason.PROVIDER_FAILED, AnswerClass.INVALID),
    "model_not_found": (ErrorReason.PROVIDER_FAILED, AnswerClass.INVALID),
    "validation": (ErrorReason.PROVIDER_FAILED, AnswerClass.INVALID),
    "bad_gateway": (ErrorReason.PROVIDER_UNAVAILABLE, AnswerClass.GATEWAY_ERROR),
}


@pytest.mark.parametrize("error", sorted(A1111_ERRORS))
async def test_a1111_quick_refusals_reach_the_submit_table(harness: Harness, error: str) -> None:
    sim = await harness.sim("a1111")
    adapter = _adapter(harness, "a1111", sim)
    sim.fail_next.append(error)
    with pytest.raises(ProviderError) as caught:
        await adapter.imagine(ImagineRequest(job_id="j-" + error, prompt="a fox"))
    reason, answer = A1111_ERRORS[error]
    assert (caught.value.reason, caught.value.answer) == (reason, answer)
    assert adapter.judge(caught.value) is adapter.submit_outcomes[answer]
    assert set(adapter.submit_outcomes) == set(AnswerClass)


async def test_a1111_out_of_memory_mid_generation_fails_the_job(harness: Harness) -> None:
    sim = await harness.sim("a1111", step_seconds=0.3, steps=3)
    adapter = _adapter(harness, "a1111", sim)
    engine = await harness.engine(adapter)
    sim.fail_next.append("oom")
    job = await harness.imagine(engine, "a1111")
    assert job.status is JobStatus.FAILED and job.error is ErrorReason.PROVIDER_UNAVAILABLE
    assert "out of memory" in (job.error_detail or "")


async def test_a1111_basic_auth_describe_and_restart(harness: Harness) -> None:
    sim = await harness.sim("a1111", credentials="alice:s3cret-pass", step_seconds=0.2, steps=3)
    adapter = harness.adapter("a1111", sim, api_key="alice:s3cret-pass", **_options("a1111", harness.tmp_path))
    _OPEN.append(adapter)
    assert adapter.capabilities.describe
    assert await adapter.describe(b"\x89PNG fake") == [  # type: ignore[attr-defined]
        "a painting of a landscape with bands of colour, trending on artstation"
    ]
    submission = await adapter.imagine(ImagineRequest(job_id="open-request", prompt="a fox"))
    assert submission.update is None  # still drawing: followed, not waited for
    # A restarted bot (a new adapter) cannot collect the open request's images: ended honestly, not resent.
    fresh = _adapter(harness, "a1111", sim)
    update = await fresh.poll(submission.provider_job_id, submission.provider_data)
    assert update.error is ErrorReason.INTERRUPTED
    assert sim.submits["t-open-request"] == 1
    wrong = harness.adapter("a1111", sim, api_key="alice:wrong", **_options("a1111", harness.tmp_path))
    _OPEN.append(wrong)
    assert "credentials" in (await wrong.check() or "")  # type: ignore[attr-defined]
    assert await adapter.check() is None  # type: ignore[attr-defined]


OPENAI_ERRORS = {
    "invalid_api_key": (ErrorReason.UNAUTHORIZED, AnswerClass.AUTH),
    "moderation_blocked": (ErrorReason.BANNED_PROMPT, AnswerClass.INVALID),
    "content_policy_violation": (ErrorReason.BANNED_PROMPT, AnswerClass.INVALID),
    "rate_limited": (ErrorReason.RATE_LIMITED, AnswerClass.RATE_LIMITED),
    "insufficient_quota": (ErrorReason.SUBSCRIPTION_EXPIRED, AnswerClass.RATE_LIMITED),
    "model_not_found": (ErrorReason.PROVIDER_FAILED, AnswerClass.INVALID),
    "invalid_size": (ErrorReason.INVALID_PARAMETER, AnswerClass.INVALID),
    "server_error": (ErrorReason.PROVIDER_UNAVAILABLE, AnswerClass.SERVER_ERROR),
    "bad_gateway": (ErrorReason.PROVIDER_UNAVAILABLE, AnswerClass.GATEWAY_ERROR),
}


@pytest.mark.parametrize("flat", [False, True], ids=["openai", "sdcpp-flat"])
@pytest.mark.parametrize("error", sorted(OPENAI_ERRORS))
async def test_openai_errors(harness: Harness, error: str, flat: bool) -> None:
    if flat and error in ("moderation_blocked", "content_policy_violation", "rate_limited", "insufficient_quota"):
        pytest.skip("stable-diffusion.cpp's server has no moderation or quotas")
    sim = await harness.sim("openai", flat_errors=flat)
    adapter = _adapter(harness, "openai", sim)
    sim.fail_next.append(error)
    with pytest.raises(ProviderError) as caught:
        await adapter.imagine(ImagineRequest(job_id="j-" + error, prompt="a fox"))
    reason, answer = OPENAI_ERRORS[error]
    if flat and error == "model_not_found":
        reason = ErrorReason.PROVIDER_FAILED
    assert (caught.value.reason, caught.value.answer) == (reason, answer), caught.value
    assert adapter.judge(caught.value) is adapter.submit_outcomes[answer]
    assert set(adapter.submit_outcomes) == set(AnswerClass)
    assert API_KEY not in str(caught.value)


async def test_openai_moderation_of_prompt_and_result(harness: Harness) -> None:
    sim = await harness.sim("openai", step_seconds=0.2, steps=3)
    sim.faults.banned_words = ["forbidden"]
    adapter = _adapter(harness, "openai", sim)
    engine = await harness.engine(adapter)
    refused = await harness.imagine(engine, "openai", prompt_final="a forbidden thing")
    assert refused.status is JobStatus.MODERATED and refused.error is ErrorReason.BANNED_PROMPT
    sim.fail_next.append("moderation_output")
    blocked = await harness.imagine(engine, "openai")
    assert blocked.status is JobStatus.MODERATED and blocked.error is ErrorReason.IMAGE_BLOCKED


async def test_openai_streams_partial_images_as_previews(harness: Harness) -> None:
    sim = await harness.sim("openai", step_seconds=0.25, steps=4, previews=True)
    adapter = _adapter(harness, "openai", sim, partial_images=2)
    engine = await harness.engine(adapter)
    job = await harness.imagine(engine, "openai")
    assert job.status is JobStatus.COMPLETED, (job.error, job.error_detail)
    assert [e for e in harness.recorder.for_job(job.id) if e.job.preview_url], "a partial image became a preview"
    sent = next(r for r in sim.requests if r["path"].endswith("/generations"))["body"]
    assert sent["stream"] is True and sent["partial_images"] == 2 and sent["n"] == 4
    assert await adapter.check() is None  # type: ignore[attr-defined]
    wrong = harness.adapter("openai", sim, api_key="wrong", **_options("openai", harness.tmp_path))
    _OPEN.append(wrong)
    assert "OPENAI_API_KEY" in (await wrong.check() or "")  # type: ignore[attr-defined]


async def test_failover_from_a_midjourney_provider_to_an_owned_backend_says_so(harness: Harness) -> None:
    """FAILOVER_PROVIDERS mixes the families: useapi's account is out of service, ComfyUI makes the grid."""
    from bot.ui.render import job_content

    primary = await harness.sim("useapi")
    comfy = await harness.sim("comfyui")
    primary.fail_next.append("subscription_expired")
    useapi = harness.adapter("useapi", primary)
    engine = await harness.engine(useapi, _adapter(harness, "comfyui", comfy), failover=("comfyui",))
    job = await harness.imagine(engine, "useapi")
    assert job.status is JobStatus.COMPLETED and job.provider == "comfyui", (job.error, job.error_detail)
    assert job.grid_url and job.grid_url.startswith("owned://")
    assert "made by comfyui: useapi could not take it" in job_content(job)
    # Its buttons go to the backend that made it.
    child = await harness.press(engine, job, Action.V1)
    assert child.status is JobStatus.COMPLETED and child.provider == "comfyui"
    assert "could not take it" not in job_content(child)


async def test_cancel_stops_the_backend(harness: Harness) -> None:
    """A job a member cancels stops drawing on the GPU: ComfyUI interrupts it, A1111 too."""
    for name, credentials in (("comfyui", {}), ("a1111", {})):
        sim = await harness.sim(name, step_seconds=0.3, steps=6, **credentials)
        adapter = _adapter(harness, name, sim)
        engine = await harness.engine(adapter)
        job = await engine.submit(make_job(name))

        async def running(job_id: str = job.id, engine: Any = engine) -> bool:
            found = await engine.get(job_id)
            return found is not None and found.status is JobStatus.RUNNING

        await wait_until(running, 10.0)
        await engine.cancel(job.id, ErrorReason.CANCELLED_BY_OWNER)
        await wait_until(lambda sim=sim: any(j.state == "cancelled" for j in sim.jobs.values()), 10.0)
