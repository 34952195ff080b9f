"""Several bot processes sharing one set of jobs on PostgreSQL.

Each process registers in ``bot_processes`` with a lease it renews every third of ``JOB_LEASE_S``; that
one lease covers every job the process owns (``jobs.owner``), so owning a thousand jobs costs one write per
renewal. A job's owner is the only process that works on it and edits its message. What moves between
processes, and when:

- **Taking in.** The process that receives an interaction stores its job as its own and starts it at once
  when it has a slot free (no detour through the database on an idle cluster).
- **The shared queue.** A queued job its owner cannot start now (every slot of this process taken, see
  ``PROCESS_MAX_JOBS``; or the guarded write below says wait) goes back to the shared queue, while
  another process is alive to take it (alone, a process keeps its queue as on SQLite): the engine
  takes it out of its own queue, the message editor shows its latest state and stops
  (:attr:`Cluster.hand_over`), and only then is its owner cleared (``owner IS NULL``) and the others told
  (``NOTIFY imagine_shared``). A process with a slot free claims from the shared queue
  (:meth:`Cluster.claim`, ``FOR UPDATE SKIP LOCKED``: claims at once take different jobs and never wait for
  each other) in the fair order across every process's members, no more than its free slots and the
  slots its accounts have left across all processes, and becomes the owner: from then on its editor alone
  edits the message. A job is never taken from a process that is about to send it: only the owner hands
  a job back, and only one it could not start.
- **Leaving.** A graceful stop (SIGTERM) hands the queued jobs back after the editors stopped, gives the
  lease up and says so, so another process claims those and takes the rest over at once (a deploy, not
  a death).
- **Takeover.** A process whose lease ran out is dead to the others: the first to see it claims its
  process row (``FOR UPDATE SKIP LOCKED``, so one process takes each dead one), moves its unfinished and
  undelivered jobs and its open interaction notes (``interaction_ledger``, :mod:`bot.core.ledger`) to
  itself in the same transaction and adopts them exactly as a restart does (``JobEngine.adopt``): a
  queued job is queued, a job whose submit may have been sent waits in limbo to be claimed and is never
  sent again, a followed job is followed, and an interaction acknowledged but never stored as a job is
  answered on its message as a restart answers it. Within about ``JOB_LEASE_S`` plus a third of it.
- **Never twice.** The submit is recorded by a conditional write that holds only while the job is still
  this process's, queued and unsent, under the transaction lock every process shares; a process that
  was thought dead (a long pause) and lost its jobs finds the write refused and sends nothing, and learns
  at its next renewal that its lease is gone (it then stops, see ``on_fenced``).
- **Account limits and the fair queue across processes.** The same write counts the account's slots
  held by every process's jobs, and lets a job wait while the shared queue or a live process has a
  queued job for that provider whose member has fewer jobs in flight (the round-robin of ``FairQueue``,
  across processes); the claim takes jobs in the same order.
- **Callbacks anywhere.** A provider callback about a job another process owns is stored in
  ``webhook_inbox`` and the owner woken with ``NOTIFY``; the owner (``LISTEN``) applies it as if it had
  received it. A taken-over job's waiting callbacks go to its new owner. The listening connection is
  watched: when it drops (a server restart, ``pg_terminate_backend``) the process connects again with
  backoff, listens again and re-reads the inbox, where callbacks forwarded meanwhile wait; and every
  renewal re-reads it too, so a lost notification costs at most a third of the lease.

Discord is not here: each process's presenter edits the messages of its own jobs only; a job's stored
interaction token, channel and message id let whichever process owns it edit its message (through the
token while it is valid, then the channel route with the bot token).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import datetime as dt
import json
import logging
import os
import secrets
import signal
import socket
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import asyncpg

from bot.core.engine import Clearance, JobEngine
from bot.core.errors import StoreError
from bot.core.models import Job, utcnow
from bot.core.store import UNFINISHED, PostgresStore, iso, job_from_row, keep_listening, listen

__all__ = ["INBOX_CHANNEL", "SHARED_CHANNEL", "Cluster"]

_log = logging.getLogger(__name__)

# The NOTIFY channel on which a process is told that callbacks wait for it; the payload is its id.
INBOX_CHANNEL = "imagine_inbox"
# Undelivered results a dead process left are shown by its taker if they ended within this long.
UNDELIVERED_WITHIN_S = 86400
# The NOTIFY channel on which a process says it joined ("joined:<id>"), handed jobs back to the shared
# queue ("released:<id>") or left ("left:<id>"), so the others share, claim or take over at once rather
# than at their next renewal.
SHARED_CHANNEL = "imagine_shared"
# A job handed back waits at most this long for its message editor to finish (see Cluster.hand_over).
HAND_OVER_WAIT_S = 10.0
# Jobs that could not be handed back (the database away) are queued here again after this long.
HAND_BACK_RETRY_S = 1.0
# The inbox listener's name in pg_stat_activity, so an operator (and a test) can tell it from the pool's.
INBOX_APPLICATION = "imaginebot-inbox"
# How often the listening connection is asked whether it is still there: one lost without a word (a dropped
# network) is found within this long; the renewals re-read the inbox meanwhile.
LISTEN_CHECK_S = 15.0
# Waits between attempts to listen again after the connection was lost: from the first, doubling up to the last.
LISTEN_RETRY_S = (0.2, 10.0)
# A renewal that failed (a pooled connection the server dropped, a server restarting) is tried again after
# this long, doubling, until the next one is due: a dropped connection costs one statement, not the lease.
RENEW_RETRY_S = 0.1
# What a lost connection or an unavailable server raises, through the store or on a connection of our own.
# (InternalClientError: how a pooled connection the server dropped may fail its next statement.)
_DATABASE_ERRORS = (
    StoreError,
    OSError,
    TimeoutError,
    asyncpg.PostgresError,
    asyncpg.InterfaceError,
    asyncpg.InternalClientError,
)
_UNFINISHED = ", ".join(f"'{status}'" for status in UNFINISHED)
# A member's jobs in flight at a provider (``{user}``: a bound mark or a column), the fair queue's measure.
_IN_FLIGHT = (
    "(SELECT COUNT(*) FROM jobs z WHERE z.user_id = {user} AND z.provider = ? AND z.submit_started_at"
    f" IS NOT NULL AND z.status IN ({_UNFINISHED}))"
)


def _process_id() -> str:
    """Readable in logs and the table: host, pid and a random part (pids are reused)."""
    return f"{socket.gethostname()[:40]}-{os.getpid()}-{secrets.token_hex(3)}"


def _terminate() -> None:
    # The ordinary shutdown path (bot/__main__.py handles SIGTERM); a supervisor starts the process again.
    os.kill(os.getpid(), signal.SIGTERM)


class Cluster:
    """This process's membership of the set of processes sharing the database's jobs."""

    def __init__(
        self,
        store: PostgresStore,
        engine: JobEngine,
        *,
        lease_s: float,
        process_id: str | None = None,
        on_fenced: Callable[[], None] = _terminate,
    ) -> None:
        self.store = store
        self.engine = engine
        self.lease_s = lease_s
        self.id = process_id or _process_id()
        self.on_fenced = on_fenced
        # Jobs taken over from dead processes since start (tests and logs read it).
        self.taken_over = 0
        self._listener: asyncpg.Connection | None = None
        self._loop: asyncio.Task[None] | None = None
        self._drain: asyncio.Task[None] | None = None
        self._listening: asyncio.Task[None] | None = None
        # Every channel this process listens on, and what it does on a notification; each is listened on
        # again on every new connection (see _keep_listening).
        self._channels: dict[str, Callable[[Any, int, str, str], None]] = {
            INBOX_CHANNEL: self._notified,
            SHARED_CHANNEL: self._shared_notified,
        }
        self._started = False
        self._inbox = asyncio.Event()
        # Set by the Discord layer: stop editing these jobs' messages, after showing their latest state; a
        # job's message is edited by its owner only, so a job is handed back only once this returns.
        self.hand_over: Callable[[list[str]], Awaitable[None]] | None = None
        # Set by the extension that keeps the interaction ledger: the notes of dead processes taken over.
        self.on_interactions_left: Callable[[list[dict[str, Any]]], None] | None = None
        # Jobs claimed from and handed back to the shared queue since start (tests and logs read them).
        self.claimed = 0
        self.handed_back = 0
        self._claim_wanted = asyncio.Event()
        self._claiming: asyncio.Task[None] | None = None
        # Whether the shared queue may hold jobs this process could claim (a hint; the claim is the truth).
        self._shared_waiting = True
        self._tick_now = asyncio.Event()
        self._handing: set[asyncio.Task[None]] = set()
        # Whether another process is alive to claim what this one cannot start (bot.core.engine.SubmitGuard):
        # alone, a process keeps its queue as one process on SQLite does, with no trip through the database.
        self.sharing = False
        # How often this process started listening for its inbox (logs and tests read it).
        self.listens = 0

    # -- lifecycle -------------------------------------------------------------------------------

    async def join(self) -> None:
        """Register with a fresh lease; from now on new jobs are this process's. Before the engine starts."""
        await self.store.execute(
            "INSERT INTO bot_processes (id, lease_until, started_at)"
            " VALUES (?, extract(epoch from clock_timestamp()) + ?, ?)",
            (self.id, self.lease_s, iso(utcnow())),
        )
        self.store.owner = self.id
        self.engine.guard = self
        # Renewing from now on: the rest of the start (the gateway, a slow command sync) may outlast the lease.
        self._loop = asyncio.create_task(self._run(), name="cluster-lease")
        _log.info("joined the cluster as %s (lease %g s)", self.id, self.lease_s)

    async def start(self) -> None:
        """Listen for callbacks forwarded to this process and for the others' news; take over what is due now,
        and at every renewal; claim from the shared queue."""
        listening = await self._listen()
        self._started = True
        await self.tick()
        # The others hand work back from now on, not from their next renewal.
        await self.store.execute("SELECT pg_notify(?, ?)", (SHARED_CHANNEL, f"joined:{self.id}"))
        self._drain = asyncio.create_task(self._drain_loop(), name="cluster-inbox")
        self._claiming = asyncio.create_task(self._claim_loop(), name="cluster-claim")
        self._listening = asyncio.create_task(self._keep_listening(*listening), name="cluster-inbox-listener")
        self._inbox.set()

    async def stop(self) -> None:
        """Stop renewing and listening; then stop the engine, then :meth:`leave`."""
        for task in (self._loop, self._drain, self._claiming, self._listening, *self._handing):
            if task is not None:
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
        if self._listener is not None:
            with contextlib.suppress(Exception):
                await self._listener.close()
            self._listener = None

    async def leave(self) -> None:
        """Leave gracefully (a deploy, not a death), after the engine and the message editors stopped: the
        queued jobs never sent go back to the shared queue, for any process to claim in the fair order; the
        lease is given up, and the others are told, so one of them takes the rest over (the jobs in flight,
        the interactions not seen through) at once rather than after the lease time."""
        with contextlib.suppress(StoreError):
            released = await self.store.execute(
                "UPDATE jobs SET owner = NULL WHERE owner = ? AND status = 'queued' AND submit_started_at IS NULL",
                (self.id,),
            )
            if released:
                _log.info("%s handed %d queued jobs back on leaving", self.id, released)
            await self.store.execute("UPDATE bot_processes SET lease_until = 0 WHERE id = ?", (self.id,))
            await self.store.execute("SELECT pg_notify(?, ?)", (SHARED_CHANNEL, f"left:{self.id}"))

    async def _run(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                # A process that left says so: its jobs are taken over now, not at the next renewal.
                await asyncio.wait_for(self._tick_now.wait(), self.lease_s / 3)
            self._tick_now.clear()
            try:
                await self.renew()
            except Exception:
                # A bug must not stop the renewals: this process would lose its jobs while it still runs them.
                _log.exception("the lease renewal of %s failed unexpectedly", self.id)

    async def renew(self) -> bool:
        """:meth:`tick`, tried again soon after a failure until the next renewal is due: the pool replaces a
        connection the server dropped at its next use, and a restarting server is back within seconds.
        Whether it renewed; if the database stays away the lease may run out, and the next renewal says so."""
        loop = asyncio.get_running_loop()
        due = loop.time() + self.lease_s / 3
        wait = RENEW_RETRY_S
        while True:
            try:
                await self.tick()
                return True
            except _DATABASE_ERRORS as exc:
                if loop.time() + wait >= due:
                    _log.warning("could not renew the lease of %s: %s", self.id, exc)
                    return False
                _log.info("renewing the lease of %s failed (trying again in %g s): %s", self.id, wait, exc)
            await asyncio.sleep(wait)
            wait *= 2

    async def tick(self) -> None:
        """Renew the lease, then (once started) take over the jobs of processes whose lease ran out."""
        # The same statement counts the other processes alive: with none, there is nobody to hand work to.
        renewed = await self.store.fetchone(
            "UPDATE bot_processes SET lease_until = extract(epoch from clock_timestamp()) + ? WHERE id = ?"
            " RETURNING (SELECT COUNT(*) FROM bot_processes o WHERE o.id <> ?"
            " AND o.lease_until > extract(epoch from clock_timestamp())) AS others",
            (self.lease_s, self.id, self.id),
        )
        if renewed is None:
            # Another process found this one dead and took its jobs: carrying on could send a job twice.
            _log.critical("%s lost its lease to another process; stopping", self.id)
            self.store.owner = None
            self.on_fenced()
            return
        self.sharing = bool(renewed["others"])
        if not self._started:
            return  # joined, the engine not started yet: it takes nothing over before it runs its own jobs
        await self.take_over()
        await self.claim_overdue()
        self._inbox.set()  # a missed notification costs one renewal period, no more
        self._want_claim()

    async def take_over(self) -> int:
        """Move the jobs of every process found dead to this one and adopt them; returns how many."""
        unfinished: list[Job] = []
        undelivered: list[Job] = []
        async with self.store.connection() as conn, conn.transaction():
            dead = [
                row["id"]
                for row in await conn.fetch(
                    "SELECT id FROM bot_processes WHERE lease_until < extract(epoch from clock_timestamp())"
                    " AND id <> $1 FOR UPDATE SKIP LOCKED",
                    self.id,
                )
            ]
            # A job of no process (from before several processes) is taken too, but not one waiting in the
            # shared queue: that one is claimed by a process with a free slot, in the fair order.
            rows = await conn.fetch(
                "UPDATE jobs SET owner = $1 WHERE (owner = ANY($2::text[]) OR (owner IS NULL"
                " AND NOT (status = 'queued' AND submit_started_at IS NULL)))"
                f" AND (status IN ({_UNFINISHED}) OR (delivered = 0 AND finished_at IS NOT NULL"
                " AND finished_at > $3)) RETURNING *",
                self.id,
                dead,
                iso(utcnow() - dt.timedelta(seconds=UNDELIVERED_WITHIN_S)),
            )
            notes = []
            if dead:
                # The interactions it acknowledged but did not see through: now this process's to answer.
                notes = await conn.fetch(
                    "UPDATE interaction_ledger SET owner = $1 WHERE owner = ANY($2::text[]) RETURNING note",
                    self.id,
                    dead,
                )
                await conn.execute("DELETE FROM bot_processes WHERE id = ANY($1::text[])", dead)
        for row in rows:
            job = job_from_row(row)
            (undelivered if job.terminal else unfinished).append(job)
        unfinished.sort(key=lambda j: j.created_at)
        if dead or unfinished:
            _log.warning(
                "%s took over %d unfinished and %d undelivered jobs from %s",
                self.id, len(unfinished), len(undelivered), ", ".join(dead) or "no process",
            )  # fmt: skip
        self.taken_over += len(unfinished)
        self.engine.adopt(unfinished, undelivered)
        if rows:
            self._inbox.set()  # callbacks may wait for the jobs just taken
        if notes:
            _log.warning("%s took over %d interactions not seen through", self.id, len(notes))
            if self.on_interactions_left is not None:
                self.on_interactions_left([json.loads(row["note"]) for row in notes])
        return len(unfinished)

    # -- the guard the engine asks (bot.core.engine.SubmitGuard) ------------------------------

    async def begin_submit(self, job: Job, max_jobs: int) -> Clearance:
        async with self.store.transaction():
            # One round trip: the job as stored, its account's jobs in flight in every process, and its
            # member's jobs in flight at its provider (the fair queue's measure, see _other_member_first).
            row = await self.store.fetchone(
                "SELECT owner, status, submit_started_at, (SELECT COUNT(*) FROM jobs WHERE provider = ? AND account = ?"
                f" AND submit_started_at IS NOT NULL AND status IN ({_UNFINISHED})) AS held,"
                f" {_IN_FLIGHT.format(user='?')} AS mine FROM jobs WHERE id = ?",
                (job.provider, job.account, job.user_id, job.provider, job.id),
            )
            # Not queued any more: cancelled meanwhile (perhaps by a press another process received).
            if row is None or row["owner"] != self.id or row["status"] != "queued" or row["submit_started_at"]:
                _log.warning("job %s is no longer %s's to send; leaving it", job.id, self.id)
                return Clearance.GONE
            if row["held"] >= max_jobs:
                return Clearance.WAIT
            if await self._other_member_first(job, row["mine"]):
                return Clearance.WAIT
            await self.store.record_submit_start(job)
        return Clearance.GO

    async def _other_member_first(self, job: Job, mine: int) -> bool:
        """Whether a live process, or the shared queue, has a job queued for this provider whose member has
        fewer jobs in flight than this job's member (``mine``): then that one goes first, as the fair queue
        orders members in one process."""
        if not mine:
            return False  # nobody has fewer than none: the usual case, answered without looking at the queue
        row = await self.store.fetchone(
            "SELECT 1 FROM jobs y WHERE y.status = 'queued' AND y.submit_started_at IS NULL AND y.provider = ?"
            " AND (y.account IS NULL OR y.account = ?) AND y.user_id <> ? AND (y.owner IS NULL OR (y.owner <> ?"
            " AND y.owner IN (SELECT id FROM bot_processes WHERE lease_until > extract(epoch from clock_timestamp()))))"
            f" AND {_IN_FLIGHT.format(user='y.user_id')} < ? LIMIT 1",
            (job.provider, job.account, job.user_id, self.id, job.provider, mine),
        )
        return row is not None

    async def forward_webhook(self, job_id: str, provider: str, headers: Mapping[str, str], body: bytes) -> bool:
        row = await self.store.fetchone("SELECT owner FROM jobs WHERE id = ?", (job_id,))
        owner = row["owner"] if row is not None else None
        if owner is None or owner == self.id:
            return False
        await self.store.execute(
            "INSERT INTO webhook_inbox (job_id, provider, headers, body, received_at) VALUES (?, ?, ?, ?, ?)",
            (job_id, provider, json.dumps(dict(headers)), base64.b64encode(body).decode(), iso(utcnow())),
        )
        await self.store.execute("SELECT pg_notify(?, ?)", (INBOX_CHANNEL, owner))
        _log.info("forwarded a %s callback for job %s to %s", provider, job_id, owner)
        return True

    # -- the shared queue ------------------------------------------------------------------------------

    def hand_back(self, jobs: list[Job]) -> None:
        """Queued jobs this process has no slot for go back to the shared queue (the engine took them out of
        its own): their message editor stops first, then the owner is cleared, then the others are told."""
        task = asyncio.create_task(self._hand_back(jobs), name="cluster-hand-back")
        self._handing.add(task)
        task.add_done_callback(self._handing.discard)

    async def _hand_back(self, jobs: list[Job]) -> None:
        ids = [job.id for job in jobs]
        if self.hand_over is not None:
            try:
                await asyncio.wait_for(self.hand_over(ids), HAND_OVER_WAIT_S)
            except TimeoutError:
                _log.warning("the message editors of %d jobs did not stop in time; handing them back", len(ids))
        try:
            # Only what is still this process's, queued and never sent; the others are told at the commit.
            rows = await self.store.fetchall(
                "WITH given AS (UPDATE jobs SET owner = NULL WHERE id = ANY(?::text[]) AND owner = ?"
                " AND status = 'queued' AND submit_started_at IS NULL RETURNING id)"
                " SELECT id, pg_notify(?, ?) FROM given",
                (ids, self.id, SHARED_CHANNEL, f"released:{self.id}"),
            )
        except StoreError as exc:
            # Kept here: this process shows them and starts them when it has a slot, as with one process
            # (after a pause: with the database away, handing them back again at once would only spin).
            _log.warning("could not hand %d jobs back to the shared queue: %s", len(ids), exc)
            await asyncio.sleep(HAND_BACK_RETRY_S)
            self.engine.adopt([job for job in jobs if not job.terminal], [])
            return
        self.handed_back += len(rows)
        self._shared_waiting = True
        _log.debug("%s handed %d of %d waiting jobs back", self.id, len(rows), len(ids))

    def idle(self) -> None:
        """The engine has a slot free and nothing of its own to start: claim, if anything may be waiting."""
        if self._shared_waiting:
            self._claim_wanted.set()

    def _want_claim(self) -> None:
        self._shared_waiting = True
        if self.engine.pool.has_free():
            self._claim_wanted.set()

    def _shared_notified(self, connection: Any, pid: int, channel: str, payload: str) -> None:
        kind, _, who = payload.partition(":")
        if who == self.id:
            self._shared_waiting = kind == "released" or self._shared_waiting  # its own: claimed back later
        elif kind == "left":
            self._tick_now.set()
        elif kind == "joined":
            self.sharing = True  # the next renewal says whether it is still alive
        else:
            self.sharing = True
            self._want_claim()

    async def _claim_loop(self) -> None:
        while True:
            await self._claim_wanted.wait()
            self._claim_wanted.clear()
            try:
                await self.claim()
            except _DATABASE_ERRORS as exc:
                _log.warning("could not claim from the shared queue: %s", exc)
            except Exception:
                # A bug must not stop the claims: the shared queue would wait for the next renewal's claim.
                _log.exception("claiming from the shared queue failed unexpectedly")

    async def claim(self) -> int:
        """Take as many jobs from the shared queue as this process has slots free (and their accounts have
        across every process), in the fair order of every process's members, and queue them here; returns
        how many. ``FOR UPDATE SKIP LOCKED``: processes claiming at once take different jobs, no one waits."""
        pool = self.engine.pool
        slots = [slot for slot in pool if slot.free > 0]
        wanted = sum(slot.free for slot in slots)
        if pool.limit is not None:
            wanted = min(wanted, pool.limit - sum(slot.in_use for slot in pool))
        # The jobs queued here (claimed a moment ago, not yet started) take these slots first.
        wanted -= self.engine.queued
        if not slots or wanted <= 0:
            return 0
        providers = [slot.account.provider for slot in slots]
        names = [slot.account.name for slot in slots]
        limits = [slot.account.max_jobs for slot in slots]
        rows = await self.store.fetchall(_CLAIM, (providers, names, limits, wanted, self.id))
        if len(rows) < wanted:
            waiting = await self.store.fetchone(_ANY_SHARED)
            self._shared_waiting = bool(waiting and waiting[0])
        if rows:
            jobs = sorted((job_from_row(row) for row in rows), key=lambda j: j.created_at)
            self.claimed += len(jobs)
            _log.debug("%s claimed %d jobs from the shared queue", self.id, len(jobs))
            self.engine.adopt(jobs, [], claimed=True)
        return len(rows)

    async def claim_overdue(self) -> int:
        """Claim the jobs that waited in the shared queue past the queue timeout (whatever the slots), so
        this engine's watchdog ends them: every job ends, even one no process could take."""
        cutoff = iso(utcnow() - dt.timedelta(seconds=self.engine.config.queue_timeout_s))
        rows = await self.store.fetchall(
            "UPDATE jobs SET owner = ? WHERE owner IS NULL AND status = 'queued' AND submit_started_at IS NULL"
            " AND created_at < ? RETURNING *",
            (self.id, cutoff),
        )
        if rows:
            self.engine.adopt([job_from_row(row) for row in rows], [], claimed=True)
        return len(rows)

    # -- the inbox ---------------------------------------------------------------------------------

    def _notified(self, connection: Any, pid: int, channel: str, payload: str) -> None:
        if payload == self.id:
            self._inbox.set()

    async def _listen(self) -> tuple[asyncpg.Connection, asyncio.Event]:
        """LISTEN on this process's channels (its inbox) on a connection of its own; returns it and the event
        set when the connection is lost."""
        conn, lost = await listen(self.store.url, INBOX_APPLICATION, self._channels, LISTEN_CHECK_S)
        self._listener = conn
        self.listens += 1
        return conn, lost

    async def _keep_listening(self, conn: asyncpg.Connection, lost: asyncio.Event) -> None:
        """Keep listening for as long as this process is in the cluster: a lost connection is replaced, and the
        inbox read again and a claim tried, since a NOTIFY sent while nobody listened went nowhere but its
        callback, or the job handed back, waits in the table."""

        def back() -> None:
            self._inbox.set()
            self._want_claim()

        await keep_listening(
            conn, lost, self._listen, what=f"{self.id}'s callbacks", on_lost=self._lost_listener, on_back=back,
            check_s=LISTEN_CHECK_S, retry_s=LISTEN_RETRY_S,
        )  # fmt: skip

    def _lost_listener(self) -> None:
        self._listener = None

    async def _drain_loop(self) -> None:
        while True:
            await self._inbox.wait()
            self._inbox.clear()
            try:
                await self.drain_inbox()
            except StoreError as exc:
                _log.warning("could not read the callbacks waiting for %s: %s", self.id, exc)

    async def drain_inbox(self) -> int:
        """Apply the callbacks other processes received for this process's jobs; returns how many."""
        rows = await self.store.fetchall(
            "DELETE FROM webhook_inbox WHERE job_id IN (SELECT id FROM jobs WHERE owner = ?)"
            " RETURNING provider, headers, body",
            (self.id,),
        )
        for row in rows:
            try:
                await self.engine.handle_webhook(
                    row["provider"], json.loads(row["headers"]), base64.b64decode(row["body"])
                )
            except Exception:
                _log.exception("a forwarded %s callback could not be applied", row["provider"])
        return len(rows)


# A job whose submit may have reached its provider and that has not ended (a condition on one row).
_SENT = f"submit_started_at IS NOT NULL AND status IN ({_UNFINISHED})"
# The claim: jobs of the shared queue that an account of this process can run and that has a slot free
# across every process, in the fair order of FairQueue across all processes: a member's next job comes
# after as many turns as the member has jobs in flight and queued before it, so one member's burst waits
# behind the others' first jobs; equal turns go oldest first. No more than the slots left once the jobs
# that processes hold queued (just received, or claimed and about to be sent) take theirs, so a claim does
# not take what would only have to wait and go back. The marks, in order: this process's accounts with a
# slot free here (providers, names, their limits), its free slots, this process.
_CLAIM = f"""
WITH room AS (
    SELECT a.provider, a.account, a.max_jobs - (SELECT COUNT(*) FROM jobs h WHERE h.provider = a.provider
        AND h.account = a.account AND h.{_SENT}) AS free
    FROM unnest(?::text[], ?::text[], ?::bigint[]) AS a(provider, account, max_jobs)
), waiting AS (
    SELECT q.id, q.created_at, row_number() OVER (PARTITION BY q.user_id, q.provider ORDER BY q.created_at)
        + (SELECT COUNT(*) FROM jobs z WHERE z.user_id = q.user_id AND z.provider = q.provider AND z.{_SENT})
        AS turn
    FROM jobs q
    WHERE q.owner IS NULL AND q.status = 'queued' AND q.submit_started_at IS NULL
        AND q.provider IN (SELECT provider FROM room WHERE free > 0)
), picked AS (
    SELECT j.id FROM jobs j JOIN waiting w ON w.id = j.id
    WHERE j.owner IS NULL AND j.status = 'queued' AND j.submit_started_at IS NULL
        AND EXISTS (SELECT 1 FROM room r WHERE r.free > 0 AND r.provider = j.provider
            AND (j.action = 'imagine' OR j.account IS NULL OR r.account = j.account))
    ORDER BY w.turn, w.created_at
    LIMIT LEAST(?::bigint, GREATEST(0, (SELECT COALESCE(SUM(free), 0) FROM room WHERE free > 0)
        - (SELECT COUNT(*) FROM jobs p WHERE p.status = 'queued' AND p.submit_started_at IS NULL
            AND p.owner IS NOT NULL AND p.provider IN (SELECT provider FROM room))))
    FOR UPDATE OF j SKIP LOCKED
)
UPDATE jobs SET owner = ? FROM picked WHERE jobs.id = picked.id RETURNING jobs.*
"""
# Whether anything waits in the shared queue at all (after a claim that took fewer jobs than it wanted).
_ANY_SHARED = (
    "SELECT EXISTS (SELECT 1 FROM jobs WHERE owner IS NULL AND status = 'queued' AND submit_started_at IS NULL)"
)
