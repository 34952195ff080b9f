"""Fixtures for the provider tests: simulators on free ports, adapters pointed at them, real engines.

Everything runs over real HTTP on loopback. Waits are on conditions with deadlines, never bare sleeps,
and every server, engine and client is closed when the test ends.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiohttp import web

from bot.core.engine import EngineConfig, JobEngine
from bot.core.models import Action, Job, JobStatus
from bot.core.providers import provider_class
from bot.core.providers.base import Account, Provider
from bot.core.scheduling import AccountPool
from bot.core.store import Store
from bot.core.webhooks import WebhookServer
from providersim import SimServer, simulator
from tests.helpers import Recorder, make_job, wait_until

__all__ = [
    "API_KEY",
    "PROVIDERS",
    "WEBHOOK_SECRET",
    "Harness",
    "Simulators",
    "WebhookSink",
    "make_job",
    "wait_until",
]

PROVIDERS = ("thenextleg", "useapi", "imaginepro", "apiframe")
API_KEY = "sim-key-0123456789"
WEBHOOK_SECRET = "test-webhook-secret-0123456789abcdef"
# Fast polling so a test waits on the simulator's clock, not on the adapter's default cadence.
FAST_POLL = {"poll_interval": 0.02, "max_poll_interval": 0.1, "min_request_interval": 0.0}


class Harness:
    """Builds simulators, adapters and engines for one test and tears all of them down after it."""

    def __init__(self, tmp_path: Path, store: Store, http: httpx.AsyncClient) -> None:
        self.tmp_path = tmp_path
        self.store = store
        self.http = http
        self.sims: list[SimServer] = []
        self.engines: list[JobEngine] = []
        self.servers: list[WebhookServer] = []
        self.recorder = Recorder()

    async def sim(self, name: str, **kwargs: Any) -> SimServer:
        if name == "thenextleg":
            kwargs.setdefault("rate_limit_seconds", 0.0)
        kwargs.setdefault("api_key", API_KEY)
        server = simulator(name, **kwargs)
        await server.start()
        self.sims.append(server)
        return server

    def adapter(
        self, name: str, sim: SimServer, *, account: str = "a", max_jobs: int = 3, api_key: str = API_KEY,
        **options: Any,
    ) -> Provider:  # fmt: skip
        acct = Account(
            provider=name, name=account, base_url=sim.api_base_url, api_key=api_key, max_jobs=max_jobs,
            options=FAST_POLL | options,
        )  # fmt: skip
        return provider_class(name)(acct, self.http)

    async def engine(self, *adapters: Provider, webhooks: bool = False, **config: Any) -> JobEngine:
        config.setdefault("stall_timeout_s", 10.0)
        config.setdefault("queue_timeout_s", 30.0)
        config.setdefault("max_submit_attempts", 1)
        holder: dict[str, WebhookServer] = {}
        if webhooks:
            config.setdefault("webhook_fallback_poll_s", 60.0)
            config["webhook_url_for"] = lambda provider: f"{holder['s'].bound_url}/webhooks/{provider}/{WEBHOOK_SECRET}"
        engine = JobEngine(self.store, AccountPool(adapters), EngineConfig(**config))
        engine.add_listener(self.recorder)
        self.engines.append(engine)
        if webhooks:
            server = WebhookServer(engine, secret=WEBHOOK_SECRET, url_for=config["webhook_url_for"], port=0)
            await server.start()
            holder["s"] = server
            self.servers.append(server)
        await engine.start()
        return engine

    async def finished(self, engine: JobEngine, job_id: str, within: float = 5.0) -> Job:
        async def done() -> Job | None:
            job = await engine.get(job_id)
            return job if job is not None and job.terminal else None

        await wait_until(done, within)
        stored = await self.store.get_job(job_id)
        assert stored is not None
        return stored

    async def imagine(self, engine: JobEngine, provider: str, **fields: Any) -> Job:
        job = await engine.submit(make_job(provider, **fields))
        return await self.finished(engine, job.id)

    async def press(self, engine: JobEngine, parent: Job, action: Action, **fields: Any) -> Job:
        child, created = await engine.submit_child(
            make_job(parent.provider, parent_id=parent.id, action=action, account=parent.account, **fields)
        )
        assert created
        return await self.finished(engine, child.id)

    async def close(self) -> None:
        for engine in self.engines:
            await engine.stop()
        for server in self.servers:
            await server.stop()
        for sim in self.sims:
            await sim.stop()


@pytest.fixture
async def harness(tmp_path: Path, store: Store, http: httpx.AsyncClient) -> AsyncIterator[Harness]:
    h = Harness(tmp_path, store, http)
    try:
        yield h
    finally:
        await h.close()


def completed(job: Job) -> bool:
    return job.status is JobStatus.COMPLETED


class Simulators:
    """Starts bare simulators (free ports, API_KEY, TheNextLeg unthrottled) for a test that talks to them
    over HTTP itself, and stops every one of them after it."""

    def __init__(self) -> None:
        self.started: list[SimServer] = []

    async def __call__(self, name: str, **kwargs: Any) -> SimServer:
        if name == "thenextleg":
            kwargs.setdefault("rate_limit_seconds", 0.0)
        kwargs.setdefault("api_key", API_KEY)
        server = simulator(name, **kwargs)
        await server.start()
        self.started.append(server)
        return server

    async def close(self) -> None:
        for server in self.started:
            await server.stop()


@pytest.fixture
async def sims() -> AsyncIterator[Simulators]:
    factory = Simulators()
    try:
        yield factory
    finally:
        await factory.close()


class WebhookSink:
    """A loopback receiver that answers 200 to every POST and keeps the JSON bodies, for callback checks."""

    def __init__(self) -> None:
        self.bodies: list[Any] = []
        self.url = ""
        self._runner: web.AppRunner | None = None

    async def _receive(self, request: web.Request) -> web.Response:
        self.bodies.append(await request.json())
        return web.Response(text="ok")

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/{tail:.*}", self._receive)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.url = f"http://127.0.0.1:{self._runner.addresses[0][1]}/hook"

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()


@pytest.fixture
async def webhook_sink() -> AsyncIterator[WebhookSink]:
    sink = WebhookSink()
    await sink.start()
    try:
        yield sink
    finally:
        await sink.stop()
