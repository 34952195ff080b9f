"""The interaction ledger in the database, for processes sharing one PostgreSQL (issue 13).

One process keeps its ledger in an append-only file (``cogs/imagine.py``, ``InteractionLedger``): the next
start of the same process reads what a kill left open. With several processes the one that received an
interaction may never start again, and the process that takes its jobs over must also take over the
interactions it acknowledged but did not see through (``bot.core.cluster``). So their notes live in the
``interaction_ledger`` table, stamped with the process that wrote them, and a takeover moves a dead
process's notes to itself with its jobs.

A note is written before the defer, so it costs one INSERT before the acknowledgement: it waits at most
``NOTE_WAIT_S`` for the database and then lets the interaction go on unrecorded (only a kill in the next
moments would leave its message thinking), as the file ledger does when it cannot write. A note is deleted
once its interaction is seen through, in batches: a delete lost to a kill leaves a note whose job is
stored (the takeover leaves that job to the engine) or whose member was answered (the takeover then says
on the message that the request was not started, which is still true), never a request sent twice.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

from bot.core.errors import StoreError
from bot.core.models import utcnow
from bot.core.store import Store, iso

__all__ = ["NOTE_WAIT_S", "SharedLedger"]

_log = logging.getLogger(__name__)

# The longest a note waits for the database before the defer goes ahead without it: Discord allows 3 s,
# and the acknowledgement has other waits to fit in (a note normally takes one round trip, ~1 ms).
NOTE_WAIT_S = 0.5
# Notes seen through are deleted together this often: one statement for a burst of interactions.
DONE_FLUSH_S = 0.5


class SharedLedger:
    """This process's notes of interactions not yet seen through, in the shared database."""

    def __init__(self, store: Store, owner: str) -> None:
        self.store = store
        self.owner = owner
        self._done: set[str] = set()
        self._flush: asyncio.Task[None] | None = None

    async def note(self, job_id: str, data: dict[str, Any]) -> bool:
        """Write the note of an interaction about to be acknowledged; False if it could not be written in time."""
        try:
            await asyncio.wait_for(
                self.store.execute(
                    "INSERT INTO interaction_ledger (job_id, owner, note, noted_at) VALUES (?, ?, ?, ?)",
                    (job_id, self.owner, json.dumps(data, ensure_ascii=False), iso(utcnow())),
                ),
                NOTE_WAIT_S,
            )
        except (StoreError, TimeoutError) as exc:
            _log.warning("could not note interaction of job %s in the database: %s", job_id, exc or "too slow")
            return False
        return True

    def done(self, job_id: str) -> None:
        """The interaction is seen through; its note is deleted within DONE_FLUSH_S."""
        self._done.add(job_id)
        if self._flush is None or self._flush.done():
            self._flush = asyncio.create_task(self._flush_soon(), name="ledger-done")

    async def _flush_soon(self) -> None:
        await asyncio.sleep(DONE_FLUSH_S)
        await self.flush()

    async def flush(self) -> None:
        while self._done:
            batch = list(self._done)
            self._done.clear()
            try:
                # One statement text for every batch size (PostgreSQL only, as PostgresStore.mark_delivered):
                # asyncpg prepares each text once per connection, and an IN list of each length is a new one.
                await self.store.execute("DELETE FROM interaction_ledger WHERE job_id = ANY(?::text[])", (batch,))
            except StoreError as exc:
                # Left in the table: a takeover finds their jobs stored, or says again what was said.
                _log.warning("could not close %d interaction notes: %s", len(batch), exc)
                return

    async def close(self) -> None:
        if self._flush is not None and not self._flush.done():
            self._flush.cancel()
            await asyncio.gather(self._flush, return_exceptions=True)
        await self.flush()
