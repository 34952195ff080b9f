"""Fixtures for the fault-injection tests: the end-to-end ones (a local Discord and the real bot process)
and the in-process ones (provider simulators, adapters and engines), shared with their home suites."""

from __future__ import annotations

import pytest

from tests.e2e.conftest import ld, start_bot
from tests.providers.conftest import harness

__all__ = ["harness", "ld", "start_bot"]


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "allow_429: the test provokes Discord 429s on purpose")
