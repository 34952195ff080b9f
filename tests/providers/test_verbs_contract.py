"""The verbs beyond imagine (issue 11) at the adapters against their simulators, over real HTTP: each
adapter offers exactly the verbs it speaks (a subset of what its provider documents), and each verb it
offers works against the simulator, with the simulator's documented errors."""

from __future__ import annotations

import io

import pytest
from aiohttp import web
from PIL import Image

from bot.core.errors import ProviderError
from bot.core.models import Action, ErrorReason, JobStatus, Verb
from bot.core.providers import provider_class
from bot.core.providers.base import BlendRequest, DescribeRequest

from .conftest import PROVIDERS, Harness


def test_offered_verbs_are_documented_ones() -> None:
    for name in (*PROVIDERS, "local"):
        adapter = provider_class(name)
        assert adapter.capabilities.verbs <= set(adapter.documented_verbs), name
    useapi = {Verb.DESCRIBE, Verb.BLEND, Verb.SEED, Verb.CANCEL, Verb.REMIX, Verb.CUSTOM_ZOOM, Verb.VARY_REGION}
    assert provider_class("useapi").capabilities.verbs == useapi
    assert provider_class("imaginepro").capabilities.verbs == {Verb.CANCEL, Verb.VARY_REGION}
    assert provider_class("apiframe").capabilities.verbs == {Verb.DESCRIBE, Verb.BLEND, Verb.SEED, Verb.VARY_REGION}
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
