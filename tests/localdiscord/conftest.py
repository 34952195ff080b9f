"""Fixtures for LocalDiscord's own tests: a server on a free port and a control client, both torn down."""

from __future__ import annotations

import struct
import zlib
from collections.abc import AsyncIterator

import pytest

from localdiscord import ControlClient, LocalDiscord, SpecValidator


def tiny_png(width: int = 4, height: int = 3) -> bytes:
    """A valid RGB PNG, so attachment sniffing has real dimensions to find."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    rows = b"".join(b"\x00" + b"\x10\x80\xf0" * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


@pytest.fixture
def png() -> bytes:
    """A 4x3 PNG image."""
    return tiny_png()


@pytest.fixture
async def control(ld: LocalDiscord) -> AsyncIterator[ControlClient]:
    client = ControlClient(ld.url)
    try:
        yield client
    finally:
        await client.aclose()


@pytest.fixture(scope="session")
def spec_validator() -> SpecValidator:
    """Discord's spec where ``DISCORD_OPENAPI_SPEC`` says; skips without it (fails under CI: tests/conftest.py)."""
    validator = SpecValidator()
    if not validator.enabled:
        pytest.skip(validator.status)
    return validator
