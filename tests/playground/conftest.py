"""Fixtures for the playground tests: ``imagine-bot playground`` as a subprocess, and Debian's Chromium.

The playground is started exactly as a person would start it, on a free port with its own data
directory, in a session of its own so that whatever happens the test can end it and its bot child.
Browser tests skip with the reason when /usr/bin/chromium (or the playwright package) is missing on a
developer machine, and fail instead when ``CI`` is set: CI installs both, so a missing one is a bug.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from .support import Playground

CHROMIUM = Path("/usr/bin/chromium")
# The flags known to work on these machines: no sandbox as root, and no background traffic to Google,
# which the closed network refuses (slowly). Playwright gives every launch a fresh profile directory.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def _missing(reason: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"{reason}; CI must provide it (.ci/run installs Debian's chromium)", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="module")
def playground(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Playground]:
    """One playground for a module's browser tests (starting one costs a few seconds)."""
    running = Playground(tmp_path_factory.mktemp("playground"), "--step-seconds", "0.4")
    try:
        running.wait_for(r"^Ready: ")
        yield running
    finally:
        running.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not (CHROMIUM.exists() and os.access(CHROMIUM, os.X_OK)):
        _missing(f"Debian's Chromium is not installed at {CHROMIUM} (apt-get install chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _missing("the playwright package is not installed (pip install -e '.[test]')")
    with sync_playwright() as pw:
        launched = pw.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            launched.close()


def open_page(browser: Any, playground: Playground, *, width: int, height: int, timeout_ms: int) -> Iterator[Any]:
    """A fresh browser context (no saved identity or channel) on the playground page, once the bot is
    online; closed afterwards, failing the test if the page threw meanwhile. For fixtures to yield from."""
    context = browser.new_context(viewport={"width": width, "height": height})
    context.set_default_timeout(timeout_ms)
    tab = context.new_page()
    errors: list[str] = []
    tab.on("pageerror", lambda exc: errors.append(str(exc)))
    try:
        tab.goto(playground.url)
        tab.wait_for_selector("#bot-status[data-online='true']")
        yield tab
    finally:
        context.close()
    assert not errors, f"the page threw: {errors}"


@pytest.fixture
def page(browser: Any, playground: Playground) -> Iterator[Any]:
    """A fresh browser context (no saved identity or channel) on the playground page."""
    yield from open_page(browser, playground, width=1400, height=900, timeout_ms=20_000)
