"""/mod: the moderators' console, its job-list page buttons, and the audit channel.

The group is hidden from members by its default permissions (Manage Server) and checked again on every
use, since a server can grant the command to anyone in its integration settings and a moderator role
may be configured per guild. Each subcommand parses, defers when it touches the store, calls
:class:`bot.core.moderation.Moderation` or the engine, and replies ephemerally.

The audit channel receives every recorded entry: each job's end, each blocked prompt and each
moderator action, posted by one worker so that posts keep their order.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
from typing import TYPE_CHECKING, Any

import discord
from discord import app_commands
from discord.ext import commands

from bot.core.errors import StoreError
from bot.core.models import ErrorReason, Job, JobEvent, JobEventKind, JobStatus, utcnow
from bot.core.moderation import AuditAction, AuditEntry, InvalidTerm
from bot.core.moderation.policy import parse_duration
from bot.ui import gate
from bot.ui.controls import PageHandler, page_template, pager_view
from bot.ui.i18n import t
from bot.ui.jobs import job_list, parse_job_id
from bot.ui.render import NO_MENTIONS, quote_prompt
from bot.ui.replies import refuse, reply
from bot.ui.texts import (
    audit_text,
    bans_text,
    code,
    limits_text,
    safety_text,
    stats_text,
    when,
    words_text,
)
from cogs._runtime import RuntimeAccess

if TYPE_CHECKING:
    from bot.ui.client import ImagineBot

_log = logging.getLogger(__name__)

# Audit posts waiting for the worker; past this the oldest are dropped rather than memory growing.
AUDIT_QUEUE_SIZE = 1000

STATUS_CHOICES = [app_commands.Choice(name=s.value.replace("_", " "), value=s.value) for s in JobStatus]


class NotModerator(app_commands.CheckFailure):
    """Someone without Manage Server or the moderator role used /mod; the tree's error handler says so."""


class ModPageButton(PageHandler, template=page_template("mod")):
    """A press of a page button of /mod jobs (drawn by :mod:`bot.ui.controls`), handed to
    :meth:`ModerationCog.show_page`, which checks the presser is a moderator."""

    scope = "mod"


