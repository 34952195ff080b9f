"""How the page renders what a bot sends, checked in Chromium against a bare local Discord (no bot).

Messages are posted over the REST API with the bot token, so every kind of content can be staged
exactly: hostile markup, Discord markdown, embeds, buttons in each state, an ephemeral reply and a
"thinking" one. The page must show all of it as text and elements of its own, never as the sender's
HTML, and must load nothing from anywhere but the local server.
"""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.helpers import blocking, wait_until

pytestmark = pytest.mark.timeout(60)

HOSTILE = '<img src=x onerror="window.pwnd=1"><script>window.pwnd=2</script>'


class BareDiscord:
    """``python -m localdiscord --port 0`` with a REST client carrying the bot token."""

    def __init__(self) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "localdiscord", "--port", "0", "--lenient"],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        assert self.process.stdout is not None
        first = self.process.stdout.readline()
        match = re.search(r"(http://127\.0\.0\.1:\d+)/api/v10", first)
        assert match, f"unexpected first line: {first!r}"
        self.url = match.group(1)
        self.api = httpx.Client(base_url=self.url + "/api/v10", headers={"Authorization": "Bot local-bot-token"})
        self.control = httpx.Client(base_url=self.url + "/_control")
        state = self.control.get("/state").json()
        guild = state["guilds"][0]
        self.app_id = state["application_id"]
        self.ids = {m["username"]: m["id"] for m in guild["members"]} | {c["name"]: c["id"] for c in guild["channels"]}

    def post(self, channel: str, payload: dict[str, Any]) -> dict[str, Any]:
        response = self.api.post(f"/channels/{self.ids[channel]}/messages", json=payload)
        assert response.status_code == 200, response.text
        return response.json()

    def answer(self, user: str, command: str, callback: dict[str, Any]) -> None:
        started = self.control.post(
            "/interactions/command", json={"user_id": user, "channel_id": "general", "command": command}
        ).json()
        response = httpx.post(
            f"{self.url}/api/v10/interactions/{started['interaction_id']}/{started['token']}/callback", json=callback
        )
        assert response.status_code == 204, response.text

    def close(self) -> None:
        self.api.close()
        self.control.close()
        self.process.terminate()
        self.process.wait(10)
        if self.process.stdout is not None:
            self.process.stdout.close()


@pytest.fixture
def bare() -> Iterator[BareDiscord]:
    server = BareDiscord()
    try:
        yield server
    finally:
        server.close()


