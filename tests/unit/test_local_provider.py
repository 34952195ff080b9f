from __future__ import annotations

import io
from pathlib import Path

import httpx
from PIL import Image

from bot.core.models import Action, JobStatus
from bot.core.providers.base import ActionRequest, ImagineRequest
from bot.core.providers.local import render_grid
from tests.unit.conftest import local_provider


def test_grid_is_deterministic_and_honours_aspect() -> None:
    a = render_grid("a fox", 7, "16:9")
    assert a.tobytes() == render_grid("a fox", 7, "16:9").tobytes()
    assert a.tobytes() != render_grid("a fox", 8, "16:9").tobytes()
    assert a.width > a.height and abs(a.width / a.height - 16 / 9) < 0.02


async def test_imagine_upscale_variation_reroll(tmp_path: Path, http: httpx.AsyncClient) -> None:
    provider = local_provider(tmp_path, http)
    grid = await provider.imagine(ImagineRequest(job_id="j1", prompt="a fox", seed=3, aspect_ratio="2:3"))
    assert grid.update is not None and grid.update.status is JobStatus.COMPLETED
    grid_png = Image.open(io.BytesIO(await provider.fetch_image(grid.update.grid_url or "")))
    assert grid_png.height > grid_png.width

    def press(action: Action) -> ActionRequest:
        return ActionRequest(
            job_id=f"c-{action.value}",
            action=action,
            parent_provider_job_id=grid.provider_job_id,
            parent_provider_data={},
            parent_prompt="a fox",
        )

    upscale = await provider.act(press(Action.U2))
    assert upscale.update is not None and len(upscale.update.image_urls) == 1
    big = Image.open(io.BytesIO(await provider.fetch_image(upscale.update.image_urls[0])))
    assert big.size == (grid_png.width, grid_png.height)  # one tile, doubled
    variation = await provider.act(press(Action.V3))
    reroll = await provider.act(press(Action.REROLL))
    images = {await provider.fetch_image(s.update.grid_url or "") for s in (grid, variation, reroll) if s.update}
    assert len(images) == 3


async def test_tasks_survive_a_new_provider_instance(tmp_path: Path, http: httpx.AsyncClient) -> None:
    first = local_provider(tmp_path, http, step=0.05, steps=2)
    submission = await first.imagine(ImagineRequest(job_id="j", prompt="owl"))
    second = local_provider(tmp_path, http, step=0.05, steps=2)
    update = await second.poll(submission.provider_job_id, {})
    assert update.status in (JobStatus.SUBMITTED, JobStatus.RUNNING, JobStatus.COMPLETED)
