"""Vary (Region) on the local provider: the painted part of an upscale redrawn, the rest kept pixel for pixel.

The mask is the bot's canonical one (mj-verbs.md §2.1): an 8-bit PNG the size of the upscale, 255 where the
member painted (redraw) and 0 elsewhere (keep). Inside it, each of the four results shows the (edited)
prompt's scene drawn through one of the scene's four compositions at the upscale's size; outside it, the
upscale's own pixels, untouched. Pure functions of bytes and files, run in worker threads.
"""

from __future__ import annotations

import io
from pathlib import Path

from PIL import Image

from bot.core.netguard import open_image
from bot.core.providers import _scene

__all__ = ["MASK_FILE", "binary_mask", "store_mask", "vary_region"]

MASK_FILE = "mask.png"
# Grey values from a resampled or anti-aliased mask count as painted from here up; the page sends 0 and 255.
PAINTED_FROM = 128


def binary_mask(mask: Image.Image) -> Image.Image:
    """The mask as exactly 0 (keep) and 255 (redraw), so what is kept is kept exactly."""
    return mask.convert("L").point(lambda v: 255 if v >= PAINTED_FROM else 0)


def store_mask(directory: Path, data: bytes, size: tuple[int, int]) -> None:
    """Check the mask (a picture of the upscale's size, something painted) and keep it as ``mask.png``."""
    with open_image(data) as image:
        if image.size != size:
            raise ValueError(f"it is {image.width}x{image.height}, the picture is {size[0]}x{size[1]}")
        mask = binary_mask(image)
    if mask.getbbox() is None:
        raise ValueError("nothing is painted")
    directory.mkdir(parents=True, exist_ok=True)
    buffer = io.BytesIO()
    mask.save(buffer, format="PNG")
    temporary = directory / (MASK_FILE + ".tmp")
    temporary.write_bytes(buffer.getvalue())
    temporary.replace(directory / MASK_FILE)


def vary_region(
    source: Image.Image, directory: Path, prompt: str, seed: int, tint: tuple[int, ...] | None
) -> list[Image.Image]:
    """Four redraws of the painted region of ``source`` from ``prompt``; everything else is ``source``'s."""
    with Image.open(directory / MASK_FILE) as stored:
        mask = binary_mask(stored)
    picture = source.convert("RGB")
    if mask.size != picture.size:
        mask = binary_mask(mask.resize(picture.size, Image.Resampling.NEAREST))
    colour = (int(tint[0]), int(tint[1]), int(tint[2])) if tint is not None and len(tint) == 3 else None
    scene = _scene.parse(prompt, seed, colour)
    frames = _scene.base_frames(scene.key, picture.size)
    return [Image.composite(_scene.render(scene, frame).convert("RGB"), picture, mask) for frame in frames]
