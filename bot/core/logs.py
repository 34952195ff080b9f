"""Logging set-up. Every line passes through a formatter that blanks out the secrets it was given,
so a token pasted into an exception message or a URL cannot reach the log.

Lines are text by default; ``LOG_FORMAT=json`` writes one JSON object per line for a log collector,
each field blanked the same way before it is encoded.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
import sys
from collections.abc import Iterable

__all__ = ["JsonFormatter", "RedactingFormatter", "setup_logging"]

# Discord bot tokens have this shape; they are blanked even when they are not ours (a pasted one).
_DISCORD_TOKEN = re.compile(r"[A-Za-z\d_-]{23,28}\.[A-Za-z\d_-]{6,7}\.[A-Za-z\d_-]{27,}")
# Interaction tokens travel in webhook URLs; the path segment after the application id is the secret.
_WEBHOOK_PATH = re.compile(r"(/(?:webhooks|interactions)/\d+/)[A-Za-z0-9_.-]{20,}")
# Interaction tokens begin with base64("interaction:"); they also travel in payloads, not only in URLs.
_INTERACTION_TOKEN = re.compile(r"aW50ZXJhY3Rpb246[A-Za-z0-9_.=-]+")
# Secrets shorter than this are not searched for: they would blank ordinary words.
MIN_SECRET_LENGTH = 6


class RedactingFormatter(logging.Formatter):
    def __init__(self, fmt: str, secrets: Iterable[str] = ()) -> None:
        super().__init__(fmt)
        self.secrets = sorted({s for s in secrets if s and len(s) >= MIN_SECRET_LENGTH}, key=len, reverse=True)

    def format(self, record: logging.LogRecord) -> str:
        return self.redact(super().format(record))

    def redact(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, "[redacted]")
        text = _DISCORD_TOKEN.sub("[redacted]", text)
        text = _INTERACTION_TOKEN.sub("[redacted]", text)
        return _WEBHOOK_PATH.sub(r"\1[redacted]", text)


class JsonFormatter(RedactingFormatter):
    """One JSON object per line: time (UTC, ISO 8601), level, logger, message, and the traceback if any.

    The standard library's json is enough for five fields; each is blanked before encoding, so a secret
    is caught as written rather than as JSON escaped it.
    """

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__("%(message)s", secrets)

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, str] = {
            "time": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": self.redact(record.getMessage()),
        }
        if record.exc_info:
            entry["exception"] = self.redact(self.formatException(record.exc_info))
        if record.stack_info:
            entry["stack"] = self.redact(self.formatStack(record.stack_info))
        return json.dumps(entry, ensure_ascii=False)


def setup_logging(level: str = "INFO", secrets: Iterable[str] = (), fmt: str = "text") -> None:
    handler = logging.StreamHandler(sys.stderr)
    if fmt == "json":
        handler.setFormatter(JsonFormatter(secrets))
    else:
        handler.setFormatter(RedactingFormatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s", secrets))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # discord.py's gateway chatter at INFO is a line per heartbeat-ish event; keep it to warnings.
    logging.getLogger("discord.gateway").setLevel(max(logging.getLevelName(level), logging.WARNING))
    logging.getLogger("httpx").setLevel(logging.WARNING)
    # aiosqlite logs every statement with its parameters at DEBUG: interaction tokens, prompts, all of it.
    logging.getLogger("aiosqlite").setLevel(max(logging.getLevelName(level), logging.INFO))
