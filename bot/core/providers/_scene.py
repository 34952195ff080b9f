"""What the local provider draws: a prompt read as a scene, drawn through a viewport onto pixels.

A prompt becomes a :class:`Scene` (time of day, weather, season, place, colour words, the nouns it
knows) and a palette. The scene lives in WORLD coordinates: x runs left to right, y down, the horizon
is the line ``y = 0`` and the ground plane below it is seen from a camera ``CAMERA_HEIGHT`` above it,
so something standing at depth ``d`` has its foot at ``y = CAMERA_HEIGHT / d`` and is drawn ``1 / d``
as large, and hazier the farther it is. Everything placed in the world is a pure function of a layout
seed and the world position (objects are generated per world cell), so any viewport onto the same
layout shows the same things in the same places.

A :class:`Frame` is what one picture needs besides the scene: the layout seed, the viewport (a world
rectangle), the pixel size, and the variations and extensions applied since the first grid. The
buttons are operations on frames: an upscale redraws the same viewport with twice the pixels (real
detail appears, drawn only when it is large enough to see), a pan widens the viewport and the image,
a zoom out draws a larger viewport around the same centre, a variation moves and recolours the
objects. The frames go into the task file, so a result can be redrawn after a restart.

Each PNG carries a small description of what was drawn (:data:`SCENE_KEY`, read by :func:`read_scene`).
"""

from __future__ import annotations

import colorsys
import hashlib
import io
import json
import math
import random
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace
from typing import Any

from PIL import Image, ImageDraw, PngImagePlugin

__all__ = [
    "SCENE_KEY",
    "Frame",
    "Scene",
    "base_frames",
    "derive_frames",
    "frames_from_json",
    "frames_to_json",
    "merge_descriptions",
    "parse",
    "png_info",
    "read_scene",
    "render",
    "scene_text",
]

RGB = tuple[int, int, int]
View = tuple[float, float, float, float]

# The tEXt key of the description in every PNG the local provider draws; namespaced so no other tool's key clashes.
SCENE_KEY = "imagine-bot:scene"
# A description longer than this is not ours (ours is a few hundred bytes): read_scene refuses it.
MAX_SCENE_TEXT = 4096
# Height of the camera above the ground, in world units: the foot of a thing at depth d is at y = 0.8 / d.
CAMERA_HEIGHT = 0.8
# Depth of the nearest thing drawn; nearer would stand below the bottom of the first viewport.
NEAR = 1.0
# Long side of any picture drawn, so a chain of upscales and pans cannot ask for a huge canvas.
MAX_SIDE = 2048
# A pan adds half the picture in its direction, as Midjourney's pans do.
PAN_EXTENT = 0.5
# Widest view in world units (a first view is about 2): zoom outs and pans stop growing there, which
# bounds the work of drawing however long a chain of them is.
MAX_SPAN = 32.0
# Variations, extensions and their lists are capped so a task file stays small however long the chain.
MAX_STEPS = 12

# -- deterministic noise ---------------------------------------------------------------------------

_MASK = (1 << 64) - 1


def _mix(*parts: int) -> int:
    """A 64-bit hash of integers, the same in every process: Python hashes ints and tuples of ints without
    the per-process salt it gives strings; a splitmix64 finaliser spreads the bits. Called thousands of
    times per picture, so it must be cheap (a pure-Python splitmix over every part took half the time)."""
    h = hash(parts) & _MASK
    h = (h ^ (h >> 31)) * 0xBF58476D1CE4E5B9 & _MASK
    return h ^ (h >> 29)


def _u(*parts: int) -> float:
    """A number in [0, 1) fixed by the parts."""
    return _mix(*parts) / 2.0**64


def _b(h: int, k: int) -> float:
    """The k-th (0..3) of four numbers in [0, 1) packed in one hash: cheaper than hashing again."""
    return (h >> (16 * k) & 0xFFFF) / 65536.0


def _text_key(text: str) -> int:
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big")


def _rng(*parts: int) -> random.Random:
    return random.Random(_mix(*parts))


def _cell(x: float) -> int:
    return math.floor(x)


def _noise(layer: int, x: float, scale: float) -> float:
    """Smooth 1-D value noise in [0, 1) at world x, cells ``scale`` wide."""
    t = x / scale
    c = math.floor(t)
    f = t - c
    f = f * f * (3 - 2 * f)
    a, b = _u(layer, c), _u(layer, c + 1)
    return a + (b - a) * f


# -- colours ---------------------------------------------------------------------------------------


def _lerp(a: RGB, b: RGB, t: float) -> RGB:
    t = min(1.0, max(0.0, t))
    return (round(a[0] + (b[0] - a[0]) * t), round(a[1] + (b[1] - a[1]) * t), round(a[2] + (b[2] - a[2]) * t))


def _scale(c: RGB, k: float) -> RGB:
    return (min(255, round(c[0] * k)), min(255, round(c[1] * k)), min(255, round(c[2] * k)))


def _hue(c: RGB, shift: float, sat: float = 1.0) -> RGB:
    h, s, v = colorsys.rgb_to_hsv(c[0] / 255, c[1] / 255, c[2] / 255)
    r, g, b = colorsys.hsv_to_rgb((h + shift) % 1.0, min(1.0, s * sat), v)
    return (round(r * 255), round(g * 255), round(b * 255))


def _hex(c: RGB) -> str:
    return f"#{c[0]:02x}{c[1]:02x}{c[2]:02x}"


COLOURS: dict[str, RGB] = {
    "red": (200, 40, 40), "crimson": (170, 20, 50), "scarlet": (220, 40, 30), "orange": (240, 130, 30),
    "yellow": (240, 210, 50), "golden": (225, 175, 50), "gold": (225, 175, 50), "green": (50, 160, 60),
    "emerald": (30, 150, 90), "blue": (40, 90, 210), "navy": (25, 40, 110), "cyan": (40, 190, 210),
    "teal": (30, 140, 140), "turquoise": (50, 200, 190), "purple": (130, 50, 170), "violet": (140, 80, 200),
    "magenta": (210, 40, 160), "pink": (240, 130, 180), "white": (240, 240, 240), "black": (25, 25, 30),
    "grey": (128, 128, 132), "gray": (128, 128, 132), "silver": (190, 192, 200), "brown": (120, 75, 40),
}  # fmt: skip

# -- reading the prompt ----------------------------------------------------------------------------

_TIME_WORDS = {
    "night": "night", "midnight": "night", "nighttime": "night", "moonlit": "night", "moonlight": "night",
    "starry": "night", "stars": "night", "dark": "night", "dusk": "dusk", "sunset": "dusk", "evening": "dusk",
    "twilight": "dusk", "dawn": "dawn", "sunrise": "dawn", "morning": "dawn", "daybreak": "dawn",
    "day": "day", "daytime": "day", "noon": "day", "afternoon": "day", "sunny": "day", "daylight": "day",
}  # fmt: skip
_WEATHER_WORDS = {
    "rain": "rain", "rainy": "rain", "raining": "rain", "drizzle": "rain", "wet": "rain", "snow": "snow",
    "snowy": "snow", "snowing": "snow", "snowfall": "snow", "blizzard": "snow", "storm": "storm",
    "stormy": "storm", "thunder": "storm", "thunderstorm": "storm", "lightning": "storm", "fog": "fog",
    "foggy": "fog", "mist": "fog", "misty": "fog", "haze": "fog", "hazy": "fog", "cloud": "cloudy",
    "clouds": "cloudy", "cloudy": "cloudy", "overcast": "cloudy", "grey": "cloudy", "clear": "clear",
    "sunny": "clear",
}  # fmt: skip
_SEASON_WORDS = {
    "spring": "spring", "blossom": "spring", "summer": "summer", "autumn": "autumn", "fall": "autumn",
    "autumnal": "autumn", "winter": "winter", "wintry": "winter", "frozen": "winter", "icy": "winter",
}  # fmt: skip
_PLACE_WORDS = {
    "forest": "forest", "woods": "forest", "wood": "forest", "woodland": "forest", "jungle": "forest",
    "pines": "forest", "mountain": "mountains", "mountains": "mountains", "alps": "mountains",
    "peak": "mountains", "peaks": "mountains", "valley": "mountains", "hills": "mountains",
    "sea": "sea", "ocean": "sea", "beach": "sea", "coast": "sea", "shore": "sea", "harbor": "sea",
    "harbour": "sea", "seaside": "sea", "lighthouse": "sea", "lake": "lake", "pond": "lake",
    "river": "lake", "city": "city", "town": "city", "street": "city", "skyline": "city",
    "downtown": "city", "village": "field", "desert": "desert", "dunes": "desert", "sand": "desert",
    "field": "field", "meadow": "field", "farm": "field", "garden": "field", "park": "field",
    "countryside": "field", "prairie": "field",
}  # fmt: skip
# Nouns drawn as shapes: word -> the kind drawn.
_NOUNS = {
    "house": "house", "home": "house", "cottage": "house", "houses": "house", "cabin": "cabin",
    "hut": "cabin", "cabins": "cabin", "tree": "tree", "trees": "tree", "oak": "tree", "pine": "pine",
    "fir": "pine", "spruce": "pine", "mountain": "mountain", "volcano": "mountain", "moon": "moon",
    "sun": "sun", "cat": "cat", "cats": "cat", "kitten": "cat", "kitty": "cat", "dog": "dog",
    "dogs": "dog", "puppy": "dog", "person": "person", "man": "person", "woman": "person",
    "girl": "person", "boy": "person", "child": "person", "people": "person", "wizard": "person",
    "knight": "person", "astronaut": "person", "robot": "person", "car": "car", "cars": "car",
    "truck": "car", "taxi": "car", "flower": "flower", "flowers": "flower", "rose": "flower",
    "roses": "flower", "tulip": "flower", "tulips": "flower", "boat": "boat", "boats": "boat",
    "ship": "boat", "sailboat": "boat", "yacht": "boat", "bicycle": "bicycle", "bike": "bicycle",
    "castle": "castle", "palace": "castle", "fortress": "castle", "tent": "tent", "camp": "tent",
    "camping": "tent", "rainbow": "rainbow", "lighthouse": "lighthouse", "bird": "bird", "birds": "bird",
    "fox": "animal", "horse": "animal",
    "cow": "animal", "deer": "animal", "wolf": "animal", "sheep": "animal", "bear": "animal",
}  # fmt: skip
_PLURAL = frozenset({"houses", "cabins", "trees", "cats", "dogs", "people", "cars", "flowers", "roses",
                     "tulips", "boats", "birds", "pines"})  # fmt: skip
