"""End-to-end harness: the local Discord in the test's event loop, the real bot as a subprocess.

The bot is started exactly as a person would start it (``python -m bot run``), with its settings in
the environment, its own data directory, and its output captured to a log file that a failing test
prints. Every wait has a deadline; every process a test starts is stopped when the test ends (and,
through ``bot.devtools.processes``, killed by the kernel should the test run itself be killed).
"""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path
from typing import Any

import httpx

from bot.devtools import processes
from localdiscord import LocalDiscord
from tests.helpers import TLS

__all__ = ["BotProcess", "button_ids", "job_id_of", "message_buttons"]

# A cold start imports discord.py, opens SQLite, syncs commands and connects the gateway.
START_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 10.0


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
        self.child: processes.Child | None = None
        self.starts = 0

    @property
    def process(self) -> asyncio.subprocess.Process | None:
        """The current run's process (tests read its ``returncode``), None before the first start."""
        return self.child.process if self.child is not None else None

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
        self.child = await processes.start(
            [sys.executable, "-m", "bot", "run"], cwd=self.workdir, env=env, log=self.log_path, name="the bot"
        )
        try:
            await self.child.wait_ready(
                lambda: self._sessions() > before, within=START_TIMEOUT_S, what="the bot to connect"
            )
        except processes.StartFailed as exc:
            # Every run's log, not only this one's: a failed restart is read beside the run it replaced.
            raise AssertionError(f"{exc.reason}:\n{self.log()}") from None

    def _sessions(self) -> int:
        """Connected gateway sessions that have been sent READY; a new one means the bot is up."""
        gateway = self.ld.stats()["gateway"]
        return sum(1 for s in gateway["sessions"] if s["connected"] and s["seq"] >= 1) + 1000 * len(gateway["sessions"])

    async def stop(self) -> None:
        """SIGTERM, as a service manager would, then SIGKILL if it does not go."""
        if self.child is not None:
            await self.child.stop(grace=STOP_TIMEOUT_S)

    async def kill(self) -> None:
        """kill -9: no clean-up of any kind."""
        if self.child is not None:
            await self.child.kill()

    async def restart(self) -> None:
        await self.stop()
        await self.start()


async def download(url: str) -> bytes:
    async with httpx.AsyncClient(verify=TLS) as client:
        response = await client.get(url)
        response.raise_for_status()
        return response.content


async def press_on_older_message(
    ld: LocalDiscord, member: str, channel_id: Any, button: dict[str, Any]
) -> dict[str, Any]:
    """Post a message carrying one button with the bot's token, as an earlier run of the bot had drawn it,
    and press it as ``member``: how a test reaches a stale button the bot would no longer draw."""
    async with httpx.AsyncClient() as client:
        posted = await client.post(
            f"{ld.api_base}/channels/{channel_id}/messages", headers={"Authorization": f"Bot {ld.token}"},
            json={"content": "an older message", "components": [{"type": 1, "components": [button]}]},
        )  # fmt: skip
    posted.raise_for_status()
    return await ld.click(member, posted.json()["id"], button["custom_id"])
