"""``python -m localdiscord --port P [--host H] [--token T]``: run a LocalDiscord until interrupted."""

from __future__ import annotations

import argparse
import asyncio
import contextlib

from ._server import LocalDiscord


async def _serve(args: argparse.Namespace) -> None:
    ld = LocalDiscord(args.host, args.port, token=args.token, strict_spec=not args.lenient)
    await ld.start()
    try:
        print(f"REST base:   {ld.api_base}", flush=True)
        print(f"Gateway:     {ld.gateway_url}", flush=True)
        print(f"Control API: {ld.url}/_control", flush=True)
        print(f"Spec:        {ld.spec_status}", flush=True)
        await asyncio.Event().wait()
    finally:
        await ld.stop()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m localdiscord", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--token", default="local-bot-token", help="the bot token the server accepts")
    parser.add_argument("--lenient", action="store_true", help="record spec violations without rejecting them")
    args = parser.parse_args(argv)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve(args))


if __name__ == "__main__":
    main()
