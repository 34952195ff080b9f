"""/imagine and the job buttons: parse, record, defer, hand the job to the engine, return.

Between the defer (a public "thinking…" message) and the stored job there is a moment in which a crash
would leave that message thinking forever: nothing in the database knows about it. So every interaction
is noted in an :class:`InteractionLedger` before it is deferred, and the note is removed once the job is
stored or the member has their answer. The next start finds the notes of the interactions a crash cut
off and explains each on its message (see :meth:`Imagine.settle_left_over`). With several processes on
PostgreSQL the notes are rows of a table instead (:mod:`bot.core.ledger`), and the process that takes a
dead one's jobs over explains its notes.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime as dt
import json
import logging
import os
import re
import secrets
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import aiohttp
import discord
from discord import app_commands
from discord.ext import commands

from bot.core import crashpoints
from bot.core.errors import InputError
from bot.core.ledger import SharedLedger
from bot.core.models import MASK_PARAM, VIDEO_ACTION_VERBS, Action, ErrorReason, Job, JobStatus, Verb, utcnow
from bot.core.moderation import ButtonPolicy, Refusal
from bot.core.netguard import MAX_IMAGE_BYTES, ImageGuard
from bot.core.prompt import ASPECT_CHOICES, IMAGE_EXTENSIONS, MAX_PROMPT_LENGTH, parse_prompt
from bot.ui import gate
from bot.ui.buttons import JOB_BUTTON_TEMPLATE, PROMPT_MODAL_TEMPLATE, job_button, prompt_modal_id
from bot.ui.i18n import t
from bot.ui.render import NO_MENTIONS, action_title, job_link, quote_prompt, reason_text, result_actions
from bot.ui.replies import refuse, report_failure
from bot.ui.texts import input_text, refusal_text
from cogs._runtime import RuntimeAccess

if TYPE_CHECKING:
    from bot.ui.client import ImagineBot

_log = logging.getLogger(__name__)

# The prompt option's length as registered: the bot's own limit, so Discord's box (and the playground's)
# stops there. The parser still says the limit when a member's /settings suffix takes a prompt past it.
MAX_OPTION_LENGTH = MAX_PROMPT_LENGTH
IMAGE_CONTENT_TYPES = frozenset({"image/png", "image/jpeg", "image/gif", "image/webp"})
# A reference image larger than this is refused before any provider sees it (the image guard's own cap).
MAX_REFERENCE_BYTES = MAX_IMAGE_BYTES
# What a "thinking…" message left by a crash says after the restart. True in every case it is shown: no
# job was stored for it, so nothing was sent to an image service and nothing counts against a quota.
NOT_STARTED = (
    "❌ **Not started:** The bot restarted before it could start this request. Nothing was sent to the"
    " image service and it does not count against your quota. Please try again."
)
# How often, and how far apart, explaining a left-over interaction is tried before the next start.
SETTLE_RETRY_DELAYS = (1.0, 3.0, 10.0)
# The interaction ledger is cut down to its open notes once it has grown past this.
LEDGER_COMPACT_BYTES = 1 << 20


def new_job_id() -> str:
    return secrets.token_hex(8)


def check_reference(image: discord.Attachment) -> None:
    content_type = (image.content_type or "").split(";")[0].strip().lower()
    if content_type not in IMAGE_CONTENT_TYPES and not image.filename.lower().endswith(IMAGE_EXTENSIONS):
        raise InputError(ErrorReason.INVALID_IMAGE, "The image must be a PNG, JPEG, GIF or WebP file.")
    if image.size > MAX_REFERENCE_BYTES:
        raise InputError(ErrorReason.INVALID_IMAGE, "The image is larger than 10 MB.")


@dataclasses.dataclass(frozen=True, slots=True)
class PendingInteraction:
    """An /imagine or a press about to be deferred, with what the next start needs to reach its message."""

    job_id: str
    token: str
    expires_at: dt.datetime
    user_id: int
    action: Action
    prompt: str | None = None
    parent_id: str | None = None

    @classmethod
    def of(
        cls,
        interaction: discord.Interaction,
        job_id: str,
        action: Action,
        *,
        prompt: str | None = None,
        parent_id: str | None = None,
    ) -> PendingInteraction:
        return cls(job_id, interaction.token, interaction.expires_at, interaction.user.id, action, prompt, parent_id)

    def to_dict(self) -> dict[str, Any]:
        # By hand: dataclasses.asdict deep-copies, ten times the cost, and this runs before every defer.
        return {
            "job_id": self.job_id,
            "token": self.token,
            "expires_at": self.expires_at.isoformat(),
            "user_id": self.user_id,
            "action": self.action.value,
            "prompt": self.prompt,
            "parent_id": self.parent_id,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PendingInteraction:
        """Raises ValueError, KeyError or TypeError for anything but a whole note."""
        return cls(
            job_id=str(data["job_id"]),
            token=str(data["token"]),
            expires_at=dt.datetime.fromisoformat(data["expires_at"]),
            user_id=int(data["user_id"]),
            action=Action(data["action"]),
            prompt=data.get("prompt"),
            parent_id=data.get("parent_id"),
        )


class InteractionLedger:
    """Interactions acknowledged (or about to be) whose job is not stored yet, in an append-only file.

    A note is written before the defer, and the acknowledgement must not wait on the database: another
    process may hold its lock for seconds, and Discord allows 3. Appending a line to a file kept open
    takes microseconds and needs no lock (creating a file per note costs about a millisecond here).
    Lines are ``{"open": note}`` and ``{"done": job_id}``; what is open at a start is what the last run
    did not see through. Nothing is fsynced: a killed process loses nothing the kernel already has, and a
    power cut loses at most what SQLite's own NORMAL sync would lose of the jobs. The notes hold
    interaction tokens, so only the bot's user may read the file.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None
        # The lines of the notes still open, by job id: all a compaction keeps.
        self._open: dict[str, bytes] = {}
        self._size = 0

    def open(self) -> list[PendingInteraction]:
        """The notes the last run left open; the file is cut down to them and appended to from now on.

        Call before any interaction arrives.
        """
        left: dict[str, bytes] = {}
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            raw = b""
        for line in raw.splitlines():
            try:
                entry = json.loads(line)
            except ValueError:
                # Cut off by the kill as it was written, which is before the defer: nothing was posted.
                continue
            if isinstance(entry, dict) and isinstance(entry.get("open"), dict):
                left[str(entry["open"].get("job_id"))] = line + b"\n"
            elif isinstance(entry, dict) and "done" in entry:
                left.pop(str(entry["done"]), None)
        notes = []
        for job_id, line in list(left.items()):
            try:
                notes.append(PendingInteraction.from_dict(json.loads(line)["open"]))
            except (ValueError, KeyError, TypeError):
                del left[job_id]
        self._open = left
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._rewrite()
        return notes

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    @contextlib.contextmanager
    def pending(self, note: PendingInteraction) -> Iterator[None]:
        """Note the interaction for the block, which defers it and stores its job (or answers it).

        The note is closed once the block ends, normally or by an error (the command tree's error handler
        answers the member then). A cancellation leaves it open: a stopping bot may leave the member's
        message thinking, and the next start explains it.
        """
        line = json.dumps({"open": note.to_dict()}, ensure_ascii=False).encode() + b"\n"
        self._append(line)
        self._open[note.job_id] = line
        try:
            yield
        except Exception:
            self.done(note.job_id)
            raise
        self.done(note.job_id)

    def done(self, job_id: str) -> None:
        """The interaction is seen through: its job is stored, or its member has their answer."""
        if self._open.pop(job_id, None) is None:
            return
        self._append(json.dumps({"done": job_id}).encode() + b"\n")
        if self._size > LEDGER_COMPACT_BYTES:
            self._rewrite()

    def _append(self, line: bytes) -> None:
        if self._fd is None:
            return
        try:
            # One write of a whole line, with O_APPEND: a kill leaves it whole or absent (or cut, see open()).
            os.write(self._fd, line)
        except OSError as exc:
            # The request goes on unrecorded: only a crash in the next moments would leave it thinking.
            _log.warning("could not write to the interaction ledger: %s", exc)
            return
        self._size += len(line)

    def _rewrite(self) -> None:
        """Replace the file by the open notes alone, atomically, and append to the new one."""
        self.close()
        data = b"".join(self._open.values())
        spare = self.path.with_name(self.path.name + ".new")
        try:
            fd = os.open(spare, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            try:
                os.write(fd, data)
            finally:
                os.close(fd)
            os.replace(spare, self.path)
            self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND, 0o600)
        except OSError as exc:
            _log.warning("the interaction ledger %s cannot be written: %s", self.path, exc)
            return
        self._size = len(data)


