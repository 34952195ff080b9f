"""End-to-end harness: the local Discord in the test's event loop, the real bot as a subprocess.

The bot is started exactly as a person would start it (``python -m bot run``), with its settings in
the environment, its own data directory, and its output captured to a log file that a failing test
prints. Every wait has a deadline; every process a test starts is stopped when the test ends.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx

from localdiscord import LocalDiscord

__all__ = ["BotProcess", "button_ids", "eventually", "job_id_of", "message_buttons"]

# A cold start imports discord.py, opens SQLite, syncs commands and connects the gateway.
START_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 10.0


async def eventually(fn: Callable[[], Any], *, within: float = 15.0, interval: float = 0.05, what: str = "") -> Any:
    """Poll ``fn`` (sync or async) until it returns something truthy; fail with the last value after ``within`` s."""
    deadline = time.monotonic() + within
    last: Any = None
    while True:
        value = fn()
        if isinstance(value, Awaitable):
            value = await value
        if value:
            return value
        last = value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {within}s waiting for {what or fn!r}; last value: {last!r}")
        await asyncio.sleep(interval)


def message_buttons(message: dict[str, Any]) -> list[dict[str, Any]]:
    return [c for row in message.get("components") or [] for c in row.get("components", []) if c.get("type") == 2]


def button_ids(message: dict[str, Any]) -> list[str]:
    return [b["custom_id"] for b in message_buttons(message)]


def job_id_of(message: dict[str, Any]) -> str | None:
    for custom_id in button_ids(message):
        if custom_id.startswith("img1:"):
            return custom_id.split(":")[1]
    content = message.get("content") or ""
    if "Job `" in content:
        return content.split("Job `", 1)[1].split("`", 1)[0]
    return None


class BotProcess:
    """``imagine-bot run`` against a LocalDiscord, restartable, killable."""

    def __init__(self, ld: LocalDiscord, workdir: Path, **env: Any) -> None:
        self.ld = ld
        self.workdir = workdir
        self.workdir.mkdir(parents=True, exist_ok=True)
        guild_id = ld.state()["guilds"][0]["id"]
        self.env = {
            "DISCORD_TOKEN": ld.token,
            "DISCORD_API_BASE": ld.api_base,
            "DISCORD_GATEWAY_URL": ld.gateway_url,
            "DISCORD_GUILD_IDS": guild_id,
            "DATA_DIR": str(workdir / "data"),
            "LOCAL_STEP_SECONDS": "0",
            "EDIT_INTERVAL_S": "0.3",
            "LOG_LEVEL": "INFO",
        } | {key: str(value) for key, value in env.items()}
        self.process: asyncio.subprocess.Process | None = None
        self.starts = 0

    @property
    def log_path(self) -> Path:
        return self.workdir / f"bot-{self.starts}.log"

    def log(self) -> str:
        return "\n".join(
            f"--- {p.name} ---\n{p.read_text(errors='replace')[-6000:]}" for p in sorted(self.workdir.glob("bot-*.log"))
        )

    async def start(self) -> None:
        before = self._sessions()
        self.starts += 1
        env = {k: v for k, v in os.environ.items() if not k.startswith(("DISCORD_", "PROVIDER", "LOCAL_"))}
        env |= self.env
        env["PYTHONUNBUFFERED"] = "1"
        with self.log_path.open("wb") as log:
            self.process = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "bot",
                "run",
                cwd=self.workdir,
                env=env,
                stdout=log,
                stderr=asyncio.subprocess.STDOUT,
            )

        def ready() -> bool:
            if self.process is not None and self.process.returncode is not None:
                raise AssertionError(f"the bot exited with {self.process.returncode}:\n{self.log()}")
            return self._sessions() > before

        try:
            await eventually(ready, within=START_TIMEOUT_S, what="the bot to connect")
        except AssertionError as exc:
            raise AssertionError(f"{exc}\n{self.log()}") from None

    def _sessions(self) -> int:
        """Connected gateway sessions that have been sent READY; a new one means the bot is up."""
        gateway = self.ld.stats()["gateway"]
        return sum(1 for s in gateway["sessions"] if s["connected"] and s["seq"] >= 1) + 1000 * len(gateway["sessions"])

    async def stop(self) -> None:
        """SIGTERM, as a service manager would, then SIGKILL if it does not go."""
        process = self.process
        if process is None or process.returncode is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(process.wait(), STOP_TIMEOUT_S)
        except TimeoutError:
            process.kill()
            await process.wait()

    async def kill(self) -> None:
        """kill -9: no clean-up of any kind."""
        process = self.process
        if process is not None and process.returncode is None:
            process.kill()
            await process.wait()

    async def restart(self) -> None:
        await self.stop()
        await self.start()


async def download(url: str) -> bytes:
    async with httpx.AsyncClient() as client:
        response = await client.get(url)
        response.raise_for_status()
        return response.content
