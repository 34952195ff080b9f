"""Videos too large to attach, served by the bot's own web server under signed, expiring links (issue 11).

When a clip is over the channel's upload limit and no smaller re-encode fits, and the provider's own link
must not be shown (useapi's CDN links lead back to the operator's account) or there is none (the local
provider), the bot keeps the clip under ``DATA_DIR/media`` and posts ``<public url>/media/<link>``.

A link is sealed as the editor's are (:func:`bot.core.editor.seal`, the same key, its own domain, so an
editor link never opens a video nor the other way round): the payload is the file's random name and its
expiry. The name alone is unguessable (128 random bits); the signature makes the expiry unchangeable. An
altered or unknown link gets 404, an expired one 410. The file's name begins with its expiry, so removing
what has expired needs no database: :meth:`MediaShelf.sweep` runs at start and every :data:`SWEEP_EVERY_S`.

Several processes (PostgreSQL): the file is on the process that made it. Either ``DATA_DIR`` (at least its
``media`` folder) is shared by the processes, and then any of them serves any link, or the reverse proxy
sends ``/media/`` to the process that made it; the README says so. Nothing here logs a URL: it is the link.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import secrets
import time
from pathlib import Path

from aiohttp import web

from bot.core.editor import LinkProblem, seal, unseal

__all__ = ["HEADERS", "MediaShelf"]

_log = logging.getLogger(__name__)

# What the signature covers besides the payload: a video link and nothing else.
_DOMAIN = b"imagine-bot media link v1\0"
# How often expired files are removed while the bot runs; they may outlive their link by this much.
SWEEP_EVERY_S = 3600.0
# A file's name: its expiry (Unix seconds), a dash, 32 hex digits, .mp4. Anything else in the folder is left alone.
_NAME = re.compile(r"(\d{1,12})-([0-9a-f]{32})\.mp4")
# The browser's own player may show it; nothing else loads, runs, frames it or leaks the link as a referrer.
HEADERS = {
    "Content-Type": "video/mp4",
    "Content-Security-Policy": "default-src 'none'; media-src 'self'; frame-ancestors 'none'; base-uri 'none';"
    " form-action 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Content-Disposition": 'inline; filename="video.mp4"',
    # The link is private to the channel that got it: no shared cache keeps a copy past its expiry.
    "Cache-Control": "private, no-transform",
}

_REFUSED = {"X-Content-Type-Options": "nosniff", "Cache-Control": "no-store"}


class MediaShelf:
    """Keeps over-limit videos on disk and serves them under signed links until they expire."""

    def __init__(self, root: Path, key: bytes, ttl_s: float, public_url: str | None) -> None:
        self.root = root
        self._key = key
        self.ttl_s = ttl_s
        # None: members' browsers cannot reach this server, so nothing is kept and no link is made.
        self.public_url = public_url.rstrip("/") if public_url else None
        self._sweeper: asyncio.Task[None] | None = None

    @property
    def enabled(self) -> bool:
        return self.public_url is not None

    def keep(self, data: bytes, *, now: float | None = None) -> tuple[str, int] | None:
        """Store the video and return its link and expiry (Unix seconds); None without a public URL.

        Blocking file I/O: call it in a worker thread."""
        if self.public_url is None:
            return None
        expires = int((time.time() if now is None else now) + self.ttl_s)
        name = f"{expires}-{secrets.token_hex(16)}.mp4"
        self.root.mkdir(parents=True, exist_ok=True)
        partial = self.root / f".{name}.part"
        partial.write_bytes(data)
        partial.replace(self.root / name)  # whole or absent: a reader never sees half a file
        return f"{self.public_url}/media/{seal(self._key, _DOMAIN, name.encode())}", expires

    def path_for(self, token: str, *, now: float | None = None) -> Path:
        """The file a link names; LinkProblem("invalid") for one not ours, ("expired") past its expiry."""
        try:
            name = unseal(self._key, _DOMAIN, token).decode("ascii")
        except UnicodeDecodeError:
            raise LinkProblem("invalid") from None
        match = _NAME.fullmatch(name)
        if match is None:
            raise LinkProblem("invalid")  # signed by us, so never; but never trusted blindly either
        if (time.time() if now is None else now) >= int(match[1]):
            raise LinkProblem("expired")
        return self.root / name

    def sweep(self, *, now: float | None = None) -> int:
        """Remove every kept video whose link has expired (and stray partial writes); how many were removed."""
        moment = time.time() if now is None else now
        removed = 0
        try:
            entries = list(self.root.iterdir())
        except FileNotFoundError:
            return 0
        for entry in entries:
            match = _NAME.fullmatch(entry.name.removeprefix(".").removesuffix(".part"))
            if match is None or moment < int(match[1]):
                continue
            with contextlib.suppress(FileNotFoundError):  # another process sharing DATA_DIR was first
                entry.unlink()
                removed += 1
        return removed

    # -- serving -----------------------------------------------------------------------------------

    def add_routes(self, app: web.Application) -> None:
        app.router.add_get("/media/{token}", self._get)

    async def _get(self, request: web.Request) -> web.StreamResponse:
        try:
            path = self.path_for(request.match_info["token"])
        except LinkProblem as problem:
            return web.Response(status=410 if problem.kind == "expired" else 404, headers=_REFUSED)
        if not path.is_file():
            # Swept, or kept by another process that does not share DATA_DIR.
            return web.Response(status=404, headers=_REFUSED)
        # aiohttp's FileResponse sends Content-Length and answers Range requests (206) by itself.
        return web.FileResponse(path, headers=HEADERS)

    # -- the sweeper ---------------------------------------------------------------------------------

    async def start(self) -> None:
        """Remove what expired while the bot was down, then keep removing it every SWEEP_EVERY_S."""
        removed = await asyncio.to_thread(self.sweep)
        if removed:
            _log.info("removed %d expired video file(s)", removed)
        if self._sweeper is None:
            self._sweeper = asyncio.create_task(self._sweep_forever(), name="media-sweeper")

    async def stop(self) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sweeper
            self._sweeper = None

    async def _sweep_forever(self) -> None:
        while True:
            await asyncio.sleep(SWEEP_EVERY_S)
            try:
                await asyncio.to_thread(self.sweep)
            except OSError as exc:
                _log.warning("could not remove expired video files: %s", exc)
