"""What the backends a server owns share: Midjourney's interface built on separate images.

ComfyUI, the AUTOMATIC1111 family and OpenAI-shaped image APIs return separate images, not a grid with
buttons. :class:`OwnedAdapter` gives them Midjourney's interface (backends.md §4):

* **imagine** asks the backend for four images of one seed and the bot composes the 2×2 grid itself;
* **U1–U4** is the tile, doubled with Pillow (no GPU), or, with the account option ``upscale_denoise``,
  redrawn at twice the size by the backend's image-to-image at that denoise;
* **V1–V4** is an image-to-image of the tile with a new seed at :data:`VARIATION_DENOISE`;
* **🔄** is the same request with a new seed (a backend that caches by graph, ComfyUI, would otherwise
  return the same files);
* on an upscaled image, Vary (Subtle/Strong), Zoom Out, the pans and Upscale (Subtle/Creative) are an
  image-to-image of a start image the bot prepares with Pillow (the picture shrunk into a frame, shifted,
  or enlarged), each at its own denoise (:data:`ACTION_DENOISE`).

Every image a backend returns is copied into the bot's own store (``DATA_DIR/owned/<provider>/<account>``)
and served from there as ``owned://<task>/<file>``: the backends purge their outputs (ComfyUI's history
holds 10 000 entries, A1111 and OpenAI keep nothing), while a member may press U2 on a grid weeks later.
The prompt's Midjourney parameters are read here too: ``--no`` becomes the negative prompt, ``--ar`` the
size, ``--seed`` the seed; the others mean nothing to these models and are left out.
"""

from __future__ import annotations

import asyncio
import dataclasses
import io
import json
import math
import re
import secrets
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import httpx
from PIL import Image, ImageFilter, ImageOps

from bot.core.errors import ProviderError
from bot.core.models import Action, ErrorReason, JobStatus, ProviderUpdate
from bot.core.netguard import ImageGuard, ImageRefused, open_image
from bot.core.providers._common import GRID_SET, UPSCALED_SET, HttpAdapter, sorted_actions
from bot.core.providers.base import Account, ActionRequest, Capabilities, DescribeRequest, ImagineRequest, Submission

__all__ = [
    "ACTION_DENOISE",
    "OWNED_CAPABILITIES",
    "VARIATION_DENOISE",
    "OwnedAdapter",
    "Plan",
    "Prompt",
    "compose_grid",
    "parse_prompt",
    "size_for",
]

# V1–V4: backends.md §4 suggests 0.5–0.7 for a variation; 0.6 keeps the tile's composition and colours
# recognisable (as Midjourney's V does) while the subject's details change. Below 0.5 the four look alike.
VARIATION_DENOISE = 0.6
# The actions offered on an upscaled image, each an image-to-image of a prepared start image. Subtle and
# Strong follow backends.md §4 (0.4 / 0.65); a zoom or pan repaints a frame the bot filled with a blurred
# copy, which needs more freedom (0.7) or the frame stays a smear; an upscale pass must keep the picture
# (0.25 subtle, 0.45 creative).
ACTION_DENOISE: dict[Action, float] = {
    Action.VARY_SUBTLE: 0.4,
    Action.VARY_STRONG: 0.65,
    Action.ZOOM_OUT_2X: 0.7,
    Action.ZOOM_OUT_1_5X: 0.7,
    Action.PAN_LEFT: 0.7,
    Action.PAN_RIGHT: 0.7,
    Action.PAN_UP: 0.7,
    Action.PAN_DOWN: 0.7,
    Action.UPSCALE_SUBTLE: 0.25,
    Action.UPSCALE_CREATIVE: 0.45,
}
# An /imagine with an image link starts from that image: strong enough to follow the prompt, weak enough
# that the reference still shows (Midjourney's image prompts influence, they are not edited).
IMAGE_PROMPT_DENOISE = 0.75
# Long side of a tile when the account sets no ``size``: SDXL's native 1024.
DEFAULT_LONG_SIDE = 1024
# Sizes are multiples of this: every SD latent is 1/8 of the image (ComfyUI's EmptyLatentImage step).
SIZE_STEP = 8
# U without the backend: the tile doubled, what a member expects from "U".
UPSCALE_FACTOR = 2
# Seeds stay in 0..2^32-1 so the same value fits ComfyUI, A1111 and Midjourney's --seed (backends.md §1.12).
SEED_RANGE = 2**32
# A pan moves the picture by this share of its side; Midjourney's pans extend by about a third.
PAN_SHARE = 1 / 3
# Previews kept in memory per adapter (they are shown once and replaced); older ones are dropped.
MAX_PREVIEWS = 64

