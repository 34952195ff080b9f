"""``imagine-bot playground``: the whole bot in a browser, with no Discord account and no provider key.

One command starts three things as one process tree:

- the local Discord (``localdiscord``) in this process, on 127.0.0.1, which also serves the page at
  ``/playground/`` (and redirects a browser opening ``/`` there);
- the unmodified bot, ``python -m bot run``, as a child process pointed at it, on the local provider,
  paced so progress is visible, with a SQLite file of its own under ``data/playground/``;
- the page, which plays the Discord client for whichever seeded member the visitor picks.

Ctrl-C or SIGTERM stops the bot first (SIGTERM, then SIGKILL after a grace period), then the server.
On Linux the child also asks the kernel for SIGKILL should this process die without cleaning up, so
no bot is left behind either way (``bot.devtools.processes`` starts and stops it).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import socket
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from bot.devtools import processes

if TYPE_CHECKING:
    from localdiscord import LocalDiscord

__all__ = ["DEFAULT_DATA_DIR", "DEFAULT_PORT", "PlaygroundOptions", "bot_environment", "run_playground"]

DEFAULT_PORT = 8765
DEFAULT_DATA_DIR = Path("data") / "playground"
# Slow enough to watch the progress bar and previews, fast enough not to bore anyone.
DEFAULT_STEP_SECONDS = 1.0
STOP_GRACE_S = 10.0
# The page's live view is edited at most this often per message.
EDIT_INTERVAL_S = 1.0
# What a fresh start removes from the data directory: the bot's database and the local provider's images.
_FRESH_FILES = ("imagine-bot.db", "imagine-bot.db-wal", "imagine-bot.db-shm")
_FRESH_DIRS = ("local-provider",)
# How much of the bot's log is shown when it dies: its last words, not its history.
TAIL_LINES = 25


@dataclass(frozen=True)
class PlaygroundOptions:
    port: int = DEFAULT_PORT
    host: str = "127.0.0.1"
    data_dir: Path = DEFAULT_DATA_DIR
    step_seconds: float = DEFAULT_STEP_SECONDS
    keep_data: bool = False
    open_browser: bool = False


def bot_environment(
    base: dict[str, str],
    *,
    api_base: str,
    gateway_url: str,
    token: str,
    guild_id: str,
    data_dir: Path,
    step: float,
    web: tuple[str, int] | None = None,
) -> dict[str, str]:
    """The child's environment: ``base`` without any bot setting of the caller's, plus the playground's own.

    A developer's shell may hold a real token, a paid provider or a webhook port; none of it may leak
    into a playground that promises to need none of them.
    """
    from bot.core.settings import Settings

    ours = {name.upper() for name in Settings.model_fields}
    env = {key: value for key, value in base.items() if key.upper() not in ours}
    # Found even when the package is run from a source tree rather than installed.
    package_root = str(Path(__file__).resolve().parent.parent)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (package_root, base.get("PYTHONPATH", "")) if p)
    env.update(
        {
            "DISCORD_TOKEN": token,
            "DISCORD_API_BASE": api_base,
            "DISCORD_GATEWAY_URL": gateway_url,
            "DISCORD_GUILD_IDS": guild_id,
            "SYNC_COMMANDS": "true",
            "DATA_DIR": str(data_dir),
            "DATABASE_PATH": str(data_dir / "imagine-bot.db"),
            "PROVIDER": "local",
            "LOCAL_STEP_SECONDS": str(step),
            "EDIT_INTERVAL_S": str(EDIT_INTERVAL_S),
            "WEBHOOK_ENABLED": "false",
            "LOG_LEVEL": "INFO",
            "PYTHONUNBUFFERED": "1",
        }
    )
    if web is not None:
        # The bot's web server, so Vary (Region)'s editor opens from the playground like in a deployment.
        host, port = web
        shown = "127.0.0.1" if host in ("", "0.0.0.0", "::") else host
        env |= {"HTTP_HOST": host, "HTTP_PORT": str(port), "WEBHOOK_PUBLIC_URL": f"http://{shown}:{port}"}
    return env


def _free_port(host: str) -> int:
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])


def _fresh(data_dir: Path) -> None:
    for name in _FRESH_FILES:
        with contextlib.suppress(FileNotFoundError):
            (data_dir / name).unlink()
    for name in _FRESH_DIRS:
        shutil.rmtree(data_dir / name, ignore_errors=True)


async def _serve(options: PlaygroundOptions, out: TextIO) -> int:
    from localdiscord import LocalDiscord, bot_connected

    # Lenient: a request body Discord's spec would quibble with is recorded, not refused, so the page
    # keeps working for someone trying a half-finished change.
    ld = LocalDiscord(options.host, options.port, strict_spec=False)
    try:
        await ld.start()
    except OSError as exc:
        print(f"error: cannot listen on {options.host}:{options.port}: {exc.strerror or exc}", file=sys.stderr)
        print("       pick another port with --port (0 picks a free one).", file=sys.stderr)
        return 2

    data_dir = options.data_dir.resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    if not options.keep_data:
        _fresh(data_dir)
    log_path = data_dir / "bot.log"
    guild_id = ld.state()["guilds"][0]["id"]
    env = bot_environment(
        dict(os.environ),
        api_base=ld.api_base,
        gateway_url=ld.gateway_url,
        token=ld.token,
        guild_id=guild_id,
        data_dir=data_dir,
        step=options.step_seconds,
        web=(options.host, _free_port(options.host)),
    )

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(signum, stop.set)

    bot: processes.Child | None = None
    try:
        # The bot runs in the data directory so a developer's .env is not read by it; its log is kept
        # across runs, as the data directory is.
        bot = await processes.start(
            [sys.executable, "-m", "bot", "run"], cwd=data_dir, env=env, log=log_path, append=True, name="the bot"
        )
        url = ld.url
        print(f"imagine-bot playground: {url}", file=out)
        print(f"  bot:      pid {bot.pid}, log {log_path}", file=out)
        kept = "kept from the last run" if options.keep_data else "fresh for this run; --keep-data keeps it"
        print(f"  database: {data_dir / 'imagine-bot.db'} ({kept})", file=out)
        print("  Ctrl-C stops the playground and the bot.", file=out, flush=True)
        if options.open_browser:
            import webbrowser

            webbrowser.open(url)

        exited = asyncio.create_task(bot.wait())
        stopping = asyncio.create_task(stop.wait())
        ready_announced = False
        while True:
            done, _ = await asyncio.wait({exited, stopping}, timeout=0.2, return_when=asyncio.FIRST_COMPLETED)
            if stopping in done:
                exited.cancel()
                break
            if exited in done:
                stopping.cancel()
                print(f"error: the bot stopped with exit code {bot.returncode}; the end of its log:", file=sys.stderr)
                print(bot.log_tail(TAIL_LINES), file=sys.stderr)
                return 1
            if not ready_announced and bot_connected(ld) and _command_count(ld):
                ready_announced = True
                count = _command_count(ld)
                print(f"Ready: the bot is online with {count} command(s). Open {url}", file=out, flush=True)
        print("stopping…", file=out, flush=True)
        return 0
    finally:
        if bot is not None:
            await bot.stop(grace=STOP_GRACE_S)
        await ld.stop()


def _command_count(ld: LocalDiscord) -> int:
    commands = ld.world.command_lists()
    return len(commands["global"]) + sum(len(c) for c in commands["guilds"].values())


def run_playground(options: PlaygroundOptions, out: TextIO = sys.stdout) -> int:
    """Run until Ctrl-C/SIGTERM or until the bot dies; the exit code says which."""
    return asyncio.run(_serve(options, out))
