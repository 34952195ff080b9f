"""Several bot processes sharing one set of jobs on PostgreSQL.

Each process registers in ``bot_processes`` with a lease it renews every third of ``JOB_LEASE_S``, and
owns the jobs it takes in (``jobs.owner``, stamped by the store). Its engine runs those jobs as it would
alone; what the processes share goes through the database:

- **Takeover.** A process whose lease ran out is dead to the others: the first to see it claims its
  process row (``FOR UPDATE SKIP LOCKED``, so one process takes each dead one), moves its unfinished and
  undelivered jobs to itself in the same transaction and adopts them exactly as a restart does
  (``JobEngine.adopt``): a queued job is queued, a job whose submit may have been sent waits in limbo to
  be claimed and is never sent again, a followed job is followed. A job is taken over within about
  ``JOB_LEASE_S`` plus a third of it.
- **Never twice.** The submit is recorded by a conditional write that holds only while the job is still
  this process's and unsent, under the transaction lock every process shares; a process that was
  thought dead (a long pause) and lost its jobs finds the write refused and sends nothing, and learns at
  its next renewal that its lease is gone (it then stops, see ``on_fenced``).
- **Account limits and the fair queue across processes.** The same write counts the account's slots
  held by every process's jobs, and lets a job wait while a live process has a queued job for that
  provider whose member has fewer jobs in flight (the round-robin of ``FairQueue``, across processes).
- **Callbacks anywhere.** A provider callback about a job another process owns is stored in
  ``webhook_inbox`` and the owner woken with ``NOTIFY``; the owner (``LISTEN``) applies it as if it had
  received it. A taken-over job's waiting callbacks go to its new owner. The listening connection is
  watched: when it drops (a server restart, ``pg_terminate_backend``) the process connects again with
  backoff, listens again and re-reads the inbox, where callbacks forwarded meanwhile wait; and every
  renewal re-reads it too, so a lost notification costs at most a third of the lease.

Discord is not here: each process's presenter edits the messages of its own jobs only.
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
from collections.abc import Callable, Mapping
from typing import Any

import asyncpg

from bot.core.engine import Clearance, JobEngine
from bot.core.errors import StoreError
from bot.core.models import Job, utcnow
from bot.core.store import UNFINISHED, PostgresStore, iso, job_from_row

__all__ = ["INBOX_CHANNEL", "Cluster"]

_log = logging.getLogger(__name__)

# The NOTIFY channel on which a process is told that callbacks wait for it; the payload is its id.
INBOX_CHANNEL = "imagine_inbox"
# Undelivered results a dead process left are shown by its taker if they ended within this long.
UNDELIVERED_WITHIN_S = 86400
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
        self._channels: dict[str, Callable[[Any, int, str, str], None]] = {INBOX_CHANNEL: self._notified}
        self._started = False
        self._inbox = asyncio.Event()
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
        """Listen for callbacks forwarded to this process; take over what is due now, and at every renewal."""
        listening = await self._listen()
        self._started = True
        await self.tick()
        self._drain = asyncio.create_task(self._drain_loop(), name="cluster-inbox")
        self._listening = asyncio.create_task(self._keep_listening(*listening), name="cluster-inbox-listener")
        self._inbox.set()

    async def stop(self) -> None:
        """Stop renewing and listening; then stop the engine, then :meth:`leave`."""
        for task in (self._loop, self._drain, self._listening):
            if task is not None:
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
        if self._listener is not None:
            with contextlib.suppress(Exception):
                await self._listener.close()
            self._listener = None

    async def leave(self) -> None:
        """Give the lease up at once: the jobs left unfinished are taken over by another process at its next
        renewal rather than after the lease time (a deploy, not a death)."""
        with contextlib.suppress(StoreError):
            await self.store.execute("UPDATE bot_processes SET lease_until = 0 WHERE id = ?", (self.id,))

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.lease_s / 3)
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
        renewed = await self.store.execute(
            "UPDATE bot_processes SET lease_until = extract(epoch from clock_timestamp()) + ? WHERE id = ?",
            (self.lease_s, self.id),
        )
        if not renewed:
            # Another process found this one dead and took its jobs: carrying on could send a job twice.
            _log.critical("%s lost its lease to another process; stopping", self.id)
            self.store.owner = None
            self.on_fenced()
            return
        if not self._started:
            return  # joined, the engine not started yet: it takes nothing over before it runs its own jobs
        await self.take_over()
        self._inbox.set()  # a missed notification costs one renewal period, no more

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
            rows = await conn.fetch(
                "UPDATE jobs SET owner = $1 WHERE (owner = ANY($2::text[]) OR owner IS NULL)"
                f" AND (status IN ({_UNFINISHED}) OR (delivered = 0 AND finished_at IS NOT NULL"
                " AND finished_at > $3)) RETURNING *",
                self.id,
                dead,
                iso(utcnow() - dt.timedelta(seconds=UNDELIVERED_WITHIN_S)),
            )
            if dead:
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
        return len(unfinished)

    # -- the guard the engine asks (bot.core.engine.SubmitGuard) ------------------------------

    async def begin_submit(self, job: Job, max_jobs: int) -> Clearance:
        async with self.store.transaction():
            # One round trip: the job as stored, and its account's jobs in flight in every process.
            row = await self.store.fetchone(
                "SELECT owner, submit_started_at, (SELECT COUNT(*) FROM jobs WHERE provider = ? AND account = ?"
                f" AND submit_started_at IS NOT NULL AND status IN ({_UNFINISHED})) AS held FROM jobs WHERE id = ?",
                (job.provider, job.account, job.id),
            )
            if row is None or row["owner"] != self.id or row["submit_started_at"] is not None:
                _log.warning("job %s is no longer %s's to send; leaving it", job.id, self.id)
                return Clearance.GONE
            if row["held"] >= max_jobs:
                return Clearance.WAIT
            if await self._other_member_first(job):
                return Clearance.WAIT
            await self.store.record_submit_start(job)
        return Clearance.GO

    async def _other_member_first(self, job: Job) -> bool:
        """Whether a live process has a job queued for this provider whose member has fewer jobs in flight
        than this job's member: then that one goes first, as the fair queue orders members in one process."""
        in_flight = (
            "(SELECT COUNT(*) FROM jobs z WHERE z.user_id = {user} AND z.provider = ? AND z.submit_started_at"
            f" IS NOT NULL AND z.status IN ({_UNFINISHED}))"
        )
        mine = await self.store.fetchone(f"SELECT {in_flight.format(user='?')}", (job.user_id, job.provider))
        if mine is None or not mine[0]:
            return False  # nobody has fewer than none: the usual case, answered without looking at the queue
        row = await self.store.fetchone(
            "SELECT 1 FROM jobs y WHERE y.status = 'queued' AND y.submit_started_at IS NULL AND y.provider = ?"
            " AND (y.account IS NULL OR y.account = ?) AND y.owner <> ? AND y.user_id <> ?"
            " AND y.owner IN (SELECT id FROM bot_processes WHERE lease_until > extract(epoch from clock_timestamp()))"
            f" AND {in_flight.format(user='y.user_id')} < ? LIMIT 1",
            (job.provider, job.account, self.id, job.user_id, job.provider, mine[0]),
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

    # -- the inbox ---------------------------------------------------------------------------------

    def _notified(self, connection: Any, pid: int, channel: str, payload: str) -> None:
        if payload == self.id:
            self._inbox.set()

    async def _listen(self) -> tuple[asyncpg.Connection, asyncio.Event]:
        """LISTEN on this process's channels (its inbox) on a connection of its own; returns it and the event
        set when the connection is lost."""
        conn = await asyncpg.connect(
            self.store.url, timeout=LISTEN_CHECK_S, server_settings={"application_name": INBOX_APPLICATION}
        )
        lost = asyncio.Event()
        try:
            conn.add_termination_listener(lambda _conn: lost.set())
            for channel, callback in self._channels.items():
                await conn.add_listener(channel, callback)
        except BaseException:
            with contextlib.suppress(Exception):
                await conn.close(timeout=1)
            raise
        self._listener = conn
        self.listens += 1
        return conn, lost

    async def _keep_listening(self, conn: asyncpg.Connection, lost: asyncio.Event) -> None:
        """Keep listening for as long as this process is in the cluster: a lost connection is replaced, with
        backoff while the server is away, and the inbox read again, since a NOTIFY sent while nobody listened
        went nowhere but its callback waits in the table."""
        while True:
            try:
                while not lost.is_set():
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(lost.wait(), LISTEN_CHECK_S)
                    if not lost.is_set():
                        await asyncio.wait_for(conn.execute("SELECT 1"), LISTEN_CHECK_S)
            except _DATABASE_ERRORS as exc:
                _log.warning("the connection listening for %s's callbacks failed: %s", self.id, exc)
            finally:
                self._listener = None
                with contextlib.suppress(Exception):
                    await conn.close(timeout=1)
            _log.warning("lost the connection listening for %s's callbacks; listening again", self.id)
            retry = LISTEN_RETRY_S[0]
            while True:
                try:
                    conn, lost = await self._listen()
                    break
                except _DATABASE_ERRORS as exc:
                    _log.warning("cannot listen for %s's callbacks (retrying in %g s): %s", self.id, retry, exc)
                    await asyncio.sleep(retry)
                    retry = min(retry * 2, LISTEN_RETRY_S[1])
            self._inbox.set()
            _log.info("%s listens for its callbacks again", self.id)

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
