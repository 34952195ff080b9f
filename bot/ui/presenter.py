"""Turns engine events into Discord message edits, one editor per job message.

Each job message has at most one edit in flight; events that arrive meanwhile overwrite each other
and only the latest is shown. Edits to one message are spaced by ``edit_interval``; a progress edit
also waits that long after the job was created, so a fast job costs one edit, not three.

Edits go through the interaction's webhook while its token is valid (its own rate-limit bucket),
and through the channel-message route with the bot token once the token is near its 15 minutes or
Discord says it is dead.
"""

from __future__ import annotations

import asyncio
import collections
import datetime as dt
import io
import logging
import time
from typing import TYPE_CHECKING, Any

import discord

from bot.core import crashpoints
from bot.core.errors import ProviderError
from bot.core.models import Action, ErrorReason, Job, JobEvent, JobEventKind, JobStatus, utcnow
from bot.core.scheduling import WorkGate
from bot.core.video import shrink_video
from bot.ui.buttons import result_view
from bot.ui.controls import progress_view
from bot.ui.i18n import t
from bot.ui.render import NO_MENTIONS, alt_text, encode_for_upload, is_video, job_content, quote_link

if TYPE_CHECKING:
    from bot.ui.client import ImagineBot

__all__ = ["Presenter"]

_log = logging.getLogger(__name__)

# Stop using the interaction token this long before Discord's 15 minutes are up.
TOKEN_MARGIN = dt.timedelta(seconds=60)
# Discord error codes that mean the interaction token can no longer edit: switch to the bot token.
_DEAD_TOKEN_CODES = frozenset({50027, 10015, 10062})
_UNKNOWN_MESSAGE = 10008
# How often, and how far apart, a final edit that failed is tried again before the next start.
FINAL_RETRY_DELAYS = (1.0, 3.0, 10.0)
# The clips a video result attaches at most: a video grid's four (Discord takes ten files per message).
MAX_CLIPS = 4
# How many finished messages keep their last edit time, job and drawn buttons for a later restyle.
FINISHED_REMEMBERED = 1024
# A job handed to another process waits at most this long for its message's edit in flight (then it is cut).
HAND_OVER_S = 5.0
# How many jobs created in this run keep the actions of their children in memory (a few dozen bytes each),
# so their final edit and restyles need not ask the store; one pushed out is asked of the store again.
BORN_REMEMBERED = 8192


class _MessageGone(Exception):
    """The job's message was deleted."""


class _Editor:
    """The edit state of one job message. It lives until the job's final state is shown, so the spacing
    between edits holds across quiet spells when its task has nothing to do."""

    __slots__ = (
        "changed", "created", "dead_token", "drawn", "final", "handing_over", "last_edit", "latest", "restyle", "shown",
        "task", "waker",
    )  # fmt: skip

    def __init__(self, finished: _Finished | None = None) -> None:
        self.latest: JobEvent | None = None
        # When the oldest change not yet on the message came in (monotonic): the edit lag runs from it.
        self.changed: float | None = None
        self.task: asyncio.Task[None] | None = None
        self.created = time.monotonic()
        self.last_edit: float | None = finished.last_edit if finished is not None else None
        # The job as its final edit showed it, and the pressed buttons drawn on it since: a restyle that
        # would draw the same set is skipped, and it needs no read of the job.
        self.final: Job | None = finished.job if finished is not None else None
        self.drawn: frozenset[Action] | None = finished.drawn if finished is not None else None
        # Set when a press on this (finished) message made a child job: its buttons are redrawn with the
        # pressed ones in colour, one edit however many presses came in meanwhile.
        self.restyle = False
        self.shown: tuple[Any, ...] | None = None
        self.dead_token = False
        # Set while the task waits out the spacing; a final state resolves it so the result is not held back.
        self.waker: asyncio.Future[None] | None = None
        # Set when the job goes to another process (Presenter.hand_over): show the latest state now, then stop.
        self.handing_over = False


class _Finished:
    """What a retired editor leaves for a later restyle of its message's buttons."""

    __slots__ = ("drawn", "job", "last_edit")

    def __init__(self, last_edit: float | None, job: Job | None, drawn: frozenset[Action] | None) -> None:
        self.last_edit = last_edit
        self.job = job
        self.drawn = drawn


