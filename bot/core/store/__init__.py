"""The job store: the bot's source of truth. Public face: :class:`Store` (SQLite; with a ``postgresql://``
URL, ``Store.open`` gives the PostgreSQL store, the same interface), and the helpers the other stores of
the bot (moderation) share with it: the timestamp form, the job statuses it counts, the row and the
duplicate-key error either store returns."""

from bot.core.store._postgres import PostgresStore, keep_listening, listen
from bot.core.store._store import (
    BUSY_TIMEOUT_MS,
    COUNTED,
    UNFINISHED,
    IntegrityError,
    Row,
    Store,
    from_iso,
    iso,
    job_from_row,
)

__all__ = [
    "BUSY_TIMEOUT_MS",
    "COUNTED",
    "UNFINISHED",
    "IntegrityError",
    "PostgresStore",
    "Row",
    "Store",
    "from_iso",
    "iso",
    "job_from_row",
    "keep_listening",
    "listen",
]
