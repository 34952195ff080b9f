"""The verbs beyond imagine (issue 11) at the adapters against their simulators, over real HTTP: each
adapter offers exactly the verbs it speaks (a subset of what its provider documents), and each verb it
offers works against the simulator, with the simulator's documented errors."""

from __future__ import annotations

import io

import httpx
import pytest
from aiohttp import web
from PIL import Image

from bot.core.errors import ProviderError
from bot.core.models import Action, ErrorReason, JobStatus, Verb
from bot.core.providers import provider_class
from bot.core.providers.base import ActionRequest, BlendRequest, DescribeRequest
from providersim._video import BASE_FRAMES, EXTEND_FRAMES

from .conftest import PROVIDERS, Harness

VIDEO = (Verb.ANIMATE, Verb.EXTEND)


def test_offered_verbs_are_documented_ones() -> None:
    for name in (*PROVIDERS, "local"):
        adapter = provider_class(name)
        assert adapter.capabilities.verbs <= set(adapter.documented_verbs), name
    useapi = {Verb.DESCRIBE, Verb.BLEND, Verb.SEED, Verb.CANCEL, Verb.REMIX, Verb.CUSTOM_ZOOM, *VIDEO, Verb.VARY_REGION}
    assert provider_class("useapi").capabilities.verbs == useapi
    assert provider_class("imaginepro").capabilities.verbs == {Verb.CANCEL, Verb.VARY_REGION}
    apiframe = {Verb.DESCRIBE, Verb.BLEND, Verb.SEED, *VIDEO, Verb.VARY_REGION, Verb.CUSTOM_ZOOM, Verb.REMIX}
    assert provider_class("apiframe").capabilities.verbs == apiframe
    # TheNextLeg documents no Vary (Region) (mj-verbs.md §0, §3).
    assert Verb.VARY_REGION not in provider_class("thenextleg").documented_verbs
    # ImaginePro documents no describe, blend or seed; APIFrame no cancel (mj-verbs.md §0).
    assert not {Verb.DESCRIBE, Verb.BLEND, Verb.SEED} & set(provider_class("imaginepro").documented_verbs)
    assert Verb.CANCEL not in provider_class("apiframe").documented_verbs


async def _image_server(colour: tuple[int, int, int]) -> tuple[web.AppRunner, str]:
    buffer = io.BytesIO()
    Image.new("RGB", (400, 225), colour).save(buffer, format="PNG")
    app = web.Application()
    app.router.add_get("/picture.png", lambda request: web.Response(body=buffer.getvalue(), content_type="image/png"))
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    return runner, f"http://127.0.0.1:{runner.addresses[0][1]}/picture.png"


async def test_useapi_describe_blend_seed_cancel(harness: Harness) -> None:
    sim = await harness.sim("useapi", step_seconds=0.03, steps=3)
    adapter = harness.adapter("useapi", sim)
    runner, url = await _image_server((200, 30, 30))
    try:
        prompts = await adapter.describe_image(DescribeRequest("ref1", url))
        assert len(prompts) == 4 and all("red" in p and p.endswith("--ar 16:9") for p in prompts), prompts
        with pytest.raises(ProviderError) as failed:
            await adapter.describe_image(DescribeRequest("ref2", url.replace("picture", "missing")))
        assert failed.value.reason is ErrorReason.INVALID_LINK
    finally:
        await runner.cleanup()

    with pytest.raises(ProviderError):  # one image is not a blend: 400
        await adapter.blend(BlendRequest("b0", (url,)))
    engine = await harness.engine(adapter)
    blend = await harness.imagine(engine, "useapi", action=Action.BLEND, image_urls_in=[url, url], params={"ar": "2:3"})
    assert blend.status is JobStatus.COMPLETED and blend.grid_url, (blend.error, blend.error_detail)
    sent = [r for r in sim.requests if r["path"] == "/v2/jobs/blend"][-1]["body"]
    assert sent["blendDimensions"] == "Portrait" and sent["blendUrls"] == [url, url]
    upscale = await harness.press(engine, blend, Action.U2)
    assert upscale.status is JobStatus.COMPLETED

    seed = await adapter.seed(blend.provider_job_id or "", {})
    assert seed == sim.jobs[blend.provider_job_id or ""].seed
    with pytest.raises(ProviderError):
        await adapter.seed("no-such-job", {})

    running = sim.create_job("sim-key-0123456789", kind="grid", action="imagine", prompt="slow")
    running.frozen = True
    await adapter.cancel(running.id, {})
    assert running.state == "cancelled"
    assert any(r["path"] == "/v2/jobs/cancel/" and r["query"] == {"jobid": running.id} for r in sim.requests)


