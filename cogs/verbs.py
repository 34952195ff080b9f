"""The Midjourney verbs beyond /imagine: /describe, /blend and the ✉️ seed button (issue 11).

A command exists only where a configured provider (the main one or a failover one) offers its verb: the
extension drops the others from the command tree before the sync, so Discord never shows them. A button
is drawn only where the job's provider offers it; a press that arrives anyway (an old message, a provider
changed since) gets a polite private answer. Moderation comes before any provider call: the member's
standing (the gate), the image guard on every link and upload, and the server's limits on a blend, which
counts as one job.
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
import secrets
from typing import TYPE_CHECKING, Any, ClassVar

import discord
from discord import app_commands
from discord.ext import commands

from bot.core import crashpoints
from bot.core.errors import InputError, ProviderError
from bot.core.models import Action, ErrorReason, Job, JobStatus, Verb
from bot.core.moderation import Refusal
from bot.core.netguard import MAX_IMAGE_BYTES, ImageGuard
from bot.core.prompt import IMAGE_EXTENSIONS
from bot.core.providers import provider_class
from bot.ui import gate
from bot.ui.buttons import DESCRIBE_TEMPLATE, SEED_TEMPLATE, describe_button, describe_view, seed_button
from bot.ui.i18n import t
from bot.ui.render import NO_MENTIONS, quote_prompt, reason_text
from bot.ui.replies import refuse, reply
from bot.ui.texts import input_text, refusal_text
from cogs._runtime import RuntimeAccess

if TYPE_CHECKING:
    from bot.ui.client import ImagineBot

_log = logging.getLogger(__name__)

IMAGE_CONTENT_TYPES = frozenset({"image/png", "image/jpeg", "image/gif", "image/webp"})
# /blend's shapes, as Midjourney's command offers them (mj-verbs.md §1.4; ratios from Legnext's SDK).
BLEND_DIMENSIONS = {"Portrait": "2:3", "Square": "1:1", "Landscape": "3:2"}
# A suggestion shown in the /describe answer; five of them stay well inside Discord's 2000 characters.
MAX_SUGGESTION = 300
# Suggestions kept for the numbered buttons, in the bot's own key-value state: no table of their own.
_STATE_KEY = "describe:{ref}"


def _check_upload(image: discord.Attachment) -> None:
    content_type = (image.content_type or "").split(";")[0].strip().lower()
    if content_type not in IMAGE_CONTENT_TYPES and not image.filename.lower().endswith(IMAGE_EXTENSIONS):
        raise InputError(ErrorReason.INVALID_IMAGE, "The image must be a PNG, JPEG, GIF or WebP file.")
    if image.size > MAX_IMAGE_BYTES:
        raise InputError(ErrorReason.INVALID_IMAGE, "The image is larger than the bot takes.")


class SeedButton(discord.ui.DynamicItem[discord.ui.Button[Any]], template=SEED_TEMPLATE):
    """A press of ✉️ under a finished job (drawn by :mod:`bot.ui.buttons`), handed to :meth:`Verbs.seed_pressed`."""

    cog: ClassVar[Verbs | None] = None

    def __init__(self, job_id: str) -> None:
        super().__init__(seed_button(job_id))
        self.job_id = job_id

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Item[Any], match: re.Match[str]
    ) -> SeedButton:
        return cls(match["job"])

    async def callback(self, interaction: discord.Interaction) -> None:
        if self.cog is None:
            await interaction.response.send_message(t(interaction.locale, "verb.not_offered"), ephemeral=True)
            return
        await self.cog.seed_pressed(interaction, self.job_id)


class DescribePick(discord.ui.DynamicItem[discord.ui.Button[Any]], template=DESCRIBE_TEMPLATE):
    """A press of a numbered button under a /describe answer, handed to :meth:`Verbs.pick_pressed`."""

    cog: ClassVar[Verbs | None] = None

    def __init__(self, ref: str, pick: int) -> None:
        super().__init__(describe_button(ref, pick))
        self.ref, self.pick = ref, pick

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Item[Any], match: re.Match[str]
    ) -> DescribePick:
        return cls(match["ref"], int(match["pick"]))

    async def callback(self, interaction: discord.Interaction) -> None:
        if self.cog is None:
            await interaction.response.send_message(t(interaction.locale, "verb.not_offered"), ephemeral=True)
            return
        await self.cog.pick_pressed(interaction, self.ref, self.pick)


class Verbs(RuntimeAccess, commands.Cog):
    def __init__(self, bot: ImagineBot) -> None:
        self.bot = bot
        # Uploads served by the configured Discord are trusted; links typed in are checked like /imagine's.
        self.images = ImageGuard.for_discord(bot.settings.discord_api_base)

    async def cog_load(self) -> None:
        SeedButton.cog = self
        DescribePick.cog = self
        self.bot.add_dynamic_items(SeedButton, DescribePick)

    async def cog_unload(self) -> None:
        self.bot.remove_dynamic_items(SeedButton, DescribePick)
        if SeedButton.cog is self:
            SeedButton.cog = None
        if DescribePick.cog is self:
            DescribePick.cog = None

    # -- /describe -------------------------------------------------------------------------------

    @app_commands.command(name="describe", description="Four prompts that would draw an image like yours")
    @app_commands.describe(image="An image to describe", link="Or a link to the image")
    @app_commands.guild_only()
    async def describe(
        self,
        interaction: discord.Interaction,
        image: discord.Attachment | None = None,
        link: app_commands.Range[str, 1, 2000] | None = None,
    ) -> None:
        state = await gate.guard(self.bot, interaction)
        if state is None:
            return
        if image is None and link is None:
            await refuse(interaction, t(interaction.locale, "describe.need_image"))
            return
        try:
            if image is not None:
                _check_upload(image)
            else:
                assert link is not None
                self.images.precheck(link.strip())
        except InputError as exc:
            await refuse(interaction, input_text(exc, interaction.locale))
            return
        await interaction.response.defer(thinking=True)
        url = image.url if image is not None else (link or "").strip()
        try:
            # Every link through the image guard before any provider sees it; an upload must be Discord's own.
            if image is not None:
                await self.images.check_upload(url)
            else:
                await self.images.check_link(url)
        except InputError as exc:
            await refuse(interaction, input_text(exc, interaction.locale))
            return
        ref = secrets.token_hex(8)
        try:
            prompts = [p.strip() for p in await self.engine.describe(url, ref) if p.strip()]
        except ProviderError as exc:
            _log.info("describe for member %s failed: %s", interaction.user.id, exc)
            await refuse(
                interaction,
                t(interaction.locale, "describe.failed", reason=reason_text(exc.reason, interaction.locale)),
            )
            return
        if not prompts:
            await refuse(interaction, t(interaction.locale, "describe.none"))
            return
        prompts = prompts[:5]
        record = {"prompts": prompts, "user": interaction.user.id, "guild": interaction.guild_id}
        await self.bot.runtime.store.set_state(_STATE_KEY.format(ref=ref), json.dumps(record, ensure_ascii=False))
        lines = [t(interaction.guild_locale, "describe.head", user=interaction.user.id)]
        lines += [f"{n}\ufe0f\u20e3 {quote_prompt(p, MAX_SUGGESTION)}" for n, p in enumerate(prompts, start=1)]
        await interaction.edit_original_response(
            content="\n\n".join(lines), view=describe_view(ref, len(prompts)), allowed_mentions=NO_MENTIONS
        )

    async def pick_pressed(self, interaction: discord.Interaction, ref: str, pick: int) -> None:
        """A numbered button of a /describe answer: /imagine that suggestion, as the member who pressed."""
        raw = await self.bot.runtime.store.get_state(_STATE_KEY.format(ref=ref))
        prompts = json.loads(raw).get("prompts", []) if raw else []
        if not 1 <= pick <= len(prompts):
            await refuse(interaction, t(interaction.locale, "describe.gone"))
            return
        command = self.bot.tree.get_command("imagine")
        if not isinstance(command, app_commands.Command):
            await refuse(interaction, t(interaction.locale, "verb.not_offered"))
            return
        # The /imagine command itself runs it: the same gate, parser, image checks, limits and message.
        await command.callback(command.binding, interaction, str(prompts[pick - 1]))  # type: ignore[arg-type]

    # -- /blend ----------------------------------------------------------------------------------

    @app_commands.command(name="blend", description="Blend two to five images into four new ones")
    @app_commands.describe(
        image1="An image to blend",
        image2="An image to blend",
        image3="An image to blend",
        image4="An image to blend",
        image5="An image to blend",
        dimensions="The shape of the result",
    )
    @app_commands.choices(dimensions=[app_commands.Choice(name=n, value=v) for n, v in BLEND_DIMENSIONS.items()])
    @app_commands.guild_only()
    async def blend(
        self,
        interaction: discord.Interaction,
        image1: discord.Attachment,
        image2: discord.Attachment,
        image3: discord.Attachment | None = None,
        image4: discord.Attachment | None = None,
        image5: discord.Attachment | None = None,
        dimensions: app_commands.Choice[str] | None = None,
    ) -> None:
        state = await gate.guard(self.bot, interaction)
        if state is None:
            return
        uploads = [i for i in (image1, image2, image3, image4, image5) if i is not None]
        provider = self.engine.provider_for(Verb.BLEND)
        if provider is None:
            await refuse(interaction, t(interaction.locale, "verb.not_offered"))
            return
        try:
            for upload in uploads:
                _check_upload(upload)
        except InputError as exc:
            await refuse(interaction, input_text(exc, interaction.locale))
            return
        job_id = secrets.token_hex(8)
        # Noted in the interaction ledger before the defer, as /imagine is: a crash between the defer and the
        # stored job leaves a note the next start explains on the "thinking…" message (cogs/imagine.py).
        async with self._ledger_note(interaction, job_id):
            await self._blend(interaction, job_id, provider, uploads, dimensions)

    def _ledger_note(
        self, interaction: discord.Interaction, job_id: str
    ) -> contextlib.AbstractAsyncContextManager[None]:
        imagine = self.bot.get_cog("Imagine")
        noted = getattr(imagine, "noted", None)
        if noted is None:
            return contextlib.nullcontext()  # /imagine's extension is not loaded: nothing keeps a ledger
        note: contextlib.AbstractAsyncContextManager[None] = noted(interaction, job_id, Action.BLEND)
        return note

    async def _blend(
        self,
        interaction: discord.Interaction,
        job_id: str,
        provider: str,
        uploads: list[discord.Attachment],
        dimensions: app_commands.Choice[str] | None,
    ) -> None:
        response = await interaction.response.defer(thinking=True)
        crashpoints.reached("after_defer")
        try:
            for upload in uploads:
                await self.images.check_upload(upload.url)
        except InputError as exc:
            await refuse(interaction, input_text(exc, interaction.locale))
            return
        if response is not None and response.message_id is not None:
            message_id = response.message_id
        else:
            message_id = (await interaction.original_response()).id
        aspect = dimensions.value if dimensions else "1:1"
        job = Job(
            id=job_id,
            user_id=interaction.user.id,
            guild_id=interaction.guild_id,
            channel_id=interaction.channel_id or 0,
            message_id=message_id,
            interaction_token=interaction.token,
            token_expires_at=interaction.expires_at,
            provider=provider,
            action=Action.BLEND,
            prompt="",
            prompt_final="",
            params={"ar": aspect},
            image_urls_in=[u.url for u in uploads],
            upload_limit=interaction.filesize_limit,
            locale=interaction.guild_locale.value if interaction.guild_locale is not None else None,
        )
        try:
            # One job against the member's quota and concurrency, however many images it blends.
            await self.engine.submit(job, admit=self.moderation.admitter(gate.role_ids(interaction.user)))
        except Refusal as exc:
            await refuse(interaction, refusal_text(exc, interaction.locale))

    # -- ✉️ the seed -------------------------------------------------------------------------------

    async def seed_pressed(self, interaction: discord.Interaction, job_id: str) -> None:
        """✉️: the job's seed, privately, as Midjourney's ✉️ reaction answers by DM."""
        job = await self.engine.get(job_id)
        if job is None or job.guild_id != interaction.guild_id:
            await refuse(interaction, t(interaction.locale, "imagine.unknown_image"))
            return
        if job.status is not JobStatus.COMPLETED:
            await refuse(interaction, t(interaction.locale, "seed.not_finished"))
            return
        if Verb.SEED not in self.engine.verbs_for(job) and not isinstance(job.params.get("seed"), int):
            await refuse(interaction, t(interaction.locale, "verb.not_offered"))
            return
        await interaction.response.defer(ephemeral=True, thinking=True)
        try:
            seed = await self.engine.seed_of(job)
        except ProviderError as exc:
            _log.info("seed of job %s failed: %s", job.id, exc)
            await reply(
                interaction, t(interaction.locale, "seed.failed", reason=reason_text(exc.reason, interaction.locale))
            )
            return
        await reply(interaction, t(interaction.locale, "seed.answer", id=job.id, seed=seed))


async def setup(bot: ImagineBot) -> None:
    await bot.add_cog(Verbs(bot))
    # Only the commands some configured provider (main or failover) offers are registered, and so synced and
    # shown. Read from the settings, so `imagine-bot sync` (which starts no engine) registers the same.
    names = dict.fromkeys([bot.settings.provider, *bot.settings.failover_providers])
    offered = frozenset().union(*(provider_class(name).capabilities.verbs for name in names))
    for verb, name in ((Verb.DESCRIBE, "describe"), (Verb.BLEND, "blend")):
        if verb not in offered:
            bot.tree.remove_command(name)