OWNED_UPSCALED = UPSCALED_SET
OWNED_CAPABILITIES = Capabilities(
    grid_actions=GRID_SET,
    upscale_actions=OWNED_UPSCALED,
    webhooks=False,
    img2img=True,
    aspect_ratio=True,
    # A GPU on the operator's network answers in milliseconds; a job takes seconds to a minute.
    poll_interval=1.0,
    max_poll_interval=3.0,
)

_TASK = re.compile(r"[A-Za-z0-9_-]{1,80}")
_FILE = re.compile(r"(?:grid|upscale|tile_[1-4]|image_\d{1,2}|start)\.png")
_ASPECT = re.compile(r"([1-9]\d{0,2}):([1-9]\d{0,2})")
_URL = re.compile(r"owned://([A-Za-z0-9_-]{1,80})/([a-z0-9_]+\.(?:png|jpg))")
_FLAG = re.compile(r"^--?[a-z][a-z0-9_-]*$", re.IGNORECASE)
_FLAG_VALUE = re.compile(r"^(?:-?\d+(?:\.\d+)?|\d+:\d+|[a-z0-9_.]+)$", re.IGNORECASE)
_VALUELESS = frozenset({"--tile", "--turbo", "--fast", "--relax", "--video", "--draft", "--raw"})
# Our refs as the backends' own job ids where they take one (ComfyUI's prompt_id is a UUID).
_REF_NAMESPACE = uuid.UUID("4f2b8c4e-9a51-4d7e-8d8b-0c6f3b1e5a77")


@dataclasses.dataclass(frozen=True)
class Prompt:
    """A Midjourney prompt read for a Stable Diffusion-like model."""

    positive: str
    negative: str = ""
    aspect: str = "1:1"
    seed: int | None = None


def parse_prompt(text: str, aspect: str | None = None, seed: int | None = None) -> Prompt:
    """``--no`` words become the negative prompt, ``--ar``/``--aspect`` the ratio, ``--seed`` the seed.

    Other parameters (``--stylize 250``, ``--v 7``, ``--tile``) are Midjourney's own and are left out: sent
    as text they would be drawn as words.
    """
    words = text.split()
    positive: list[str] = []
    negative: list[str] = []
    i = 0
    while i < len(words):
        word = words[i]
        lowered = word.lower()
        if lowered == "--no":
            i += 1
            while i < len(words) and not _FLAG.match(words[i]):
                negative.append(words[i].rstrip(","))
                i += 1
            continue
        if lowered.startswith("--") and _FLAG.match(word):
            value = words[i + 1] if i + 1 < len(words) else None
            takes_value = lowered not in _VALUELESS and value is not None and bool(_FLAG_VALUE.match(value))
            if lowered in ("--ar", "--aspect") and value and _ASPECT.fullmatch(value):
                aspect = aspect or value
            elif lowered == "--seed" and value and value.isdigit():
                seed = seed if seed is not None else int(value) % SEED_RANGE
            i += 2 if takes_value else 1
            continue
        positive.append(word)
        i += 1
    ratio = aspect if aspect and _ASPECT.fullmatch(aspect) else "1:1"
    return Prompt(" ".join(positive), ", ".join(n for n in negative if n), ratio, seed)


def size_for(aspect: str, long_side: int, step: int = SIZE_STEP) -> tuple[int, int]:
    """Width and height for a ratio, the long side ``long_side``, both multiples of ``step``."""
    match = _ASPECT.fullmatch(aspect)
    w, h = (int(match[1]), int(match[2])) if match else (1, 1)
    width, height = (float(long_side), long_side * h / w) if w >= h else (long_side * w / h, float(long_side))
    return (max(step, round(width / step) * step), max(step, round(height / step) * step))


