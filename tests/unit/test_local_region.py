"""Vary (Region) on the local provider: inside the painted region the new prompt is drawn (four ways, as a
2x2 grid), outside it every pixel of the upscale is kept; a mask it cannot use is refused before anything."""

from __future__ import annotations

import base64
import io
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image, ImageChops, ImageDraw

from bot.core.errors import ProviderError
from bot.core.models import MASK_PARAM, Action, Job, JobStatus, Verb
from bot.core.providers.base import ActionRequest, ImagineRequest
from bot.core.providers.local import LocalProvider, split_grid
from bot.core.store import Store
from tests.unit.conftest import local_provider, make_job, wait_until


def _mask(size: tuple[int, int], box: tuple[int, int, int, int] | None) -> bytes:
    mask = Image.new("L", size, 0)
    if box is not None:
        ImageDraw.Draw(mask).rectangle(box, fill=255)
    buffer = io.BytesIO()
    mask.save(buffer, format="PNG")
    return buffer.getvalue()


async def _image(local: LocalProvider, job_id: str) -> Image.Image:
    update = await local.poll(job_id, {})
    assert update.status is JobStatus.COMPLETED, update
    url = update.grid_url or update.image_urls[0]
    return Image.open(io.BytesIO(await local.fetch_image(url))).convert("RGB")


async def test_the_region_is_redrawn_the_rest_kept_and_bad_masks_refused(tmp_path: Path) -> None:
    async with httpx.AsyncClient() as http:
        local = local_provider(tmp_path, http)
        assert Verb.VARY_REGION in local.capabilities.verbs and Verb.VARY_REGION in local.documented_verbs
        grid = await local.imagine(ImagineRequest("g", "a quiet meadow at noon", seed=7))
        upscale = await local.act(ActionRequest("u", Action.U1, grid.provider_job_id, {}, ""))
        assert Action.VARY_REGION in ((await local.poll(upscale.provider_job_id, {})).actions or ())
        picture = await _image(local, upscale.provider_job_id)
        box = (picture.width // 4, picture.height // 4, picture.width // 2, picture.height // 2)
        varied = await local.act(
            ActionRequest(
                "r", Action.VARY_REGION, upscale.provider_job_id, {}, "", prompt="a red barn at night",
                mask=_mask(picture.size, box),
            )
        )  # fmt: skip
        result = await _image(local, varied.provider_job_id)
        assert result.size == (picture.width * 2, picture.height * 2)  # four redraws, each the upscale's size
        tiles = split_grid(result)
        inside = Image.new("L", picture.size, 0)
        ImageDraw.Draw(inside).rectangle(box, fill=255)
        outside = inside.point(lambda v: 255 - v)
        for tile in tiles:
            difference = ImageChops.difference(tile, picture).convert("L")
            kept = ImageChops.multiply(difference, outside)
            assert kept.getbbox() is None, "a pixel outside the mask changed"
            changed = ImageChops.multiply(difference, inside)
            assert changed.getbbox() is not None and changed.getextrema()[1] > 40, "the region was not redrawn"
        assert len({tile.tobytes() for tile in tiles}) == 4, "four different redraws"
        # 🔄 on the result paints the same region again with another seed; outside still the upscale.
        again = await local.act(ActionRequest("s", Action.REROLL, varied.provider_job_id, {}, ""))
        rerolled = split_grid(await _image(local, again.provider_job_id))
        assert ImageChops.multiply(ImageChops.difference(rerolled[0], picture).convert("L"), outside).getbbox() is None
        assert rerolled[0].tobytes() != tiles[0].tobytes()
        # A mask it cannot use is refused before anything is made: another size, nothing painted, no PNG, none.
        size = picture.size
        for data in (_mask((size[0] // 2, size[1]), (0, 0, 10, 10)), _mask(size, None), b"not a png", None):
            with pytest.raises(ProviderError):
                await local.act(ActionRequest("x", Action.VARY_REGION, upscale.provider_job_id, {}, "", mask=data))
        # Vary (Region) is offered on an upscale, not on a grid.
        with pytest.raises(ProviderError):
            await local.act(ActionRequest("y", Action.VARY_REGION, grid.provider_job_id, {}, "", mask=_mask(size, box)))


async def test_a_stored_vary_region_job_runs_after_a_restart(make_engine: Any, store: Store, tmp_path: Path) -> None:
    """The mask lives in the job's params, so a Vary (Region) job stored before a restart is sent with it by
    the next engine, and a second one on the same picture is a job of its own (each link makes one)."""
    async with httpx.AsyncClient() as http:
        local = local_provider(tmp_path, http)
        grid = await local.imagine(ImagineRequest("g", "a windmill", seed=11))
        upscale = await local.act(ActionRequest("u", Action.U3, grid.provider_job_id, {}, ""))
        update = await local.poll(upscale.provider_job_id, {})
        size = (await _image(local, upscale.provider_job_id)).size
        parent = make_job(
            action=Action.U3, status=JobStatus.COMPLETED, provider_job_id=upscale.provider_job_id, account="local",
            image_urls=list(update.image_urls), actions=list(update.actions or ()),
        )  # fmt: skip
        await store.insert_job(parent)
        mask = base64.b64encode(_mask(size, (0, 0, size[0] // 3, size[1] // 3))).decode()

        def child() -> Job:
            return make_job(
                parent_id=parent.id, action=Action.VARY_REGION, account="local", prompt="a blue door",
                prompt_final="a blue door", params={"remix": True, MASK_PARAM: mask},
            )  # fmt: skip

        first = child()
        assert (await store.insert_child(first))[1]
        engine, _ = make_engine(local)  # a fresh engine over the stored jobs: the start after a restart
        await engine.start()

        async def done() -> Job | None:
            job = await store.get_job(first.id)
            return job if job is not None and job.terminal else None

        finished = await wait_until(done, within=30.0)
        assert finished.status is JobStatus.COMPLETED and finished.grid_url, finished.error_detail
        await engine.stop()
        assert (await store.insert_child(child()))[1], "another Vary (Region) on the same picture is a job of its own"
