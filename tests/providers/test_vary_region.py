"""Vary (Region) at the paid providers (issue 11): each adapter against its simulator, over real HTTP.

The core's mask (PNG, mode "L", the upscale's size, 255 = repaint) reaches each provider in the format its
contract names (mj-verbs.md §2.1): useapi a bare base64 PNG (§4.3), ImaginePro a bare base64 WebP as in its
docs' example or a PNG by option (§6.1, §14), APIFrame a bare base64 PNG to ``/inpaint`` (§7.5); white =
repaint everywhere. Through the real engine the job completes with a grid whose tiles keep the upscale's
unmasked pixels exactly and redraw the masked part. Each documented refusal of the call becomes the right
reason with nothing resent; a mask the bot cannot send is refused before anything leaves; an ambiguous
answer is never followed by a second submit.
"""

from __future__ import annotations

import base64
import io
from typing import Any

import httpx
import pytest
from PIL import Image, ImageChops, ImageDraw

from bot.core.engine import JobEngine
from bot.core.errors import ConfigError, ProviderError
from bot.core.models import GRID_ACTIONS, MASK_PARAM, Action, AnswerClass, ErrorReason, Job, JobStatus, SubmitOutcome
from bot.core.providers._common import HttpAdapter
from bot.core.providers.base import ActionRequest, Provider
from providersim import SimServer
from providersim._core import ErrorSpec

from .conftest import Harness

PAID = ("useapi", "imaginepro", "apiframe")
# Where each provider takes Vary (Region), and the image format its mask is sent in.
SUBMIT_PATH = {"useapi": "/v2/jobs/button", "imaginepro": "/api/v1/nova/button", "apiframe": "/inpaint"}
WIRE_FORMAT = {"useapi": "PNG", "imaginepro": "WEBP", "apiframe": "PNG"}
PROMPT = "a red scarf on the hill"