def compose_grid(tiles: list[Image.Image]) -> Image.Image:
    """The 2×2 grid, tiles in reading order; tiles of another size are fitted to the first one's."""
    width, height = tiles[0].size
    grid = Image.new("RGB", (width * 2, height * 2))
    for i, tile in enumerate(tiles[:4]):
        if tile.size != (width, height):
            tile = tile.resize((width, height), Image.Resampling.LANCZOS)
        grid.paste(tile.convert("RGB"), ((i % 2) * width, (i // 2) * height))
    return grid


def png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", compress_level=3)
    return buffer.getvalue()


def decode(data: bytes) -> Image.Image:
    """An image a backend returned, decoded under the guard's pixel limit; unreadable is the backend's fault."""
    try:
        with open_image(data) as image:
            return image.convert("RGB")
    except (ImageRefused, OSError, ValueError) as exc:
        raise ProviderError(
            ErrorReason.MALFORMED_RESPONSE, f"the backend returned an unreadable image: {exc}"
        ) from None


def prepare_start(action: Action, source: Image.Image) -> Image.Image:
    """The start image of an image-to-image for ``action`` on an upscaled image."""
    width, height = source.size
    if action in (Action.ZOOM_OUT_2X, Action.ZOOM_OUT_1_5X):
        factor = 2.0 if action is Action.ZOOM_OUT_2X else 1.5
        frame = source.resize((width, height)).filter(ImageFilter.GaussianBlur(max(width, height) / 16))
        small = source.resize((round(width / factor), round(height / factor)), Image.Resampling.LANCZOS)
        frame.paste(small, ((width - small.width) // 2, (height - small.height) // 2))
        return frame
    if action in (Action.PAN_LEFT, Action.PAN_RIGHT, Action.PAN_UP, Action.PAN_DOWN):
        dx = {Action.PAN_LEFT: round(width * PAN_SHARE), Action.PAN_RIGHT: -round(width * PAN_SHARE)}.get(action, 0)
        dy = {Action.PAN_UP: round(height * PAN_SHARE), Action.PAN_DOWN: -round(height * PAN_SHARE)}.get(action, 0)
        # The uncovered edge is filled with the picture's mirror image, blurred: a hint the model repaints.
        filler = (ImageOps.mirror(source) if dx else ImageOps.flip(source)).filter(ImageFilter.GaussianBlur(8))
        canvas = filler.copy()
        canvas.paste(source, (dx, dy))
        return canvas
    if action in (Action.UPSCALE_SUBTLE, Action.UPSCALE_CREATIVE):
        return source.resize((width * UPSCALE_FACTOR, height * UPSCALE_FACTOR), Image.Resampling.LANCZOS)
    return source


@dataclasses.dataclass(frozen=True)
class Plan:
    """One request to a backend: text-to-image, or image-to-image of ``start`` at ``denoise``."""

    ref: str
    kind: Literal["grid", "upscale"]
    prompt: Prompt
    seed: int
    width: int
    height: int
    count: int = 4
    start: bytes | None = None
    denoise: float | None = None

    @property
    def img2img(self) -> bool:
        return self.start is not None

    def provider_data(self) -> dict[str, Any]:
        return {"kind": self.kind, "seed": self.seed, "width": self.width, "height": self.height}


class OwnedAdapter(HttpAdapter):
    """Base of the adapters for backends a server owns; subclasses send a :class:`Plan` and follow it.

    A subclass implements :meth:`send` (submit one plan, answer a Submission) and :meth:`poll`; it calls
    :meth:`store_result` with the images a finished job made. Account options all share: ``size`` (long
    side of a tile), ``upscale_denoise`` (U by the backend at this denoise instead of Pillow),
    ``data_dir`` (set by the bot).
    """

    capabilities = OWNED_CAPABILITIES

    def __init__(self, account: Account, http: httpx.AsyncClient) -> None:
        super().__init__(account, http)
        options = account.options
        root = Path(str(options.get("data_dir", "data"))) / "owned" / self.name / _safe_name(account.name)
        self.root = root
        self.long_side = int(options.get("size", DEFAULT_LONG_SIDE))
        raw_upscale = options.get("upscale_denoise")
        self.upscale_denoise = float(raw_upscale) if raw_upscale not in (None, "", False) else None
        self.image_guard = ImageGuard(options.get("trusted_image_origins", ()))
        self._previews: dict[str, bytes] = {}

    # -- the provider protocol -------------------------------------------------------------------

    async def imagine(self, request: ImagineRequest) -> Submission:
        prompt = parse_prompt(request.prompt, request.aspect_ratio, request.seed)
        seed = prompt.seed if prompt.seed is not None else secrets.randbelow(SEED_RANGE)
        width, height = self.size(prompt.aspect)
        start, denoise = None, None
        if request.image_urls:
            reference = await self._reference(request.image_urls[0])
            start = await asyncio.to_thread(_fit_png, reference, width, height)
            denoise = IMAGE_PROMPT_DENOISE
        plan = Plan(request.job_id, "grid", prompt, seed, width, height, 4, start, denoise)
        return await self.send(plan)

    async def act(self, request: ActionRequest) -> Submission:
        action = request.action
        kind = str(request.parent_provider_data.get("kind", "grid"))
        allowed = self.capabilities.grid_actions if kind != "upscale" else self.capabilities.upscale_actions
        if action not in allowed:
            raise ProviderError(ErrorReason.UNSUPPORTED_ACTION, f"{action.value} on a {kind} result")
        prompt = parse_prompt(request.parent_prompt)
        seed = secrets.randbelow(SEED_RANGE)
        if action is Action.REROLL:
            width, height = self.size(prompt.aspect)
            return await self.send(Plan(request.job_id, "grid", prompt, seed, width, height))
        source_url = _source_url(request, action)
        source = await asyncio.to_thread(decode, await self.fetch_image(source_url))
        if action.is_upscale:
            if self.upscale_denoise is None:
                return await self._upscale_here(request.job_id, source)
            start = await asyncio.to_thread(prepare_start, Action.UPSCALE_SUBTLE, source)
            plan = Plan(request.job_id, "upscale", prompt, seed, start.width, start.height, 1,
                        await asyncio.to_thread(png, start), self.upscale_denoise)  # fmt: skip
            return await self.send(plan)
        if action.is_variation:
            plan = Plan(request.job_id, "grid", prompt, seed, source.width, source.height, 4,
                        await asyncio.to_thread(png, source), VARIATION_DENOISE)  # fmt: skip
            return await self.send(plan)
        start = await asyncio.to_thread(prepare_start, action, source)
        makes_upscale = action in (Action.UPSCALE_SUBTLE, Action.UPSCALE_CREATIVE)
        if not makes_upscale:
            # Four variations drawn at tile size, like the grid they make.
            start = start.resize((max(SIZE_STEP, start.width // 2 // SIZE_STEP * SIZE_STEP),
                                  max(SIZE_STEP, start.height // 2 // SIZE_STEP * SIZE_STEP)))  # fmt: skip
        plan = Plan(request.job_id, "upscale" if makes_upscale else "grid", prompt, seed, start.width, start.height,
                    1 if makes_upscale else 4, await asyncio.to_thread(png, start), ACTION_DENOISE[action])  # fmt: skip
        return await self.send(plan)

    async def send(self, plan: Plan) -> Submission:
        """Submit one plan to the backend."""
        raise NotImplementedError

    async def fetch_image(self, url: str) -> bytes:
        match = _URL.fullmatch(url)
        if match is None:
            return await super().fetch_image(url)
        task, name = match[1], match[2]
        if name.startswith("preview"):
            data = self._previews.get(url)
            if data is None:
                raise ProviderError(ErrorReason.LOST, "that preview is no longer kept")
            return data
        try:
            return await asyncio.to_thread((self.root / task / name).read_bytes)
        except FileNotFoundError:
            raise ProviderError(ErrorReason.LOST, "the image is gone from the bot's store") from None

    async def describe(self, image: bytes) -> list[str]:
        """Prompts an image suggests, where the backend offers it (``capabilities.describe``)."""
        raise ProviderError(ErrorReason.UNSUPPORTED_ACTION, f"{self.name} offers no describe")

    async def describe_image(self, request: DescribeRequest) -> list[str]:
        """/describe on a backend that captions (``capabilities.describe``): the member's image fetched
        through the guard, then the backend's own describe."""
        if not self.capabilities.describe:
            return await super().describe_image(request)
        image = await self._reference(request.image_url)
        return await self.describe(await asyncio.to_thread(png, image))

    async def check(self) -> str | None:
        """One line naming what stops this account from working (``imagine-bot check``), or None."""
        return None

    # -- for the subclasses ----------------------------------------------------------------------

    def size(self, aspect: str) -> tuple[int, int]:
        return size_for(aspect, self.long_side)

    @staticmethod
    def backend_id(ref: str) -> str:
        """A stable UUID for our ref, for backends that take the caller's id (ComfyUI's prompt_id)."""
        return str(uuid.uuid5(_REF_NAMESPACE, ref))

    def keep_preview(self, task: str, number: int, data: bytes, suffix: str = "jpg") -> str:
        """Hold a progress preview in memory and name it; the presenter fetches it once."""
        url = f"owned://{_safe_name(task)}/preview_{number}.{suffix}"
        self._previews[url] = data
        while len(self._previews) > MAX_PREVIEWS:
            self._previews.pop(next(iter(self._previews)))
        return url

    def stored_result(self, task: str, kind: str) -> ProviderUpdate | None:
        """The finished result already copied into the store, if it is there."""
        directory = self.root / _safe_name(task)
        base = f"owned://{_safe_name(task)}/"
        if kind == "upscale":
            if (directory / "upscale.png").exists():
                return _completed(task, image_urls=(base + "upscale.png",), actions=self.capabilities.upscale_actions)
            return None
        if (directory / "grid.png").exists():
            return _completed(
                task, grid_url=base + "grid.png", image_urls=tuple(f"{base}tile_{i}.png" for i in range(1, 5))
            )
        return None

    async def store_result(self, task: str, kind: str, images: list[bytes]) -> ProviderUpdate:
        """Copy a finished job's images into the store (the grid composed here) and say it is done."""
        if not images:
            raise ProviderError(ErrorReason.MALFORMED_RESPONSE, f"{self.name} finished without an image")
        await asyncio.to_thread(self._write_result, _safe_name(task), kind, images)
        update = self.stored_result(task, kind)
        assert update is not None
        return update

    def _write_result(self, task: str, kind: str, images: list[bytes]) -> None:
        directory = self.root / task
        directory.mkdir(parents=True, exist_ok=True)
        decoded = [decode(data) for data in images]
        if kind == "upscale":
            _atomic_write(directory / "upscale.png", png(decoded[0]))
            return
        # Fewer than four (a backend that returned fewer): the grid repeats the last one rather than fail.
        tiles = (decoded + [decoded[-1]] * 4)[:4]
        for i, tile in enumerate(tiles, start=1):
            _atomic_write(directory / f"tile_{i}.png", png(tile))
        # The grid last: its presence means every file of the result is complete.
        _atomic_write(directory / "grid.png", png(compose_grid(tiles)))

    async def _upscale_here(self, ref: str, source: Image.Image) -> Submission:
        """U with no backend call: the tile doubled with Pillow, finished in the submit's answer."""
        size = (source.width * UPSCALE_FACTOR, source.height * UPSCALE_FACTOR)
        doubled = await asyncio.to_thread(source.resize, size, Image.Resampling.LANCZOS)
        task = "u-" + _safe_name(ref)
        update = await self.store_result(task, "upscale", [await asyncio.to_thread(png, doubled)])
        return Submission(provider_job_id=task, provider_data={"kind": "upscale", "local": True}, update=update)

    async def _reference(self, url: str) -> Image.Image:
        """A member's image link, fetched through the guard (public hosts only, size and type capped)."""
        try:
            data = await self.image_guard.fetch(self.http, url)
            return await asyncio.to_thread(decode, data)
        except ImageRefused as exc:
            raise ProviderError(ErrorReason.INVALID_IMAGE, f"reference image refused: {exc.why}") from None
        except ProviderError:
            raise ProviderError(ErrorReason.INVALID_IMAGE, "the reference image could not be read") from None

    def poll_stored(self, provider_job_id: str, provider_data: Mapping[str, Any]) -> ProviderUpdate | None:
        """A job finished before (a U done here, or a result already copied): answered from the store."""
        return self.stored_result(provider_job_id, str(provider_data.get("kind", "grid")))


def _source_url(request: ActionRequest, action: Action) -> str:
    urls = request.parent_image_urls
    if action.tile is not None:
        if len(urls) < action.tile:
            raise ProviderError(ErrorReason.BUTTON_NOT_FOUND, "the grid's tiles are not known")
        return urls[action.tile - 1]
    if not urls:
        raise ProviderError(ErrorReason.BUTTON_NOT_FOUND, "the image is not known")
    return urls[0]


def _completed(
    task: str,
    *,
    grid_url: str | None = None,
    image_urls: tuple[str, ...] = (),
    actions: frozenset[Action] | None = None,
) -> ProviderUpdate:
    return ProviderUpdate(
        provider_job_id=task,
        status=JobStatus.COMPLETED,
        progress=100,
        grid_url=grid_url,
        image_urls=image_urls,
        actions=sorted_actions(actions) if actions is not None else None,
    )


def _fit_png(image: Image.Image, width: int, height: int) -> bytes:
    return png(ImageOps.fit(image, (width, height), Image.Resampling.LANCZOS))


def _safe_name(name: str) -> str:
    if _TASK.fullmatch(name):
        return name
    return re.sub(r"[^A-Za-z0-9_-]", "_", name)[:80] or "_"


def _atomic_write(path: Path, data: bytes) -> None:
    temporary = path.with_suffix(".tmp")
    temporary.write_bytes(data)
    temporary.replace(path)


def progress_percent(value: object, maximum: object) -> int | None:
    """A percentage from a step count (ComfyUI's value/max, A1111's 0–1 fraction with maximum 1)."""
    if isinstance(value, bool) or isinstance(maximum, bool):
        return None
    if not isinstance(value, int | float) or not isinstance(maximum, int | float) or maximum <= 0:
        return None
    if not math.isfinite(value) or not math.isfinite(maximum):
        return None
    return max(0, min(99, int(100 * value / maximum)))


def dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