_NUMBERS = {"two": 2, "three": 3, "four": 4, "several": 3, "many": 4, "some": 3, "pair": 2}
# Words too common to carry meaning: they leave the picture alone.
_STOP = frozenset({
    "a", "an", "the", "in", "on", "at", "of", "with", "by", "under", "over", "and", "near", "beside", "next",
    "to", "from", "into", "is", "are", "very", "this", "that", "its", "his", "her", "their", "my", "our",
    "above", "below", "behind", "inside", "outside", "through", "during", "while", "for", "as"
})  # fmt: skip

# Words that put one named thing next to another.
_RELATIONS = frozenset({"under", "beneath", "below", "beside", "near", "by", "with", "next", "on", "in"})
_CLOSE = frozenset({"under", "beneath", "below", "on", "in"})
# Animals' body colours when the prompt gives none, by kind word.
_ANIMAL_COLOURS: dict[str, RGB] = {
    "fox": (215, 100, 30), "horse": (120, 80, 45), "cow": (235, 235, 230), "deer": (165, 110, 60),
    "wolf": (120, 120, 125), "sheep": (240, 238, 225), "bear": (90, 60, 35),
}  # fmt: skip


@dataclass(frozen=True)
class Thing:
    """A noun of the prompt to draw: its kind, how many, the colour the prompt gave it, its word."""

    kind: str
    count: int
    colour: RGB | None
    word: str
    beside: str | None = None  # the kind this one stands by ("a cat under a tree": the tree)
    close: bool = False  # under or on it, rather than beside it


@dataclass(frozen=True)
class Scene:
    time: str
    weather: str
    season: str
    place: str
    things: tuple[Thing, ...]
    colour_words: tuple[str, ...]
    key: int  # the prompt's words and the seed: the unknown words reach the picture through it
    palette: dict[str, RGB] = field(compare=False)

    @property
    def snow_ground(self) -> bool:
        return self.weather == "snow" or self.season == "winter"


def parse(prompt: str, seed: int, tint: RGB | None = None) -> Scene:
    """Read a prompt as a scene; what it does not say is chosen from the prompt and seed."""
    words = re.findall(r"[a-z]+", prompt.lower().split(" --", 1)[0])
    time = next((_TIME_WORDS[w] for w in words if w in _TIME_WORDS), "")
    weather = next((_WEATHER_WORDS[w] for w in words if w in _WEATHER_WORDS and w != "grey"), "")
    if not weather and "sunny" in words:
        weather = "clear"
    season = next((_SEASON_WORDS[w] for w in words if w in _SEASON_WORDS), "")
    place = next((_PLACE_WORDS[w] for w in words if w in _PLACE_WORDS and _PLACE_WORDS[w] != "field"), "")
    place = place or next((_PLACE_WORDS[w] for w in words if w in _PLACE_WORDS), "")
    if not place and any(_NOUNS.get(w) == "boat" for w in words):
        place = "sea"
    things: dict[str, Thing] = {}
    colour_words: list[str] = []
    pending: RGB | None = None
    count, gap = 1, 0
    previous_kind: str | None = None
    relation = ""
    for i, word in enumerate(words):
        if word in _RELATIONS and previous_kind is not None:
            relation = word
            continue
        if word in COLOURS and not (word == "grey" and weather == "cloudy" and i + 1 == len(words)):
            colour_words.append(word)
            pending, gap = COLOURS[word], 0
            continue
        if word in _NUMBERS:
            count = _NUMBERS[word]
            continue
        kind = _NOUNS.get(word)
        if kind is None:
            if word not in _STOP:
                gap += 1
                if gap > 2:  # a colour word belongs to a noun close after it, not to one far down the prompt
                    pending = None
            continue
        n = max(count, 3 if word in _PLURAL else 1)
        colour = pending
        if kind == "animal" and colour is None:
            colour = _ANIMAL_COLOURS.get(word)
        previous = things.get(kind)
        if previous is None or (colour is not None and previous.colour is None):
            things[kind] = Thing(kind, min(4, n), colour, word)
        if relation and previous_kind is not None and previous_kind != kind and previous_kind in things:
            # "X under Y", "X by Y", "X with Y": X is drawn next to Y, wherever Y ends up.
            things[previous_kind] = replace(things[previous_kind], beside=kind, close=relation in _CLOSE)
        pending, count, previous_kind, relation = None, 1, kind, ""
    if place == "forest" and "pine" in words:
        things.pop("pine", None)
    time = time or ("night" if "moon" in things else "day")
    meaningful = " ".join(w for w in words if w not in _STOP)
    key = _mix(_text_key(meaningful), seed)
    things_drawn, colours = tuple(things.values()), tuple(colour_words)
    scene = Scene(time, weather or "clear", season, place or "field", things_drawn, colours, key, {})
    scene.palette.update(_palette(scene, tint))
    return scene


def _palette(scene: Scene, tint: RGB | None) -> dict[str, RGB]:
    """The colours of sky, ground, water, foliage and light for this time, weather, season and place."""
    rng = _rng(scene.key, 1)
    sky: dict[str, tuple[RGB, RGB, RGB]] = {
        "day": ((60, 120, 215), (120, 175, 235), (195, 222, 245)),
        "dawn": ((70, 95, 165), (205, 150, 170), (255, 200, 150)),
        "dusk": ((45, 30, 95), (165, 70, 125), (255, 140, 55)),
        "night": ((5, 8, 26), (14, 20, 52), (32, 42, 84)),
    }
    top, mid, horizon = sky[scene.time]
    light = {"day": 1.0, "dawn": 0.82, "dusk": 0.62, "night": 0.3}[scene.time]
    warm = {"day": (255, 255, 255), "dawn": (255, 210, 190), "dusk": (255, 170, 140), "night": (120, 140, 220)}
    grey = {"cloudy": 0.55, "rain": 0.75, "storm": 0.85, "fog": 0.8, "snow": 0.6}.get(scene.weather, 0.0)
    if grey:
        overcast = {"day": (165, 172, 182), "dawn": (175, 160, 165), "dusk": (110, 90, 105), "night": (28, 30, 40)}
        shade = overcast[scene.time]
        if scene.weather == "storm":
            shade = _scale(shade, 0.55)
        elif scene.weather == "fog":
            shade = _scale(_lerp(shade, (235, 235, 235), 0.4), 1.0 if scene.time != "night" else 0.6)
        elif scene.weather == "snow":
            shade = _lerp(shade, (215, 220, 230), 0.3 if scene.time != "night" else 0.0)
        top, mid, horizon = (_lerp(c, shade, grey) for c in (top, mid, horizon))
        light *= {"cloudy": 0.9, "rain": 0.75, "storm": 0.6, "fog": 0.9, "snow": 0.95}[scene.weather]
    # The prompt's words nudge the sky's hue a little, so two prompts differing in any word differ in colour.
    drift = (rng.random() - 0.5) * 0.04
    top, mid, horizon = (_hue(c, drift) for c in (top, mid, horizon))
    ground_near, ground_far = {
        "forest": ((48, 92, 40), (80, 120, 70)),
        "mountains": ((88, 128, 62), (120, 140, 110)),
        "sea": ((222, 200, 150), (200, 190, 160)),
        "lake": ((80, 140, 60), (120, 160, 100)),
        "city": ((88, 88, 94), (120, 120, 128)),
        "desert": ((222, 186, 122), (232, 204, 150)),
        "field": ((92, 165, 62), (150, 190, 105)),
    }[scene.place]
    foliage = [(34, 100, 42), (52, 125, 48), (28, 82, 50)]
    if scene.season == "autumn":
        foliage = [(205, 95, 30), (225, 160, 40), (170, 50, 30)]
        if scene.place in ("field", "lake", "mountains"):
            ground_near, ground_far = (150, 140, 60), (170, 160, 100)
    elif scene.season == "spring":
        foliage = [(110, 185, 70), (245, 180, 205), (90, 170, 60)]
    if scene.snow_ground:
        ground_near, ground_far = (244, 246, 250), (225, 230, 240)
    water = (40, 105, 185) if scene.place == "sea" else (55, 120, 170)
    water = _lerp(water, mid, 0.25)
    pal: dict[str, RGB] = {
        "top": top, "mid": mid, "horizon": horizon, "near": ground_near, "far": ground_far, "water": water,
        "leaf0": foliage[0], "leaf1": foliage[1], "leaf2": foliage[2], "warm": warm[scene.time],
        "accent": _hue((200, 70, 60), rng.random()), "haze": _lerp(horizon, mid, 0.3),
    }  # fmt: skip
    for word in scene.colour_words:  # a colour word colours the picture a little, not only its noun
        for name in ("top", "mid", "near", "far", "leaf0", "leaf1", "leaf2"):
            pal[name] = _lerp(pal[name], COLOURS[word], 0.12)
    if tint is not None:  # img2img: the reference image's colour runs through the whole palette
        for name in pal:
            pal[name] = _lerp(pal[name], tint, 0.3)
    # Light: everything on the ground is seen in the sky's light.
    for name in ("near", "far", "water", "leaf0", "leaf1", "leaf2"):
        pal[name] = _lit(pal[name], light, pal["warm"])
    if scene.snow_ground:  # snow stays the brightest thing in any light, tinted by it only half as much
        glow = max(light, 0.5 if scene.time == "night" else 0.88)
        half = _lerp(pal["warm"], (255, 255, 255), 0.6)
        pal["near"], pal["far"] = _lit(ground_near, glow, half), _lit(ground_far, glow * 0.95, half)
        pal["snow"] = pal["near"]
    else:
        pal["snow"] = _lit((245, 248, 255), max(light, 0.5), _lerp(pal["warm"], (255, 255, 255), 0.6))
    pal["light"] = (round(light * 100), 0, 0)
    return pal


def _lit(c: RGB, light: float, warm: RGB) -> RGB:
    return (
        round(c[0] * light * warm[0] / 255),
        round(c[1] * light * warm[1] / 255),
        round(c[2] * light * warm[2] / 255),
    )


# -- frames ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Frame:
    """One picture of a scene: layout seed, world viewport, pixel size, and what was done to it since."""

    layout: int
    view: View
    size: tuple[int, int]
    vary: tuple[tuple[int, float], ...] = ()  # (seed, strength): moves and recolours, in order
    extras: tuple[tuple[int, View], ...] = ()  # (seed, kept rectangle): new things outside what was there

    def to_json(self) -> dict[str, Any]:
        return {
            "layout": self.layout,
            "view": [round(v, 6) for v in self.view],
            "size": list(self.size),
            "vary": [[s, k] for s, k in self.vary],
            "extras": [[s, [round(v, 6) for v in r]] for s, r in self.extras],
        }


def _composition(layout: int) -> tuple[float, float, float]:
    """The camera of a first composition: centre x, half-height of the view, where the horizon sits."""
    return (_u(layout, 11) - 0.5) * 0.7, 0.88 + _u(layout, 12) * 0.24, 0.56 + _u(layout, 13) * 0.12