class JobButton(discord.ui.DynamicItem[discord.ui.Button[Any]], template=JOB_BUTTON_TEMPLATE):
    """A press of a job button (drawn by :mod:`bot.ui.buttons`), handed to :meth:`Imagine.press`."""

    # discord.py registers the class and makes an instance per press, so the cog is reached through the
    # class: Imagine.cog_load sets it, cog_unload clears it. One bot, and so one such cog, per process.
    cog: ClassVar[Imagine | None] = None

    def __init__(self, job_id: str, action: Action) -> None:
        super().__init__(job_button(job_id, action))
        self.job_id = job_id
        self.action = action

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Item[Any], match: re.Match[str]
    ) -> JobButton:
        # Runs inside Discord's 3-second window: parse only, no I/O.
        return cls(match["job"], Action(match["action"]))

    async def callback(self, interaction: discord.Interaction) -> None:
        cog = self.cog
        if cog is None:
            await interaction.response.send_message(t(interaction.locale, "off.imagine"), ephemeral=True)
            return
        await cog.press(interaction, self.job_id, self.action)


# Presses that open the prompt for editing first when the member's Remix is on (Midjourney's remix mode).
REMIX_ACTIONS = frozenset(
    {Action.V1, Action.V2, Action.V3, Action.V4, Action.VARY_STRONG, Action.VARY_SUBTLE, Action.REROLL,
     Action.PAN_LEFT, Action.PAN_RIGHT, Action.PAN_UP, Action.PAN_DOWN}
)  # fmt: skip
# A modal's text box holds at most this much (Discord's limit); our prompts stop far below it.
MODAL_TEXT_LIMIT = 4000
# Custom Zoom's range: Midjourney takes a zoom out above 1 and up to 2 (mj-verbs.md §1.4).
MIN_ZOOM, MAX_ZOOM = 1.0, 2.0
_PROMPT_MODAL = re.compile(PROMPT_MODAL_TEMPLATE)


