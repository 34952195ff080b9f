from __future__ import annotations

import asyncio
import contextlib
import contextvars
import datetime as dt
import json
import logging
import sqlite3
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from importlib import resources
from pathlib import Path
from typing import Any, Protocol

import aiosqlite

from bot.core.errors import StoreError
from bot.core.models import Action, ErrorReason, Job, JobStatus, utcnow

_log = logging.getLogger(__name__)

# Another process holding the database (a backup, a second bot by mistake) gets this long before we fail.
BUSY_TIMEOUT_MS = 5000
# Most writes one commit carries (see Store.execute); bounds how long one batch holds the database.
MAX_BATCH = 256

_JSON_FIELDS = frozenset({"provider_data", "params", "image_urls_in", "image_urls", "actions"})
_TIME_FIELDS = frozenset(
    {"token_expires_at", "created_at", "updated_at", "submit_started_at", "submitted_at", "last_progress_at",
     "finished_at"}
)  # fmt: skip
_JOB_COLUMNS = tuple(Job.model_fields)
# The one definition of an unfinished job: the engine resumes these at start, and a member's concurrency
# limit counts them.
UNFINISHED = (JobStatus.QUEUED.value, JobStatus.SUBMITTED.value, JobStatus.RUNNING.value)
# Jobs that count against a member's quota and cooldown: everything but failed, moderated, cancelled and
# timed-out jobs, which are given back.
COUNTED = (*UNFINISHED, JobStatus.COMPLETED.value)


def _sql_list(values: Sequence[str]) -> str:
    """``('a', 'b')`` for SQL. Written out rather than bound, so SQLite can match a partial index whose
    WHERE names the same list (jobs_member_unfinished); the values are our own status names."""
    return "(" + ", ".join(f"'{value}'" for value in values) + ")"


_UNFINISHED_SQL = _sql_list(UNFINISHED)
_COUNTED_SQL = _sql_list(COUNTED)

# Set inside a transaction so the statements it runs do not wait on the lock their transaction holds.
_IN_TRANSACTION: contextvars.ContextVar[bool] = contextvars.ContextVar("in_transaction", default=False)

# A write that broke a unique key or a constraint. Every store raises this one class (the PostgreSQL store
# translates its driver's), so a caller catches it without knowing which store it has.
IntegrityError = sqlite3.IntegrityError


class Row(Protocol):
    """A result row as either store returns it: by position or by column name, and its column names."""

    def __getitem__(self, key: int | str, /) -> Any: ...

    def keys(self) -> Any: ...


def _to_db(name: str, value: Any) -> Any:
    if value is None:
        return None
    if name in _JSON_FIELDS:
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    if name in _TIME_FIELDS:
        return iso(value)
    return value


def job_from_row(row: Row) -> Job:
    """A job from a row of the jobs table, as either store returns it."""
    return _job_from_row(row)


def _job_from_row(row: Row) -> Job:
    data: dict[str, Any] = {}
    for key in row.keys():  # noqa: SIM118 - neither sqlite3.Row nor asyncpg's Record is a mapping
        value = row[key]
        if value is not None and key in _JSON_FIELDS:
            value = json.loads(value)
        elif value is not None and key in _TIME_FIELDS:
            value = dt.datetime.fromisoformat(value)
        data[key] = value
    return Job.model_validate(data)


def iso(moment: dt.datetime) -> str:
    """The form timestamps take in the database, so they compare as text."""
    return moment.astimezone(dt.UTC).isoformat(timespec="microseconds")


def from_iso(value: str | None) -> dt.datetime | None:
    """A timestamp as the database holds it (see :func:`iso`), or None for NULL or empty."""
    return dt.datetime.fromisoformat(value) if value else None


