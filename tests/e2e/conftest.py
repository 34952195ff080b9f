"""Fixtures for the end-to-end tests: a LocalDiscord per test and a bot process factory.

Every test ends by checking what the local Discord saw: no request body that Discord's OpenAPI spec
rejects, and no 429 (a well-behaved bot never gets rate-limited).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from localdiscord import LocalDiscord
from tests.e2e.harness import BotProcess


@pytest.fixture
async def ld(request: pytest.FixtureRequest) -> AsyncIterator[LocalDiscord]:
    server = LocalDiscord()
    await server.start()
    if not server.spec_status.startswith("validating"):
        await server.stop()
        pytest.skip(f"Discord's OpenAPI spec is not available: {server.spec_status}")
    try:
        yield server
    finally:
        await server.stop()
    violations = server.violations
    assert not violations, f"request bodies Discord's spec rejects: {violations[:3]}"
    if not request.node.get_closest_marker("allow_429"):
        assert server.stats()["rate_limited"] == 0, "the bot was rate-limited"


@pytest.fixture
async def start_bot(ld: LocalDiscord, tmp_path: Path) -> AsyncIterator[Callable[..., Any]]:
    """``await start_bot(**env)`` starts a bot process; all of them are stopped at the end."""
    processes: list[BotProcess] = []

    async def factory(**env: Any) -> BotProcess:
        process = BotProcess(ld, tmp_path / f"bot{len(processes)}", **env)
        processes.append(process)
        await process.start()
        return process

    yield factory
    for process in processes:
        await process.stop()


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "allow_429: the test provokes Discord 429s on purpose")
