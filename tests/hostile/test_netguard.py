"""The image guard against hostile links: SSRF by address, by name, by redirect; oversized, mislabelled
and decompression-bomb images. No network: names resolve through a table and HTTP goes to a mock
transport that records what it was asked, so a refused hop provably never left the bot."""

from __future__ import annotations

import asyncio
import io
import struct
import zlib
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from PIL import Image

from bot.core import netguard
from bot.core.errors import ProviderError
from bot.core.models import ErrorReason
from bot.core.netguard import MAX_PIXELS, ImageGuard, ImageRefused, open_image
from bot.core.providers.base import Account, ImagineRequest
from bot.core.providers.local import LocalProvider

# A public address from the documentation-free global space; nothing here ever connects to it.
PUBLIC_IP = "93.184.216.34"
DISCORD = "http://127.0.0.1:5555/api/v10"
NAMES = {
    "img.example": [PUBLIC_IP],
    "hop.example": [PUBLIC_IP],
    "rebind.example": [PUBLIC_IP, "10.0.0.7"],
    "inside.example": ["192.168.1.20"],
    "meta.example": ["169.254.169.254"],
    "v6local.example": ["::1"],
}


async def table_resolver(host: str, port: int) -> list[str]:
    if host not in NAMES:
        raise OSError(f"no such host {host}")
    return NAMES[host]


def guard() -> ImageGuard:
    return ImageGuard.for_discord(DISCORD, resolver=table_resolver)


def png(width: int = 8, height: int = 8) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), (200, 30, 30)).save(buffer, format="PNG")
    return buffer.getvalue()


