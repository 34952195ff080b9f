"""Vary (Region) (issue 11): the button answers with a private, signed, one-time link to the bot's own editor
page; the page's Submit comes back here (this extension is the editor's frontend, ``bot.core.editor``).

Pressing the button runs the checks of any press (the gate, the server's button policy, the picture's
prompt against today's word list, the member's limits) and answers privately: the link, or how to give the
bot a public address when it has none. Submit moderates and parses the edited prompt as a Remix prompt
would be, posts the new job's public message in the channel and stores the job in the transaction that
uses the link up. A refusal at any step posts nothing and leaves the link unused.

A crash between posting that message and storing the job would leave a message promising a job nobody
made. So a note (``editor:posting:<job id>`` in the bot's state) is written before the post and removed
once the job is stored or the message withdrawn; the next start finds a note whose job does not exist and
says on its message that the job was not started (nothing was sent, nothing counted, the link unused).

Why a channel message (the bot's token) rather than a followup on the press's interaction: the member may
paint for longer than the press's 15-minute token lives, nothing secret need be kept for the link, and
every job past 15 minutes is already edited by that route. The job is then stored like any other (with
its message id, no token), so it survives a restart and is never submitted twice, and the audit channel
records it from the engine's events as it does every job.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import logging
import re
import secrets
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar

import discord
from discord.ext import commands

from bot.core.editor import PAGE_KEYS, EditorSubmission, EditorVerdict, LinkProblem, offers_vary_region
from bot.core.errors import InputError
from bot.core.models import MASK_PARAM, Action, ErrorReason, Job, JobStatus
from bot.core.moderation import ButtonPolicy, Refusal
from bot.core.prompt import parse_prompt
from bot.ui import gate
from bot.ui.buttons import REGION_TEMPLATE, job_button
from bot.ui.i18n import t
from bot.ui.render import NO_MENTIONS, job_content, job_link, reason_text
from bot.ui.replies import refuse, reply
from bot.ui.texts import ban_text, blocked_text, channel_pointer, input_text, refusal_text
from cogs._runtime import RuntimeAccess

if TYPE_CHECKING:
    from bot.ui.client import ImagineBot

_log = logging.getLogger(__name__)

# Discord markdown in the texts shared with Discord replies, dropped where the page shows them as plain text.
_MARKDOWN = re.compile(r"\*\*|`")
# The note of a job's message posted but the job not stored yet; found by the next start if a crash cut it.
_POSTING = "editor:posting:"
# A note this old was left by a crash (a submit takes well under a second between post and store); younger
# ones may be another process's submit in flight, so they are looked at again this much later.
ORPHAN_AFTER_S = 60.0


def _plain(text: str) -> str:
    return _MARKDOWN.sub("", text)


class RegionButton(discord.ui.DynamicItem[discord.ui.Button[Any]], template=REGION_TEMPLATE):
    """A press of Vary (Region) (drawn by :mod:`bot.ui.buttons`), handed to :meth:`Region.pressed`."""

    cog: ClassVar[Region | None] = None

    def __init__(self, job_id: str) -> None:
        super().__init__(job_button(job_id, Action.VARY_REGION))
        self.job_id = job_id

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Item[Any], match: re.Match[str]
    ) -> RegionButton:
        return cls(match["job"])

    async def callback(self, interaction: discord.Interaction) -> None:
        if self.cog is None:
            await interaction.response.send_message(t(interaction.locale, "verb.not_offered"), ephemeral=True)
            return
        await self.cog.pressed(interaction, self.job_id)


class Region(RuntimeAccess, commands.Cog):
    def __init__(self, bot: ImagineBot) -> None:
        self.bot = bot
        self._sweeper: asyncio.Task[None] | None = None

    async def cog_load(self) -> None:
        RegionButton.cog = self
        self.bot.add_dynamic_items(RegionButton)
        self.bot.runtime.editor.frontend = self
        self._sweeper = asyncio.create_task(self._sweep_twice(), name="editor-orphans")

    async def cog_unload(self) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sweeper
        self.bot.remove_dynamic_items(RegionButton)
        if RegionButton.cog is self:
            RegionButton.cog = None
        if self.bot.runtime.editor.frontend is self:
            self.bot.runtime.editor.frontend = None

    # -- the button --------------------------------------------------------------------------------

    async def pressed(self, interaction: discord.Interaction, job_id: str) -> None:
        state = await gate.guard(self.bot, interaction)
        if state is None:
            return
        locale = interaction.locale
        parent = await self.engine.get(job_id)
        if parent is None or parent.guild_id != interaction.guild_id:
            await refuse(interaction, t(locale, "imagine.unknown_image"))
            return
        owner_only = state.config.button_policy is ButtonPolicy.OWNER
        if owner_only and not gate.is_moderator(interaction, state) and parent.user_id != interaction.user.id:
            await refuse(interaction, reason_text(ErrorReason.BUTTON_RESTRICTED, locale))
            return
        if not offers_vary_region(parent, self.engine.verbs_for(parent)):
            await refuse(interaction, t(locale, "verb.not_offered"))  # a stale button: not offered (any more)
            return
        if not await gate.prompt_allowed(self.bot, interaction, state, parent.prompt, strike=False):
            return  # a word banned since the picture was made
        # The member's limits now, so nobody paints for a job they cannot start; checked again at Submit.
        probe = parent.model_copy(
            update={"id": secrets.token_hex(8), "parent_id": parent.id, "action": Action.VARY_REGION,
                    "user_id": interaction.user.id, "status": JobStatus.QUEUED}
        )  # fmt: skip
        try:
            await self.moderation.admitter(gate.role_ids(interaction.user))(probe)
        except Refusal as exc:
            await refuse(interaction, refusal_text(exc, locale))
            return
        editor = self.bot.runtime.editor
        if not editor.available:
            await refuse(interaction, t(locale, "region.no_url"))
            return
        link = editor.link(
            member_id=interaction.user.id,
            job_id=parent.id,
            channel_id=interaction.channel_id or parent.channel_id,
            guild_id=interaction.guild_id,
            locale=str(locale.value) if isinstance(locale, discord.Locale) else str(locale or "") or None,
        )
        expires = int(discord.utils.utcnow().timestamp() + editor.links.ttl_s)
        await reply(interaction, t(locale, "region.link", link=link, expires=expires))

    # -- the editor's frontend (bot.core.editor.EditorFrontend) -------------------------------------

    def texts(self, locale: str | None) -> Mapping[str, str]:
        return {key: t(locale, key) for key in PAGE_KEYS}

    async def submit(self, submission: EditorSubmission) -> EditorVerdict:
        """Moderate and parse the prompt, post the job's message, store the job (using the link up)."""
        claims, parent, locale = submission.claims, submission.parent, submission.claims.locale
        if claims.guild_id is None:
            return EditorVerdict(False, _plain(t(locale, "gate.servers_only")))
        try:
            member = await self.bot.http.get_member(claims.guild_id, claims.member_id)
        except discord.NotFound:
            return EditorVerdict(False, t(locale, "region.no_member"))
        roles = [int(r) for r in member.get("roles", [])]
        state = await self.moderation.guild(claims.guild_id)
        if not state.channel_allowed(claims.channel_id, parent.channel_id):
            return EditorVerdict(False, _plain(channel_pointer(state, locale)))
        ban = state.ban_for(claims.member_id)
        if ban is not None:
            return EditorVerdict(False, _plain(ban_text(ban, locale)))
        verdict = state.filter.check(parent.prompt)
        if verdict.blocked:
            return EditorVerdict(False, _plain(blocked_text(verdict, None, locale)))
        prompt = submission.prompt or parent.prompt
        verdict = state.filter.check(prompt)
        if verdict.blocked:
            # Counted like a blocked /imagine or Remix prompt.
            outcome = await self.moderation.record_block(claims.guild_id, claims.member_id, verdict, prompt)
            return EditorVerdict(False, _plain(blocked_text(verdict, outcome, locale)))
        try:
            edited = parse_prompt(prompt)
        except InputError as exc:
            return EditorVerdict(False, _plain(input_text(exc, locale)))
        params: dict[str, Any] = {**edited.params, "remix": True}
        if "ar" in parent.params and "ar" not in params:
            params["ar"] = parent.params["ar"]
        params[MASK_PARAM] = base64.b64encode(submission.mask_png).decode("ascii")
        child = Job(
            id=secrets.token_hex(8),
            user_id=claims.member_id,
            guild_id=claims.guild_id,
            channel_id=claims.channel_id,
            provider=parent.provider,
            account=parent.account,  # a press belongs to the account of the picture it acts on
            parent_id=parent.id,
            action=Action.VARY_REGION,
            status=JobStatus.QUEUED,
            prompt=prompt,
            prompt_final=edited.final(include_images=False),
            params=params,
            image_urls_in=parent.image_urls_in,
            upload_limit=parent.upload_limit,
            locale=parent.locale,
        )
        store = self.bot.runtime.store
        note = {"channel": claims.channel_id, "guild": claims.guild_id, "message": None, "at": time.time(),
                "locale": parent.locale}  # fmt: skip
        await store.set_state(_POSTING + child.id, json.dumps(note))
        channel = self.bot.get_partial_messageable(claims.channel_id, guild_id=claims.guild_id)
        try:
            message = await channel.send(job_content(child), allowed_mentions=NO_MENTIONS)
        except BaseException:
            await self._forget(child.id)
            raise
        child.message_id = message.id
        await store.set_state(_POSTING + child.id, json.dumps(note | {"message": message.id}))
        admit_member = self.moderation.admitter(roles)

        async def admit(job: Job) -> None:
            await submission.consume(job.id)  # the link is used up in the job's own transaction
            await admit_member(job)

        try:
            await self.engine.submit_child(child, admit=admit)
        except (Refusal, LinkProblem) as exc:
            await _delete_quietly(message)
            await self._forget(child.id)
            if isinstance(exc, LinkProblem):
                raise
            return EditorVerdict(False, _plain(refusal_text(exc, locale)))
        except Exception:
            await _delete_quietly(message)
            await self._forget(child.id)
            raise
        await self._forget(child.id)
        _log.info("Vary (Region) job %s from the editor, on job %s", child.id, parent.id)
        return EditorVerdict(True, t(locale, "region.made"), job_link(child))

    # -- messages a crash left without their job ------------------------------------------------------

    async def _forget(self, job_id: str) -> None:
        await self.bot.runtime.store.execute("DELETE FROM bot_state WHERE key = ?", (_POSTING + job_id,))

    async def _sweep_twice(self) -> None:
        """At start, and once more when the notes young at start are old enough to judge."""
        try:
            await self.sweep()
            await asyncio.sleep(ORPHAN_AFTER_S)
            await self.sweep()
        except asyncio.CancelledError:
            raise
        except Exception:
            _log.exception("could not look for Vary (Region) messages left by a crash")

    async def sweep(self, older_than: float = ORPHAN_AFTER_S) -> int:
        """Say on each message a crash left without its job that it was not started; how many were found."""
        store = self.bot.runtime.store
        rows = await store.fetchall("SELECT key, value FROM bot_state WHERE key LIKE ?", (_POSTING + "%",))
        found = 0
        for row in rows:
            job_id = str(row[0])[len(_POSTING) :]
            try:
                note = json.loads(str(row[1]))
                if time.time() - float(note["at"]) < older_than:
                    continue
            except (ValueError, KeyError, TypeError):
                note = {}
            if await self.engine.get(job_id) is not None:
                await self._forget(job_id)  # stored after all: the engine shows it on its message
                continue
            if note.get("message"):
                partial = self.bot.get_partial_messageable(int(note["channel"]), guild_id=note.get("guild"))
                try:
                    await partial.get_partial_message(int(note["message"])).edit(
                        content=t(note.get("locale"), "region.not_started"), allowed_mentions=NO_MENTIONS
                    )
                except discord.NotFound:
                    pass  # deleted meanwhile: nothing to explain
                except discord.HTTPException as exc:
                    _log.info("could not explain the message of job %s yet: %s", job_id, exc.status)
                    continue  # the next start tries again
            found += 1
            await self._forget(job_id)
        return found


async def _delete_quietly(message: discord.Message) -> None:
    try:
        await message.delete()
    except discord.HTTPException as exc:
        _log.warning("could not remove the message of a Vary (Region) job that was not made: %s", exc.status)


async def setup(bot: ImagineBot) -> None:
    await bot.add_cog(Region(bot))
