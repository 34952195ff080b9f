from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from bot.core.models import Job
from bot.core.moderation import AuditEntry, Moderation
from bot.core.store import Store
from tests.helpers import make_job

GUILD = 1000
ALICE = 11
BOB = 12
MOD = 99


class Clock:
    """A clock the test moves by hand; starts at a fixed mid-day moment so day boundaries are far."""

    def __init__(self) -> None:
        now = dt.datetime.now(dt.UTC)
        self.now = now.replace(hour=12, minute=0, second=0, microsecond=0)

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += dt.timedelta(**delta)


def job(user_id: int = ALICE, guild_id: int | None = GUILD, **fields: Any) -> Job:
    return make_job(user_id=user_id, guild_id=guild_id, **fields)


@pytest.fixture(params=["sqlite", "postgres"])
def store_backend(request: pytest.FixtureRequest) -> str:
    """Moderation's tests run on both stores (tests/conftest.py's ``store``)."""
    return str(request.param)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def audit() -> list[AuditEntry]:
    return []


@pytest.fixture
def mod(store: Store, clock: Clock, audit: list[AuditEntry]) -> Moderation:
    moderation = Moderation(store, clock=clock)
    moderation.add_listener(audit.append)
    return moderation
