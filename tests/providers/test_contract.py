"""Each adapter against its simulator, through a real engine and store: imagine → progress → done →
U / V / 🔄 → done, by polling and by webhooks."""

from __future__ import annotations

import pytest

from bot.core.models import GRID_ACTIONS, Action, JobEventKind, JobStatus
from providersim import SimServer

from .conftest import PROVIDERS, Harness


async def _flow(harness: Harness, name: str, sim: SimServer, *, webhooks: bool) -> None:
    adapter = harness.adapter(name, sim)
    engine = await harness.engine(adapter, webhooks=webhooks)
    parent = await harness.imagine(engine, name, params={"ar": "3:2"})
    assert parent.status is JobStatus.COMPLETED, (parent.error, parent.error_detail)
    assert parent.grid_url and parent.grid_url.startswith(sim.public_url)
    assert set(parent.actions) == set(GRID_ACTIONS)
    assert (await adapter.fetch_image(parent.grid_url))[:4] == b"\x89PNG"
    progress = [e.job.progress for e in harness.recorder.for_job(parent.id) if e.kind is JobEventKind.PROGRESS]
    assert any(0 < p < 100 for p in progress), progress
    assert progress == sorted(progress), "progress never moves backwards"

    upscale = await harness.press(engine, parent, Action.U1)
    assert upscale.status is JobStatus.COMPLETED, (upscale.error, upscale.error_detail)
    assert upscale.grid_url is None and len(upscale.image_urls) == 1
    assert (await adapter.fetch_image(upscale.image_urls[0]))[:4] == b"\x89PNG"
    assert Action.VARY_STRONG in upscale.actions and Action.U1 not in upscale.actions

    for action in (Action.V2, Action.REROLL):
        child = await harness.press(engine, parent, action)
        assert child.status is JobStatus.COMPLETED, (action, child.error, child.error_detail)
        assert child.grid_url and set(child.actions) == set(GRID_ACTIONS)

    zoom = await harness.press(engine, upscale, Action.ZOOM_OUT_2X)
    assert zoom.status is JobStatus.COMPLETED, (zoom.error, zoom.error_detail)

    # The callback URL, and our job id as the correlation field, went with every submit.
    submits = [r for r in sim.requests if r["method"] == "POST" and r["body"] and "fetch" not in r["path"]]
    assert len(submits) == 5
    if webhooks:
        assert all("/webhooks/" + name + "/" in str(r["body"]) for r in submits)
        assert {w["status"] for w in sim.webhooks if not w["dropped"]} == {200}
    if name == "apiframe":
        assert submits[0]["body"]["aspect_ratio"] == "3:2"
    else:
        assert "--ar 3:2" in str(submits[0]["body"])


@pytest.mark.parametrize("name", PROVIDERS)
async def test_polling_flow(harness: Harness, name: str) -> None:
    sim = await harness.sim(name, step_seconds=0.03, steps=3)
    await _flow(harness, name, sim, webhooks=False)


@pytest.mark.parametrize("name", PROVIDERS)
async def test_webhook_flow(harness: Harness, name: str) -> None:
    sim = await harness.sim(name, step_seconds=0.03, steps=3)
    sim.faults.webhook_progress = True
    await _flow(harness, name, sim, webhooks=True)
    if name == "apiframe":
        # Its callbacks carry progress, so polling is only the 60 s safety net: it never had to ask.
        assert not [r for r in sim.requests if r["path"].endswith("/fetch")]


@pytest.mark.parametrize("name", PROVIDERS)
async def test_img2img_link_goes_first(harness: Harness, name: str) -> None:
    sim = await harness.sim(name)
    engine = await harness.engine(harness.adapter(name, sim))
    url = "https://cdn.example.org/ref.png"
    job = await harness.imagine(
        engine, name, prompt="a cat", prompt_final=f"{url} a cat", image_urls_in=[url], params={"ar": "16:9"}
    )
    assert job.status is JobStatus.COMPLETED
    body = sim.requests[0]["body"]
    prompt = body.get("msg") or body.get("prompt")
    assert prompt.startswith(url + " a cat"), prompt
    assert prompt.count(url) == 1


async def test_thenextleg_request_spacing_is_honoured(harness: Harness) -> None:
    # The simulator refuses a second request within the window; the engine must never trip it.
    sim = await harness.sim("thenextleg", rate_limit_seconds=0.15)
    # The throttle spaces sends; the simulator measures arrivals, which a loaded machine can bunch by a few
    # tens of milliseconds: a 0.1 s margin keeps this about the engine, not the scheduler.
    adapter = harness.adapter("thenextleg", sim, min_request_interval=0.25)
    engine = await harness.engine(adapter)
    parent = await harness.imagine(engine, "thenextleg")
    child = await harness.press(engine, parent, Action.U3)
    assert child.status is JobStatus.COMPLETED
    assert all(r["status"] != 429 for r in sim.requests)
    assert len(sim.requests) >= 4


# Flat is what TheNextLeg's docs show (the simulator's default); nested is what its SDKs read.
@pytest.mark.parametrize("nested_message", [False, True], ids=["flat", "nested"])
async def test_thenextleg_message_shapes_and_ignore_prefilter(harness: Harness, nested_message: bool) -> None:
    sim = await harness.sim("thenextleg", nested_message=nested_message)
    sim.faults.banned_words = ["lighthouse"]
    engine = await harness.engine(harness.adapter("thenextleg", sim, ignore_prefilter=True))
    job = await harness.imagine(engine, "thenextleg")
    assert job.status is JobStatus.COMPLETED
    assert job.provider_data.get("buttonMessageId")
    assert sim.requests[0]["body"]["ignorePrefilter"] == "true"


async def test_imaginepro_legacy_paths_and_string_progress(harness: Harness) -> None:
    sim = await harness.sim("imaginepro", string_progress=True, step_seconds=0.03, steps=3)
    engine = await harness.engine(harness.adapter("imaginepro", sim, paths="legacy"))
    job = await harness.imagine(engine, "imaginepro")
    assert job.status is JobStatus.COMPLETED
    assert {r["path"].rsplit("/", 1)[0] for r in sim.requests} <= {"/api/v1/midjourney", "/api/v1/midjourney/message"}


async def test_apiframe_bearer_auth_style(harness: Harness) -> None:
    sim = await harness.sim("apiframe")
    engine = await harness.engine(harness.adapter("apiframe", sim, auth_style="bearer"))
    assert (await harness.imagine(engine, "apiframe")).status is JobStatus.COMPLETED


async def test_thenextleg_get_image_fallback_on_403(harness: Harness) -> None:
    sim = await harness.sim("thenextleg")
    adapter = harness.adapter("thenextleg", sim)
    engine = await harness.engine(adapter)
    job = await harness.imagine(engine, "thenextleg")
    sim.faults.image_403 = True
    assert job.grid_url is not None
    assert (await adapter.fetch_image(job.grid_url))[:4] == b"\x89PNG"
    assert sim.requests[-1]["path"] == "/getImage"
