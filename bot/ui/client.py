"""The bot class: discord.py's Bot with the core runtime attached and the job editor listening.

Every failure of a command or a button gets the same polite answer and one log line
(:func:`bot.ui.replies.report_failure`): commands through the command tree's error handler, buttons
through :func:`bot.ui.replies.answer_failures`, applied to every persistent button a cog registers.

Slash commands are synced only when they changed: a hash of what a sync would send is stored per target
(the global commands, or each guild of ``DISCORD_GUILD_IDS``) and a start whose hash matches, and whose
commands Discord still has, writes nothing. Discord rate-limits command writes and takes a while to
propagate global ones. ``imagine-bot sync`` forces a sync (``commands_only``).
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from collections.abc import Sequence
from typing import Any

import discord
from discord.ext import commands

from bot.core.errors import StoreError
from bot.core.runtime import Runtime
from bot.core.settings import Settings
from bot.ui.buttons import JOB_BUTTON_TEMPLATE
from bot.ui.i18n.translator import CatalogueTranslator
from bot.ui.presenter import Presenter
from bot.ui.render import NO_MENTIONS
from bot.ui.replies import answer_failures, report_failure
from bot.ui.telemetry import discord_trace, gateway_check

__all__ = ["INITIAL_EXTENSIONS", "ImagineBot", "ShardedImagineBot", "command_digest", "make_bot"]

_log = logging.getLogger(__name__)

INITIAL_EXTENSIONS = ("cogs.imagine", "cogs.member", "cogs.moderation", "cogs.verbs", "cogs.region")


def command_digest(payload: Sequence[dict[str, Any]], application_id: int) -> str:
    """A stable hash of a command sync: the same commands for the same application, the same digest.

    Keys are sorted, so only a real change (a name, a description, an option, a permission) changes it;
    the application is part of it, so a new bot token pointed at the same database syncs its own.
    """
    text = json.dumps(
        {"application_id": application_id, "commands": list(payload)},
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
    )
    return hashlib.sha256(text.encode()).hexdigest()


# The job buttons JobButton answers (not ✉️ or the others sharing the img1: scheme, answered elsewhere).
_JOB_BUTTON = re.compile(JOB_BUTTON_TEMPLATE)


def _answered_by_a_job_handler(interaction: Any) -> bool:
    """/imagine or a job button: the interactions that come in bursts, whose handlers say when they answered."""
    if not isinstance(interaction, discord.Interaction) or not isinstance(interaction.data, dict):
        return False
    if interaction.type is discord.InteractionType.application_command:
        return interaction.data.get("name") == "imagine"
    if interaction.type is discord.InteractionType.component:
        return _JOB_BUTTON.fullmatch(str(interaction.data.get("custom_id", ""))) is not None
    return False


class ImagineBot(commands.Bot):
    def __init__(self, settings: Settings, runtime: Runtime, *, commands_only: bool = False, **options: object) -> None:
        # Slash commands and buttons need no privileged intent; guilds gives us channels and permissions.
        intents = discord.Intents.none()
        intents.guilds = True
        super().__init__(
            command_prefix=commands.when_mentioned,
            intents=intents,
            allowed_mentions=NO_MENTIONS,
            help_command=None,
            # Every REST request's round trip, status and 429s into the bot's metrics.
            http_trace=discord_trace(runtime.metrics),
            **options,  # type: ignore[arg-type]
        )
        self.settings = settings
        self.runtime = runtime
        runtime.readiness.add("gateway", lambda: gateway_check(self))
        self.presenter = Presenter(self, settings.edit_interval_s)
        # imagine-bot sync: the cogs are loaded for their commands only, which are synced at login.
        self.commands_only = commands_only
        # What the last sync did, per target ("global", "guild <id>"): commands sent, or None if unchanged.
        self.synced: dict[str, int | None] = {}

    def dispatch(self, event_name: str, /, *args: Any, **kwargs: Any) -> None:
        # discord.py announces each interaction as it parses it, before its handler runs: from here until
        # the handler answers it, the engine's background work waits (WorkGate.expect_answer), so a burst
        # of /imagine and presses is acknowledged before the work it creates competes for the loop.
        if event_name == "interaction" and args and _answered_by_a_job_handler(args[0]):
            engine = getattr(self.runtime, "engine", None)
            if engine is not None:
                engine.work.expect_answer(args[0].id)
        super().dispatch(event_name, *args, **kwargs)

    def add_dynamic_items(self, *items: type[discord.ui.DynamicItem[Any]]) -> None:
        # Every persistent button of every cog answers its failures, whichever cog registers it.
        super().add_dynamic_items(*(answer_failures(item) for item in items))

    async def add_cog(self, cog: commands.Cog, /, **options: Any) -> None:
        if self.commands_only:
            # The cog's own start-up (workers, listeners, settling interactions) is for a running bot; a
            # sync run beside one must not touch what that bot is doing.
            async def nothing() -> None:
                return None

            cog.cog_load = nothing  # type: ignore[method-assign]
        await super().add_cog(cog, **options)

    async def setup_hook(self) -> None:
        # One handler for every command of every cog: the polite answer and one log line.
        self.tree.error(report_failure)
        # Command names, descriptions and choices in each member's language (bot/ui/i18n).
        await self.tree.set_translator(CatalogueTranslator())
        await self.runtime.start()
        self.runtime.engine.add_listener(self.presenter.on_event)
        if self.runtime.cluster is not None:
            # A job going back to the shared queue leaves this process's message editor first.
            self.runtime.cluster.hand_over = self.presenter.hand_over
        # Each extension registers the buttons it answers in its cog_load (through add_dynamic_items).
        for extension in INITIAL_EXTENSIONS:
            await self.load_extension(extension)
        if self.commands_only:
            await self.sync_commands(force=True)
            return
        if self.settings.sync_commands:
            await self.sync_commands()
        # Last: resuming jobs edits their messages, which needs everything above.
        await self.runtime.start_engine()

    async def sync_commands(self, *, force: bool = False) -> dict[str, int | None]:
        """Sync the commands to each guild of DISCORD_GUILD_IDS, or globally, where they changed (or all)."""
        assert self.application_id is not None  # known from login, which runs before setup_hook
        targets: list[discord.Object | None] = [discord.Object(id=g) for g in self.settings.discord_guild_ids]
        for guild in targets or [None]:
            if guild is not None:
                self.tree.copy_global_to(guild=guild)
            where = "global" if guild is None else f"guild {guild.id}"
            key = f"commands:{where.replace(' ', ':')}"
            # The payload as synced, translations included, so a changed translation is synced too.
            translator = self.tree.translator
            commands = self.tree.get_commands(guild=guild)
            if translator is None:
                payload = [command.to_dict(self.tree) for command in commands]
            else:
                payload = [await command.get_translated_payload(self.tree, translator) for command in commands]
            digest = command_digest(payload, self.application_id)
            if not force and await self._last_synced(key) == digest and await self._registered(guild, payload):
                _log.info("commands (%s) unchanged since their last sync; not synced", where)
                self.synced[where] = None
                continue
            synced = await self.tree.sync(guild=guild)
            try:
                await self.runtime.store.set_state(key, digest)
            except StoreError as exc:
                # The commands are synced; the next start just syncs them once more.
                _log.warning("could not store the hash of the synced commands: %s", exc)
            _log.info("synced %d commands (%s)", len(synced), where)
            self.synced[where] = len(synced)
        return self.synced

    async def _last_synced(self, key: str) -> str | None:
        try:
            return await self.runtime.store.get_state(key)
        except StoreError as exc:
            _log.warning("could not read the hash of the last synced commands (%s); syncing them", exc)
            return None

    async def _registered(self, guild: discord.Object | None, payload: Sequence[dict[str, Any]]) -> bool:
        """Discord has every command of ``payload`` (by name and type), and no other.

        One read, which Discord limits far less than writes: it catches commands removed by hand in the
        developer portal, or a fresh Discord (the playground's, with its data kept) behind an old hash.
        """
        try:
            registered = await self.tree.fetch_commands(guild=guild)
        except discord.HTTPException as exc:
            _log.warning("could not read the registered commands (%s %s); syncing them", exc.status, exc.code)
            return False
        wanted = {(command["name"], command.get("type", 1)) for command in payload}
        return {(command.name, command.type.value) for command in registered} == wanted

    async def on_interaction(self, interaction: discord.Interaction) -> None:
        # Received, beside the acks the HTTP trace counts: the two should match.
        self.runtime.metrics.interaction_received(interaction.type.name)

    async def on_ready(self) -> None:
        _log.info("ready as %s in %d guilds", self.user, len(self.guilds))

    async def close(self) -> None:
        await self.presenter.close()
        await super().close()
        await self.runtime.close()


class ShardedImagineBot(ImagineBot, commands.AutoShardedBot):
    """The bot on SHARD_COUNT gateway shards, running those of SHARD_IDS (all when empty) in this process.

    Discord sends each guild's events and interactions to one shard, so each process answers the
    interactions of its own guilds; it edits the messages of the jobs it owns: those it took in and started,
    and those it claimed from the others or took over (on PostgreSQL the processes share the jobs,
    bot.core.cluster).
    """


def make_bot(settings: Settings, runtime: Runtime, **options: Any) -> ImagineBot:
    """The bot the settings ask for: sharded when SHARD_COUNT is set, discord.py's plain client otherwise."""
    if settings.shard_count is None:
        return ImagineBot(settings, runtime, **options)
    return ShardedImagineBot(
        settings, runtime, shard_count=settings.shard_count, shard_ids=settings.shard_ids or None, **options
    )
