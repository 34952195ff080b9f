"""Vary (Region) through its editor, end to end: /imagine → U1 → Vary (Region) → the private link → the page
in Debian's headless Chromium (phone-sized) → paint with the brush and a rectangle → edit the prompt →
Submit → the new job's own message appears in the channel with its result grid and buttons.

Run for every provider the e2e harness can start whose adapter declares ``Verb.VARY_REGION`` (read from the
adapters' capabilities, so a simulator joins as soon as its adapter speaks the verb). The page is checked
to load nothing from elsewhere: Chromium reports no Content-Security-Policy violation and no request leaves
the bot's own origin.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from bot.core.models import Verb
from bot.core.providers import provider_class
from localdiscord import LocalDiscord
from providersim import SimServer, simulator
from tests.e2e.harness import BotProcess, button_ids, job_id_of, press_on_older_message
from tests.e2e.test_imagine_flow import final, imagine, press
from tests.e2e.test_providers_e2e import API_KEY, COMFYUI_WORKFLOW, OWNED, PROVIDERS
from tests.e2e.test_verbs import private_answer
from tests.helpers import free_port, wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(180)]

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]  # fmt: skip
# The providers whose adapter speaks Vary (Region), of those the harness can run.
REGION_PROVIDERS = [
    p for p in ("local", *PROVIDERS, *OWNED) if Verb.VARY_REGION in provider_class(p).capabilities.verbs
]
_LINK = re.compile(r"\((http://[^\s)]+/editor/[^\s)]+)\)")


@pytest.fixture(params=REGION_PROVIDERS)
async def region_bot(request: pytest.FixtureRequest, start_bot: Callable[..., Any]) -> AsyncIterator[BotProcess]:
    """The bot on one provider, with its web server at a public URL (loopback here) so the editor is offered."""
    name: str = request.param
    port = free_port()
    env: dict[str, Any] = {
        "HTTP_HOST": "127.0.0.1",
        "HTTP_PORT": str(port),
        "WEBHOOK_PUBLIC_URL": f"http://127.0.0.1:{port}",
    }
    sim: SimServer | None = None
    if name != "local":
        sim = simulator(name, api_key=API_KEY, step_seconds=0.2, steps=2)
        await sim.start()
        prefix = name.upper()
        options: dict[str, Any] = {"poll_interval": 0.1, "max_poll_interval": 0.3, "min_request_interval": 0.0}
        env |= {"PROVIDER": name, f"{prefix}_BASE_URL": sim.api_base_url}
        if name in OWNED:
            options["size"] = 256
            if name == "comfyui":
                env["COMFYUI_WORKFLOW"] = str(COMFYUI_WORKFLOW)
            if name == "openai":
                options |= {"sizes": "free"}
                env |= {"OPENAI_API_KEY": API_KEY, "OPENAI_MODEL": "gpt-image-2"}
        else:
            env |= {f"{prefix}_API_KEY": API_KEY, "WEBHOOK_ENABLED": "true",
                    "WEBHOOK_SECRET": "e2e-webhook-secret-0123456789abcdef"}  # fmt: skip
        env[f"{prefix}_OPTIONS"] = json.dumps(options)
    try:
        yield await start_bot(**env)
    finally:
        if sim is not None:
            await sim.stop()


def _chromium_or_skip() -> None:
    if not (CHROMIUM.exists() and os.access(CHROMIUM, os.X_OK)):
        if os.environ.get("CI"):
            pytest.fail(f"Debian's Chromium is missing at {CHROMIUM}; CI must provide it")
        pytest.skip(f"Debian's Chromium is not installed at {CHROMIUM}")


async def paint_and_submit(link: str, prompt: str) -> str:
    """Open the editor, paint a stroke and a rectangle, edit the prompt, Submit; the page's answer."""
    from playwright.async_api import async_playwright

    origin = link.split("/editor/", 1)[0]
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        try:
            page = await browser.new_page(viewport={"width": 390, "height": 844}, has_touch=True)
            page.set_default_timeout(45_000)
            violations: list[str] = []
            page.on("console", lambda m: violations.append(m.text) if "Content Security Policy" in m.text else None)
            elsewhere: list[str] = []
            page.on(
                "request", lambda r: None if r.url.startswith((origin, "data:", "blob:")) else elsewhere.append(r.url)
            )
            answer = await page.goto(link)
            assert answer is not None and answer.ok
            assert "default-src 'none'" in answer.headers["content-security-policy"]
            await page.wait_for_function("() => document.getElementById('picture').naturalWidth > 0")
            box = await page.locator("#paint").bounding_box()
            assert box is not None and box["width"] <= 390
            x, y, w, h = box["x"], box["y"], box["width"], box["height"]
            # The brush: a stroke across the upper left.
            await page.mouse.move(x + w * 0.15, y + h * 0.2)
            await page.mouse.down()
            for step in range(1, 9):
                await page.mouse.move(x + w * (0.15 + step * 0.04), y + h * (0.2 + step * 0.02))
            await page.mouse.up()
            # The rectangle: the lower right quarter.
            await page.click("button.tool[data-tool='rect']")
            await page.mouse.move(x + w * 0.55, y + h * 0.55)
            await page.mouse.down()
            await page.mouse.move(x + w * 0.7, y + h * 0.7)
            await page.mouse.move(x + w * 0.85, y + h * 0.85)
            await page.mouse.up()
            await page.fill("#prompt", prompt)
            await page.click("#submit")
            await page.wait_for_selector("#status a")
            text = await page.inner_text("#status")
            assert not violations, violations
            assert not elsewhere, elsewhere
            return text
        finally:
            await browser.close()