def test_bot_content_renders_as_discord_would_and_never_as_html(
    browser: Any, bare: BareDiscord, tmp_path: Path
) -> None:
    bare.api.put(f"/applications/{bare.app_id}/commands", json=[{"name": "ping", "description": "Ping"}])
    alice, imagine = bare.ids["alice"], bare.ids["imagine"]
    bare.post(
        "general",
        {
            "content": f"{HOSTILE} **bold** *it* `code` ~~gone~~\n-# small print\n"
            f"<@{alice}> in <#{imagine}> [label](https://example.com/a) \\*not italic\\*",
        },
    )
    bare.post(
        "general",
        {
            "content": "with an embed and buttons",
            "embeds": [
                {
                    "title": HOSTILE,
                    "description": "**described**",
                    "color": 0x3BA55C,
                    "fields": [{"name": "Field", "value": "`value`", "inline": True}],
                    "footer": {"text": "footer"},
                }
            ],
            "components": [
                {
                    "type": 1,
                    "components": [
                        {"type": 2, "style": 1, "label": HOSTILE, "custom_id": "go"},
                        {"type": 2, "style": 2, "emoji": {"name": "🔄"}, "custom_id": "again"},
                        {"type": 2, "style": 2, "label": "Off", "custom_id": "off", "disabled": True},
                        {"type": 2, "style": 5, "label": "Docs", "url": "https://example.com/docs"},
                    ],
                }
            ],
        },
    )
    bare.answer("alice", "ping", {"type": 4, "data": {"content": "only **alice**", "flags": 64}})
    bare.answer("alice", "ping", {"type": 5})

    context = browser.new_context(viewport={"width": 1280, "height": 860})
    context.set_default_timeout(15_000)
    page = context.new_page()
    requests: list[str] = []
    dialogs: list[str] = []
    page.on("request", lambda r: requests.append(r.url))
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    try:
        page.goto(bare.url)
        page.wait_for_selector("body[data-ready='true']")
        page.click("button.channel[data-channel='general']")
        first = page.locator("article.message").filter(has_text="small print").first
        first.wait_for()
        content = first.locator(".message-content")
        assert HOSTILE in content.inner_text()
        assert content.locator("img, script").count() == 0
        assert content.locator("strong").inner_text() == "bold"
        assert content.locator("em").inner_text() == "it"
        assert content.locator("code").inner_text() == "code"
        assert content.locator("s").inner_text() == "gone"
        assert content.locator(".md-subtext").inner_text() == "small print"
        assert content.locator(".mention").all_inner_texts() == ["@alice", "#imagine"]
        assert content.locator("a.link").get_attribute("href") == "https://example.com/a"
        assert "*not italic*" in content.inner_text()

        second = page.locator("article.message").filter(has_text="with an embed").first
        embed = second.locator(".embed")
        assert HOSTILE in embed.locator(".embed-title").inner_text()
        assert embed.locator(".embed-description strong").inner_text() == "described"
        assert embed.locator(".embed-field-name").inner_text() == "Field"
        buttons = second.locator(".action-row > *")
        assert buttons.count() == 4
        assert HOSTILE in buttons.nth(0).inner_text() and buttons.nth(0).locator("img, script").count() == 0
        assert buttons.nth(1).inner_text() == "🔄"
        assert buttons.nth(2).is_disabled() and not buttons.nth(0).is_disabled()
        assert buttons.nth(3).get_attribute("href") == "https://example.com/docs"

        # Alice sees her ephemeral reply and the "thinking" one; bob sees neither.
        ephemeral = page.locator("article.message.ephemeral", has_text="only alice")
        assert "Only you can see this" in ephemeral.inner_text()
        assert ephemeral.locator(".interaction-user").inner_text() == "alice"
        assert ephemeral.locator(".interaction-command").inner_text() == "/ping"
        page.locator("article.message .thinking", has_text="Local Bot is thinking").wait_for()
        page.screenshot(path=str(tmp_path / "playground-rendering.png"))
        page.select_option("#identity", bare.ids["bob"])
        blocking(
            wait_until(lambda: page.locator("article.message.ephemeral").count() == 0, 5, "bob not to see alice's")
        )
        assert page.locator(".thinking").count() == 1  # a public defer is everyone's to see

        # A press with no bot connected is delivered, and the page says nobody answered.
        buttons.nth(0).click()
        page.locator("article.message.local", has_text="The bot is not connected").wait_for()
        assert bare.control.get("/stats").json()["interactions"] == 3

        assert page.evaluate("window.pwnd === undefined")
        assert not dialogs
        foreign = [u for u in requests if not u.startswith(bare.url) and not u.startswith("data:")]
        assert not foreign, f"the page fetched from elsewhere: {foreign}"
    finally:
        context.close()


def test_the_screenshot_of_a_fresh_page(browser: Any, bare: BareDiscord, tmp_path: Path) -> None:
    """The empty channel as a newcomer first sees it, saved for a person to look at."""
    page = browser.new_page(viewport={"width": 1280, "height": 800})
    try:
        page.goto(bare.url)
        page.wait_for_selector("body[data-ready='true']")
        page.wait_for_selector(".empty-channel")
        assert page.locator("#bot-status").inner_text() == "the bot is starting…"
        page.screenshot(path=str(tmp_path / "playground-empty.png"))
        assert (tmp_path / "playground-empty.png").stat().st_size > 5_000
    finally:
        page.close()
