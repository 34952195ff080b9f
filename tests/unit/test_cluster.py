"""The cluster's decisions on a real PostgreSQL, one step at a time: two "processes" are two Cluster objects
on two stores of one database, with stand-in engines that record what they are handed. The end-to-end proof
with real processes is tests/faults/test_two_processes.py."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from collections.abc import AsyncIterator, Mapping
from types import SimpleNamespace
from typing import Any

import asyncpg
import pytest

from bot.core.cluster import Cluster
from bot.core.engine import Clearance, EngineConfig
from bot.core.ledger import SharedLedger
from bot.core.models import Action, Job, JobStatus, utcnow
from bot.core.providers.base import Account
from bot.core.scheduling import AccountPool
from bot.core.store import PostgresStore, Store
from tests.helpers import make_job, wait_until


class Engine:
    """What the cluster calls on an engine, recorded; its account pool is a real one (no provider behind it)."""

    def __init__(self) -> None:
        self.guard: Any = None
        self.queued = 0
        self.config = EngineConfig()
        self.pool = AccountPool([SimpleNamespace(account=Account("imaginepro", "acct", "http://sim", max_jobs=10))])  # type: ignore[list-item]
        self.adopted: list[Job] = []
        self.claimed: list[Job] = []
        self.shown: list[Job] = []
        self.callbacks: list[tuple[str, dict[str, str], bytes]] = []

    def adopt(self, unfinished: list[Job], undelivered: list[Job], *, claimed: bool = False) -> int:
        if claimed:
            self.claimed += unfinished
        else:
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


# -- the shared queue ----------------------------------------------------------------------------------


async def _shared(store: Store, user_id: int, minutes_ago: float, **fields: Any) -> Job:
    """A job handed back to the shared queue (no owner), created that long ago."""
    job = make_job(
        provider="imaginepro",
        user_id=user_id,
        status=JobStatus.QUEUED,
        created_at=utcnow() - dt.timedelta(minutes=minutes_ago),
        **fields,
    )
    await store.insert_job(job)
    await store.execute("UPDATE jobs SET owner = NULL WHERE id = ?", (job.id,))
    return job


async def _in_flight(store: Store, user_id: int, account: str = "elsewhere") -> None:
    job = make_job(provider="imaginepro", user_id=user_id, status=JobStatus.RUNNING, account=account)
    job.submit_started_at = utcnow()
    await store.insert_job(job)


def _free(member: Member, slots: int) -> None:
    """Leave ``slots`` of the member's ten slots free."""
    for _ in range(10 - slots):
        assert member.engine.pool.acquire("imaginepro", "acct") is not None


async def test_a_claim_takes_the_shared_queue_in_the_fair_order_not_the_oldest_first(members: list[Member]) -> None:
    a, b = members
    # Member 1 has two jobs in flight and the two oldest waiting; member 3 one in flight; member 2 none.
    for _ in range(2):
        await _in_flight(b.store, 1)
    await _in_flight(b.store, 3)
    m1 = [await _shared(b.store, 1, 50), await _shared(b.store, 1, 40)]
    m2 = [await _shared(b.store, 2, 10), await _shared(b.store, 2, 5)]
    m3 = [await _shared(b.store, 3, 8)]
    owned = await a.store.insert_job(make_job(provider="imaginepro", user_id=2, status=JobStatus.QUEUED))
    _free(a, 3)

    assert await a.cluster.claim() == 3
    # Turns: member 2's first (none in flight), then member 3's first and member 2's second (one turn each
    # before them), the older first; member 1's jobs, the oldest of all, wait behind.
    assert [j.id for j in a.engine.claimed] == [m2[0].id, m3[0].id, m2[1].id]
    rows = {r["id"]: r["owner"] for r in await a.store.fetchall("SELECT id, owner FROM jobs")}
    assert {rows[j.id] for j in (*m2, *m3)} == {"a"}
    assert {rows[j.id] for j in m1} == {None}
    assert rows[owned.id] == "a" and owned.id not in {j.id for j in a.engine.claimed}  # never from a process


