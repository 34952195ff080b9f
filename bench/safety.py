"""Output-safety benchmark: what the check (bot.core.safety) costs per image, with the real model.

    python -m bench.safety [--images N] [--size PX] [--grid] [--out FILE]

Draws N images of PX x PX (the local provider's pictures: gradients and shapes, so nothing is read from
disk or the network), loads the model once (timed apart), then scores each image exactly as the bot does
before it posts one: decoded from PNG bytes, and with ``--grid`` split into its four tiles, each scored, in
the worker thread's place (here the main thread, alone). Prints one JSON object:

``images``          N.
``size_px``         PX.
``grid``            whether each image was scored as a 2x2 grid (four model runs) or whole (one).
``load_s``          loading the model (once per bot process, on the first image it checks).
``ms_per_image``    mean wall time per image, decode and every model run included.
``ms_p50/ms_max``   median and slowest image.
``threads``         the model's inference threads (the bot uses one, leaving a core to its event loop).

Needs the ``[safety]`` extra (``pip install -e '.[safety]'``). The figure is for the machine it runs on;
the README quotes one run on the development machine.
"""

from __future__ import annotations

import argparse
import io
import json
import statistics
import sys
import time

from bot.core.providers.local import render_grid
from bot.core.safety import MODEL_THREADS, OpenNsfwScorer, score_image

__all__ = ["main", "measure"]


def _images(count: int, size: int) -> list[bytes]:
    out = []
    for i in range(count):
        image = render_grid(f"benchmark image {i}", seed=i).resize((size, size))
        buffer = io.BytesIO()
        image.save(buffer, "PNG", compress_level=1)
        out.append(buffer.getvalue())
    return out


def measure(count: int = 50, size: int = 1024, *, grid: bool = False) -> dict[str, object]:
    images = _images(count, size)
    scorer = OpenNsfwScorer()
    started = time.perf_counter()
    scorer.load()
    load_s = time.perf_counter() - started
    times = []
    for data in images:
        began = time.perf_counter()
        score = score_image(scorer, data, grid=grid)
        times.append((time.perf_counter() - began) * 1000)
        assert 0.0 <= score <= 1.0
    return {
        "images": count,
        "size_px": size,
        "grid": grid,
        "load_s": round(load_s, 3),
        "ms_per_image": round(statistics.fmean(times), 1),
        "ms_p50": round(statistics.median(times), 1),
        "ms_max": round(max(times), 1),
        "threads": MODEL_THREADS,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.safety", description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=50, help="how many images to score (default 50)")
    parser.add_argument("--size", type=int, default=1024, help="their width and height in pixels (default 1024)")
    parser.add_argument("--grid", action="store_true", help="score each as a 2x2 grid, tile by tile")
    parser.add_argument("--out", help="also write the JSON here")
    args = parser.parse_args(argv)
    if not OpenNsfwScorer.installed():
        print("the [safety] extra is not installed: pip install -e '.[safety]'", file=sys.stderr)
        return 2
    result = json.dumps(measure(max(1, args.images), max(32, args.size), grid=args.grid))
    print(result)
    if args.out:
        with open(args.out, "w", encoding="utf-8") as handle:
            handle.write(result + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
