"""What the local provider does for /describe and /blend, as pure functions of image bytes (worker threads).

Describe reads what is really in the picture: its shape (the nearest common aspect ratio), its brightness,
its dominant colours by name and, for a picture the local provider drew itself, what it drew (read back
from the PNG through ``bot.core.providers._scene`` where that module exists). Blend mixes the images tile
by tile, each tile leaning on another image, so the grid is a real blend of what was given.
"""

from __future__ import annotations

import io
import math
import random
from pathlib import Path

from PIL import Image, ImageChops, ImageOps, ImageStat

from bot.core.netguard import open_image
from bot.core.providers._scene import read_scene

__all__ = ["blend_grid", "describe", "store_sources"]

# Named colours a prompt can use; the nearest (in RGB) names a dominant colour.
_COLOUR_NAMES: dict[str, tuple[int, int, int]] = {
    "black": (15, 15, 15), "charcoal": (54, 69, 79), "grey": (128, 128, 128), "silver": (192, 192, 192),
    "white": (245, 245, 245), "crimson": (200, 20, 50), "red": (220, 40, 30), "coral": (255, 127, 80),
    "orange": (245, 140, 20), "amber": (255, 190, 0), "gold": (212, 175, 55), "yellow": (245, 225, 50),
    "olive": (128, 128, 0), "lime": (150, 220, 50), "green": (40, 160, 60), "emerald": (20, 120, 80),
    "teal": (0, 128, 128), "turquoise": (64, 224, 208), "cyan": (40, 200, 230), "sky blue": (135, 200, 235),
    "blue": (40, 80, 210), "navy": (20, 30, 90), "indigo": (75, 0, 130), "violet": (140, 80, 200),
    "purple": (120, 40, 140), "magenta": (210, 40, 170), "pink": (240, 150, 180), "brown": (120, 75, 40),
    "tan": (210, 180, 140), "beige": (225, 215, 185),
}  # fmt: skip
# Aspect ratios a prompt names, and what a picture of that shape is called in Midjourney's words.
_ASPECTS = ("1:1", "4:5", "5:4", "2:3", "3:2", "3:4", "4:3", "9:16", "16:9", "21:9", "1:2", "2:1")
# Long side of the sources kept for a blend: plenty for a tile, small on disk.
SOURCE_LONG_SIDE = 768
MAX_SOURCES = 5


def _nearest_aspect(width: int, height: int) -> str:
    ratio = math.log(width / height)
    return min(_ASPECTS, key=lambda a: abs(math.log(int(a.split(":")[0]) / int(a.split(":")[1])) - ratio))


def _colour_name(rgb: tuple[int, ...]) -> str:
    return min(
        _COLOUR_NAMES, key=lambda name: sum((a - b) ** 2 for a, b in zip(_COLOUR_NAMES[name], rgb, strict=False))
    )


def dominant_colours(image: Image.Image, count: int = 3) -> list[str]:
    """The names of the image's most common colours, most common first, without repeats."""
    small = image.convert("RGB").resize((64, 64))
    quantised = small.quantize(colors=8, method=Image.Quantize.MEDIANCUT)
    palette = quantised.getpalette() or []
    names: list[str] = []
    colours = [(count, int(index)) for count, index in quantised.getcolors() or [] if isinstance(index, int)]
    for _, index in sorted(colours, reverse=True):
        name = _colour_name(tuple(palette[index * 3 : index * 3 + 3]))
        if name not in names:
            names.append(name)
        if len(names) == count:
            break
    while len(names) < count:
        names.append(names[-1] if names else "grey")
    return names


def _brightness_words(image: Image.Image) -> tuple[str, str]:
    """(light, mood) words from the mean brightness and contrast."""
    stat = ImageStat.Stat(image.convert("L"))
    mean, spread = stat.mean[0], stat.stddev[0]
    if mean < 70:
        light = "dark, low-key"
    elif mean < 120:
        light = "dim, moody"
    elif mean < 180:
        light = "soft daylight"
    else:
        light = "bright, high-key"
    mood = "high contrast" if spread > 60 else "gentle contrast" if spread > 30 else "flat, muted"
    return light, mood


