"""The pictures a simulated provider serves: deterministic PNG-ready images from prompt and seed.

A simulator stands for someone else's service, so it draws its own pictures rather than borrowing the
bot's renderer: what matters to the bot is that a grid is a grid (four tiles, the prompt's aspect), that
tiles and upscales are cut from it, and that the same job always looks the same.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import io

from PIL import Image, ImageDraw

__all__ = ["decode_mask", "render_grid", "repaint_grid", "split_grid"]

# Long side of one tile: a provider's preview size, small enough to draw in a few milliseconds.
TILE_LONG_SIDE = 320
# Bands per tile: enough that neighbouring tiles and jobs are told apart at a glance.
BANDS = 6
# A mask larger than this is no upscale's (Midjourney's largest upscales are about 4K on a side).
MAX_MASK_PIXELS = 8192 * 8192


def _tile_size(aspect: str) -> tuple[int, int]:
    width, height = (int(part) for part in aspect.split(":"))
    if width >= height:
        return TILE_LONG_SIDE, max(48, round(TILE_LONG_SIDE * height / width))
    return max(48, round(TILE_LONG_SIDE * width / height)), TILE_LONG_SIDE


def _palette(prompt: str, seed: int, tile: int) -> list[tuple[int, int, int]]:
    digest = hashlib.sha256(f"{prompt}\x1f{seed}\x1f{tile}".encode()).digest()
    return [(digest[i], digest[i + 1], digest[i + 2]) for i in range(0, 3 * BANDS, 3)]


def _tile(prompt: str, seed: int, tile: int, size: tuple[int, int]) -> Image.Image:
    width, height = size
    image = Image.new("RGB", size)
    draw = ImageDraw.Draw(image)
    colours = _palette(prompt, seed, tile)
    for band, colour in enumerate(colours):
        top = band * height // BANDS
        draw.rectangle((0, top, width, (band + 1) * height // BANDS), fill=colour)
    # A disc in the band colours' complement marks the tile, so a crop is recognisably its own.
    cx, cy, radius = width // 2, height // 2, min(size) // 4
    first = colours[0]
    draw.ellipse((cx - radius, cy - radius, cx + radius, cy + radius), fill=tuple(255 - c for c in first))
    return image


def render_grid(prompt: str, seed: int, aspect: str = "1:1") -> Image.Image:
    """Four tiles in a 2×2 grid, each ``aspect`` shaped."""
    size = _tile_size(aspect)
    width, height = size
    grid = Image.new("RGB", (width * 2, height * 2))
    for tile in range(4):
        grid.paste(_tile(prompt, seed, tile, size), ((tile % 2) * width, (tile // 2) * height))
    return grid


def split_grid(grid: Image.Image) -> list[Image.Image]:
    """The four tiles of a grid, in U1–U4 order."""
    width, height = grid.width // 2, grid.height // 2
    boxes = [((i % 2) * width, (i // 2) * height, (i % 2 + 1) * width, (i // 2 + 1) * height) for i in range(4)]
    return [grid.crop(box) for box in boxes]


def decode_mask(text: object, *, formats: frozenset[str], data_uri: bool) -> Image.Image | str:
    """A Vary (Region) mask sent as base64 text, as a black-and-white image (255 = redraw), or the reason it
    cannot be one. ``formats`` are the image formats Pillow may find (``"PNG"``, ``"WEBP"``); ``data_uri``
    says whether a ``data:image/…;base64,`` prefix is accepted (otherwise its ``:`` and ``,`` are simply not
    base64, as at a service that decodes the field strictly)."""
    if not isinstance(text, str) or not text.strip():
        return "missing"
    if data_uri and text.startswith("data:"):
        header, _, text = text.partition(",")
        if not header.endswith(";base64"):
            return "not base64"
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return "not base64"
    try:
        with Image.open(io.BytesIO(raw)) as image:
            if image.format not in formats:
                return f"not {' or '.join(sorted(formats))} but {image.format}"
            if image.width * image.height > MAX_MASK_PIXELS:
                return "too large"
            image.load()
            grey = image.convert("L")
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError):
        return "not an image"
    return grey.point(lambda value: 255 if value >= 128 else 0)


def repaint_grid(base: Image.Image, mask: Image.Image, prompt: str, seed: int) -> Image.Image:
    """Vary (Region): four takes on ``base``, each with the white part of ``mask`` drawn anew from ``prompt``
    and ``seed`` and the black part kept pixel for pixel; a 2×2 grid of tiles the size of ``base``."""
    base = base.convert("RGB")
    width, height = base.size
    grid = Image.new("RGB", (width * 2, height * 2))
    for tile in range(4):
        fresh = _tile(prompt, seed, tile, base.size)
        grid.paste(Image.composite(fresh, base, mask), ((tile % 2) * width, (tile // 2) * height))
    return grid
