"""Fixtures every suite may use: a fresh SQLite store, an HTTP client, and a bare local Discord.

Every test that needs Discord's OpenAPI spec skips with ``LocalDiscord.spec_status`` (or
``SpecValidator.status``) when the file is missing; that reason always names ``DISCORD_OPENAPI_SPEC``
and where to get the file. Under ``CI`` such a skip is turned into a failure here, once for every
suite, as the browser tests do for a missing Chromium: CI has the file, so a missing one is a bug.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Generator
from pathlib import Path

import httpx
import pytest

from bot.core.store import Store
from localdiscord import SPEC_SETTING, LocalDiscord, SpecValidator
from tests.helpers import TLS
from tests.postgres import INSTALL_HINT, PostgresServer, find_bindir


@pytest.fixture(scope="session")
def postgres_server() -> Generator[PostgresServer, None, None]:
    """One real PostgreSQL server for the session (tests/postgres.py). Without PostgreSQL installed the
    tests that need it skip, saying how to install it; under ``CI`` they fail instead."""
    server = PostgresServer(require_postgres(find_bindir()))
    server.start()
    try:
        yield server
    finally:
        server.stop()


def require_postgres(bindir: Path | None) -> Path:
    """PostgreSQL's binaries; without them the test skips saying how to install it, or fails under CI."""
    if bindir is None:
        if os.environ.get("CI"):
            pytest.fail(f"CI must provide PostgreSQL, and it is missing. {INSTALL_HINT}")
        pytest.skip(INSTALL_HINT)
    return bindir


@pytest.fixture
async def postgres_url(postgres_server: PostgresServer) -> str:
    """A fresh empty database on the session's PostgreSQL server, as a ``postgresql://`` URL."""
    return await postgres_server.create_database()


@pytest.fixture
def store_backend() -> str:
    """Which store the ``store`` fixture opens; a suite that runs on both overrides this with
    ``params=["sqlite", "postgres"]`` (e.g. ``tests/unit/test_store.py``)."""
    return "sqlite"


@pytest.fixture
async def store(tmp_path: Path, store_backend: str, request: pytest.FixtureRequest) -> AsyncIterator[Store]:
    if store_backend == "postgres":
        server: PostgresServer = request.getfixturevalue("postgres_server")
        store = await Store.open(await server.create_database())
    else:
        store = await Store.open(tmp_path / "jobs.db")
    yield store
    await store.close()


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    # Short timeouts: every server a test talks to is on loopback.
    async with httpx.AsyncClient(timeout=httpx.Timeout(2.0), verify=TLS) as client:
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


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    if not (os.environ.get("CI") and report.skipped and not hasattr(report, "wasxfail")):
        return report
    reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
    reason = reason.removeprefix("Skipped: ")
    # Only a skip for the spec, and only while the spec really is unavailable.
    if SPEC_SETTING in reason and not SpecValidator().enabled:
        report.outcome = "failed"
        report.longrepr = f"CI must provide Discord's OpenAPI spec, and it is missing: {reason}"
    return report
