"""A kill while the submit is on the wire (issue 9, item 2): the provider has the job, the bot never
learned its id. Where the provider's API can list jobs by our ref (useapi.net), the restart finds the job
and the member gets the image; elsewhere the callback came while the bot was down, so the job ends with
the honest message (it may have been made, it was not sent twice) and a 🔄 that sends it again once.
"""

from __future__ import annotations

import signal
from typing import Any

import pytest

from bot.core import crashpoints
from bot.core.models import ErrorReason, JobStatus
from bot.core.providers import provider_class
from localdiscord import LocalDiscord
from providersim import simulator
from tests.e2e.harness import BotProcess, button_ids
from tests.e2e.test_imagine_flow import final
from tests.faults.support import API_KEY, free_port, job_rows, message_shows, provider_env, response_message_id
from tests.helpers import wait_until
from tests.providers.conftest import PROVIDERS

pytestmark = pytest.mark.e2e


async def _killed_mid_submit(ld: LocalDiscord, start_bot: Any, env: dict[str, str]) -> tuple[BotProcess, str]:
    bot: BotProcess = await start_bot(**env, **{crashpoints.ENV: "submit_sent"})
    invoked = await ld.invoke("alice", "imagine", "imagine", {"prompt": "a lighthouse in a storm"})
    message_id = await response_message_id(ld, invoked["interaction_id"])
    process = bot.process
    assert process is not None
    await wait_until(lambda: process.returncode is not None, within=20, what="the bot to die mid-submit")
    assert process.returncode == -signal.SIGKILL, bot.log()
    row = job_rows(bot)[message_id]
    assert row["provider_job_id"] is None and row["submit_started_at"], row  # the answer never got stored
    return bot, message_id


async def test_useapi_finds_the_job_by_our_ref_and_shows_the_image(ld: LocalDiscord, start_bot: Any) -> None:
    # Polling only: no callback can claim it, so only the look-up by replyRef can. The job runs long enough
    # to be still executing when the bot is back (useapi lists executing jobs only).
    sim = simulator("useapi", api_key=API_KEY, step_seconds=1.5, steps=4, previews=False, stock_images=True)
    await sim.start()
    try:
        env = provider_env("useapi", sim, free_port(), WEBHOOK_ENABLED="false", EDIT_INTERVAL_S=0.3)
        bot, message_id = await _killed_mid_submit(ld, start_bot, env)
        del bot.env[crashpoints.ENV]
        await bot.start()
        message = await final(ld, message_id, within=30)
        row = job_rows(bot)[message_id]
        assert row["status"] == JobStatus.COMPLETED.value and message_shows(message, row), (row, message)
        assert sim.submits[row["id"]] == 1 and sum(sim.submits.values()) == 1
    finally:
        await sim.stop()


def test_of_the_midjourney_providers_only_useapi_finds_a_job_by_our_ref() -> None:
    """Why one provider below stands for the others: after the restart, bot/core/engine/_following.py
    reads only ``finds_by_ref`` and whether callbacks are on, the same for the three without a look-up."""
    assert {name: provider_class(name).finds_by_ref for name in PROVIDERS} == {
        "thenextleg": False, "useapi": True, "imaginepro": False, "apiframe": False,
    }  # fmt: skip
    assert all(provider_class(name).capabilities.webhooks for name in PROVIDERS)


# One of TheNextLeg, ImaginePro and APIFrame: the test above shows the three take the same path after the
# restart, and each one's submit, callbacks and polling are their contract tests (tests/providers/).
@pytest.mark.parametrize("name", ["apiframe"])
async def test_others_end_honestly_and_offer_one_retry(ld: LocalDiscord, start_bot: Any, name: str) -> None:
    extra = {"rate_limit_seconds": 0.0} if name == "thenextleg" else {}
    sim = simulator(name, api_key=API_KEY, step_seconds=0.05, steps=2, previews=False, stock_images=True, **extra)
    await sim.start()
    try:
        env = provider_env(name, sim, free_port(), LIMBO_GRACE_S=1, EDIT_INTERVAL_S=0.3)
        bot, message_id = await _killed_mid_submit(ld, start_bot, env)
        # The job finishes, and its only callback is lost, while the bot is down.
        await wait_until(lambda: all(j.terminal for j in sim.jobs.values()), within=10, what="the job to end")
        del bot.env[crashpoints.ENV]
        await bot.start()

        def honest() -> dict[str, Any] | None:
            message = ld.message(message_id)
            row = job_rows(bot).get(message_id)
            return message if row and row["error"] and message_shows(message, row) else None

        message = await wait_until(honest, within=20, what="the interrupted job's message")
        row = job_rows(bot)[message_id]
        assert row["error"] == ErrorReason.INTERRUPTED.value
        assert "not sent twice" in message["content"] and "🔄" in message["content"]
        retry = [c for c in button_ids(message) if c.endswith(":reroll")]
        assert retry == [f"img1:{row['id']}:reroll"], button_ids(message)

        # 🔄 sends it again as a new job with its own message, once.
        await ld.click("alice", message_id, retry[0])
        child = await wait_until(lambda: _child_of(bot, row["id"]), within=15, what="the retry job")
        result = await final(ld, str(child["message_id"]), within=30)
        assert job_rows(bot)[str(child["message_id"])]["status"] == JobStatus.COMPLETED.value, result
        await ld.click("bob", message_id, retry[0])
        await wait_until(lambda: _pointed_at_retry(ld), within=15, what="a second 🔄 pointed at the first")
        assert all(n == 1 for n in sim.submits.values()) and sum(sim.submits.values()) == 2, sim.submits
    finally:
        await sim.stop()


def _child_of(bot: BotProcess, parent_id: str) -> dict[str, Any] | None:
    return next((r for r in job_rows(bot).values() if r["parent_id"] == parent_id and r["message_id"]), None)


def _pointed_at_retry(ld: LocalDiscord) -> bool:
    return any("was already requested" in (m.get("content") or "") for m in ld.messages("imagine", ephemeral=True))
