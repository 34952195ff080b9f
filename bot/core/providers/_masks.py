"""Vary (Region)'s mask, from the core's one form into the form each provider's contract names.

The core hands an adapter one canonical mask (``ActionRequest.mask``): PNG bytes, mode "L", the size of
the parent upscale, 255 where the member painted (repaint) and 0 elsewhere (keep). Every provider that
documents a colour convention says white = repaint, black = keep (mj-verbs.md §2.1), so the colours stay;
what differs is the encoding: the image format (PNG, or WebP in ImaginePro's example), and base64 with or
without a ``data:`` prefix. The size stays the parent's: every provider that names a size asks for that
one (APIFrame v2 in words; useapi by inference), and the editor paints on the parent at its own size.

A mask that is missing, unreadable or paints nothing is refused here, before anything is sent: the provider
would refuse it too (or charge a job that changes nothing), and the member is told to paint again.
"""

from __future__ import annotations

import base64
import io
import warnings
from typing import Literal

from PIL import Image

from bot.core.errors import ProviderError
from bot.core.models import ErrorReason

__all__ = ["MaskFormat", "encode_mask", "read_mask"]

MaskFormat = Literal["png", "webp"]
# Midjourney's editor paints hard-edged areas; a soft (anti-aliased) edge is repainted from its middle grey up.
THRESHOLD = 128
# Larger than any upscale a provider makes (V8 --hd renders about 2K, upscales up to 4x of that); a mask
# past it is not one of ours, and decoding it would only spend memory.
MAX_MASK_PIXELS = 8192 * 8192


def read_mask(data: bytes | None) -> Image.Image:
    """The core's mask as a strictly black-and-white "L" image (255 repaint, 0 keep).

    Raises ProviderError(INVALID_MASK), with no answer class (nothing was sent), for a mask that is missing,
    not an image, too large, or that marks nothing to repaint.
    """
    if not data:
        raise ProviderError(ErrorReason.INVALID_MASK, "Vary (Region) was pressed without a mask")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as image:
                if image.width * image.height > MAX_MASK_PIXELS:
                    size = f"{image.width}x{image.height}"
                    raise ProviderError(ErrorReason.INVALID_MASK, f"the mask is too large ({size})")
                image.load()
                grey = image.convert("L")
    except ProviderError:
        raise
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombWarning, Image.DecompressionBombError) as exc:
        detail = f"the mask is not a readable image ({type(exc).__name__})"
        raise ProviderError(ErrorReason.INVALID_MASK, detail) from exc
    binary = grey.point(lambda value: 255 if value >= THRESHOLD else 0)
    if binary.getbbox() is None:
        raise ProviderError(ErrorReason.INVALID_MASK, "the mask marks nothing to repaint")
    return binary


def encode_mask(mask: Image.Image, fmt: MaskFormat = "png") -> str:
    """``mask`` (from :func:`read_mask`) as plain base64 (no ``data:`` prefix): a PNG in grey, or a lossless
    WebP (which has no grey mode, so its three channels carry the same value)."""
    buffer = io.BytesIO()
    if fmt == "webp":
        # Lossless, so the edge stays exactly where it was painted and no grey creeps into the black and white.
        mask.convert("RGB").save(buffer, format="WEBP", lossless=True)
    else:
        mask.save(buffer, format="PNG", optimize=True)
    return base64.b64encode(buffer.getvalue()).decode("ascii")
