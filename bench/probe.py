"""Runs a Python module (the bot, or the floor) with a loop-lag probe on its asyncio event loop.

    python -m bench.probe OUT.json MODULE [ARGS...]

The probe is a timer that asks to run every ``INTERVAL_S``; how late it actually runs is how long the
loop was busy with something else: a callback that did not yield, a burst of ready tasks, the GIL held
by a thread. It is installed from outside, through the event loop policy, so the program under test is
not changed at all. When the program exits, its samples (``[monotonic time, lag in seconds]``, the
clock the benchmark shares on Linux) are written to OUT.json; the benchmark keeps those of its load
window.

``BENCH_SLOW_CALLBACK_MS=50`` in the environment also turns on asyncio's debug mode with that threshold: the
program's log then names each callback that held the loop longer (debug mode slows everything down, so
such a run finds stalls but gives no figures).
"""

from __future__ import annotations

import array
import asyncio
import atexit
import contextlib
import json
import os
import runpy
import sys
import time
from pathlib import Path

__all__ = ["INTERVAL_S", "LagProbe", "install"]

# Fine enough to see a stall of a few milliseconds, coarse enough to cost the loop well under 1 % of a core.
INTERVAL_S = 0.01
# Set (to milliseconds) to have asyncio's debug mode log each callback that held the loop longer than that.
SLOW_CALLBACK_ENV = "BENCH_SLOW_CALLBACK_MS"
# A run that outlives this many samples keeps only the newest (about an hour at INTERVAL_S).
MAX_SAMPLES = 360_000


class LagProbe:
    """A periodic timer on one loop that records how late each of its turns came."""

    def __init__(self, loop: asyncio.AbstractEventLoop, interval: float = INTERVAL_S) -> None:
        self.loop = loop
        self.interval = interval
        self.times = array.array("d")
        self.lags = array.array("d")
        self._due = 0.0

    def start(self) -> None:
        self._due = self.loop.time() + self.interval
        self.loop.call_at(self._due, self._tick)

    def _tick(self) -> None:
        now = self.loop.time()
        if len(self.lags) >= MAX_SAMPLES:
            del self.times[: MAX_SAMPLES // 2]
            del self.lags[: MAX_SAMPLES // 2]
        self.times.append(time.monotonic())
        self.lags.append(max(0.0, now - self._due))
        # Due again one interval from now, not from when it was due: a long stall counts once, not as a
        # train of late turns catching up.
        self._due = now + self.interval
        self.loop.call_at(self._due, self._tick)

    def samples(self) -> list[list[float]]:
        return [[t, lag] for t, lag in zip(self.times, self.lags, strict=True)]


class _ProbingPolicy(asyncio.DefaultEventLoopPolicy):
    def __init__(self, probes: list[LagProbe]) -> None:
        super().__init__()
        self.probes = probes

    def new_event_loop(self) -> asyncio.AbstractEventLoop:
        loop = super().new_event_loop()
        slow_ms = os.environ.get(SLOW_CALLBACK_ENV)
        if slow_ms:
            # asyncio's debug mode names every callback or task step that ran longer than this (in the log,
            # as warnings of the "asyncio" logger). It slows the loop down: for finding stalls, not figures.
            loop.set_debug(True)
            loop.slow_callback_duration = float(slow_ms) / 1000
        probe = LagProbe(loop)
        self.probes.append(probe)
        loop.call_soon(probe.start)
        return loop


def install(out: Path) -> list[LagProbe]:
    """Probe every event loop made from now on; their samples go to ``out`` at exit."""
    probes: list[LagProbe] = []
    asyncio.set_event_loop_policy(_ProbingPolicy(probes))

    def dump() -> None:
        samples = [s for probe in probes for s in probe.samples()]
        out.write_text(json.dumps({"interval_s": INTERVAL_S, "samples": samples}))

    atexit.register(dump)
    return probes


def lag_figures(paths: Path | list[Path], start: float, end: float) -> tuple[float | None, float | None]:
    """(p99, max) of the lags recorded between ``start`` and ``end`` (monotonic), in ms, over every process's
    file (several bot processes: their samples pooled); None without data."""
    samples: list[list[float]] = []
    for path in [paths] if isinstance(paths, Path) else paths:
        with contextlib.suppress(OSError, ValueError, KeyError):
            samples += json.loads(path.read_text())["samples"]
    lags = sorted(lag * 1000 for t, lag in samples if start <= t <= end)
    if not lags:
        return None, None
    p99 = lags[max(0, -(-99 * len(lags) // 100) - 1)]
    return p99, lags[-1]


def main() -> None:
    if len(sys.argv) < 3:
        sys.exit("usage: python -m bench.probe OUT.json MODULE [ARGS...]")
    out, module = Path(sys.argv[1]), sys.argv[2]
    sys.argv = [module, *sys.argv[3:]]
    install(out)
    runpy.run_module(module, run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main()
