"""A video over the upload limit re-encoded smaller (bot/core/video.py): it fits and still plays, every
frame kept; when nothing fits, or the bytes are no video, the answer is None (the caller links it)."""

from __future__ import annotations

import io

from PIL import Image

from bot.core.video import shrink_video
from providersim._images import render_grid
from providersim._video import BASE_FRAMES, render_clip


def _facts(data: bytes) -> tuple[str, int, int]:
    import av

    with av.open(io.BytesIO(data)) as container:
        frames = list(container.decode(video=0))
        return container.format.name, len(frames), frames[0].width


def test_shrink_video_fits_or_says_it_cannot() -> None:
    clip = render_clip(render_grid("a harbour", 7).resize((640, 640)), 1, BASE_FRAMES, "high")
    _, _, width = _facts(clip)
    smaller = shrink_video(clip, len(clip) - 1)
    assert smaller is not None and len(smaller) < len(clip)
    container, frames, shrunk_width = _facts(smaller)
    assert "mp4" in container and frames == BASE_FRAMES and shrunk_width < width
    assert shrink_video(clip, 200) is None  # not even the container's header fits
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8)).save(buffer, format="PNG")
    assert shrink_video(buffer.getvalue(), 10) is None  # no video at all
