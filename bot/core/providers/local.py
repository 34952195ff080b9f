"""The built-in ``local`` provider: real images drawn with Pillow, no account and no network.

It behaves like a remote provider so the rest of the bot cannot tell the difference: a submit returns
a task id at once, progress advances in steps with blurred previews, and results are image URLs
(``local://<task>/<file>``) that :meth:`LocalProvider.fetch_image` serves. Tasks are kept as JSON
files beside the images, so a task submitted before a crash is still there after a restart; progress
is derived from the wall-clock time since submission, like a remote service that kept working.

Everything it draws is a pure function of prompt, seed and action, so tests can compare bytes. What it
draws is the prompt read as a scene (``_scene``); the buttons redraw that scene through new frames.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import io
import json
import math
import random
import re
import secrets
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import httpx
from PIL import Image, ImageFilter, ImageOps

from bot.core.errors import ProviderError
from bot.core.models import Action, ErrorReason, JobStatus, ProviderUpdate, Verb
from bot.core.netguard import ImageGuard, ImageRefused, open_image
from bot.core.providers import _region, _scene, _verbs_local
from bot.core.providers.base import (
    Account,
    ActionRequest,
    BlendRequest,
    Capabilities,
    DescribeRequest,
    ImagineRequest,
    Provider,
    Submission,
)

__all__ = ["LocalProvider", "compose_grid", "read_scene", "render_grid", "render_tile", "split_grid"]

read_scene = _scene.read_scene

# Long side of one tile of the grid; the grid is twice that. Small enough to draw a grid in ~15-40 ms of CPU.
TILE_LONG_SIDE = 384
# Upscales double the tile, which is what a member expects from "U".
UPSCALE_FACTOR = 2
_TASK_ID = re.compile(r"[0-9a-f]{16}")
_ASPECT = re.compile(r"([1-9]\d{0,2}):([1-9]\d{0,2})")
# Buttons pressed on results of buttons: no member goes this deep; a longer chain is a loop in the files.
MAX_LINEAGE = 64
_POST_UPSCALE = frozenset(
    {Action.VARY_STRONG, Action.VARY_SUBTLE, Action.ZOOM_OUT_2X, Action.ZOOM_OUT_1_5X, Action.PAN_LEFT,
     Action.PAN_RIGHT, Action.PAN_UP, Action.PAN_DOWN, Action.UPSCALE_SUBTLE, Action.UPSCALE_CREATIVE,
     Action.CUSTOM_ZOOM, Action.ANIMATE_HIGH, Action.ANIMATE_LOW, Action.VARY_REGION}
)  # fmt: skip
# What a video offers: made longer, four times at most (Midjourney stops near 21 s).
_VIDEO_ACTIONS = (Action.EXTEND_HIGH, Action.EXTEND_LOW)
MAX_EXTENDS = 4
_ANIMATE = {
    Action.ANIMATE_HIGH: "high",
    Action.ANIMATE_LOW: "low",
    Action.EXTEND_HIGH: "high",
    Action.EXTEND_LOW: "low",
}


def _tile_size(aspect: str) -> tuple[int, int]:
    width, height = (int(part) for part in aspect.split(":"))
    if width >= height:
        return TILE_LONG_SIDE, max(64, round(TILE_LONG_SIDE * height / width))
    return max(64, round(TILE_LONG_SIDE * width / height)), TILE_LONG_SIDE


def _rng(*parts: object) -> random.Random:
    digest = hashlib.sha256("\x1f".join(map(str, parts)).encode()).digest()
    return random.Random(int.from_bytes(digest[:8], "big"))


def render_tile(
    prompt: str, seed: int, index: int, size: tuple[int, int], tint: tuple[int, int, int] | None = None
) -> Image.Image:
    """One picture of a first grid: the prompt's scene in the ``index``-th of its four compositions."""
    scene = _scene.parse(prompt, seed, tint)
    return _scene.render(scene, _scene.base_frames(scene.key, size)[index])


