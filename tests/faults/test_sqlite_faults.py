"""The bot's SQLite database locked by another process (a backup, a second bot started by mistake).

One lock, held by a separate process from the test's command: while it lasts, a job keeps running and
new /imagine interactions are still answered in time. A write that waits past the busy timeout fails
cleanly: its member is told, nothing of the request is stored, nothing is left on the channel. A write
that started waiting later goes through once the lock is released, and every job finishes.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import sys
from typing import Any

import pytest

from bot.core.models import JobStatus
from bot.core.store import BUSY_TIMEOUT_MS
from localdiscord import LocalDiscord
from tests.e2e.test_imagine_flow import GRID_BUTTONS, final, imagine, job_actions
from tests.faults.support import job_rows, response_message_id
from tests.helpers import wait_until

pytestmark = pytest.mark.e2e

# Another process takes the write lock and keeps it until told to let go on stdin.
LOCKER = """
import sqlite3, sys
conn = sqlite3.connect(sys.argv[1], isolation_level=None, timeout=30)
conn.execute("BEGIN EXCLUSIVE")
print("locked", flush=True)
sys.stdin.readline()
conn.execute("COMMIT")
print("released", flush=True)
"""
SAVE_FAILED = "The bot could not save your request just now; nothing was charged. Please try again."


async def test_locked_database_waits_then_fails_cleanly(ld: LocalDiscord, start_bot: Any) -> None:
    bot = await start_bot(LOCAL_STEP_SECONDS="0.4", LOCAL_STEPS="4")
    running = await imagine(ld, "carol", "a job that outlives the lock")
    await wait_until(lambda: "%" in (ld.message(running) or {}).get("content", ""), within=15.0, what="progress")

    locker = await asyncio.create_subprocess_exec(
        sys.executable, "-c", LOCKER, str(bot.workdir / "data" / "imagine-bot.db"),
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip
    assert locker.stdin is not None and locker.stdout is not None
    try:
        assert (await asyncio.wait_for(locker.stdout.readline(), 10)).strip() == b"locked"
        locked_at = dt.datetime.now(dt.UTC)
        # Answered in time although the database cannot be written: the acknowledgement needs no write.
        doomed = await ld.invoke("alice", "imagine", "imagine", {"prompt": "written into a locked database"})
        doomed_message = await response_message_id(ld, doomed["interaction_id"], within=3)
        patient = await ld.invoke("bob", "imagine", "imagine", {"prompt": "waits for the lock"})
        patient_message = await response_message_id(ld, patient["interaction_id"], within=3)

        def told() -> dict[str, Any] | None:
            notes = [
                m for m in ld.messages("imagine", ephemeral=True) if m["_ephemeral"] and SAVE_FAILED in m["content"]
            ]
            return notes[0] if notes else None

        # The first write gives up after the busy timeout and its member is told why, in plain words.
        note = await wait_until(told, within=BUSY_TIMEOUT_MS / 1000 + 5, what="the failed save to be explained")
        assert dt.datetime.now(dt.UTC) - locked_at >= dt.timedelta(milliseconds=BUSY_TIMEOUT_MS * 0.9)
        released_at = dt.datetime.now(dt.UTC)
        locker.stdin.write(b"release\n")
        await locker.stdin.drain()
        assert (await asyncio.wait_for(locker.stdout.readline(), 10)).strip() == b"released"
    finally:
        if locker.returncode is None:
            locker.kill()
        await locker.wait()

    assert note["_visible_to"] == ld.interaction(doomed["interaction_id"])["user_id"]
    # Nothing half-written: no job for the refused request, and its public "thinking" message is gone.
    assert (ld.message(doomed_message) or {}).get("_deleted", True)
    rows = job_rows(bot)
    assert doomed_message not in rows
    assert not [r for r in rows.values() if r["prompt"] == "written into a locked database"]
    # The second request was made during the lock, waited, and went through after it.
    for message_id in (patient_message, running):
        message = await final(ld, message_id)
        assert job_actions(message) == GRID_BUTTONS, bot.log()
    rows = job_rows(bot)
    assert rows[patient_message]["status"] == JobStatus.COMPLETED.value
    assert dt.datetime.fromisoformat(rows[patient_message]["created_at"]) < released_at
    assert bot.process is not None and bot.process.returncode is None
