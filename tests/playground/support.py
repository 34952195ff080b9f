"""The playground as a subprocess, for the playground tests."""

from __future__ import annotations

import contextlib
import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx

__all__ = ["Playground", "pid_alive"]

START_TIMEOUT_S = 40.0
STOP_TIMEOUT_S = 15.0


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie has exited; it only waits for its parent to read the status.
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1][0] != "Z"
    except (OSError, IndexError):
        return True


class Playground:
    """``python -m bot playground --port 0`` in a new session, with its output collected line by line."""

    def __init__(self, workdir: Path, *extra: str) -> None:
        self.workdir = workdir
        workdir.mkdir(parents=True, exist_ok=True)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("DISCORD_", "PROVIDER", "LOCAL_"))}
        env["PYTHONUNBUFFERED"] = "1"
        self.process = subprocess.Popen(
            [sys.executable, "-m", "bot", "playground", "--port", "0", "--data-dir", str(workdir / "data"), *extra],
            cwd=workdir,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        self.lines: list[str] = []
        self._queue: queue.Queue[str | None] = queue.Queue()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        self.url = self.wait_for(r"imagine-bot playground: (http://127\.0\.0\.1:\d+)").group(1)
        self.bot_pid = int(self.wait_for(r"bot:\s+pid (\d+)").group(1))

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self._queue.put(line.rstrip("\n"))
        self._queue.put(None)

    def output(self) -> str:
        log = self.workdir / "data" / "bot.log"
        bot = log.read_text(errors="replace")[-4000:] if log.exists() else "(no bot log)"
        return "\n".join(self.lines) + f"\n--- bot.log ---\n{bot}"

    def wait_for(self, pattern: str, timeout: float = START_TIMEOUT_S) -> re.Match[str]:
        """The first output line (seen so far or to come) matching ``pattern``."""
        regex = re.compile(pattern)
        for line in self.lines:
            if match := regex.search(line):
                return match
        deadline = time.monotonic() + timeout
        while True:
            try:
                line = self._queue.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                raise AssertionError(f"no line matching {pattern!r} within {timeout}s:\n{self.output()}") from None
            if line is None:
                code = self.process.wait()
                raise AssertionError(f"the playground exited ({code}) before {pattern!r}:\n{self.output()}")
            self.lines.append(line)
            if match := regex.search(line):
                return match

    def state(self) -> dict[str, Any]:
        return httpx.get(self.url + "/_control/state", timeout=5).json()

    def user_id(self, username: str) -> str:
        members = self.state()["guilds"][0]["members"]
        return next(m["id"] for m in members if m["username"] == username)

    def signal(self, signum: int) -> None:
        if self.process.poll() is None:
            os.kill(self.process.pid, signum)

    def stop(self) -> int:
        """SIGTERM, then everything in the session is killed if it does not go; returns the exit code."""
        self.signal(signal.SIGTERM)
        try:
            code = self.process.wait(STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            code = -9
        self.kill_all()
        return code

    def kill_all(self) -> None:
        # The playground leads its own session, so its group holds the bot too; the bot by pid in case
        # it somehow left the group.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        if pid_alive(self.bot_pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.bot_pid, signal.SIGKILL)
        if self.process.poll() is None:
            self.process.wait(5)
        # EOF on the pipe once every holder of it is gone; then it can be closed.
        self._reader.join(5)
        if self.process.stdout is not None:
            self.process.stdout.close()
