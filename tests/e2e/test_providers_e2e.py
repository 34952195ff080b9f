"""The foundation's end-to-end scenarios, unchanged, with the bot on each remote provider's simulator.

The scenario functions are imported from ``test_imagine_flow`` and handed a ``start_bot`` that starts
the provider's simulator first (its step time taken from the scenario's LOCAL_STEP_SECONDS) and points
the bot at it through the environment, as an operator would configure it. Webhooks are on: the bot's
receiver listens on a free loopback port and the simulators call it back.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from localdiscord import LocalDiscord
from providersim import SimServer, simulator
from tests.e2e.harness import BotProcess, button_ids, message_buttons
from tests.e2e.test_imagine_flow import final, imagine, press
from tests.e2e.test_imagine_flow import test_double_press_makes_one_child_job as double_press_scenario
from tests.e2e.test_imagine_flow import test_imagine_upscale_vary_reroll as imagine_scenario
from tests.e2e.test_imagine_flow import (
    test_kill_mid_job_then_restart_finishes_and_old_buttons_work as restart_scenario,
)
from tests.helpers import free_port, wait_until

pytestmark = pytest.mark.e2e

PROVIDERS = ("thenextleg", "useapi", "imaginepro", "apiframe")
# Backends a server owns: no callbacks; the bot composes the grid (bot/core/providers/_owned.py).
OWNED = ("comfyui", "a1111", "openai")
# Backends whose answer is the held-open request itself: a kill -9 loses it (bot/core/providers/_blocking.py).
BLOCKING = ("a1111", "openai")
COMFYUI_WORKFLOW = Path(__file__).parents[2] / "examples" / "comfyui" / "sdxl_txt2img.json"
API_KEY = "e2e-provider-key-0123456789"
# TheNextLeg allows one request per 3 s; the simulator keeps a window (shortened so the test is quick)
# and the bot is told the same spacing, so the scenario also shows the bot never trips it.
TNL_WINDOW_S = 0.1


@pytest.fixture(params=PROVIDERS + OWNED)
async def provider_bot(request: pytest.FixtureRequest, start_bot: Callable[..., Any]) -> AsyncIterator[Any]:
    name: str = request.param
    # A fixed port for the bot's receiver across restarts, as in a deployment, so callbacks for jobs sent
    # before a kill -9 reach the restarted bot.
    webhook_port = free_port()
    sims: list[SimServer] = []
    bots: list[BotProcess] = []

    async def factory(**env: Any) -> BotProcess:
        step = float(env.pop("LOCAL_STEP_SECONDS", 0.3))
        steps = int(env.pop("LOCAL_STEPS", 3))
        extra: dict[str, Any] = {"rate_limit_seconds": TNL_WINDOW_S} if name == "thenextleg" else {}
        # Previews on everywhere: the scenario checks that progress edits carry one. ImaginePro and
        # APIFrame document none, so against the real services the bot shows progress without a picture.
        sim = simulator(name, api_key=API_KEY, step_seconds=step, steps=steps, previews=True, **extra)
        await sim.start()
        sims.append(sim)
        options = {"poll_interval": 0.1, "max_poll_interval": 0.3, "min_request_interval": 0.0}
        if name == "thenextleg":
            options["min_request_interval"] = TNL_WINDOW_S + 0.02
        prefix = name.upper()
        if name in OWNED:
            # A small long side keeps the bot's Pillow work (grid, start images) quick on a loaded machine.
            options["size"] = 256
            env |= {"PROVIDER": name, f"{prefix}_BASE_URL": sim.api_base_url, f"{prefix}_OPTIONS": json.dumps(options)}
            if name == "comfyui":
                env["COMFYUI_WORKFLOW"] = str(COMFYUI_WORKFLOW)
            if name == "openai":
                # Free sizes keep --ar exact; streamed partial images are the only previews this API has.
                options |= {"sizes": "free", "partial_images": 2}
                env |= {"OPENAI_API_KEY": API_KEY, "OPENAI_MODEL": "gpt-image-2", "OPENAI_OPTIONS": json.dumps(options)}
            bot = await start_bot(**env)
            bots.append(bot)
            return bot
        env |= {
            "PROVIDER": name,
            f"{prefix}_API_KEY": API_KEY,
            f"{prefix}_BASE_URL": sim.api_base_url,
            f"{prefix}_OPTIONS": json.dumps(options),
            "WEBHOOK_ENABLED": "true",
            "WEBHOOK_HOST": "127.0.0.1",
            "WEBHOOK_PORT": str(webhook_port),
            "WEBHOOK_SECRET": "e2e-webhook-secret-0123456789abcdef",
        }
        bot = await start_bot(**env)
        bots.append(bot)
        return bot

    factory.sims = sims  # type: ignore[attr-defined]
    factory.bots = bots  # type: ignore[attr-defined]
    factory.name = name  # type: ignore[attr-defined]
    yield factory
    for bot in bots:
        await bot.stop()
    for sim in sims:
        await sim.stop()
    for sim in sims:
        assert all(r["status"] != 429 for r in sim.requests), "the bot tripped the provider's rate limit"


# The full scenario on one backend of each kind, not on all seven: TheNextLeg and APIFrame (Midjourney
# APIs, callbacks on, TheNextLeg's request spacing) and ComfyUI (a backend the bot owns: it composes the grid,
# U2 is the doubled tile). Each adapter's own imagine -> progress -> U -> V -> 🔄 -> zoom flow, over its
# simulator with callbacks through the real receiver and with polling, is tests/providers/test_contract.py
# (test_polling_flow, test_webhook_flow) and tests/providers/test_owned.py (test_flow); every one of the
# seven still runs end to end through the bot process from its operator settings in
# test_kill_mid_job_then_restart below (imagine, a grid on Discord, a press on it, kill -9 and restart).
@pytest.mark.parametrize("provider_bot", ["thenextleg", "apiframe", "comfyui"], indirect=True)
async def test_imagine_upscale_vary_reroll(ld: LocalDiscord, provider_bot: Any) -> None:
    await imagine_scenario(ld, provider_bot)
    sim: SimServer = provider_bot.sims[0]
    if sim.name in OWNED:
        # imagine, V3 and 🔄 reach the backend once each; U2 is the tile, doubled by the bot.
        assert set(sim.submits.values()) <= {1} and sim.submits_total == 3, "a backend job was sent twice"
        return
    submits = [r for r in sim.requests if r["method"] == "POST" and isinstance(r["body"], dict)]
    assert any("/webhooks/" in json.dumps(r["body"]) for r in submits), "the callback URL went with the submits"
    assert [w for w in sim.webhooks if w.get("status") == 200], "the simulator called the bot back"


async def test_kill_mid_job_then_restart(ld: LocalDiscord, provider_bot: Any) -> None:
    if provider_bot.name in BLOCKING:
        await _blocking_restart(ld, provider_bot)
        return
    try:
        await restart_scenario(ld, provider_bot)
    except AssertionError as exc:
        # A restart that goes wrong is read from both processes' logs and what the provider saw and sent.
        sim: SimServer = provider_bot.sims[0]
        exc.add_note("\n".join(bot.log() for bot in provider_bot.bots))
        exc.add_note(f"provider requests: {[(r['method'], r['path'], r.get('status')) for r in sim.requests]}")
        exc.add_note(f"callbacks: {sim.webhooks}")
        raise


async def _blocking_restart(ld: LocalDiscord, start_bot: Any) -> None:
    """A1111 and OpenAI answer a generation only in the request that asked for it: a kill -9 loses it.

    The restarted bot ends the job saying so (it may exist, it was not sent twice, 🔄 sends it again),
    never resends it, and the buttons of a grid made before the kill still work.
    """
    bot = await start_bot(LOCAL_STEP_SECONDS="0.3", LOCAL_STEPS="4")
    first = await final(ld, await imagine(ld, "alice", "an old map"))
    second_id = await imagine(ld, "bob", "a new map")

    def running() -> bool:
        message = ld.message(second_id)
        return bool(message and "%" in message["content"])

    await wait_until(running, within=15.0, what="the second job to show progress")
    await bot.kill()
    await bot.start()

    def ended() -> dict[str, Any] | None:
        message = ld.message(second_id)
        return message if message and "not sent twice" in message["content"] else None

    second = await wait_until(ended, within=20.0, what="the interrupted job to say so")
    assert [c.split(":")[2] for c in button_ids(second)] == ["reroll"], bot.log()
    upscale = await final(ld, await press(ld, "carol", first, "u1"))
    assert message_buttons(upscale)
    sim: SimServer = start_bot.sims[0]
    assert set(sim.submits.values()) <= {1} and sim.submits_total == 2, "a backend job was sent twice"


# On one remote provider: the press is deduplicated before any adapter (cogs/ and bot/core/engine), as the
# local provider's run of the scenario shows (tests/e2e/test_imagine_flow.py). Each provider's U press
# itself runs end to end in the tests above and in its contract tests.
@pytest.mark.parametrize("provider_bot", ["thenextleg"], indirect=True)
async def test_double_press_makes_one_child_job(ld: LocalDiscord, provider_bot: Any) -> None:
    await double_press_scenario(ld, provider_bot)
