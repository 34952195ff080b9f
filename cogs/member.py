"""Member self-service: /jobs, /job, /settings, /info, the Cancel and /jobs page buttons, and DMs when a job ends.

Each command parses, defers when it reads the store, calls the core and replies; everything but the
re-post of /job is ephemeral.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import logging
import re
from typing import TYPE_CHECKING, Any, ClassVar

import discord
from discord import app_commands
from discord.ext import commands

from bot.core.errors import InputError, ProviderError
from bot.core.models import ErrorReason, Job, JobEvent, JobEventKind, JobStatus, Verb
from bot.core.moderation import AuditAction
from bot.core.prompt import ASPECT_CHOICES
from bot.core.video import shrink_video
from bot.ui import gate
from bot.ui.buttons import result_view
from bot.ui.controls import (
    CANCEL_TEMPLATE,
    PageHandler,
    cancel_button,
    page_template,
    pager_view,
    progress_view,
)
from bot.ui.i18n import t
from bot.ui.jobs import MAX_CHOICES, job_choice_name, job_list, parse_job_id
from bot.ui.render import (
    NO_MENTIONS,
    alt_text,
    encode_for_upload,
    is_video,
    job_content,
    job_link,
    quote_prompt,
    reason_text,
)
from bot.ui.replies import refuse, reply, reply_followup
from bot.ui.texts import blocked_text, info_text, input_text, settings_text
from cogs._runtime import RuntimeAccess

if TYPE_CHECKING:
    from bot.ui.client import ImagineBot

_log = logging.getLogger(__name__)

# Words that clear a setting in /settings (a slash option cannot be set to nothing).
CLEAR_WORDS = frozenset({"off", "none", "clear", "-"})


class CancelButton(discord.ui.DynamicItem[discord.ui.Button[Any]], template=CANCEL_TEMPLATE):
    """A press of Cancel under an unfinished job (drawn by :mod:`bot.ui.controls`), handed to
    :meth:`Member.cancel_pressed`."""

    # discord.py registers the class and makes an instance per press, so the cog is reached through the
    # class: Member.cog_load sets it, cog_unload clears it. One bot, and so one such cog, per process.
    cog: ClassVar[Member | None] = None

    def __init__(self, job_id: str) -> None:
        super().__init__(cancel_button(job_id))
        self.job_id = job_id

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Item[Any], match: re.Match[str]
    ) -> CancelButton:
        # Runs inside Discord's 3-second window: parse only, no I/O.
        return cls(match["job"])

    async def callback(self, interaction: discord.Interaction) -> None:
        cog = self.cog
        if cog is None:
            await interaction.response.send_message(t(interaction.locale, "off.cancel"), ephemeral=True)
            return
        await cog.cancel_pressed(interaction, self.job_id)


class PageButton(PageHandler, template=page_template("me")):
    """A press of a page button of /jobs (drawn by :mod:`bot.ui.controls`), handed to :meth:`Member.show_page`."""

    scope = "me"


class Member(RuntimeAccess, commands.Cog):
    def __init__(self, bot: ImagineBot) -> None:
        self.bot = bot
        self._tasks: set[asyncio.Task[Any]] = set()

    async def cog_load(self) -> None:
        CancelButton.cog = self
        PageButton.cog = self
        self.bot.add_dynamic_items(CancelButton, PageButton)

    async def cog_unload(self) -> None:
        self.bot.remove_dynamic_items(CancelButton, PageButton)
        if CancelButton.cog is self:
            CancelButton.cog = None
        if PageButton.cog is self:
            PageButton.cog = None
        for task in list(self._tasks):
            task.cancel()

    # -- /jobs -----------------------------------------------------------------------------------

    @app_commands.command(name="jobs", description="Your own jobs, newest first")
    @app_commands.guild_only()
    async def jobs(self, interaction: discord.Interaction) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        await self._page(interaction, interaction.user.id, 0, 0)

    async def show_page(
        self, interaction: discord.Interaction, member: int, status: str, page: int, offset: int | None = None
    ) -> None:
        """A page button of /jobs was pressed; a member's list is theirs alone."""
        if member != interaction.user.id:
            await refuse(interaction, t(interaction.locale, "jobs.not_yours"))
            return
        await interaction.response.defer()
        await self._page(interaction, member, page, offset)

    async def _page(self, interaction: discord.Interaction, member: int, page: int, offset: int | None) -> None:
        text, next_offset = await job_list(
            self.moderation,
            guild_id=interaction.guild_id,
            user_id=member,
            status=None,
            title=t(interaction.locale, "jobs.title"),
            show_member=False,
            page=page,
            offset=offset,
            locale=interaction.locale,
        )
        view = pager_view("me", member, "all", page, next_offset=next_offset)
        await interaction.edit_original_response(content=text, view=view, allowed_mentions=NO_MENTIONS)

    # -- /job ------------------------------------------------------------------------------------

    @app_commands.command(name="job", description="Show a job again, with its buttons")
    @app_commands.describe(job="The job's id, as shown under its image")
    @app_commands.guild_only()
    async def job(self, interaction: discord.Interaction, job: app_commands.Range[str, 1, 64]) -> None:
        job_id = parse_job_id(job)
        found = await self.engine.get(job_id) if job_id else None
        state = await self.moderation.guild(interaction.guild_id or 0)
        if found is None or (found.guild_id != interaction.guild_id and found.user_id != interaction.user.id):
            await refuse(interaction, t(interaction.locale, "job.none"))
            return
        if found.user_id != interaction.user.id and not gate.is_moderator(interaction, state):
            await refuse(interaction, t(interaction.locale, "job.own_only"))
            return
        if await self.moderation.deleted(found.id):
            await refuse(interaction, t(interaction.locale, "job.removed"))
            return
        if found.status is not JobStatus.COMPLETED:
            view = progress_view(found)
            text = job_content(found, queue_position=self.engine.queue_position(found.id), locale=interaction.locale)
            link = job_link(found)
            if link:
                text += "\n" + t(interaction.locale, "job.jump", link=link)
            await reply(interaction, text, **({"view": view} if view else {}))
            return
        await interaction.response.defer(thinking=True)
        try:
            file = await self._result_file(found)
        except ProviderError as exc:
            _log.warning("could not fetch the result of job %s for /job: %s", found.id, exc)
            await refuse(interaction, t(interaction.locale, "job.gone"))
            return
        kwargs: dict[str, Any] = {"attachments": [file]}
        view = result_view(found, await self.engine.pressed(found.id), self.engine.verbs_for(found))
        if view is not None:
            kwargs["view"] = view
        await interaction.edit_original_response(content=job_content(found), allowed_mentions=NO_MENTIONS, **kwargs)

    @job.autocomplete("job")
    async def job_autocomplete(self, interaction: discord.Interaction, current: str) -> list[app_commands.Choice[str]]:
        """The member's recent jobs in this server (a moderator's: anyone's) matching what was typed, by id
        prefix or prompt text; one indexed query on the cached guild snapshot, well inside Discord's 3 s."""
        if interaction.guild_id is None:
            return []
        state = await self.moderation.guild(interaction.guild_id)
        everyone = gate.is_moderator(interaction, state)
        typed = current.strip().strip("`").strip()
        jobs = await self.moderation.job_choices(
            interaction.guild_id, typed, user_id=None if everyone else interaction.user.id
        )
        return [
            app_commands.Choice(name=job_choice_name(job, interaction.locale), value=job.id)
            for job in jobs[:MAX_CHOICES]
        ]

    async def _result_file(self, job: Job) -> discord.File:
        """The job's image, fetched through its provider like the presenter does."""
        provider = self.engine.pool.provider(job.provider, job.account)
        if provider is None or job.result_url is None:
            raise ProviderError(ErrorReason.NO_ACCOUNT, f"{job.provider} is not configured")
        data = await provider.fetch_image(job.result_url)
        if is_video(job.result_url):
            # Shown as it is, or re-encoded smaller to fit (as its job message does); a video that cannot be
            # made to fit is refused like any result that cannot be shown.
            name = "video" + job.result_url[job.result_url.rfind(".") :].split("?", 1)[0].lower()
            if job.upload_limit is not None and len(data) > job.upload_limit:
                smaller = await asyncio.to_thread(shrink_video, data, job.upload_limit)
                if smaller is None:
                    raise ProviderError(ErrorReason.PROVIDER_FAILED, "the video is larger than the upload limit")
                data, name = smaller, "video.mp4"
            return discord.File(io.BytesIO(data), filename=name, description=alt_text(job))
        filename = "grid.png" if job.grid_url else "image.png"
        data, filename = await asyncio.to_thread(encode_for_upload, data, job.upload_limit, filename)
        # Flagged by the server's safety check when it finished: shown behind a spoiler here too.
        return discord.File(io.BytesIO(data), filename=filename, description=alt_text(job), spoiler=job.spoiler)

    # -- the Cancel button -------------------------------------------------------------------------

    async def cancel_pressed(self, interaction: discord.Interaction, job_id: str) -> None:
        job = await self.engine.get(job_id)
        if job is None or job.guild_id != interaction.guild_id:
            await refuse(interaction, t(interaction.locale, "cancel.unknown"))
            return
        state = await self.moderation.guild(job.guild_id) if job.guild_id else None
        owner = job.user_id == interaction.user.id
        if not owner and not gate.is_moderator(interaction, state):
            await refuse(interaction, t(interaction.locale, "cancel.not_yours"))
            return
        if job.terminal:
            await refuse(interaction, t(interaction.locale, "cancel.ended"))
            return
        # No message of our own: the job's message turns into "Cancelled" through the presenter.
        await interaction.response.defer()
        reason = ErrorReason.CANCELLED_BY_OWNER if owner else ErrorReason.CANCELLED_BY_MODERATOR
        ended = await self.engine.cancel(job.id, reason)
        if ended is not None and not owner and job.guild_id is not None:
            await self.moderation.record(
                job.guild_id, interaction.user.id, AuditAction.JOB_CANCELLED, target_user_id=job.user_id, job_id=job.id
            )
        if ended is not None:
            # Stopped here; now at the provider too, where it offers that, and the member is told which.
            await reply_followup(interaction, t(interaction.locale, await self._cancel_outcome(ended)))

    async def _cancel_outcome(self, job: Job) -> str:
        """Ask the provider to stop ``job`` where it can; the i18n key of what to tell the member."""
        if job.provider_job_id is None and job.submit_started_at is None:
            return "cancel.not_sent"
        stopped = await self.engine.cancel_at_provider(job)
        if stopped:
            return "cancel.at_provider"
        if stopped is None and Verb.CANCEL not in self.engine.verbs_for(job):
            return "cancel.not_at_provider"
        return "cancel.provider_failed"

    # -- /settings -------------------------------------------------------------------------------

    @app_commands.command(name="settings", description="Your defaults: aspect ratio, a parameter suffix, DMs")
    @app_commands.describe(
        aspect="Aspect ratio for prompts that do not set one (off to clear)",
        suffix="Parameters added to every prompt, like --v 6 --stylize 250 (off to clear)",
        notify="Send me a DM when one of my jobs ends",
        remix="Edit the prompt when you press Vary, Pan or 🔄",
    )
    @app_commands.choices(
        aspect=[app_commands.Choice(name=a, value=a) for a in ASPECT_CHOICES]
        + [app_commands.Choice(name="off", value="off")]
    )
    async def settings(
        self,
        interaction: discord.Interaction,
        aspect: app_commands.Choice[str] | None = None,
        suffix: app_commands.Range[str, 1, 200] | None = None,
        notify: bool | None = None,
        remix: bool | None = None,
    ) -> None:
        changes: dict[str, Any] = {}
        if aspect is not None:
            changes["aspect"] = None if aspect.value == "off" else aspect.value
        if suffix is not None:
            cleaned = suffix.strip()
            if cleaned.lower() in CLEAR_WORDS:
                cleaned = ""
            else:
                try:
                    gate.suffix_params(cleaned)
                except (InputError, ValueError) as exc:
                    await refuse(interaction, input_text(exc, interaction.locale))
                    return
                if interaction.guild_id is not None:
                    state = await self.moderation.guild(interaction.guild_id)
                    verdict = state.filter.check(cleaned)
                    if verdict.blocked:
                        await refuse(interaction, blocked_text(verdict, locale=interaction.locale))
                        return
            changes["suffix"] = cleaned
        if notify is not None:
            changes["dm_on_finish"] = notify
        if remix is not None:
            changes["remix"] = remix
        await interaction.response.defer(ephemeral=True, thinking=True)
        if changes:
            current = await self.moderation.update_member_settings(interaction.user.id, **changes)
        else:
            current = await self.moderation.member_settings(interaction.user.id)
        saved = t(interaction.locale, "settings.saved") + "\n" if changes else ""
        await reply(interaction, saved + settings_text(current, interaction.locale))

    # -- /info -----------------------------------------------------------------------------------

    @app_commands.command(name="info", description="Your usage against the quota, your running and waiting jobs")
    @app_commands.guild_only()
    async def info(self, interaction: discord.Interaction) -> None:
        assert interaction.guild_id is not None
        await interaction.response.defer(ephemeral=True, thinking=True)
        usage = await self.moderation.usage(interaction.guild_id, interaction.user.id, gate.role_ids(interaction.user))
        waiting, _ = await self.moderation.job_page(
            guild_id=interaction.guild_id, user_id=interaction.user.id, status=JobStatus.QUEUED, per_page=10
        )
        queue = [(job.id, self.engine.queue_position(job.id)) for job in reversed(waiting)]
        await reply(interaction, info_text(usage, queue, interaction.locale))

    # -- DMs when a job ends ---------------------------------------------------------------------

    @commands.Cog.listener("on_job_event")
    async def notify_owner(self, event: JobEvent) -> None:
        if event.kind is not JobEventKind.FINISHED or event.job.user_id == 0:
            return
        job = event.job
        settings = await self.moderation.member_settings(job.user_id)
        if not settings.dm_on_finish:
            return
        # The member's locale is not known outside an interaction: the DM speaks the server's, as the job does.
        if job.status is JobStatus.COMPLETED:
            status = t(job.locale, "dm.done", id=job.id)
        else:
            status = t(
                job.locale, "dm.ended", id=job.id, reason=reason_text(job.error, job.locale) if job.error else ""
            )
        link = job_link(job)
        text = f"{status}\n> {quote_prompt(job.prompt, 300)}"
        if link:
            text += f"\n{link}"
        with contextlib.suppress(discord.HTTPException):
            channel = await self.bot.create_dm(discord.Object(id=job.user_id))
            await channel.send(text, allowed_mentions=NO_MENTIONS)


async def setup(bot: ImagineBot) -> None:
    await bot.add_cog(Member(bot))
