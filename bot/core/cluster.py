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
  received it. A taken-over job's waiting callbacks go to its new owner.

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
        self._inbox = asyncio.Event()

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
        _log.info("joined the cluster as %s (lease %g s)", self.id, self.lease_s)

    async def start(self) -> None:
        """Listen for callbacks forwarded to this process and start renewing; take over what is due now."""
        self._listener = await asyncpg.connect(self.store.url)
        await self._listener.add_listener(INBOX_CHANNEL, self._notified)
        await self.tick()
        self._loop = asyncio.create_task(self._run(), name="cluster-lease")
        self._drain = asyncio.create_task(self._drain_loop(), name="cluster-inbox")
        self._inbox.set()

    async def stop(self) -> None:
        """Stop renewing and listening; then stop the engine, then :meth:`leave`."""
        for task in (self._loop, self._drain):
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
                await self.tick()
            except StoreError as exc:
                # The database is away: the lease may run out meanwhile, and the next renewal says so.
                _log.warning("could not renew the lease of %s: %s", self.id, exc)

    async def tick(self) -> None:
        """Renew the lease, then take over the jobs of processes whose lease ran out."""
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
            # One round trip: the job as stored, its account's jobs in flight in every process, and its
            # member's jobs in flight at its provider (the fair queue's measure, see _other_member_first).
            row = await self.store.fetchone(
                "SELECT owner, submit_started_at, (SELECT COUNT(*) FROM jobs WHERE provider = ? AND account = ?"
                f" AND submit_started_at IS NOT NULL AND status IN ({_UNFINISHED})) AS held,"
                f" {_IN_FLIGHT.format(user='?')} AS mine FROM jobs WHERE id = ?",
                (job.provider, job.account, job.user_id, job.provider, job.id),
            )
            if row is None or row["owner"] != self.id or row["submit_started_at"] is not None:
                _log.warning("job %s is no longer %s's to send; leaving it", job.id, self.id)
                return Clearance.GONE
            if row["held"] >= max_jobs:
                return Clearance.WAIT
            if await self._other_member_first(job, row["mine"]):
                return Clearance.WAIT
            await self.store.record_submit_start(job)
        return Clearance.GO

    async def _other_member_first(self, job: Job, mine: int) -> bool:
        """Whether a live process has a job queued for this provider whose member has fewer jobs in flight
        than this job's member (``mine``): then that one goes first, as the fair queue orders members in one
        process."""
        if not mine:
            return False  # nobody has fewer than none: the usual case, answered without looking at the queue
        row = await self.store.fetchone(
            "SELECT 1 FROM jobs y WHERE y.status = 'queued' AND y.submit_started_at IS NULL AND y.provider = ?"
            " AND (y.account IS NULL OR y.account = ?) AND y.owner <> ? AND y.user_id <> ?"
            " AND y.owner IN (SELECT id FROM bot_processes WHERE lease_until > extract(epoch from clock_timestamp()))"
            f" AND {_IN_FLIGHT.format(user='y.user_id')} < ? LIMIT 1",
            (job.provider, job.account, self.id, job.user_id, job.provider, mine),
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
