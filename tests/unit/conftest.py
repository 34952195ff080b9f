from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from bot.core.engine import EngineConfig, JobEngine
from bot.core.providers.base import Account
from bot.core.providers.local import LocalProvider
from bot.core.scheduling import AccountPool
from bot.core.store import Store
from tests.helpers import Recorder, make_job, wait_until

__all__ = ["Recorder", "local_provider", "make_job", "wait_until"]


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
