"""The local provider's pictures read as their prompts: each check is on pixels, what a person would see.

The scene model is not consulted (except by the description test, which is about the description):
the night sky is dark with a bright round moon, snow makes the ground white, dusk is warm near the
horizon, the sea is a blue band, a forest is many dark-green shapes; and the buttons draw the same
scene again: an upscale is sharper than a resize, a pan keeps the source at its side, a zoom out keeps
it in the middle, a variation stays close to its source, a subtle one closer.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from PIL import Image, ImageChops, ImageFilter, ImageStat

from bot.core.models import Action, JobStatus
from bot.core.providers.base import ActionRequest, ImagineRequest, Submission
from bot.core.providers.local import LocalProvider, read_scene, render_grid, render_tile, split_grid
from bot.devtools.examples import EXAMPLES, file_name
from tests.unit.conftest import local_provider

TILE = (384, 384)
Colour = tuple[float, float, float]


def band(image: Image.Image, top: float, bottom: float) -> Colour:
    """Mean colour of the rows between two fractions of the height."""
    w, h = image.size
    r, g, b = ImageStat.Stat(image.crop((0, int(top * h), w, int(bottom * h)))).mean
    return r, g, b


def luminance(colour: Colour) -> float:
    r, g, b = colour
    return 0.299 * r + 0.587 * g + 0.114 * b


def difference(a: Image.Image, b: Image.Image) -> float:
    """Mean absolute difference per channel, 0..255."""
    return sum(ImageStat.Stat(ImageChops.difference(a.convert("RGB"), b.convert("RGB"))).mean) / 3


def fraction(image: Image.Image, test: Callable[[int, int, int], bool]) -> float:
    """The share of pixels (of a coarse sample) for which ``test(r, g, b)`` holds."""
    data = image.convert("RGB").resize((96, 96), Image.Resampling.NEAREST).tobytes()
    return sum(1 for i in range(0, len(data), 3) if test(data[i], data[i + 1], data[i + 2])) / (len(data) // 3)


def white(r: int, g: int, b: int) -> bool:
    return min(r, g, b) > 190 and max(r, g, b) - min(r, g, b) < 40


def dark_green(r: int, g: int, b: int) -> bool:
    return g > r + 10 and g >= b and 0.299 * r + 0.587 * g + 0.114 * b < 100


def yellow(r: int, g: int, b: int) -> bool:
    return r > 150 and g > 120 and b < 80


def tiles(prompt: str, seed: int = 1) -> list[Image.Image]:
    return split_grid(render_grid(prompt, seed))


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_night_has_a_dark_sky_and_a_bright_round_moon(seed: int) -> None:
    for tile in tiles("a house at night", seed):
        assert luminance(band(tile, 0, 0.3)) < 50
        sky = tile.crop((0, 0, tile.width, tile.height // 2)).convert("L")
        # Bright pixels, with the stars (a pixel or two) worn away.
        bright = sky.point(lambda v: 255 if v > 200 else 0).filter(ImageFilter.MinFilter(5))
        box = bright.getbbox()
        assert box is not None, "no moon"
        width, height = box[2] - box[0], box[3] - box[1]
        filled = ImageStat.Stat(bright.crop(box)).mean[0] / 255
        # One disc: about as wide as tall, filling about pi/4 of its box, and not a dot.
        assert width >= 12 and 0.7 < width / height < 1.4 and 0.6 < filled < 0.9, (width, height, filled)


def test_snow_makes_the_ground_white() -> None:
    for prompt in ("a snowy field", "a field in the snow"):
        for tile in tiles(prompt):
            assert fraction(tile.crop((0, int(tile.height * 0.8), tile.width, tile.height)), white) > 0.7
    for tile in tiles("a field"):
        assert fraction(tile.crop((0, int(tile.height * 0.8), tile.width, tile.height)), white) < 0.1


def test_dusk_is_warm_near_the_horizon_and_purple_above() -> None:
    for seed in (1, 2):
        for tile in tiles("a field at dusk", seed):
            r, g, b = band(tile, 0.4, 0.52)
            assert r > b + 40 and r > g + 40, (r, g, b)
            r, g, b = band(tile, 0, 0.1)
            assert b > g + 30 and r > g, (r, g, b)  # purple, not the blue of a day
    for tile in tiles("a field"):
        r, _, b = band(tile, 0.4, 0.52)
        assert b > r


def _blue_rows(tile: Image.Image) -> float:
    """The share of the lower half's rows that are deep blue (water), not the pale blue of the sky."""
    lower = tile.crop((0, tile.height // 2, tile.width, tile.height))
    means = lower.resize((1, lower.height), Image.Resampling.BOX).tobytes()  # each row's mean colour
    rows = 0
    for y in range(lower.height):
        r, g, b = means[3 * y], means[3 * y + 1], means[3 * y + 2]
        # Water is a deeper blue than the sky at any height: saturated and darker.
        rows += b > r + 40 and b > g + 15 and b - min(r, g) > 80 and luminance((r, g, b)) < 140
    return rows / tile.height


def test_sea_and_lake_are_a_blue_band() -> None:
    for prompt, least in (("the sea", 0.08), ("a lighthouse by the sea", 0.08), ("a lake in the hills", 0.03)):
        for tile in tiles(prompt):
            assert _blue_rows(tile) >= least, prompt
    for tile in tiles("a field"):
        assert _blue_rows(tile) == 0


def test_forest_is_many_dark_green_upright_shapes() -> None:
    for tile in tiles("a pine forest"):
        assert fraction(tile, dark_green) > 0.2
        # Across some row between the treeline and the ground, many separate dark-green shapes: trees.
        data = tile.tobytes()
        most = 0
        for y in range(int(tile.height * 0.4), int(tile.height * 0.8), 4):
            row = [
                dark_green(*data[(y * tile.width + x) * 3 : (y * tile.width + x) * 3 + 3]) for x in range(tile.width)
            ]
            most = max(most, sum(1 for x in range(1, len(row)) if row[x] and not row[x - 1]))
        assert most >= 4
    for tile in tiles("a field"):
        assert fraction(tile, dark_green) < 0.12  # a field has a tree or two, a forest is trees


def test_a_colour_word_shifts_the_palette() -> None:
    def warmth(prompt: str) -> float:
        r, _, b = ImageStat.Stat(render_grid(prompt, 4)).mean
        return r - b

    assert warmth("a red field") > warmth("a field") + 8
    assert warmth("a blue field") < warmth("a field") - 8
    # A colour word before a noun colours that thing.
    car = render_grid("a yellow car in a city", 4)
    assert fraction(car, yellow) > fraction(render_grid("a car in a city", 4), yellow)


def test_unknown_words_change_the_picture() -> None:
    plain = render_grid("a house in a field", 9).tobytes()
    assert render_grid("a zorblax house in a field", 9).tobytes() != plain
    assert render_grid("a quimby house in a field", 9).tobytes() not in (
        plain,
        render_grid("a zorblax house in a field", 9).tobytes(),
    )


def test_the_four_tiles_differ_but_share_sky_and_ground() -> None:
    four = tiles("a house in a field", 5)
    assert len({tile.tobytes() for tile in four}) == 4

    def median(image: Image.Image, top: float, bottom: float) -> list[int]:
        w, h = image.size
        return ImageStat.Stat(image.crop((0, int(top * h), w, int(bottom * h)))).median

    for top, bottom in ((0.0, 0.06), (0.9, 1.0)):
        colours = [median(tile, top, bottom) for tile in four]
        for colour in colours[1:]:
            assert max(abs(a - b) for a, b in zip(colour, colours[0], strict=True)) < 40, (top, colours)


# -- through the provider: the buttons redraw the scene ----------------------------------------------


class Presser:
    def __init__(self, provider: LocalProvider, prompt: str) -> None:
        self.provider, self.prompt = provider, prompt

    async def imagine(self, seed: int) -> Submission:
        return await self.provider.imagine(ImagineRequest(job_id="j", prompt=self.prompt, seed=seed))

    async def press(self, parent: Submission, action: Action) -> Submission:
        return await self.provider.act(
            ActionRequest(
                job_id=f"c-{action.value}",
                action=action,
                parent_provider_job_id=parent.provider_job_id,
                parent_provider_data={},
                parent_prompt=self.prompt,
            )
        )

    async def png(self, submission: Submission) -> bytes:
        update = submission.update
        assert update is not None and update.status is JobStatus.COMPLETED
        return await self.provider.fetch_image(update.grid_url or update.image_urls[0])


def image(data: bytes) -> Image.Image:
    return Image.open(io.BytesIO(data)).convert("RGB")


def edges(picture: Image.Image) -> float:
    return ImageStat.Stat(picture.convert("L").filter(ImageFilter.FIND_EDGES)).mean[0]


async def test_same_prompt_seed_and_action_give_the_same_bytes(tmp_path: Path, http: httpx.AsyncClient) -> None:
    results = []
    for run in ("a", "b"):
        presser = Presser(local_provider(tmp_path / run, http), "a cat under a tree in autumn")
        grid = await presser.imagine(11)
        upscale = await presser.press(grid, Action.U2)
        pan = await presser.press(upscale, Action.PAN_LEFT)
        results.append([await presser.png(s) for s in (grid, upscale, pan)])
    assert results[0] == results[1]


async def test_upscale_pan_zoom_and_vary_draw_the_same_scene(tmp_path: Path, http: httpx.AsyncClient) -> None:
    presser = Presser(local_provider(tmp_path, http), "a lighthouse by the sea on a sunny day")
    grid_sub = await presser.imagine(3)
    grid = image(await presser.png(grid_sub))
    tile = split_grid(grid)[0]
    up_sub = await presser.press(grid_sub, Action.U1)
    up = image(await presser.png(up_sub))

    # Upscale: twice the size, the same picture, and not a resize: more detail than Pillow's resize has.
    assert up.size == (tile.width * 2, tile.height * 2)
    resized = tile.resize(up.size, Image.Resampling.LANCZOS)
    assert up.tobytes() != resized.tobytes()
    assert difference(up, resized) < 20
    assert edges(up) > edges(resized) * 1.1

    # Pan left: a wider picture whose right part is the source.
    pan = image(await presser.png(await presser.press(up_sub, Action.PAN_LEFT)))
    assert pan.width > up.width and pan.height == up.height
    small = up.resize((tile.width, tile.height), Image.Resampling.BOX)
    for part in split_grid(pan):
        right = part.crop((part.width - small.width, 0, part.width, part.height))
        left = part.crop((0, 0, small.width, part.height))
        assert difference(right, small) < 12
        assert difference(left, small) > difference(right, small) + 3

    # Zoom out 2x: the source, shrunk to half, in the middle of each new picture.
    zoom = image(await presser.png(await presser.press(up_sub, Action.ZOOM_OUT_2X)))
    assert zoom.size == up.size
    half = up.resize((tile.width // 2, tile.height // 2), Image.Resampling.BOX)
    for part in split_grid(zoom):
        assert part.size == tile.size
        x, y = (part.width - half.width) // 2, (part.height - half.height) // 2
        middle = part.crop((x, y, x + half.width, y + half.height))
        assert difference(middle, half) < 12
        assert difference(part.resize(half.size, Image.Resampling.BOX), half) > difference(middle, half)

    # Variations: four new pictures near the source; subtle ones nearer than strong ones.
    def distance(action_png: bytes) -> float:
        parts = split_grid(image(action_png))
        assert len({p.tobytes() for p in parts}) == 4
        return sum(difference(p, small) for p in parts) / 4

    strong = distance(await presser.png(await presser.press(up_sub, Action.VARY_STRONG)))
    subtle = distance(await presser.png(await presser.press(up_sub, Action.VARY_SUBTLE)))
    assert 0 < subtle < strong < 40


async def test_each_png_says_what_it_shows(tmp_path: Path, http: httpx.AsyncClient) -> None:
    presser = Presser(local_provider(tmp_path, http), "a red car in a city at night")
    grid_sub = await presser.imagine(2)
    data = await presser.png(grid_sub)
    scene = read_scene(data)
    assert scene is not None
    assert (scene["time"], scene["place"]) == ("night", "city")
    assert "car" in scene["objects"] and "moon" in scene["objects"]
    assert set(scene["palette"]) >= {"top", "near"}
    raw = Image.open(io.BytesIO(data)).info["imagine-bot:scene"]
    assert len(raw) < 600 and "red car" not in raw  # small, and never the prompt itself
    assert grid_sub.update is not None
    tile_png = await presser.provider.fetch_image(grid_sub.update.image_urls[0])
    upscale_png = await presser.png(await presser.press(grid_sub, Action.U1))
    assert read_scene(tile_png) is not None and read_scene(upscale_png) is not None
    plain = io.BytesIO()
    Image.new("RGB", (8, 8)).save(plain, format="PNG")
    assert read_scene(plain.getvalue()) is None
    assert read_scene(b"not a png") is None
    assert render_tile("a fox", 1, 0, TILE).info.get("imagine-bot:scene")


async def test_task_files_from_before_scenes_still_load(tmp_path: Path, http: httpx.AsyncClient) -> None:
    """A restart with the previous version's tasks on disk: they load, their buttons still work."""
    provider = local_provider(tmp_path, http)
    root = tmp_path / "local-provider"
    old = {"prompt": "a fox", "seed": 7, "aspect": "1:1", "tint": None, "created": 0.0, "duration": 0.0}
    tasks = {
        "00000000000000a1": {**old, "kind": "imagine", "ref": "j1"},
        "00000000000000a2": {**old, "kind": "grid", "action": "v2", "parent": "00000000000000a1", "ref": "j2"},
        "00000000000000a3": {**old, "kind": "upscale", "action": "u3", "parent": "00000000000000a2", "ref": "j3"},
    }
    for task_id, task in tasks.items():
        (root / task_id).mkdir(parents=True)
        (root / task_id / "task.json").write_text(json.dumps(task))
    for task_id in tasks:
        update = await provider.poll(task_id, {})
        assert update.status is JobStatus.COMPLETED
    # A button on an old derived result works too (drawn from its pixels, as before).
    presser = Presser(provider, "a fox")
    zoom = await presser.press(Submission(provider_job_id="00000000000000a3"), Action.ZOOM_OUT_2X)
    assert image(await presser.png(zoom)).size == (768, 768)
    # An old task whose picture is on disk (drawn by the previous version): an upscale of it enlarges that
    # picture, so it still looks like the tile the member pressed, rather than a scene they never saw.
    (root / "00000000000000c1").mkdir()
    (root / "00000000000000c1" / "task.json").write_text(json.dumps({**old, "kind": "imagine", "ref": "j4"}))
    shown = Image.new("RGB", (768, 768), (200, 30, 160))
    shown.save(root / "00000000000000c1" / "grid.png")
    upscale = await presser.press(Submission(provider_job_id="00000000000000c1"), Action.U1)
    assert difference(image(await presser.png(upscale)), Image.new("RGB", (768, 768), (200, 30, 160))) < 3
    # A task file with frames that were not written by us is refused, not drawn.
    bad = {**old, "kind": "upscale", "action": "u1", "parent": "00000000000000a1", "frames": [{"layout": -1}]}
    (root / "00000000000000b1").mkdir()
    (root / "00000000000000b1" / "task.json").write_text(json.dumps(bad))
    assert provider._load("00000000000000b1") is None


def test_the_readme_examples_are_what_the_provider_draws() -> None:
    """`python -m bot.devtools.examples` was rerun after the drawing last changed, and the files stay small."""
    docs = Path(__file__).resolve().parents[2] / "docs" / "examples"
    for prompt, seed in EXAMPLES:
        path = docs / file_name(prompt)
        assert path.stat().st_size < 150_000
        saved = Image.open(path).convert("RGB")
        # Not byte for byte: another Pillow may round a polygon's edge differently.
        assert difference(saved, render_grid(prompt, seed)) < 2, f"rerun python -m bot.devtools.examples ({path.name})"
        assert read_scene(path.read_bytes()) is not None


def test_long_chains_of_buttons_stay_bounded() -> None:
    """Zoom out after zoom out, pan after pan: the view and the canvas stop growing, and it still draws."""
    from bot.core.providers import _scene

    scene = _scene.parse("a lighthouse by the sea in the snow", 1)
    frame = _scene.base_frames(scene.key, TILE)[0]
    for step in range(40):
        frame = _scene.derive_frames("u1", frame, step)[0]
        frame = _scene.derive_frames(("zoom_2x", "pan_left", "pan_up")[step % 3], frame, step)[0]
    x0, y0, x1, y1 = frame.view
    assert max(x1 - x0, y1 - y0) <= _scene.MAX_SPAN + 1e-6 and max(frame.size) <= _scene.MAX_SIDE
    assert len(frame.extras) <= _scene.MAX_STEPS
    stored = _scene.frames_to_json([frame])
    assert _scene.frames_to_json(_scene.frames_from_json(stored)) == stored  # what a task file keeps reads back
    assert _scene.render(scene, frame).size == frame.size
