"""The cluster's decisions on a real PostgreSQL, one step at a time: two "processes" are two Cluster objects
on two stores of one database, with stand-in engines that record what they are handed. The end-to-end proof
with real processes is tests/faults/test_two_processes.py."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping
from typing import Any

import asyncpg
import pytest

from bot.core.cluster import Cluster
from bot.core.engine import Clearance
from bot.core.models import Job, JobStatus, utcnow
from bot.core.store import PostgresStore, Store
from tests.helpers import make_job, wait_until


class Engine:
    """What the cluster calls on an engine, recorded."""

    def __init__(self) -> None:
        self.guard: Any = None
        self.adopted: list[Job] = []
        self.shown: list[Job] = []
        self.callbacks: list[tuple[str, dict[str, str], bytes]] = []

    def adopt(self, unfinished: list[Job], undelivered: list[Job]) -> int:
        self.adopted += unfinished
        self.shown += undelivered
        return len(unfinished)

    async def handle_webhook(self, provider: str, headers: Mapping[str, str], body: bytes) -> None:
        self.callbacks.append((provider, dict(headers), body))


class Member:
    def __init__(self, cluster: Cluster, engine: Engine, store: PostgresStore) -> None:
        self.cluster, self.engine, self.store = cluster, engine, store
        self.fenced = 0


@pytest.fixture
async def members(postgres_url: str) -> AsyncIterator[list[Member]]:
    made: list[Member] = []
    for name in ("a", "b"):
        store = await Store.open(postgres_url)
        assert isinstance(store, PostgresStore)
        engine = Engine()
        member = Member(Cluster(store, engine, lease_s=30, process_id=name), engine, store)  # type: ignore[arg-type]
        member.cluster.on_fenced = lambda m=member: setattr(m, "fenced", m.fenced + 1)  # type: ignore[misc]
        await member.cluster.join()
        made.append(member)
    yield made
    for member in made:
        await member.cluster.stop()
        await member.store.close()


async def _expire(store: Store, process_id: str) -> None:
    await store.execute("UPDATE bot_processes SET lease_until = 0 WHERE id = ?", (process_id,))


def _sending(job: Job, account: str = "acct") -> Job:
    job.account, job.submit_started_at = account, utcnow()
    return job


async def test_a_dead_process_s_jobs_go_to_one_survivor_and_its_old_owner_can_no_longer_send_them(
    members: list[Member],
) -> None:
    a, b = members
    queued = await a.store.insert_job(make_job(provider="imaginepro", status=JobStatus.QUEUED))
    sent = await a.store.insert_job(make_job(provider="imaginepro", status=JobStatus.QUEUED))
    assert await a.cluster.begin_submit(_sending(sent), 4) is Clearance.GO
    done = make_job(provider="imaginepro", status=JobStatus.COMPLETED, finished_at=utcnow())
    await a.store.insert_job(done)
    await _expire(a.store, "a")

    assert await b.cluster.take_over() == 2
    assert await a.cluster.take_over() == 0  # nothing of b's, and its own jobs are gone
    assert {j.id for j in b.engine.adopted} == {queued.id, sent.id}
    assert [j.id for j in b.engine.shown] == [done.id]
    # The one whose submit was recorded is adopted as such: the survivor's engine puts it in limbo, never resends.
    assert next(j for j in b.engine.adopted if j.id == sent.id).submit_started_at is not None

    # The old owner, back from a pause, may not send what is no longer its own, and learns it lost its lease.
    assert await a.cluster.begin_submit(_sending(queued), 4) is Clearance.GONE
    await a.cluster.tick()
    assert a.fenced == 1
    assert await b.cluster.begin_submit(_sending(queued), 4) is Clearance.GO
    assert await b.cluster.begin_submit(_sending(queued), 4) is Clearance.GONE  # recorded once only


async def test_account_limit_holds_across_processes_under_a_burst(members: list[Member]) -> None:
    a, b = members
    jobs = [
        await m.store.insert_job(make_job(provider="imaginepro", user_id=i, status=JobStatus.QUEUED))
        for i, m in enumerate([a, b] * 5)
    ]
    answers = await asyncio.gather(
        *(m.cluster.begin_submit(_sending(job), 3) for m, job in zip([a, b] * 5, jobs, strict=True))
    )
    assert answers.count(Clearance.GO) == 3
    # Another account has slots of its own.
    other = await a.store.insert_job(make_job(provider="imaginepro", user_id=99, status=JobStatus.QUEUED))
    assert await a.cluster.begin_submit(_sending(other, "second"), 3) is Clearance.GO


async def test_a_member_with_fewer_jobs_in_flight_goes_first_across_processes(members: list[Member]) -> None:
    a, b = members
    busy = [await a.store.insert_job(make_job(provider="imaginepro", user_id=1)) for _ in range(3)]
    assert await a.cluster.begin_submit(_sending(busy[0]), 10) is Clearance.GO
    waiting = await b.store.insert_job(make_job(provider="imaginepro", user_id=2, status=JobStatus.QUEUED))
    # Member 1 has a job in flight and member 2 none, queued in the other process: member 2 first.
    assert await a.cluster.begin_submit(_sending(busy[1]), 10) is Clearance.WAIT
    assert await b.cluster.begin_submit(_sending(waiting), 10) is Clearance.GO
    assert await a.cluster.begin_submit(_sending(busy[1]), 10) is Clearance.GO


async def test_a_callback_for_another_process_s_job_reaches_its_owner(members: list[Member]) -> None:
    a, b = members
    job = await b.store.insert_job(make_job(provider="imaginepro", status=JobStatus.RUNNING))
    await a.cluster.start()
    await b.cluster.start()
    assert not await b.cluster.forward_webhook(job.id, "imaginepro", {}, b"{}")  # its own: applied there
    assert await a.cluster.forward_webhook(job.id, "imaginepro", {"x-sig": "1"}, b'{"ok": true}')
    # b is woken by NOTIFY, not by its renewal 10 s away.
    await wait_until(lambda: b.engine.callbacks, within=5, what="the owner to apply the forwarded callback")
    assert b.engine.callbacks == [("imaginepro", {"x-sig": "1"}, b'{"ok": true}')]
    assert a.engine.callbacks == []


async def test_a_callback_forwarded_while_the_owner_s_listener_was_cut_off_reaches_it_once_it_listens_again(
    members: list[Member], monkeypatch: pytest.MonkeyPatch
) -> None:
    a, b = members
    job = await b.store.insert_job(make_job(provider="imaginepro", status=JobStatus.RUNNING))
    # b's renewals, which re-read the inbox too, far away: only the listener can bring the callback in time.
    b.cluster.lease_s = 600
    await a.cluster.start()
    await b.cluster.start()
    listener = b.cluster._listener
    assert listener is not None and b.cluster.listens == 1
    # b may listen again only once the callback has been forwarded, so that its NOTIFY certainly went nowhere.
    forwarded = asyncio.Event()
    listen = b.cluster._listen

    async def after_the_forward() -> Any:
        await forwarded.wait()
        return await listen()

    monkeypatch.setattr(b.cluster, "_listen", after_the_forward)
    await a.store.execute("SELECT pg_terminate_backend(?)", (listener.get_server_pid(),))
    await wait_until(lambda: b.cluster._listener is None, within=5, what="b to find its listener gone")
    assert await a.cluster.forward_webhook(job.id, "imaginepro", {}, b'{"n": 1}')
    forwarded.set()

    await wait_until(lambda: b.engine.callbacks, within=5, what="the callback that waited, read once b listens again")
    assert b.cluster.listens == 2
    # And the new connection hears the next one.
    assert await a.cluster.forward_webhook(job.id, "imaginepro", {}, b'{"n": 2}')
    await wait_until(lambda: len(b.engine.callbacks) == 2, within=5, what="the next callback, by NOTIFY")
    assert [body for _, _, body in b.engine.callbacks] == [b'{"n": 1}', b'{"n": 2}']


async def test_the_lease_is_renewed_through_pooled_connections_the_server_dropped(
    members: list[Member], postgres_url: str
) -> None:
    a, b = members
    for member in members:
        await member.cluster.start()
        # Several connections in each pool, as a busy process has.
        await asyncio.gather(*(member.store.fetchall("SELECT pg_sleep(0.05)") for _ in range(3)))
    admin = await asyncpg.connect(postgres_url)
    try:
        before = await admin.fetchval("SELECT lease_until FROM bot_processes WHERE id = 'b'")
        # Every connection cut at once, as a restart of the server cuts them: each pooled one fails its next
        # statement (the renewal's, then the take-over's), and the listeners must listen again.
        cut = await admin.fetchval(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE backend_type = 'client backend'"
            " AND pid <> pg_backend_pid() AND datname = current_database()"
        )
        assert cut >= 8
        assert await b.cluster.renew()
        assert await a.cluster.renew()
        after = await admin.fetchval("SELECT lease_until FROM bot_processes WHERE id = 'b'")
    finally:
        await admin.close()
    assert after > before
    assert a.fenced == b.fenced == 0
    await wait_until(lambda: a.cluster.listens == b.cluster.listens == 2, within=5, what="both listening again")


async def test_a_process_renews_its_lease_from_joining_on_not_only_once_started(
    members: list[Member], postgres_url: str
) -> None:
    a, _ = members
    store = await Store.open(postgres_url)
    assert isinstance(store, PostgresStore)
    # A lease shorter than a slow start (the gateway, the command sync) between join and start.
    fenced: list[bool] = []
    slow = Cluster(store, Engine(), lease_s=0.6, process_id="slow", on_fenced=lambda: fenced.append(True))  # type: ignore[arg-type]
    try:
        await slow.join()
        first = await store.fetchone("SELECT lease_until FROM bot_processes WHERE id = 'slow'")
        assert first is not None

        async def renewed_past_the_first_lease() -> bool:
            row = await store.fetchone("SELECT lease_until FROM bot_processes WHERE id = 'slow'")
            return row is not None and row[0] > first[0] + 0.6

        await wait_until(renewed_past_the_first_lease, within=5, what="the lease renewed before start()")
        assert await a.cluster.take_over() == 0
        assert await store.fetchone("SELECT 1 FROM bot_processes WHERE id = 'slow'") is not None
        assert not fenced
    finally:
        await slow.stop()
        await store.close()
