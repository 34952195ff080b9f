"""The webhook receiver: an aiohttp server inside the bot process that providers call back.

One route, ``POST /webhooks/{provider}/{token}``. None of the providers signs its callbacks except
APIFrame (which echoes the ``webhook_secret`` we sent as ``x-webhook-secret``), so every callback URL
carries an unguessable per-deployment token (``WEBHOOK_SECRET``), compared in constant time; a wrong
token gets the same 404 as an unknown path. Bodies are capped. Applying a callback is idempotent (the
engine never moves a job backwards), so a provider's retries, duplicates and stale progress posts
are harmless. Polling goes on at a slow pace beside the callbacks, so a lost callback only delays a job.

Nothing here logs a URL: the path holds the token.
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Callable

from aiohttp import web

from bot.engine import JobEngine
from bot.errors import WebhookRejected
from bot.providers._common import REF_HEADER, webhook_header_secret

__all__ = ["MAX_WEBHOOK_BODY", "WebhookServer"]

_log = logging.getLogger(__name__)

# A callback is a job object with a handful of URLs; nothing legitimate comes near this.
MAX_WEBHOOK_BODY = 256 * 1024
# Providers that authenticate their callbacks with a header we can check, and its name.
HEADER_SECRETS = {"apiframe": "x-webhook-secret"}


class WebhookServer:
    """Receives provider callbacks and hands them to the engine."""

    def __init__(
        self,
        engine: JobEngine,
        *,
        secret: str,
        url_for: Callable[[str], str | None],
        host: str = "127.0.0.1",
        port: int = 8080,
        max_body: int = MAX_WEBHOOK_BODY,
    ) -> None:
        if len(secret) < 16:
            raise ValueError("the webhook secret must be at least 16 characters")
        self.engine = engine
        self._secret = secret.encode()
        self._url_for = url_for
        self.host = host
        self.port = port
        self.max_body = max_body
        self.received = 0
        self.rejected = 0
        self.app = web.Application(client_max_size=max_body)
        self.app.router.add_post("/webhooks/{provider}/{token}", self._handle)
        self.app.router.add_get("/webhooks/health", self._health)
        self._runner: web.AppRunner | None = None

    @property
    def bound_url(self) -> str:
        """``http://host:port`` of the listening socket (the real port when 0 was asked for)."""
        return f"http://{self.host}:{self.port}"

    async def start(self) -> None:
        self._runner = web.AppRunner(self.app, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        self.port = self._runner.addresses[0][1]
        _log.info("webhook receiver listening on %s", self.bound_url)

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _health(self, request: web.Request) -> web.Response:
        return web.json_response({"ok": True})

    async def _handle(self, request: web.Request) -> web.Response:
        provider = request.match_info["provider"]
        try:
            self._authenticate(request, provider)
            if request.content_length is not None and request.content_length > self.max_body:
                raise WebhookRejected(413, "callback body too large")
            try:
                body = await request.read()
            except web.HTTPRequestEntityTooLarge:
                raise WebhookRejected(413, "callback body too large") from None
            headers = {k.lower(): v for k, v in request.headers.items() if k.lower() != REF_HEADER}
            if "ref" in request.query:
                headers[REF_HEADER] = request.query["ref"]
            await self.engine.handle_webhook(provider, headers, body)
        except WebhookRejected as exc:
            self.rejected += 1
            _log.info("rejected a %s callback: %s (%d)", provider, exc, exc.status)
            return web.json_response({"ok": False, "error": str(exc)}, status=exc.status)
        except Exception:
            # The provider may retry; a 500 says so. The job's polling will catch up either way.
            _log.exception("applying a %s callback failed", provider)
            return web.json_response({"ok": False}, status=500)
        self.received += 1
        return web.json_response({"ok": True})

    def _authenticate(self, request: web.Request, provider: str) -> None:
        if not hmac.compare_digest(request.match_info["token"].encode(), self._secret):
            raise WebhookRejected(404, "unknown webhook route")
        header = HEADER_SECRETS.get(provider)
        if header is None:
            return
        url = self._url_for(provider)
        expected = webhook_header_secret(url) if url else ""
        given = request.headers.get(header, "")
        if not expected or not hmac.compare_digest(given.encode(), expected.encode()):
            raise WebhookRejected(401, f"bad or missing {header}")
