"""How many round trips to PostgreSQL one job costs, counted on the wire: the coordination cost of several
processes is mostly these (README, Several processes), so the count may only go down.

The store talks to the real test server through a small proxy that reads the frontend side of PostgreSQL's
protocol: every simple Query and every Sync ends a round trip (the client then waits for the answer), and a
Flush ends asyncpg's prepare of a statement it has not run on that connection before. The lifecycle is the
one the benchmark drives, minus Discord: an /imagine admitted by moderation and stored, submitted through
the cluster's guard, finished by the provider's answer, its end audited and its delivery recorded; then a
press on it, the same way. Counts, never times.
"""

from __future__ import annotations

import asyncio
import contextlib
import struct
from collections import Counter
from collections.abc import AsyncIterator, Mapping
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx
import pytest

from bot.core.cluster import Cluster
from bot.core.engine import JobEngine
from bot.core.models import Action, Job, JobStatus, ProviderUpdate
from bot.core.moderation import Moderation
from bot.core.providers.base import Account, ActionRequest, Capabilities, ImagineRequest, Provider, Submission
from bot.core.scheduling import AccountPool
from bot.core.store import PostgresStore, Store
from tests.helpers import make_job, wait_until
from tests.postgres import PostgresServer

# Round trips of one /imagine and of one press (each: admitted, stored, submitted, finished, audited,
# delivered), once every statement is prepared on its connection. Before this guard they were 20 and 25:
# the pool's reset query after every statement outside a transaction (7 and 8), a savepoint before each
# job's insert, a read of the member's jobs in flight apart from the rest of the submit's check, and the
# press's second read of its finished parent.
IMAGINE_ROUND_TRIPS = 12
PRESS_ROUND_TRIPS = 14
GUILD = 1000
_SSL_REQUEST, _GSS_REQUEST, _PROTOCOL_3 = 80877103, 80877104, 196608


