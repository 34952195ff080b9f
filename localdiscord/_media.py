"""Content-type sniffing and image dimensions for uploaded files.

discord.py uploads every file as ``application/octet-stream``; Discord itself works out the real type
and, for images, the width and height it reports on the attachment. The same is done here from the
first bytes of the file, for the four image formats a bot is likely to send.
"""

from __future__ import annotations

import mimetypes
import struct


def sniff(data: bytes, filename: str) -> tuple[str, int | None, int | None]:
    """``(content_type, width, height)`` for ``data``; dimensions are ``None`` for non-images."""
    try:
        if data.startswith(b"\x89PNG\r\n\x1a\n") and len(data) >= 24:
            width, height = struct.unpack(">II", data[16:24])
            return "image/png", width, height
        if data[:3] == b"\xff\xd8\xff":
            width, height = _jpeg_size(data)
            return "image/jpeg", width, height
        if data[:6] in (b"GIF87a", b"GIF89a") and len(data) >= 10:
            width, height = struct.unpack("<HH", data[6:10])
            return "image/gif", width, height
        if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
            width, height = _webp_size(data)
            return "image/webp", width, height
    except (struct.error, ValueError, IndexError):
        pass  # a truncated header is still that type, just without dimensions
    guessed, _ = mimetypes.guess_type(filename)
    return guessed or "application/octet-stream", None, None


def _jpeg_size(data: bytes) -> tuple[int | None, int | None]:
    i = 2
    while i + 9 < len(data):
        if data[i] != 0xFF:
            i += 1
            continue
        marker = data[i + 1]
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:
            i += 2
            continue
        (length,) = struct.unpack(">H", data[i + 2 : i + 4])
        # SOF0..SOF15 carry the frame size, except DHT (C4), JPG (C8) and DAC (CC).
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            height, width = struct.unpack(">HH", data[i + 5 : i + 9])
            return width, height
        i += 2 + length
    return None, None


def _webp_size(data: bytes) -> tuple[int | None, int | None]:
    chunk = data[12:16]
    if chunk == b"VP8 " and len(data) >= 30:
        width, height = struct.unpack("<HH", data[26:30])
        return width & 0x3FFF, height & 0x3FFF
    if chunk == b"VP8L" and len(data) >= 25:
        bits = int.from_bytes(data[21:25], "little")
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    if chunk == b"VP8X" and len(data) >= 30:
        width = int.from_bytes(data[24:27], "little") + 1
        height = int.from_bytes(data[27:30], "little") + 1
        return width, height
    return None, None
