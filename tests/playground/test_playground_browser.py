"""The playground page in Debian's headless Chromium, driven by Playwright, against the real bot.

What a visitor does by hand: run /imagine from the composer, watch the grid arrive, press U2 and see the
upscaled image; as a member, be refused a moderator command that a moderator can run. Every wait is a
Playwright wait with a deadline (the context's default timeout).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from .support import Playground

pytestmark = pytest.mark.timeout(90)

# The newest reply to ``what`` ("/imagine", "U2") is finished: no progress bar or "thinking", an enabled
# button, and its image (not a "preview…" one) loaded. Evaluated in the page until true, because each
# edit replaces the message's element.
FINISHED = """what => {
  const replies = [...document.querySelectorAll("article.message")]
    .filter((m) => [...m.querySelectorAll(".interaction-command")].some((c) => c.textContent === what));
  const reply = replies[replies.length - 1];
  if (!reply || reply.querySelector(".progress, .thinking")) return false;
  const images = [...reply.querySelectorAll(".attachment-image img")];
  return reply.querySelector("button.btn:not(:disabled)") !== null && images.length > 0
    && images.every((img) => img.complete && img.naturalWidth > 0 && !img.title.startsWith("preview"));
}"""

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
