"""A video made small enough for Discord's upload limit: re-encoded smaller, step by step, until it fits.

Animate and Extend results are MP4 clips; Discord refuses an attachment over the interaction's
``attachment_size_limit`` (10 MiB by default, less on a test's local Discord). A clip over it is re-encoded
with PyAV (H.264 at a smaller frame and a higher CRF, the frame rate and every frame kept) until it fits;
when no step fits, or PyAV (an optional dependency that ships its own FFmpeg) is missing, or the bytes are
no video it can read, the caller posts a link or says why nothing is attached. CPU-bound: run it in a
worker thread.
"""

from __future__ import annotations

import io
import logging

__all__ = ["SHRINK_STEPS", "shrink_video"]

_log = logging.getLogger(__name__)

# (scale of each side, H.264 CRF) tried in turn: each step roughly halves the size of the one before;
# past the last the picture is too small to be worth showing, and a link serves the member better.
SHRINK_STEPS = ((0.75, 30), (0.5, 34), (0.35, 38))
# The frame rate assumed when the container names none.
DEFAULT_FPS = 12
# A re-encode reads at most this many frames: a Midjourney clip is 5 s (21 s extended) at 24 fps.
MAX_FRAMES = 24 * 30


def shrink_video(data: bytes, limit: int) -> bytes | None:
    """The video re-encoded as an MP4 of at most ``limit`` bytes, or None when that cannot be done."""
    try:
        import av  # optional: ~35 MB of codec libraries
    except ImportError:
        return None
    for scale, crf in SHRINK_STEPS:
        try:
            smaller = _reencode(data, scale, crf)
        except (av.FFmpegError, ValueError, IndexError, MemoryError) as exc:
            _log.info("a video could not be re-encoded: %s", type(exc).__name__)
            return None
        if len(smaller) <= limit:
            return smaller
    return None


def _reencode(data: bytes, scale: float, crf: int) -> bytes:
    import av as pyav

    output = io.BytesIO()
    with pyav.open(io.BytesIO(data), mode="r") as source:
        stream = source.streams.video[0]
        rate = stream.average_rate or DEFAULT_FPS
        width = max(2, int(stream.codec_context.width * scale) // 2 * 2)  # H.264 wants even sides
        height = max(2, int(stream.codec_context.height * scale) // 2 * 2)
        with pyav.open(output, mode="w", format="mp4") as target:
            encoder = target.add_stream("libx264", rate=rate)
            encoder.width, encoder.height = width, height
            encoder.pix_fmt = "yuv420p"
            encoder.options = {"crf": str(crf), "preset": "veryfast"}
            for count, frame in enumerate(source.decode(stream)):
                if count >= MAX_FRAMES:
                    break
                smaller = frame.reformat(width=width, height=height, format="yuv420p")
                smaller.pts = None  # the encoder numbers the frames at its own rate
                for packet in encoder.encode(smaller):
                    target.mux(packet)
            for packet in encoder.encode():
                target.mux(packet)
    return output.getvalue()
