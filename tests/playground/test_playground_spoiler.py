"""A flagged image is never shown plainly in the playground: an attachment named SPOILER_… is drawn
blurred behind a label, as Discord draws it, and the first click only reveals it (the lightbox waits for
the next). Checked in Chromium against a bare local Discord, with images this test draws."""

from __future__ import annotations

import io
import json
from typing import Any

import pytest
from PIL import Image

from tests.playground.test_playground_rendering import BareDiscord, bare  # noqa: F401 - the fixture

pytestmark = pytest.mark.timeout(60)


def _png(colour: tuple[int, int, int]) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (64, 48), colour).save(buffer, "PNG")
    return buffer.getvalue()


def _post_image(server: BareDiscord, content: str, filename: str) -> None:
    payload = {"content": content, "attachments": [{"id": 0, "filename": filename}]}
    response = server.api.post(
        f"/channels/{server.ids['general']}/messages",
        data={"payload_json": json.dumps(payload)},
        files={"files[0]": (filename, _png((200, 40, 40)), "image/png")},
    )
    assert response.status_code == 200, response.text


def test_a_spoiler_attachment_is_blurred_until_clicked(browser: Any, bare: BareDiscord) -> None:  # noqa: F811
    _post_image(bare, "plain image", "grid.png")
    _post_image(bare, "flagged image", "SPOILER_grid.png")
    context = browser.new_context(viewport={"width": 1280, "height": 860})
    context.set_default_timeout(15_000)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    try:
        page.goto(bare.url)
        page.wait_for_selector("body[data-ready='true']")
        page.click("button.channel[data-channel='general']")
        plain = page.locator("article.message").filter(has_text="plain image").locator("a.attachment-image")
        flagged = page.locator("article.message").filter(has_text="flagged image").locator("a.attachment-image")
        flagged.wait_for()
        assert "spoiler" not in (plain.get_attribute("class") or "")
        assert plain.locator("img").evaluate("img => getComputedStyle(img).filter") == "none"

        assert "spoiler" in (flagged.get_attribute("class") or "")
        assert flagged.locator(".spoiler-label").inner_text() == "SPOILER"
        assert "blur" in flagged.locator("img").evaluate("img => getComputedStyle(img).filter")

        flagged.click()  # reveals; does not open the lightbox
        assert flagged.locator(".spoiler-label").count() == 0
        assert flagged.locator("img").evaluate("img => getComputedStyle(img).filter") == "none"
        assert not page.locator("#lightbox").evaluate("d => d.open")
        flagged.click()  # now it opens large, like any image
        page.wait_for_function("() => document.getElementById('lightbox').open")
    finally:
        context.close()
    assert not errors, f"the page threw: {errors}"
