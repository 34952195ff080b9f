"""Run one provider simulator in the foreground: ``python -m providersim useapi --port 8801``.

The adapter's base URL is printed on start (for TheNextLeg and useapi it ends in ``/v2``). Fault
knobs given here can be changed later with ``POST /_sim/faults``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import signal
import sys

from providersim import SIMULATORS, Faults


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m providersim", description=__doc__.splitlines()[0])
    parser.add_argument("provider", choices=sorted(SIMULATORS))
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port (printed)")
    parser.add_argument("--api-key", default="sim-key", help="the key clients must send (default sim-key)")
    parser.add_argument("--step-seconds", type=float, default=1.0, help="seconds per progress step; 0 is instant")
    parser.add_argument("--steps", type=int, default=4, help="progress steps per job (default 4)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the fault dice and image seeds")
    parser.add_argument("--rate-limit-seconds", type=float, default=3.0, help="thenextleg: one request per N s")
    parser.add_argument(
        "--nested-message", action="store_true", help="thenextleg: finished messages under 'response', as its SDKs read"
    )
    # Flat is the default now (the docs' form); the flag stays so old command lines still start.
    parser.add_argument("--flat", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--string-progress", action="store_true", help="imaginepro: progress as a string")
    parser.add_argument(
        "--previews", choices=("on", "off"), help="in-progress preview images (default: what the provider documents)"
    )
    parser.add_argument(
        "--stock-images", action="store_true", help="draw one image per kind and aspect and serve it for every job"
    )
    faults = parser.add_argument_group("faults")
    faults.add_argument("--latency", type=float, default=0.0, help="seconds added to every API answer")
    faults.add_argument("--error-rate", type=float, default=0.0, help="share of API requests answered 5xx")
    faults.add_argument("--timeout-rate", type=float, default=0.0, help="share of API requests that hang")
    faults.add_argument("--hang-seconds", type=float, default=30.0, help="how long a hanging request hangs")
    faults.add_argument("--malformed-rate", type=float, default=0.0, help="share answered with a non-JSON body")
    faults.add_argument(
        "--after-error-rate", type=float, default=0.0,
        help="share of submits whose job is created, then answered 502/503/504 with a gateway page",
    )  # fmt: skip
    faults.add_argument(
        "--after-malformed-rate", type=float, default=0.0,
        help="share of submits whose job is created, then answered 200 with the JSON cut in half",
    )  # fmt: skip
    faults.add_argument(
        "--after-timeout-rate", type=float, default=0.0,
        help="share of submits whose job is created, then hang --hang-seconds and answer 504",
    )  # fmt: skip
    faults.add_argument("--webhook-drop-rate", type=float, default=0.0, help="share of webhooks never sent")
    faults.add_argument("--webhook-duplicate", action="store_true", help="send every webhook twice")
    faults.add_argument("--webhook-reorder", action="store_true", help="send a stale progress webhook last")
    faults.add_argument("--webhook-progress", choices=("on", "off"), help="progress webhooks (default: provider's)")
    faults.add_argument("--stall", action="store_true", help="jobs never finish")
    faults.add_argument("--banned-word", action="append", default=[], help="thenextleg prefilter word")
    faults.add_argument("--image-403", action="store_true", help="image URLs refuse downloads")
    return parser


async def _serve(args: argparse.Namespace) -> None:
    faults = Faults(
        latency=args.latency, error_rate=args.error_rate, timeout_rate=args.timeout_rate,
        hang_seconds=args.hang_seconds, malformed_rate=args.malformed_rate,
        after_error_rate=args.after_error_rate, after_malformed_rate=args.after_malformed_rate,
        after_timeout_rate=args.after_timeout_rate, webhook_drop_rate=args.webhook_drop_rate,
        webhook_duplicate=args.webhook_duplicate, webhook_reorder=args.webhook_reorder,
        webhook_progress=None if args.webhook_progress is None else args.webhook_progress == "on",
        stall=args.stall, banned_words=args.banned_word, image_403=args.image_403,
    )  # fmt: skip
    extra: dict[str, object] = {}
    if args.provider == "thenextleg":
        extra = {"rate_limit_seconds": args.rate_limit_seconds, "nested_message": args.nested_message}
    elif args.provider == "imaginepro":
        extra = {"string_progress": args.string_progress}
    sim = SIMULATORS[args.provider](
        api_key=args.api_key,
        step_seconds=args.step_seconds,
        steps=args.steps,
        seed=args.seed,
        faults=faults,
        previews=None if args.previews is None else args.previews == "on",
        stock_images=args.stock_images,
        **extra,
    )
    await sim.start(args.host, args.port)
    print(json.dumps({"provider": args.provider, "url": sim.public_url, "base_url": sim.api_base_url}), flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        await sim.stop()


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    asyncio.run(_serve(args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