def _scene_words(data: bytes) -> str | None:
    """What the local provider drew in this PNG (the scene it embeds, ``_scene.read_scene``), in words:
    "a cabin, pines and a moon by a lake, at night in winter, snow"; None for any other picture."""
    scene = read_scene(data)
    if scene is None:
        return None
    objects = [str(o) for o in scene.get("objects") or [] if isinstance(o, str)][:4]
    place, time, weather, season = (scene.get(k) for k in ("place", "time", "weather", "season"))
    things = ", ".join(objects[:-1]) + f" and {objects[-1]}" if len(objects) > 1 else "".join(objects)
    where = f" in the {place}" if isinstance(place, str) and place not in objects else ""
    words = [f"{things or 'a landscape'}{where}"]
    when = " ".join(
        w
        for w in (f"at {time}" if isinstance(time, str) else "", f"in {season}" if isinstance(season, str) else "")
        if w
    )
    if when:
        words.append(when)
    if isinstance(weather, str) and weather != "clear":
        words.append(weather)
    return ", ".join(words)[:200]


def describe(data: bytes) -> list[str]:
    """Four prompt suggestions that follow from the picture, each ending with its shape as ``--ar``."""
    with open_image(data) as source:
        image = source.convert("RGB")
    aspect = _nearest_aspect(image.width, image.height)
    first, second, third = dominant_colours(image)
    light, mood = _brightness_words(image)
    subject = _scene_words(data)
    orientation = (
        "portrait"
        if image.height > image.width * 1.1
        else "landscape"
        if image.width > image.height * 1.1
        else "square"
    )
    lead = subject or f"abstract shapes in {first} and {second}"
    return [
        f"{lead}, {light}, {mood}, {third} accents --ar {aspect}",
        f"a {orientation} view of {subject}, a {first} and {second} palette, {light} --ar {aspect}"
        if subject
        else f"a {orientation} composition of {first} forms over a {second} gradient, {light} --ar {aspect}",
        f"{first}, {second} and {third} colour study, soft geometric shapes, {mood} --ar {aspect}",
        f"minimal poster, {first} on {second}, {light} tones, clean edges --ar {aspect}",
    ]


