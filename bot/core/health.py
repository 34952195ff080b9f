"""Health: whether the bot is alive (``/healthz``) and whether it can serve (``/readyz``).

Readiness is a set of named checks, each answering ``(ok, detail)``. The core brings two: the database
answers a read, and at least one provider account takes jobs. The Discord layer adds its own (the
gateway is connected), so the core needs no Discord. A check's detail is a short sentence of our own,
never an exception's text (a database URL with its password can hide in one), so the JSON body is safe
to show anyone who can reach the port.

``python -m bot.core.health`` is the Docker HEALTHCHECK: it asks ``/healthz`` on HTTP_PORT with the
standard library only, exit status 0 when alive.
"""

from __future__ import annotations

import asyncio
import inspect
import os
import sys
import urllib.error
import urllib.request
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bot.core.scheduling import AccountPool
    from bot.core.store import Store

__all__ = ["CheckResult", "Readiness", "database_check", "probe", "providers_check"]

CheckResult = tuple[bool, str]
Check = Callable[[], CheckResult | Awaitable[CheckResult]]
# A check that has not answered by then has failed: a probe must answer well within its own timeout.
CHECK_TIMEOUT_S = 2.0
# A key no one writes: reading it proves the database answers, and changes nothing.
_PING_KEY = "health:ping"


class Readiness:
    """Named checks, run together; the bot is ready when every one passes."""

    def __init__(self) -> None:
        self._checks: dict[str, Check] = {}

    def add(self, name: str, check: Check) -> None:
        self._checks[name] = check

    @property
    def names(self) -> list[str]:
        return list(self._checks)

    async def run(self) -> tuple[bool, dict[str, dict[str, Any]]]:
        """``(ready, {name: {"ok": bool, "detail": str}})``."""
        names = list(self._checks)
        results = await asyncio.gather(*(self._one(self._checks[name]) for name in names))
        checks = {name: {"ok": ok, "detail": detail} for name, (ok, detail) in zip(names, results, strict=True)}
        return all(ok for ok, _ in results), checks

    @staticmethod
    async def _one(check: Check) -> CheckResult:
        try:
            result = check()
            if inspect.isawaitable(result):
                result = await asyncio.wait_for(result, CHECK_TIMEOUT_S)
            return result
        except TimeoutError:
            return False, f"no answer within {CHECK_TIMEOUT_S:g} s"
        except Exception as exc:
            # The type only: an exception's text may carry a connection string.
            return False, f"check failed ({type(exc).__name__})"


def database_check(store: Store) -> Check:
    async def check() -> CheckResult:
        try:
            await store.get_state(_PING_KEY)
        except Exception as exc:
            return False, f"unreachable ({type(exc).__name__})"
        return True, "reachable"

    return check


def providers_check(pool: AccountPool) -> Check:
    def check() -> CheckResult:
        slots = list(pool)
        usable = sum(1 for slot in slots if not slot.paused)
        return usable > 0, f"{usable} of {len(slots)} provider accounts usable"

    return check


def probe(url: str, timeout: float = 4.0) -> bool:
    """Whether ``url`` answers 200: the container's health check."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False


def main() -> int:
    port = os.environ.get("HTTP_PORT") or os.environ.get("WEBHOOK_PORT") or "8080"
    return 0 if probe(f"http://127.0.0.1:{port}/healthz") else 1


if __name__ == "__main__":
    sys.exit(main())