def base_frames(key: int, size: tuple[int, int]) -> list[Frame]:
    """The four compositions of a first grid: four cameras and four placements of one scene."""
    frames = []
    for i in range(4):
        layout = _mix(key, 7, i) >> 1  # a JSON-safe positive integer
        cx, half, horizon = _composition(layout)
        height = 2 * half
        width = height * size[0] / size[1]
        top = -height * horizon
        frames.append(Frame(layout, (cx - width / 2, top, cx + width / 2, top + height), size))
    return frames


def _capped(width: float, height: float) -> tuple[int, int]:
    k = min(1.0, MAX_SIDE / max(width, height))
    return max(16, round(width * k)), max(16, round(height * k))


def derive_frames(action: str, source: Frame, key: int) -> list[Frame]:
    """The frames a button makes from one picture: one for an upscale, four for everything else.

    ``action`` is a :class:`bot.core.models.Action` value; ``key`` makes one press differ from another.
    Grids drawn from an upscale have tiles half its size, so the grid is as large as the upscale was.
    """
    w, h = source.size
    if action in ("u1", "u2", "u3", "u4", "upscale_subtle", "upscale_creative"):
        frame = replace(source, size=_capped(w * 2, h * 2))
        if action == "upscale_creative":
            frame = replace(frame, vary=(*frame.vary, (_mix(key, 1) >> 1, 0.15))[-MAX_STEPS:])
        return [frame]
    from_grid = action in ("v1", "v2", "v3", "v4")
    tile = (w, h) if from_grid else (max(16, w // 2), max(16, h // 2))
    x0, y0, x1, y1 = source.view
    out = []
    for i in range(4):
        seed = _mix(key, 2, i) >> 1
        if action in ("v1", "v2", "v3", "v4", "vary_strong", "vary_subtle"):
            strength = 0.3 if action == "vary_subtle" else 1.0
            out.append(replace(source, size=tile, vary=(*source.vary, (seed, strength))[-MAX_STEPS:]))
            continue
        if action in ("zoom_2x", "zoom_1_5x"):
            factor = 2.0 if action == "zoom_2x" else 1.5
            cx, cy, hw, hh = (x0 + x1) / 2, (y0 + y1) / 2, (x1 - x0) / 2 * factor, (y1 - y0) / 2 * factor
            view: View = (cx - hw, cy - hh, cx + hw, cy + hh)
            size = tile
        else:
            dx, dy = (x1 - x0) * PAN_EXTENT, (y1 - y0) * PAN_EXTENT
            view = {
                "pan_left": (x0 - dx, y0, x1, y1), "pan_right": (x0, y0, x1 + dx, y1),
                "pan_up": (x0, y0 - dy, x1, y1), "pan_down": (x0, y0, x1, y1 + dy),
            }[action]  # fmt: skip
            wide = action in ("pan_left", "pan_right")
            size = (
                _capped(tile[0] * (1 + PAN_EXTENT), tile[1]) if wide else _capped(tile[0], tile[1] * (1 + PAN_EXTENT))
            )
        extras = (*source.extras, (seed, source.view))[-MAX_STEPS:]
        out.append(Frame(source.layout, _bounded(view), size, source.vary, extras))
    return out


def _bounded(view: View) -> View:
    """A view no larger than MAX_SPAN either way, about the same centre and of the same shape."""
    x0, y0, x1, y1 = view
    k = min(1.0, MAX_SPAN / max(x1 - x0, y1 - y0))
    cx, cy, hw, hh = (x0 + x1) / 2, (y0 + y1) / 2, (x1 - x0) / 2 * k, (y1 - y0) / 2 * k
    return cx - hw, cy - hh, cx + hw, cy + hh


def frames_to_json(frames: Iterable[Frame]) -> list[dict[str, Any]]:
    return [frame.to_json() for frame in frames]


def _int(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 2**63:
        raise ValueError("not a seed")
    return value


def _float(value: object, low: float = -1e6, high: float = 1e6) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
        raise ValueError("not a number in range")
    return float(value)


def _view(value: object) -> View:
    if not isinstance(value, list) or len(value) != 4:
        raise ValueError("not a view")
    x0, y0, x1, y1 = (_float(v) for v in value)
    if not (x1 - x0 > 1e-3 and y1 - y0 > 1e-3):
        raise ValueError("an empty view")
    return x0, y0, x1, y1


def frames_from_json(value: object) -> list[Frame]:
    """Frames back from a task file; ValueError for anything :func:`frames_to_json` did not write."""
    if not isinstance(value, list) or len(value) not in (1, 4):
        raise ValueError("not a list of frames")
    frames = []
    for item in value:
        if not isinstance(item, dict):
            raise ValueError("not a frame")
        size = item.get("size")
        if not isinstance(size, list) or len(size) != 2:
            raise ValueError("not a size")
        w, h = (int(_float(s, 16, MAX_SIDE)) for s in size)
        vary, extras = item.get("vary", []), item.get("extras", [])
        if not isinstance(vary, list) or not isinstance(extras, list) or len(vary) + len(extras) > 2 * MAX_STEPS:
            raise ValueError("bad steps")
        steps = []
        for step in vary:
            if not isinstance(step, list) or len(step) != 2:
                raise ValueError("bad variation")
            steps.append((_int(step[0]), _float(step[1], 0, 1)))
        added = []
        for step in extras:
            if not isinstance(step, list) or len(step) != 2:
                raise ValueError("bad extension")
            added.append((_int(step[0]), _view(step[1])))
        frames.append(Frame(_int(item.get("layout")), _view(item.get("view")), (w, h), tuple(steps), tuple(added)))
    return frames


# -- drawing ---------------------------------------------------------------------------------------


class _Canvas:
    """World-to-pixel mapping and the things drawn on one picture."""

    def __init__(self, scene: Scene, frame: Frame) -> None:
        self.scene, self.frame, self.pal = scene, frame, scene.palette
        self.w, self.h = frame.size
        x0, y0, x1, y1 = frame.view
        self.x0, self.y0, self.x1, self.y1 = x0, y0, x1, y1
        self.sx, self.sy = self.w / (x1 - x0), self.h / (y1 - y0)
        self.image = Image.new("RGB", frame.size)
        self.draw = ImageDraw.Draw(self.image)
        self.drawn: set[str] = set()

    def px(self, x: float) -> float:
        return (x - self.x0) * self.sx

    def py(self, y: float) -> float:
        return (y - self.y0) * self.sy

    def haze(self, colour: RGB, depth: float) -> RGB:
        """Far things fade into the air's colour; fog fades them sooner."""
        reach = 6.0 if self.scene.weather == "fog" else 28.0
        return _lerp(colour, self.pal["haze"], 1 - math.exp(-max(0.0, depth - 1) / reach))


def render(scene: Scene, frame: Frame) -> Image.Image:
    """Draw the scene through one frame's viewport at its pixel size."""
    c = _Canvas(scene, frame)
    _sky(c)
    if c.scene.time == "night" and c.scene.weather == "clear":
        _stars(c)
    _clouds(c)
    _sky_lights(c)  # in front of the clouds, so a moon or sun the prompt asked for is never hidden
    _ridges(c)
    _ground(c)
    items = sorted(_placed(c), key=lambda item: -item[0])
    for _, draw in items:
        draw()
    _weather(c)
    c.image.info[SCENE_KEY] = scene_text(scene, c.drawn)
    return c.image


def scene_text(scene: Scene, drawn: Iterable[str] = ()) -> str:
    """The description stored in the PNG: what a reader of the picture would name, nothing of the prompt."""
    pal = scene.palette
    return json.dumps(
        {
            "v": 1,
            "time": scene.time,
            "weather": scene.weather,
            "season": scene.season or None,
            "place": scene.place,
            "objects": sorted(set(drawn)),
            "palette": {name: _hex(pal[name]) for name in ("top", "horizon", "near", "water", "leaf0")},
        },
        separators=(",", ":"),
    )


def read_scene(png: bytes) -> dict[str, Any] | None:
    """What the local provider drew in this PNG, from the description it embedded; None if not ours.

    The description (version ``v`` 1) is ``time`` (dawn, day, dusk, night), ``weather`` (clear, cloudy,
    rain, snow, fog, storm), ``season`` (spring, summer, autumn, winter or None), ``place`` (field,
    forest, mountains, sea, lake, city, desert), ``objects`` (the kinds drawn: "cabin", "pine", "moon"…,
    sorted) and ``palette`` (a few named colours as ``#rrggbb``: top and horizon of the sky, the near
    ground, water, foliage). It never holds the prompt. Only the chunk is read, never the pixels.
    """
    try:
        with Image.open(io.BytesIO(png), formats=["PNG"]) as image:
            text = image.info.get(SCENE_KEY)  # tEXt chunks before the pixels: read without decoding them
    except Exception:
        return None
    if not isinstance(text, str) or len(text) > MAX_SCENE_TEXT:
        return None
    try:
        value = json.loads(text)
    except ValueError:
        return None
    return value if isinstance(value, dict) and value.get("v") == 1 else None


def merge_descriptions(images: Iterable[Image.Image]) -> str | None:
    """One description for pictures of one scene (a grid's tiles): the things any of them shows."""
    texts = [image.info.get(SCENE_KEY) for image in images]
    if not texts or not all(isinstance(text, str) for text in texts):
        return None
    values = [json.loads(str(text)) for text in texts]
    merged = values[0]
    merged["objects"] = sorted({name for value in values for name in value["objects"]})
    return json.dumps(merged, separators=(",", ":"))


def png_info(image: Image.Image) -> PngImagePlugin.PngInfo | None:
    """The tEXt chunk to save with an image this module drew (its description travels in ``info``)."""
    text = image.info.get(SCENE_KEY)
    if not isinstance(text, str):
        return None
    info = PngImagePlugin.PngInfo()
    info.add_text(SCENE_KEY, text)
    return info


def _column(c: _Canvas, colour_at: Callable[[float], RGB], top: int, bottom: int) -> None:
    """Fill rows top..bottom with a colour per row (one column drawn, then stretched: cheap)."""
    if bottom <= top:
        return
    data = bytearray()
    for row in range(top, bottom):
        data.extend(colour_at(c.y0 + (row + 0.5) / c.sy))
    strip = Image.frombytes("RGB", (1, bottom - top), bytes(data)).resize((c.w, bottom - top), Image.Resampling.NEAREST)
    c.image.paste(strip, (0, top))


def _sky(c: _Canvas) -> None:
    pal = c.pal

    def colour(y: float) -> RGB:
        t = -y / 1.1
        if t < 0.35:
            return _lerp(pal["horizon"], pal["mid"], t / 0.35)
        return _lerp(pal["mid"], pal["top"], (t - 0.35) / 0.65)

    _column(c, colour, 0, min(c.h, math.ceil(c.py(0.0))))


def _sky_lights(c: _Canvas) -> None:
    s, pal, layout = c.scene, c.pal, c.frame.layout
    kinds = {t.kind for t in s.things}
    cx, _, _ = _composition(layout)
    if "rainbow" in kinds and s.time != "night":
        bands = [(228, 60, 60), (240, 150, 50), (240, 225, 80), (80, 180, 80), (60, 110, 220), (130, 80, 190)]
        rx = cx + (_u(layout, 27) - 0.5) * 0.6
        for k, colour in enumerate(bands):
            r = 0.95 - k * 0.045
            box = (c.px(rx - r), c.py(-r), c.px(rx + r), c.py(r))
            c.draw.arc(box, 180, 360, fill=_lerp(colour, pal["mid"], 0.35), width=max(1, round(0.045 * c.sy)))
        c.drawn.add("rainbow")
    if (s.time == "night" and s.weather not in ("rain", "storm")) or "moon" in kinds:
        mx, my = cx + (_u(layout, 21) - 0.5) * 1.0, -0.62 - _u(layout, 22) * 0.3
        r = 0.1
        glow = _lerp(pal["mid"], (255, 255, 240), 0.25)
        _disc(c, mx, my, r * 1.8, glow)
        _disc(c, mx, my, r, (246, 244, 228) if s.time == "night" else (235, 235, 240))
        if r * c.sx > 20:  # craters only when the moon is large enough to show them
            for k in range(4):
                a, d = _u(layout, 23, k) * 6.28, _u(layout, 24, k) * 0.6 * r
                _disc(c, mx + math.cos(a) * d, my + math.sin(a) * d, r * 0.15, (222, 222, 208))
        c.drawn.add("moon")
    elif s.time != "night" and (s.weather == "clear" or "sun" in kinds):
        low = s.time in ("dawn", "dusk")
        sx = cx + (_u(layout, 25) - 0.5) * 1.2
        sy = -0.12 if low else -0.7 - _u(layout, 26) * 0.2
        core = (255, 170, 70) if low else (255, 250, 225)
        r = 0.17 if low else 0.11
        _disc(c, sx, sy, r * 2.2, _lerp(pal["horizon"] if low else pal["mid"], core, 0.35))
        _disc(c, sx, sy, r * 1.4, _lerp(pal["horizon"] if low else pal["mid"], core, 0.65))
        _disc(c, sx, sy, r, core)
        c.drawn.add("sun")


def _disc(c: _Canvas, x: float, y: float, r: float, colour: RGB) -> None:
    c.draw.ellipse((c.px(x - r), c.py(y - r), c.px(x + r), c.py(y + r)), fill=colour)


def _cells(lo: float, hi: float, width: float) -> Iterator[int]:
    return iter(range(_cell(lo / width), _cell(hi / width) + 1))


def _spacing(c: _Canvas, world: float) -> float:
    """Spacing of sky and weather cells: fixed in the world, widened only once a view is zoomed so far
    out that the cells would be under ~8 pixels apart (a far zoom out would otherwise draw millions)."""
    return max(world, 8 / min(c.sx, c.sy))


def _stars(c: _Canvas) -> None:
    size = _spacing(c, 0.12)
    for i in _cells(c.x0, c.x1, size):
        for j in _cells(c.y0, 0.0, size):
            h = _mix(c.frame.layout, 31, i, j)
            if h & 3:
                continue
            x, y = (i + _b(h, 1)) * size, (j + _b(h, 2)) * size
            if y > -0.08:
                continue
            r = max(0.5, 0.004 * c.sx * (0.6 + _b(h, 3)))
            px, py = c.px(x), c.py(y)
            c.draw.ellipse((px - r, py - r, px + r, py + r), fill=_lerp((200, 210, 255), (255, 255, 255), _b(h, 0)))


def _cloud_colour(c: _Canvas) -> RGB:
    s, pal = c.scene, c.pal
    base = _lerp(pal["mid"], (255, 255, 255), 0.55 if s.time == "day" else 0.3)
    if s.weather in ("rain", "storm"):
        base = _lerp(pal["mid"], (40, 42, 50), 0.35)
    elif s.time == "dusk":
        base = _lerp(pal["mid"], (255, 170, 150), 0.45)
    elif s.time == "night":
        base = _lerp(pal["mid"], (90, 95, 120), 0.3)
    return base


def _clouds(c: _Canvas) -> None:
    density = {"clear": 0.25, "cloudy": 0.9, "rain": 1.0, "storm": 1.0, "snow": 0.8, "fog": 0.5}[c.scene.weather]
    base = _cloud_colour(c)
    width = 0.7
    for i in _cells(c.x0 - 0.4, c.x1 + 0.4, width):
        h = _mix(c.frame.layout, 41, i)
        if _b(h, 0) > density:
            continue
        _cloud(c, (i + _b(h, 1)) * width, -0.35 - _b(h, 2) * 0.75, h, base)


def _cloud(c: _Canvas, x: float, y: float, h: int, base: RGB) -> None:
    """A cloud of a few overlapping ellipses, its shape fixed by ``h``."""
    scale = 0.12 + _b(h, 3) * 0.1
    shade = _lerp(base, c.pal["top"], 0.15 * _b(h, 0))
    for k in range(4 + int(_u(h, 5) * 3)):
        ox, oy = (_u(h, 10 + k) - 0.5) * scale * 3.2, (_u(h, 20 + k) - 0.6) * scale * 0.9
        rx, ry = scale * (0.6 + _u(h, 30 + k) * 0.5), scale * (0.35 + _u(h, 40 + k) * 0.25)
        c.draw.ellipse((c.px(x + ox - rx), c.py(y + oy - ry), c.px(x + ox + rx), c.py(y + oy + ry)),
                       fill=_lerp(shade, (255, 255, 255), 0.1 * k / 4))  # fmt: skip


def _ridge_points(c: _Canvas, layer: int, height: float, scale: float, step_px: float = 6) -> list[tuple[float, float]]:
    points: list[tuple[float, float]] = [(0, c.h + 1)]
    n = max(2, int(c.w / step_px) + 1)
    for k in range(n + 1):
        x = c.x0 + (c.x1 - c.x0) * k / n
        v = (
            _noise(layer, x, scale) * 0.65
            + _noise(layer + 1, x, scale / 3) * 0.25
            + _noise(layer + 2, x, scale / 9) * 0.1
        )
        points.append((c.px(x), c.py(-height * v)))
    points.append((c.w, c.h + 1))
    return points


def _ridges(c: _Canvas) -> None:
    """Far mountains or hills behind the ground, hazier the farther."""
    s, pal = c.scene, c.pal
    kinds = {t.kind for t in s.things}
    if s.place == "city":
        _skyline(c)
        return
    if s.place == "sea":
        return
    mountains = s.place == "mountains" or "mountain" in kinds
    layers = [(0.75, 2.2, 0.5), (0.45, 1.3, 0.28)] if mountains else [(0.22, 1.6, 0.55)]
    rock = _lit((110, 115, 135), int(pal["light"][0]) / 100, pal["warm"])
    for n, (height, scale, fade) in enumerate(layers):
        colour = _lerp(rock if mountains else pal["far"], pal["haze"], fade)
        points = _ridge_points(c, 50 + 7 * n + c.frame.layout % 1000, height, scale)
        if mountains and n == 0:
            # Snow caps: the whole ridge in snow, then the rock below a ragged snow line over it.
            c.draw.polygon(points, fill=_lerp(pal["snow"], pal["haze"], 0.3))
            line = -height * 0.6
            rock_top = [(x, max(y, c.py(line + 0.05 * _noise(99, c.x0 + x / c.sx, 0.05)))) for x, y in points[1:-1]]
            points = [points[0], *rock_top, points[-1]]
        c.draw.polygon(points, fill=colour)
        c.drawn.add("mountain" if mountains else "hills")


def _skyline(c: _Canvas) -> None:
    s, pal = c.scene, c.pal
    night = s.time in ("night", "dusk")
    for layer, (depth, width) in enumerate(((14.0, 0.12), (8.0, 0.16))):
        base_y = CAMERA_HEIGHT / depth
        body = c.haze(_lit((95, 100, 115), int(pal["light"][0]) / 100, pal["warm"]), depth * 1.5)
        for i in _cells(c.x0, c.x1, width):
            h = _mix(c.frame.layout, 61, layer, i)
            x = i * width
            top = base_y - (0.18 + _b(h, 1) * 0.45) * (1.4 if layer else 1.0)
            shade = _lerp(body, (0, 0, 0), 0.15 * _b(h, 2))
            c.draw.rectangle((c.px(x), c.py(top), c.px(x + width * 0.96), c.py(base_y)), fill=shade)
            win = 0.018
            if win * c.sx >= 2.5:  # windows once there are pixels enough for them
                lit = (255, 215, 120) if night else _lerp(shade, (200, 220, 240), 0.5)
                rows, cols = int((base_y - top) / (win * 2.2)), int(width * 0.9 / (win * 2))
                for r in range(rows):
                    for k in range(cols):
                        if night and _u(h, 100 + r * 13 + k) > 0.45:
                            continue
                        wx, wy = x + win * 0.8 + k * win * 2, top + win + r * win * 2.2
                        c.draw.rectangle((c.px(wx), c.py(wy), c.px(wx + win), c.py(wy + win * 1.2)), fill=lit)
    c.drawn.add("city")


def _ground(c: _Canvas) -> None:
    s, pal = c.scene, c.pal
    horizon = max(0, math.floor(c.py(0.0)))
    if horizon >= c.h:
        return
    shore = {"sea": 3.0, "lake": 3.4}.get(s.place)
    far_shore = 10.0 if s.place == "lake" else None

    def colour(y: float) -> RGB:
        d = CAMERA_HEIGHT / max(y, 1e-4)
        if shore and d > shore and not (far_shore and d > far_shore):
            t = min(1.0, (d - shore) / 25)
            return _lerp(pal["water"], _lerp(pal["water"], pal["horizon"], 0.5), t)
        return c.haze(_lerp(pal["near"], pal["far"], min(1.0, (d - 1) / 12)), d)

    _column(c, colour, horizon, c.h)
    if shore:  # glints on the water, in world cells so they stay put when the view moves
        c.drawn.add(s.place)
        glint = _lerp(pal["water"], (255, 255, 255), 0.35)
        for band in range(12):
            d = shore + 0.6 + band * (1.0 + band * 0.4)
            if far_shore and d > far_shore:
                break
            y = CAMERA_HEIGHT / d
            width = 0.25 / d * 3
            for i in _cells(c.x0, c.x1, width):
                h = _mix(c.frame.layout, 71, band, i)
                if _b(h, 0) < 0.5:
                    continue
                x = (i + _b(h, 1)) * width
                length = width * (0.3 + _b(h, 2) * 0.4)
                py = c.py(y)
                c.draw.line((c.px(x), py, c.px(x + length), py), fill=glint, width=max(1, round(0.01 / d * c.sy)))
        if far_shore:  # the far shore: a low band of land and trees
            y = CAMERA_HEIGHT / far_shore
            ridge = _ridge_points(c, 80 + c.frame.layout % 1000, 0.05, 0.3)[1:-1]
            foot = c.py(y)
            points = [(x, py + foot - c.py(0)) for x, py in ridge] + [(c.w, foot), (0, foot)]
            c.draw.polygon(points, fill=c.haze(pal["leaf2"], far_shore))
        if s.place == "sea":  # the surf line at the beach
            py = c.py(CAMERA_HEIGHT / shore)
            c.draw.line(
                (0, py, c.w, py), fill=_lerp(pal["water"], (255, 255, 255), 0.6), width=max(1, round(0.008 * c.sy))
            )
    if s.place == "city":  # a road running to the horizon
        cx = _composition(c.frame.layout)[0]
        road = _lerp(pal["near"], (40, 40, 44), 0.5)
        c.draw.polygon([(c.px(cx - 0.02), c.py(0.01)), (c.px(cx + 0.02), c.py(0.01)), (c.px(cx + 1.6), c.py(1.6)),
                        (c.px(cx - 1.6), c.py(1.6))], fill=road)  # fmt: skip
        for k in range(1, 9):
            d = 1.0 + k * 1.3
            y0, y1 = CAMERA_HEIGHT / d, CAMERA_HEIGHT / (d + 0.6)
            c.draw.polygon([(c.px(cx - 0.02 / d * 2), c.py(y0)), (c.px(cx + 0.02 / d * 2), c.py(y0)),
                            (c.px(cx + 0.01 / d * 2), c.py(y1)), (c.px(cx - 0.01 / d * 2), c.py(y1))],
                           fill=(230, 220, 150) if s.time != "night" else (150, 140, 90))  # fmt: skip
    # Grass, sand or snow texture near the camera, where strokes are at least a few pixels long.
    tuft = _lerp(pal["near"], (0, 0, 0), 0.25) if not s.snow_ground else _lerp(pal["near"], (150, 170, 200), 0.35)
    for band in range(10):
        d = 1.05 + band * 0.35
        y = CAMERA_HEIGHT / d
        if y < c.y0 or (shore and d > shore) or s.place == "city":
            continue
        length = 0.05 / d
        if length * c.sy < 4:
            continue
        width = 0.12 / d
        for i in _cells(c.x0, c.x1, width):
            h = _mix(c.frame.layout, 91, band, i)
            x = (i + _b(h, 1)) * width
            px, py = c.px(x), c.py(y + _b(h, 2) * 0.02)
            lean = (_b(h, 3) - 0.5) * length * c.sx
            c.draw.line((px, py, px + lean, py - length * c.sy), fill=tuft, width=max(1, round(0.006 / d * c.sx)))


# -- things on the ground --------------------------------------------------------------------------

Item = tuple[float, Callable[[], None]]


@dataclass
class _Obj:
    kind: str
    x: float
    depth: float
    colour: RGB | None
    ident: int
    hero: bool = False  # named in the prompt: kept legible however dark the scene
    sky_y: float | None = None  # for things in the sky (a cloud, birds): where, rather than a foot on the ground


def _jitter(c: _Canvas, obj: _Obj) -> _Obj:
    """A variation's effect on one thing: moved along the ground and recoloured, more for a strong one."""
    for seed, strength in c.frame.vary:
        h = _mix(seed, obj.ident)
        obj.x += (_b(h, 1) - 0.5) * 0.5 * strength
        obj.depth *= 1 + (_b(h, 2) - 0.5) * 0.3 * strength
        if obj.colour is not None:
            obj.colour = _hue(obj.colour, (_b(h, 3) - 0.5) * 0.25 * strength)
    return obj


def _placed(c: _Canvas) -> list[Item]:
    s = c.scene
    layout = c.frame.layout
    cx, _, _ = _composition(layout)
    heroes: list[_Obj] = []
    slots = sorted(range(8), key=lambda k: _u(layout, 101, k))
    n = 0
    first: dict[str, _Obj] = {}
    # Things that stand by another are placed after it, so they can go where it went.
    for t in sorted(s.things, key=lambda t: t.beside is not None):
        for _ in range(t.count):
            slot = slots[n % 8]
            n += 1
            x = cx + (slot / 7 - 0.5) * 1.1 + (_u(layout, 102, n) - 0.5) * 0.12
            near, far = _DEPTHS.get(t.kind, (1.6, 2.6))
            depth = near + (far - near) * _u(layout, 103, n)
            if t.kind == "car" and s.place == "city":  # on the road, which runs to the horizon from cx
                x = cx + (_u(layout, 106, n) - 0.5) * 0.5 * depth / 2
            if t.kind == "boat" and s.place == "lake":
                depth = 4.2 + 3 * _u(layout, 104, n)
            anchor = first.get(t.beside or "")
            if anchor is not None and t.kind not in ("boat", "bird"):
                side = 1 if _u(layout, 107, n) < 0.5 else -1
                x = anchor.x + side * ((0.12 if t.close else 0.4) + 0.25 * _u(layout, 108, n)) * anchor.depth / 2
                depth = max(NEAR + 0.1, anchor.depth - 0.15)
            x = min(cx + 0.7, max(cx - 0.7, x))  # inside the first composition, whatever moved it
            colour = t.colour if t.colour is not None else _default_colour(c, t.kind, _mix(layout, 105, n))
            obj = _jitter(c, _Obj(t.kind, x, depth, colour, _mix(7, n), hero=True))
            first.setdefault(t.kind, obj)
            heroes.append(obj)
    for seed, keep in c.frame.extras:
        heroes.extend(_extras(c, seed, keep))
    items: list[Item] = [(o.depth, _drawer(c, o)) for o in heroes if o.kind not in _IN_THE_SKY]
    items.extend(_fill(c, [o for o in heroes if o.hero and o.kind in _SOLID]))
    return items


# Named kinds drawn with the sky or the ridges rather than standing on the ground.
_IN_THE_SKY = frozenset({"moon", "sun", "mountain", "rainbow"})
# Where each kind stands (nearest, farthest depth) when the prompt names it.
_DEPTHS: dict[str, tuple[float, float]] = {
    "house": (2.0, 2.8), "cabin": (1.9, 2.6), "tree": (1.9, 2.6), "pine": (1.9, 2.6), "car": (1.6, 2.2),
    "person": (1.35, 1.9), "cat": (1.2, 1.5), "dog": (1.25, 1.6), "animal": (1.5, 2.2), "flower": (1.1, 1.3),
    "bicycle": (1.4, 1.9), "boat": (4.0, 7.0), "lighthouse": (2.5, 2.9), "bird": (2.0, 4.0),
    "castle": (3.2, 4.2), "tent": (1.8, 2.5),
}  # fmt: skip
# Kinds the filler trees keep clear of, so what the prompt names is not hidden behind a trunk.
_SOLID = frozenset(
    {
        "house",
        "cabin",
        "car",
        "person",
        "cat",
        "dog",
        "animal",
        "bicycle",
        "lighthouse",
        "tree",
        "pine",
        "castle",
        "tent",
    }
)


def _default_colour(c: _Canvas, kind: str, h: int) -> RGB:
    pal = c.pal
    choices: dict[str, list[RGB]] = {
        "house": [(215, 200, 170), (200, 120, 90), (235, 230, 215), (170, 180, 200)],
        "cabin": [(120, 78, 45), (140, 90, 50)],
        "car": [(200, 40, 40), (40, 90, 200), (230, 230, 235), (50, 50, 55), (240, 190, 40)],
        "cat": [(230, 140, 60), (60, 60, 65), (150, 150, 155), (235, 230, 220)],
        "dog": [(180, 130, 70), (90, 60, 35), (230, 220, 200), (40, 40, 40)],
        "person": [pal["accent"], (60, 90, 160), (180, 60, 60), (70, 130, 80)],
        "flower": [(230, 60, 80), (245, 210, 60), (240, 140, 190), (150, 90, 210)],
        "boat": [(240, 240, 240), (200, 60, 50)],
        "bicycle": [(200, 40, 40), (40, 110, 200), (30, 30, 30)],
        "lighthouse": [(245, 245, 245)],
        "animal": [(215, 100, 30)],
        "bird": [(40, 40, 45)],
        "tent": [(230, 120, 40), (60, 140, 90), (200, 60, 50)],
        "castle": [(150, 148, 140), (190, 180, 160)],
    }
    options = choices.get(kind, [pal["leaf0"]])
    return options[h % len(options)]


def _extras(c: _Canvas, seed: int, keep: View) -> list[_Obj]:
    """What a pan or zoom adds: a few things in the new part of the world, none over the old picture.

    Placed from the seed and the kept rectangle alone (not from the view), so a later view of the same
    world shows them where they were.
    """
    x0, y0, x1, y1 = keep
    w, hgt = x1 - x0, y1 - y0
    out = []
    kinds = {"forest": ["pine", "pine", "tree"], "city": ["car", "person", "lamp"], "sea": ["boat", "rock"],
             "lake": ["boat", "tree"], "desert": ["cactus", "rock"], "mountains": ["pine", "rock"],
             "field": ["tree", "flower", "rock", "bush"]}[c.scene.place]  # fmt: skip
    for k in range(16):
        h = _mix(seed, 201, k)
        # Odd ones beside the old picture (what a pan left or right uncovers), even ones anywhere around it.
        side = x0 - w * _b(h, 1) if h & 4 else x1 + w * _b(h, 1)
        x = side if k % 2 else x0 - w + 3 * w * _b(h, 1)
        kind = "cloud" if k > 10 else "bird" if k == 10 else kinds[h % len(kinds)]
        if kind in ("cloud", "bird"):  # in the sky: above the old picture or beside it
            x = x0 - w + 3 * w * _b(h, 1)
            sky = y0 - hgt + (min(-0.3, y1) - y0 + hgt) * _b(h, 2)
            margin = 0.45 if kind == "cloud" else 0.15
            if x0 - margin < x < x1 + margin and sky > y0 - margin * 0.5:
                continue
            out.append(_Obj(kind, x, 5.0, None, h, sky_y=sky))
            continue
        near, far = _DEPTHS.get(kind, (1.2, 4.0))
        if kind == "boat" and c.scene.place == "sea":
            near, far = 4.0, 9.0
        depth = near + (far - near) * _b(h, 2)
        foot, reach = CAMERA_HEIGHT / depth, 2.2 / depth  # the tallest thing is about 2.2 high at depth 1
        if x - reach / 2 < x1 and x + reach / 2 > x0 and foot - reach < y1 and foot > y0:
            continue  # it would cover part of the picture it extends: that part stays as it was
        colour = _default_colour(c, kind, h) if kind in ("car", "person", "boat", "flower") else None
        out.append(_jitter(c, _Obj(kind, x, depth, colour, h)))
    return out


def _fill(c: _Canvas, clear: list[_Obj]) -> list[Item]:
    """The place's own things, per world cell: trees of a forest, bushes and trees of a field, cacti…"""
    s = c.scene
    layout = c.frame.layout
    table: dict[str, list[tuple[float, float, str, float]]] = {
        # depth, cell width at depth 1, kind, chance per cell
        "forest": [
            (12.0, 0.3, "pine", 0.8),
            (9.0, 0.28, "pine", 0.9),
            (6.0, 0.3, "pine", 0.85),
            (4.2, 0.32, "pine", 0.8),
            (3.0, 0.36, "pine", 0.7),
            (2.0, 0.45, "pine", 0.55),
            (1.35, 0.6, "pine", 0.5),
        ],
        "field": [
            (9.0, 0.8, "tree", 0.35),
            (5.0, 0.8, "tree", 0.25),
            (3.0, 0.7, "bush", 0.3),
            (1.3, 0.45, "flower", 0.0 if s.snow_ground else 0.3 if s.season == "spring" else 0.12),
        ],
        "mountains": [(7.0, 0.35, "pine", 0.6), (4.0, 0.4, "pine", 0.4), (2.2, 0.6, "rock", 0.3)],
        "lake": [(2.6, 0.6, "bush", 0.3), (2.0, 0.9, "tree", 0.2)],
        "sea": [(2.0, 1.0, "rock", 0.25)],
        "desert": [(8.0, 0.8, "cactus", 0.3), (4.0, 0.8, "cactus", 0.3), (2.0, 0.8, "rock", 0.3)],
        "city": [(3.0, 0.7, "lamp", 0.6), (1.6, 0.9, "lamp", 0.4)],
    }
    if s.place == "forest" and s.season in ("autumn", "spring", "summer") and not s.snow_ground:
        table["forest"] = [(d, w, "tree" if k % 2 else "pine", p) for k, (d, w, _, p) in enumerate(table["forest"])]
    items: list[Item] = []
    for n, (depth, width_1, kind, chance) in enumerate(table[s.place]):
        width = width_1 / depth * (2.5 if depth > 8 else 1.0)
        foot = CAMERA_HEIGHT / depth
        if foot < c.y0 - 1.0 or foot > c.y1 + 2.0 / depth or 1.5 / depth * c.sy < 3:
            continue  # out of the view, or things of under 3 pixels (far zoomed out): not drawn at all
        for i in _cells(c.x0 - 0.5 / depth, c.x1 + 0.5 / depth, width):
            h = _mix(layout, 301, n, i)
            if _b(h, 0) > chance:
                continue
            x = (i + 0.15 + _b(h, 1) * 0.7) * width
            d = depth * (0.93 + _b(h, 2) * 0.14)
            if s.place == "city":
                x = _composition(layout)[0] + (0.35 if i % 2 else -0.35) * (3.0 / depth) + (i * width) * 0.0
                if i > _cell(c.x0 / width) + 1:
                    break
            if any(abs(x - o.x) < 0.5 and d < o.depth + 0.6 for o in clear):
                continue  # keep a clearing for the named things
            obj = _jitter(c, _Obj(kind, x, d, None, _mix(layout, 302, n, i)))
            items.append((obj.depth, _drawer(c, obj)))
    if s.place == "forest":  # the far treeline, as one jagged band
        items.append((30.0, lambda: _treeline(c, 22.0)))
    return items


def _treeline(c: _Canvas, depth: float) -> None:
    foot = c.py(CAMERA_HEIGHT / depth)
    step = 0.02
    points: list[tuple[float, float]] = [(0, foot + 2)]
    for i in _cells(c.x0, c.x1, step):
        x = i * step
        top = 0.07 + _u(c.frame.layout, 311, i) * 0.07
        points += [(c.px(x), foot), (c.px(x + step / 2), c.py(CAMERA_HEIGHT / depth - top)), (c.px(x + step), foot)]
    points.append((c.w, foot + 2))
    c.draw.polygon(points, fill=c.haze(_lerp(c.pal["leaf2"], (0, 0, 0), 0.3), depth))
    c.drawn.add("forest")


def _drawer(c: _Canvas, o: _Obj) -> Callable[[], None]:
    draw = _DRAWERS.get(o.kind, _draw_rock)

    def run() -> None:
        if o.sky_y is not None:
            if o.kind == "cloud":
                _cloud(c, o.x, o.sky_y, o.ident, _cloud_colour(c))
            else:
                _draw_bird(c, o, c.px(o.x), c.py(o.sky_y), c.sy / 3)
            return
        foot = CAMERA_HEIGHT / o.depth
        u = c.sy / o.depth  # pixels per world unit at this depth
        px, py = c.px(o.x), c.py(foot)
        if py - 3 * u > c.h or py < -0.5 * u or px < -2 * u or px > c.w + 2 * u:
            return  # out of the picture
        draw(c, o, px, py, u)
        c.drawn.add(o.kind)

    return run


def _shade(c: _Canvas, colour: RGB, o: _Obj) -> RGB:
    """A thing's own colour in the scene's light and air."""
    light = int(c.pal["light"][0]) / 100
    if o.hero:  # what the prompt names stays legible: more light, and only half the light's colour
        return c.haze(_lit(colour, max(0.7, light), _lerp(c.pal["warm"], (255, 255, 255), 0.5)), o.depth)
    return c.haze(_lit(colour, max(0.22, light), c.pal["warm"]), o.depth)


def _poly(c: _Canvas, points: list[tuple[float, float]], colour: RGB) -> None:
    c.draw.polygon(points, fill=colour)


def _rect(c: _Canvas, box: tuple[float, float, float, float], colour: RGB) -> None:
    x0, y0, x1, y1 = box
    c.draw.rectangle((min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1)), fill=colour)


def _ell(c: _Canvas, x: float, y: float, rx: float, ry: float, colour: RGB) -> None:
    c.draw.ellipse((x - rx, y - ry, x + rx, y + ry), fill=colour)


def _draw_pine(c: _Canvas, o: _Obj, x: float, y: float, u: float) -> None:
    h = (1.3 + _u(o.ident, 1) * 0.7) * u
    green = _shade(c, _lerp(c.pal["leaf2"], (10, 40, 25), 0.35 + 0.3 * _u(o.ident, 2)), o)
    snow = c.scene.snow_ground
    white = c.haze(c.pal["snow"], o.depth)
    if h < 26:  # a far pine is a few pixels: one triangle (and its snow) reads the same and costs a third
        _poly(c, [(x - h * 0.28, y), (x + h * 0.28, y), (x, y - h)], green)
        if snow:
            _poly(c, [(x - h * 0.1, y - h * 0.62), (x + h * 0.1, y - h * 0.62), (x, y - h)], white)
        return
    _rect(c, (x - 0.03 * u, y - 0.25 * h, x + 0.03 * u, y), _shade(c, (80, 55, 35), o))
    for k in range(3):
        bottom = y - h * (0.15 + 0.25 * k)
        top = y - h * (0.55 + 0.22 * k)
        half = h * (0.3 - 0.07 * k)
        _poly(c, [(x - half, bottom), (x + half, bottom), (x, top)], green)
        if snow:
            _poly(c, [(x - half * 0.45, top + (bottom - top) * 0.45), (x + half * 0.45, top + (bottom - top) * 0.45),
                      (x, top)], white)  # fmt: skip


def _draw_tree(c: _Canvas, o: _Obj, x: float, y: float, u: float) -> None:
    h = (1.2 + _u(o.ident, 1) * 0.6) * u * (1.3 if o.kind == "tree" and o.colour is None and o.depth < 3 else 1.0)
    trunk = _shade(c, (95, 65, 40), o)
    _rect(c, (x - 0.05 * h, y - 0.55 * h, x + 0.05 * h, y), trunk)
    if c.scene.season == "winter" or (c.scene.snow_ground and c.scene.season != "spring"):
        for k in range(5):  # bare branches
            a = -math.pi / 2 + (k - 2) * 0.45
            c.draw.line((x, y - 0.45 * h, x + math.cos(a) * 0.4 * h, y - 0.45 * h + math.sin(a) * 0.45 * h),
                        fill=trunk, width=max(1, round(0.02 * h)))  # fmt: skip
        return
    leaves = [c.pal["leaf0"], c.pal["leaf1"], c.pal["leaf2"]]
    if o.colour is not None:
        leaves = [o.colour, _scale(o.colour, 0.85), _scale(o.colour, 1.1)]
    for k in range(4):
        ox, oy = (_u(o.ident, 10 + k) - 0.5) * 0.35 * h, -0.72 * h + (_u(o.ident, 20 + k) - 0.5) * 0.25 * h
        r = (0.2 + _u(o.ident, 30 + k) * 0.1) * h
        _ell(c, x + ox, y + oy, r, r * 0.9, _shade(c, leaves[k % 3], o))
    if 0.02 * h > 3:  # leaves' highlights once the crown is large
        for k in range(10):
            ox, oy = (_u(o.ident, 40 + k) - 0.5) * 0.5 * h, -0.75 * h + (_u(o.ident, 50 + k) - 0.5) * 0.4 * h
            _ell(c, x + ox, y + oy, 0.03 * h, 0.02 * h, _shade(c, _scale(leaves[k % 3], 1.25), o))


def _window(c: _Canvas, box: tuple[float, float, float, float], o: _Obj) -> None:
    lit = c.scene.time in ("night", "dusk")
    _rect(c, box, (255, 205, 110) if lit else _shade(c, (150, 190, 220), o))
    x0, y0, x1, y1 = box
    if x1 - x0 > 6:  # panes, when a window is big enough to have them
        frame = _shade(c, (60, 45, 35), o)
        c.draw.line(((x0 + x1) / 2, y0, (x0 + x1) / 2, y1), fill=frame, width=max(1, round((x1 - x0) / 12)))
        c.draw.line((x0, (y0 + y1) / 2, x1, (y0 + y1) / 2), fill=frame, width=max(1, round((x1 - x0) / 12)))


def _draw_house(c: _Canvas, o: _Obj, x: float, y: float, u: float) -> None:
    cabin = o.kind == "cabin"
    wall = _shade(c, o.colour or (210, 190, 160), o)
    w, hw = (0.95 if cabin else 0.85) * u, (0.42 if cabin else 0.5) * u
    roof = _shade(c, (70, 45, 35) if cabin else (150, 60, 50), o)
    _rect(
        c, (x - w / 2 + 0.7 * w, y - hw - 0.3 * u, x - w / 2 + 0.82 * w, y - hw + 0.1 * u), _shade(c, (110, 90, 80), o)
    )
    _rect(c, (x - w / 2, y - hw, x + w / 2, y), wall)
    if cabin and 0.06 * u > 3:  # the logs
        dark = _scale(wall, 0.7)
        for k in range(1, 7):
            ly = y - hw * k / 7
            c.draw.line((x - w / 2, ly, x + w / 2, ly), fill=dark, width=max(1, round(0.012 * u)))
    peak = y - hw - (0.42 if cabin else 0.38) * u
    _poly(c, [(x - w / 2 - 0.08 * u, y - hw + 1), (x + w / 2 + 0.08 * u, y - hw + 1), (x, peak)], roof)
    if c.scene.snow_ground:
        _poly(c, [(x - w * 0.3, y - hw - 0.25 * u), (x + w * 0.3, y - hw - 0.25 * u), (x, y - hw - 0.41 * u)],
              c.haze(c.pal["snow"], o.depth))  # fmt: skip
    _rect(c, (x - 0.08 * u, y - 0.28 * u, x + 0.08 * u, y), _shade(c, (90, 55, 35), o))
    _window(c, (x - w * 0.38, y - hw * 0.7, x - w * 0.2, y - hw * 0.35), o)
    _window(c, (x + w * 0.2, y - hw * 0.7, x + w * 0.38, y - hw * 0.35), o)
    if cabin or c.scene.snow_ground:  # smoke from the chimney
        smoke = _lerp(c.pal["mid"], (200, 200, 205), 0.5)
        for k in range(4):
            _ell(c, x - w / 2 + 0.76 * w + k * 0.06 * u, y - hw - (0.38 + 0.12 * k) * u, (0.05 + 0.02 * k) * u,
                 (0.04 + 0.015 * k) * u, smoke)  # fmt: skip


def _draw_car(c: _Canvas, o: _Obj, x: float, y: float, u: float) -> None:
    u *= 1.2
    body = _shade(c, o.colour or (200, 40, 40), o)
    w = 0.9 * u
    _poly(c, [(x - w * 0.28, y - 0.16 * u), (x - w * 0.18, y - 0.3 * u), (x + w * 0.18, y - 0.3 * u),
              (x + w * 0.3, y - 0.16 * u)], body)  # fmt: skip
    glass = _shade(c, (160, 200, 230), o) if c.scene.time != "night" else (40, 50, 70)
    _poly(c, [(x - w * 0.22, y - 0.17 * u), (x - w * 0.15, y - 0.27 * u), (x - w * 0.01, y - 0.27 * u),
              (x - w * 0.01, y - 0.17 * u)], glass)  # fmt: skip
    _poly(c, [(x + w * 0.02, y - 0.17 * u), (x + w * 0.02, y - 0.27 * u), (x + w * 0.15, y - 0.27 * u),
              (x + w * 0.24, y - 0.17 * u)], glass)  # fmt: skip
    c.draw.rounded_rectangle((x - w / 2, y - 0.18 * u, x + w / 2, y - 0.05 * u), radius=max(1, 0.04 * u), fill=body)
    for k in (-0.3, 0.3):
        _ell(c, x + k * w, y - 0.05 * u, 0.075 * u, 0.075 * u, (25, 25, 28))
        _ell(c, x + k * w, y - 0.05 * u, 0.035 * u, 0.035 * u, (160, 160, 165))
    lamp = (255, 240, 170) if c.scene.time in ("night", "dusk") else _shade(c, (230, 230, 210), o)
    _ell(c, x + w / 2 - 0.03 * u, y - 0.14 * u, 0.03 * u, 0.025 * u, lamp)
    if c.scene.time == "night":
        _poly(c, [(x + w / 2, y - 0.16 * u), (x + w / 2 + 0.8 * u, y - 0.3 * u), (x + w / 2 + 0.8 * u, y + 0.02 * u),
                  (x + w / 2, y - 0.11 * u)], _lerp(c.pal["near"], (255, 240, 170), 0.35))  # fmt: skip


def _draw_person(c: _Canvas, o: _Obj, x: float, y: float, u: float) -> None:
    skin = _shade(c, (225, 180, 145), o)
    cloth = _shade(c, o.colour or (60, 90, 160), o)
    legs = _shade(c, (50, 50, 70), o)
    lw = max(1, round(0.05 * u))
    c.draw.line((x - 0.05 * u, y, x - 0.03 * u, y - 0.38 * u), fill=legs, width=lw)
    c.draw.line((x + 0.05 * u, y, x + 0.03 * u, y - 0.38 * u), fill=legs, width=lw)
    _poly(c, [(x - 0.1 * u, y - 0.38 * u), (x + 0.1 * u, y - 0.38 * u), (x + 0.08 * u, y - 0.7 * u),
              (x - 0.08 * u, y - 0.7 * u)], cloth)  # fmt: skip
    c.draw.line((x - 0.08 * u, y - 0.68 * u, x - 0.15 * u, y - 0.42 * u), fill=cloth, width=lw)
    c.draw.line((x + 0.08 * u, y - 0.68 * u, x + 0.15 * u, y - 0.42 * u), fill=cloth, width=lw)
    _ell(c, x, y - 0.8 * u, 0.08 * u, 0.09 * u, skin)
    _ell(c, x, y - 0.86 * u, 0.085 * u, 0.045 * u, _shade(c, (60, 40, 30), o))


def _draw_cat(c: _Canvas, o: _Obj, x: float, y: float, u: float) -> None:
    u *= 1.4
    fur = _shade(c, o.colour or (230, 140, 60), o)
    _ell(c, x, y - 0.11 * u, 0.1 * u, 0.11 * u, fur)  # sitting body
    c.draw.arc((x, y - 0.2 * u, x + 0.25 * u, y + 0.0 * u), 90, 300, fill=fur, width=max(1, round(0.025 * u)))
    hx, hy = x - 0.02 * u, y - 0.27 * u
    _ell(c, hx, hy, 0.075 * u, 0.065 * u, fur)
    _poly(c, [(hx - 0.07 * u, hy - 0.02 * u), (hx - 0.055 * u, hy - 0.12 * u), (hx - 0.015 * u, hy - 0.05 * u)], fur)
    _poly(c, [(hx + 0.07 * u, hy - 0.02 * u), (hx + 0.055 * u, hy - 0.12 * u), (hx + 0.015 * u, hy - 0.05 * u)], fur)
    eye = (120, 220, 90) if c.scene.time == "night" else (30, 30, 30)
    for k in (-1, 1):
        _ell(c, hx + k * 0.028 * u, hy - 0.005 * u, 0.012 * u, 0.014 * u, eye)


def _draw_quadruped(c: _Canvas, o: _Obj, x: float, y: float, u: float) -> None:
    dog = o.kind == "dog"
    size = 1.0 if dog else {"horse": 2.0, "cow": 1.9, "deer": 1.7, "bear": 1.8}.get(_animal_word(c, o), 1.2)
    k = u * size
    fur = _shade(c, o.colour or (180, 130, 70), o)
    lw = max(1, round(0.03 * k))
    for dx in (-0.13, -0.08, 0.08, 0.13):
        c.draw.line((x + dx * k, y - 0.2 * k, x + dx * k, y), fill=fur, width=lw)
    _ell(c, x, y - 0.22 * k, 0.18 * k, 0.08 * k, fur)
    hx, hy = x + 0.2 * k, y - 0.33 * k
    c.draw.line((x + 0.12 * k, y - 0.24 * k, hx, hy), fill=fur, width=max(1, round(0.06 * k)))
    _ell(c, hx, hy, 0.06 * k, 0.05 * k, fur)
    _ell(c, hx + 0.06 * k, hy + 0.015 * k, 0.04 * k, 0.025 * k, fur)  # snout
    ear = _scale(fur, 0.7)
    if dog:
        _ell(c, hx - 0.03 * k, hy + 0.02 * k, 0.02 * k, 0.05 * k, ear)
    else:
        _poly(c, [(hx - 0.04 * k, hy - 0.03 * k), (hx - 0.02 * k, hy - 0.11 * k), (hx + 0.01 * k, hy - 0.04 * k)], ear)
    c.draw.line((x - 0.17 * k, y - 0.25 * k, x - 0.27 * k, y - 0.33 * k), fill=fur, width=lw)  # tail
    _ell(c, hx + 0.01 * k, hy - 0.01 * k, 0.008 * k, 0.008 * k, (20, 20, 20))


def _animal_word(c: _Canvas, o: _Obj) -> str:
    return next((t.word for t in c.scene.things if t.kind == "animal"), "")


def _draw_flower(c: _Canvas, o: _Obj, x: float, y: float, u: float) -> None:
    petal = _shade(c, o.colour or (230, 60, 80), o)
    stem = _shade(c, (50, 130, 50), o)
    count = 5 if o.kind == "flower" else 1
    for k in range(count):
        fx = x + (k - count // 2) * 0.09 * u + (_u(o.ident, k) - 0.5) * 0.04 * u
        fy = y - (0.14 + _u(o.ident, 10 + k) * 0.06) * u
        c.draw.line((fx, y, fx, fy), fill=stem, width=max(1, round(0.012 * u)))
        r = 0.022 * u
        for a in range(5):
            ang = a * 2 * math.pi / 5
            _ell(c, fx + math.cos(ang) * r, fy + math.sin(ang) * r, r, r, petal)
        _ell(c, fx, fy, r * 0.8, r * 0.8, (250, 215, 60))


def _draw_boat(c: _Canvas, o: _Obj, x: float, y: float, u: float) -> None:
    hull = _shade(c, (120, 70, 40) if o.colour is None else _scale(o.colour, 0.8), o)
    sail = _shade(c, o.colour or (245, 245, 240), o)
    _poly(c, [(x - 0.4 * u, y - 0.1 * u), (x + 0.4 * u, y - 0.1 * u), (x + 0.3 * u, y), (x - 0.3 * u, y)], hull)
    c.draw.line((x, y - 0.1 * u, x, y - 0.75 * u), fill=_shade(c, (90, 70, 50), o), width=max(1, round(0.015 * u)))
    _poly(c, [(x + 0.02 * u, y - 0.72 * u), (x + 0.02 * u, y - 0.14 * u), (x + 0.32 * u, y - 0.14 * u)], sail)
    _poly(
        c, [(x - 0.02 * u, y - 0.6 * u), (x - 0.02 * u, y - 0.14 * u), (x - 0.22 * u, y - 0.14 * u)], _scale(sail, 0.9)
    )


def _draw_bicycle(c: _Canvas, o: _Obj, x: float, y: float, u: float) -> None:
    frame = _shade(c, o.colour or (200, 40, 40), o)
    tyre = _shade(c, (30, 30, 30), o)
    r, lw = 0.13 * u, max(1, round(0.02 * u))
    back, front = (x - 0.22 * u, y - r), (x + 0.22 * u, y - r)
    for cx, cy in (back, front):
        c.draw.ellipse((cx - r, cy - r, cx + r, cy + r), outline=tyre, width=lw)
    seat, bar, crank = (x - 0.08 * u, y - 0.33 * u), (x + 0.15 * u, y - 0.36 * u), (x, y - r)
    c.draw.line([back, crank, seat, back], fill=frame, width=lw)
    c.draw.line([crank, (x + 0.13 * u, y - 0.3 * u), seat], fill=frame, width=lw)
    c.draw.line([(x + 0.13 * u, y - 0.3 * u), front], fill=frame, width=lw)
    c.draw.line([(x + 0.13 * u, y - 0.3 * u), bar], fill=frame, width=lw)
    c.draw.line([(seat[0] - 0.04 * u, seat[1]), (seat[0] + 0.04 * u, seat[1])], fill=tyre, width=lw * 2)


def _draw_lighthouse(c: _Canvas, o: _Obj, x: float, y: float, u: float) -> None:
    h, bw, tw = 1.9 * u, 0.2 * u, 0.12 * u
    _ell(c, x, y, 0.45 * u, 0.12 * u, _shade(c, (105, 100, 95), o))  # its rock
    red, white = _shade(c, (200, 40, 40), o), _shade(c, o.colour or (245, 245, 245), o)
    for k in range(6):
        b, t = y - h * k / 6, y - h * (k + 1) / 6
        wb, wt = bw + (tw - bw) * k / 6, bw + (tw - bw) * (k + 1) / 6
        _poly(c, [(x - wb, b), (x + wb, b), (x + wt, t), (x - wt, t)], red if k % 2 else white)
    top = y - h
    lamp = (255, 235, 140) if c.scene.time in ("night", "dusk", "dawn") else _shade(c, (200, 220, 230), o)
    _rect(c, (x - tw * 0.8, top - 0.16 * u, x + tw * 0.8, top), lamp)
    _poly(c, [(x - tw * 1.1, top - 0.16 * u), (x + tw * 1.1, top - 0.16 * u), (x, top - 0.3 * u)], red)
    if c.scene.time in ("night", "dusk"):
        beam = _lerp(c.pal["mid"], (255, 240, 170), 0.35)
        _poly(c, [(x + tw, top - 0.1 * u), (x + 1.6 * u, top - 0.3 * u), (x + 1.6 * u, top + 0.1 * u)], beam)


def _draw_bird(c: _Canvas, o: _Obj, x: float, y: float, u: float) -> None:
    colour = _shade(c, o.colour or (40, 40, 45), o)
    for k in range(3):
        bx = x + (_u(o.ident, k) - 0.5) * 0.8 * u
        by = y - (1.2 + _u(o.ident, 5 + k) * 0.8) * u
        s = 0.06 * u
        c.draw.line([(bx - s, by - s * 0.5), (bx, by), (bx + s, by - s * 0.5)], fill=colour, width=max(1, round(s / 5)))


def _draw_rock(c: _Canvas, o: _Obj, x: float, y: float, u: float) -> None:
    colour = _shade(c, (120, 118, 112), o) if not c.scene.snow_ground else c.haze(c.pal["snow"], o.depth)
    if o.kind == "bush":
        colour = _shade(c, c.pal["leaf2"], o) if not c.scene.snow_ground else c.haze(c.pal["snow"], o.depth)
    w = (0.12 + _u(o.ident, 1) * 0.12) * u
    _ell(c, x, y - w * 0.35, w, w * 0.6, colour)


def _draw_cactus(c: _Canvas, o: _Obj, x: float, y: float, u: float) -> None:
    green = _shade(c, (60, 130, 70), o)
    lw = max(1, round(0.07 * u))
    c.draw.line((x, y, x, y - 0.6 * u), fill=green, width=lw)
    c.draw.line([(x, y - 0.3 * u), (x - 0.14 * u, y - 0.3 * u), (x - 0.14 * u, y - 0.45 * u)], fill=green, width=lw)
    c.draw.line([(x, y - 0.38 * u), (x + 0.12 * u, y - 0.38 * u), (x + 0.12 * u, y - 0.52 * u)], fill=green, width=lw)


def _draw_lamp(c: _Canvas, o: _Obj, x: float, y: float, u: float) -> None:
    pole = _shade(c, (60, 60, 65), o)
    c.draw.line((x, y, x, y - 0.9 * u), fill=pole, width=max(1, round(0.02 * u)))
    on = c.scene.time in ("night", "dusk")
    if on:
        _ell(c, x, y - 0.9 * u, 0.12 * u, 0.12 * u, _lerp(c.pal["top"], (255, 220, 140), 0.35))
    _ell(c, x, y - 0.9 * u, 0.035 * u, 0.035 * u, (255, 225, 150) if on else pole)


def _draw_castle(c: _Canvas, o: _Obj, x: float, y: float, u: float) -> None:
    stone = _shade(c, o.colour or (150, 148, 140), o)
    dark = _scale(stone, 0.75)
    w, h = 1.3 * u, 0.55 * u
    _rect(c, (x - w / 2, y - h, x + w / 2, y), stone)
    merlon = 0.07 * u
    for k in range(int(w / (2 * merlon))):  # the battlements
        mx = x - w / 2 + k * 2 * merlon
        _rect(c, (mx, y - h - merlon, mx + merlon, y - h), stone)
    for side in (-1, 1):  # a tower at each end, with a pointed roof
        tx = x + side * w / 2
        _rect(c, (tx - 0.14 * u, y - 0.9 * u, tx + 0.14 * u, y), dark)
        roof = [(tx - 0.18 * u, y - 0.9 * u), (tx + 0.18 * u, y - 0.9 * u), (tx, y - 1.2 * u)]
        _poly(c, roof, _shade(c, (60, 70, 130), o))
        _window(c, (tx - 0.04 * u, y - 0.7 * u, tx + 0.04 * u, y - 0.58 * u), o)
    gate = _shade(c, (50, 35, 25), o)
    c.draw.chord((x - 0.15 * u, y - 0.4 * u, x + 0.15 * u, y - 0.1 * u), 180, 360, fill=gate)
    _rect(c, (x - 0.15 * u, y - 0.25 * u, x + 0.15 * u, y), gate)


def _draw_tent(c: _Canvas, o: _Obj, x: float, y: float, u: float) -> None:
    cloth = _shade(c, o.colour or (230, 120, 40), o)
    _poly(c, [(x - 0.45 * u, y), (x + 0.45 * u, y), (x, y - 0.5 * u)], cloth)
    _poly(c, [(x - 0.1 * u, y), (x + 0.1 * u, y), (x, y - 0.3 * u)], _scale(cloth, 0.45))
    if c.scene.time in ("night", "dusk"):  # a lantern inside
        _poly(c, [(x - 0.07 * u, y), (x + 0.07 * u, y), (x, y - 0.2 * u)], (255, 210, 120))


_DRAWERS: dict[str, Callable[[_Canvas, _Obj, float, float, float], None]] = {
    "pine": _draw_pine, "tree": _draw_tree, "house": _draw_house, "cabin": _draw_house, "car": _draw_car,
    "person": _draw_person, "cat": _draw_cat, "dog": _draw_quadruped, "animal": _draw_quadruped,
    "flower": _draw_flower, "boat": _draw_boat, "bicycle": _draw_bicycle, "lighthouse": _draw_lighthouse,
    "castle": _draw_castle, "tent": _draw_tent, "bird": _draw_bird, "rock": _draw_rock, "bush": _draw_rock,
    "cactus": _draw_cactus, "lamp": _draw_lamp,
}  # fmt: skip


# -- weather over everything -----------------------------------------------------------------------


def _weather(c: _Canvas) -> None:
    s, pal = c.scene, c.pal
    if s.weather in ("rain", "storm"):
        streak = _lerp(pal["mid"], (220, 225, 235), 0.45)
        size = _spacing(c, 0.1)
        for i in _cells(c.x0, c.x1, size):
            for j in _cells(c.y0, c.y1, size):
                h = _mix(c.frame.layout, 401, i, j)
                x, y = (i + _b(h, 1)) * size, (j + _b(h, 2)) * size
                c.draw.line(
                    (c.px(x), c.py(y), c.px(x - 0.015), c.py(y + 0.07)), fill=streak, width=max(1, round(0.003 * c.sx))
                )
        if s.weather == "storm":  # one bolt of lightning
            x, y = _composition(c.frame.layout)[0] + (_u(c.frame.layout, 402) - 0.5), -1.0
            points = [(c.px(x), c.py(y))]
            for k in range(7):
                x += (_u(c.frame.layout, 403, k) - 0.5) * 0.12
                y += 0.13
                points.append((c.px(x), c.py(y)))
            c.draw.line(points, fill=(250, 250, 220), width=max(1, round(0.008 * c.sx)))
    elif s.weather == "snow":
        size = _spacing(c, 0.1)
        flake = (250, 250, 255)
        small: list[tuple[float, float]] = []
        for i in _cells(c.x0, c.x1, size):
            for j in _cells(c.y0, c.y1, size):
                h = _mix(c.frame.layout, 411, i, j)
                x, y = (i + _b(h, 1)) * size, (j + _b(h, 2)) * size
                r = max(0.7, 0.005 * c.sx * (0.5 + _b(h, 3)))
                px, py = c.px(x), c.py(y)
                if r < 1.5:  # a flake of a pixel or two: squares of points, all drawn in one call
                    small += [(px, py), (px + 1, py), (px, py + 1), (px + 1, py + 1)]
                else:
                    c.draw.ellipse((px - r, py - r, px + r, py + r), fill=flake)
        c.draw.point(small, fill=flake)
    elif s.weather == "fog":
        fog = Image.new("RGB", c.image.size, _lerp(pal["haze"], (230, 230, 232), 0.4 if s.time != "night" else 0.0))
        mask = Image.new("L", (1, c.h))
        horizon = c.py(0.0)
        mask.putdata([round(150 * math.exp(-abs(row - horizon) / (0.6 * c.sy))) + 40 for row in range(c.h)])
        c.image.paste(Image.composite(fog, c.image, mask.resize(c.image.size)), (0, 0))
        c.drawn.add("fog")