def png_header_only(width: int, height: int) -> bytes:
    """A PNG that claims a size in its header and carries one empty row: a bomb's calling card."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0")) + chunk(b"IEND", b"")


class Web:
    """A mock web: routes by the Host header (the guard connects to IPs) and records every request."""

    def __init__(self, routes: dict[str, Callable[[httpx.Request], httpx.Response]]) -> None:
        self.routes = routes
        self.seen: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.seen.append(request)
        key = f"{request.headers['host']}{request.url.path}"
        handler = self.routes.get(key)
        return handler(request) if handler else httpx.Response(404)

    def client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(transport=httpx.MockTransport(self))


def image_answer(data: bytes, content_type: str = "image/png") -> Callable[[httpx.Request], httpx.Response]:
    return lambda request: httpx.Response(200, content=data, headers={"content-type": content_type})


def redirect(to: str, status: int = 302) -> Callable[[httpx.Request], httpx.Response]:
    return lambda request: httpx.Response(status, headers={"location": to})


# -- the form of a link ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "link",
    [
        "ftp://img.example/a.png",
        "file:///etc/passwd",
        "javascript:alert(1)",
        "data:image/png;base64,iVBORw0KGgo=",
        "gopher://img.example:70/_x",
        "http:///a.png",
        "http://user:pass@img.example/a.png",
        "http://img.example@127.0.0.1/a.png",
        "not a link at all",
    ],
)
async def test_only_plain_http_links_are_considered(link: str) -> None:
    with pytest.raises(ImageRefused) as caught:
        await guard().check_link(link)
    assert "image link" in str(caught.value) and caught.value.reason is ErrorReason.INVALID_IMAGE


@pytest.mark.parametrize(
    "host",
    [
        "127.0.0.1", "127.8.9.10", "10.1.2.3", "172.16.0.1", "192.168.0.1", "169.254.169.254", "169.254.170.2",
        "100.64.0.1", "100.100.100.200", "192.0.0.192", "0.0.0.0", "224.0.0.1", "239.255.255.250", "240.0.0.1",
        "255.255.255.255", "198.18.0.1", "[::1]", "[::]", "[fe80::1]", "[fc00::1]", "[fd00:ec2::254]",
        "[ff02::1]", "[::ffff:127.0.0.1]", "[::ffff:a9fe:a9fe]", "[2002:7f00:1::]", "[2002:a9fe:a9fe::]",
        "[64:ff9b::7f00:1]", "[2001:0:4136:e378:8000:63bf:f5ff:fffe]",
        # Legacy spellings of 127.0.0.1 that resolvers accept.
        "2130706433", "0x7f.1", "017700000001", "127.1",
    ],
)  # fmt: skip
async def test_non_public_addresses_are_refused(host: str) -> None:
    with pytest.raises(ImageRefused) as caught:
        await guard().check_link(f"http://{host}/a.png")
    assert "does not fetch images from" in str(caught.value), caught.value.why
    with pytest.raises(ImageRefused):
        guard().precheck(f"http://{host}/a.png")  # refused before any network, even before the defer


@pytest.mark.parametrize(
    "host",
    ["localhost", "LOCALHOST.", "api.localhost", "metadata.google.internal", "metadata", "instance-data", "x.internal"],
)
async def test_names_that_mean_this_machine_or_metadata_are_refused_without_a_lookup(host: str) -> None:
    asked: list[str] = []

    async def resolver(name: str, port: int) -> list[str]:
        asked.append(name)
        return [PUBLIC_IP]

    with pytest.raises(ImageRefused):
        await ImageGuard(resolver=resolver).check_link(f"https://{host}/a.png")
    assert asked == []


@pytest.mark.parametrize("host", ["inside.example", "meta.example", "v6local.example", "rebind.example"])
async def test_names_resolving_to_any_non_public_address_are_refused(host: str) -> None:
    with pytest.raises(ImageRefused) as caught:
        await guard().check_link(f"https://{host}/a.png")
    assert "non-public" in caught.value.why


async def test_unresolvable_and_slow_names_are_unreachable(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ImageRefused, match="could not be reached"):
        await guard().check_link("https://nowhere.example/a.png")

    async def slow(host: str, port: int) -> list[str]:
        await asyncio.sleep(5)
        return [PUBLIC_IP]

    monkeypatch.setattr(netguard, "RESOLVE_TIMEOUT_S", 0.05)
    with pytest.raises(ImageRefused, match="could not be reached"):
        await ImageGuard(resolver=slow).check_link("https://img.example/a.png")


async def test_public_links_pass() -> None:
    await guard().check_link("https://img.example/a.png?size=2")
    await guard().check_link(f"http://{PUBLIC_IP}:8080/a.png")


def test_trust_is_exact_origin_of_the_configured_discord() -> None:
    g = guard()
    assert g.is_trusted("http://127.0.0.1:5555/attachments/1/2/a.png")
    assert g.is_trusted("https://cdn.discordapp.com/attachments/1/2/a.png")
    assert g.is_trusted("https://media.discordapp.net/attachments/1/2/a.png")
    assert not g.is_trusted("http://127.0.0.1:5556/attachments/a.png")  # another port
    assert not g.is_trusted("https://127.0.0.1:5555/attachments/a.png")  # another scheme
    assert not g.is_trusted("http://x@127.0.0.1:5555/attachments/a.png")
    assert not g.is_trusted("https://cdn.discordapp.com.evil.example/a.png")
    assert not ImageGuard.for_discord("https://discord.com/api/v10").is_trusted("http://127.0.0.1:5555/a.png")


async def test_typed_links_are_checked_even_on_the_trusted_origin() -> None:
    g = guard()
    await g.check_upload("http://127.0.0.1:5555/attachments/1/2/a.png")
    with pytest.raises(ImageRefused):
        await g.check_link("http://127.0.0.1:5555/attachments/1/2/a.png")


# -- fetching --------------------------------------------------------------------------------------


async def test_fetch_connects_to_the_checked_address_with_the_name_in_host() -> None:
    web = Web({"img.example/a.png": image_answer(png())})
    async with web.client() as http:
        data = await guard().fetch(http, "http://img.example/a.png")
    assert data == png()
    (request,) = web.seen
    assert request.url.host == PUBLIC_IP and request.headers["host"] == "img.example"


async def test_https_keeps_the_name_for_tls() -> None:
    web = Web({"img.example/a.png": image_answer(png())})
    async with web.client() as http:
        await guard().fetch(http, "https://img.example/a.png")
    assert web.seen[0].extensions["sni_hostname"] == "img.example"


@pytest.mark.parametrize(
    "target",
    [
        "http://127.0.0.1/a.png",
        "http://169.254.169.254/latest/meta-data/",
        "http://inside.example/a.png",
        "http://[::ffff:10.0.0.1]/a.png",
        "http://localhost:8080/a.png",
        "file:///etc/passwd",
        "http://127.0.0.1:5555/attachments/a.png",  # the trusted origin, reached by a redirect from elsewhere
    ],
)
async def test_every_redirect_hop_is_checked_again(target: str) -> None:
    web = Web({"hop.example/a.png": redirect(target), "127.0.0.1:5555/attachments/a.png": image_answer(png())})
    async with web.client() as http:
        if target.startswith("http://127.0.0.1:5555"):
            # The trusted origin stays trusted after a redirect: it is the Discord we were configured for.
            assert await guard().fetch(http, "http://hop.example/a.png") == png()
            return
        with pytest.raises(ImageRefused):
            await guard().fetch(http, "http://hop.example/a.png")
    assert len(web.seen) == 1, "the refused hop was requested"


async def test_relative_redirects_are_followed_and_long_chains_refused() -> None:
    web = Web({"hop.example/a": redirect("/b", 301), "hop.example/b": redirect("/c.png", 307),
               "hop.example/c.png": image_answer(png())})  # fmt: skip
    async with web.client() as http:
        assert await guard().fetch(http, "http://hop.example/a") == png()
    loop = Web({"hop.example/a": redirect("/a")})
    async with loop.client() as http:
        with pytest.raises(ImageRefused, match="could not be reached"):
            await guard().fetch(http, "http://hop.example/a")
    assert len(loop.seen) == netguard.MAX_REDIRECTS + 1


@pytest.mark.parametrize("content_type", ["text/html", "image/svg+xml", "application/octet-stream", ""])
async def test_only_the_four_image_types_are_read(content_type: str) -> None:
    web = Web({"img.example/a.png": image_answer(png(), content_type)})
    async with web.client() as http:
        with pytest.raises(ImageRefused, match="PNG, JPEG, GIF or WebP"):
            await guard().fetch(http, "http://img.example/a.png")


async def test_size_is_capped_declared_or_not() -> None:
    big = b"\0" * 2048
    declared = Web({"img.example/a.png": image_answer(big)})
    async with declared.client() as http:
        with pytest.raises(ImageRefused, match="too large"):
            await guard().fetch(http, "http://img.example/a.png", max_bytes=1024)

    async def stream() -> object:
        for _ in range(64):
            yield b"\0" * 1024

    def streamed(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=stream(), headers={"content-type": "image/png"})

    undeclared = Web({"img.example/a.png": streamed})
    async with undeclared.client() as http:
        with pytest.raises(ImageRefused, match="too large"):
            await guard().fetch(http, "http://img.example/a.png", max_bytes=4096)


async def test_errors_and_failures_are_unreachable() -> None:
    def broken(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    web = Web({"img.example/404.png": lambda r: httpx.Response(404), "img.example/x.png": broken})
    async with web.client() as http:
        for path in ("404.png", "x.png"):
            with pytest.raises(ImageRefused, match="could not be reached"):
                await guard().fetch(http, f"http://img.example/{path}")


# -- decoding --------------------------------------------------------------------------------------


def test_pillow_limit_is_set_deliberately() -> None:
    assert Image.MAX_IMAGE_PIXELS == MAX_PIXELS


@pytest.mark.parametrize(
    ("width", "height"),
    [(7000, 7000), (100_000, 100_000), (MAX_PIXELS + 1, 1), (1, 2**31 - 1)],
)
def test_decompression_bombs_are_refused(width: int, height: int) -> None:
    with pytest.raises(ImageRefused, match="too large"):
        open_image(png_header_only(width, height))


@pytest.mark.parametrize(
    "data",
    [b"", b"GIF89a", b"<svg xmlns='http://www.w3.org/2000/svg'/>", png()[:40], b"BM" + b"\0" * 60],
    ids=["empty", "gif-header", "svg", "truncated-png", "bmp"],
)
def test_what_is_not_one_of_the_four_formats_is_refused(data: bytes) -> None:
    with pytest.raises(ImageRefused, match="PNG, JPEG, GIF or WebP"):
        open_image(data)


def test_a_tiff_is_refused_even_when_pillow_reads_it() -> None:
    buffer = io.BytesIO()
    Image.new("RGB", (4, 4)).save(buffer, format="TIFF")
    with pytest.raises(ImageRefused):
        open_image(buffer.getvalue())


def test_a_real_image_opens() -> None:
    with open_image(png(16, 9)) as image:
        assert image.size == (16, 9)


# -- the local provider, which fetches a member's reference image itself ---------------------------


async def test_local_provider_refuses_a_hostile_reference_politely(tmp_path: Path) -> None:
    web = Web({"127.0.0.1:5555/attachments/bomb.png": image_answer(png_header_only(9000, 9000))})
    account = Account(
        provider="local", name="local", base_url="local://",
        options={"data_dir": str(tmp_path), "step_seconds": 0, "trusted_image_origins": [DISCORD]},
    )  # fmt: skip
    async with web.client() as http:
        provider = LocalProvider(account, http)
        for link in ("http://169.254.169.254/latest/a.png", "http://127.0.0.1:5555/attachments/bomb.png"):
            with pytest.raises(ProviderError) as caught:
                await provider.imagine(ImagineRequest(job_id="j", prompt="a fox", image_urls=(link,)))
            assert caught.value.reason is ErrorReason.INVALID_IMAGE
    # Only the trusted upload was fetched; the metadata address never was.
    assert [r.url.path for r in web.seen] == ["/attachments/bomb.png"]


async def test_pinning_through_the_bots_own_transport(monkeypatch: pytest.MonkeyPatch) -> None:
    """The bot's providers share an aiohttp-backed httpx transport: a pinned request still names its host."""
    from aiohttp import web

    from bot.core.http_transport import AiohttpTransport

    seen: list[str] = []

    async def serve(request: web.Request) -> web.Response:
        seen.append(request.headers["Host"])
        if request.path == "/hop":
            raise web.HTTPFound("http://localhost/inside.png")
        return web.Response(body=png(), content_type="image/png")

    app = web.Application()
    app.router.add_get("/{name}", serve)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    # Loopback stands in for a public server here; everything else is the real path.
    monkeypatch.setattr(netguard, "is_public_address", lambda address: True)

    async def resolver(host: str, port: int) -> list[str]:
        return ["127.0.0.1"]

    try:
        async with httpx.AsyncClient(transport=AiohttpTransport()) as http:
            data = await ImageGuard(resolver=resolver).fetch(http, f"http://img.example:{port}/a.png")
            with pytest.raises(ImageRefused):
                await ImageGuard(resolver=resolver).fetch(http, f"http://img.example:{port}/hop")
    finally:
        await runner.cleanup()
    assert data == png()
    assert seen == [f"img.example:{port}", f"img.example:{port}"]
