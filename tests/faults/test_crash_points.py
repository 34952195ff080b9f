"""kill -9 at each named crash point (bot/core/crashpoints.py), then a restart: nothing is left behind.

A kill aimed by timing lands in a window only by luck; ``IMAGINEBOT_CRASH_AT`` makes the bot SIGKILL itself
at the named point every time. For each point one /imagine (or a press on its result) is sent through the
local Discord to the bot on the useapi simulator, the bot dies there, and it is started again without the
crash point. Then:

- every message the bot posted shows a final state: a result, or a failure in plain words; none is left
  "thinking…" or in progress;
- every interaction was answered;
- no job reached the provider twice (the simulator's own job log: one job per ref at most).

What the restart makes of a submit that may have reached the provider (``submit_sent``, ``after_answer``)
is the engine's business and may be a result or an honest failure; only the three points above are held
for those. The other points each check where the kill landed, so a crash point that moved would show.

``after_defer`` is the window the interaction ledger (cogs/imagine.py) closes: the member sees "thinking…"
and no job is stored. Its own behaviour, a kill's leftovers included, is tested here too, without a bot.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import json
import signal
from pathlib import Path
from typing import Any

import pytest

from bot.core import crashpoints
from bot.core.models import Action, JobStatus
from cogs import imagine as imagine_cog
from cogs.imagine import NOT_STARTED, InteractionLedger, PendingInteraction
from localdiscord import LocalDiscord
from providersim import SimServer, simulator
from tests.e2e.harness import BotProcess, button_ids
from tests.e2e.test_imagine_flow import final
from tests.faults.support import API_KEY, free_port, job_rows, message_shows, provider_env, response_message_id
from tests.helpers import wait_until

# The job takes two short steps, so each run is quick and a progress edit may still be seen.
STEP_S = 0.15
# How long a job cut off mid-submit waits for a callback after the restart (LIMBO_GRACE_S), kept short.
LIMBO_GRACE_S = 1


@dataclasses.dataclass(frozen=True)
class Case:
    point: str
    # Hit that fires: the press case lets the first /imagine pass after_defer and dies at the press's.
    hit: int = 1
    press: bool = False

    @property
    def crash_at(self) -> str:
        return f"{self.point}:{self.hit}"


CASES = {
    "after_defer-imagine": Case("after_defer"),
    "after_defer-press": Case("after_defer", hit=2, press=True),
    "before_submit": Case("before_submit"),
    "submit_sent": Case("submit_sent"),
    "after_answer": Case("after_answer"),
    "before_final_edit": Case("before_final_edit"),
}


@pytest.mark.e2e
@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
async def test_kill_at_crash_point_then_restart(ld: LocalDiscord, start_bot: Any, case: Case) -> None:
    sim = simulator("useapi", api_key=API_KEY, step_seconds=STEP_S, steps=2, previews=False, stock_images=True)
    await sim.start()
    try:
        env = provider_env("useapi", sim, free_port(), LIMBO_GRACE_S=LIMBO_GRACE_S, EDIT_INTERVAL_S=0.3)
        bot: BotProcess = await start_bot(**env, **{crashpoints.ENV: case.crash_at})
        interactions = [await ld.invoke("alice", "imagine", "imagine", {"prompt": f"a kite, {case.point}"})]
        if case.press:
            grid = await final(ld, await response_message_id(ld, interactions[0]["interaction_id"]))
            upscale = next(c for c in button_ids(grid) if c.endswith(":u1"))
            interactions.append(await ld.click("bob", grid["id"], upscale))
        process = bot.process
        assert process is not None
        await wait_until(lambda: process.returncode is not None, within=20, what="the bot to die at the crash point")
        assert process.returncode == -signal.SIGKILL, bot.log()
        _check_where_it_died(ld, bot, sim, case, interactions[-1])

        del bot.env[crashpoints.ENV]
        await bot.start()
        try:
            await wait_until(lambda: not _unsettled(ld, bot), within=30, interval=0.1, what="final states")
        except AssertionError:
            raise AssertionError(f"not in a final state: {_unsettled(ld, bot)}\n{bot.log()}") from None
        messages = {m["id"]: m for m in ld.messages("imagine")}
    finally:
        await sim.stop()

    for interaction in interactions:
        info = ld.interaction(interaction["interaction_id"])
        assert info["acked"] and info["response_message_id"], info
    # The simulator's own count of jobs created per ref.
    assert all(n <= 1 for n in sim.submits.values()), f"submitted more than once: {sim.submits}"
    rows = job_rows(bot)
    killed = ld.interaction(interactions[-1]["interaction_id"])["response_message_id"]
    if case.point == "after_defer":
        # No job was stored for it: explained, never run, never sent.
        assert NOT_STARTED in messages[killed]["content"] and killed not in rows
        assert len(sim.jobs) == len(interactions) - 1
    elif case.point == "before_final_edit":
        assert rows[killed]["status"] == JobStatus.COMPLETED.value and messages[killed]["attachments"]
    assert "Traceback" not in bot.log(), bot.log()
    outcome = rows[killed]["error"] or rows[killed]["status"] if killed in rows else "not started"
    print(f"{case.crash_at}: {outcome}")


def _check_where_it_died(
    ld: LocalDiscord, bot: BotProcess, sim: SimServer, case: Case, interaction: dict[str, Any]
) -> None:
    """The kill landed in the window its point names, seen from the database, Discord and the provider."""
    info = ld.interaction(interaction["interaction_id"])
    rows = {row["id"]: row for row in job_rows(bot).values()}
    job = next((r for r in rows.values() if str(r["message_id"]) == info["response_message_id"]), None)
    sent = {j.ref for j in sim.jobs.values()}
    if case.point == "after_defer":
        # The member sees "thinking…" and no job exists: the window a restart used to leave behind.
        assert info["acked"] and (ld.message(info["response_message_id"]) or {}).get("_loading"), info
        assert job is None, job
        return
    assert job is not None, (info, rows)
    if case.point == "before_submit":
        assert job["submit_started_at"] and job["id"] not in sent, job
    elif case.point in ("submit_sent", "after_answer"):
        # The provider has the job; the bot died before it noted the provider's id.
        assert job["id"] in sent and job["provider_job_id"] is None, job
    elif case.point == "before_final_edit":
        assert job["status"] == JobStatus.COMPLETED.value and not job["delivered"], job


def _unsettled(ld: LocalDiscord, bot: BotProcess) -> list[str]:
    """Every message the bot posted in the channel that does not show a final state yet, and why."""
    rows = job_rows(bot)
    unsettled = []
    for message in ld.messages("imagine"):
        content = message["content"] or ""
        row = rows.get(message["id"])
        if message["_loading"]:
            unsettled.append(f"{message['id']}: still thinking")
        elif row is not None and not message_shows(message, row):
            unsettled.append(f"{message['id']}: job {row['status']} shown as {content[-80:]!r}")
        elif row is None and (NOT_STARTED not in content or message.get("components")):
            unsettled.append(f"{message['id']}: no job, shown as {content[-80:]!r}")
    return unsettled


# -- the interaction ledger ----------------------------------------------------------------------------


def _note(job_id: str, **fields: Any) -> PendingInteraction:
    expires = dt.datetime.now(dt.UTC) + dt.timedelta(minutes=15)
    defaults: dict[str, Any] = {"user_id": 10, "action": Action.IMAGINE, "prompt": "a kite"}
    return PendingInteraction(job_id=job_id, token=f"token-{job_id}", expires_at=expires, **(defaults | fields))


def test_ledger_gives_the_next_start_what_a_kill_left_open(tmp_path: Path) -> None:
    path = tmp_path / "data" / "interactions.jsonl"
    ledger = InteractionLedger(path)
    assert ledger.open() == []
    with ledger.pending(_note("seen-through")):
        pass
    with pytest.raises(RuntimeError), ledger.pending(_note("failed")):
        raise RuntimeError("answered by the error handler")
    with pytest.raises(asyncio.CancelledError), ledger.pending(_note("cancelled")):
        raise asyncio.CancelledError  # a stopping bot: the member may still see "thinking…"
    killed = _note("killed", prompt=None, parent_id="parent", action=Action.U1)
    ledger.pending(killed).__enter__()  # the process dies inside the block
    ledger.close()
    with path.open("ab") as file:
        file.write(b'{"open": {"job_id": "torn", "tok')  # cut off as it was written, before its defer

    again = InteractionLedger(path)
    left = again.open()
    again.close()
    assert [n.job_id for n in left] == ["cancelled", "killed"]
    assert left[1] == killed
    # The file was cut down to the open notes, and only the bot's user may read the tokens in it.
    assert [json.loads(line)["open"]["job_id"] for line in path.read_bytes().splitlines()] == ["cancelled", "killed"]
    assert path.stat().st_mode & 0o777 == 0o600


def test_ledger_is_compacted_as_it_grows(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(imagine_cog, "LEDGER_COMPACT_BYTES", 4096)
    path = tmp_path / "interactions.jsonl"
    ledger = InteractionLedger(path)
    ledger.open()
    with ledger.pending(_note("long-running")):
        for i in range(200):
            with ledger.pending(_note(f"quick-{i}")):
                pass
        assert path.stat().st_size < 4096 + 1024
    ledger.close()
    again = InteractionLedger(path)
    assert again.open() == []
    again.close()