class WireCount:
    """A TCP proxy in front of PostgreSQL that counts the frontend's round trips, per kind, outside the
    connections named in ``ignored`` (the cache listener's keep-alive runs on a timer of its own)."""

    def __init__(self, port: int, ignored: tuple[str, ...] = ("imaginebot-cache",)) -> None:
        self.upstream = port
        self.ignored = ignored
        self.counts: Counter[str] = Counter()
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> int:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        return int(self._server.sockets[0].getsockname()[1])

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def round_trips(self) -> int:
        return self.counts["query"] + self.counts["sync"]

    async def _accept(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        server_r, server_w = await asyncio.open_connection("127.0.0.1", self.upstream)
        back = asyncio.create_task(_pipe(server_r, client_w))
        forth = asyncio.create_task(self._frontend(client_r, server_w))
        for task in (back, forth):
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _frontend(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        counted = True
        with contextlib.suppress(asyncio.IncompleteReadError, ConnectionError):
            while True:  # untyped start-up messages: an SSL or GSS request (refused by the server), then start-up
                head = await reader.readexactly(8)
                length, code = struct.unpack("!ii", head)
                body = await reader.readexactly(length - 8)
                writer.write(head + body)
                if code not in (_SSL_REQUEST, _GSS_REQUEST):
                    break
            if code == _PROTOCOL_3:
                fields = body.split(b"\0")
                settings = dict(zip(fields[0::2], fields[1::2], strict=False))
                counted = settings.get(b"application_name", b"").decode() not in self.ignored
            kinds = {b"Q": "query", b"S": "sync", b"H": "prepare"}
            while True:
                kind = await reader.readexactly(1)
                length_bytes = await reader.readexactly(4)
                body = await reader.readexactly(struct.unpack("!i", length_bytes)[0] - 4)
                if counted and kind in kinds:
                    self.counts[kinds[kind]] += 1
                writer.write(kind + length_bytes + body)
                await writer.drain()
        writer.close()


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    with contextlib.suppress(ConnectionError):
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    writer.close()


class InstantProvider(Provider):
    """Finishes every job in its submit's answer, as the benchmark's simulator in instant mode does."""

    name = "instant"
    capabilities = Capabilities(grid_actions=frozenset({Action.U1}), poll_interval=60.0, max_poll_interval=60.0)

    def __init__(self) -> None:
        super().__init__(Account(provider="instant", name="a", base_url="x://", max_jobs=4), httpx.AsyncClient())

    async def imagine(self, request: ImagineRequest) -> Submission:
        url = f"x://{request.job_id}.png"
        done = ProviderUpdate(status=JobStatus.COMPLETED, progress=100, grid_url=url, image_urls=(url,) * 4)
        return Submission(provider_job_id=f"p-{request.job_id}", update=done)

    async def act(self, request: ActionRequest) -> Submission:
        return await self.imagine(ImagineRequest(job_id=request.job_id, prompt=request.parent_prompt))

    async def poll(self, provider_job_id: str, provider_data: Mapping[str, Any]) -> ProviderUpdate:
        raise AssertionError("never polled: every job finishes in its submit's answer")


class Bot:
    def __init__(self, store: PostgresStore, engine: JobEngine, moderation: Moderation, wire: WireCount) -> None:
        self.store, self.engine, self.moderation, self.wire = store, engine, moderation, wire

    async def lifecycle(self, job: Job, *, press: bool) -> int:
        """The round trips of one job, from its interaction to its delivered flag."""
        before = self.wire.round_trips()
        admit = self.moderation.admitter()
        if press:
            assert job.parent_id is not None
            parent = await self.engine.get(job.parent_id)  # the cog's look at what was pressed
            assert parent is not None and parent.terminal
            await self.engine.submit_child(job, admit=admit)
        else:
            await self.engine.submit(job, admit=admit)
        await wait_until(lambda: job.terminal, 30, "the job to finish")
        assert job.status is JobStatus.COMPLETED, job.error
        assert await self.moderation.record_job_end(job) is not None  # the presenter's audit of its end
        await self.engine.mark_delivered(job.id)
        await self.engine.flush_delivered()
        return self.wire.round_trips() - before


@pytest.fixture
async def bot(postgres_server: PostgresServer) -> AsyncIterator[Bot]:
    wire = WireCount(postgres_server.port)
    port = await wire.start()
    parts = urlsplit(await postgres_server.create_database())
    store = await Store.open(urlunsplit(parts._replace(netloc=f"{parts.username}@127.0.0.1:{port}")))
    assert isinstance(store, PostgresStore)
    engine = JobEngine(store, AccountPool([InstantProvider()]))
    cluster = Cluster(store, engine, lease_s=600, process_id="a", on_fenced=lambda: None)
    try:
        await cluster.join()
        await cluster.start()
        await engine.start()
        yield Bot(store, engine, Moderation(store), wire)
    finally:
        await cluster.stop()
        await engine.stop()
        await store.close()
        await wire.stop()


async def test_one_job_from_interaction_to_delivered_costs_at_most_the_counted_round_trips(bot: Bot) -> None:
    # A first job of each kind prepares every statement on the connection it meets (once per connection).
    warm = make_job(provider="instant", guild_id=GUILD)
    await bot.lifecycle(warm, press=False)
    await bot.lifecycle(make_job(provider="instant", guild_id=GUILD, parent_id=warm.id, action=Action.U1), press=True)

    imagine = make_job(provider="instant", guild_id=GUILD)
    imagine_trips = await bot.lifecycle(imagine, press=False)
    press = make_job(provider="instant", guild_id=GUILD, parent_id=imagine.id, action=Action.U1)
    press_trips = await bot.lifecycle(press, press=True)

    assert imagine_trips <= IMAGINE_ROUND_TRIPS and press_trips <= PRESS_ROUND_TRIPS, (imagine_trips, press_trips)
    rows = await bot.store.fetchall("SELECT id, delivered FROM jobs WHERE id IN (?, ?)", (imagine.id, press.id))
    assert {row["id"]: row["delivered"] for row in rows} == {imagine.id: 1, press.id: 1}