async def test_imaginepro_cancel_job(harness: Harness) -> None:
    sim = await harness.sim("imaginepro", step_seconds=0.03, steps=3)
    adapter = harness.adapter("imaginepro", sim)
    running = sim.create_job("sim-key-0123456789", kind="grid", action="imagine", prompt="slow")
    running.frozen = True
    running.progress = 40
    await adapter.cancel(running.id, {})
    assert running.state == "cancelled"
    cancel = [r for r in sim.requests if r["path"].endswith("/button")]
    assert cancel and cancel[0]["body"] == {"messageId": running.id, "button": "Cancel Job"}
    with pytest.raises(ProviderError):  # a finished job cannot be cancelled (progress 100)
        await adapter.cancel(running.id, {})


async def test_apiframe_describe_blend_seed(harness: Harness) -> None:
    sim = await harness.sim("apiframe", step_seconds=0.03, steps=3)
    adapter = harness.adapter("apiframe", sim)
    runner, url = await _image_server((30, 40, 200))
    try:
        prompts = await adapter.describe_image(DescribeRequest("ref1", url))
        assert len(prompts) == 4 and all("blue" in p and p.endswith("--ar 16:9") for p in prompts), prompts
        with pytest.raises(ProviderError) as failed:
            await adapter.describe_image(DescribeRequest("ref2", url.replace("picture", "missing")))
        assert failed.value.reason is ErrorReason.INVALID_LINK
    finally:
        await runner.cleanup()
    with pytest.raises(ProviderError):  # five is the most a blend takes: 400
        await adapter.blend(BlendRequest("b0", (url,) * 6))
    engine = await harness.engine(adapter)
    blend = await harness.imagine(
        engine, "apiframe", action=Action.BLEND, image_urls_in=[url, url], params={"ar": "3:2"}
    )
    assert blend.status is JobStatus.COMPLETED and blend.grid_url, (blend.error, blend.error_detail)
    assert [r for r in sim.requests if r["path"] == "/blend"][-1]["body"]["dimension"] == "landscape"
    # The seed comes back as a string and is read as a number.
    assert await adapter.seed(blend.provider_job_id or "", {}) == sim.jobs[blend.provider_job_id or ""].seed


def _frames(data: bytes) -> int:
    import av

    with av.open(io.BytesIO(data)) as container:
        assert "mp4" in container.format.name
        return sum(1 for _ in container.decode(video=0))


async def test_useapi_animate_pick_extend(harness: Harness) -> None:
    """mj-verbs.md §4.4: Animate on an upscale → four MP4 clips (``videoUx``; the still in ``attachments`` is
    not taken for one) → U3 picks one → Extend → four longer clips; Extend on four clips is refused; the
    clips' CDN serves only a browser, which the adapter's download says it is."""
    sim = await harness.sim("useapi", step_seconds=0.02, steps=2)
    adapter = harness.adapter("useapi", sim)
    engine = await harness.engine(adapter)
    grid = await harness.imagine(engine, "useapi", prompt="a kite")
    upscale = await harness.press(engine, grid, Action.U1)
    assert {Action.ANIMATE_HIGH, Action.ANIMATE_LOW} <= set(upscale.actions)
    video = await harness.press(engine, upscale, Action.ANIMATE_LOW)
    assert video.status is JobStatus.COMPLETED and len(video.image_urls) == 4 and video.grid_url is None
    assert all(u.endswith(f"clip_{n}.mp4") for n, u in enumerate(video.image_urls, start=1)), video.image_urls
    assert video.actions == [Action.U1, Action.U2, Action.U3, Action.U4]
    assert _frames(await adapter.fetch_image(video.image_urls[0])) == BASE_FRAMES
    async with httpx.AsyncClient() as plain:  # no browser's User-Agent: the CDN's 403
        assert (await plain.get(video.image_urls[0])).status_code == 403
    clip = await harness.press(engine, video, Action.U3)
    assert len(clip.image_urls) == 1 and clip.image_urls[0].endswith("clip_3.mp4")
    assert clip.actions == [Action.EXTEND_HIGH, Action.EXTEND_LOW] and clip.provider_data["kind"] == "clip"
    longer = await harness.press(engine, clip, Action.EXTEND_HIGH)
    assert longer.status is JobStatus.COMPLETED and len(longer.image_urls) == 4, (longer.error, longer.error_detail)
    assert _frames(await adapter.fetch_image(longer.image_urls[2])) == BASE_FRAMES + EXTEND_FRAMES
    labels = [r["body"]["button"] for r in sim.requests if r["path"] == "/v2/jobs/button"]
    assert labels[-3:] == ["Animate (Low motion)", "U3", "Extend (High motion)"]
    refused = await harness.press(engine, video, Action.EXTEND_LOW)  # Extend wants a picked clip: 400
    assert refused.status is JobStatus.FAILED and refused.error is ErrorReason.BUTTON_NOT_FOUND, refused.error
    # A documented failure of the video job itself ends the job with its reason.
    async with httpx.AsyncClient() as control:
        await control.post(f"{sim.public_url}/_sim/fail-next", json={"error": "no_fast_hours"})
    failed = await harness.press(engine, upscale, Action.ANIMATE_HIGH)
    assert failed.error is ErrorReason.OUT_OF_FAST_HOURS, (failed.error, failed.error_detail)