def painted(size: tuple[int, int], *, soft: bool = True) -> Image.Image:
    """The mask the editor makes: a painted rectangle (255) with an anti-aliased rim: 200 just inside the
    threshold (repaint), 100 just outside (keep), so the conversion to black and white is seen."""
    width, height = size
    mask = Image.new("L", size, 0)
    draw = ImageDraw.Draw(mask)
    box = (width // 4, height // 4, width // 2, 3 * height // 4)
    if soft:
        draw.rectangle((box[0] - 2, box[1] - 2, box[2] + 2, box[3] + 2), fill=100)
        draw.rectangle((box[0] - 1, box[1] - 1, box[2] + 1, box[3] + 1), fill=200)
    draw.rectangle(box, fill=255)
    return mask


def black_and_white(mask: Image.Image) -> Image.Image:
    return mask.point(lambda value: 255 if value >= 128 else 0)


def png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def region_fields(mask: bytes, prompt: str = PROMPT) -> dict[str, Any]:
    """A Vary (Region) press as the engine stores it: the mask in params, the edited prompt as a remix."""
    return {
        "prompt": prompt, "prompt_final": prompt,
        "params": {MASK_PARAM: base64.b64encode(mask).decode(), "remix": True},
    }  # fmt: skip


async def upscaled(
    harness: Harness, name: str, **config: Any
) -> tuple[SimServer, Provider, JobEngine, Job, Image.Image]:
    """A simulator, its adapter, an engine (``config``: its knobs, and ``webhooks``), a finished U2 of a 3:2
    grid, and that upscale's image."""
    sim = await harness.sim(name, step_seconds=0.02, steps=2)
    adapter = harness.adapter(name, sim)
    engine = await harness.engine(adapter, **config)
    grid = await harness.imagine(engine, name, params={"ar": "3:2"})
    upscale = await harness.press(engine, grid, Action.U2)
    assert upscale.status is JobStatus.COMPLETED, (upscale.error, upscale.error_detail)
    assert Action.VARY_REGION in upscale.actions, upscale.actions
    with Image.open(io.BytesIO(await adapter.fetch_image(upscale.image_urls[0]))) as image:
        base = image.convert("RGB")
    return sim, adapter, engine, upscale, base


def sent_mask(body: dict[str, Any], name: str) -> Image.Image:
    """The mask as the provider received it, decoded strictly: bare base64 (no data: prefix) of an image."""
    text = body["mask"]
    assert isinstance(text, str) and not text.startswith("data:")
    with Image.open(io.BytesIO(base64.b64decode(text, validate=True))) as image:
        assert image.format == WIRE_FORMAT[name], image.format
        return image.convert("L")


@pytest.mark.parametrize("name", PAID)
async def test_the_masked_part_is_redrawn_and_the_rest_kept(harness: Harness, name: str) -> None:
    # With callbacks on, as a deployment (and the end-to-end harness) runs: the result arrives by callback.
    sim, adapter, engine, upscale, base = await upscaled(harness, name, webhooks=True)
    mask = painted(base.size)
    job = await harness.press(engine, upscale, Action.VARY_REGION, **region_fields(png(mask)))
    assert job.status is JobStatus.COMPLETED, (job.error, job.error_detail)
    assert job.grid_url and set(job.actions) == set(GRID_ACTIONS)
    assert [w for w in sim.webhooks if w["job"] == job.provider_job_id and w.get("status") == 200]

    # One submit, in the provider's own shape, with the mask in its documented format.
    submits = [r for r in sim.requests if r["path"] == SUBMIT_PATH[name] and r.get("created")]
    # useapi and ImaginePro take U2 at the same path; APIFrame has /upscale-1x for it.
    assert len(submits) == (1 if name == "apiframe" else 2), submits
    body = submits[-1]["body"]
    parent_field = {"useapi": "jobid", "imaginepro": "messageId", "apiframe": "parent_task_id"}[name]
    assert body[parent_field] == upscale.provider_job_id
    if name != "apiframe":
        assert body["button"] == "Vary (Region)"
    assert body["prompt"] == PROMPT
    received = sent_mask(body, name)
    assert received.size == base.size
    histogram = received.histogram()
    assert histogram[0] and histogram[255] and not any(histogram[1:255]), "black and white, nothing between"
    assert ImageChops.difference(received, black_and_white(mask)).getbbox() is None, "white = repaint, as painted"

    # The grid: four tiles the size of the upscale; outside the mask each keeps it pixel for pixel.
    with Image.open(io.BytesIO(await adapter.fetch_image(job.grid_url))) as image:
        grid = image.convert("RGB")
    width, height = base.size
    assert grid.size == (2 * width, 2 * height)
    keep = black_and_white(mask)
    blank = Image.new("RGB", base.size)
    repainted = keep.histogram()[255]
    for index in range(4):
        tile = grid.crop(
            ((index % 2) * width, (index // 2) * height, (index % 2 + 1) * width, (index // 2 + 1) * height)
        )
        difference = ImageChops.difference(tile, base)
        assert Image.composite(blank, difference, keep).getbbox() is None, f"tile {index + 1} changed a kept pixel"
        changed = Image.composite(difference, blank, keep).convert("L").point(lambda v: 255 if v else 0)
        assert changed.histogram()[255] > 0.9 * repainted, f"tile {index + 1} did not redraw the region"


def press(upscale: Job, mask: bytes | None, *, parent: str | None = None) -> ActionRequest:
    return ActionRequest(
        job_id="region-0123456789", action=Action.VARY_REGION, parent_provider_job_id=parent or upscale.provider_job_id
        or "", parent_provider_data=upscale.provider_data, parent_prompt=upscale.prompt, mask=mask, prompt=PROMPT,
    )  # fmt: skip


async def refused(adapter: Provider, request: ActionRequest) -> ProviderError:
    with pytest.raises(ProviderError) as caught:
        await adapter.act(request)
    return caught.value


def raw_body(name: str, parent: str) -> dict[str, Any]:
    if name == "useapi":
        return {"jobid": parent, "button": "Vary (Region)"}
    if name == "imaginepro":
        return {"messageId": parent, "button": "Vary (Region)"}
    return {"parent_task_id": parent}


@pytest.mark.parametrize("name", PAID)
async def test_each_refusal_becomes_its_reason_and_nothing_is_resent(
    harness: Harness, http: httpx.AsyncClient, name: str
) -> None:
    sim, adapter, engine, upscale, base = await upscaled(harness, name)
    assert isinstance(adapter, HttpAdapter)
    path = SUBMIT_PATH[name]
    sent_before = sum(1 for r in sim.requests if r["path"] == path)

    # A mask the bot cannot send (none, not an image, nothing painted) is refused before anything leaves.
    for mask in (None, b"not a png", png(Image.new("L", base.size, 0))):
        error = await refused(adapter, press(upscale, mask))
        assert error.reason is ErrorReason.INVALID_MASK and error.answer is None, error
        assert adapter.judge(error) is SubmitOutcome.NOT_TAKEN
    assert sum(1 for r in sim.requests if r["path"] == path) == sent_before, "nothing was sent"

    # The simulator's own refusals of a missing or unreadable mask (data: prefix included where only bare base64
    # is documented), answered over HTTP, then given to the adapter: INVALID_MASK, refused, never resent.
    url = sim.api_base_url.removesuffix(sim.api_prefix) + path
    parent = upscale.provider_job_id or ""
    bad = {"missing": None, "garbage": "%%% not base64 %%%", "not-an-image": base64.b64encode(b"GIF89a...").decode()}
    prefixed = "data:image/png;base64," + base64.b64encode(png(painted(base.size))).decode()
    if name != "apiframe":
        bad["data-uri"] = prefixed
    jobs_before = sim.submits_total
    for label, value in bad.items():
        body = raw_body(name, parent) | ({"mask": value} if value is not None else {})
        answer = await http.post(url, json=body, headers=adapter.auth_headers())
        assert answer.status_code == 400, (label, answer.status_code, answer.text)
        sim.errors = {**sim.errors, "echo": ErrorSpec(400, answer.json())}
        sim.fail_next.append("echo")
        error = await refused(adapter, press(upscale, png(painted(base.size))))
        assert error.reason is ErrorReason.INVALID_MASK and error.answer is AnswerClass.INVALID, (label, error)
        assert adapter.judge(error) is SubmitOutcome.NOT_TAKEN
    assert sim.submits_total == jobs_before, "a refused submit created no job"
    if name == "apiframe":
        # APIFrame accepts the prefix (§7.5): a job is made.
        answer = await http.post(url, json=raw_body(name, parent) | {"mask": prefixed}, headers=adapter.auth_headers())
        assert answer.status_code == 200 and answer.json()["task_id"], answer.text

    # A parent the provider does not know, and one that is a grid rather than an upscale.
    error = await refused(adapter, press(upscale, png(painted(base.size)), parent="no-such-job"))
    assert error.reason is ErrorReason.LOST and adapter.judge(error) is SubmitOutcome.NOT_TAKEN, error
    grid_parent = sim.jobs[parent].parent or ""
    error = await refused(adapter, press(upscale, png(painted(base.size)), parent=grid_parent))
    assert error.reason is ErrorReason.BUTTON_NOT_FOUND and adapter.judge(error) is SubmitOutcome.NOT_TAKEN, error
    if name == "apiframe":
        # /inpaint takes an upscale-1x task, not an alternative upscale (§7.5).
        alternative = await harness.press(engine, upscale, Action.UPSCALE_CREATIVE)
        error = await refused(adapter, press(upscale, png(painted(base.size)), parent=alternative.provider_job_id))
        assert error.reason is ErrorReason.BUTTON_NOT_FOUND, error

    # A mask not the size of the upscale is taken and then fails at the provider (mj-verbs.md §13).
    small = png(painted((base.width // 2, base.height // 2)))
    failed = await harness.press(engine, upscale, Action.VARY_REGION, **region_fields(small))
    assert failed.status is JobStatus.FAILED and failed.error is ErrorReason.INVALID_MASK, (
        failed.error,
        failed.error_detail,
    )
    assert failed.error.message == ErrorReason.INVALID_MASK.message
    assert failed.provider_job_id in sim.jobs


async def test_imaginepro_sends_png_when_told(harness: Harness) -> None:
    """ImaginePro's words name no format and its example is a WebP; PNG is one option away, and accepted."""
    sim, _adapter, _engine, upscale, base = await upscaled(harness, "imaginepro")
    adapter = harness.adapter("imaginepro", sim, mask_format="png")
    submitted = await adapter.act(press(upscale, png(painted(base.size))))
    assert submitted.provider_job_id in sim.jobs
    body = [r for r in sim.requests if r["path"] == SUBMIT_PATH["imaginepro"]][-1]["body"]
    with Image.open(io.BytesIO(base64.b64decode(body["mask"], validate=True))) as image:
        assert image.format == "PNG" and image.size == base.size
    with pytest.raises(ConfigError, match="mask_format"):
        harness.adapter("imaginepro", sim, mask_format="gif")


@pytest.mark.parametrize("name", PAID)
async def test_an_ambiguous_answer_is_never_followed_by_a_second_submit(harness: Harness, name: str) -> None:
    sim, _adapter, engine, upscale, base = await upscaled(harness, name, max_submit_attempts=2)
    # The provider takes the job, then a gateway loses the answer.
    sim.faults.update({"after_error_rate": 1.0})
    job = await harness.press(engine, upscale, Action.VARY_REGION, **region_fields(png(painted(base.size))))
    regions = [r for r in sim.requests if r["path"] == SUBMIT_PATH[name] and r["body"].get("mask")]
    assert len(regions) == 1, f"{len(regions)} Vary (Region) submits after one ambiguous answer"
    assert len(regions[0]["created"]) == 1 and regions[0]["after_fault"] == "error", regions
    # Found by our ref and followed (useapi lists its executing jobs), or ended saying it was not sent twice.
    assert job.error in (None, ErrorReason.UNCONFIRMED), (job.error, job.error_detail)
    if job.error is ErrorReason.UNCONFIRMED:
        assert "not sent twice" in job.error.message
