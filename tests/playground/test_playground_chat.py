"""The playground as a chat, in Debian's headless Chromium (issue 14, items 7-9).

- The list stays at the newest message on load, after the visitor's own /imagine and after a button
  press on an older message; scrolled up, a new message shows a "jump to present" bar instead of moving
  the list, and the bar brings the list back down.
- "/imagine a red bicycle" and Enter opens /imagine with the prompt filled in, as Discord does.
- An image opens large in a lightbox (Esc or a click outside closes it, a link opens the original), and
  images load lazily: a channel of thirty results fetches the few near the bottom, not all thirty.

The lazy-loading and lightbox tests feed the page a fixed channel through a routed event stream (a
"hello" with thirty image results, whose images Playwright serves and counts), so the numbers do not
depend on the bot. The others run against the real bot. Every wait is a Playwright wait with a deadline.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image

from .conftest import open_page
from .support import Playground
from .test_playground_browser import FINISHED, become

pytestmark = pytest.mark.timeout(120)

BOX = "document.getElementById('messages')"
# How far the list is from its bottom, in pixels.
BELOW = f"(() => {{ const b = {BOX}; return b.scrollHeight - b.scrollTop - b.clientHeight; }})()"
AT_BOTTOM = f"() => {BELOW} < 4"
SCROLL_TOP = f"() => {BOX}.scrollTop"
TO_TOP = f"() => {{ {BOX}.scrollTop = 0; }}"
LOADED = "i => i.complete && i.naturalWidth > 0"


@pytest.fixture
def short_page(browser: Any, playground: Playground) -> Iterator[Any]:
    """The playground in a short window, so that a few grids already make the list scroll."""
    yield from open_page(browser, playground, width=1200, height=620, timeout_ms=30_000)


def imagine_typed(page: Any, prompt: str) -> None:
    """/imagine as a member types it: the whole line, Enter (opens it), Enter (sends it)."""
    page.fill("#composer-input", "/imagine " + prompt)
    page.press("#composer-input", "Enter")
    page.wait_for_selector("#command-chip:text-is('/imagine')")
    page.press("[data-option='prompt'] input", "Enter")


def newest_finished(page: Any, count: int) -> None:
    """``count`` finished /imagine grids are on the page (the newest one finished)."""
    page.wait_for_function(
        "n => [...document.querySelectorAll('article.message .interaction-command')]"
        ".filter((c) => c.textContent === '/imagine').length >= n",
        arg=count,
    )
    page.wait_for_function(FINISHED, arg="/imagine")


# -- item 8: a command typed out ------------------------------------------------------------------------


def test_typed_command_opens_with_the_prompt(page: Any, playground: Playground, tmp_path: Path) -> None:
    become(page, playground, "carol" if _has(playground, "carol") else "alice")
    page.click("button.channel[data-channel='imagine']")

    page.fill("#composer-input", "/imagine a red bicycle")
    # While typing, the picker offers the command being typed.
    page.wait_for_selector(".picker-item[data-command='imagine']")
    page.press("#composer-input", "Enter")
    page.wait_for_selector("#command-chip:text-is('/imagine')")
    prompt = page.locator("[data-option='prompt'] input")
    assert prompt.input_value() == "a red bicycle"
    # The cursor is in the prompt, at its end, so the member can go on typing.
    assert page.evaluate("() => document.activeElement.name") == "prompt"
    assert page.evaluate("() => document.activeElement.selectionStart") == len("a red bicycle")
    page.screenshot(path=str(tmp_path / "typed-command.png"))

    # Esc cancels; markup and extra spaces come through exactly as typed, as text; Send works as Enter.
    page.press("[data-option='prompt'] input", "Escape")
    page.wait_for_selector("#command-form", state="hidden")
    page.fill("#composer-input", "/Imagine   <b>bold</b> &amp;  cat")
    page.click("#send")
    page.wait_for_selector("#command-chip:text-is('/imagine')")
    assert prompt.input_value() == "<b>bold</b> &amp;  cat"
    assert page.locator("#option-fields b").count() == 0

    # The command alone still opens it empty, and a command with no text option just opens.
    page.press("[data-option='prompt'] input", "Escape")
    page.fill("#composer-input", "/imagine")
    page.press("#composer-input", "Enter")
    page.wait_for_selector("#command-chip:text-is('/imagine')")
    assert prompt.input_value() == ""

    # Enter again sends it: the typed prompt reaches the bot and comes back in the reply.
    prompt.fill("a red bicycle leaning on a wall")
    prompt.press("Enter")
    page.wait_for_function(FINISHED, arg="/imagine")
    grid = page.locator("article.message", has=page.locator(".interaction-command", has_text="/imagine")).last
    assert "a red bicycle leaning on a wall" in grid.locator(".message-content").inner_text()


def _has(playground: Playground, username: str) -> bool:
    return any(m["username"] == username for m in playground.state()["guilds"][0]["members"])


# -- item 7: following the newest message ---------------------------------------------------------------


def test_chat_follows_the_newest_message(short_page: Any, playground: Playground, tmp_path: Path) -> None:
    page = short_page
    become(page, playground, "alice")
    page.click("button.channel[data-channel='imagine']")
    before = page.locator("article.message .interaction-command", has_text="/imagine").count()

    # After the visitor's own /imagine, the list is at the newest message, images and all.
    imagine_typed(page, "a lighthouse on a cliff")
    newest_finished(page, before + 1)
    page.wait_for_function(AT_BOTTOM)
    imagine_typed(page, "a harbour at night")
    newest_finished(page, before + 2)
    page.wait_for_function(AT_BOTTOM)
    assert page.evaluate(f"() => {BOX}.scrollHeight > 2 * {BOX}.clientHeight")  # the list does scroll

    # On load, too.
    page.reload()
    page.wait_for_selector("body[data-ready='true']")
    page.wait_for_function(FINISHED, arg="/imagine")
    page.wait_for_function(AT_BOTTOM)
    assert page.locator("#jump-bar").is_hidden()

    # Scrolled up, something new arrives: the list stays where the visitor is, and the bar appears.
    page.evaluate(TO_TOP)
    page.wait_for_function("() => document.getElementById('messages').scrollTop === 0")
    channel_id = next(c["id"] for c in playground.state()["guilds"][0]["channels"] if c["name"] == "imagine")
    response = httpx.post(
        playground.url + "/_control/interactions/command",
        json={
            "user_id": playground.user_id("bob"),
            "channel_id": channel_id,
            "command": "imagine",
            "options": {"prompt": "a boat made by someone else"},
        },
        timeout=10,
    )
    assert response.status_code == 201, response.text
    page.wait_for_selector("#jump-bar:visible")
    page.locator("article.message", has_text="a boat made by someone else").wait_for()
    assert page.evaluate(SCROLL_TOP) == 0
    assert "Jump to present" in page.locator("#jump-bar").inner_text()
    page.screenshot(path=str(tmp_path / "jump-bar.png"))

    # The bar takes the list to the newest message and goes away.
    page.click("#jump-bar")
    page.wait_for_function(AT_BOTTOM)
    page.wait_for_selector("#jump-bar", state="hidden")
    page.wait_for_function(FINISHED, arg="/imagine")
    page.wait_for_function(AT_BOTTOM)

    # Scrolling back down by hand hides it too.
    page.evaluate(TO_TOP)
    httpx.post(
        playground.url + "/_control/interactions/command",
        json={
            "user_id": playground.user_id("bob"),
            "channel_id": channel_id,
            "command": "imagine",
            "options": {"prompt": "another boat"},
        },
        timeout=10,
    ).raise_for_status()
    page.wait_for_selector("#jump-bar:visible")
    page.evaluate(f"() => {{ {BOX}.scrollTop = {BOX}.scrollHeight; }}")
    page.wait_for_selector("#jump-bar", state="hidden")
    page.wait_for_function(FINISHED, arg="/imagine")

    # A button pressed on an older grid, up the list: its answer arrives at the bottom and the list goes there.
    first_grid = page.locator("article.message", has=page.locator(".interaction-command", has_text="/imagine")).first
    first_grid.scroll_into_view_if_needed()
    page.wait_for_function(f"() => {BELOW} > 200")
    first_grid.locator("button.btn:not(:disabled)", has_text="U1").click()
    page.wait_for_function(FINISHED, arg="U1")
    page.wait_for_function(AT_BOTTOM)
    assert page.locator("#jump-bar").is_hidden()
    page.screenshot(path=str(tmp_path / "after-press.png"))


# -- item 9: images, lazily and large -------------------------------------------------------------------

RESULTS = 30


def _png(colour: tuple[int, int, int]) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (512, 512), colour).save(out, "PNG")
    return out.getvalue()


@pytest.fixture
def gallery(browser: Any, playground: Playground) -> Iterator[tuple[Any, list[int], str]]:
    """The page on a channel of thirty image results (a routed "hello"); the image numbers requested."""
    state = playground.state()
    guild = state["guilds"][0]
    channel_id = next(c["id"] for c in guild["channels"] if c["name"] == "imagine")
    bot = next(m for m in guild["members"] if m.get("bot"))
    base = playground.url + "/fake-results/"
    messages = []
    for n in range(RESULTS):
        messages.append(
            {
                "id": str(900_000_000_000_000_000 + n),
                "channel_id": channel_id,
                "type": 0,
                "content": f"**result {n}** <b>stays text</b>",
                "author": {"id": bot["id"], "username": bot["username"], "bot": True},
                "timestamp": "2026-11-30T04:00:00+00:00",
                "edited_timestamp": None,
                "attachments": [
                    {
                        "id": str(800_000_000_000_000_000 + n),
                        "filename": f"result-{n}.png",
                        "url": f"{base}{n}.png",
                        "content_type": "image/png",
                        "width": 512,
                        "height": 512,
                        "size": 2000,
                        "description": f"result {n} <i>alt</i>",
                    }
                ],
                "embeds": [],
                "components": [],
                "flags": 0,
                "_edit_count": 0,
            }
        )
    hello = {**state, "bot_connected": True, "messages": {channel_id: messages}}
    # retry: the page would reconnect when the body ends; a long retry keeps it on this one snapshot.
    stream = f"retry: 600000\nevent: hello\ndata: {json.dumps(hello)}\n\n"

    context = browser.new_context(viewport={"width": 1200, "height": 800})
    context.set_default_timeout(20_000)
    requested: list[int] = []

    def serve_image(route: Any) -> None:
        n = int(route.request.url.rsplit("/", 1)[1].split(".")[0])
        requested.append(n)
        route.fulfill(status=200, content_type="image/png", body=_png(((n * 37) % 256, 90, 200)))

    context.route(
        "**/_control/events",
        lambda route: route.fulfill(
            status=200, headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"}, body=stream
        ),
    )
    context.route("**/fake-results/*", serve_image)
    tab = context.new_page()
    errors: list[str] = []
    tab.on("pageerror", lambda exc: errors.append(str(exc)))
    try:
        tab.goto(playground.url)
        tab.wait_for_selector("body[data-ready='true']")
        yield tab, requested, base
    finally:
        context.close()
    assert not errors, f"the page threw: {errors}"


LAST_LOADED = f"""() => {{
  const imgs = [...document.querySelectorAll('.attachment-image img')];
  const last = imgs[imgs.length - 1];
  return imgs.length === {RESULTS} && last.complete && last.naturalWidth > 0;
}}"""


def test_images_load_lazily(gallery: tuple[Any, list[int], str], tmp_path: Path) -> None:
    page, requested, _ = gallery
    page.wait_for_function(LAST_LOADED)
    page.wait_for_function(AT_BOTTOM)  # on load, at the newest result
    images = page.locator(".attachment-image img")
    assert images.count() == RESULTS
    last = images.last
    assert last.get_attribute("loading") == "lazy"
    # The box is reserved from the attachment's size, so nothing jumps while images arrive.
    assert (last.get_attribute("width"), last.get_attribute("height")) == ("512", "512")
    # The newest results were fetched, the oldest, far above, were not.
    assert RESULTS - 1 in requested
    assert 0 not in requested
    # Chromium fetches lazy images within a margin (1250-2500 px) of the viewport: a handful, not thirty.
    assert len(set(requested)) <= RESULTS // 3, f"fetched {sorted(set(requested))} of {RESULTS}"
    page.screenshot(path=str(tmp_path / "lazy-gallery.png"))

    # Scrolled to the top, the oldest are fetched then.
    page.evaluate(TO_TOP)
    page.locator(".attachment-image img").first.wait_for()
    page.wait_for_function(f"() => ({LOADED})(document.querySelector('.attachment-image img'))")
    assert 0 in requested
    # Member text stays text: the markup in the content and in the alt text is not markup.
    assert page.locator(".message-content b").count() == 0
    assert page.locator(".attachment-image i").count() == 0


def test_image_opens_in_a_lightbox(gallery: tuple[Any, list[int], str], tmp_path: Path) -> None:
    page, _, base = gallery
    page.wait_for_function(LAST_LOADED)
    newest = page.locator(".attachment-image img").last
    newest.click()
    box = page.locator("#lightbox")
    page.wait_for_selector("#lightbox[open]")
    big = page.locator("#lightbox-image")
    assert big.get_attribute("src") == f"{base}{RESULTS - 1}.png"
    page.wait_for_function(f"() => ({LOADED})(document.getElementById('lightbox-image'))")
    assert big.bounding_box()["width"] > newest.bounding_box()["width"]
    original = page.locator("#lightbox-original")
    assert original.get_attribute("href") == f"{base}{RESULTS - 1}.png"
    assert original.get_attribute("target") == "_blank"
    assert "noopener" in (original.get_attribute("rel") or "")
    page.screenshot(path=str(tmp_path / "lightbox.png"))

    # The link opens the original in a new tab.
    with page.context.expect_page() as opened:
        original.click()
    assert opened.value.url == f"{base}{RESULTS - 1}.png"
    opened.value.close()

    # Esc closes it.
    page.keyboard.press("Escape")
    page.wait_for_selector("#lightbox:not([open])", state="attached")
    assert not box.evaluate("d => d.open")

    # A click outside the image closes it; a click on the image does not.
    page.locator(".attachment-image img").nth(RESULTS - 2).click()
    page.wait_for_selector("#lightbox[open]")
    big.click()
    assert box.evaluate("d => d.open")
    page.mouse.click(10, 10)
    page.wait_for_selector("#lightbox:not([open])", state="attached")
    # The list stayed where it was: no navigation happened.
    assert page.url.endswith("/playground/")
