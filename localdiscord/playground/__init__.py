"""The browser playground: a static page, served by LocalDiscord, that plays the Discord client.

The page (``index.html``, ``style.css`` and the ES modules next to this file, ``app.js`` the entry that
imports the others) needs nothing but the server it came from: it reads the world and a live feed of
messages from ``GET /_control/events`` (server-sent events, see ``localdiscord._events``) and acts
through the control API (run a slash command, press a button, submit a modal) as whichever seeded
member the visitor picks. No CDN, font or script from elsewhere, so it works offline.
"""

from __future__ import annotations

from pathlib import Path

from aiohttp import web

__all__ = ["PLAYGROUND_PATH", "STATIC_DIR", "register_playground"]

PLAYGROUND_PATH = "/playground/"
STATIC_DIR = Path(__file__).resolve().parent
_TYPES = {".html": "text/html", ".js": "text/javascript", ".css": "text/css"}
# Scripts, styles and connections from this server only; images may come from anywhere a bot links to.
_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src * data: blob:; "
    "object-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)


def _asset(path: Path) -> web.Response:
    # no-cache: someone editing the page sees the change on reload, and the files are tiny.
    return web.Response(
        body=path.read_bytes(),
        content_type=_TYPES[path.suffix],
        charset="utf-8",
        headers={"Cache-Control": "no-cache", "X-Content-Type-Options": "nosniff", "Content-Security-Policy": _CSP},
    )


def register_playground(app: web.Application) -> None:
    """Serve the page at ``/playground/`` and its assets beside it."""
    # Only the files shipped here, by exact name: nothing else on disk is reachable through this route.
    assets = {p.name: p for p in STATIC_DIR.iterdir() if p.suffix in _TYPES}

    async def index(request: web.Request) -> web.Response:
        return _asset(assets["index.html"])

    async def asset(request: web.Request) -> web.Response:
        path = assets.get(request.match_info["name"])
        if path is None:
            raise web.HTTPNotFound()
        return _asset(path)

    async def redirect(request: web.Request) -> web.Response:
        raise web.HTTPFound(PLAYGROUND_PATH)

    app.router.add_get(PLAYGROUND_PATH.rstrip("/"), redirect)
    app.router.add_get(PLAYGROUND_PATH, index)
    app.router.add_get(PLAYGROUND_PATH + "{name}", asset)