class PromptModal(discord.ui.Modal):
    """Remix's prompt box, and Custom Zoom's zoom and prompt, as sent to the member.

    Only drawn here: its custom_id names the job and the press (``bot.ui.buttons.prompt_modal_id``), and the
    submit is answered by :meth:`Imagine.on_interaction` from that id and the values alone, in whichever
    process receives it. So a box opened before a restart still makes its job after it; discord.py is
    never given the modal to keep (it would hold its callback in this process's memory only).
    """

    def __init__(self, job_id: str, action: Action, prompt: str, locale: object) -> None:
        zoom = action is Action.CUSTOM_ZOOM
        super().__init__(
            title=t(locale, "zoom.title" if zoom else "remix.title"), custom_id=prompt_modal_id(job_id, action)
        )
        if zoom:
            self.add_item(
                discord.ui.TextInput(label=t(locale, "zoom.value"), default="2", max_length=4, custom_id="zoom")
            )
        self.add_item(
            discord.ui.TextInput(
                label=t(locale, "remix.prompt"), style=discord.TextStyle.paragraph, default=prompt[:MODAL_TEXT_LIMIT],
                max_length=MODAL_TEXT_LIMIT, custom_id="prompt",
            )
        )  # fmt: skip
        # Finished before it is sent, so discord.py does not store it: every submit takes the one path above.
        self.stop()


def modal_values(data: Any) -> dict[str, str]:
    """The text inputs of a modal submit by custom_id: rows of inputs, or labels wrapping one each."""
    values: dict[str, str] = {}
    stack = [data]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            if isinstance(item.get("custom_id"), str) and isinstance(item.get("value"), str):
                values[item["custom_id"]] = item["value"]
            stack.extend(v for k, v in item.items() if k in ("components", "component"))
        elif isinstance(item, list):
            stack.extend(item)
    return values


