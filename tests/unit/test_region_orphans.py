"""A crash between posting a Vary (Region) job's message and storing the job leaves a note; the next start
says on that message that the job was not started, and leaves alone what a live submit is still doing."""

from __future__ import annotations

import json
import time
from types import SimpleNamespace
from typing import Any

from bot.core.store import Store
from cogs.region import ORPHAN_AFTER_S, Region
from tests.unit.conftest import make_job


class _Message:
    def __init__(self, edits: list[tuple[int, dict[str, Any]]], message_id: int) -> None:
        self.edits, self.id = edits, message_id

    async def edit(self, **kwargs: Any) -> None:
        self.edits.append((self.id, kwargs))


async def test_the_next_start_explains_a_message_left_without_its_job(store: Store) -> None:
    stored = make_job()
    await store.insert_job(stored)
    edits: list[tuple[int, dict[str, Any]]] = []
    channel = SimpleNamespace(get_partial_message=lambda message_id: _Message(edits, message_id))

    async def get(job_id: str) -> Any:
        return await store.get_job(job_id)

    bot = SimpleNamespace(
        runtime=SimpleNamespace(store=store, engine=SimpleNamespace(get=get)),
        get_partial_messageable=lambda channel_id, guild_id=None: channel,
    )
    cog = Region.__new__(Region)
    cog.bot = bot  # type: ignore[assignment]
    old = time.time() - ORPHAN_AFTER_S - 1
    notes = {
        "aaaaaaaaaaaaaaaa": {"channel": 10, "guild": 1, "message": 501, "at": old, "locale": "de"},  # cut off
        "bbbbbbbbbbbbbbbb": {"channel": 10, "guild": 1, "message": 502, "at": time.time(), "locale": None},  # live
        stored.id: {"channel": 10, "guild": 1, "message": 503, "at": old, "locale": None},  # stored after all
    }
    for job_id, note in notes.items():
        await store.set_state(f"editor:posting:{job_id}", json.dumps(note))
    assert await cog.sweep() == 1
    [(message_id, edit)] = edits
    assert message_id == 501 and "Nicht gestartet" in edit["content"]
    assert await store.get_state("editor:posting:aaaaaaaaaaaaaaaa") is None
    assert await store.get_state(f"editor:posting:{stored.id}") is None
    assert await store.get_state("editor:posting:bbbbbbbbbbbbbbbb") is not None
