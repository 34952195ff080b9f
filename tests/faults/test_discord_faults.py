"""Discord misbehaving around a running job: the gateway dropped (closed, told to reconnect, session
invalidated) mid-job, and edits answered 429 or 5xx on both edit routes. Every job still finishes and
shows its result. (A deleted job message and an expired interaction token are in tests/e2e.)
"""

from __future__ import annotations

from typing import Any

import pytest

from localdiscord import LocalDiscord
from tests.e2e.test_imagine_flow import GRID_BUTTONS, final, imagine, job_actions
from tests.faults.support import response_message_id
from tests.helpers import wait_until

pytestmark = pytest.mark.e2e

WEBHOOK_EDIT = "PATCH /webhooks/{}/{}/messages/{}"
CHANNEL_EDIT = "PATCH /channels/{}/messages/{}"


def _running(ld: LocalDiscord, message_id: str) -> bool:
    message = ld.message(message_id)
    return bool(message and "%" in message["content"])


async def test_gateway_dropped_mid_job_every_way(ld: LocalDiscord, start_bot: Any) -> None:
    bot = await start_bot(LOCAL_STEP_SECONDS="0.25", LOCAL_STEPS="4")
    for mode in ("close", "reconnect", "invalidate"):
        gateway = ld.stats()["gateway"]
        resumes, identifies = gateway["resumes"], gateway["identifies"]
        running = await imagine(ld, "alice", f"a lighthouse through a {mode}")
        await wait_until(lambda m=running: _running(ld, m), within=15.0, what="the job to show progress")  # type: ignore[misc]
        assert await ld.drop_gateway(mode) == 1
        if mode == "invalidate":
            # The session is gone: Discord cannot deliver to it until the bot identifies anew.
            await wait_until(
                lambda i=identifies: ld.stats()["gateway"]["identifies"] > i,  # type: ignore[misc]
                within=15.0,
                what="a new IDENTIFY",
            )
            after = await imagine(ld, "bob", "right after a new session")
        else:
            # Sent while the socket is down: kept for the session and replayed when the bot resumes.
            started = await ld.invoke("bob", "imagine", "imagine", {"prompt": f"sent during a {mode}"})
            await wait_until(lambda r=resumes: ld.stats()["gateway"]["resumes"] > r, within=15.0, what="a RESUME")  # type: ignore[misc]
            after = await response_message_id(ld, started["interaction_id"])
            assert ld.interaction(started["interaction_id"])["acked"], "the replayed interaction was not answered"
        for message_id in (running, after):
            message = await final(ld, message_id)
            assert job_actions(message) == GRID_BUTTONS, bot.log()
    assert bot.process is not None and bot.process.returncode is None


@pytest.mark.allow_429
async def test_edits_through_429_and_5xx_on_both_routes(ld: LocalDiscord, start_bot: Any) -> None:
    bot = await start_bot(LOCAL_STEP_SECONDS="0")

    # discord.py retries a 502 and honours a 429's retry_after itself.
    ld.add_fault(WEBHOOK_EDIT, status=502, count=1)
    ld.add_fault(WEBHOOK_EDIT, status=429, retry_after=0.3, count=2)
    retried = await final(ld, await imagine(ld, "alice", "through retries"))
    # A 503 it does not retry: the bot's own retries of a final edit carry it.
    ld.add_fault(WEBHOOK_EDIT, status=503, count=2)
    redelivered = await final(ld, await imagine(ld, "bob", "through an outage"))
    # The token dies before the result: the channel route, itself rate limited once and failing once.
    ld.add_fault(CHANNEL_EDIT, status=429, retry_after=0.3, count=1)
    ld.add_fault(CHANNEL_EDIT, status=500, count=1)
    born_old = await ld.invoke("carol", "imagine", "imagine", {"prompt": "an old token"}, backdate_s=880)
    via_channel = await final(ld, await response_message_id(ld, born_old["interaction_id"]))

    for message in (retried, redelivered, via_channel):
        assert job_actions(message) == GRID_BUTTONS, bot.log()
    assert not ld.faults, f"faults left unconsumed: {ld.faults}"
    statuses = [r["status"] for r in ld.requests if r["method"] == "PATCH"]
    assert statuses.count(429) == 3 and statuses.count(502) == 1 and statuses.count(503) == 2, statuses
    assert statuses.count(500) == 1 and statuses[-1] == 200
    assert "Traceback" not in bot.log()
