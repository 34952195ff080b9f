"""The playground's small courtesies, in Debian's headless Chromium (issue 14, items 10 and 11), against a
bare local Discord where the test sends exactly what it checks:

- A message's time shows the full date and time on hover; a deferred reply filled by its first edit is not
  "(edited)", a message changed after it was shown is.
- Every emoji the bot writes is drawn as the page's own <svg>, named by the emoji, so nothing depends on
  an emoji font being installed.

The prompt's limit and counter, #audit-log for moderators only and the screenshot tool need the real bot:
they are in test_playground_browser.py, which has one running already.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from bot.core.models import ACTION_LABELS

from .test_playground_rendering import BareDiscord

pytestmark = pytest.mark.timeout(90)

ROOT = Path(__file__).resolve().parents[2]
# The emoji ranges (not arrows like → or the progress bar's blocks, which every text font has).
EMOJI = re.compile(r"[\u231a-\u23ff\u25b6\u25c0\u2600-\u27bf\u2b00-\u2bff\U0001f000-\U0001faff]\ufe0f?")


def bot_emoji() -> set[str]:
    """Every emoji in the bot's messages and buttons: its Discord layer, its extensions, its button labels."""
    sources = [*(ROOT / "bot" / "ui").rglob("*.py"), *(ROOT / "cogs").glob("*.py")]
    found = {m.replace("\ufe0f", "") for path in sources for m in EMOJI.findall(path.read_text())}
    found |= {m.replace("\ufe0f", "") for label in ACTION_LABELS.values() for m in EMOJI.findall(label)}
    return found


@pytest.fixture(scope="module")
def bare() -> Iterator[BareDiscord]:
    """One bare local Discord for the module: each test posts its own messages and finds them by text."""
    server = BareDiscord()
    try:
        yield server
    finally:
        server.close()


# -- item 10: timestamps and "(edited)" -------------------------------------------------------------------


def test_full_date_on_hover_and_edited_only_after_a_real_edit(browser: Any, bare: BareDiscord) -> None:
    bare.api.put(f"/applications/{bare.app_id}/commands", json=[{"name": "ping", "description": "Ping"}])
    started = bare.control.post(
        "/interactions/command", json={"user_id": "alice", "channel_id": "general", "command": "ping"}
    ).json()
    hook = f"{bare.url}/api/v10/webhooks/{bare.app_id}/{started['token']}/messages/@original"
    callback = f"{bare.url}/api/v10/interactions/{started['interaction_id']}/{started['token']}/callback"
    assert httpx.post(callback, json={"type": 5}).status_code == 204

    page = browser.new_page(viewport={"width": 1280, "height": 800})
    page.set_default_timeout(15_000)
    try:
        page.goto(bare.url)
        page.wait_for_selector("body[data-ready='true']")
        page.click("button.channel[data-channel='general']")
        page.locator("article.message .thinking").wait_for()

        # The first edit fills the deferred reply: that is its content, not an edit.
        assert httpx.patch(hook, json={"content": "pong"}).status_code == 200
        reply = page.locator("article.message", has_text="pong")
        reply.wait_for()
        assert reply.locator(".edited").count() == 0
        stored = bare.control.get("/channels/general/messages").json()
        assert [m["edited_timestamp"] for m in stored if m["content"] == "pong"] == [None]

        # The time says the full date and time on hover, in the visitor's language (Chromium's en-US).
        time = reply.locator("time.message-time")
        title = time.get_attribute("title") or ""
        assert re.fullmatch(r"\w+day, \w+ \d{1,2}, \d{4} at \d{1,2}:\d{2}\s?[AP]M", title), title
        time.hover()

        # A later edit of a message already shown is an edit, with its own time on hover.
        assert httpx.patch(hook, json={"content": "pong, again"}).status_code == 200
        edited = page.locator("article.message", has_text="pong, again").locator(".edited")
        edited.wait_for()
        assert edited.inner_text() == "(edited)"
        assert (edited.get_attribute("title") or "").startswith("Edited ")
    finally:
        page.close()


