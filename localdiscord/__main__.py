"""``python -m localdiscord --port P [--host H] [--token T] [--guilds N]``: run a LocalDiscord until interrupted."""

from __future__ import annotations

import argparse
import asyncio
import contextlib

from ._server import LocalDiscord


async def _serve(args: argparse.Namespace) -> None:
    ld = LocalDiscord(args.host, args.port, token=args.token, strict_spec=not args.lenient)
    await ld.start()
    first = int(ld.state()["guilds"][0]["id"])
    for n in range(1, args.guilds):
        # One millisecond of snowflake apart: a shard is (id >> 22) % count, so N guilds cover N shards.
        ld.add_guild(f"Local Guild {n + 1}", guild_id=first + (n << 22))
    try:
        print(f"REST base:   {ld.api_base}", flush=True)
        print(f"Gateway:     {ld.gateway_url}", flush=True)
        print(f"Control API: {ld.url}/_control", flush=True)
        print(f"Spec:        {ld.spec_status}", flush=True)
        print(f"Guilds:      {','.join(g['id'] for g in ld.state()['guilds'])}", flush=True)
        await asyncio.Event().wait()
    finally:
        await ld.stop()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m localdiscord", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--token", default="local-bot-token", help="the bot token the server accepts")
    parser.add_argument(
        "--guilds", type=int, default=1, help="guilds in all: the seeded one and copies of it (for sharded bots)"
    )
    parser.add_argument("--lenient", action="store_true", help="record spec violations without rejecting them")
    args = parser.parse_args(argv)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve(args))


if __name__ == "__main__":
    main()