class Presenter:
    def __init__(self, bot: ImagineBot, edit_interval: float) -> None:
        self.bot = bot
        self.edit_interval = edit_interval
        self._editors: dict[str, _Editor] = {}
        # When each recently finished message was last edited, so a later restyle of its buttons keeps the
        # spacing after its editor is gone (bounded: older messages are long past any interval).
        self._finished: collections.OrderedDict[str, _Finished] = collections.OrderedDict()
        # The children's actions of each job created in this run (see BORN_REMEMBERED). A child is made only
        # by a press in this process, after its parent, and announced by its CREATED event, so for these
        # jobs the set is the store's own answer to "which buttons were pressed".
        self._born: collections.OrderedDict[str, set[Action]] = collections.OrderedDict()

    # -- engine listener (must not block) ---------------------------------------------------------

    def on_event(self, event: JobEvent) -> None:
        self.bot.dispatch("job_event", event)
        if event.kind is JobEventKind.ACCOUNT_PAUSED:
            return
        if event.kind is JobEventKind.CREATED:
            self._born[event.job.id] = set()
            if len(self._born) > BORN_REMEMBERED:
                self._born.popitem(last=False)
        if event.kind is JobEventKind.CREATED and event.job.parent_id is not None:
            siblings = self._born.get(event.job.parent_id)
            if siblings is not None:
                siblings.add(event.job.action)
            # A press on the parent's message made this job: show that button pressed on the parent.
            self._editor(event.job.parent_id).restyle = True
            self._start(event.job.parent_id)
        if event.job.message_id is None:
            return
        editor = self._editor(event.job.id)
        editor.latest = event
        if editor.changed is None:
            editor.changed = time.monotonic()
        if event.job.terminal and editor.waker is not None and not editor.waker.done():
            editor.waker.set_result(None)
        self._start(event.job.id)

    def _editor(self, job_id: str) -> _Editor:
        editor = self._editors.get(job_id)
        if editor is None:
            editor = self._editors[job_id] = _Editor(self._finished.get(job_id))
        return editor

    def _start(self, job_id: str) -> None:
        editor = self._editors[job_id]
        if editor.task is None or editor.task.done():
            editor.task = asyncio.create_task(self._run(job_id, editor), name=f"editor-{job_id}")

    def _retire(self, job_id: str, editor: _Editor) -> None:
        """Drop a finished message's editor, remembering when it was last edited."""
        self._editors.pop(job_id, None)
        if editor.last_edit is not None:
            self._finished[job_id] = _Finished(editor.last_edit, editor.final, editor.drawn)
            self._finished.move_to_end(job_id)
            while len(self._finished) > FINISHED_REMEMBERED:
                self._finished.popitem(last=False)

    async def hand_over(self, job_ids: list[str]) -> None:
        """Stop editing these jobs' messages: their jobs go to the processes' shared queue, and whichever
        process claims one edits its message from then on (bot.core.cluster). The latest state not shown
        yet is shown first, without waiting out the spacing, so the message says the job waits; returns
        once no edit of them is in flight, so two processes never edit one message at once."""
        tasks = []
        for job_id in job_ids:
            editor = self._editors.get(job_id)
            if editor is None:
                continue
            editor.handing_over, editor.restyle = True, False
            if editor.waker is not None and not editor.waker.done():
                editor.waker.set_result(None)
            if editor.task is not None and not editor.task.done():
                tasks.append(editor.task)
        if tasks:
            _done, late = await asyncio.wait(tasks, timeout=HAND_OVER_S)
            for task in late:
                task.cancel()
            await asyncio.gather(*late, return_exceptions=True)
        for job_id in job_ids:
            editor = self._editors.get(job_id)
            if editor is not None and editor.handing_over:
                del self._editors[job_id]

    async def close(self) -> None:
        tasks = [e.task for e in self._editors.values() if e.task and not e.task.done()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    @property
    def pending(self) -> int:
        return sum(1 for e in self._editors.values() if e.task and not e.task.done())

    # -- one message -------------------------------------------------------------------------------

    async def _run(self, job_id: str, editor: _Editor) -> None:
        try:
            while editor.latest is not None or editor.restyle:
                if editor.latest is None:
                    now = time.monotonic()
                    ready_at = editor.last_edit + self.edit_interval if editor.last_edit is not None else now
                    if ready_at > now:
                        await _wait(editor, ready_at - now)
                        continue  # the job's own state may have come in while we waited
                    editor.restyle = False
                    if await self._show_pressed(job_id, editor):
                        editor.last_edit = time.monotonic()
                    if editor.latest is None and not editor.restyle:
                        self._retire(job_id, editor)
                        return
                    continue
                final = editor.latest.job.terminal
                now = time.monotonic()
                ready_at = editor.last_edit + self.edit_interval if editor.last_edit is not None else now
                if not final:
                    ready_at = max(ready_at, editor.created + self.edit_interval)
                if editor.handing_over:
                    ready_at = now  # the last edit this process makes to it: the member sees where it stands
                if ready_at > now:
                    await _wait(editor, ready_at - now)
                    continue  # a newer event may have come in while we waited
                event, editor.latest = editor.latest, None
                since, editor.changed = editor.changed, None
                job = event.job
                shown = (job.status, job.progress, job.preview_url, event.queue_position, job.error)
                if shown == editor.shown:
                    continue
                if job.terminal:
                    # The final edit draws the pressed buttons itself.
                    editor.restyle = False
                    await self._deliver_final(job, editor, since)
                    if not editor.restyle:
                        self._retire(job_id, editor)
                        return
                    continue
                # Behind results and submits, as a progress edit is worth less than either; but not behind
                # this job's own result, which gives up the wait when it arrives (see on_event).
                editor.waker = waker = asyncio.get_running_loop().create_future()
                try:
                    async with self.bot.runtime.engine.work.slot_unless(WorkGate.PROGRESS, waker) as got:
                        editor.waker = None
                        if not got and editor.latest is None:
                            editor.latest = event  # woken by a hand-over, not by a newer state: show this one
                        if not got or editor.latest is not None:
                            continue  # a newer state came in while this one waited: show that instead
                        await self._show_progress(job, event.queue_position, editor)
                    if since is not None:
                        self.bot.runtime.metrics.edit_landed("progress", since)
                except _MessageGone:
                    await self._message_gone(job)
                    return
                except discord.HTTPException as exc:
                    # A progress edit that fails is simply skipped; the next state will be shown.
                    _log.warning("progress edit of job %s failed: %s %s", job.id, exc.status, exc.code)
                finally:
                    editor.waker = None
                editor.last_edit = time.monotonic()
                editor.shown = shown
        except asyncio.CancelledError:
            raise
        except Exception:
            # The editor stays registered: the next event starts a new task that still knows last_edit.
            _log.exception("editor of job %s stopped", job_id)

    async def _show_progress(self, job: Job, queue_position: int | None, editor: _Editor) -> None:
        # The Cancel button rides on every progress edit; the final edit replaces it with the result's buttons.
        view = progress_view(job)
        kwargs: dict[str, Any] = {"content": job_content(job, queue_position=queue_position), "view": view}
        if job.preview_url and job.status is JobStatus.RUNNING:
            preview = await self._image(job, job.preview_url)
            # A preview that the server's safety check flags, or cannot check, is left out (bot.core.safety).
            if preview is not None and await self.bot.runtime.safety.preview_allowed(job, preview):
                data, name = await _fit_for_upload(preview, job.upload_limit, "preview.png")
                kwargs["attachments"] = [discord.File(_buffer(data), filename=name, description="Preview")]
        await self._edit(job, editor, **kwargs)

    async def _show_pressed(self, job_id: str, editor: _Editor) -> bool:
        """Redraw a finished message's buttons with those already pressed in colour (custom_ids unchanged).
        Whether an edit was made."""
        engine = self.bot.runtime.engine
        # A finished job does not change: the one its final edit showed is still it.
        job = editor.final or await engine.get(job_id)
        if job is None or job.message_id is None or not job.terminal:
            return False  # its final edit, still to come, draws the pressed buttons from the store
        pressed = await self._pressed(job)
        if pressed == editor.drawn:
            return False  # the final edit, or an earlier restyle, already shows these
        view = result_view(job, pressed, engine.verbs_for(job))
        if view is None:
            return False
        try:
            # A restyle is cosmetic: it waits behind results and submits, like a progress edit.
            async with engine.work.slot(WorkGate.PROGRESS):
                await self._edit(job, editor, view=view)
            editor.final, editor.drawn = job, pressed
        except _MessageGone:
            _log.info("the message of job %s is gone; its pressed buttons are not shown", job.id)
        except discord.HTTPException as exc:
            _log.warning("button restyle of job %s failed: %s %s", job.id, exc.status, exc.code)
        return True

    async def _deliver_final(self, job: Job, editor: _Editor, since: float | None = None) -> None:
        crashpoints.reached("before_final_edit")
        for attempt, delay in enumerate((0.0, *FINAL_RETRY_DELAYS)):
            if delay:
                await asyncio.sleep(delay)
            try:
                # Results go through the engine's work gate ahead of new submits.
                async with self.bot.runtime.engine.work.slot(WorkGate.RESULT):
                    message, pressed = await self._final_message(job)
                    await self._edit(job, editor, **message)
                if since is not None:
                    self.bot.runtime.metrics.edit_landed("final", since)
            except _MessageGone:
                # Nothing left to show it on; counting it delivered stops the retries at every start.
                _log.info("job %s ended but its message is gone", job.id)
                break
            except discord.HTTPException as exc:
                _log.warning("final edit of job %s failed (attempt %d): %s %s", job.id, attempt + 1, exc.status,
                             exc.code)  # fmt: skip
                continue
            except ProviderError as exc:
                _log.warning("could not fetch the result of job %s: %s", job.id, exc)
                continue
            break
        else:
            return  # left undelivered; the next start tries again
        editor.last_edit = time.monotonic()
        editor.final, editor.drawn = job, pressed
        await self.bot.runtime.engine.mark_delivered(job.id)

    async def _final_message(self, job: Job) -> tuple[dict[str, Any], frozenset[Action]]:
        """The final edit's arguments, and the pressed buttons they draw."""
        content = job_content(job)
        pressed = await self._pressed(job)
        if job.status is not JobStatus.COMPLETED or job.result_url is None:
            # A job that may exist at the provider offers 🔄 to send it again; other failures offer nothing.
            return {
                "content": content,
                "view": result_view(job, pressed, self.bot.runtime.engine.verbs_for(job)),
                "attachments": [],
            }, pressed
        data = await self._image(job, job.result_url, required=True)
        assert data is not None
        view = result_view(job, pressed, self.bot.runtime.engine.verbs_for(job))
        if is_video(job.result_url):
            return await self._video_message(job, content, view, data), pressed
        filename = "grid.png" if job.grid_url else "image.png"
        data, filename = await _fit_for_upload(data, job.upload_limit, filename)
        # A result the safety check flagged (or could not check) goes behind Discord's spoiler: SPOILER_ name.
        file = discord.File(_buffer(data), filename=filename, description=alt_text(job), spoiler=job.spoiler)
        return {"content": content, "view": view, "attachments": [file]}, pressed

    async def _video_message(
        self, job: Job, content: str, view: discord.ui.View | None, first: bytes
    ) -> dict[str, Any]:
        """A video result's final edit: each clip (four of a video grid, else one) attached when it fits the
        upload limit (Discord plays it inline), re-encoded smaller when that makes it fit, and otherwise
        linked where the provider's links may be shown, or said to be too large; never turned into a picture."""
        assert job.result_url is not None
        clips = [u for u in job.image_urls if is_video(u)][:MAX_CLIPS] or [job.result_url]
        files: list[discord.File] = []
        links: list[str | None] = []
        shrunk = False
        for number, url in enumerate(clips, start=1):
            data = first if url == job.result_url else await self._image(job, url, required=True)
            assert data is not None
            suffix = url[url.rfind(".") :].split("?", 1)[0].lower()
            if job.upload_limit is not None and len(data) > job.upload_limit:
                smaller = await asyncio.to_thread(shrink_video, data, job.upload_limit)
                if smaller is None:
                    links.append(quote_link(url) if self._shareable(job) else None)
                    continue
                data, suffix, shrunk = smaller, ".mp4", True
            name = f"video{suffix}" if len(clips) == 1 else f"video_{number}{suffix}"
            files.append(discord.File(_buffer(data), filename=name, description=alt_text(job), spoiler=job.spoiler))
        notes = [t(job.locale, "video.reencoded")] if shrunk else []
        if links:
            shown = " ".join(link for link in links if link)
            notes.append(
                t(job.locale, "video.too_large", link=shown) if shown else t(job.locale, "video.too_large_local")
            )
        text = "\n".join([content, *notes])[:2000]
        return {"content": text, "view": view, "attachments": files}

    def _shareable(self, job: Job) -> bool:
        provider = self.bot.runtime.engine.pool.provider(job.provider, job.account)
        return provider is not None and provider.capabilities.shareable_links

    async def _pressed(self, job: Job) -> frozenset[Action]:
        born = self._born.get(job.id)
        if born is not None:
            return frozenset(born)  # created in this run: every child of it was announced here
        return await self.bot.runtime.engine.pressed(job.id)

    async def _image(self, job: Job, url: str, *, required: bool = False) -> bytes | None:
        provider = self.bot.runtime.engine.pool.provider(job.provider, job.account)
        if provider is None:
            if required:
                raise ProviderError(ErrorReason.NO_ACCOUNT, f"{job.provider} is not configured")
            return None
        try:
            return await provider.fetch_image(url)
        except ProviderError:
            if required:
                raise
            return None

    async def _message_gone(self, job: Job) -> None:
        if not job.terminal:
            _log.info("the message of job %s was deleted; ending the job", job.id)
            ended = await self.bot.runtime.engine.cancel(job.id, ErrorReason.MESSAGE_DELETED)
            if ended is not None:
                # Nobody will see it: stop it at the provider too, where it offers that (issue 11).
                await self.bot.runtime.engine.cancel_at_provider(ended)

    # -- the two edit routes -----------------------------------------------------------------------

    async def _edit(self, job: Job, editor: _Editor, **kwargs: Any) -> None:
        assert job.message_id is not None
        kwargs["allowed_mentions"] = NO_MENTIONS
        if self._token_usable(job, editor):
            webhook = discord.Webhook.partial(
                self.bot.application_id or 0, job.interaction_token or "", client=self.bot
            )
            try:
                await webhook.edit_message(job.message_id, **kwargs)
                return
            except discord.HTTPException as exc:
                if exc.code == _UNKNOWN_MESSAGE:
                    raise _MessageGone from exc
                if exc.code not in _DEAD_TOKEN_CODES and exc.status not in (401, 404):
                    raise
                _log.info("interaction token of job %s is dead (%s); using the bot token", job.id, exc.code)
                editor.dead_token = True
                _rewind_files(kwargs)
        message = self.bot.get_partial_messageable(job.channel_id, guild_id=job.guild_id).get_partial_message(
            job.message_id
        )
        try:
            await message.edit(**kwargs)
        except discord.NotFound as exc:
            if exc.code == _UNKNOWN_MESSAGE:
                raise _MessageGone from exc
            raise

    @staticmethod
    def _token_usable(job: Job, editor: _Editor) -> bool:
        if editor.dead_token or not job.interaction_token or job.token_expires_at is None:
            return False
        return utcnow() < job.token_expires_at - TOKEN_MARGIN


async def _fit_for_upload(data: bytes, limit: int | None, filename: str) -> tuple[bytes, str]:
    """The image as it may be uploaded. Re-encoding runs off the event loop; an image that already fits
    (nearly all of them) skips the trip to a worker thread."""
    if limit is None or len(data) <= limit:
        return data, filename
    return await asyncio.to_thread(encode_for_upload, data, limit, filename)


async def _wait(editor: _Editor, delay: float) -> None:
    """Sleep ``delay`` seconds, or less if the job's final state arrives meanwhile."""
    loop = asyncio.get_running_loop()
    editor.waker = waker = loop.create_future()
    timer = loop.call_later(delay, _resolve, waker)
    try:
        await waker
    finally:
        timer.cancel()
        editor.waker = None


def _resolve(waker: asyncio.Future[None]) -> None:
    if not waker.done():
        waker.set_result(None)


def _buffer(data: bytes) -> io.BytesIO:
    return io.BytesIO(data)


def _rewind_files(kwargs: dict[str, Any]) -> None:
    """A File already sent once must be rewound before it is sent again on the other route."""
    for item in kwargs.get("attachments") or ():
        if isinstance(item, discord.File):
            item.reset()
