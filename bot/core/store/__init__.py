"""The SQLite job store: the bot's source of truth. Public face: :class:`Store`."""

from bot.core.store._store import Store

__all__ = ["Store"]
