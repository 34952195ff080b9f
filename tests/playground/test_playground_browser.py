"""The playground page in Debian's headless Chromium, driven by Playwright, against the real bot.

What a visitor does by hand: run /imagine from the composer, watch the grid arrive, press U2 and see the
upscaled image; as a member, be refused a moderator command that a moderator can run. And issue 14's
item 10 where it needs the real bot: the prompt box stops at the limit /imagine registered, with a
counter; #audit-log is listed for moderators only (the local Discord's overwrites decide, the page reads
the member's permissions). Last, the README's screenshot tool against this playground. Every wait is a
Playwright wait with a deadline (the context's default timeout).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image

from bot.core.prompt import MAX_PROMPT_LENGTH
from bot.devtools.screenshots import DESKTOP, FINISHED, PHONE, capture

from .support import Playground

pytestmark = pytest.mark.timeout(90)


# Markup in a prompt must arrive as text: if the page ever used innerHTML on it, an <i> would appear.
PROMPT = "a lighthouse <i>at</i> dusk, oil painting"


def become(page: Any, playground: Playground, username: str) -> None:
    page.select_option("#identity", playground.user_id(username))
    page.wait_for_selector(f".member.current:has(.member-name:text-is('{username}'))")


def open_command(page: Any, name: str) -> None:
    composer = page.locator("#composer-input")
    composer.fill("/" + name.split()[0])
    page.locator(f".picker-item[data-command='{name}']").click()
    page.wait_for_selector(f"#command-chip:text-is('/{name}')")


def test_imagine_then_upscale(page: Any, playground: Playground, tmp_path: Path) -> None:
    become(page, playground, "alice")
    page.click("button.channel[data-channel='imagine']")
    open_command(page, "imagine")
    page.fill("[data-option='prompt'] input", PROMPT)
    page.select_option("[data-option='aspect'] select", label="3:2")
    # A starting image goes up through the file field (a refused or mangled upload would stop the job).
    reference = tmp_path / "reference.png"
    Image.new("RGB", (64, 48), (210, 30, 30)).save(reference)
    page.set_input_files("[data-option='image'] input", str(reference))
    page.press("[data-option='prompt'] input", "Enter")

    # The reply names who used which command, and ends as the grid with enabled U/V buttons.
    page.wait_for_function(FINISHED, arg="/imagine")
    grid = page.locator("article.message", has=page.locator(".interaction-command", has_text="/imagine")).last
    u2 = grid.locator("button.btn:not(:disabled)", has_text="U2")
    # The prompt is shown as text, markup and all.
    content = grid.locator(".message-content")
    assert "<i>at</i>" in content.inner_text()
    assert content.locator("i").count() == 0
    assert grid.locator(".ephemeral-note").count() == 0  # a public message

    u2.click()
    page.wait_for_function(FINISHED, arg="U2")
    upscale = page.locator("article.message", has=page.locator(".interaction-command", has_text="U2")).last
    assert "Image #2" in upscale.locator(".message-content").inner_text()
    # An upscale offers its own follow-up buttons, not the grid's.
    assert upscale.locator("button.btn").count() > 0
    assert upscale.locator("button.btn", has_text="U2").count() == 0

    shot = tmp_path / "playground-imagine.png"
    page.screenshot(path=str(shot))
    assert shot.stat().st_size > 10_000

    # Vary (Region): the private answer's link opens the bot's editor, served by the bot's own web server.
    upscale.locator("button.btn:not(:disabled)", has_text="Vary (Region)").click()
    link = page.locator("a[href*='/editor/']").last
    link.wait_for()
    editor = page.context.new_page()
    try:
        editor.goto(str(link.get_attribute("href")))
        editor.wait_for_function("() => document.getElementById('picture').naturalWidth > 0")
        assert editor.locator("#paint").is_visible() and "a lighthouse" in editor.input_value("#prompt")
    finally:
        editor.close()


def _moderator_command(playground: Playground) -> tuple[str, str]:
    """A leaf of a command that members may not use, without required options: ("mod stats", "mod")."""
    state = playground.state()
    guild_id = state["guilds"][0]["id"]
    commands = state["commands"]["guilds"].get(guild_id, []) + state["commands"]["global"]
    restricted = [c for c in commands if c.get("default_member_permissions") not in (None, "0")]
    # /mod is the product's moderator console; any other restricted command will do if it is renamed.
    restricted.sort(key=lambda c: c["name"] != "mod")
    for command in restricted:
        leaf = _first_leaf(command["name"], command.get("options") or [])
        if leaf:
            return leaf, command["name"]
    pytest.fail(f"no moderator-only command is registered; the bot registered {[c['name'] for c in commands]}")


def _first_leaf(path: str, options: list[dict[str, Any]]) -> str | None:
    subs = [o for o in options if o["type"] in (1, 2)]
    if not subs:
        return path if not any(o.get("required") for o in options) else None
    for sub in subs:
        leaf = _first_leaf(f"{path} {sub['name']}", sub.get("options") or [])
        if leaf:
            return leaf
    return None


def test_member_is_refused_a_moderator_command(page: Any, playground: Playground, tmp_path: Path) -> None:
    command, root = _moderator_command(playground)
    become(page, playground, "bob")
    page.click("button.channel[data-channel='general']")

    # The picker tells a member that the command needs a permission they lack.
    page.fill("#composer-input", "/" + root)
    item = page.locator(f".picker-item[data-command='{command}']")
    assert "locked" in (item.get_attribute("class") or "")
    item.click()
    page.click("#send")
    refusal = page.locator("article.message.local.ephemeral", has_text="You do not have permission").last
    refusal.wait_for()
    assert f"/{command}" in refusal.inner_text()
    assert "Only you can see this" in refusal.inner_text()
    page.screenshot(path=str(tmp_path / "playground-refused.png"))

    # The same command as the moderator reaches the bot, which answers that member alone.
    become(page, playground, "mod")
    assert page.locator("article.message.local").count() == 0  # bob's notice is not shown to mod
    open_command(page, command)
    page.click("#send")
    answer = page.locator(
        "article.message:not(.local)", has=page.locator(".interaction-command", has_text=f"/{command}")
    ).last
    answer.locator(".message-content, .embed, .components").first.wait_for()
    assert answer.locator(".interaction-user").inner_text() in ("mod", "Mod")


def channel_names(page: Any) -> list[str]:
    return page.locator("#channels button.channel").evaluate_all("bs => bs.map((b) => b.dataset.channel)")


# -- item 10: the prompt's limit and counter --------------------------------------------------------------


def test_the_prompt_box_stops_at_the_bots_limit(page: Any, playground: Playground) -> None:
    guild_id = playground.state()["guilds"][0]["id"]
    commands = playground.state()["commands"]["guilds"][guild_id]
    registered = next(o for c in commands if c["name"] == "imagine" for o in c["options"] if o["name"] == "prompt")
    assert registered["max_length"] == MAX_PROMPT_LENGTH

    become(page, playground, "alice")
    open_command(page, "imagine")
    prompt = page.locator("[data-option='prompt'] input")
    counter = page.locator("[data-option='prompt'] .char-counter")
    assert prompt.get_attribute("maxlength") == str(MAX_PROMPT_LENGTH)
    assert counter.inner_text() == f"0 / {MAX_PROMPT_LENGTH}"
    prompt.press_sequentially("a red bicycle")
    assert counter.inner_text() == f"13 / {MAX_PROMPT_LENGTH}"

    # Typed out after the command, a prompt longer than the limit is cut at it, and typing stops there.
    prompt.press("Escape")
    page.fill("#composer-input", "/imagine " + "x" * (MAX_PROMPT_LENGTH + 100))
    page.press("#composer-input", "Enter")
    page.wait_for_selector("#command-chip:text-is('/imagine')")
    assert len(prompt.input_value()) == MAX_PROMPT_LENGTH
    page.keyboard.type("yz")
    assert len(prompt.input_value()) == MAX_PROMPT_LENGTH
    assert counter.inner_text() == f"{MAX_PROMPT_LENGTH} / {MAX_PROMPT_LENGTH}"
    assert "full" in (counter.get_attribute("class") or "")


# -- item 10: #audit-log for moderators only --------------------------------------------------------------


def test_audit_log_is_listed_for_moderators_only(page: Any, playground: Playground) -> None:
    become(page, playground, "alice")
    page.wait_for_selector("#channels button.channel[data-channel='imagine']")
    assert channel_names(page) == ["general", "imagine"]

    become(page, playground, "mod")
    page.wait_for_selector("#channels button.channel[data-channel='audit-log']")
    assert channel_names(page) == ["general", "imagine", "audit-log"]
    page.click("button.channel[data-channel='audit-log']")
    page.wait_for_selector("#channel-name:text-is('audit-log')")

    # Becoming a member while #audit-log is open leaves it for a channel the member may see.
    become(page, playground, "bob")
    page.wait_for_selector("#channel-name:text-is('imagine')")
    assert channel_names(page) == ["general", "imagine"]

    # The local Discord, not the page, decides: bob cannot send a command there either.
    refused = httpx.post(
        playground.url + "/_control/interactions/command",
        json={"user_id": "bob", "channel_id": "audit-log", "command": "imagine", "options": {"prompt": "x"}},
        timeout=10,
    )
    assert refused.status_code == 403 and "cannot view" in refused.json()["message"]


# -- the README's screenshots -------------------------------------------------------------------------------


def test_the_screenshot_tool_saves_desktop_and_phone(browser: Any, playground: Playground, tmp_path: Path) -> None:
    """``python -m bot.devtools.screenshots`` against this module's playground: both PNGs, at their sizes."""
    paths = capture(browser, playground.url, tmp_path, prompt="a cabin in the snow")
    assert [p.name for p in paths] == ["playground-desktop.png", "playground-phone.png"]
    for path, size in zip(paths, (DESKTOP, PHONE), strict=True):
        with Image.open(path) as image:
            assert image.size == size
            # Not a blank page: the grid's colours are there.
            assert len(image.convert("RGB").getcolors(1 << 16) or range(1 << 16)) > 200
