"""``python -m bot.devtools.screenshots``: the README's screenshots of the playground, made the way a person
would see it.

It starts ``imagine-bot playground`` (a fresh one, on a free port, with its own data directory in a
temporary folder), opens the page in Debian's Chromium through Playwright, runs
``/imagine a cozy cabin in a snowy pine forest at dusk`` as a member by typing it into the composer,
waits for the finished grid (its image loaded, its buttons live), and saves the page at desktop size
(1280×800) and at a phone's (390×844, a touch screen with a phone's user agent) in ``docs/screenshots/``.
With ``--url`` it uses a playground that is already running instead.

Playwright and Chromium are test tools here (``pip install -e '.[test]'``, ``apt-get install chromium``);
nothing of the bot needs them.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import queue
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

__all__ = ["DESKTOP", "FINISHED", "PHONE", "PROMPT", "capture", "main"]

PROMPT = "a cozy cabin in a snowy pine forest at dusk"
DESKTOP = (1280, 800)
PHONE = (390, 844)
CHROMIUM = Path("/usr/bin/chromium")
OUT_DIR = Path("docs") / "screenshots"
# The flags that work on a headless machine with no network: no sandbox as root, no background traffic.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]  # fmt: skip
# A phone's user agent, so the page is seen as a phone's browser would see it.
PHONE_AGENT = (
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Mobile Safari/537.36"
)
# A job on the local provider at the pace used here takes a few seconds; a loaded machine may take longer.
WAIT_MS = 60_000
START_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 15.0
# Progress steps of the local provider: quick, so the screenshots do not take long.
_PACE = ("--step-seconds", "0.3")

# The newest reply to ``what`` ("/imagine", "U2") is finished: no progress bar or "thinking", an enabled
# button, and its image (not a "preview…" one) loaded. Evaluated in the page until true, because each
# edit replaces the message's element; the playground's browser tests wait on the same predicate.
FINISHED = """what => {
  const replies = [...document.querySelectorAll("article.message")]
    .filter((m) => [...m.querySelectorAll(".interaction-command")].some((c) => c.textContent === what));
  const reply = replies[replies.length - 1];
  if (!reply || reply.querySelector(".progress, .thinking")) return false;
  const images = [...reply.querySelectorAll(".attachment-image img")];
  return reply.querySelector("button.btn:not(:disabled)") !== null && images.length > 0
    && images.every((img) => img.complete && img.naturalWidth > 0 && !img.title.startsWith("preview"));
}"""
_AT_BOTTOM = (
    "() => { const b = document.getElementById('messages'); return b.scrollHeight - b.scrollTop - b.clientHeight < 4; }"
)


def _open(browser: Any, url: str, size: tuple[int, int], *, phone: bool, member: str) -> Any:
    """A fresh context on the playground as ``member``, in the #imagine channel, once the bot is online."""
    width, height = size
    options: dict[str, Any] = {"viewport": {"width": width, "height": height}, "device_scale_factor": 1}
    if phone:
        options.update(is_mobile=True, has_touch=True, user_agent=PHONE_AGENT)
    context = browser.new_context(**options)
    context.set_default_timeout(WAIT_MS)
    page = context.new_page()
    page.goto(url)
    page.wait_for_selector("#bot-status[data-online='true']")
    page.wait_for_selector(f"#identity option[data-username='{member}']", state="attached")
    page.select_option("#identity", page.locator(f"#identity option[data-username='{member}']").get_attribute("value"))
    if not phone:
        page.click("button.channel[data-channel='imagine']")
    page.wait_for_selector("#channel-name:text-is('imagine')")
    return page


def capture(browser: Any, url: str, out_dir: Path, *, prompt: str = PROMPT, member: str = "alice") -> list[Path]:
    """Run ``/imagine prompt`` on the playground at ``url`` and save the desktop and phone screenshots."""
    out_dir.mkdir(parents=True, exist_ok=True)
    desktop = _open(browser, url, DESKTOP, phone=False, member=member)
    try:
        # As a member types it: the whole line, Enter opens /imagine with the prompt in it, Enter sends it.
        desktop.fill("#composer-input", f"/imagine {prompt}")
        desktop.press("#composer-input", "Enter")
        desktop.wait_for_selector("#command-chip:text-is('/imagine')")
        desktop.press("[data-option='prompt'] input", "Enter")
        desktop.wait_for_function(FINISHED, arg="/imagine")
        desktop.wait_for_function(_AT_BOTTOM)
        desktop.locator("#composer-input").blur()
        paths = [out_dir / "playground-desktop.png"]
        desktop.screenshot(path=str(paths[0]))
    finally:
        desktop.context.close()
    phone = _open(browser, url, PHONE, phone=True, member=member)
    try:
        phone.wait_for_function(FINISHED, arg="/imagine")
        phone.wait_for_function(_AT_BOTTOM)
        paths.append(out_dir / "playground-phone.png")
        phone.screenshot(path=str(paths[1]))
    finally:
        phone.context.close()
    return paths


@contextlib.contextmanager
def _playground(data_dir: Path) -> Iterator[str]:
    """``imagine-bot playground`` on a free port; its URL once the bot is online; stopped afterwards."""
    process = subprocess.Popen(
        [sys.executable, "-m", "bot", "playground", "--port", "0", "--data-dir", str(data_dir), *_PACE],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        cwd=data_dir,
        start_new_session=True,  # so the bot it starts is stopped with it, whatever happens here
    )
    lines: queue.Queue[str | None] = queue.Queue()

    def read() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            lines.put(line.rstrip("\n"))
        lines.put(None)

    threading.Thread(target=read, daemon=True).start()
    try:
        url, deadline = "", time.monotonic() + START_TIMEOUT_S
        seen: list[str] = []
        while True:
            try:
                line = lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                raise RuntimeError("the playground did not get ready in time:\n" + "\n".join(seen)) from None
            if line is None:
                raise RuntimeError("the playground stopped:\n" + "\n".join(seen))
            seen.append(line)
            if found := re.search(r"imagine-bot playground: (http://\S+)", line):
                url = found.group(1)
            if line.startswith("Ready: ") and url:
                break
        yield url + "/playground/"
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait(5)
        if process.stdout is not None:
            process.stdout.close()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bot.devtools.screenshots", description="The README's screenshots of the playground."
    )
    parser.add_argument("--out", type=Path, default=OUT_DIR, help="where the PNGs go (default: docs/screenshots)")
    parser.add_argument("--url", help="use a running playground at this URL instead of starting one")
    parser.add_argument("--chromium", type=Path, default=CHROMIUM, help="the Chromium to drive")
    parser.add_argument("--prompt", default=PROMPT, help="what to /imagine")
    args = parser.parse_args(argv)
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        print("error: playwright is not installed (pip install -e '.[test]')", file=sys.stderr)
        return 2
    if not args.chromium.exists():
        print(f"error: no Chromium at {args.chromium} (apt-get install chromium, or --chromium PATH)", file=sys.stderr)
        return 2
    out = args.out.resolve()
    with tempfile.TemporaryDirectory(prefix="imagine-screenshots-") as tmp, contextlib.ExitStack() as stack:
        url = args.url or stack.enter_context(_playground(Path(tmp)))
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=str(args.chromium), headless=True, args=CHROMIUM_ARGS)
            try:
                paths = capture(browser, url, out, prompt=args.prompt)
            finally:
                browser.close()
    for path in paths:
        print(f"saved {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