class Store:
    """Jobs and provider-account state in one SQLite file.

    One connection serves the whole process. A lock keeps another coroutine's statements out of an
    open transaction, so a check-then-write inside :meth:`transaction` is atomic.
    """

    # Which SQL the database speaks beyond the portable part: "sqlite" or "postgres".
    dialect = "sqlite"

    def __init__(self, conn: aiosqlite.Connection, path: str) -> None:
        self._conn = conn
        self._lock = asyncio.Lock()
        self.path = path
        # A second, read-only connection for reads outside transactions: WAL lets it read committed data
        # while the writer works, so a burst of reads neither waits behind the writes nor delays them.
        self._reader: aiosqlite.Connection | None = None
        # Writes outside transactions are committed in batches by a plain connection on its own thread.
        self._batcher: sqlite3.Connection | None = None
        self._batch_thread: ThreadPoolExecutor | None = None
        self._batch: list[tuple[str, Sequence[Any], bool, asyncio.Future[int]]] = []
        self._flusher: asyncio.Task[None] | None = None

    @contextlib.asynccontextmanager
    async def _exclusive(self) -> AsyncIterator[None]:
        if _IN_TRANSACTION.get():
            yield
        else:
            async with self._lock:
                yield

    # -- lifecycle -------------------------------------------------------------------------------

    @classmethod
    async def open(cls, path: str | Path) -> Store:
        """The store at ``path``: a SQLite file, or with a ``postgresql://`` URL the PostgreSQL store."""
        if isinstance(path, str) and path.split("://", 1)[0] in ("postgresql", "postgres"):
            from bot.core.store._postgres import PostgresStore

            return await PostgresStore.open(path)
        path = str(path)
        if path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        try:
            conn = await aiosqlite.connect(path, isolation_level=None, timeout=BUSY_TIMEOUT_MS / 1000)
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open the database at {path}: {exc}") from exc
        conn.row_factory = sqlite3.Row
        store = cls(conn, path)
        try:
            await conn.execute("PRAGMA journal_mode=WAL")
            await conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
            await conn.execute("PRAGMA foreign_keys=ON")
            # WAL with NORMAL sync loses at most the last transactions on power loss, never integrity.
            await conn.execute("PRAGMA synchronous=NORMAL")
            await store._migrate()
            if path != ":memory:":
                store._reader = await _open_reader(path)
                store._batch_thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="store-writer")
                loop = asyncio.get_running_loop()
                store._batcher = await loop.run_in_executor(store._batch_thread, _open_batcher, path)
        except BaseException:
            await store.close()
            raise
        return store

    async def close(self) -> None:
        if self._flusher is not None:
            await asyncio.gather(self._flusher, return_exceptions=True)
        if self._batcher is not None and self._batch_thread is not None:
            await asyncio.get_running_loop().run_in_executor(self._batch_thread, self._batcher.close)
            self._batcher = None
        if self._batch_thread is not None:
            self._batch_thread.shutdown(wait=False)
            self._batch_thread = None
        if self._reader is not None:
            await self._reader.close()
            self._reader = None
        await self._conn.close()

    async def _migrate(self) -> None:
        await self._conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL,"
            " applied_at TEXT NOT NULL)"
        )
        async with self._conn.execute("SELECT version FROM schema_migrations") as cur:
            applied = {row[0] for row in await cur.fetchall()}
        for version, name, sql in self.migrations():
            if version in applied:
                continue
            _log.info("applying migration %04d %s", version, name)
            async with self.transaction():
                # executescript would commit on its own; run the statements one by one inside ours.
                for statement in _split_sql(sql):
                    await self._conn.execute(statement)
                await self._conn.execute(
                    "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)",
                    (version, name, iso(utcnow())),
                )

    @staticmethod
    def migrations() -> list[tuple[int, str, str]]:
        """The numbered migrations shipped with the package, in order."""
        found = []
        for entry in resources.files("bot.core.store.migrations").iterdir():
            stem, _, ext = entry.name.partition(".")
            number, _, name = stem.partition("_")
            if ext == "sql" and number.isdigit():
                found.append((int(number), name, entry.read_text(encoding="utf-8")))
        return sorted(found)

    async def schema_version(self) -> int:
        row = await self.fetchone("SELECT MAX(version) FROM schema_migrations")
        return int(row[0] or 0) if row else 0

    # -- snapshots other processes change (one SQLite process has no others) ----------------------

    async def announce(self, key: str) -> None:
        """Tell every process sharing the database that the cached snapshot ``key`` names (``guild:<id>``,
        ``member:<user>``) is stale. Called inside the write's transaction, it goes out with the commit.
        One process on SQLite: its own cache was updated by the write, nobody else to tell."""

    def watch(self, callback: Callable[[str | None], None]) -> None:
        """Have ``callback(key)`` called when another process announces ``key``, and ``callback(None)``
        when announcements may have been missed (drop every snapshot). Never called on SQLite."""

    # -- primitives shared with the other stores of the bot (moderation, settings) --------------

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[Any]:
        """BEGIN IMMEDIATE … COMMIT, rolled back whole on any error."""
        if _IN_TRANSACTION.get():
            raise RuntimeError("transactions do not nest")
        async with self._lock:
            token = _IN_TRANSACTION.set(True)
            try:
                try:
                    await self._conn.execute("BEGIN IMMEDIATE")
                except sqlite3.Error as exc:
                    raise StoreError(f"the database is unavailable: {exc}") from exc
                try:
                    yield self._conn
                except BaseException:
                    await self._conn.execute("ROLLBACK")
                    raise
                try:
                    await self._conn.execute("COMMIT")
                except sqlite3.Error as exc:
                    await self._conn.execute("ROLLBACK")
                    raise StoreError(f"the database could not save the change: {exc}") from exc
            finally:
                _IN_TRANSACTION.reset(token)

    async def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        """Run one write statement atomically; returns the number of rows changed.

        Outside a transaction the statement joins the writes waiting to be committed: one commit and one
        trip to the writer thread for all of them, each in a savepoint of its own so one failing leaves
        the others alone. It returns once its batch is committed. Under a burst that is the difference
        between the database keeping up and every write waiting its turn behind a turn of the event loop.
        """
        if self._batcher is not None and sql.lstrip()[:6].upper() == "PRAGMA":
            # A connection setting: every connection gets it, as if there were one.
            assert self._batch_thread is not None
            async with self._exclusive():
                await asyncio.get_running_loop().run_in_executor(self._batch_thread, self._batcher.execute, sql, params)
            if self._reader is not None:
                await self._reader.execute_fetchall(sql, params)
        elif self._batcher is not None and not _IN_TRANSACTION.get():
            return await self._queue_write(sql, params, rowid=False)
        try:
            async with self._exclusive():
                # One trip to the database thread instead of two (execute, close): under load each trip
                # waits for a turn of the event loop. Statements run one at a time, so the change in the
                # connection's running count of changed rows is this statement's count (no triggers here).
                before = self._conn.total_changes
                await self._conn.execute_fetchall(sql, params)
                return self._conn.total_changes - before
        except sqlite3.IntegrityError:
            raise
        except sqlite3.Error as exc:
            raise StoreError(f"the database could not save the change: {exc}") from exc

    async def insert(self, sql: str, params: Sequence[Any] = ()) -> int:
        """Run one INSERT; returns the new row's rowid, read in the same step so no other insert can intervene."""
        if self._batcher is not None and not _IN_TRANSACTION.get():
            return await self._queue_write(sql, params, rowid=True)
        try:
            async with self._exclusive():
                row = await self._conn.execute_insert(sql, params)
        except sqlite3.IntegrityError:
            raise
        except sqlite3.Error as exc:
            raise StoreError(f"the database could not save the change: {exc}") from exc
        return int(row[0]) if row else 0

    async def _queue_write(self, sql: str, params: Sequence[Any], *, rowid: bool) -> int:
        done: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self._batch.append((sql, tuple(params), rowid, done))
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush(), name="store-writer")
        return await done

    async def _flush(self) -> None:
        loop = asyncio.get_running_loop()
        while self._batch:
            batch, self._batch = self._batch[:MAX_BATCH], self._batch[MAX_BATCH:]
            items = [(sql, params, rowid) for sql, params, rowid, _ in batch]
            # Writes are queued only while the batch writer is open, and close() waits for this task first.
            batcher = self._batcher
            assert batcher is not None
            try:
                # The lock keeps a batch out of an open transaction on the other connection.
                async with self._lock:
                    results = await loop.run_in_executor(self._batch_thread, _write_batch, batcher, items)
            except BaseException as exc:
                failure = StoreError(f"the database could not save the change: {exc}")
                for *_, done in batch:
                    if not done.done():
                        done.set_exception(failure)
                if not isinstance(exc, Exception):
                    raise
                continue
            for (*_, done), result in zip(batch, results, strict=True):
                if done.done():
                    continue
                if isinstance(result, sqlite3.IntegrityError):
                    done.set_exception(result)
                elif isinstance(result, sqlite3.Error):
                    done.set_exception(StoreError(f"the database could not save the change: {result}"))
                else:
                    done.set_result(result)

    async def fetchall(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        try:
            if self._reader is not None and not _IN_TRANSACTION.get():
                return list(await self._reader.execute_fetchall(sql, params))
            # One trip to the database thread instead of three (execute, fetch, close).
            async with self._exclusive():
                return list(await self._conn.execute_fetchall(sql, params))
        except sqlite3.Error as exc:
            raise StoreError(f"the database could not be read: {exc}") from exc

    async def fetchone(self, sql: str, params: Sequence[Any] = ()) -> Row | None:
        rows = await self.fetchall(sql, params)
        return rows[0] if rows else None

    # -- jobs ------------------------------------------------------------------------------------

    async def insert_job(self, job: Job) -> Job:
        columns = ", ".join(_JOB_COLUMNS)
        marks = ", ".join("?" for _ in _JOB_COLUMNS)
        values = [_to_db(name, getattr(job, name)) for name in _JOB_COLUMNS]
        await self.execute(f"INSERT INTO jobs ({columns}) VALUES ({marks})", values)
        return job

    async def insert_child(self, job: Job) -> tuple[Job, bool]:
        """Insert a button-press job unless its (parent, action) already exists.

        Returns the job that holds that key and whether it was created by this call.
        """
        try:
            await self.insert_job(job)
        except IntegrityError:
            existing = await self.fetchone(
                "SELECT * FROM jobs WHERE parent_id = ? AND action = ?", (job.parent_id, job.action.value)
            )
            if existing is None:
                raise
            return _job_from_row(existing), False
        return job, True

    async def record_submit_start(self, job: Job) -> None:
        """Write what a submit is about to be sent with (provider, account, attempts, the moment, the data):
        once this is stored the job may reach the provider and is never sent again on a guess. One write for
        both the single process and the cluster's guarded path, so the two cannot drift apart."""
        await self.update_job(
            job.id,
            provider=job.provider,
            account=job.account,
            attempts=job.attempts,
            submit_started_at=job.submit_started_at,
            provider_data=job.provider_data,
        )

    async def update_job(self, job_id: str, **fields: Any) -> None:
        """Write the given fields of one job, stamping ``updated_at``."""
        fields.setdefault("updated_at", utcnow())
        assignments = ", ".join(f"{name} = ?" for name in fields)
        values = [_to_db(name, _plain(value)) for name, value in fields.items()]
        await self.execute(f"UPDATE jobs SET {assignments} WHERE id = ?", [*values, job_id])

    async def mark_delivered(self, job_ids: Sequence[str]) -> None:
        """Flag finished jobs whose message shows the result, in one statement."""
        if not job_ids:
            return
        marks = ", ".join("?" for _ in job_ids)
        await self.execute(
            f"UPDATE jobs SET delivered = 1, updated_at = ? WHERE id IN ({marks})", [iso(utcnow()), *job_ids]
        )

    async def get_job(self, job_id: str) -> Job | None:
        row = await self.fetchone("SELECT * FROM jobs WHERE id = ?", (job_id,))
        return _job_from_row(row) if row else None

    async def find_by_provider_job(self, provider: str, provider_job_id: str) -> Job | None:
        row = await self.fetchone(
            "SELECT * FROM jobs WHERE provider = ? AND provider_job_id = ?", (provider, provider_job_id)
        )
        return _job_from_row(row) if row else None

    async def unfinished_jobs(self) -> list[Job]:
        rows = await self.fetchall("SELECT * FROM jobs WHERE status IN (?, ?, ?) ORDER BY created_at", UNFINISHED)
        return [_job_from_row(row) for row in rows]

    async def undelivered_jobs(self, within: dt.timedelta = dt.timedelta(days=1)) -> list[Job]:
        """Finished jobs whose message does not show it yet; older ones are past caring about."""
        rows = await self.fetchall(
            "SELECT * FROM jobs WHERE delivered = 0 AND finished_at IS NOT NULL AND finished_at > ?"
            " ORDER BY finished_at",
            (iso(utcnow() - within),),
        )
        return [_job_from_row(row) for row in rows]

    async def jobs_for_user(
        self, user_id: int, *, limit: int = 10, offset: int = 0, guild_id: int | None = None
    ) -> list[Job]:
        sql = "SELECT * FROM jobs WHERE user_id = ?"
        params: list[Any] = [user_id]
        if guild_id is not None:
            sql += " AND guild_id = ?"
            params.append(guild_id)
        sql += " ORDER BY created_at DESC LIMIT ? OFFSET ?"
        rows = await self.fetchall(sql, [*params, limit, offset])
        return [_job_from_row(row) for row in rows]

    async def query_jobs(
        self,
        *,
        guild_id: int | None = None,
        user_id: int | None = None,
        statuses: Iterable[JobStatus] | None = None,
        limit: int = 10,
        offset: int = 0,
    ) -> list[Job]:
        clauses: list[str] = []
        params: list[Any] = []
        if guild_id is not None:
            clauses.append("guild_id = ?")
            params.append(guild_id)
        if user_id is not None:
            clauses.append("user_id = ?")
            params.append(user_id)
        if statuses is not None:
            wanted = [s.value for s in statuses]
            clauses.append(f"status IN ({', '.join('?' for _ in wanted)})")
            params.extend(wanted)
        where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
        rows = await self.fetchall(
            f"SELECT * FROM jobs {where} ORDER BY created_at DESC LIMIT ? OFFSET ?", [*params, limit, offset]
        )
        return [_job_from_row(row) for row in rows]

    async def job_choices(
        self, guild_id: int, typed: str, *, user_id: int | None = None, limit: int = 25, window: int = 500
    ) -> list[Job]:
        """Recent jobs of a guild (of one member with ``user_id``) whose id starts with ``typed`` or whose
        prompt holds it (any case), newest first: the choices of an autocomplete.

        One query on ``jobs_guild_user_created`` (``jobs_guild_created`` without a member) that reads at
        most the ``window`` newest jobs, so it stays fast however much a guild has made.
        """
        member = " AND user_id = ?" if user_id is not None else ""
        params: list[Any] = [guild_id, *([user_id] if user_id is not None else []), window]
        sql = f"SELECT * FROM (SELECT * FROM jobs WHERE guild_id = ?{member} ORDER BY created_at DESC LIMIT ?)"
        sql += " AS recent"  # PostgreSQL names every subquery
        needle = typed.strip().lower()
        if needle:
            sql += " WHERE substr(id, 1, ?) = ? OR instr(lower(prompt), ?) > 0"
            params += [len(needle), needle, needle]
        rows = await self.fetchall(sql + " ORDER BY created_at DESC LIMIT ?", [*params, limit])
        return [_job_from_row(row) for row in rows]

    # -- what members have running and have used (moderation's limits and statistics) -------------

    async def has_child(self, parent_id: str, action: Action) -> bool:
        """Whether a press of this button on this job already made a job."""
        row = await self.fetchone("SELECT 1 FROM jobs WHERE parent_id = ? AND action = ?", (parent_id, action.value))
        return row is not None

    async def pressed_actions(self, parent_id: str) -> frozenset[Action]:
        """The buttons of this job that a press already turned into a job (its children, by action)."""
        rows = await self.fetchall("SELECT action FROM jobs WHERE parent_id = ?", (parent_id,))
        return frozenset(Action(row[0]) for row in rows)

    async def unfinished_count(self, guild_id: int, user_id: int) -> int:
        """A member's unfinished jobs in a guild."""
        row = await self.fetchone(
            f"SELECT COUNT(*) FROM jobs WHERE guild_id = ? AND user_id = ? AND status IN {_UNFINISHED_SQL}",
            (guild_id, user_id),
        )
        return int(row[0]) if row else 0

    async def unfinished_by_status(self, guild_id: int, user_id: int) -> dict[JobStatus, int]:
        """A member's unfinished jobs in a guild, per status; a status with none is left out."""
        rows = await self.fetchall(
            f"SELECT status, COUNT(*) FROM jobs WHERE guild_id = ? AND user_id = ? AND status IN {_UNFINISHED_SQL}"
            " GROUP BY status",
            (guild_id, user_id),
        )
        return {JobStatus(r[0]): int(r[1]) for r in rows}

    async def counted_since(self, guild_id: int, user_id: int, since: dt.datetime) -> int:
        """A member's jobs created at or after ``since`` that count against a quota (:data:`COUNTED`)."""
        row = await self.fetchone(
            "SELECT COUNT(*) FROM jobs WHERE guild_id = ? AND user_id = ? AND created_at >= ?"
            f" AND status IN {_COUNTED_SQL}",
            (guild_id, user_id, iso(since)),
        )
        return int(row[0]) if row else 0

    async def last_counted_after(self, guild_id: int, user_id: int, after: dt.datetime) -> dt.datetime | None:
        """When the member's newest counted job created after ``after`` was created; None if there is none."""
        row = await self.fetchone(
            "SELECT MAX(created_at) FROM jobs WHERE guild_id = ? AND user_id = ? AND created_at > ?"
            f" AND status IN {_COUNTED_SQL}",
            (guild_id, user_id, iso(after)),
        )
        return from_iso(row[0]) if row else None

    async def status_counts(self, guild_id: int, since: dt.datetime) -> dict[JobStatus, int]:
        """A guild's jobs created at or after ``since``, per status; a status with none is left out."""
        rows = await self.fetchall(
            "SELECT status, COUNT(*) FROM jobs WHERE guild_id = ? AND created_at >= ? GROUP BY status",
            (guild_id, iso(since)),
        )
        return {JobStatus(r[0]): r[1] for r in rows}

    async def top_errors(self, guild_id: int, since: dt.datetime, *, limit: int = 5) -> list[tuple[str, int]]:
        """The reasons a guild's jobs since ``since`` ended with most often, and how often."""
        rows = await self.fetchall(
            "SELECT error, COUNT(*) AS n FROM jobs WHERE guild_id = ? AND created_at >= ? AND error IS NOT NULL"
            " GROUP BY error ORDER BY n DESC, error LIMIT ?",
            (guild_id, iso(since), limit),
        )
        return [(r[0], r[1]) for r in rows]

    async def top_members(self, guild_id: int, since: dt.datetime, *, limit: int = 10) -> list[tuple[int, int, int]]:
        """(member, jobs, completed jobs) for the guild's busiest members since ``since``."""
        rows = await self.fetchall(
            # CASE rather than SUM(status = 'completed'): PostgreSQL does not add up booleans.
            "SELECT user_id, COUNT(*) AS n, SUM(CASE WHEN status = 'completed' THEN 1 ELSE 0 END) FROM jobs"
            " WHERE guild_id = ? AND created_at >= ? GROUP BY user_id ORDER BY n DESC, user_id LIMIT ?",
            (guild_id, iso(since), limit),
        )
        return [(r[0], r[1], r[2]) for r in rows]

    # -- facts about the bot itself (bot_state) ---------------------------------------------------

    async def get_state(self, key: str) -> str | None:
        """The value stored under ``key``, or None; e.g. the hash of the commands last synced."""
        row = await self.fetchone("SELECT value FROM bot_state WHERE key = ?", (key,))
        return str(row[0]) if row else None

    async def set_state(self, key: str, value: str) -> None:
        await self.execute(
            "INSERT INTO bot_state (key, value, updated_at) VALUES (?, ?, ?)"
            " ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
            (key, value, iso(utcnow())),
        )

    # -- provider accounts -----------------------------------------------------------------------

    async def paused_accounts(self) -> dict[tuple[str, str], tuple[str | None, str | None]]:
        rows = await self.fetchall(
            "SELECT provider, name, pause_reason, pause_detail FROM provider_accounts WHERE paused = 1"
        )
        return {(r["provider"], r["name"]): (r["pause_reason"], r["pause_detail"]) for r in rows}

    async def pause_account(self, provider: str, name: str, reason: ErrorReason, detail: str | None) -> None:
        await self.execute(
            "INSERT INTO provider_accounts (provider, name, paused, pause_reason, pause_detail, paused_at)"
            " VALUES (?, ?, 1, ?, ?, ?) ON CONFLICT (provider, name) DO UPDATE SET paused = 1,"
            " pause_reason = excluded.pause_reason, pause_detail = excluded.pause_detail,"
            " paused_at = excluded.paused_at",
            (provider, name, reason.value, detail, iso(utcnow())),
        )

    async def resume_account(self, provider: str, name: str) -> bool:
        changed = await self.execute(
            "UPDATE provider_accounts SET paused = 0, pause_reason = NULL, pause_detail = NULL, paused_at = NULL"
            " WHERE provider = ? AND name = ? AND paused = 1",
            (provider, name),
        )
        return changed > 0


def _open_batcher(path: str) -> sqlite3.Connection:
    """The batch writer's connection, opened on its thread with the settings of the main one."""
    conn = sqlite3.connect(path, isolation_level=None, timeout=BUSY_TIMEOUT_MS / 1000, check_same_thread=False)
    conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    conn.execute("PRAGMA foreign_keys=ON")
    conn.execute("PRAGMA synchronous=NORMAL")
    return conn


def _write_batch(conn: sqlite3.Connection, items: list[tuple[str, Sequence[Any], bool]]) -> list[int | sqlite3.Error]:
    """Run writes in one transaction, each in its own savepoint; per write its result or its error.

    Runs on the writer thread. If the transaction itself cannot begin or commit, nothing of it stays and
    the exception goes to every write of the batch.
    """
    results: list[int | sqlite3.Error] = []
    conn.execute("BEGIN IMMEDIATE")
    try:
        for sql, params, rowid in items:
            conn.execute("SAVEPOINT item")
            before = conn.total_changes
            try:
                cursor = conn.execute(sql, params)
            except sqlite3.Error as exc:
                conn.execute("ROLLBACK TO item")
                results.append(exc)
            else:
                results.append(int(cursor.lastrowid or 0) if rowid else conn.total_changes - before)
            conn.execute("RELEASE item")
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    return results


async def _open_reader(path: str) -> aiosqlite.Connection:
    reader = await aiosqlite.connect(path, isolation_level=None, timeout=BUSY_TIMEOUT_MS / 1000)
    reader.row_factory = sqlite3.Row
    try:
        await reader.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        await reader.execute("PRAGMA query_only=ON")
    except BaseException:
        await reader.close()
        raise
    return reader


def _plain(value: Any) -> Any:
    """Enum members and lists of them become their values, for the JSON and text columns."""
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, Action | JobStatus | ErrorReason):
        return value.value
    return value


def _split_sql(script: str) -> list[str]:
    """Split a migration into statements; our migrations keep semicolons out of literals and triggers."""
    statements, current = [], []
    for line in script.splitlines():
        stripped = line.strip()
        if stripped.startswith("--") or not stripped:
            continue
        current.append(line)
        if stripped.endswith(";"):
            statements.append("\n".join(current))
            current = []
    if current:
        statements.append("\n".join(current))
    return statements
