"""/imagine and the job buttons: parse, defer, hand the job to the engine, return."""

from __future__ import annotations

import logging
import secrets
from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from bot.errors import InputError
from bot.models import Action, ErrorReason, Job, JobStatus
from bot.moderation import ButtonPolicy, Refusal
from bot.netguard import MAX_IMAGE_BYTES, ImageGuard
from bot.prompt import ASPECT_CHOICES, IMAGE_EXTENSIONS, parse_prompt
from bot.ui import gate
from bot.ui.render import action_title, job_link
from bot.ui.replies import refuse
from bot.ui.texts import refusal_text
from cogs._runtime import RuntimeAccess

if TYPE_CHECKING:
    from bot.client import ImagineBot

_log = logging.getLogger(__name__)

# Discord's own cap on a string option; our parser gives the friendlier limit message below it.
MAX_OPTION_LENGTH = 6000
IMAGE_CONTENT_TYPES = frozenset({"image/png", "image/jpeg", "image/gif", "image/webp"})
# A reference image larger than this is refused before any provider sees it (the image guard's own cap).
MAX_REFERENCE_BYTES = MAX_IMAGE_BYTES


def new_job_id() -> str:
    return secrets.token_hex(8)


def check_reference(image: discord.Attachment) -> None:
    content_type = (image.content_type or "").split(";")[0].strip().lower()
    if content_type not in IMAGE_CONTENT_TYPES and not image.filename.lower().endswith(IMAGE_EXTENSIONS):
        raise InputError(ErrorReason.INVALID_IMAGE, "The image must be a PNG, JPEG, GIF or WebP file.")
    if image.size > MAX_REFERENCE_BYTES:
        raise InputError(ErrorReason.INVALID_IMAGE, "The image is larger than 10 MB.")


class Imagine(RuntimeAccess, commands.Cog):
    def __init__(self, bot: ImagineBot) -> None:
        self.bot = bot
        # Uploads served by the configured Discord are trusted; links typed into a prompt never are.
        self.images = ImageGuard.for_discord(bot.settings.discord_api_base)

    @app_commands.command(name="imagine", description="Create four images from a prompt")
    @app_commands.describe(
        prompt="What to draw; parameters like --ar 16:9 or --seed 7 may follow",
        image="An image to start from",
        aspect="The shape of the images",
    )
    @app_commands.choices(aspect=[app_commands.Choice(name=a, value=a) for a in ASPECT_CHOICES])
    @app_commands.guild_only()
    async def imagine(
        self,
        interaction: discord.Interaction,
        prompt: app_commands.Range[str, 1, MAX_OPTION_LENGTH],
        image: discord.Attachment | None = None,
        aspect: app_commands.Choice[str] | None = None,
    ) -> None:
        # Moderation first, from the cached guild snapshot: a refused prompt is answered before anything
        # public is posted and never reaches a provider.
        state = await gate.guard(self.bot, interaction)
        if state is None:
            return
        settings = await self.moderation.member_settings(interaction.user.id)
        if not await gate.prompt_allowed(self.bot, interaction, state, f"{prompt} {settings.suffix}"):
            return
        try:
            parsed = parse_prompt(prompt, aspect=aspect.value if aspect else None)
            parsed = gate.with_member_defaults(parsed, settings)
            image_urls = list(parsed.image_urls)
            for link in image_urls:
                self.images.precheck(link)
            if image is not None:
                check_reference(image)
                image_urls.insert(0, image.url)
        except InputError as exc:
            await refuse(interaction, str(exc))
            return
        response = await interaction.response.defer(thinking=True)
        try:
            # Name lookups take a moment, so they run after the defer; a refusal still reaches only the member.
            for link in parsed.image_urls:
                await self.images.check_link(link)
            if image is not None:
                await self.images.check_upload(image.url)
        except InputError as exc:
            _log.info("refused an image link of member %s: %s", interaction.user.id, getattr(exc, "why", exc))
            await refuse(interaction, str(exc))
            return
        message_id = await _response_message_id(interaction, response)
        job = Job(
            id=new_job_id(),
            user_id=interaction.user.id,
            guild_id=interaction.guild_id,
            channel_id=interaction.channel_id or 0,
            message_id=message_id,
            interaction_token=interaction.token,
            token_expires_at=interaction.expires_at,
            provider=self.bot.settings.provider,
            action=Action.IMAGINE,
            prompt=prompt,
            prompt_final=parsed.final(include_images=False),
            params=parsed.params,
            image_urls_in=image_urls,
            upload_limit=interaction.filesize_limit,
        )
        try:
            await self.engine.submit(job, admit=self.moderation.admitter(gate.role_ids(interaction.user)))
        except Refusal as exc:
            await refuse(interaction, refusal_text(exc))

    async def press(self, interaction: discord.Interaction, job_id: str, action: Action) -> None:
        """A job button was pressed: make the child job, which gets a message of its own."""
        state = await gate.guard(self.bot, interaction)
        if state is None:
            return
        if state.config.button_policy is ButtonPolicy.OWNER and not gate.is_moderator(interaction, state):
            # One lookup by key before deferring, so a refusal stays private.
            owner = await self.engine.get(job_id)
            if owner is not None and owner.user_id != interaction.user.id:
                await refuse(interaction, ErrorReason.BUTTON_RESTRICTED.message)
                return
        response = await interaction.response.defer(thinking=True)
        parent = await self.engine.get(job_id)
        if parent is None:
            await refuse(interaction, "That image is no longer known to the bot.")
            return
        if not await gate.prompt_allowed(self.bot, interaction, state, parent.prompt, strike=False):
            return  # a word banned since the image was made
        if parent.status is not JobStatus.COMPLETED or action not in parent.actions:
            await refuse(interaction, "That button is not available on this image.")
            return
        message_id = await _response_message_id(interaction, response)
        child = Job(
            id=new_job_id(),
            user_id=interaction.user.id,
            guild_id=interaction.guild_id,
            channel_id=interaction.channel_id or parent.channel_id,
            message_id=message_id,
            interaction_token=interaction.token,
            token_expires_at=interaction.expires_at,
            provider=parent.provider,
            account=parent.account,
            parent_id=parent.id,
            action=action,
            prompt=parent.prompt,
            prompt_final=parent.prompt_final,
            params=parent.params,
            image_urls_in=parent.image_urls_in,
            upload_limit=interaction.filesize_limit,
        )
        try:
            # The child belongs to whoever pressed, and counts against their quota.
            admit = self.moderation.admitter(gate.role_ids(interaction.user))
            stored, created = await self.engine.submit_child(child, admit=admit)
        except Refusal as exc:
            await refuse(interaction, refusal_text(exc))
            return
        if not created:
            what = action_title(action) or action.value
            link = job_link(stored)
            where = f": {link}" if link else "."
            await refuse(interaction, f"{what} was already requested for this image{where}")


async def _response_message_id(
    interaction: discord.Interaction, response: discord.InteractionCallbackResponse | None
) -> int:
    if response is not None and response.message_id is not None:
        return response.message_id
    return (await interaction.original_response()).id


async def setup(bot: ImagineBot) -> None:
    await bot.add_cog(Imagine(bot))
