"""The providers' HTTP client on aiohttp behaves as httpx's own transport did, against a loopback server."""

from __future__ import annotations

import asyncio
import gzip
import json
import socket
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from aiohttp import web

from bot.core.http_transport import AiohttpTransport


async def _echo(request: web.Request) -> web.Response:
    body = await request.read()
    return web.json_response(
        {
            "method": request.method,
            "path": request.path,
            "query": request.rel_url.raw_query_string,
            "host": request.headers.get("Host"),
            "auth": request.headers.get("Authorization"),
            "body": json.loads(body) if body else None,
        }
    )


async def _big(request: web.Request) -> web.Response:
    return web.Response(body=bytes(range(256)) * 4096, content_type="image/png")


async def _gzipped(request: web.Request) -> web.Response:
    return web.Response(body=gzip.compress(b'{"ok": true}'), headers={"Content-Encoding": "gzip"})


async def _redirect(request: web.Request) -> web.Response:
    return web.Response(status=302, headers={"Location": "/echo"})


async def _slow(request: web.Request) -> web.Response:
    await asyncio.sleep(2)
    return web.Response(text="late")


@pytest.fixture
async def server() -> AsyncIterator[str]:
    app = web.Application()
    app.router.add_route("*", "/echo", _echo)
    app.router.add_get("/big", _big)
    app.router.add_get("/gzip", _gzipped)
    app.router.add_get("/redirect", _redirect)
    app.router.add_get("/slow", _slow)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        yield f"http://127.0.0.1:{runner.addresses[0][1]}"
    finally:
        await runner.cleanup()


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=AiohttpTransport(), timeout=5.0, follow_redirects=False) as http:
        yield http


async def test_json_round_trip_with_headers_and_encoded_query(server: str, client: httpx.AsyncClient) -> None:
    response = await client.post(
        f"{server}/echo", json={"prompt": "a cat ☕"}, params={"q": "a b&c/é"}, headers={"Authorization": "Bearer k"}
    )
    assert response.status_code == 200 and response.headers["content-type"].startswith("application/json")
    echoed = response.json()
    assert echoed["method"] == "POST" and echoed["body"] == {"prompt": "a cat ☕"} and echoed["auth"] == "Bearer k"
    assert echoed["query"] == httpx.URL(f"{server}/echo", params={"q": "a b&c/é"}).query.decode()


async def test_streamed_body_arrives_whole(server: str, client: httpx.AsyncClient) -> None:
    async with client.stream("GET", f"{server}/big") as response:
        data = b"".join([chunk async for chunk in response.aiter_bytes()])
    assert data == bytes(range(256)) * 4096


async def test_content_encoding_is_decoded_once(server: str, client: httpx.AsyncClient) -> None:
    assert (await client.get(f"{server}/gzip")).json() == {"ok": True}


async def test_redirects_are_left_to_the_caller(server: str, client: httpx.AsyncClient) -> None:
    response = await client.get(f"{server}/redirect")
    assert response.status_code == 302 and response.is_redirect and response.headers["location"] == "/echo"


async def test_host_header_travels_as_given(server: str, client: httpx.AsyncClient) -> None:
    # netguard connects to an address it checked and names the host in the header.
    response = await client.get(f"{server}/echo", headers={"Host": "images.example.test"})
    assert response.json()["host"] == "images.example.test"


async def test_errors_are_httpx_errors(server: str, client: httpx.AsyncClient) -> None:
    with pytest.raises(httpx.ReadTimeout):
        await client.get(f"{server}/slow", timeout=httpx.Timeout(5.0, read=0.2))
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed_port = sock.getsockname()[1]
    with pytest.raises(httpx.ConnectError):
        await client.get(f"http://127.0.0.1:{closed_port}/")


async def test_sni_hostname_reaches_the_tls_handshake(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: dict[str, Any] = {}
    transport = AiohttpTransport()

    async def fake_request(self: Any, method: str, url: Any, **kwargs: Any) -> Any:
        seen.update(kwargs, url=str(url))
        raise OSError("stop here")

    monkeypatch.setattr("aiohttp.ClientSession.request", fake_request)
    async with httpx.AsyncClient(transport=transport) as http:
        request = http.build_request("GET", "https://203.0.113.7/a.png", extensions={"sni_hostname": "cdn.test"})
        with pytest.raises(OSError, match="stop here"):
            await http.send(request)
    assert seen["server_hostname"] == "cdn.test" and seen["url"] == "https://203.0.113.7/a.png"
    assert seen["allow_redirects"] is False
