"""The local provider's verbs beyond imagine (issue 11): describe follows from the picture, blend really
mixes the images, seed is the one it drew with, cancel stops the task."""

from __future__ import annotations

import io
from pathlib import Path

import httpx
import pytest
from aiohttp import web
from PIL import Image

from bot.core.errors import ProviderError
from bot.core.models import Action, JobStatus, Verb
from bot.core.providers.base import Account, ActionRequest, BlendRequest, DescribeRequest, ImagineRequest
from bot.core.providers.local import LocalProvider


def _png(colour: tuple[int, int, int], size: tuple[int, int]) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, colour).save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.fixture
async def served() -> object:
    images = {
        "dark.png": _png((10, 20, 90), (300, 450)),
        "red.png": _png((230, 20, 20), (200, 200)),
        "green.png": _png((20, 220, 20), (200, 200)),
        "wide.png": _png((250, 240, 200), (640, 360)),
    }
    app = web.Application()
    app.router.add_get("/{name}", lambda r: web.Response(body=images[r.match_info["name"]], content_type="image/png"))
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    yield f"http://127.0.0.1:{runner.addresses[0][1]}"
    await runner.cleanup()


@pytest.fixture
async def local(tmp_path: Path, served: str) -> object:
    async with httpx.AsyncClient() as http:
        account = Account(
            provider="local", name="local", base_url="local://",
            options={"data_dir": str(tmp_path), "step_seconds": 0, "trusted_image_origins": [served]},
        )  # fmt: skip
        yield LocalProvider(account, http)


async def test_describe_follows_from_the_picture(local: LocalProvider, served: str) -> None:
    assert {Verb.DESCRIBE, Verb.BLEND, Verb.SEED, Verb.CANCEL} <= local.capabilities.verbs
    dark = await local.describe_image(DescribeRequest("r", f"{served}/dark.png"))
    assert len(dark) == 4 and all(p.endswith("--ar 2:3") for p in dark)
    assert "navy" in " ".join(dark) and ("dark" in dark[0] or "dim" in dark[0]) and "portrait" in dark[1]
    bright = await local.describe_image(DescribeRequest("r", f"{served}/wide.png"))
    assert all(p.endswith("--ar 16:9") for p in bright) and "bright" in bright[0] and "landscape" in bright[1]


async def test_blend_mixes_the_images_and_rerolls_them(local: LocalProvider, served: str) -> None:
    with pytest.raises(ProviderError):
        await local.blend(BlendRequest("b", (f"{served}/red.png",)))
    submitted = await local.blend(BlendRequest("b", (f"{served}/red.png", f"{served}/green.png"), "3:2"))
    update = await local.poll(submitted.provider_job_id, {})
    assert update.status is JobStatus.COMPLETED and update.grid_url
    grid = Image.open(io.BytesIO(await local.fetch_image(update.grid_url))).convert("RGB")
    assert abs(grid.width / grid.height - 3 / 2) < 0.02
    red, green, _ = grid.getpixel((grid.width // 4, grid.height // 4))  # type: ignore[misc]
    assert red > 60 and green > 35, "a tile holds both images (a red tile alone has green 20)"
    again = await local.act(ActionRequest("c", Action.REROLL, submitted.provider_job_id, {}, ""))
    assert (await local.poll(again.provider_job_id, {})).status is JobStatus.COMPLETED
    upscale = await local.act(ActionRequest("d", Action.U2, submitted.provider_job_id, {}, ""))
    assert (await local.poll(upscale.provider_job_id, {})).image_urls


async def test_seed_and_cancel(tmp_path: Path, local: LocalProvider) -> None:
    done = await local.imagine(ImagineRequest("j", "a fox", seed=1234))
    assert await local.seed(done.provider_job_id, {}) == 1234
    with pytest.raises(ProviderError):  # finished already: nothing to stop
        await local.cancel(done.provider_job_id, {})
    local.step_seconds, local.steps = 30.0, 4
    slow = await local.imagine(ImagineRequest("k", "a slow fox"))
    assert (await local.poll(slow.provider_job_id, {})).status is JobStatus.SUBMITTED
    await local.cancel(slow.provider_job_id, {})
    assert (await local.poll(slow.provider_job_id, {})).status is JobStatus.CANCELLED
