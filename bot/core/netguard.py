"""Fetching a member's image without letting a member aim the bot at places it must not reach.

A member hands the bot image links (typed at the front of a prompt, or an upload whose URL Discord
gives us). Wherever the bot itself fetches such a link, or accepts one on a member's word, it goes
through here:

* only ``http`` and ``https``, no user-info, no odd ports or host spellings left to interpretation;
* every address a host name resolves to must be a public unicast address: loopback, private,
  link-local, shared (CGNAT), multicast, reserved, unspecified and the clouds' metadata addresses are
  refused, including when hidden inside an IPv6 form (IPv4-mapped, 6to4, Teredo, NAT64);
* the request goes to the very address that was checked (the URL's host is swapped for the IP, with
  the name kept in ``Host`` and TLS SNI), so a DNS answer that changes between check and connect
  (rebinding) cannot slip past;
* redirects are never followed by the HTTP client: each hop is checked again, a few hops at most;
* the answer must say it is a PNG, JPEG, GIF or WebP, and is read up to a size cap;
* decoding refuses images with more pixels than :data:`MAX_PIXELS` (Pillow's decompression-bomb limit,
  set here on purpose rather than left at Pillow's default).

Uploads served by the Discord the bot is configured for (the host of ``DISCORD_API_BASE``, and
Discord's CDN hosts) are trusted: that is where the member's own attachments live, and the local
Discord of the tests serves them on loopback. A link typed into a prompt is always checked, whatever
its host.

Refusals are :class:`ImageRefused`, an :class:`~bot.core.errors.InputError` whose text is polite and safe to
show to the member; the technical reason (for logs) is in ``why``.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import ipaddress
import socket
import warnings
from collections.abc import Awaitable, Callable, Iterable
from typing import Final

import httpx
from PIL import Image

# ImageRefused lives in the exception tree (bot.core.errors) and is re-exported here, where callers found it.
from bot.core.errors import ImageRefused

__all__ = [
    "DISCORD_MEDIA_ORIGINS",
    "IMAGE_CONTENT_TYPES",
    "MAX_IMAGE_BYTES",
    "MAX_PIXELS",
    "ImageGuard",
    "ImageRefused",
    "is_public_address",
    "open_image",
]

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[[str, int], Awaitable[list[str]]]

# Discord caps a free member's upload at 10 MiB; a starting image has no business being larger.
MAX_IMAGE_BYTES: Final = 10 * 1024 * 1024
# About a 6300×6300 picture: far above any real starting image, far below what exhausts memory
# (Pillow decodes 4 bytes a pixel, so this is ~160 MB at worst). Pillow's own default (~89 M) is too lax.
MAX_PIXELS: Final = 40_000_000
Image.MAX_IMAGE_PIXELS = MAX_PIXELS
# A chain of redirects longer than this is a loop or a trick; image hosts use one or two.
MAX_REDIRECTS: Final = 3
# A name that takes longer than this to resolve is treated as unreachable (the member is waiting).
RESOLVE_TIMEOUT_S: Final = 3.0
# One hop of a fetch, connect to last byte.
FETCH_TIMEOUT: Final = httpx.Timeout(10.0, connect=5.0)
IMAGE_CONTENT_TYPES: Final = frozenset({"image/png", "image/jpeg", "image/gif", "image/webp"})
_IMAGE_FORMATS: Final = frozenset({"PNG", "JPEG", "GIF", "WEBP", "MPO"})
# Where Discord serves attachments in production; always trusted for uploads.
DISCORD_MEDIA_ORIGINS: Final = ("https://cdn.discordapp.com", "https://media.discordapp.net")
# Instance-metadata services that sit on addresses some checks call public (Oracle's 192.0.0.192,
# Alibaba's 100.100.100.200 is shared space anyway) or on link-local ones; listed so no rule change
# in ipaddress can let them through.
_METADATA_ADDRESSES: Final = frozenset(
    ipaddress.ip_address(a)
    for a in ("169.254.169.254", "169.254.170.2", "169.254.169.123", "100.100.100.200", "192.0.0.192", "fd00:ec2::254")
)
# Names that mean "this machine" or "the cloud's metadata service" whatever the resolver says.
_BLOCKED_NAMES: Final = frozenset(
    {
        "localhost",
        "metadata",
        "metadata.google.internal",
        "metadata.goog",
        "instance-data",
        "instance-data.ec2.internal",
    }
)
_NAT64: Final = ipaddress.ip_network("64:ff9b::/96")

_REFUSED_WHERE = (
    "That image link points somewhere the bot does not fetch images from. Use a public image link or upload the image."
)
_REFUSED_LINK = "That image link is not one the bot can use. Use a public http(s) image link or upload the image."
_UNREACHABLE = "The image link could not be reached. Check that it is public, or upload the image instead."
_NOT_AN_IMAGE = "The image link did not lead to a PNG, JPEG, GIF or WebP image. Upload the image instead."
_TOO_LARGE = "The image is too large. Send one under 10 MB and under 40 megapixels."


def is_public_address(address: IPAddress) -> bool:
    """Whether an address is one the bot may connect to for a member: global unicast, not metadata."""
    embedded: list[IPAddress] = []
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            embedded.append(address.ipv4_mapped)
        if address.sixtofour is not None:
            embedded.append(address.sixtofour)
        if address.teredo is not None:
            embedded.extend(address.teredo)
        if address in _NAT64:
            embedded.append(ipaddress.IPv4Address(int(address) & 0xFFFFFFFF))
    if any(not is_public_address(inner) for inner in embedded):
        return False
    if address in _METADATA_ADDRESSES:
        return False
    return address.is_global and not (
        address.is_multicast
        or address.is_private
        or address.is_loopback
        or address.is_link_local
        or address.is_reserved
        or address.is_unspecified
    )


def _ip_literal(host: str) -> IPAddress | None:
    """The address a host spells directly, including the legacy IPv4 forms (``2130706433``, ``0x7f.1``)
    that resolvers accept and naive checks miss."""
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        pass
    if host and all(c in "0123456789abcdefx." for c in host) and any(c.isdigit() for c in host):
        with contextlib.suppress(OSError, UnicodeError):
            return ipaddress.IPv4Address(socket.inet_aton(host))
    return None


async def system_resolver(host: str, port: int) -> list[str]:
    """Every address the system resolver gives for ``host``."""
    loop = asyncio.get_running_loop()
    infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in infos]


def _origin(url: httpx.URL) -> tuple[str, str, int]:
    port = url.port or (443 if url.scheme == "https" else 80)
    return (url.scheme, (url.host or "").lower().rstrip("."), port)


class ImageGuard:
    """The checks above, with the trusted upload origins of one deployment."""

    def __init__(self, trusted_origins: Iterable[str] = (), *, resolver: Resolver | None = None) -> None:
        origins = {*DISCORD_MEDIA_ORIGINS, *(o for o in trusted_origins if o)}
        self.trusted = frozenset(_origin(httpx.URL(o)) for o in origins)
        self.resolver = resolver or system_resolver

    @classmethod
    def for_discord(cls, api_base: str, *, resolver: Resolver | None = None) -> ImageGuard:
        """A guard that trusts uploads served by the Discord at ``api_base`` (its scheme, host and port)."""
        return cls([api_base], resolver=resolver)

    # -- checks ----------------------------------------------------------------------------------

    def parse(self, link: str) -> httpx.URL:
        """The link as a URL, if its form is acceptable at all; no network."""
        try:
            url = httpx.URL(link)
        except (httpx.InvalidURL, ValueError, TypeError):
            raise ImageRefused(_REFUSED_LINK, "unparseable URL") from None
        if url.scheme not in ("http", "https"):
            raise ImageRefused(_REFUSED_LINK, f"scheme {url.scheme!r}")
        host = (url.host or "").lower().rstrip(".")
        if not host:
            raise ImageRefused(_REFUSED_LINK, "no host")
        if url.userinfo:
            raise ImageRefused(_REFUSED_LINK, "user-info in the URL")
        if url.port is not None and not 0 < url.port < 65536:
            raise ImageRefused(_REFUSED_LINK, f"port {url.port}")
        if host in _BLOCKED_NAMES or host.endswith((".localhost", ".internal", ".local")):
            raise ImageRefused(_REFUSED_WHERE, f"blocked host name {host!r}")
        return url

    def precheck(self, link: str) -> None:
        """What can be refused without the network: the form, blocked names, and literal addresses."""
        url = self.parse(link)
        literal = _ip_literal((url.host or "").lower().rstrip("."))
        if literal is not None and not is_public_address(literal):
            raise ImageRefused(_REFUSED_WHERE, f"non-public address {literal}")

    def is_trusted(self, link: str | httpx.URL) -> bool:
        """Whether a URL is on one of the trusted upload origins (scheme, host and port all equal)."""
        try:
            url = link if isinstance(link, httpx.URL) else httpx.URL(link)
        except (httpx.InvalidURL, ValueError, TypeError):
            return False
        return not url.userinfo and _origin(url) in self.trusted

    async def resolve(self, url: httpx.URL) -> IPAddress:
        """The address to connect to for ``url``: every address of its host must be public."""
        host = (url.host or "").lower().rstrip(".")
        port = _origin(url)[2]
        literal = _ip_literal(host)
        if literal is not None:
            addresses = [literal]
        else:
            try:
                answers = await asyncio.wait_for(self.resolver(host, port), RESOLVE_TIMEOUT_S)
            except (OSError, TimeoutError, UnicodeError) as exc:
                raise ImageRefused(_UNREACHABLE, f"cannot resolve {host!r}: {type(exc).__name__}") from None
            addresses = []
            for answer in answers:
                with contextlib.suppress(ValueError):
                    # Scoped IPv6 answers carry "%iface"; the address part is what matters.
                    addresses.append(ipaddress.ip_address(answer.split("%", 1)[0]))
            if not addresses:
                raise ImageRefused(_UNREACHABLE, f"{host!r} has no address")
        refused = [a for a in addresses if not is_public_address(a)]
        if refused:
            raise ImageRefused(_REFUSED_WHERE, f"{host!r} resolves to non-public {refused[0]}")
        return addresses[0]

    async def check_link(self, link: str) -> None:
        """A link typed into a prompt: well formed, and its host public. Trust does not apply."""
        await self.resolve(self.parse(link))

    async def check_upload(self, link: str) -> None:
        """An attachment's URL: trusted if Discord serves it, else checked like a typed link."""
        if not self.is_trusted(link):
            await self.check_link(link)

    # -- fetching --------------------------------------------------------------------------------

    async def fetch(self, http: httpx.AsyncClient, link: str, *, max_bytes: int = MAX_IMAGE_BYTES) -> bytes:
        """Download an image, checking every hop; returns its bytes (not yet decoded)."""
        url = self.parse(link)
        for _hop in range(MAX_REDIRECTS + 1):
            request = await self._request_for(http, url)
            try:
                response = await http.send(request, stream=True, follow_redirects=False)
            except httpx.HTTPError as exc:
                raise ImageRefused(_UNREACHABLE, f"fetch failed: {type(exc).__name__}") from None
            try:
                if response.is_redirect:
                    url = self.parse(_joined(url, response.headers.get("location", "")))
                    continue
                if response.status_code != 200:
                    raise ImageRefused(_UNREACHABLE, f"answered {response.status_code}")
                return await _read_image_body(response, max_bytes)
            finally:
                await response.aclose()
        raise ImageRefused(_UNREACHABLE, f"more than {MAX_REDIRECTS} redirects")

    async def _request_for(self, http: httpx.AsyncClient, url: httpx.URL) -> httpx.Request:
        headers = {"Accept": ", ".join(sorted(IMAGE_CONTENT_TYPES))}
        if self.is_trusted(url):
            return http.build_request("GET", url, headers=headers, timeout=FETCH_TIMEOUT)
        address = await self.resolve(url)
        host = url.host
        if _ip_literal(host) is not None:
            return http.build_request("GET", url.copy_with(host=str(address)), headers=headers, timeout=FETCH_TIMEOUT)
        # Connect to the address just checked; the name travels in Host and SNI so TLS still verifies it.
        headers["Host"] = host if url.port is None else f"{host}:{url.port}"
        extensions = {"sni_hostname": host} if url.scheme == "https" else {}
        return http.build_request(
            "GET", url.copy_with(host=str(address)), headers=headers, timeout=FETCH_TIMEOUT, extensions=extensions
        )