async def test_vary_region_through_the_editor(ld: LocalDiscord, region_bot: BotProcess) -> None:
    _chromium_or_skip()
    grid = await final(ld, await imagine(ld, "alice", "a quiet harbour at noon"), within=40.0)
    upscale = await final(ld, await press(ld, "alice", grid, "u1"), within=40.0)
    offered = [c for c in button_ids(upscale) if c.endswith(":vary_region")]
    assert offered, f"the provider declares Vary (Region) but the upscale does not offer it: {button_ids(upscale)}"
    region = offered[0]
    clicked = await ld.click("alice", upscale["id"], region)
    answer = await private_answer(ld, clicked["interaction_id"], "/editor/", within=30.0)
    info = ld.interaction(clicked["interaction_id"])
    assert ld.message(info["response_message_id"])["_ephemeral"], "the link is the member's alone"
    link = _LINK.search(answer)
    assert link, answer
    before = {m["id"] for m in ld.messages(upscale["channel_id"])}

    text = await paint_and_submit(link[1], "a red lighthouse at night")
    assert "Sent" in text, text

    message_id = await wait_until(
        lambda: next((m["id"] for m in ld.messages(upscale["channel_id"])
                      if m["id"] not in before and "a red lighthouse at night" in (m["content"] or "")), None),
        within=40.0, what="the new job's message in the channel",
    )  # fmt: skip
    result = await final(ld, message_id, within=90.0)
    assert result["attachments"] and not result["_ephemeral"], region_bot.log()
    assert not result["mentions"] and result["_pinged"] is False
    actions = [c.split(":")[2] for c in button_ids(result) if c.startswith("img1:")]
    assert actions[:9] == ["u1", "u2", "u3", "u4", "reroll", "v1", "v2", "v3", "v4"], actions
    # A stale Vary (Region) (here on a grid, where it is never offered) is answered privately and politely.
    button = {"type": 2, "style": 2, "label": "Vary (Region)", "custom_id": f"img1:{job_id_of(grid)}:vary_region"}
    stale = await press_on_older_message(ld, "bob", grid["channel_id"], button)
    assert "does not offer that" in await private_answer(ld, stale["interaction_id"], "offer")
    # The link is used up: opening it again says so.
    async with httpx.AsyncClient() as client:
        again = await client.get(link[1])
    assert again.status_code == 410
