"""The work gate's lowest class: progress edits and restyles wait behind submits and results, and a progress
edit gives up its wait when its job's result arrives (WorkGate.slot_unless)."""

from __future__ import annotations

import asyncio

from bot.core.scheduling import WorkGate
from tests.helpers import wait_until


async def test_progress_waits_behind_submits_and_results() -> None:
    gate = WorkGate(1)
    order: list[str] = []
    release = asyncio.Event()

    async def section(name: str, priority: int) -> None:
        async with gate.slot(priority):
            order.append(name)
            if name == "first":
                await release.wait()

    first = asyncio.create_task(section("first", WorkGate.RESULT))
    await asyncio.sleep(0)
    tasks = [
        asyncio.create_task(section(name, priority))
        for name, priority in (
            ("progress", WorkGate.PROGRESS),
            ("submit", WorkGate.SUBMIT),
            ("result", WorkGate.RESULT),
        )
    ]
    await asyncio.sleep(0)
    release.set()
    await asyncio.gather(first, *tasks)
    assert order == ["first", "result", "submit", "progress"]


async def test_slot_unless_gives_up_when_stopped_and_returns_every_slot() -> None:
    gate = WorkGate(1)
    release = asyncio.Event()
    outcome: list[bool] = []

    async def hold() -> None:
        async with gate.slot(WorkGate.SUBMIT):
            await release.wait()

    async def progress(stop: asyncio.Future[None]) -> None:
        async with gate.slot_unless(WorkGate.PROGRESS, stop) as got:
            outcome.append(got)

    holder = asyncio.create_task(hold())
    await asyncio.sleep(0)
    stop: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    waiting = asyncio.create_task(progress(stop))
    await wait_until(lambda: gate.waiting == 1, what="the progress edit queued")
    stop.set_result(None)  # the job's result came: the progress edit no longer waits
    await waiting
    assert outcome == [False] and gate.waiting == 0
    release.set()
    await holder

    # Free: the slot is had at once, and given back after the block.
    async with gate.slot_unless(WorkGate.PROGRESS, asyncio.get_running_loop().create_future()) as got:
        assert got
    async with gate.slot(WorkGate.SUBMIT):
        pass