async def test_apiframe_animate_pick_extend(harness: Harness) -> None:
    """mj-verbs.md §7.7: ``/imagine-video`` from the upscale's link → ``video_urls`` (four MP4 clips); a pick
    is made without a call (APIFrame has none), and Extend sends the picked clip's task and index."""
    sim = await harness.sim("apiframe", step_seconds=0.02, steps=2)
    adapter = harness.adapter("apiframe", sim)
    engine = await harness.engine(adapter)
    grid = await harness.imagine(engine, "apiframe", prompt="a kite")
    upscale = await harness.press(engine, grid, Action.U2)
    video = await harness.press(engine, upscale, Action.ANIMATE_HIGH)
    assert video.status is JobStatus.COMPLETED and len(video.image_urls) == 4, (video.error, video.error_detail)
    sent = [r for r in sim.requests if r["path"] == "/imagine-video"][-1]["body"]
    assert sent["image_url"] == upscale.image_urls[0] and sent["motion"] == "high"
    assert sent["prompt"] == (upscale.prompt_final or upscale.prompt)
    assert _frames(await adapter.fetch_image(video.image_urls[1])) == BASE_FRAMES
    calls = len(sim.requests)
    clip = await harness.press(engine, video, Action.U2)
    assert clip.image_urls == [video.image_urls[1]] and clip.provider_job_id == f"{video.provider_job_id}#2"
    assert len(sim.requests) == calls, "a pick asks APIFrame nothing"
    assert (await adapter.poll(clip.provider_job_id or "", clip.provider_data)).image_urls == (video.image_urls[1],)
    longer = await harness.press(engine, clip, Action.EXTEND_LOW)
    assert longer.status is JobStatus.COMPLETED, (longer.error, longer.error_detail)
    sent = [r for r in sim.requests if r["path"] == "/imagine-video-extend"][-1]["body"]
    assert sent["parent_task_id"] == video.provider_job_id and sent["index"] == "2" and sent["motion"] == "low"
    assert _frames(await adapter.fetch_image(longer.image_urls[0])) == BASE_FRAMES + EXTEND_FRAMES

    # The SDK's other shape: one clip as ``videoUrl``, extended as it is (index 1), no pick.
    sim.video_field = "videoUrl"  # type: ignore[attr-defined]
    single = await harness.press(engine, upscale, Action.ANIMATE_LOW)
    assert len(single.image_urls) == 1 and single.actions == [Action.EXTEND_HIGH, Action.EXTEND_LOW]
    again = await harness.press(engine, single, Action.EXTEND_HIGH)
    assert again.status is JobStatus.COMPLETED
    assert [r for r in sim.requests if r["path"] == "/imagine-video-extend"][-1]["body"]["index"] == "1"
    with pytest.raises(ProviderError):  # an unreadable first frame is refused or fails: never a video
        await adapter.act(
            ActionRequest("x1", Action.ANIMATE_LOW, "p", {"kind": "upscale"}, "a kite", parent_image_urls=())
        )