# -- item 11: the bot's emoji as the page's own SVGs ------------------------------------------------------


def test_every_emoji_the_bot_uses_is_drawn_as_svg(browser: Any, bare: BareDiscord, tmp_path: Path) -> None:
    emoji = sorted(bot_emoji())
    # The ones the issue names, so a change in how they are found cannot quietly drop them.
    assert {"🔄", "✅", "❌", "🛡", "⏳", "⬅", "➡", "⬆", "⬇"} <= set(emoji)
    # Each as the bot would write it (with the emoji-style selector where it uses one), in text and on buttons.
    written = [e + "\ufe0f" if e in "🛡⬅➡⬆⬇" else e for e in emoji]
    buttons = [{"type": 2, "style": 2, "emoji": {"name": e}, "custom_id": f"e{i}"} for i, e in enumerate(written)]
    bare.post(
        "general",
        {
            "content": "icons: " + " ".join(written),
            "components": [{"type": 1, "components": buttons[i : i + 5]} for i in range(0, len(buttons), 5)],
        },
    )
    page = browser.new_page(viewport={"width": 1280, "height": 800})
    page.set_default_timeout(15_000)
    try:
        page.goto(bare.url)
        page.wait_for_selector("body[data-ready='true']")
        page.click("button.channel[data-channel='general']")
        message = page.locator("article.message", has_text="icons:")
        message.wait_for()
        drawn = message.locator(".emoji").evaluate_all(
            """spans => spans.map((s) => {
                const svg = s.firstElementChild;
                const box = svg ? svg.getBoundingClientRect() : { width: 0, height: 0 };
                return {
                    emoji: s.dataset.emoji, tag: svg && svg.tagName, shapes: svg ? svg.childElementCount : 0,
                    label: svg && svg.getAttribute("aria-label"), visible: box.width > 8 && box.height > 8,
                    copy: s.textContent, inButton: s.closest("button") !== null,
                };
            })"""
        )
        page.screenshot(path=str(tmp_path / "emoji.png"))
        for where in (False, True):
            shown = [d for d in drawn if d["inButton"] is where]
            assert sorted(d["emoji"] for d in shown) == emoji, (where, shown)
            for d in shown:
                assert d["tag"] == "svg" and d["shapes"] > 0 and d["visible"], d
                # Named by the emoji, and the emoji itself is still the text (copying gives it).
                assert d["label"].replace("\ufe0f", "") == d["emoji"] and d["copy"].replace("\ufe0f", "") == d["emoji"]
        # "icons:" and the spaces stay text; no emoji reaches the page as a bare glyph to be drawn by a font.
        bare_glyphs = message.locator(".message-content").evaluate(
            """(node, pattern) => {
                const walker = document.createTreeWalker(node, NodeFilter.SHOW_TEXT);
                const found = [];
                for (let t = walker.nextNode(); t; t = walker.nextNode()) {
                    if (!t.parentElement.classList.contains("emoji-copy") && new RegExp(pattern, "u").test(t.data)) {
                        found.push(t.data);
                    }
                }
                return found;
            }""",
            EMOJI.pattern.replace("\\U0001f000", "\\u{1f000}").replace("\\U0001faff", "\\u{1faff}"),
        )
        assert bare_glyphs == []
        # Selecting the message and copying it gives the emoji themselves, not nothing where the icons are.
        copied = message.locator(".message-content").evaluate(
            """node => {
                const range = document.createRange();
                range.selectNodeContents(node);
                const selection = getSelection();
                selection.removeAllRanges();
                selection.addRange(range);
                return selection.toString();
            }"""
        )
        assert copied.replace("\ufe0f", "").split() == ["icons:", *(e.replace("\ufe0f", "") for e in written)]
    finally:
        page.close()
