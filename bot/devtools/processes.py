"""Child processes for the developer tools: start one, wait until it is ready, stop it, leave nothing behind.

The playground, the load benchmark and the end-to-end tests all run real processes (the bot, a provider
simulator, py-spy) next to an in-process local Discord. They share one way of doing it::

    child = await start([sys.executable, "-m", "bot", "run"], cwd=workdir, env=env, log=workdir / "bot.log")
    try:
        await child.wait_ready(lambda: bot_connected(ld), within=30.0, what="the bot to connect")
        ...
    finally:
        await child.stop()        # SIGTERM, a grace period, then SIGKILL

- Output: stdout and stderr go to one log file, so a child never blocks on a full pipe nobody reads and
  a failure can quote the end of what it said (``Child.log_tail``).
- Readiness: a condition polled until it holds, failing early with ``StartFailed`` when the child exits
  first, and with the same error after a deadline; the message carries the log's tail.
- Stopping: SIGTERM (what a service manager sends, so the child shuts down as it would in production),
  ``grace`` seconds, then SIGKILL; the exit code is returned.
- A parent that dies without stopping its children (SIGKILL, a crash) still takes them with it on Linux:
  each child asks the kernel for ``PARENT_DEATH_SIGNAL`` when its parent goes.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import os
import signal
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TypeVar

__all__ = ["PARENT_DEATH_SIGNAL", "STOP_GRACE_S", "Child", "StartFailed", "start"]

T = TypeVar("T")

# SIGKILL, not SIGTERM. This signal is only ever sent when the parent is already gone, so nobody is left
# to escalate: a child that ignores SIGTERM, or hangs in its clean-up (the bot's clean-up talks to a
# local Discord that died with the parent), would live on as an orphan, and these tools promise to leave
# nothing behind. SIGKILL cannot be caught, ignored or stalled. It loses nothing the bot needs: the bot is
# built to be killed at any instant (SQLite in WAL mode, jobs resumed or settled at the next start; the
# crash-point and restart tests kill it with -9 on purpose), and an orderly stop still gets SIGTERM first
# from ``Child.stop``.
PARENT_DEATH_SIGNAL = signal.SIGKILL
# Long enough for the bot to close its gateway and database after SIGTERM, short enough not to stall.
STOP_GRACE_S = 10.0
# Readiness is polled; 50 ms is well below any start-up time and costs nothing on the shared cores.
READY_POLL_S = 0.05
# How much of the log a failure quotes: the traceback or last words, not the whole history.
TAIL_LINES = 40
_TAIL_BYTES = 64 * 1024
_PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>


class StartFailed(RuntimeError):
    """A child exited, or its readiness condition did not hold within the deadline."""

    def __init__(self, reason: str, log_tail: str) -> None:
        super().__init__(f"{reason}; the end of its log:\n{log_tail}")
        self.reason = reason
        self.log_tail = log_tail


def _die_with_parent() -> Callable[[], None] | None:
    """A ``preexec_fn`` asking the kernel to send ``PARENT_DEATH_SIGNAL`` when this process dies (Linux only).

    The signal follows the thread that forked the child; asyncio forks from its loop's thread, which
    lives as long as anything could stop the child in an orderly way.
    """
    if not sys.platform.startswith("linux"):
        return None
    try:
        # Looked up before the fork: the child between fork and exec should do as little as possible.
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    parent = os.getpid()
    signum = int(PARENT_DEATH_SIGNAL)

    def preexec() -> None:
        prctl(_PR_SET_PDEATHSIG, signum)
        # The parent may have died between fork and prctl; then nobody would send the signal.
        if os.getppid() != parent:
            os._exit(1)

    return preexec


class Child:
    """One started child process and the log file its output goes to."""

    def __init__(self, process: asyncio.subprocess.Process, *, name: str, log_path: Path) -> None:
        self.process = process
        self.name = name
        self.log_path = log_path

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def returncode(self) -> int | None:
        """None while it runs; negative for the signal that ended it."""
        return self.process.returncode

    async def wait(self) -> int:
        return await self.process.wait()

    async def wait_ready(
        self, condition: Callable[[], T | None], *, within: float, what: str, interval: float = READY_POLL_S
    ) -> T:
        """Poll ``condition`` until it returns something truthy, and return that.

        Raises ``StartFailed`` as soon as the child exits (a dead child is never ready), or once
        ``within`` seconds pass. Stopping the child after a failure is the caller's: it usually has
        other things to stop too.
        """
        deadline = time.monotonic() + within
        while True:
            if self.returncode is not None:
                raise StartFailed(f"{self.name} exited with code {self.returncode} before {what}", self.log_tail())
            value = condition()
            if value:
                return value
            if time.monotonic() > deadline:
                raise StartFailed(f"{self.name}: timed out after {within:g}s waiting for {what}", self.log_tail())
            await asyncio.sleep(interval)

    async def stop(self, *, grace: float = STOP_GRACE_S, signum: int = signal.SIGTERM) -> int:
        """Send ``signum`` (SIGTERM unless the child wants another, as py-spy wants SIGINT), wait up to
        ``grace`` seconds, then SIGKILL; returns the exit code. Stopping a stopped child is a no-op."""
        if self.process.returncode is None:
            # It may exit between the check and the signal; that is the outcome wanted anyway.
            with contextlib.suppress(ProcessLookupError):
                self.process.send_signal(signum)
            try:
                return await asyncio.wait_for(self.process.wait(), grace)
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    self.process.kill()
        return await self.process.wait()

    async def kill(self) -> int:
        """SIGKILL at once, as ``kill -9`` would: no clean-up of any kind runs in the child."""
        if self.process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self.process.kill()
        return await self.process.wait()

    def log_tail(self, lines: int = TAIL_LINES) -> str:
        """The last ``lines`` lines of the child's log, or a note that there is none."""
        try:
            with self.log_path.open("rb") as log:
                size = log.seek(0, os.SEEK_END)
                # Only the end is read: a benchmark's bot log can run to megabytes.
                log.seek(max(0, size - _TAIL_BYTES))
                text = log.read().decode(errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])


async def start(
    args: Sequence[str],
    *,
    cwd: Path,
    env: Mapping[str, str],
    log: Path,
    append: bool = False,
    name: str | None = None,
) -> Child:
    """Start ``args`` in ``cwd`` with exactly ``env``, its stdout and stderr in ``log``.

    ``append`` keeps what an earlier run wrote to the same log (the playground's data directory
    outlives a run); otherwise the log starts empty. Stdin is /dev/null: a child must never wait on,
    or steal, the terminal of whoever started it. ``name`` is how errors refer to the child.
    """
    with log.open("ab" if append else "wb") as out:
        # The child holds its own copy of the descriptor; this one is closed once it is started.
        process = await asyncio.create_subprocess_exec(
            *args,
            cwd=cwd,
            env=dict(env),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=out,
            stderr=asyncio.subprocess.STDOUT,
            preexec_fn=_die_with_parent(),
        )
    return Child(process, name=name or Path(args[0]).name, log_path=log)