@app_commands.guild_only()
@app_commands.default_permissions(manage_guild=True)
class ModerationCog(
    RuntimeAccess, commands.GroupCog, name="ModerationCog", group_name="mod", group_description="Moderate the image bot"
):
    words = app_commands.Group(name="words", description="Banned words and regexes")
    limits = app_commands.Group(name="limits", description="Quotas, jobs at a time, cooldowns, escalation")
    channels = app_commands.Group(name="channels", description="Where the bot takes jobs")
    accounts = app_commands.Group(name="accounts", description="The image service accounts")

    def __init__(self, bot: ImagineBot) -> None:
        self.bot = bot
        self._audit_queue: asyncio.Queue[AuditEntry] = asyncio.Queue(AUDIT_QUEUE_SIZE)
        self._worker: asyncio.Task[None] | None = None
        super().__init__()

    async def cog_load(self) -> None:
        ModPageButton.cog = self
        self.bot.add_dynamic_items(ModPageButton)
        self.moderation.add_listener(self._queue_audit)
        self._worker = asyncio.create_task(self._audit_worker(), name="audit-channel")

    async def cog_unload(self) -> None:
        self.bot.remove_dynamic_items(ModPageButton)
        if ModPageButton.cog is self:
            ModPageButton.cog = None
        if self._worker is not None:
            self._worker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._worker

    async def interaction_check(self, interaction: discord.Interaction) -> bool:
        state = await self.moderation.guild(interaction.guild_id) if interaction.guild_id else None
        if state is None or not gate.is_moderator(interaction, state):
            raise NotModerator(t(interaction.locale, "reason.not_a_moderator"))
        return True

    @staticmethod
    async def _defer(interaction: discord.Interaction) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)

    # -- banned words ----------------------------------------------------------------------------

    @words.command(name="add", description="Ban a phrase (a trailing * matches longer words) or a regex")
    @app_commands.describe(term="The phrase, or the regex with regex:True", regex="Treat the term as a regex")
    async def words_add(
        self, interaction: discord.Interaction, term: app_commands.Range[str, 1, 200], regex: bool = False
    ) -> None:
        assert interaction.guild_id is not None
        await self._defer(interaction)
        try:
            await self.moderation.add_word(interaction.guild_id, term, is_regex=regex, actor_id=interaction.user.id)
        except InvalidTerm as exc:
            await reply(interaction, t(interaction.locale, "mod.word_not_added", error=exc))
            return
        kind = t(interaction.locale, "mod.kind_regex" if regex else "mod.kind_phrase")
        await reply(interaction, t(interaction.locale, "mod.word_added", kind=kind, term=_code(term)))

    @words.command(name="remove", description="Stop banning a phrase or regex")
    @app_commands.describe(term="The phrase or regex exactly as listed")
    async def words_remove(self, interaction: discord.Interaction, term: app_commands.Range[str, 1, 200]) -> None:
        assert interaction.guild_id is not None
        await self._defer(interaction)
        removed = await self.moderation.remove_word(interaction.guild_id, term, actor_id=interaction.user.id)
        if removed is None:
            await reply(interaction, t(interaction.locale, "mod.word_not_listed", term=_code(term)))
            return
        await reply(interaction, t(interaction.locale, "mod.word_removed", term=_code(term)))

    @words.command(name="list", description="The banned phrases and regexes")
    async def words_list(self, interaction: discord.Interaction) -> None:
        assert interaction.guild_id is not None
        await self._defer(interaction)
        await reply(interaction, words_text(await self.moderation.guild(interaction.guild_id), interaction.locale))

    @words.command(name="test", description="What a prompt would match, without sending it anywhere")
    async def words_test(self, interaction: discord.Interaction, prompt: app_commands.Range[str, 1, 2000]) -> None:
        assert interaction.guild_id is not None
        await self._defer(interaction)
        verdict = await self.moderation.test_prompt(interaction.guild_id, prompt)
        locale = interaction.locale
        if not verdict.blocked:
            await reply(interaction, t(locale, "mod.test_allowed"))
            return
        lines = [t(locale, "mod.test_blocked")]
        for hit in verdict.hits[:15]:
            source = t(locale, "mod.source_builtin" if hit.term.default else "mod.source_server")
            kind = t(locale, "mod.kind_regex" if hit.term.is_regex else "mod.kind_phrase")
            excerpt = quote_prompt(hit.excerpt, 80)
            term_text = code(hit.term.text, 120)
            lines.append(t(locale, "mod.test_hit", kind=kind, term=term_text, source=source, excerpt=excerpt))
        for term in verdict.unchecked[:5]:
            lines.append(t(locale, "mod.test_slow", term=code(term.text, 120)))
        await reply(interaction, "\n".join(lines))

    @words.command(name="defaults", description="Switch the built-in list of banned words on or off")
    async def words_defaults(self, interaction: discord.Interaction, enabled: bool) -> None:
        assert interaction.guild_id is not None
        await self._defer(interaction)
        await self.moderation.update_config(
            interaction.guild_id, actor_id=interaction.user.id, use_default_words=enabled
        )
        await reply(interaction, t(interaction.locale, "mod.defaults_on" if enabled else "mod.defaults_off"))

    # -- sanctions -------------------------------------------------------------------------------

    @app_commands.command(name="ban", description="Block a member from the image bot")
    @app_commands.describe(member="Who", duration="How long, like 30m, 2h, 1d (empty: until lifted)", reason="Why")
    async def ban(
        self,
        interaction: discord.Interaction,
        member: discord.User,
        duration: app_commands.Range[str, 1, 20] | None = None,
        reason: app_commands.Range[str, 1, 300] | None = None,
    ) -> None:
        assert interaction.guild_id is not None
        try:
            length = parse_duration(duration) if duration else None
        except ValueError as exc:
            await refuse(interaction, t(interaction.locale, "mod.bad_duration", detail=str(exc)))
            return
        await self._defer(interaction)
        ban = await self.moderation.ban(
            interaction.guild_id, member.id, actor_id=interaction.user.id, duration=length, reason=reason
        )
        if ban.expires_at:
            text = t(interaction.locale, "mod.banned_until", member=member.id, when=when(ban.expires_at, "f"))
        else:
            text = t(interaction.locale, "mod.banned_until_lifted", member=member.id)
        await reply(interaction, text)

    @app_commands.command(name="unban", description="Lift a member's block")
    async def unban(self, interaction: discord.Interaction, member: discord.User) -> None:
        assert interaction.guild_id is not None
        await self._defer(interaction)
        lifted = await self.moderation.unban(interaction.guild_id, member.id, actor_id=interaction.user.id)
        if lifted is None:
            await reply(interaction, t(interaction.locale, "mod.not_banned", member=member.id))
            return
        await reply(interaction, t(interaction.locale, "mod.unbanned", member=member.id))

    @app_commands.command(name="bans", description="Members blocked from the bot")
    async def bans(self, interaction: discord.Interaction) -> None:
        assert interaction.guild_id is not None
        await self._defer(interaction)
        await reply(interaction, bans_text(await self.moderation.active_bans(interaction.guild_id), interaction.locale))

    # -- limits and policy -----------------------------------------------------------------------

    @limits.command(name="show", description="The limits, channels and policies in force")
    async def limits_show(self, interaction: discord.Interaction) -> None:
        assert interaction.guild_id is not None
        await self._defer(interaction)
        await reply(interaction, limits_text(await self.moderation.guild(interaction.guild_id), interaction.locale))

    @limits.command(name="set", description="Everyone's limits; 0 means no limit")
    @app_commands.describe(
        daily_quota="Images per member per day (UTC)",
        concurrent="Jobs per member running or waiting at once",
        cooldown="Seconds between a member's jobs",
    )
    async def limits_set(
        self,
        interaction: discord.Interaction,
        daily_quota: app_commands.Range[int, 0, 10_000] | None = None,
        concurrent: app_commands.Range[int, 0, 10_000] | None = None,
        cooldown: app_commands.Range[int, 0, 86_400] | None = None,
    ) -> None:
        assert interaction.guild_id is not None
        changes = {
            k: v
            for k, v in {"daily_quota": daily_quota, "max_concurrent": concurrent, "cooldown_s": cooldown}.items()
            if v is not None
        }
        await self._defer(interaction)
        await self.moderation.update_config(interaction.guild_id, actor_id=interaction.user.id, **changes)
        await reply(interaction, limits_text(await self.moderation.guild(interaction.guild_id), interaction.locale))

    @limits.command(name="role", description="Different limits for a role; a member gets their most generous role")
    @app_commands.describe(clear="Remove this role's override")
    async def limits_role(
        self,
        interaction: discord.Interaction,
        role: discord.Role,
        daily_quota: app_commands.Range[int, 0, 10_000] | None = None,
        concurrent: app_commands.Range[int, 0, 10_000] | None = None,
        cooldown: app_commands.Range[int, 0, 86_400] | None = None,
        clear: bool = False,
    ) -> None:
        assert interaction.guild_id is not None
        await self._defer(interaction)
        await self.moderation.set_role_limits(
            interaction.guild_id,
            role.id,
            actor_id=interaction.user.id,
            daily_quota=daily_quota,
            max_concurrent=concurrent,
            cooldown_s=cooldown,
            clear=clear,
        )
        await reply(interaction, limits_text(await self.moderation.guild(interaction.guild_id), interaction.locale))

    @limits.command(name="escalation", description="Blocked prompts in a day before a timed block (0: never)")
    async def limits_escalation(
        self,
        interaction: discord.Interaction,
        blocked_prompts: app_commands.Range[int, 0, 100],
        block_minutes: app_commands.Range[int, 1, 43_200] | None = None,
    ) -> None:
        assert interaction.guild_id is not None
        changes: dict[str, Any] = {"strike_limit": blocked_prompts}
        if block_minutes is not None:
            changes["strike_block_minutes"] = block_minutes
        await self._defer(interaction)
        await self.moderation.update_config(interaction.guild_id, actor_id=interaction.user.id, **changes)
        await reply(interaction, limits_text(await self.moderation.guild(interaction.guild_id), interaction.locale))

    @channels.command(name="allow", description="Take jobs in this channel (once any is allowed, only there)")
    async def channels_allow(self, interaction: discord.Interaction, channel: discord.TextChannel) -> None:
        await self._set_channel(interaction, channel.id, allowed=True)

    @channels.command(name="disallow", description="Stop taking jobs in this channel")
    async def channels_disallow(self, interaction: discord.Interaction, channel: discord.TextChannel) -> None:
        await self._set_channel(interaction, channel.id, allowed=False)

    @channels.command(name="list", description="Where the bot takes jobs")
    async def channels_list(self, interaction: discord.Interaction) -> None:
        assert interaction.guild_id is not None
        await self._defer(interaction)
        state = await self.moderation.guild(interaction.guild_id)
        names = " ".join(f"<#{c}>" for c in sorted(state.channels))
        if names:
            await reply(interaction, t(interaction.locale, "mod.channels_some", channels=names))
        else:
            await reply(interaction, t(interaction.locale, "mod.channels_all"))

    async def _set_channel(self, interaction: discord.Interaction, channel_id: int, *, allowed: bool) -> None:
        assert interaction.guild_id is not None
        await self._defer(interaction)
        changed = await self.moderation.set_channel(
            interaction.guild_id, channel_id, allowed=allowed, actor_id=interaction.user.id
        )
        state = await self.moderation.guild(interaction.guild_id)
        locale = interaction.locale
        names = " ".join(f"<#{c}>" for c in sorted(state.channels)) or t(locale, "mod.every_channel")
        head = t(locale, "mod.saved" if changed else "mod.nothing_to_change")
        await reply(interaction, t(locale, "mod.channels_saved", head=head, channels=names))

    @app_commands.command(name="policy", description="Who may press the buttons under a result")
    @app_commands.choices(
        buttons=[
            app_commands.Choice(name="anyone (like Midjourney)", value="anyone"),
            app_commands.Choice(name="the image's owner and moderators", value="owner"),
        ]
    )
    async def policy(self, interaction: discord.Interaction, buttons: app_commands.Choice[str]) -> None:
        assert interaction.guild_id is not None
        await self._defer(interaction)
        await self.moderation.update_config(
            interaction.guild_id, actor_id=interaction.user.id, button_policy=buttons.value
        )
        policy = t(interaction.locale, f"mod.policy_{buttons.value}")
        await reply(interaction, t(interaction.locale, "mod.policy_set", policy=policy))

    @app_commands.command(name="moderator-role", description="A role that may moderate the bot (empty: none)")
    async def moderator_role(self, interaction: discord.Interaction, role: discord.Role | None = None) -> None:
        assert interaction.guild_id is not None
        await self._defer(interaction)
        await self.moderation.update_config(
            interaction.guild_id, actor_id=interaction.user.id, moderator_role_id=role.id if role else None
        )
        if role:
            await reply(interaction, t(interaction.locale, "mod.role_set", role=role.id))
        else:
            await reply(interaction, t(interaction.locale, "mod.role_cleared"))

    @app_commands.command(name="audit-channel", description="Where every job and moderator action is logged")
    async def audit_channel(self, interaction: discord.Interaction, channel: discord.TextChannel | None = None) -> None:
        assert interaction.guild_id is not None
        await self._defer(interaction)
        await self.moderation.update_config(
            interaction.guild_id, actor_id=interaction.user.id, audit_channel_id=channel.id if channel else None
        )
        if channel:
            await reply(interaction, t(interaction.locale, "mod.audit_on", channel=channel.id))
        else:
            await reply(interaction, t(interaction.locale, "mod.audit_off"))

    @app_commands.command(name="safety", description="Check every image before it is posted: off, spoiler or block")
    @app_commands.describe(
        mode="What to do with a flagged image (default: off for Midjourney, spoiler for other backends)",
        threshold="Flag an image whose score (0 safe to 1) is at least this; default 0.7",
    )
    @app_commands.choices(
        mode=[
            app_commands.Choice(name="off", value="off"),
            app_commands.Choice(name="spoiler (post it behind a spoiler)", value="spoiler"),
            app_commands.Choice(name="block (do not post it)", value="block"),
            app_commands.Choice(name="default (by provider)", value="default"),
        ]
    )
    async def safety(
        self,
        interaction: discord.Interaction,
        mode: app_commands.Choice[str] | None = None,
        threshold: app_commands.Range[float, 0.0, 1.0] | None = None,
    ) -> None:
        assert interaction.guild_id is not None
        changes: dict[str, Any] = {}
        if mode is not None:
            # "default" forgets the server's choice, threshold too (unless one is given with it).
            changes = (
                {"safety_mode": None, "safety_threshold": None}
                if mode.value == "default"
                else {"safety_mode": mode.value}
            )
        if threshold is not None:
            changes["safety_threshold"] = threshold
        await self._defer(interaction)
        if changes:
            try:
                await self.moderation.update_config(interaction.guild_id, actor_id=interaction.user.id, **changes)
            except ValueError as exc:
                await reply(interaction, t(interaction.locale, "mod.not_saved", error=exc))
                return
        state = await self._safety_state(interaction.guild_id, saved=bool(changes), locale=interaction.locale)
        await reply(interaction, state)

    async def _safety_state(self, guild_id: int, *, saved: bool, locale: object = None) -> str:
        runtime = self.bot.runtime
        providers = list(dict.fromkeys(slot.account.provider for slot in self.engine.pool))
        policies = []
        for name in providers:
            probe = Job(id="-", user_id=0, guild_id=guild_id, channel_id=0, provider=name, prompt="")
            policies.append((name, await runtime.safety_policy(probe)))
        text = safety_text(policies, runtime.safety.scorer.name, runtime.safety.ready, locale)
        return (t(locale, "mod.saved") + " " if saved else "") + text

    # -- oversight -------------------------------------------------------------------------------

    @app_commands.command(name="jobs", description="Jobs in this server, newest first")
    @app_commands.choices(status=STATUS_CHOICES)
    async def jobs(
        self,
        interaction: discord.Interaction,
        member: discord.User | None = None,
        status: app_commands.Choice[str] | None = None,
    ) -> None:
        await self._defer(interaction)
        await self._page(interaction, member.id if member else 0, status.value if status else "all", 0, 0)

    async def show_page(
        self, interaction: discord.Interaction, member: int, status: str, page: int, offset: int | None = None
    ) -> None:
        """A page button of /mod jobs: checked again, since the list may outlive a moderator's role."""
        state = await self.moderation.guild(interaction.guild_id) if interaction.guild_id else None
        if not gate.is_moderator(interaction, state):
            await refuse(interaction, t(interaction.locale, "reason.not_a_moderator"))
            return
        await interaction.response.defer()
        await self._page(interaction, member, status, page, offset)

    async def _page(
        self, interaction: discord.Interaction, member: int, status: str, page: int, offset: int | None
    ) -> None:
        locale = interaction.locale
        title = t(locale, "mod.jobs_of", member=member) if member else t(locale, "mod.jobs")
        if status != "all":
            title = t(locale, "mod.jobs_status", title=title, status=t(locale, f"list.{status}"))
        text, next_offset = await job_list(
            self.moderation,
            guild_id=interaction.guild_id,
            user_id=member or None,
            status=None if status == "all" else JobStatus(status),
            title=title,
            show_member=not member,
            page=page,
            offset=offset,
            locale=locale,
        )
        view = pager_view("mod", member, status, page, next_offset=next_offset)
        await interaction.edit_original_response(content=text, view=view, allowed_mentions=NO_MENTIONS)

    @app_commands.command(name="cancel", description="Cancel a queued or running job")
    async def cancel(self, interaction: discord.Interaction, job: app_commands.Range[str, 1, 64]) -> None:
        await self._defer(interaction)
        found = await self._job_here(interaction, job)
        if found is None:
            return
        ended = await self.engine.cancel(found.id, ErrorReason.CANCELLED_BY_MODERATOR)
        if ended is None:
            status = t(interaction.locale, f"list.{found.status.value}")
            await reply(interaction, t(interaction.locale, "mod.already_ended", id=found.id, status=status))
            return
        await self.moderation.record(
            found.guild_id or 0,
            interaction.user.id,
            AuditAction.JOB_CANCELLED,
            target_user_id=found.user_id,
            job_id=found.id,
        )
        # At the provider too, where it offers that, so the job stops costing (issue 11).
        stopped = await self.engine.cancel_at_provider(ended)
        text = t(interaction.locale, "mod.cancelled", id=found.id, member=found.user_id)
        if stopped is not None:
            text += " " + t(interaction.locale, "mod.stopped_at_provider" if stopped else "mod.not_stopped_at_provider")
        await reply(interaction, text)

    @app_commands.command(name="delete", description="Delete a job's message from the channel, with a reason")
    async def delete(
        self,
        interaction: discord.Interaction,
        job: app_commands.Range[str, 1, 64],
        reason: app_commands.Range[str, 1, 300] | None = None,
    ) -> None:
        await self._defer(interaction)
        found = await self._job_here(interaction, job)
        if found is None:
            return
        if not found.terminal:
            await self.engine.cancel(found.id, ErrorReason.CANCELLED_BY_MODERATOR)
        gone = "deleted"
        if found.message_id is not None:
            message = self.bot.get_partial_messageable(found.channel_id, guild_id=found.guild_id).get_partial_message(
                found.message_id
            )
            try:
                await message.delete()
            except discord.NotFound:
                gone = "already gone"
            except discord.HTTPException as exc:
                await reply(interaction, t(interaction.locale, "mod.delete_refused", status=exc.status))
                return
        else:
            gone = "never posted"
        await self.moderation.record(
            found.guild_id or 0,
            interaction.user.id,
            AuditAction.JOB_DELETED,
            target_user_id=found.user_id,
            job_id=found.id,
            detail={"reason": reason, "message": gone},
        )
        # ``gone`` is also the audit entry's stored detail, so it stays English; the reply is translated.
        await reply(interaction, t(interaction.locale, f"mod.deleted.{gone.replace(' ', '_')}", id=found.id))

    async def _job_here(self, interaction: discord.Interaction, text: str) -> Any:
        job_id = parse_job_id(text)
        found = await self.engine.get(job_id) if job_id else None
        if found is None or found.guild_id != interaction.guild_id:
            await reply(interaction, t(interaction.locale, "job.none"))
            return None
        return found

    @app_commands.command(name="stats", description="Jobs, failures and usage per member")
    async def stats(self, interaction: discord.Interaction, days: app_commands.Range[int, 1, 90] = 7) -> None:
        assert interaction.guild_id is not None
        await self._defer(interaction)
        stats = await self.moderation.stats(interaction.guild_id, utcnow() - dt.timedelta(days=days))
        await reply(interaction, stats_text(stats, days, self.engine.provider_submits, interaction.locale))

    # -- provider accounts -----------------------------------------------------------------------

    @accounts.command(name="list", description="The image service accounts, and which are paused")
    async def accounts_list(self, interaction: discord.Interaction) -> None:
        locale = interaction.locale
        lines = [t(locale, "mod.accounts_title")]
        for slot in self.engine.pool:
            account = slot.account
            if slot.paused:
                why = t(locale, f"reason.{slot.paused.value}")
                state = t(locale, "mod.account_paused", why=why)
                if slot.pause_detail:
                    state += f" ({quote_prompt(slot.pause_detail, 200)})"
            else:
                state = t(locale, "mod.account_active", used=slot.in_use, slots=account.max_jobs)
            lines.append(f"- `{account.provider}/{account.name}` · {state}")
        if len(lines) == 1:
            lines.append(t(locale, "mod.accounts_none"))
        paused = sum(1 for slot in self.engine.pool if slot.paused)
        lines.append(t(locale, "mod.accounts_footer", paused=paused))
        await reply(interaction, "\n".join(lines)[:2000])

    @accounts.command(name="reset", description="Put a paused account back in service (after fixing its cause)")
    @app_commands.describe(account="As listed: provider/name")
    async def accounts_reset(self, interaction: discord.Interaction, account: app_commands.Range[str, 3, 130]) -> None:
        assert interaction.guild_id is not None
        provider, _, name = account.strip().strip("`").partition("/")
        if self.engine.pool.provider(provider, name) is None:
            await refuse(interaction, t(interaction.locale, "mod.account_unknown", account=_code(account)))
            return
        await self._defer(interaction)
        if not await self.engine.resume_account(provider, name):
            await reply(interaction, t(interaction.locale, "mod.account_not_paused", account=f"{provider}/{name}"))
            return
        await self.moderation.record(
            interaction.guild_id,
            interaction.user.id,
            AuditAction.ACCOUNT_RESET,
            detail={"account": f"{provider}/{name}"},
        )
        await reply(interaction, t(interaction.locale, "mod.account_reset", account=f"{provider}/{name}"))

    # -- the audit channel -------------------------------------------------------------------------

    @commands.Cog.listener("on_job_event")
    async def record_job_end(self, event: JobEvent) -> None:
        if event.kind is JobEventKind.FINISHED and event.job.guild_id is not None:
            try:
                await self.moderation.record_job_end(event.job)
            except StoreError:
                _log.warning("could not record the end of job %s in the audit trail", event.job.id)

    def _queue_audit(self, entry: AuditEntry) -> None:
        try:
            self._audit_queue.put_nowait(entry)
        except asyncio.QueueFull:
            _log.warning("audit channel queue is full; dropping entry %d", entry.id)

    async def _audit_worker(self) -> None:
        while True:
            entry = await self._audit_queue.get()
            try:
                state = await self.moderation.guild(entry.guild_id)
                channel_id = state.config.audit_channel_id
                if channel_id is None:
                    continue
                channel = self.bot.get_partial_messageable(channel_id, guild_id=entry.guild_id)
                # A public post, so in the server's language, as job messages are.
                guild = self.bot.get_guild(entry.guild_id)
                locale = guild.preferred_locale if guild is not None else None
                await channel.send(audit_text(entry, locale), allowed_mentions=NO_MENTIONS)
            except asyncio.CancelledError:
                raise
            except discord.HTTPException as exc:
                _log.warning("could not post to the audit channel: %s %s", exc.status, exc.code)
            except Exception:
                _log.exception("audit channel worker failed on entry %d", entry.id)


def _code(text: str) -> str:
    return code(text)


async def setup(bot: ImagineBot) -> None:
    await bot.add_cog(ModerationCog(bot))
