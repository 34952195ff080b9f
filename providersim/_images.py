"""The pictures a simulated provider serves: deterministic PNG-ready images from prompt and seed.

A simulator stands for someone else's service, so it draws its own pictures rather than borrowing the
bot's renderer: what matters to the bot is that a grid is a grid (four tiles, the prompt's aspect), that
tiles and upscales are cut from it, and that the same job always looks the same.
"""

from __future__ import annotations

import hashlib

from PIL import Image, ImageDraw

__all__ = ["render_grid", "split_grid"]

# Long side of one tile: a provider's preview size, small enough to draw in a few milliseconds.
TILE_LONG_SIDE = 320
# Bands per tile: enough that neighbouring tiles and jobs are told apart at a glance.
BANDS = 6


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
