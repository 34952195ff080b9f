"""Vary (Region)'s editor links: signed, short-lived, bound to one member and one image, good for one job.

A link is ``<payload>.<signature>``, both base64url. The payload names the member, the image's job, the
channel and server the new job's message goes to, the member's locale (the page speaks it), the expiry
(Unix seconds) and a random nonce; the signature is HMAC-SHA256 over it under the editor's key. Nothing
in it is secret, and nothing in it can be changed without the key. "Once" is the database's: the nonce
is written in the same transaction that stores the job the link made (:meth:`EditorLinks.consume`), and
its primary key refuses a second write from any process sharing the database.

The key is ``EDITOR_SECRET`` when set; else a random one stored once in the database's ``bot_state`` (the
first process to start writes it, every other reads the same), so every process signs alike and links
survive a restart. Derived from another secret instead, rotating that secret (the Discord token, the
webhook secret) would be tied to the editor's; a key of its own has no such coupling and needs no setting.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import hashlib
import hmac
import secrets
import time

from bot.core.models import utcnow
from bot.core.store import IntegrityError, Store, iso

__all__ = ["EditorLinks", "LinkClaims", "LinkProblem", "load_key", "seal", "unseal"]

# What the signature covers besides the payload, so a signature made for anything else never fits a link.
_DOMAIN = b"imagine-bot editor link v1\0"
# Where the generated key lives in bot_state.
KEY_STATE = "editor:signing_key"
_FIELDS = 7


class LinkProblem(Exception):
    """Why a link cannot be used: ``invalid`` (not ours or altered), ``expired`` or ``used``."""

    def __init__(self, kind: str, claims: LinkClaims | None = None) -> None:
        super().__init__(kind)
        self.kind = kind
        self.claims = claims


@dataclasses.dataclass(frozen=True, slots=True)
class LinkClaims:
    member_id: int
    job_id: str
    channel_id: int
    guild_id: int | None
    locale: str | None
    expires: int
    nonce: str


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def seal(key: bytes, domain: bytes, payload: bytes) -> str:
    """``<payload>.<signature>``, both base64url: HMAC-SHA256 under ``key`` over ``domain`` and the payload.

    Each kind of link has its own ``domain``, so a signature made for one never fits another under the same key."""
    return f"{_b64(payload)}.{_b64(hmac.new(key, domain + payload, hashlib.sha256).digest())}"


def unseal(key: bytes, domain: bytes, token: str) -> bytes:
    """The payload of a token :func:`seal` made with the same key and domain; else LinkProblem("invalid")."""
    try:
        payload_b64, signature_b64 = token.split(".")
        payload, signature = _unb64(payload_b64), _unb64(signature_b64)
    except (ValueError, binascii.Error):
        raise LinkProblem("invalid") from None
    if not hmac.compare_digest(signature, hmac.new(key, domain + payload, hashlib.sha256).digest()):
        raise LinkProblem("invalid")
    return payload


async def load_key(store: Store, configured: str | None) -> bytes:
    """The signing key: the configured secret, else the database's (written once, by whichever process is first)."""
    if configured:
        return hashlib.sha256(_DOMAIN + configured.encode()).digest()
    await store.execute(
        "INSERT INTO bot_state (key, value, updated_at) VALUES (?, ?, ?) ON CONFLICT (key) DO NOTHING",
        (KEY_STATE, secrets.token_hex(32), iso(utcnow())),
    )
    stored = await store.get_state(KEY_STATE)
    assert stored is not None  # written just above or earlier
    return bytes.fromhex(stored)


class EditorLinks:
    """Signs and checks the editor's links, and records each one's single use."""

    def __init__(self, store: Store, key: bytes, ttl_s: float) -> None:
        self.store = store
        self._key = key
        self.ttl_s = ttl_s

    @property
    def key(self) -> bytes:
        """The signing key, for the bot's other signed links (each under a domain of its own)."""
        return self._key

    def issue(self, *, member_id: int, job_id: str, channel_id: int, guild_id: int | None, locale: str | None) -> str:
        expires = int(time.time() + self.ttl_s)
        fields = (str(member_id), job_id, str(channel_id), str(guild_id or 0), locale or "", str(expires),
                  secrets.token_hex(12))  # fmt: skip
        return seal(self._key, _DOMAIN, "|".join(fields).encode())

    def verify(self, token: str, *, now: float | None = None) -> LinkClaims:
        """The link's claims; raises LinkProblem("invalid") or ("expired"). Does not look at its use."""
        payload = unseal(self._key, _DOMAIN, token)
        try:
            fields = payload.decode().split("|")
            if len(fields) != _FIELDS:
                raise ValueError("fields")
            member, job, channel, guild, locale, expires, nonce = fields
            claims = LinkClaims(int(member), job, int(channel), int(guild) or None, locale or None, int(expires), nonce)
        except ValueError:
            raise LinkProblem("invalid") from None  # signed by us, so never; but never trusted blindly either
        if (time.time() if now is None else now) >= claims.expires:
            raise LinkProblem("expired", claims)
        return claims

    async def used_by(self, claims: LinkClaims) -> tuple[bool, str | None]:
        """Whether the link was used, and the job it made."""
        row = await self.store.fetchone("SELECT child_id FROM editor_links_used WHERE nonce = ?", (claims.nonce,))
        return (row is not None, str(row[0]) if row is not None and row[0] else None)

    async def consume(self, claims: LinkClaims, child_id: str) -> None:
        """Record the link's use by job ``child_id``; raises LinkProblem("used") if it was used already.

        Call inside the transaction that stores that job, so the link is used up exactly when a job exists."""
        try:
            await self.store.execute(
                "INSERT INTO editor_links_used (nonce, member_id, job_id, child_id, used_at) VALUES (?, ?, ?, ?, ?)",
                (claims.nonce, claims.member_id, claims.job_id, child_id, iso(utcnow())),
            )
        except IntegrityError:
            raise LinkProblem("used", claims) from None