def compose_grid(tiles: list[Image.Image]) -> Image.Image:
    width, height = tiles[0].size
    grid = Image.new("RGB", (width * 2, height * 2))
    for i, tile in enumerate(tiles):
        grid.paste(tile, ((i % 2) * width, (i // 2) * height))
    described = _scene.merge_descriptions(tiles)
    if described is not None:  # the grid (and the tiles cut from it) say what any of the four shows
        grid.info[_scene.SCENE_KEY] = described
    return grid


def render_grid(prompt: str, seed: int, aspect: str = "1:1", tint: tuple[int, int, int] | None = None) -> Image.Image:
    scene = _scene.parse(prompt, seed, tint)
    return compose_grid([_scene.render(scene, frame) for frame in _scene.base_frames(scene.key, _tile_size(aspect))])


def split_grid(grid: Image.Image) -> list[Image.Image]:
    width, height = grid.width // 2, grid.height // 2
    return [
        grid.crop(((i % 2) * width, (i // 2) * height, (i % 2 + 1) * width, (i // 2 + 1) * height)) for i in range(4)
    ]


def _variants(source: Image.Image, seed: int, strength: float) -> list[Image.Image]:
    """Four images derived from one: shifted hue and light, jittered, as a variation should look."""
    out = []
    for i in range(4):
        rng = _rng("variation", seed, i)
        shifted = source.convert("HSV")
        h, s, v = shifted.split()
        offset = int(rng.uniform(-40, 40) * strength)
        h = h.point(lambda p, o=offset: (p + o) % 256)
        image = Image.merge("HSV", (h, s, v)).convert("RGB")
        angle = rng.uniform(-8, 8) * strength
        image = image.rotate(angle, resample=Image.Resampling.BICUBIC, expand=False, fillcolor=source.getpixel((0, 0)))
        out.append(image)
    return out


def _png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", optimize=False, compress_level=3, pnginfo=_scene.png_info(image))
    return buffer.getvalue()


def _valid_task(task: object, task_id: str) -> bool:
    """Whether a task file holds the shape :meth:`LocalProvider._create` writes."""
    if not isinstance(task, dict) or task.get("kind") not in ("imagine", "grid", "upscale", "blend", "video"):
        return False
    for name in ("created", "duration"):
        value = task.get(name)
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or value < 0:
            return False
    seed, tint, aspect = task.get("seed"), task.get("tint"), task.get("aspect")
    if isinstance(seed, bool) or not isinstance(seed, int) or not isinstance(task.get("prompt"), str):
        return False
    if not isinstance(aspect, str) or not _ASPECT.fullmatch(aspect):
        return False
    if tint is not None and not (
        isinstance(tint, list) and len(tint) == 3 and all(type(c) is int and 0 <= c <= 255 for c in tint)
    ):
        return False
    if "action" in task and task["action"] not in Action._value2member_map_:
        return False
    if "frames" in task:  # written since the scene renderer; older task files have none and still load
        try:
            frames = _scene.frames_from_json(task["frames"])
        except ValueError:
            return False
        if len(frames) != (1 if task["kind"] == "upscale" else 4):
            return False
    mask = task.get("mask")
    if mask is not None and not (isinstance(mask, str) and _TASK_ID.fullmatch(mask)):
        return False  # a path component: only a task id of ours
    if task["kind"] == "blend":
        # A blend's images are kept in the directory of the task that first received them.
        sources, count = task.get("sources"), task.get("count")
        return isinstance(sources, str) and bool(_TASK_ID.fullmatch(sources)) and type(count) is int and 2 <= count <= 5
    if task["kind"] != "imagine":
        parent = task.get("parent")
        return isinstance(parent, str) and bool(_TASK_ID.fullmatch(parent)) and parent != task_id
    return True


def _frames(task: Mapping[str, Any]) -> list[_scene.Frame] | None:
    """The frames a task's result is drawn through; None for a derived task from before frames existed."""
    if "frames" in task:
        return _scene.frames_from_json(task["frames"])
    if task["kind"] == "imagine" or task.get("action") == Action.REROLL.value:
        scene = _scene.parse(task["prompt"], task["seed"], tuple(task["tint"]) if task.get("tint") else None)
        return _scene.base_frames(scene.key, _tile_size(task["aspect"]))
    return None


class LocalProvider(Provider):
    name = "local"
    capabilities = Capabilities(
        # It draws flat-shape scenes from the prompt's words (people as small clothed figures; an uploaded image
        # only lends its mean colour): nothing it makes can need a check, and as the tests' provider it should
        # not pay for one by default.
        moderates_output=True,
        grid_actions=frozenset(
            {*(Action.upscale(i) for i in range(1, 5)), *(Action.variation(i) for i in range(1, 5)), Action.REROLL}
        ),
        upscale_actions=_POST_UPSCALE,
        webhooks=False,
        img2img=True,
        aspect_ratio=True,
        poll_interval=0.5,
        max_poll_interval=2.0,
        verbs=frozenset(Verb),
    )
    # Its own: it draws everything itself, so every verb it speaks is its document.
    documented_verbs = {
        Verb.DESCRIBE: "colours, brightness, shape and (for its own pictures) what it drew",
        Verb.BLEND: "the images mixed tile by tile into a grid",
        Verb.SEED: "the seed it drew with",
        Verb.CANCEL: "the task marked cancelled; it draws nothing more",
        Verb.REMIX: "the edited prompt drawn into the variation, pan or reroll",
        Verb.CUSTOM_ZOOM: "zoomed out by the chosen factor (1.0-2.0), the edited prompt drawn in",
        Verb.ANIMATE: "a slow zoom and drift over the upscale: H.264 MP4 (PyAV), else an animated GIF",
        Verb.EXTEND: "the same camera path carried on, up to four times",
        Verb.VARY_REGION: "the masked part of the upscale redrawn four ways from the (edited) prompt, the rest kept",
    }

    def __init__(self, account: Account, http: httpx.AsyncClient) -> None:
        super().__init__(account, http)
        self.root = Path(account.options.get("data_dir", "data")) / "local-provider"
        self.step_seconds = float(account.options.get("step_seconds", 1.5))
        self.steps = int(account.options.get("steps", 4))
        # Poll twice per step: often enough to show every step, no more.
        self.capabilities = dataclasses.replace(
            LocalProvider.capabilities,
            poll_interval=max(0.05, self.step_seconds / 2),
            max_poll_interval=max(0.1, self.step_seconds),
        )
        self.root.mkdir(parents=True, exist_ok=True)
        # Uploads on these origins (the configured Discord's) are trusted; any other link is checked.
        self.image_guard = ImageGuard(account.options.get("trusted_image_origins", ()))

    # -- the provider protocol -------------------------------------------------------------------

    async def imagine(self, request: ImagineRequest) -> Submission:
        seed = request.seed if request.seed is not None else secrets.randbelow(2**32)
        tint = await self._reference_tint(request.image_urls) if request.image_urls else None
        task = {
            "kind": "imagine",
            "prompt": request.prompt,
            "seed": seed,
            "aspect": request.aspect_ratio or "1:1",
            "tint": tint,
            "ref": request.job_id,
            "scene": 1,  # drawn as a scene: its buttons redraw it (a task file without this may hold older pixels)
        }
        return await self._create(task)

    async def act(self, request: ActionRequest) -> Submission:
        parent = self._load(request.parent_provider_job_id)
        if parent is None:
            raise ProviderError(ErrorReason.BUTTON_NOT_FOUND, "the parent task is unknown to the local provider")
        if parent["kind"] == "video":
            allowed: frozenset[Action] = (
                frozenset(_VIDEO_ACTIONS) if parent.get("extends", 0) < MAX_EXTENDS else frozenset()
            )
        elif parent["kind"] == "upscale":
            allowed = self.capabilities.upscale_actions
        else:
            allowed = self.capabilities.grid_actions
        if request.action not in allowed:
            raise ProviderError(ErrorReason.UNSUPPORTED_ACTION, f"{request.action.value} on a {parent['kind']} result")
        kind = (
            "upscale"
            if request.action.is_upscale or request.action in (Action.UPSCALE_SUBTLE, Action.UPSCALE_CREATIVE)
            else "grid"
        )
        seed = (
            parent["seed"]
            if request.action is not Action.REROLL
            else _rng(parent["seed"], request.job_id).randrange(2**32)
        )
        if parent["kind"] == "blend" and request.action is Action.REROLL:
            # 🔄 on a blend blends the same images again, with another seed.
            return await self._create(
                {**{k: parent[k] for k in ("prompt", "aspect", "sources", "count")}, "kind": "blend",
                 "seed": seed, "tint": None, "ref": request.job_id}
            )  # fmt: skip
        if request.action in _ANIMATE:
            extending = parent["kind"] == "video"
            video = {
                "kind": "video", "action": request.action.value, "parent": request.parent_provider_job_id,
                "prompt": parent["prompt"], "seed": parent["seed"], "aspect": parent["aspect"], "tint": None,
                "ref": request.job_id, "motion": _ANIMATE[request.action],
                # The picture the camera moves over: the upscale, or the one the extended video moved over.
                "source": parent["source"] if extending else request.parent_provider_job_id,
                "seconds": parent["seconds"] + _verbs_local.EXTEND_SECONDS
                if extending
                else _verbs_local.ANIMATE_SECONDS,
                "extends": parent.get("extends", 0) + 1 if extending else 0,
            }  # fmt: skip
            return await self._create(video)
        if request.action is Action.VARY_REGION or (
            request.action is Action.REROLL and parent.get("action") == Action.VARY_REGION.value
        ):
            return await self._vary_region(request, parent, seed)
        if request.action is Action.CUSTOM_ZOOM and not (request.zoom and 1.0 <= request.zoom <= 2.0):
            raise ProviderError(ErrorReason.INVALID_PARAMETER, "Custom Zoom takes a zoom from 1.0 to 2.0")
        task = {
            "kind": kind,
            "action": request.action.value,
            "parent": request.parent_provider_job_id,
            # Remix: the member's edited prompt is what this press draws (a reroll draws it anew).
            "prompt": request.prompt if request.prompt is not None else parent["prompt"],
            "remix": request.prompt is not None,
            "zoom": request.zoom,
            "seed": seed,
            "aspect": parent["aspect"],
            "tint": parent.get("tint"),
            "ref": request.job_id,
            "scene": 1,
        }
        frames = _frames(parent) if self._shows_scene(request.parent_provider_job_id, parent) else None
        # Custom Zoom's factor is the member's own: drawn from the parent's pixels (the scene zooms by 2 or 1.5).
        if frames is not None and request.action not in (Action.REROLL, Action.CUSTOM_ZOOM):
            source = frames[request.action.tile - 1] if request.action.tile is not None else frames[0]
            # Keyed by what was pressed on what, so the same press on the same picture draws the same bytes.
            key = _rng(parent["seed"], request.action.value, source.layout, source.view).randrange(2**62)
            task["frames"] = _scene.frames_to_json(_scene.derive_frames(request.action.value, source, key))
        return await self._create(task)

    async def _vary_region(self, request: ActionRequest, parent: Mapping[str, Any], seed: int) -> Submission:
        """Vary (Region), or 🔄 on its result (the same region of the same picture, another seed)."""
        if request.action is Action.REROLL:
            picture, mask_task = str(parent["parent"]), str(parent["mask"])
            prompt = request.prompt if request.prompt is not None else parent["prompt"]
        else:
            picture = request.parent_provider_job_id
            if request.mask is None:
                raise ProviderError(ErrorReason.INVALID_PARAMETER, "Vary (Region) needs a mask")
            mask_task = secrets.token_hex(8)
            prompt = request.prompt if request.prompt is not None else parent["prompt"]
            size = await asyncio.to_thread(self._picture_size, picture)
            try:
                await asyncio.to_thread(_region.store_mask, self.root / mask_task, request.mask, size)
            except ImageRefused as exc:
                raise ProviderError(ErrorReason.INVALID_PARAMETER, f"the mask could not be read: {exc.why}") from None
            except ValueError as exc:
                raise ProviderError(ErrorReason.INVALID_PARAMETER, f"the mask could not be used: {exc}") from None
        source = self._load(picture)
        if source is None or source["kind"] != "upscale":
            raise ProviderError(ErrorReason.BUTTON_NOT_FOUND, "Vary (Region) needs an upscaled picture")
        task = {
            "kind": "grid", "action": Action.VARY_REGION.value, "parent": picture, "mask": mask_task,
            "prompt": prompt, "remix": request.prompt is not None, "seed": seed, "aspect": source["aspect"],
            "tint": source.get("tint"), "ref": request.job_id, "scene": 1,
        }  # fmt: skip
        return await self._create(task, task_id=mask_task if request.action is Action.VARY_REGION else None)

    def _picture_size(self, task_id: str) -> tuple[int, int]:
        task = self._load(task_id)
        if task is None or task["kind"] != "upscale":
            raise ProviderError(ErrorReason.BUTTON_NOT_FOUND, "Vary (Region) needs an upscaled picture")
        return self._result_image(task_id, task).size

    def _shows_scene(self, task_id: str, task: Mapping[str, Any]) -> bool:
        """Whether a result the member sees is a drawn scene, so a button on it can redraw that scene.

        A task from before scenes whose picture is already on disk shows what the previous version drew:
        buttons on it work from its pixels, as they did, so an upscale still looks like the tile pressed.
        """
        if "scene" in task or "frames" in task:
            return True
        return not (self.root / task_id / ("upscale.png" if task["kind"] == "upscale" else "grid.png")).exists()

    async def poll(self, provider_job_id: str, provider_data: Mapping[str, Any]) -> ProviderUpdate:
        task = self._load(provider_job_id)
        if task is None:
            raise ProviderError(ErrorReason.LOST, "the local provider has no such task")
        return await self._state(provider_job_id, task)

    # -- the verbs beyond imagine ----------------------------------------------------------------

    async def cancel(self, provider_job_id: str, provider_data: Mapping[str, Any]) -> None:
        task = self._load(provider_job_id)
        if task is None:
            raise ProviderError(ErrorReason.LOST, "the local provider has no such task")
        if task.get("cancelled"):
            return
        if time.time() - task["created"] >= task["duration"]:
            raise ProviderError(ErrorReason.ALREADY_REQUESTED, "the task has already finished")
        task["cancelled"] = time.time()
        await asyncio.to_thread(self._write_task, self.root / provider_job_id, task)

    async def seed(self, provider_job_id: str, provider_data: Mapping[str, Any]) -> int:
        task = self._load(provider_job_id)
        if task is None:
            raise ProviderError(ErrorReason.LOST, "the local provider has no such task")
        return int(task["seed"])

    async def describe_image(self, request: DescribeRequest) -> list[str]:
        data = await self._guarded_fetch(request.image_url)
        try:
            return await asyncio.to_thread(_verbs_local.describe, data)
        except (OSError, ValueError) as exc:
            raise ProviderError(ErrorReason.INVALID_IMAGE, f"the image could not be read: {exc}") from None

    async def blend(self, request: BlendRequest) -> Submission:
        if not 2 <= len(request.image_urls) <= 5:
            raise ProviderError(ErrorReason.INVALID_PARAMETER, "a blend takes two to five images")
        images = [await self._guarded_fetch(url) for url in request.image_urls]
        task_id = secrets.token_hex(8)
        try:
            await asyncio.to_thread(_verbs_local.store_sources, self.root / task_id, images)
        except (OSError, ValueError) as exc:
            raise ProviderError(ErrorReason.INVALID_IMAGE, f"an image could not be read: {exc}") from None
        task = {
            "kind": "blend", "prompt": "", "seed": secrets.randbelow(2**32), "aspect": request.aspect_ratio,
            "tint": None, "sources": task_id, "count": len(images), "ref": request.job_id,
        }  # fmt: skip
        return await self._create(task, task_id=task_id)

    async def _guarded_fetch(self, url: str) -> bytes:
        try:
            return await self.image_guard.fetch(self.http, url)
        except ImageRefused as exc:
            raise ProviderError(ErrorReason.INVALID_IMAGE, f"image refused: {exc.why}") from None

    async def fetch_image(self, url: str) -> bytes:
        match = re.fullmatch(r"local://([0-9a-f]{16})/([a-z0-9_]+\.(?:png|mp4|gif))", url)
        if not match:
            raise ProviderError(ErrorReason.INVALID_LINK, "not a local provider image")
        path = self.root / match[1] / match[2]
        try:
            return await asyncio.to_thread(path.read_bytes)
        except FileNotFoundError as exc:
            raise ProviderError(ErrorReason.LOST, "the image is gone from the local provider") from exc

    # -- tasks -----------------------------------------------------------------------------------

    async def _create(self, task: dict[str, Any], *, task_id: str | None = None) -> Submission:
        task_id = task_id or secrets.token_hex(8)
        task["created"] = time.time()
        task["duration"] = self.step_seconds * self.steps
        directory = self.root / task_id
        await asyncio.to_thread(self._write_task, directory, task)
        update = await self._state(task_id, task) if task["duration"] == 0 else None
        return Submission(provider_job_id=task_id, update=update)

    @staticmethod
    def _write_task(directory: Path, task: dict[str, Any]) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        temporary = directory / "task.json.tmp"
        temporary.write_text(json.dumps(task), encoding="utf-8")
        temporary.replace(directory / "task.json")

    def _load(self, task_id: str) -> dict[str, Any] | None:
        if not _TASK_ID.fullmatch(task_id):
            return None
        try:
            task = json.loads((self.root / task_id / "task.json").read_text(encoding="utf-8"))
        except (OSError, ValueError, RecursionError):
            return None
        # A task file that is not what _create wrote (a disk error, a hand edit) is as good as lost.
        return task if _valid_task(task, task_id) else None

    async def _state(self, task_id: str, task: dict[str, Any]) -> ProviderUpdate:
        elapsed = time.time() - task["created"]
        duration = task["duration"]
        ref = task.get("ref")
        if task.get("cancelled"):
            return ProviderUpdate(
                provider_job_id=task_id, ref=ref, status=JobStatus.CANCELLED, error=ErrorReason.CANCELLED_BY_OWNER
            )
        if duration > 0 and elapsed < duration:
            step = int(elapsed / self.step_seconds)
            if step == 0:
                return ProviderUpdate(provider_job_id=task_id, ref=ref, status=JobStatus.SUBMITTED, progress=0)
            progress = min(99, round(100 * step / self.steps))
            preview = await asyncio.to_thread(self._ensure_preview, task_id, task, step)
            return ProviderUpdate(
                provider_job_id=task_id, ref=ref, status=JobStatus.RUNNING, progress=progress, preview_url=preview
            )
        files = await asyncio.to_thread(self._ensure_result, task_id, task)
        base = f"local://{task_id}/"
        if task["kind"] == "video":
            offered = _VIDEO_ACTIONS if task.get("extends", 0) < MAX_EXTENDS else ()
            return ProviderUpdate(
                provider_job_id=task_id, ref=ref, status=JobStatus.COMPLETED, progress=100,
                image_urls=(base + files[0],), actions=offered,
            )  # fmt: skip
        if task["kind"] == "upscale":
            return ProviderUpdate(
                provider_job_id=task_id,
                ref=ref,
                status=JobStatus.COMPLETED,
                progress=100,
                image_urls=(base + files[0],),
                actions=tuple(sorted(_POST_UPSCALE, key=list(Action).index)),
            )
        return ProviderUpdate(
            provider_job_id=task_id,
            ref=ref,
            status=JobStatus.COMPLETED,
            progress=100,
            grid_url=base + "grid.png",
            image_urls=tuple(base + name for name in files[1:]),
        )

    # -- drawing (runs in a worker thread) ---------------------------------------------------------

    def _result_image(self, task_id: str, task: dict[str, Any], depth: int = 0) -> Image.Image:
        if depth > MAX_LINEAGE:
            raise ProviderError(ErrorReason.LOST, "the local task's lineage is too long or loops")
        directory = self.root / task_id
        if task["kind"] == "video":
            # A video's picture (for its previews) is the upscale its camera moves over.
            picture = self._load(task["source"])
            if picture is None:
                raise ProviderError(ErrorReason.LOST, "the video's picture is gone from the local provider")
            return self._result_image(task["source"], picture, depth + 1)
        cached = directory / ("upscale.png" if task["kind"] == "upscale" else "grid.png")
        if cached.exists():
            return Image.open(cached).convert("RGB")
        tint = tuple(task["tint"]) if task.get("tint") else None
        action = Action(task.get("action", Action.IMAGINE.value))
        frames = _frames(task)
        if action is Action.VARY_REGION:
            picture = self._load(task["parent"])
            if picture is None:
                raise ProviderError(ErrorReason.LOST, "the picture is gone from the local provider")
            source = self._result_image(task["parent"], picture, depth + 1)
            image = compose_grid(_region.vary_region(source, self.root / task["mask"], task["prompt"],
                                                          task["seed"], tint))  # fmt: skip
        elif task["kind"] == "blend":
            image = _verbs_local.blend_grid(
                self.root / task["sources"], task["count"], task["seed"], _tile_size(task["aspect"])
            )
        elif frames is not None:  # the scene redrawn through each frame: real detail, real extensions
            scene = _scene.parse(task["prompt"], task["seed"], tint)
            images = [_scene.render(scene, frame) for frame in frames]
            image = images[0] if task["kind"] == "upscale" else compose_grid(images)
        else:  # derived from its parent's pixels: a blend's children, Custom Zoom, tasks from before frames
            parent = self._load(task["parent"])
            if parent is None:
                raise ProviderError(ErrorReason.LOST, "the parent task is gone from the local provider")
            source = self._result_image(task["parent"], parent, depth + 1)
            if action.tile is not None:
                source = split_grid(source)[action.tile - 1]
            if action is Action.CUSTOM_ZOOM:
                image = _verbs_local.zoom_out(source, float(task.get("zoom") or 2.0))
                image = self._derive(Action.VARY_SUBTLE, image, task["seed"])
            else:
                image = self._derive(action, source, task["seed"])
            if task.get("remix"):
                # The edited prompt's own picture drawn into the result, so the remix shows.
                drawn = render_grid(task["prompt"], task["seed"], task["aspect"], tint).resize(image.size)
                image = Image.blend(image, drawn, 0.45)
        return image

    @staticmethod
    def _derive(action: Action, source: Image.Image, seed: int) -> Image.Image:
        width, height = source.size
        if action.is_upscale or action is Action.UPSCALE_SUBTLE:
            return source.resize((width * UPSCALE_FACTOR, height * UPSCALE_FACTOR), Image.Resampling.LANCZOS).filter(
                ImageFilter.DETAIL
            )
        if action is Action.UPSCALE_CREATIVE:
            return source.resize((width * UPSCALE_FACTOR, height * UPSCALE_FACTOR), Image.Resampling.BICUBIC).filter(
                ImageFilter.EDGE_ENHANCE
            )
        if action.is_variation or action in (Action.VARY_STRONG, Action.VARY_SUBTLE):
            strength = 0.35 if action is Action.VARY_SUBTLE else 1.0
            tile = source if action.is_variation else source.resize((width // 2, height // 2))
            return compose_grid(_variants(tile, seed, strength))
        if action in (Action.ZOOM_OUT_2X, Action.ZOOM_OUT_1_5X):
            factor = 2.0 if action is Action.ZOOM_OUT_2X else 1.5
            small = source.resize((round(width / factor), round(height / factor)))
            frame = Image.new("RGB", source.size, source.resize((1, 1)).getpixel((0, 0)))
            frame.paste(small, ((width - small.width) // 2, (height - small.height) // 2))
            return compose_grid(_variants(frame.resize((width // 2, height // 2)), seed, 0.3))
        # Pans shift the picture a third of its size and fill the uncovered edge from the picture itself.
        dx = {Action.PAN_LEFT: width // 3, Action.PAN_RIGHT: -width // 3}.get(action, 0)
        dy = {Action.PAN_UP: height // 3, Action.PAN_DOWN: -height // 3}.get(action, 0)
        shifted = ImageOps.mirror(source) if dx else ImageOps.flip(source)
        canvas = Image.new("RGB", source.size)
        canvas.paste(shifted, (0, 0))
        canvas.paste(source, (dx, dy))
        return compose_grid(_variants(canvas.resize((width // 2, height // 2)), seed, 0.3))

    def _ensure_result(self, task_id: str, task: dict[str, Any]) -> list[str]:
        directory = self.root / task_id
        if task["kind"] == "video":
            done = [p.name for p in directory.glob("video.*") if p.suffix in (".mp4", ".gif")]
            if not done:
                frames = _verbs_local.video_frames(self._result_image(task_id, task), task["seconds"], task["motion"])
                data, name = _verbs_local.encode_video(frames)
                self._atomic_write(directory / name, data)
                done = [name]
            return done
        if task["kind"] == "upscale":
            if not (directory / "upscale.png").exists():
                self._atomic_write(directory / "upscale.png", _png(self._result_image(task_id, task)))
            return ["upscale.png"]
        names = ["grid.png", "tile_1.png", "tile_2.png", "tile_3.png", "tile_4.png"]
        if not all((directory / name).exists() for name in names):
            grid = self._result_image(task_id, task)
            for i, tile in enumerate(split_grid(grid), start=1):
                self._atomic_write(directory / f"tile_{i}.png", _png(tile))
            # The grid is written last: its presence means every file of the result is complete.
            self._atomic_write(directory / "grid.png", _png(grid))
        return names

    def _ensure_preview(self, task_id: str, task: dict[str, Any], step: int) -> str:
        name = f"preview_{step}.png"
        path = self.root / task_id / name
        if not path.exists():
            image = self._result_image(task_id, task)
            if task["kind"] == "upscale":
                image = image.resize((image.width // 2, image.height // 2))
            # Blur fades as the steps advance, the way a diffusion preview sharpens.
            radius = max(1.0, 24.0 * (1 - step / self.steps))
            preview = image.resize((image.width // 2, image.height // 2)).filter(ImageFilter.GaussianBlur(radius))
            self._atomic_write(path, _png(preview))
        return f"local://{task_id}/{name}"

    @staticmethod
    def _atomic_write(path: Path, data: bytes) -> None:
        temporary = path.with_suffix(".tmp")
        temporary.write_bytes(data)
        temporary.replace(path)

    async def _reference_tint(self, urls: tuple[str, ...]) -> list[int] | None:
        """img2img, locally: the reference image's average colour tints the result.

        The link is a member's: it is fetched through the image guard (public hosts only, every redirect
        checked, size and type capped) and decoded under the guard's pixel limit.
        """
        try:
            data = await self.image_guard.fetch(self.http, urls[0])
            colour = await asyncio.to_thread(_average_colour, data)
        except ImageRefused as exc:
            raise ProviderError(ErrorReason.INVALID_IMAGE, f"reference image refused: {exc.why}") from None
        return list(colour)


def _average_colour(data: bytes) -> tuple[int, ...]:
    with open_image(data) as image:
        pixel = image.convert("RGB").resize((1, 1)).getpixel((0, 0))
    if not isinstance(pixel, tuple):  # an RGB image has tuple pixels; anything else is not a colour we can use
        raise ValueError("the image has no RGB pixel")
    return tuple(int(channel) for channel in pixel)
