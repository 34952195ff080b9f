"""The job store on PostgreSQL (asyncpg), for several bot processes sharing one set of jobs.

It is a :class:`Store`: every query method is inherited and runs the same SQL text; only the primitives
(``execute``, ``insert``, ``fetchall``, ``transaction``) and the migrations differ. The SQL the bot writes
is SQLite's dialect kept portable: ``?`` marks become ``$1, $2, …`` here, and timestamps stay ISO text.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import datetime as dt
import logging
import re
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg

from bot.core.errors import StoreError
from bot.core.models import Job, utcnow
from bot.core.store._store import _JOB_COLUMNS, UNFINISHED, IntegrityError, Row, Store, _job_from_row, _to_db, iso

__all__ = ["CACHE_CHANNEL", "PostgresStore", "is_postgres_url", "keep_listening", "listen", "to_postgres"]

# What asyncpg calls on a notification: the connection, the sender's pid, the channel and the payload.
Notified = Callable[[Any, int, str, str], None]


async def listen(
    url: str, application_name: str, channels: Mapping[str, Notified], connect_timeout_s: float
) -> tuple[asyncpg.Connection, asyncio.Event]:
    """A connection of its own LISTENing on ``channels`` (named ``application_name`` in pg_stat_activity, so
    an operator can tell it from the pool's), and the event set when it is lost. Each listener (the cache's,
    the cluster's inbox) keeps its own, as LISTEN lives and dies with one session."""
    conn = await asyncpg.connect(url, timeout=connect_timeout_s, server_settings={"application_name": application_name})
    lost = asyncio.Event()
    try:
        conn.add_termination_listener(lambda _conn: lost.set())
        for channel, callback in channels.items():
            await conn.add_listener(channel, callback)
    except BaseException:
        with contextlib.suppress(Exception):
            await conn.close(timeout=1)
        raise
    return conn, lost


# What a lost listening connection, or a server away while listening again, raises.
LISTEN_ERRORS: tuple[type[BaseException], ...] = (
    OSError,
    TimeoutError,
    asyncpg.PostgresError,
    asyncpg.InterfaceError,
    asyncpg.InternalClientError,
)


async def keep_listening(
    conn: asyncpg.Connection,
    lost: asyncio.Event,
    reopen: Callable[[], Awaitable[tuple[asyncpg.Connection, asyncio.Event]]],
    *,
    what: str,
    on_lost: Callable[[], None],
    on_back: Callable[[], None],
    check_s: float,
    retry_s: tuple[float, float],
) -> None:
    """Keep a :func:`listen` connection for as long as the caller runs this: it is asked every ``check_s``
    whether it is still there (one lost without a word, a dropped network, is found so), and when lost it is
    replaced, waiting from ``retry_s[0]`` doubling up to ``retry_s[1]`` while the server is away. A NOTIFY sent
    while nobody listened went nowhere, so ``on_lost`` and ``on_back`` let the caller catch up."""
    while True:
        try:
            while not lost.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(lost.wait(), check_s)
                if not lost.is_set():
                    await asyncio.wait_for(conn.execute("SELECT 1"), check_s)
        except LISTEN_ERRORS as exc:
            _log.warning("the connection listening for %s failed: %s", what, exc)
        finally:
            with contextlib.suppress(Exception):
                await conn.close(timeout=1)
        on_lost()
        _log.warning("lost the connection listening for %s; listening again", what)
        retry = retry_s[0]
        while True:
            try:
                conn, lost = await reopen()
                break
            except LISTEN_ERRORS as exc:
                _log.warning("cannot listen for %s (retrying in %g s): %s", what, retry, exc)
                await asyncio.sleep(retry)
                retry = min(retry * 2, retry_s[1])
        on_back()
        _log.info("listening again for %s", what)


_log = logging.getLogger(__name__)

# Connections per process: the engine's writes are short, and every extra process adds its own.
POOL_SIZE = 10
# A statement waits at most this long for a free connection, then fails as the database being unavailable.
ACQUIRE_TIMEOUT_S = 30.0
# Keys of the advisory locks that serialise the migrations and the transactions of every process.
_MIGRATION_LOCK = 0x1A6B0001
_TRANSACTION_LOCK = 0x1A6B0002
# The NOTIFY channel on which a process says which cached snapshot its write made stale (Store.announce).
CACHE_CHANNEL = "imaginebot_cache"
# How often the listening connection is asked whether it is still there: a connection lost without a word
# (a dropped network) is found within this long, and every snapshot dropped.
LISTEN_CHECK_S = 15.0
# Waits between attempts to listen again after the connection was lost: doubling up to this long.
LISTEN_RETRY_MAX_S = 30.0

# Finished jobs kept in memory once read (see PostgresStore.get_job); the oldest goes first past this many.
FINISHED_KEPT = 1024

# The connection of the transaction this task is in, so the statements inside it run on it.
_CONNECTION: contextvars.ContextVar[asyncpg.Connection | None] = contextvars.ContextVar("pg_conn", default=None)

_INTEGER = re.compile(r"\bINTEGER\b", re.IGNORECASE)
_REAL = re.compile(r"\bREAL\b", re.IGNORECASE)
_AUTOINCREMENT = re.compile(r"\bINTEGER\s+PRIMARY\s+KEY\s+AUTOINCREMENT\b", re.IGNORECASE)
_ROWS_CHANGED = re.compile(r"^(?:INSERT \d+|UPDATE|DELETE|MERGE|COPY|SELECT) (\d+)$")


def is_postgres_url(location: str | Path) -> bool:
    return isinstance(location, str) and location.startswith(("postgresql://", "postgres://"))


def to_postgres(migration: str) -> str:
    """A portable migration in PostgreSQL's words.

    SQLite's INTEGER is a 64-bit integer, PostgreSQL's is 32: every INTEGER becomes BIGINT (Discord ids
    need 64 bits), and an AUTOINCREMENT key an identity column. SQLite's REAL is an 8-byte float,
    PostgreSQL's a 4-byte one: REAL becomes DOUBLE PRECISION, so 0.7 reads back as 0.7. Everything else in
    our migrations (TEXT, partial indexes, ALTER TABLE ADD COLUMN, ON CONFLICT) means the same in both.
    """
    migration = _AUTOINCREMENT.sub("BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY", migration)
    migration = _REAL.sub("DOUBLE PRECISION", migration)
    return _INTEGER.sub("BIGINT", migration)


def placeholders(sql: str) -> str:
    """SQLite's ``?`` marks as PostgreSQL's ``$1, $2, …``; a ``?`` inside a quoted literal stays."""
    out: list[str] = []
    number = 0
    quote: str | None = None
    for char in sql:
        if quote is not None:
            if char == quote:
                quote = None
        elif char in "'\"":
            quote = char
        elif char == "?":
            number += 1
            out.append(f"${number}")
            continue
        out.append(char)
    return "".join(out)


def redacted(url: str) -> str:
    """The URL without its password, for logs and ``Store.path``."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))


def _rows_changed(status: str) -> int:
    match = _ROWS_CHANGED.match(status)
    return int(match.group(1)) if match else 0


class PostgresStore(Store):
    """Jobs and provider-account state in a PostgreSQL database, shared by any number of processes.

    A pool of connections serves the process. :meth:`transaction` holds one connection and an advisory
    lock that every process's transactions share, so a check-then-write inside it is atomic across
    processes, as BEGIN IMMEDIATE makes it on SQLite.
    """

    dialect = "postgres"

    def __init__(self, pool: asyncpg.Pool, url: str) -> None:
        # Store.__init__ is not called: it sets up SQLite's connections.
        self._pool = pool
        self.url = url
        self.path = redacted(url)
        # One transaction of this process at a time, taken before a connection: transactions waiting for
        # their turn hold no connection, so the reads and writes they may wait on always find one.
        self._transactions = asyncio.Lock()
        # The process this store serves, once it has joined the others (bot.core.cluster): new jobs are
        # stamped with it, and the jobs resumed at start are its own only.
        self.owner: str | None = None
        # What watches the snapshots other processes announce (Store.watch), and the connection listening
        # for them; ``listens`` counts how often it started listening (logs and tests read it).
        self._watchers: list[Callable[[str | None], None]] = []
        self._listening: asyncio.Task[None] | None = None
        self._listener: asyncpg.Connection | None = None
        self.listens = 0
        # Finished jobs as last read, by id (get_job).
        self._finished: dict[str, Job] = {}

    @classmethod
    async def open(cls, path: str | Path) -> Store:
        url = str(path)
        try:
            pool = await asyncpg.create_pool(url, min_size=1, max_size=POOL_SIZE, reset=_keep_session)
        except (OSError, asyncpg.PostgresError) as exc:
            raise StoreError(f"cannot open the database at {redacted(url)}: {exc}") from exc
        store = cls(pool, url)
        try:
            await store._migrate()
            try:
                listening = await store._listen()
            except (OSError, TimeoutError, asyncpg.PostgresError) as exc:
                raise StoreError(f"cannot listen on the database at {redacted(url)}: {exc}") from exc
        except BaseException:
            await store.close()
            raise
        store._listening = asyncio.create_task(store._keep_listening(*listening), name="store-cache-listener")
        return store

    async def close(self) -> None:
        if self._listening is not None:
            self._listening.cancel()
            await asyncio.gather(self._listening, return_exceptions=True)
            self._listening = None
        await self._pool.close()

    async def _migrate(self) -> None:
        async with self._pool.acquire() as conn:
            # One process migrates at a time; the others then find the work done.
            await conn.execute("SELECT pg_advisory_lock($1)", _MIGRATION_LOCK)
            try:
                await conn.execute(
                    "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL,"
                    " applied_at TEXT NOT NULL)"
                )
                await conn.execute(_COMPAT)
                applied = {row[0] for row in await conn.fetch("SELECT version FROM schema_migrations")}
                for version, name, sql in self.migrations():
                    if version in applied:
                        continue
                    _log.info("applying migration %04d %s", version, name)
                    async with conn.transaction():
                        await conn.execute(sql)
                        await conn.execute(
                            "INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)",
                            version,
                            name,
                            iso(utcnow()),
                        )
            finally:
                await conn.execute("SELECT pg_advisory_unlock($1)", _MIGRATION_LOCK)

    @staticmethod
    def migrations() -> list[tuple[int, str, str]]:
        """The shipped migrations as PostgreSQL runs them: a file of the same number in
        ``migrations/postgres/`` replaces the portable one; the others are translated by :func:`to_postgres`."""
        overrides = {}
        for entry in resources.files("bot.core.store.migrations.postgres").iterdir():
            stem, _, ext = entry.name.partition(".")
            number, _, name = stem.partition("_")
            if ext == "sql" and number.isdigit():
                overrides[int(number)] = (name, entry.read_text(encoding="utf-8"))
        found = []
        for version, name, sql in Store.migrations():
            if version in overrides:
                found.append((version, *overrides.pop(version)))
            else:
                found.append((version, name, to_postgres(sql)))
        found += [(version, name, sql) for version, (name, sql) in overrides.items()]
        return sorted(found)

    # -- primitives ------------------------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[Any]:
        """BEGIN … COMMIT on one connection, rolled back whole on any error, one at a time across all
        processes (a transaction-scoped advisory lock, released by the commit or the rollback)."""
        if _CONNECTION.get() is not None:
            raise RuntimeError("transactions do not nest")
        async with self._transactions, self._transaction() as conn:
            yield conn

    @contextlib.asynccontextmanager
    async def _transaction(self) -> AsyncIterator[Any]:
        try:
            conn = await self._pool.acquire(timeout=ACQUIRE_TIMEOUT_S)
        except (OSError, TimeoutError, asyncpg.PostgresError) as exc:
            raise StoreError(f"the database is unavailable: {exc}") from exc
        token = _CONNECTION.set(conn)
        try:
            try:
                # One round trip for both: every statement costs the bot a trip through its event loop.
                await conn.execute(f"BEGIN; SELECT pg_advisory_xact_lock({_TRANSACTION_LOCK})")
            except (OSError, asyncpg.PostgresError) as exc:
                raise StoreError(f"the database is unavailable: {exc}") from exc
            try:
                yield _Connection(conn)
            except BaseException:
                with contextlib.suppress(OSError, asyncpg.PostgresError, asyncpg.InterfaceError):
                    await conn.execute("ROLLBACK")
                raise
            try:
                await conn.execute("COMMIT")
            except (OSError, asyncpg.PostgresError) as exc:
                with contextlib.suppress(OSError, asyncpg.PostgresError, asyncpg.InterfaceError):
                    await conn.execute("ROLLBACK")
                raise StoreError(f"the database could not save the change: {exc}") from exc
        finally:
            _CONNECTION.reset(token)
            await self._pool.release(conn)

    async def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        status = await self._run("execute", sql, params)
        return _rows_changed(status)

    async def insert(self, sql: str, params: Sequence[Any] = ()) -> int:
        """Run one INSERT into a table keyed by an ``id`` column; returns the new row's id (0 if none)."""
        value = await self._run("fetchval", sql + " RETURNING id", params)
        return int(value) if value is not None else 0

    async def fetchall(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        rows: list[Row] = await self._run("fetch", sql, params, reading=True)
        return rows

    async def _run(
        self, method: str, sql: str, params: Sequence[Any], *, reading: bool = False, savepoint: bool = True
    ) -> Any:
        text = placeholders(sql)
        conn = _CONNECTION.get()
        try:
            if conn is not None:
                if reading or not savepoint or text.lstrip()[:6].upper() != "INSERT":
                    return await getattr(conn, method)(text, *params)
                # A savepoint before an insert: a duplicate key (which callers catch and go on from) leaves the
                # transaction usable, as a failing statement does on SQLite. Left for the commit to release.
                await conn.execute("SAVEPOINT statement")
                try:
                    return await getattr(conn, method)(text, *params)
                except asyncpg.PostgresError:
                    await conn.execute("ROLLBACK TO SAVEPOINT statement")
                    raise
            async with self._pool.acquire(timeout=ACQUIRE_TIMEOUT_S) as pooled:
                return await getattr(pooled, method)(text, *params)
        except asyncpg.IntegrityConstraintViolationError as exc:
            raise IntegrityError(str(exc)) from exc
        except (
            OSError,
            TimeoutError,
            asyncpg.PostgresError,
            asyncpg.InterfaceError,
            asyncpg.InternalClientError,
        ) as exc:
            # InternalClientError too: a pooled connection the server dropped may fail its next statement so.
            verb = "read" if reading else "save the change"
            raise StoreError(f"the database could not {verb}: {exc}") from exc

    # -- jobs, by owner ---------------------------------------------------------------------------

    async def insert_job(self, job: Job) -> Job:
        # No savepoint inside a transaction (a round trip): the only conflict is a duplicate id, which ends
        # the transaction; insert_child, which goes on after a conflict, has none to go on from.
        await self._insert_job(job, "")
        return job

    async def insert_child(self, job: Job) -> tuple[Job, bool]:
        # A press already made meets ON CONFLICT instead of an error, so no savepoint is needed around it.
        if await self._insert_job(job, " ON CONFLICT DO NOTHING"):
            return job, True
        existing = await self.fetchone(
            "SELECT * FROM jobs WHERE parent_id = ? AND action = ?", (job.parent_id, job.action.value)
        )
        if existing is None:
            raise IntegrityError(f"a job with the id {job.id} exists")
        return _job_from_row(existing), False

    async def _insert_job(self, job: Job, conflict: str) -> int:
        """Insert the job, stamped with this process once it has joined the others; returns rows inserted."""
        columns = _JOB_COLUMNS if self.owner is None else (*_JOB_COLUMNS, "owner")
        values = [_to_db(name, getattr(job, name)) for name in _JOB_COLUMNS]
        if self.owner is not None:
            values.append(self.owner)
        marks = ", ".join("?" for _ in columns)
        sql = f"INSERT INTO jobs ({', '.join(columns)}) VALUES ({marks}){conflict}"
        return _rows_changed(await self._run("execute", sql, values, savepoint=False))

    async def get_job(self, job_id: str) -> Job | None:
        """The job, a finished one from memory once read: a press reads its parent twice (the cog, then the
        submit), and a finished job's row changes no more but for its message and delivered flag, which the
        owner writes through :meth:`update_job` (dropping the copy here) and :meth:`mark_delivered`."""
        kept = self._finished.get(job_id)
        if kept is not None:
            return kept.model_copy(deep=True)
        job = await super().get_job(job_id)
        if job is not None and job.terminal:
            if len(self._finished) >= FINISHED_KEPT:
                del self._finished[next(iter(self._finished))]
            self._finished[job_id] = job.model_copy(deep=True)
        return job

    async def update_job(self, job_id: str, **fields: Any) -> None:
        self._finished.pop(job_id, None)
        await super().update_job(job_id, **fields)

    async def mark_delivered(self, job_ids: Sequence[str]) -> None:
        # One statement text whatever the number of ids: asyncpg prepares each text once per connection,
        # where an IN list of each length would be a statement of its own, pushing others out of the cache.
        if job_ids:
            sql = "UPDATE jobs SET delivered = 1, updated_at = ? WHERE id = ANY(?::text[])"
            await self.execute(sql, (iso(utcnow()), list(job_ids)))
        for job_id in job_ids:
            # Kept, with the flag: a press on a result usually comes after its delivery was written.
            if (kept := self._finished.get(job_id)) is not None:
                kept.delivered = True

    async def unfinished_jobs(self) -> list[Job]:
        if self.owner is None:
            return await super().unfinished_jobs()
        rows = await self.fetchall(
            "SELECT * FROM jobs WHERE status IN (?, ?, ?) AND owner = ? ORDER BY created_at", (*UNFINISHED, self.owner)
        )
        return [_job_from_row(row) for row in rows]

    async def undelivered_jobs(self, within: dt.timedelta = dt.timedelta(days=1)) -> list[Job]:
        if self.owner is None:
            return await super().undelivered_jobs(within)
        rows = await self.fetchall(
            "SELECT * FROM jobs WHERE delivered = 0 AND finished_at IS NOT NULL AND finished_at > ? AND owner = ?"
            " ORDER BY finished_at",
            (iso(utcnow() - within), self.owner),
        )
        return [_job_from_row(row) for row in rows]

    # -- snapshots other processes change ----------------------------------------------------------

    async def announce(self, key: str) -> None:
        # Inside a transaction PostgreSQL sends it at the commit, and not at all after a rollback.
        await self.execute("SELECT pg_notify(?, ?)", (CACHE_CHANNEL, key))

    def watch(self, callback: Callable[[str | None], None]) -> None:
        self._watchers.append(callback)

    def _stale(self, key: str | None) -> None:
        for callback in self._watchers:
            try:
                callback(key)
            except Exception:
                _log.exception("a cache could not drop %s", key or "its snapshots")

    def _notified(self, connection: Any, pid: int, channel: str, payload: str) -> None:
        # Our own writes come back too: the snapshot is loaded once more, nothing worse.
        self._stale(payload)

    async def _listen(self) -> tuple[asyncpg.Connection, asyncio.Event]:
        """LISTEN on a connection of its own; returns it and the event set when it is lost."""
        conn, lost = await listen(self.url, "imaginebot-cache", {CACHE_CHANNEL: self._notified}, ACQUIRE_TIMEOUT_S)
        self._listener = conn
        self.listens += 1
        return conn, lost

    async def _keep_listening(self, conn: asyncpg.Connection, lost: asyncio.Event) -> None:
        """Keep the connection :meth:`open` started listening on for as long as the store is open. When it is
        lost every snapshot is dropped, and again once listening anew: whatever was cached meanwhile may have
        missed an announcement."""

        def lost_it() -> None:
            self._listener = None
            self._stale(None)

        await keep_listening(
            conn, lost, self._listen, what="other processes' changes", on_lost=lost_it,
            on_back=lambda: self._stale(None), check_s=LISTEN_CHECK_S, retry_s=(0.5, LISTEN_RETRY_MAX_S),
        )  # fmt: skip

    # -- PostgreSQL only ---------------------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def connection(self) -> AsyncIterator[asyncpg.Connection]:
        """A connection of the pool for the caller's own use (LISTEN, row locks), returned afterwards."""
        async with self._pool.acquire() as conn:
            try:
                yield conn
            finally:
                # The pool skips the reset (_keep_session); whatever this caller may have left in the session
                # goes here. A connection that cannot be reset is closed rather than lent again.
                try:
                    await conn.reset()
                except BaseException as exc:
                    conn.terminate()
                    if not isinstance(exc, Exception):
                        raise


async def _keep_session(conn: asyncpg.Connection) -> None:
    """The pool's reset when a connection comes back: nothing to send. asyncpg's default sends a reset query
    (unlock, close, unlisten, reset all) with every release, a round trip for every statement run outside a
    transaction; the store's statements leave nothing in the session (its advisory locks are the
    transaction's, the migration lock is released before the connection is), and asyncpg still rolls back
    an open transaction first. :meth:`PostgresStore.connection`, for other uses, resets in full."""


class _Connection:
    """What :meth:`PostgresStore.transaction` yields: ``execute`` in SQLite's form on its connection."""

    def __init__(self, conn: asyncpg.Connection) -> None:
        self._conn = conn

    async def execute(self, sql: str, params: Sequence[Any] = ()) -> str:
        return str(await self._conn.execute(placeholders(sql), *params))


# Functions SQLite has and PostgreSQL names otherwise, so the same query text runs on both.
_COMPAT = """
CREATE OR REPLACE FUNCTION instr(haystack TEXT, needle TEXT) RETURNS INTEGER
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS 'SELECT strpos(haystack, needle)';
"""
