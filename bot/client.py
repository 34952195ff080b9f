"""The bot class: discord.py's Bot with the core runtime attached and the job editor listening.

Every failure of a command or a button gets the same polite answer and one log line
(:func:`bot.ui.replies.report_failure`): commands through the command tree's error handler, buttons
through :func:`bot.ui.replies.answer_failures`, applied to every persistent button a cog registers.
"""

from __future__ import annotations

import logging
from typing import Any

import discord
from discord.ext import commands

from bot.runtime import Runtime
from bot.settings import Settings
from bot.ui.buttons import JobButton
from bot.ui.presenter import Presenter
from bot.ui.render import NO_MENTIONS
from bot.ui.replies import answer_failures, report_failure

__all__ = ["INITIAL_EXTENSIONS", "ImagineBot"]

_log = logging.getLogger(__name__)

INITIAL_EXTENSIONS = ("cogs.imagine", "cogs.member", "cogs.moderation")


class ImagineBot(commands.Bot):
    def __init__(self, settings: Settings, runtime: Runtime, **options: object) -> None:
        # Slash commands and buttons need no privileged intent; guilds gives us channels and permissions.
        intents = discord.Intents.none()
        intents.guilds = True
        super().__init__(
            command_prefix=commands.when_mentioned,
            intents=intents,
            allowed_mentions=NO_MENTIONS,
            help_command=None,
            **options,  # type: ignore[arg-type]
        )
        self.settings = settings
        self.runtime = runtime
        self.presenter = Presenter(self, settings.edit_interval_s)

    def add_dynamic_items(self, *items: type[discord.ui.DynamicItem[Any]]) -> None:
        # Every persistent button of every cog answers its failures, whichever cog registers it.
        super().add_dynamic_items(*(answer_failures(item) for item in items))

    async def setup_hook(self) -> None:
        # One handler for every command of every cog: the polite answer and one log line.
        self.tree.error(report_failure)
        await self.runtime.start()
        self.runtime.engine.add_listener(self.presenter.on_event)
        self.add_dynamic_items(JobButton)
        for extension in INITIAL_EXTENSIONS:
            await self.load_extension(extension)
        if self.settings.sync_commands:
            await self.sync_commands()
        # Last: resuming jobs edits their messages, which needs everything above.
        await self.runtime.start_engine()

    async def sync_commands(self) -> None:
        if self.settings.discord_guild_ids:
            for guild_id in self.settings.discord_guild_ids:
                guild = discord.Object(id=guild_id)
                self.tree.copy_global_to(guild=guild)
                synced = await self.tree.sync(guild=guild)
                _log.info("synced %d commands to guild %s", len(synced), guild_id)
        else:
            synced = await self.tree.sync()
            _log.info("synced %d global commands", len(synced))

    async def on_ready(self) -> None:
        _log.info("ready as %s in %d guilds", self.user, len(self.guilds))

    async def close(self) -> None:
        await self.presenter.close()
        await super().close()
        await self.runtime.close()