def _joined(base: httpx.URL, location: str) -> str:
    try:
        return str(base.join(location))
    except (httpx.InvalidURL, ValueError, TypeError):
        return ""


async def _read_image_body(response: httpx.Response, max_bytes: int) -> bytes:
    content_type = response.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if content_type not in IMAGE_CONTENT_TYPES:
        raise ImageRefused(_NOT_AN_IMAGE, f"content type {content_type or 'missing'!r}")
    declared = response.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > max_bytes:
        raise ImageRefused(_TOO_LARGE, f"declared {declared} bytes")
    chunks: list[bytes] = []
    size = 0
    try:
        async for chunk in response.aiter_bytes():
            size += len(chunk)
            if size > max_bytes:
                raise ImageRefused(_TOO_LARGE, f"more than {max_bytes} bytes")
            chunks.append(chunk)
    except httpx.HTTPError as exc:
        raise ImageRefused(_UNREACHABLE, f"download failed: {type(exc).__name__}") from None
    return b"".join(chunks)


def open_image(data: bytes) -> Image.Image:
    """Decode an image a member supplied, refusing anything but the four formats and any pixel bomb.

    The caller closes the image. Decoding is forced here, so a truncated or hostile file fails now.
    """
    try:
        with warnings.catch_warnings():
            # Pillow only warns between MAX_IMAGE_PIXELS and twice that; we refuse from the limit itself.
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
            if image.format not in _IMAGE_FORMATS:
                image.close()
                raise ImageRefused(_NOT_AN_IMAGE, f"format {image.format!r}")
            if image.width * image.height > MAX_PIXELS:
                image.close()
                raise ImageRefused(_TOO_LARGE, f"{image.width}x{image.height} pixels")
            image.load()
    except ImageRefused:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ImageRefused(_TOO_LARGE, f"decompression bomb: {exc}") from None
    except (OSError, ValueError, SyntaxError, EOFError) as exc:
        # Pillow reports a broken file as any of these, depending on the format's plugin.
        raise ImageRefused(_NOT_AN_IMAGE, f"undecodable: {type(exc).__name__}") from None
    return image
