"""httpx's client API on aiohttp's connection pool: the transport of the HTTP client the providers share.

Under a burst of jobs the default transport (httpcore over anyio, h11 in pure Python) was the bot's largest
single cost: about 1 ms of CPU per provider call or image download, a good part of it re-checking every
pooled connection before each request. aiohttp, which discord.py already brings, parses HTTP in C. The
adapters keep speaking httpx (requests, responses, errors and their tests' ``MockTransport`` are
unchanged); only the bytes go through aiohttp.

What httpx would have done is kept: no redirects followed here (the client decides), response bodies
left encoded for httpx to decode, per-request timeouts, the ``sni_hostname`` extension (a request sent
to a checked IP address still verifies the certificate of the name), proxies from the environment.
aiohttp's errors become httpx's, so callers catch ``httpx.HTTPError`` as before.
"""

from __future__ import annotations

import urllib.request
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import httpx
import yarl

from bot.core import crashpoints

__all__ = ["AiohttpTransport"]

# Connections open at once, as httpx's default pool allows.
MAX_CONNECTIONS = 100
# Idle connections are dropped after this long, as httpx does, before most servers drop them unannounced.
KEEPALIVE_S = 5.0


class AiohttpTransport(httpx.AsyncBaseTransport):
    """Sends httpx requests with one aiohttp session, opened in the running loop on first use."""

    def __init__(self, *, max_connections: int = MAX_CONNECTIONS, keepalive_s: float = KEEPALIVE_S) -> None:
        self._max_connections = max_connections
        self._keepalive_s = keepalive_s
        self._session: aiohttp.ClientSession | None = None

    def _open(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(limit=self._max_connections, keepalive_timeout=self._keepalive_s)
            self._session = aiohttp.ClientSession(
                connector=connector,
                auto_decompress=False,  # httpx decodes Content-Encoding itself
                cookie_jar=aiohttp.DummyCookieJar(),  # httpx keeps the cookies, as it would have
                # aiohttp reads proxy variables and ~/.netrc on a worker thread for every request when told
                # to trust the environment: only worth it when a proxy is actually configured.
                trust_env=bool(urllib.request.getproxies()),
            )
        return self._session

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        session = self._open()
        timeouts: dict[str, float | None] = request.extensions.get("timeout", {})
        timeout = aiohttp.ClientTimeout(
            total=None,
            connect=timeouts.get("pool"),
            sock_connect=timeouts.get("connect"),
            sock_read=timeouts.get("read"),
        )
        try:
            body = request.content
        except httpx.RequestNotRead:
            body = await request.aread()
        options: dict[str, Any] = {}
        sni = request.extensions.get("sni_hostname")
        if sni and request.url.scheme == "https":
            options["server_hostname"] = sni.decode() if isinstance(sni, bytes) else str(sni)
        try:
            response = await session.request(
                request.method,
                yarl.URL(str(request.url), encoded=True),  # httpx has already percent-encoded it
                headers=list(request.headers.multi_items()),
                data=body or None,
                allow_redirects=False,
                timeout=timeout,
                **options,
            )
        except Exception as exc:
            raise _httpx_error(exc, request) from exc
        crashpoints.response_arrived()
        return httpx.Response(
            status_code=response.status,
            headers=list(response.raw_headers),
            stream=_ResponseBody(response, request),
            request=request,
            extensions={"http_version": b"HTTP/1.1", "reason_phrase": (response.reason or "").encode()},
        )

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


class _ResponseBody(httpx.AsyncByteStream):
    def __init__(self, response: aiohttp.ClientResponse, request: httpx.Request) -> None:
        self._response = response
        self._request = request

    async def __aiter__(self) -> AsyncIterator[bytes]:
        try:
            async for chunk in self._response.content.iter_any():
                yield chunk
        except Exception as exc:
            raise _httpx_error(exc, self._request) from exc

    async def aclose(self) -> None:
        self._response.release()


def _httpx_error(exc: Exception, request: httpx.Request) -> Exception:
    """The httpx exception that stands for an aiohttp one; anything else is returned unchanged."""
    message = str(exc) or type(exc).__name__
    if isinstance(exc, aiohttp.ConnectionTimeoutError):
        return httpx.ConnectTimeout(message, request=request)
    if isinstance(exc, TimeoutError):
        return httpx.ReadTimeout(message, request=request)
    if isinstance(exc, aiohttp.ClientConnectorError):
        return httpx.ConnectError(message, request=request)
    if isinstance(exc, aiohttp.InvalidURL):
        return httpx.UnsupportedProtocol(message, request=request)
    if isinstance(exc, aiohttp.ServerDisconnectedError | aiohttp.ClientPayloadError | aiohttp.ClientResponseError):
        return httpx.RemoteProtocolError(message, request=request)
    if isinstance(exc, aiohttp.ClientOSError):
        return httpx.ReadError(message, request=request)
    if isinstance(exc, aiohttp.ClientError):
        return httpx.TransportError(message, request=request)
    return exc