async def test_a_claim_takes_no_more_than_the_account_has_room_for_across_processes(members: list[Member]) -> None:
    a, b = members
    for _ in range(8):
        await _in_flight(b.store, 7, account="acct")  # b's jobs hold 8 of the account's 10 slots
    waiting = [await _shared(b.store, i, 10 - i) for i in range(5)]
    assert await a.cluster.claim() == 2  # ten slots free here, two left on the account
    for job in a.engine.claimed:
        assert await a.cluster.begin_submit(_sending(job), 10) is Clearance.GO
    assert await b.cluster.claim() == 0  # the account is full across the processes
    _free(b, 0)  # a busy process claims nothing, whatever waits
    assert await b.cluster.claim() == 0
    # A press belongs to its account: one for an account this process does not have stays for another.
    press = await _shared(b.store, 9, 20, action=Action.U1, account="not-here")
    await b.store.execute("DELETE FROM jobs WHERE account = 'acct'")
    assert press.id not in {j.id for j in a.engine.claimed}
    await a.cluster.claim()
    assert press.id not in {j.id for j in a.engine.claimed}
    assert len({j.id for j in a.engine.claimed} & {j.id for j in waiting}) == 5


async def test_claims_at_once_take_different_jobs_and_skip_a_locked_one(
    members: list[Member], postgres_url: str
) -> None:
    a, b = members
    jobs = [await _shared(a.store, i, 30 - i) for i in range(6)]
    _free(a, 2)
    _free(b, 2)
    conn = await asyncpg.connect(postgres_url)
    try:
        async with conn.transaction():
            # Another claim in progress holds the first job: the claims skip it rather than wait.
            await conn.execute("SELECT 1 FROM jobs WHERE id = $1 FOR UPDATE", jobs[0].id)
            counts = await asyncio.gather(a.cluster.claim(), b.cluster.claim())
    finally:
        await conn.close()
    assert counts == [2, 2]
    taken_a, taken_b = {j.id for j in a.engine.claimed}, {j.id for j in b.engine.claimed}
    assert not taken_a & taken_b
    assert taken_a | taken_b == {j.id for j in jobs[1:5]}


async def test_a_hand_back_stops_the_editor_first_and_leaving_gives_back_every_queued_job(
    members: list[Member],
) -> None:
    a, b = members
    jobs = [await a.store.insert_job(make_job(provider="imaginepro", status=JobStatus.QUEUED)) for _ in range(3)]
    sent = await a.store.insert_job(make_job(provider="imaginepro", status=JobStatus.QUEUED))
    assert await a.cluster.begin_submit(_sending(sent), 4) is Clearance.GO
    owners_at_hand_over: list[str | None] = []

    async def hand_over(ids: list[str]) -> None:
        row = await a.store.fetchone("SELECT owner FROM jobs WHERE id = ?", (ids[0],))
        owners_at_hand_over.append(row["owner"] if row else "?")

    a.cluster.hand_over = hand_over
    a.cluster.hand_back([jobs[0]])
    await wait_until(lambda: a.cluster.handed_back == 1, within=5, what="the job handed back")
    assert owners_at_hand_over == ["a"]  # the editor stopped while the job was still a's
    assert (await a.store.fetchone("SELECT owner FROM jobs WHERE id = ?", (jobs[0].id,)))["owner"] is None  # type: ignore[index]

    await a.cluster.leave()
    owners = {r["id"]: r["owner"] for r in await a.store.fetchall("SELECT id, owner FROM jobs")}
    assert [owners[j.id] for j in jobs] == [None, None, None]
    assert owners[sent.id] == "a"  # sent: taken over (never claimed), so it is never sent again
    _free(b, 10)
    assert await b.cluster.take_over() == 1
    assert [j.id for j in b.engine.adopted] == [sent.id]
    assert await b.cluster.claim() == 3


async def test_a_dead_process_s_interaction_notes_go_to_its_taker(members: list[Member]) -> None:
    a, b = members
    ledger = SharedLedger(a.store, "a")
    note = {"job_id": "feedface", "token": "tok", "user_id": 1}
    assert await ledger.note("feedface", note)
    assert await ledger.note("seen-through", {"job_id": "seen-through"})
    ledger.done("seen-through")
    await ledger.close()
    taken: list[list[dict[str, Any]]] = []
    b.cluster.on_interactions_left = taken.append
    await _expire(a.store, "a")
    await b.cluster.take_over()
    assert taken == [[note]]
    rows = await b.store.fetchall("SELECT job_id, owner, note FROM interaction_ledger")
    assert [(r["job_id"], r["owner"], json.loads(r["note"])) for r in rows] == [("feedface", "b", note)]


async def test_a_process_shares_its_queue_only_while_another_is_alive(members: list[Member]) -> None:
    a, b = members
    await a.cluster.tick()
    assert a.cluster.sharing
    await _expire(b.store, "b")
    await a.cluster.tick()  # takes b over, and is alone afterwards
    assert not a.cluster.sharing


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
