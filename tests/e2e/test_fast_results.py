"""A job that finishes within the edit spacing shows its result at once, in one edit.

The spacing (EDIT_INTERVAL_S) is between two edits of one message; a fast job has nothing to space its
result from, so holding the result back until the interval has passed only adds latency.
"""

from __future__ import annotations

import time
from typing import Any

import pytest

from localdiscord import LocalDiscord
from tests.e2e.test_imagine_flow import edits_of, final, imagine

pytestmark = pytest.mark.e2e

EDIT_INTERVAL_S = 2.0


async def test_instant_job_is_shown_without_waiting_for_the_spacing(ld: LocalDiscord, start_bot: Any) -> None:
    await start_bot(LOCAL_STEP_SECONDS="0", EDIT_INTERVAL_S=str(EDIT_INTERVAL_S))
    started = time.monotonic()
    message_id = await imagine(ld, "alice", "a quick sketch of a boat")
    await final(ld, message_id)
    assert time.monotonic() - started < EDIT_INTERVAL_S * 0.75
    assert len(edits_of(ld, message_id)) == 1
