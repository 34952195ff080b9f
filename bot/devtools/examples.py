"""``python -m bot.devtools.examples``: redraw the README's pictures of what the local provider draws.

Each example is the grid the local provider answers an ``/imagine`` with (same prompt, same seed, so
the same picture every time, with the same description chunk), saved under ``docs/examples/``.
"""

from __future__ import annotations

import argparse
import re
import statistics
import sys
import time
from pathlib import Path

from bot.core.providers._scene import png_info
from bot.core.providers.local import render_grid

# The README's examples: one per kind of scene (snow and dusk, a city at night, the sea by day, autumn).
EXAMPLES: tuple[tuple[str, int], ...] = (
    ("a cozy cabin in a snowy pine forest at dusk", 1),
    ("a red car in a city at night", 1),
    ("a lighthouse by the sea on a sunny day", 1),
    ("a cat under a tree in autumn", 1),
)


def file_name(prompt: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", prompt.lower()).strip("-") + ".png"


def write(directory: Path) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for prompt, seed in EXAMPLES:
        grid = render_grid(prompt, seed)
        path = directory / file_name(prompt)
        grid.save(path, format="PNG", optimize=True, pnginfo=png_info(grid))
        written.append(path)
    return written


def timings(rounds: int) -> dict[str, tuple[float, float]]:
    """Milliseconds of CPU to draw each example's grid (four 384-px tiles): the least and the median of some rounds.

    CPU time of this thread, not wall time, so other work on a shared machine does not count against it.
    """
    out = {}
    for prompt, seed in EXAMPLES:
        samples = []
        for _ in range(rounds):
            start = time.thread_time()
            render_grid(prompt, seed)
            samples.append((time.thread_time() - start) * 1000)
        out[prompt] = (min(samples), statistics.median(samples))
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--out", type=Path, default=Path("docs/examples"), help="where to write (docs/examples)")
    parser.add_argument("--time", type=int, metavar="ROUNDS", default=0, help="also time each grid over ROUNDS draws")
    options = parser.parse_args(argv)
    for path in write(options.out):
        print(f"{path} ({path.stat().st_size // 1024} KB)")
    if options.time:
        for prompt, (least, median) in timings(options.time).items():
            print(f"{least:6.1f} ms CPU per grid at least, {median:6.1f} ms median  {prompt}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