class Imagine(RuntimeAccess, commands.Cog):
    def __init__(self, bot: ImagineBot) -> None:
        self.bot = bot
        # Uploads served by the configured Discord are trusted; links typed into a prompt never are.
        self.images = ImageGuard.for_discord(bot.settings.discord_api_base)
        self.ledger = InteractionLedger(bot.settings.data_dir / "interactions.jsonl")
        self._settling: asyncio.Task[None] | None = None
        # Several processes on PostgreSQL: the notes live in the database, where the process that takes a
        # dead one's jobs over finds them too (bot.core.ledger); the file serves one process alone.
        cluster = bot.runtime.cluster
        self.shared = SharedLedger(bot.runtime.store, cluster.id) if cluster is not None else None
        self._settlings: set[asyncio.Task[None]] = set()

    async def cog_load(self) -> None:
        JobButton.cog = self
        self.bot.add_dynamic_items(JobButton)
        if self.shared is not None and self.bot.runtime.cluster is not None:
            # A dead process's notes (this one's earlier run among them) come with its takeover.
            self.bot.runtime.cluster.on_interactions_left = self._taken_over
            return
        # Loaded before the gateway connects, so every open note found now is from an earlier run.
        left_over = self.ledger.open()
        if left_over:
            self._settling = asyncio.create_task(self.settle_left_over(left_over), name="interactions-left-over")

    async def cog_unload(self) -> None:
        self.bot.remove_dynamic_items(JobButton)
        if JobButton.cog is self:
            JobButton.cog = None
        for task in (self._settling, *self._settlings):
            if task is not None:
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
        self.ledger.close()
        if self.shared is not None:
            if (
                self.bot.runtime.cluster is not None
                and self.bot.runtime.cluster.on_interactions_left == self._taken_over
            ):
                self.bot.runtime.cluster.on_interactions_left = None
            await self.shared.close()

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
            await refuse(interaction, input_text(exc, interaction.locale))
            return
        job_id = new_job_id()
        async with self._pending(PendingInteraction.of(interaction, job_id, Action.IMAGINE, prompt=prompt)):
            response = await interaction.response.defer(thinking=True)
            crashpoints.reached("after_defer")
            # Answered: the rest (the job's store transaction) waits while others are still to be answered.
            self.engine.work.answered(interaction.id)
            await self.engine.work.answers_first()
            try:
                # Name lookups take a moment, so they run after the defer; a refusal still reaches only the member.
                for link in parsed.image_urls:
                    await self.images.check_link(link)
                if image is not None:
                    await self.images.check_upload(image.url)
            except InputError as exc:
                _log.info("refused an image link of member %s: %s", interaction.user.id, getattr(exc, "why", exc))
                await refuse(interaction, input_text(exc, interaction.locale))
                return
            message_id = await _response_message_id(interaction, response)
            job = Job(
                id=job_id,
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
                locale=_server_locale(interaction),
            )
            try:
                await self.engine.submit(job, admit=self.moderation.admitter(gate.role_ids(interaction.user)))
            except Refusal as exc:
                await refuse(interaction, refusal_text(exc, interaction.locale))

    async def press(
        self,
        interaction: discord.Interaction,
        job_id: str,
        action: Action,
        *,
        remix: str | None = None,
        zoom: float | None = None,
    ) -> None:
        """A job button was pressed: make the child job, which gets a message of its own.

        ``remix`` is the prompt the member edited in the Remix (or Custom Zoom) box, ``zoom`` Custom Zoom's
        factor; a press that should open that box opens it here and comes back with them.
        """
        state = await gate.guard(self.bot, interaction)
        if state is None:
            return
        if state.config.button_policy is ButtonPolicy.OWNER and not gate.is_moderator(interaction, state):
            # One lookup by key before deferring, so a refusal stays private.
            owner = await self.engine.get(job_id)
            if owner is not None and owner.user_id != interaction.user.id:
                await refuse(interaction, reason_text(ErrorReason.BUTTON_RESTRICTED, interaction.locale))
                return
        # Answered before anything else, within Discord's 3 s: a modal must be the first response.
        boxed = remix is None and (action in REMIX_ACTIONS or action is Action.CUSTOM_ZOOM)
        if boxed and await self._open_prompt_box(interaction, job_id, action):
            return
        child_id = new_job_id()
        async with self._pending(PendingInteraction.of(interaction, child_id, action, parent_id=job_id)):
            response = await interaction.response.defer(thinking=True)
            crashpoints.reached("after_defer")
            self.engine.work.answered(interaction.id)  # as in imagine()
            await self.engine.work.answers_first()
            parent = await self.engine.get(job_id)
            if parent is None:
                await refuse(interaction, t(interaction.locale, "imagine.unknown_image"))
                return
            if not await gate.prompt_allowed(self.bot, interaction, state, parent.prompt, strike=False):
                return  # a word banned since the image was made
            edited = None
            if remix is not None:
                # The member's new words are moderated like a new /imagine's, before any provider sees them.
                if not await gate.prompt_allowed(self.bot, interaction, state, remix):
                    return
                try:
                    edited = parse_prompt(remix)
                except InputError as exc:
                    await refuse(interaction, input_text(exc, interaction.locale))
                    return
            if action not in result_actions(parent):
                await refuse(interaction, t(interaction.locale, "imagine.button_unavailable"))
                return
            # A verb's press (or a Custom Zoom box submitted after a restart) where the provider no longer offers it.
            needed = VIDEO_ACTION_VERBS.get(action) or (Verb.CUSTOM_ZOOM if action is Action.CUSTOM_ZOOM else None)
            if needed is not None and needed not in self.engine.verbs_for(parent):
                await refuse(interaction, t(interaction.locale, "verb.not_offered"))
                return
            # 🔄 on a job that ended not knowing whether the provider made it sends that job again, as a new
            # job of its own (the member's choice; the bot never resends on a guess). One retry per job.
            retry = parent.status is not JobStatus.COMPLETED
            if retry:
                action = parent.action
            message_id = await _response_message_id(interaction, response)
            child = Job(
                id=child_id,
                user_id=interaction.user.id,
                guild_id=interaction.guild_id,
                channel_id=interaction.channel_id or parent.channel_id,
                message_id=message_id,
                interaction_token=interaction.token,
                token_expires_at=interaction.expires_at,
                provider=parent.provider,
                # A new /imagine may go to any account; a press belongs to the account of the image it acts on.
                account=None if action is Action.IMAGINE else parent.account,
                parent_id=parent.id,
                action=action,
                prompt=parent.prompt if edited is None else remix or parent.prompt,
                prompt_final=parent.prompt_final if edited is None else edited.final(include_images=False),
                params=_press_params(parent.params, retry)
                if edited is None
                else _remix_params(parent.params, edited.params, zoom),
                image_urls_in=parent.image_urls_in,
                upload_limit=interaction.filesize_limit,
                locale=_server_locale(interaction) or parent.locale,
            )
            try:
                # The child belongs to whoever pressed, and counts against their quota.
                admit = self.moderation.admitter(gate.role_ids(interaction.user))
                stored, created = await self.engine.submit_child(child, admit=admit)
            except Refusal as exc:
                await refuse(interaction, refusal_text(exc, interaction.locale))
                return
            if not created:
                what = action_title(action, interaction.locale) or action.value
                link = job_link(stored)
                key = "job.already_requested_at" if link else "job.already_requested"
                await refuse(interaction, t(interaction.locale, key, what=what, link=link))

    async def _open_prompt_box(self, interaction: discord.Interaction, job_id: str, action: Action) -> bool:
        """Open Remix's prompt box (Remix on, and the provider takes a prompt) or Custom Zoom's (always).
        Whether it was opened; a Custom Zoom the provider does not take is refused politely here."""
        parent = await self.engine.get(job_id)
        if parent is None:
            return False  # the normal path says the image is unknown
        verbs = self.engine.verbs_for(parent)
        if action is Action.CUSTOM_ZOOM:
            if Verb.CUSTOM_ZOOM not in verbs:
                await refuse(interaction, t(interaction.locale, "verb.not_offered"))
                return True
        elif Verb.REMIX not in verbs or not (await self.moderation.member_settings(interaction.user.id)).remix:
            return False
        prompt = parent.prompt_final or parent.prompt
        await interaction.response.send_modal(PromptModal(job_id, action, prompt, interaction.locale))
        return True

    @commands.Cog.listener()
    async def on_interaction(self, interaction: discord.Interaction) -> None:
        """A Remix or Custom Zoom box submitted, before or after a restart: its custom_id names the job and the
        press; its job is made as the press would have made it (a job gone since gets a polite answer)."""
        if interaction.type is not discord.InteractionType.modal_submit or not isinstance(interaction.data, dict):
            return
        match = _PROMPT_MODAL.fullmatch(str(interaction.data.get("custom_id", "")))
        if match is None:
            return
        try:
            await self.prompt_submitted(interaction, match["job"], match["action"], modal_values(interaction.data))
        except Exception as exc:
            await report_failure(interaction, exc)

    async def prompt_submitted(
        self, interaction: discord.Interaction, job_id: str, action_name: str, values: dict[str, str]
    ) -> None:
        try:
            action = Action(action_name)
        except ValueError:
            await refuse(interaction, t(interaction.locale, "imagine.button_unavailable"))
            return
        zoom: float | None = None
        if action is Action.CUSTOM_ZOOM:
            try:
                zoom = float(values.get("zoom", "").strip().replace(",", "."))
            except ValueError:
                zoom = None
            if zoom is None or not MIN_ZOOM <= zoom <= MAX_ZOOM:
                await refuse(interaction, t(interaction.locale, "zoom.invalid"))
                return
        await self.press(interaction, job_id, action, remix=values.get("prompt", ""), zoom=zoom)

    def noted(
        self, interaction: discord.Interaction, job_id: str, action: Action
    ) -> contextlib.AbstractAsyncContextManager[None]:
        """The ledger's note around another extension's defer-and-store (/blend): the same ledger (the file,
        or the table with several processes), so the same restart or takeover explains it if a crash comes
        between the two. Reached through the bot's cogs, never imported."""
        return self._pending(PendingInteraction.of(interaction, job_id, action))

    # -- interactions a crash cut off ----------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def _pending(self, note: PendingInteraction) -> AsyncIterator[None]:
        """The interaction noted in this process's ledger for the block (see InteractionLedger.pending)."""
        if self.shared is None:
            with self.ledger.pending(note):
                yield
            return
        noted = await self.shared.note(note.job_id, note.to_dict())
        try:
            yield
        except Exception:
            if noted:
                self.shared.done(note.job_id)
            raise
        if noted:
            self.shared.done(note.job_id)

    def _done(self, job_id: str) -> None:
        if self.shared is not None:
            self.shared.done(job_id)
        else:
            self.ledger.done(job_id)

    def _taken_over(self, notes: list[dict[str, Any]]) -> None:
        """The notes of a dead process, taken over with its jobs: see them through as a restart would."""
        parsed = []
        for data in notes:
            try:
                parsed.append(PendingInteraction.from_dict(data))
            except (ValueError, KeyError, TypeError):
                _log.warning("an interaction note taken over could not be read")
        if parsed:
            task = asyncio.create_task(self.settle_left_over(parsed), name="interactions-taken-over")
            self._settlings.add(task)
            task.add_done_callback(self._settlings.discard)

    async def settle_left_over(self, notes: list[PendingInteraction]) -> None:
        """See through every interaction the last run noted but did not: a stored job is the engine's to
        finish; any other is explained on its message (:meth:`_explain`). Runs in the background at start."""
        for note in notes:
            try:
                if await self.engine.get(note.job_id) is not None:
                    # The job was stored: the engine resumes it and its message shows how it goes.
                    self._done(note.job_id)
                    continue
                for delay in (0.0, *SETTLE_RETRY_DELAYS):
                    await asyncio.sleep(delay)
                    if await self._explain(note):
                        self._done(note.job_id)
                        break
                else:
                    _log.warning("could not explain the interaction of job %s; the next start tries again", note.job_id)
            except asyncio.CancelledError:
                raise
            except Exception:
                _log.exception("could not settle the interaction of job %s", note.job_id)

    async def _explain(self, note: PendingInteraction) -> bool:
        """Say on the interaction's message that it was not started. False: try again later.

        No job was stored, so the request was never sent anywhere; it is not started now either. Its
        message was posted and then the bot died, or the bot died before answering at all:

        - The defer went out: the member sees "thinking…" and is waiting. The message is edited to say
          the request was not started, in the channel where everyone saw it thinking.
        - It did not: the member saw "The application did not respond", which is true, and may well have
          asked again already. Running the job now would post an image nobody waits for and could bill
          a second generation, so it is never run. Discord invalidates the token of an interaction not
          answered within 3 s, so there is normally nobody to tell; should Discord still take a
          follow-up on the token (up to its 15 minutes), the member is told privately what happened.
        """
        if utcnow() >= note.expires_at:
            # The token is dead and the message id unknown: nothing can reach it any more.
            _log.info("interaction of job %s expired before it could be explained", note.job_id)
            return True
        webhook = discord.Webhook.partial(self.bot.application_id or 0, note.token, client=self.bot)
        # An interaction's webhook, which is what lets discord.py send an ephemeral follow-up on it.
        webhook.type = discord.WebhookType.application
        text = await self._not_started_text(note)
        try:
            # "@original" stands for the interaction's own response, whose id we never learnt (the route
            # takes it where a message id goes; discord.py's hint says int).
            original: Any = "@original"
            await webhook.edit_message(original, content=text, view=None, allowed_mentions=NO_MENTIONS)
            _log.info("the restart explained the left-over interaction of job %s", note.job_id)
            return True
        except discord.HTTPException as exc:
            if exc.status >= 500 or exc.status == 429:
                return False
            _log.info("no message to explain for job %s (%s %s)", note.job_id, exc.status, exc.code)
        except (aiohttp.ClientError, OSError, TimeoutError) as exc:
            _log.info("could not reach Discord to explain job %s: %s", note.job_id, exc)
            return False
        with contextlib.suppress(discord.HTTPException, aiohttp.ClientError, OSError, TimeoutError):
            await webhook.send(text, ephemeral=True, allowed_mentions=NO_MENTIONS)
        return True

    async def _not_started_text(self, note: PendingInteraction) -> str:
        prompt = note.prompt
        if prompt is None and note.parent_id is not None:
            parent = await self.engine.get(note.parent_id)
            prompt = parent.prompt if parent is not None else None
        head = f"**{quote_prompt(prompt)}** - <@{note.user_id}>" if prompt else f"<@{note.user_id}>"
        if title := action_title(note.action):
            head += f" · {title}"
        return f"{head}\n{NOT_STARTED}"


