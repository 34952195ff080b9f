"""The ``imagine-bot`` command: ``run`` the bot, ``check`` the settings, ``sync`` the slash commands."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import sys
import urllib.parse
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from bot.core.errors import ConfigError, StoreError
from bot.core.settings import Settings, load_settings

if TYPE_CHECKING:
    from bot.core.providers import Account

_log = logging.getLogger("bot")
# A database password at least this long is blanked from logs on its own, not only inside its URL.
MIN_DB_PASSWORD_REDACTED = 12


def _secrets(settings: Settings) -> list[str]:
    values = [settings.discord_token, settings.webhook_secret]
    names = ("thenextleg", "useapi", "imaginepro", "apiframe", "comfyui", "a1111", "openai")
    values += [getattr(settings, f"{p}_api_key") for p in names]
    values += [a.api_key for a in settings.provider_accounts]
    values += [settings.editor_secret]  # the key that signs Vary (Region)'s editor links
    secrets = [v.get_secret_value() for v in values if v is not None]
    if settings.database_url is not None:
        # The whole URL, and its password when it is long enough to be a generated one: a short one
        # ("imagine" in docker-compose.yml) would blank ordinary words in every line.
        url = settings.database_url.get_secret_value()
        password = urllib.parse.urlsplit(url).password
        secrets += [url, *([password] if password and len(password) >= MIN_DB_PASSWORD_REDACTED else [])]
    return secrets


def point_discord_at(settings: Settings) -> None:
    """Aim discord.py at the configured REST base and gateway (discord.com, a proxy, or the local Discord)."""
    import discord.gateway
    import discord.http
    import yarl

    discord.http.Route.BASE = settings.discord_api_base.rstrip("/")
    discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(settings.discord_gateway_url)


async def _run(settings: Settings, token: str) -> None:
    from bot.core.runtime import Runtime
    from bot.ui.client import make_bot

    point_discord_at(settings)
    bot = make_bot(settings, Runtime(settings))
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(signum, stop.set)
    async with bot:
        runner = asyncio.create_task(bot.start(token))
        stopper = asyncio.create_task(stop.wait())
        done, _ = await asyncio.wait({runner, stopper}, return_when=asyncio.FIRST_COMPLETED)
        if runner in done:
            stopper.cancel()
            runner.result()  # re-raise why the bot stopped
        else:
            _log.info("stopping")
            await bot.close()
            await asyncio.gather(runner, return_exceptions=True)


def cmd_run(args: argparse.Namespace) -> int:
    import discord

    settings = load_settings()
    token = settings.require_token()
    from bot.core.logs import setup_logging

    setup_logging(settings.log_level, _secrets(settings), settings.log_format)
    try:
        asyncio.run(_run(settings, token))
    except discord.LoginFailure:
        print("error: Discord refused DISCORD_TOKEN; check the token in the developer portal.", file=sys.stderr)
        return 2
    except discord.PrivilegedIntentsRequired:
        print("error: the bot asked for an intent that is not enabled in the developer portal.", file=sys.stderr)
        return 2
    return 0


async def _sync(settings: Settings, token: str) -> dict[str, int | None]:
    """Log in over REST only (no gateway), sync every target whatever its stored hash, close."""
    from bot.core.runtime import Runtime
    from bot.ui.client import ImagineBot

    point_discord_at(settings)
    bot = ImagineBot(settings, Runtime(settings), commands_only=True)
    async with bot:
        # login runs setup_hook, which syncs in commands_only mode; leaving the block closes everything.
        await bot.login(token)
    return bot.synced


def cmd_sync(args: argparse.Namespace) -> int:
    import discord

    settings = load_settings()
    token = settings.require_token()
    from bot.core.logs import setup_logging

    setup_logging(settings.log_level, _secrets(settings), settings.log_format)
    try:
        synced = asyncio.run(_sync(settings, token))
    except discord.LoginFailure:
        print("error: Discord refused DISCORD_TOKEN; check the token in the developer portal.", file=sys.stderr)
        return 2
    except discord.HTTPException as exc:
        print(f"error: Discord refused the commands: {exc.status} {exc.text}", file=sys.stderr)
        return 1
    for where, count in synced.items():
        print(f"synced {count} commands ({where})")
    return 0


def cmd_check(args: argparse.Namespace) -> int:
    from bot.core.providers import build_accounts

    settings = load_settings()
    accounts = build_accounts(settings)
    token = "set" if settings.discord_token else "NOT SET (required to run)"
    print(f"Discord token:     {token}")
    print(f"Discord REST base: {settings.discord_api_base}")
    print(f"Discord gateway:   {settings.discord_gateway_url}")
    where = ", ".join(map(str, settings.discord_guild_ids)) or "global"
    sync = "when they changed" if settings.sync_commands else "off (imagine-bot sync syncs them)"
    print(f"Command sync:      {sync} ({where})")
    print(f"Database:          {settings.db_path}")
    print(
        f"Provider:          {settings.provider}"
        + (f" (failover: {', '.join(settings.failover_providers)})" if settings.failover_providers else "")
    )
    for account in accounts:
        print(f"  account {account.provider}/{account.name}: {account.base_url} (up to {account.max_jobs} jobs)")
    if settings.webhook_enabled:
        print(
            f"Webhooks:          listening on {settings.webhook_host}:{settings.webhook_port},"
            f" public base {settings.webhook_public_url or 'NOT SET'}"
        )
    else:
        print("Webhooks:          off (providers are polled)")
    address = settings.http_address
    where = f"{address[0]}:{address[1]} (/metrics, /healthz, /readyz)" if address else "off (set HTTP_PORT)"
    print(f"Web server:        {where}")
    from bot.core.safety import OpenNsfwScorer

    if settings.safety_scorer != "opennsfw":
        print(f"Safety check:      scorer {settings.safety_scorer} (a fixed score, for tests)")
    elif OpenNsfwScorer.installed():
        print("Safety check:      opennsfw model installed (/mod safety sets each server's mode)")
    else:
        print("Safety check:      extra NOT installed (pip install 'imagine-bot[safety]'); where /mod safety is on,"
              " images are posted behind a spoiler")  # fmt: skip
    problems = asyncio.run(_backend_problems(accounts))
    for problem in problems:
        print(f"error: {problem}", file=sys.stderr)
    return 0 if settings.discord_token and not problems else 1


async def _backend_problems(accounts: Sequence[Account]) -> list[str]:
    """One line per owned backend that cannot work: unreachable, refusing the key, missing a node."""
    import httpx

    from bot.core.providers import provider_class
    from bot.core.providers._owned import OwnedAdapter
    from bot.core.settings import OWNED_PROVIDERS

    problems: list[str] = []
    async with httpx.AsyncClient(timeout=httpx.Timeout(10.0)) as http:
        for account in accounts:
            if account.provider not in OWNED_PROVIDERS:
                continue
            adapter = provider_class(account.provider)(account, http)
            try:
                problem = await adapter.check() if isinstance(adapter, OwnedAdapter) else None
            finally:
                await adapter.aclose()
            if problem:
                problems.append(str(problem))
    return problems


def cmd_playground(args: argparse.Namespace) -> int:
    from bot.devtools.playground import PlaygroundOptions, run_playground

    options = PlaygroundOptions(
        port=args.port,
        data_dir=args.data_dir,
        step_seconds=args.step_seconds,
        keep_data=args.keep_data,
        open_browser=args.open,
    )
    return run_playground(options)


def _add_playground_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from bot.devtools.playground import DEFAULT_DATA_DIR, DEFAULT_PORT, DEFAULT_STEP_SECONDS

    playground = sub.add_parser(
        "playground",
        help="try the bot in a browser: a local Discord, the bot and a web page, no token or key needed",
    )
    playground.add_argument("--port", type=int, default=DEFAULT_PORT, help="port on 127.0.0.1 (0 picks a free one)")
    playground.add_argument(
        "--data-dir", type=Path, default=DEFAULT_DATA_DIR, help="where the playground's database and images live"
    )
    playground.add_argument(
        "--step-seconds",
        type=float,
        default=DEFAULT_STEP_SECONDS,
        help="seconds per progress step of the local provider (0 = instant)",
    )
    playground.add_argument("--keep-data", action="store_true", help="keep the database of the last run")
    playground.add_argument("--open", action="store_true", help="open the page in the default browser")
    playground.set_defaults(func=cmd_playground)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="imagine-bot", description="A Discord bot for Midjourney-style images.")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("run", help="connect to Discord and serve /imagine").set_defaults(func=cmd_run)
    sub.add_parser("check", help="validate the settings and show what the bot would connect to").set_defaults(
        func=cmd_check
    )
    sub.add_parser(
        "sync", help="sync the slash commands to Discord now, changed or not (DISCORD_GUILD_IDS, else global)"
    ).set_defaults(func=cmd_sync)
    _add_playground_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except StoreError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
