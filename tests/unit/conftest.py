from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from bot.engine import EngineConfig, JobEngine
from bot.models import Job, JobEvent
from bot.providers.base import Account
from bot.providers.local import LocalProvider
from bot.scheduling import AccountPool
from bot.store import Store


async def wait_until(predicate: Callable[[], Awaitable[Any]], within: float = 5.0, interval: float = 0.02) -> Any:
    """Poll an async predicate until it is truthy; fail with the last value after the deadline."""
    deadline = time.monotonic() + within
    value = None
    while time.monotonic() < deadline:
        value = await predicate()
        if value:
            return value
        await asyncio.sleep(interval)
    raise AssertionError(f"condition not met within {within}s (last value: {value!r})")


def make_job(**fields: Any) -> Job:
    defaults: dict[str, Any] = {
        "id": secrets.token_hex(8),
        "user_id": 1,
        "channel_id": 10,
        "provider": "local",
        "prompt": "a red fox",
        "prompt_final": "a red fox",
    }
    return Job(**(defaults | fields))


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    store = await Store.open(tmp_path / "jobs.db")
    yield store
    await store.close()


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient() as client:
        yield client


def local_provider(
    tmp_path: Path, http: httpx.AsyncClient, *, step: float = 0.0, steps: int = 3, max_jobs: int = 4
) -> LocalProvider:
    account = Account(
        provider="local",
        name="local",
        base_url="local://",
        max_jobs=max_jobs,
        options={"data_dir": str(tmp_path), "step_seconds": step, "steps": steps},
    )
    return LocalProvider(account, http)


class Recorder:
    def __init__(self) -> None:
        self.events: list[JobEvent] = []

    def __call__(self, event: JobEvent) -> None:
        self.events.append(event)

    def kinds(self, job_id: str) -> list[str]:
        return [e.kind.value for e in self.events if e.job.id == job_id]


@pytest.fixture
async def make_engine(store: Store, tmp_path: Path, http: httpx.AsyncClient) -> AsyncIterator[Callable[..., Any]]:
    """Build engines on the test's store; every one is stopped when the test ends."""
    engines: list[JobEngine] = []

    def factory(*providers: Any, **config: Any) -> tuple[JobEngine, Recorder]:
        providers = providers or (local_provider(tmp_path, http),)
        engine = JobEngine(store, AccountPool(providers), EngineConfig(**config))
        recorder = Recorder()
        engine.add_listener(recorder)
        engines.append(engine)
        return engine, recorder

    yield factory
    for engine in engines:
        await engine.stop()
