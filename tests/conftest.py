"""Fixtures every suite may use: a fresh SQLite store, an HTTP client, and a bare local Discord."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from bot.store import Store
from localdiscord import LocalDiscord


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    store = await Store.open(tmp_path / "jobs.db")
    yield store
    await store.close()


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    # Short timeouts: every server a test talks to is on loopback.
    async with httpx.AsyncClient(timeout=httpx.Timeout(2.0)) as client:
        yield client


@pytest.fixture
async def ld() -> AsyncIterator[LocalDiscord]:
    """A local Discord on a free port; tests/e2e overrides it with one that also audits what the bot sent."""
    server = LocalDiscord()
    await server.start()
    try:
        yield server
    finally:
        await server.stop()
