"""The SQLite job store: the bot's source of truth. Public face: :class:`Store`, and the helpers the
other stores of the bot (moderation) share with it: the timestamp form and the job statuses it counts."""

from bot.core.store._store import BUSY_TIMEOUT_MS, COUNTED, UNFINISHED, Store, from_iso, iso

__all__ = ["BUSY_TIMEOUT_MS", "COUNTED", "UNFINISHED", "Store", "from_iso", "iso"]
