"""The clips a simulated provider serves for Animate and Extend: real short H.264 MP4s drawn from a picture.

Midjourney's video is four 5-second clips from a first frame (mj-verbs.md §11); a simulator only needs
something a player opens, so its clips are short (a second at 12 frames a second, 320 pixels on the long
side), small, and differ per clip (each drifts its own way) so that picking U2 visibly picks another one.
An Extend makes the clip longer by ``EXTEND_FRAMES``. PyAV (its own FFmpeg) encodes them; it is in the test extra.
"""

from __future__ import annotations

import io

from PIL import Image

__all__ = ["BASE_FRAMES", "EXTEND_FRAMES", "FPS", "render_clip"]

# Frames of a first clip and added by each extend: 1 s and 0.5 s at 12 fps, so a test encodes in a moment.
FPS = 12
BASE_FRAMES = 12
EXTEND_FRAMES = 6
# Long side of a clip: SD video is 480p; smaller keeps a simulated clip's encode to a fraction of a second.
CLIP_LONG_SIDE = 320
# How far each of the four clips drifts (share of the width/height over the clip), so they differ.
_DRIFTS = ((0.08, 0.0), (-0.08, 0.0), (0.0, 0.08), (0.0, -0.08))


def render_clip(picture: Image.Image, clip: int, frames: int, motion: str) -> bytes:
    """An MP4 of ``frames`` frames: a slow zoom into ``picture`` drifting the way clip ``clip`` (1-4) does;
    high motion zooms three times as fast as low."""
    import av  # the test extra's PyAV; imported here so the image-only simulators never need it

    source = picture.convert("RGB")
    source.thumbnail((CLIP_LONG_SIDE, CLIP_LONG_SIDE))
    width, height = source.width // 2 * 2, source.height // 2 * 2  # H.264 wants even sides
    drift_x, drift_y = _DRIFTS[(clip - 1) % 4]
    rate = 0.3 if motion == "high" else 0.1
    buffer = io.BytesIO()
    with av.open(buffer, mode="w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=FPS)
        stream.width, stream.height = width, height
        stream.pix_fmt = "yuv420p"
        stream.options = {"crf": "23", "preset": "veryfast"}
        for index in range(frames):
            t = index / max(1, frames - 1)
            zoom = 1.0 + rate * t
            crop_w, crop_h = width / zoom, height / zoom
            left = (width - crop_w) / 2 + drift_x * width * t * 0.5
            top = (height - crop_h) / 2 + drift_y * height * t * 0.5
            left = min(max(0.0, left), width - crop_w)
            top = min(max(0.0, top), height - crop_h)
            box = (left, top, left + crop_w, top + crop_h)
            frame = source.resize((width, height), Image.Resampling.BILINEAR, box=box)
            for packet in stream.encode(av.VideoFrame.from_image(frame)):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return buffer.getvalue()
