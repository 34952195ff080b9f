"""The bot's web server: the webhook receiver that providers call back, and the operator's endpoints.

``GET /metrics`` (Prometheus), ``GET /healthz`` (alive: 200 whenever the process answers) and
``GET /readyz`` (200 when every readiness check passes, else 503; the body names each check) are always
served; the webhook route only when a secret is given (``WEBHOOK_ENABLED``). None of the three bodies
holds a secret: metric labels are names and route templates, check details are our own words.

The webhook route is ``POST /webhooks/{provider}/{token}``. None of the providers signs its callbacks except
APIFrame (which echoes the ``webhook_secret`` we sent as ``x-webhook-secret``), so every callback URL
carries an unguessable per-deployment token (``WEBHOOK_SECRET``), compared in constant time; a wrong
token gets the same 404 as an unknown path. Bodies are capped. Applying a callback is idempotent (the
engine never moves a job backwards), so a provider's retries, duplicates and stale progress posts
are harmless. Polling goes on at a slow pace beside the callbacks, so a lost callback only delays a job.

Replays are detected and dropped: a body already applied (the same provider, ref and bytes) within
:data:`REPLAY_WINDOW_S` is acknowledged with ``{"ok": true, "duplicate": true}`` and never reaches the
engine, whether it is a provider retrying a delivery or someone re-sending a captured one. Only bodies
that were applied are remembered, so a provider retrying after our 500 is still heard. A replay older
than the window (or after a restart) reaches the engine, where it is a no-op on the job for the reason
above; the tests prove both.

Nothing here logs a URL: the path holds the token.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import time
from collections import OrderedDict
from collections.abc import Callable

from aiohttp import web

from bot.core.editor import Editor
from bot.core.engine import JobEngine
from bot.core.errors import WebhookRejected
from bot.core.health import Readiness
from bot.core.media import MediaShelf
from bot.core.metrics import CONTENT_TYPE, Metrics
from bot.core.providers._common import REF_HEADER, webhook_header_secret

__all__ = ["MAX_WEBHOOK_BODY", "WebhookServer"]

_log = logging.getLogger(__name__)

# A callback is a job object with a handful of URLs; nothing legitimate comes near this.
MAX_WEBHOOK_BODY = 256 * 1024
# How long an applied callback is remembered as a replay to drop; providers retry within minutes.
REPLAY_WINDOW_S = 600.0
# Most callbacks remembered at once; a flood of distinct bodies pushes out the oldest, never grows memory.
REPLAY_MEMORY = 20_000
# Providers that authenticate their callbacks with a header we can check, and its name.
HEADER_SECRETS = {"apiframe": "x-webhook-secret"}


class WebhookServer:
    """Receives provider callbacks and hands them to the engine."""

    def __init__(
        self,
        engine: JobEngine,
        *,
        secret: str | None,
        url_for: Callable[[str], str | None],
        host: str = "127.0.0.1",
        port: int = 8080,
        max_body: int = MAX_WEBHOOK_BODY,
        metrics: Metrics | None = None,
        readiness: Readiness | None = None,
        editor: Editor | None = None,
        media: MediaShelf | None = None,
    ) -> None:
        if secret is not None and len(secret) < 16:
            raise ValueError("the webhook secret must be at least 16 characters")
        self.engine = engine
        # None: callbacks are off and the webhook route is not served at all.
        self._secret = secret.encode() if secret is not None else None
        self.metrics = metrics
        self.readiness = readiness
        self._url_for = url_for
        self.host = host
        self.port = port
        self.max_body = max_body
        self.received = 0
        self.rejected = 0
        self.duplicates = 0
        self._applied: OrderedDict[bytes, float] = OrderedDict()
        self.app = web.Application(client_max_size=max_body)
        if self._secret is not None:
            self.app.router.add_post("/webhooks/{provider}/{token}", self._handle)
            self.app.router.add_get("/webhooks/health", self._health)
        self.app.router.add_get("/healthz", self._health)
        self.app.router.add_get("/readyz", self._ready)
        self.app.router.add_get("/metrics", self._metrics)
        if editor is not None:
            # Vary (Region)'s editor pages (bot.core.editor), on the same server and origin.
            editor.add_routes(self.app)
        if media is not None:
            # Videos too large to attach, under signed expiring links (bot.core.media).
            media.add_routes(self.app)
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
        _log.info("web server (%s) listening on %s", "webhooks, metrics, health" if self._secret else "metrics, health",
                  self.bound_url)  # fmt: skip

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _health(self, request: web.Request) -> web.Response:
        return web.json_response({"ok": True})

    async def _ready(self, request: web.Request) -> web.Response:
        if self.readiness is None:
            return web.json_response({"ok": True, "checks": {}})
        ok, checks = await self.readiness.run()
        return web.json_response({"ok": ok, "checks": checks}, status=200 if ok else 503)

    async def _metrics(self, request: web.Request) -> web.Response:
        if self.metrics is None:
            raise web.HTTPNotFound()
        # The content type carries parameters (version, charset), so it goes in as a raw header.
        return web.Response(body=self.metrics.render(), headers={"Content-Type": CONTENT_TYPE})

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
            digest = self._digest(provider, headers.get(REF_HEADER, ""), body)
            if self._seen(digest):
                self.duplicates += 1
                _log.info("dropped a replayed %r callback", provider)
                return web.json_response({"ok": True, "duplicate": True})
            await self.engine.handle_webhook(provider, headers, body)
            self._remember(digest)
        except WebhookRejected as exc:
            self.rejected += 1
            # %r: the provider name comes from the path and must not be able to forge log lines.
            _log.info("rejected a %r callback: %s (%d)", provider, exc, exc.status)
            return web.json_response({"ok": False, "error": str(exc)}, status=exc.status)
        except Exception:
            # The provider may retry; a 500 says so. The job's polling will catch up either way.
            _log.exception("applying a %r callback failed", provider)
            return web.json_response({"ok": False}, status=500)
        self.received += 1
        return web.json_response({"ok": True})

    @staticmethod
    def _digest(provider: str, ref: str, body: bytes) -> bytes:
        return hashlib.sha256(b"\0".join((provider.encode(), ref.encode("utf-8", "replace"), body))).digest()

    def _seen(self, digest: bytes) -> bool:
        at = self._applied.get(digest)
        return at is not None and time.monotonic() - at < REPLAY_WINDOW_S

    def _remember(self, digest: bytes) -> None:
        self._applied[digest] = time.monotonic()
        self._applied.move_to_end(digest)
        while len(self._applied) > REPLAY_MEMORY:
            self._applied.popitem(last=False)

    def _authenticate(self, request: web.Request, provider: str) -> None:
        assert self._secret is not None  # the route exists only with a secret
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
