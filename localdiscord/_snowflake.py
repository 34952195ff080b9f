"""Discord snowflake ids.

discord.py derives ``Interaction.created_at`` and ``expires_at`` from the interaction id, so every id
minted for a new object must carry the real current time; a constant like ``1`` would make each
interaction look expired (it would date from 2015).
"""

from __future__ import annotations

import threading
import time

DISCORD_EPOCH_MS = 1_420_070_400_000

# The seeded world uses fixed ids so tests and people can hard-code them if they want; they sit at
# 2021-01-01 so they never collide with ids minted from the current clock.
_SEED_MS = 1_609_459_200_000


def snowflake_time_ms(snowflake: int) -> int:
    """Unix time in milliseconds encoded in ``snowflake``."""
    return (int(snowflake) >> 22) + DISCORD_EPOCH_MS


def seed_id(n: int) -> int:
    """Deterministic id number ``n`` of the seeded world."""
    return ((_SEED_MS - DISCORD_EPOCH_MS) << 22) | (n & 0xFFF)


class SnowflakeFactory:
    """Mints unique snowflakes from the wall clock."""

    def __init__(self, worker: int = 1, process: int = 1) -> None:
        self._prefix = ((worker & 0x1F) << 17) | ((process & 0x1F) << 12)
        self._last = 0
        self._increment = 0
        self._lock = threading.Lock()

    def new(self, *, at_ms: int | None = None) -> int:
        """A new id for an object created now, or at ``at_ms`` (used to backdate interactions)."""
        with self._lock:
            self._increment = (self._increment + 1) & 0xFFF
            ms = int(time.time() * 1000) if at_ms is None else int(at_ms)
            value = ((ms - DISCORD_EPOCH_MS) << 22) | self._prefix | self._increment
            if at_ms is None:
                # Ids minted now must sort in creation order (message history relies on it), even
                # when several land in one millisecond or the clock steps back a little.
                if value <= self._last:
                    value = self._last + 1
                self._last = value
            return value
