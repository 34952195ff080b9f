"""Helpers for the fault-injection tests: a bot on a provider simulator, the bot's own database read
from outside, and the check that a finished job's message shows how it finished.

Every wait has a deadline; every process and server is stopped by the fixture or test that started it.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from bot.core.models import ErrorReason, JobStatus
from localdiscord import LocalDiscord
from providersim import SimServer
from tests.e2e.harness import BotProcess, button_ids
from tests.helpers import free_port, wait_until

__all__ = [
    "API_KEY",
    "WEBHOOK_SECRET",
    "free_port",
    "job_rows",
    "message_shows",
    "provider_env",
    "response_message_id",
    "settle",
    "texts_seen",
]

API_KEY = "fault-provider-key-7f3e9a0c2b"
WEBHOOK_SECRET = "fault-webhook-secret-5d1c8e7b9a2f4e60"
# Fast polling so the tests wait on the simulator's clock, not on the adapters' production cadence.
FAST_POLL = {"poll_interval": 0.1, "max_poll_interval": 0.3, "min_request_interval": 0.0}


def provider_env(name: str, sim: SimServer, webhook_port: int, **extra: Any) -> dict[str, str]:
    """The environment that points the bot at a simulator, webhooks on, as an operator would set it."""
    prefix = name.upper()
    env = {
        "PROVIDER": name,
        f"{prefix}_API_KEY": API_KEY,
        f"{prefix}_BASE_URL": sim.api_base_url,
        f"{prefix}_OPTIONS": json.dumps(FAST_POLL),
        "WEBHOOK_ENABLED": "true",
        "WEBHOOK_HOST": "127.0.0.1",
        "WEBHOOK_PORT": str(webhook_port),
        "WEBHOOK_SECRET": WEBHOOK_SECRET,
    }
    return env | {key: str(value) for key, value in extra.items()}


async def response_message_id(ld: LocalDiscord, interaction_id: str, *, within: float = 15.0) -> str:
    def answered() -> str | None:
        return ld.interaction(interaction_id)["response_message_id"]

    return await wait_until(answered, within=within, what=f"a response to interaction {interaction_id}")


def job_rows(bot: BotProcess) -> dict[str, dict[str, Any]]:
    """Every job in the bot's database, by message id, read over a connection of our own."""
    conn = sqlite3.connect(bot.workdir / "data" / "imagine-bot.db", timeout=10)
    conn.row_factory = sqlite3.Row
    try:
        rows = conn.execute("SELECT * FROM jobs").fetchall()
    finally:
        conn.close()
    return {str(row["message_id"]): dict(row) for row in rows}


def message_shows(message: dict[str, Any] | None, row: dict[str, Any]) -> bool:
    """Whether a job's message shows its stored end: the image and buttons, or the reason in plain words."""
    if message is None or message.get("flags", 0) & 128:
        return False
    content = message.get("content") or ""
    if f"Job `{row['id']}`" not in content:
        return False
    if row["status"] == JobStatus.COMPLETED.value:
        # A result is the prompt line and the job line; progress has a bar line between them.
        return bool(message.get("attachments")) and bool(button_ids(message)) and content.count("\n") == 1
    if row["status"] not in {s.value for s in JobStatus if s.terminal}:
        return False
    reason = ErrorReason(row["error"]).message if row["error"] else None
    return "❌" in content and (reason is None or reason in content) and not message.get("attachments")


async def settle(
    ld: LocalDiscord, bot: BotProcess, message_ids: Iterable[str], *, within: float = 60.0
) -> dict[str, dict[str, Any]]:
    """Wait until every job is finished in the database and its message shows it; the rows by message id."""
    wanted = list(message_ids)

    def done() -> dict[str, dict[str, Any]] | None:
        rows = job_rows(bot)
        missing = [m for m in wanted if m not in rows or not message_shows(ld.message(m), rows[m])]
        return rows if not missing else None

    try:
        return await wait_until(done, within=within, interval=0.2, what="every job to end and show it")
    except AssertionError:
        rows = job_rows(bot)
        stuck = [(m, rows.get(m, {}).get("status"), (ld.message(m) or {}).get("content", "")[-120:])
                 for m in wanted if m not in rows or not message_shows(ld.message(m), rows[m])]  # fmt: skip
        raise AssertionError(f"{len(stuck)} jobs not settled, e.g. {stuck[:3]}\n{bot.log()}") from None


def texts_seen(ld: LocalDiscord) -> list[str]:
    """Everything the local Discord received from the bot: every message in every channel (ephemeral and
    deleted ones too) and every request body, as text."""
    texts: list[str] = []
    for guild in ld.state()["guilds"]:
        for channel in guild["channels"]:
            texts.extend(json.dumps(m) for m in ld.messages(channel["id"], ephemeral=True, deleted=True))
    texts.extend(json.dumps(r.get("json")) for r in ld.requests)
    return texts


def bot_logs(workdirs: Iterable[Path]) -> str:
    return "\n".join(p.read_text(errors="replace") for w in workdirs for p in sorted(w.glob("bot-*.log")))