def store_sources(directory: Path, images: list[bytes]) -> None:
    """Decode (under the image guard's pixel limit) and keep a blend's images as PNGs in ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    for index, data in enumerate(images[:MAX_SOURCES], start=1):
        with open_image(data) as source:
            image = source.convert("RGB")
        image.thumbnail((SOURCE_LONG_SIDE, SOURCE_LONG_SIDE))
        buffer = io.BytesIO()
        image.save(buffer, format="PNG", compress_level=3)
        temporary = directory / f"source_{index}.tmp"
        temporary.write_bytes(buffer.getvalue())
        temporary.replace(directory / f"source_{index}.png")


def blend_grid(directory: Path, count: int, seed: int, tile: tuple[int, int]) -> Image.Image:
    """Four tiles, each a weighted mix of every image (fitted to the tile), leaning on a different one."""
    sources = [
        ImageOps.fit(Image.open(directory / f"source_{i}.png").convert("RGB"), tile) for i in range(1, count + 1)
    ]
    rng = random.Random(seed)
    tiles = []
    for index in range(4):
        lead = index % count
        weights = [rng.uniform(0.4, 1.0) for _ in sources]
        weights[lead] += 0.8
        mixed = sources[0]
        total = weights[0]
        for source, weight in zip(sources[1:], weights[1:], strict=True):
            total += weight
            mixed = Image.blend(mixed, source, weight / total)
        # A soft light pass of the lead image keeps its shapes readable through the mix.
        tiles.append(Image.blend(mixed, ImageChops.soft_light(mixed, sources[lead]), 0.5))
    width, height = tile
    grid = Image.new("RGB", (width * 2, height * 2))
    for i, picture in enumerate(tiles):
        grid.paste(picture, ((i % 2) * width, (i // 2) * height))
    return grid


def zoom_out(source: Image.Image, factor: float) -> Image.Image:
    """The picture shrunk by ``factor`` in the middle of a frame of its own size, the frame filled from the
    picture's edges (stretched and blurred), as an outpaint would continue it."""
    width, height = source.size
    small = source.resize((max(1, round(width / factor)), max(1, round(height / factor))))
    frame = source.resize((8, 8)).resize(source.size, Image.Resampling.BICUBIC)
    frame.paste(small, ((width - small.width) // 2, (height - small.height) // 2))
    return frame


# Frames per second of the local provider's animations: smooth enough for a slow zoom, light to encode.
VIDEO_FPS = 12
# Seconds of an Animate, and added by each Extend. Midjourney makes 5 s and adds 4 s; the local provider
# keeps clips short so a test or the playground encodes them in a moment.
ANIMATE_SECONDS = 2.0
EXTEND_SECONDS = 1.0
# How far the camera moves per second: zoom factor gained, and the pan as a share of the width.
_MOTION = {"high": (0.16, 0.05), "low": (0.05, 0.015)}


def video_frames(source: Image.Image, seconds: float, motion: str) -> list[Image.Image]:
    """A slow zoom into the picture with a drift sideways; each second continues the last, so an
    extension starts where the clip it extends ended."""
    zoom_rate, pan_rate = _MOTION.get(motion, _MOTION["low"])
    width, height = source.width // 2 * 2, source.height // 2 * 2  # H.264 wants even sides
    frames = []
    for index in range(max(2, round(seconds * VIDEO_FPS))):
        t = index / VIDEO_FPS
        zoom = 1.0 + zoom_rate * t
        crop_w, crop_h = width / zoom, height / zoom
        drift = min(width - crop_w, pan_rate * width * t)
        left, top = (width - crop_w) / 2 + drift / 2, (height - crop_h) / 2
        box = (left, top, left + crop_w, top + crop_h)
        frames.append(source.resize((width, height), Image.Resampling.BICUBIC, box=box))
    return frames


def encode_video(frames: list[Image.Image]) -> tuple[bytes, str]:
    """(bytes, file name): H.264 MP4 through PyAV (which ships its own FFmpeg) where it is installed, else an
    animated GIF drawn by Pillow, which every Discord client shows inline too."""
    try:
        import av  # an optional dependency: ~35 MB of codec libraries
    except ImportError:
        return _gif(frames), "video.gif"
    buffer = io.BytesIO()
    try:
        # In memory, so no "faststart" (it rewrites a file): a clip this small is fetched whole before it plays.
        with av.open(buffer, mode="w", format="mp4") as container:
            stream = container.add_stream("libx264", rate=VIDEO_FPS)
            stream.width, stream.height = frames[0].size
            stream.pix_fmt = "yuv420p"
            stream.options = {"crf": "26", "preset": "veryfast"}
            for frame in frames:
                for packet in stream.encode(av.VideoFrame.from_image(frame)):  # type: ignore[no-untyped-call]
                    container.mux(packet)
            for packet in stream.encode():
                container.mux(packet)
    except av.FFmpegError:
        # An FFmpeg built without H.264 (a distribution's own PyAV): the GIF still shows the animation.
        return _gif(frames), "video.gif"
    return buffer.getvalue(), "video.mp4"


def _gif(frames: list[Image.Image]) -> bytes:
    buffer = io.BytesIO()
    small = [frame.resize((frame.width // 2, frame.height // 2)) for frame in frames]
    small[0].save(buffer, format="GIF", save_all=True, append_images=small[1:], duration=1000 // VIDEO_FPS, loop=0)
    return buffer.getvalue()