# What one press asked for, not what the picture is: a press on its result asks for its own (a retry repeats it).
_PRESS_ONLY_PARAMS = ("remix", "zoom", MASK_PARAM)


def _press_params(parent: dict[str, Any], retry: bool) -> dict[str, Any]:
    """A plain press's parameters: the parent's shape (--ar, --seed, ...), without what only the parent's own
    press asked for (a Remix prompt, Custom Zoom's factor, Vary (Region)'s mask), unless it repeats that press."""
    return dict(parent) if retry else {key: value for key, value in parent.items() if key not in _PRESS_ONLY_PARAMS}


def _remix_params(parent: dict[str, Any], edited: dict[str, Any], zoom: float | None) -> dict[str, Any]:
    """A remixed press's parameters: the edited prompt's (the parent's shape where it names none), marked
    as a remix so the provider is sent the new prompt, with Custom Zoom's factor."""
    params = {**edited, "remix": True}
    if "ar" in parent and "ar" not in params:
        params["ar"] = parent["ar"]
    if zoom is not None:
        params["zoom"] = zoom
    return params


def _server_locale(interaction: discord.Interaction) -> str | None:
    """The server's locale as the job keeps it: a plain string for the core ("de", "ja", "en-US")."""
    return interaction.guild_locale.value if interaction.guild_locale is not None else None


async def _response_message_id(
    interaction: discord.Interaction, response: discord.InteractionCallbackResponse | None
) -> int:
    if response is not None and response.message_id is not None:
        return response.message_id
    return (await interaction.original_response()).id


async def setup(bot: ImagineBot) -> None:
    await bot.add_cog(Imagine(bot))
