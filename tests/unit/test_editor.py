"""Vary (Region)'s editor over HTTP, without Discord or a browser: the links (signed, bound, expiring, used
once, also across two connections to one PostgreSQL database), the page's security headers, and a submit's
refusals (a reused, expired or tampered link; a mask of the wrong size, empty or everything), each polite and
leaving the link unused where nothing was made."""

from __future__ import annotations

import base64
import io
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image, ImageDraw

from bot.core.editor import (
    CSP,
    PAGE_KEYS,
    Editor,
    EditorLinks,
    EditorSubmission,
    EditorVerdict,
    LinkProblem,
    load_key,
)
from bot.core.engine import EngineConfig, JobEngine
from bot.core.models import Action, JobStatus, Verb
from bot.core.providers.base import ActionRequest, ImagineRequest
from bot.core.scheduling import AccountPool
from bot.core.store import Store
from bot.core.webhooks import WebhookServer
from tests.unit.conftest import local_provider, make_job


class Frontend:
    """The Discord layer's part, as the test needs it: words are their keys, a submit uses the link up."""

    def __init__(self) -> None:
        self.made: list[EditorSubmission] = []

    def texts(self, locale: str | None) -> dict[str, str]:
        return {key: f"{locale}:{key}" for key in PAGE_KEYS}

    async def submit(self, submission: EditorSubmission) -> EditorVerdict:
        if "forbidden" in submission.prompt:
            return EditorVerdict(False, "blocked word")  # refused: nothing made, the link stays usable
        await submission.consume("child00000000000")
        self.made.append(submission)
        return EditorVerdict(True, "made", "https://discord.com/channels/1/2/3")


def _mask(size: tuple[int, int], box: tuple[int, int, int, int] | None, fill: int = 255) -> str:
    image = Image.new("L", size, 0 if box is not None else fill)
    if box is not None:
        ImageDraw.Draw(image).rectangle(box, fill=fill)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


@pytest.fixture
async def served(store: Store, tmp_path: Path, http: httpx.AsyncClient) -> AsyncIterator[dict[str, Any]]:
    local = local_provider(tmp_path, http)
    grid = await local.imagine(ImagineRequest("g", "a harbour at dusk", seed=5))
    upscale = await local.act(ActionRequest("u", Action.U1, grid.provider_job_id, {}, ""))
    update = await local.poll(upscale.provider_job_id, {})
    parent = make_job(
        guild_id=1, action=Action.U1, status=JobStatus.COMPLETED, provider_job_id=upscale.provider_job_id,
        image_urls=list(update.image_urls), actions=list(update.actions or ()),
    )  # fmt: skip
    await store.insert_job(parent)
    engine = JobEngine(store, AccountPool([local]), EngineConfig())
    links = EditorLinks(store, await load_key(store, None), ttl_s=300)
    editor = Editor(engine, links, "http://example.invalid/bot")
    frontend = Frontend()
    editor.frontend = frontend
    server = WebhookServer(engine, secret=None, url_for=lambda _: None, port=0, editor=editor)
    await server.start()
    size = Image.open(io.BytesIO(await local.fetch_image(update.image_urls[0]))).size
    try:
        yield {"base": server.bound_url, "editor": editor, "parent": parent, "size": size, "frontend": frontend}
    finally:
        await server.stop()


def _token(served: dict[str, Any], **claims: Any) -> str:
    fields = {"member_id": 42, "job_id": served["parent"].id, "channel_id": 10, "guild_id": 1, "locale": "de"}
    link = served["editor"].link(**(fields | claims))
    assert link.startswith("http://example.invalid/bot/editor/")
    return str(link.rsplit("/", 1)[1])


async def test_the_page_and_its_picture_come_with_a_strict_policy(
    served: dict[str, Any], http: httpx.AsyncClient
) -> None:
    token = _token(served)
    page = await http.get(f"{served['base']}/editor/{token}")
    assert page.status_code == 200 and page.headers["content-security-policy"] == CSP
    for directive in ("default-src 'none'", "script-src 'self'", "frame-ancestors 'none'", "base-uri 'none'"):
        assert directive in CSP
    assert page.headers["referrer-policy"] == "no-referrer" and page.headers["cache-control"] == "no-store"
    text = page.text
    assert "<script>" not in text and "style=" not in text and "http" not in text.split("<body>")[1]
    assert "de:editor.brush" in text and "a red fox" in text  # the member's words, the parent's prompt
    assert f'width="{served["size"][0]}"' in text
    picture = await http.get(f"{served['base']}/editor/{token}/image")
    assert picture.status_code == 200 and picture.headers["content-type"] == "image/png"
    assert Image.open(io.BytesIO(picture.content)).size == served["size"]
    script = await http.get(f"{served['base']}/editor/static/editor.js")
    assert script.status_code == 200 and "pointerdown" in script.text
    assert (await http.get(f"{served['base']}/editor/static/page.html")).status_code == 404


async def test_submit_refusals_leave_the_link_usable_and_it_works_once(
    served: dict[str, Any], http: httpx.AsyncClient
) -> None:
    token = _token(served)
    url = f"{served['base']}/editor/{token}"
    w, h = served["size"]
    good = _mask((w, h), (w // 4, h // 4, w // 2, h // 2))
    for mask, key in (
        (_mask((w // 2, h), (0, 0, 9, 9)), "editor.mask_size"),
        (_mask((w, h), None, fill=0), "editor.mask_empty"),
        (_mask((w, h), None, fill=255), "editor.mask_full"),
        ("bm90IGEgcG5n", "editor.mask_unreadable"),
    ):
        answer = await http.post(url, json={"prompt": "a boat", "mask": mask})
        assert answer.status_code in (400, 422) and answer.json() == {"ok": False, "text": f"de:{key}", "link": None}
    refused = await http.post(url, json={"prompt": "a forbidden boat", "mask": good})
    assert refused.status_code == 422 and refused.json()["text"] == "blocked word"
    assert not served["frontend"].made
    made = await http.post(url, json={"prompt": " a boat ", "mask": good})
    assert made.status_code == 200 and made.json()["ok"] is True
    [submission] = served["frontend"].made
    assert submission.prompt == "a boat" and submission.claims.member_id == 42
    mask = Image.open(io.BytesIO(submission.mask_png))
    assert mask.mode == "L" and mask.size == (w, h) and len(mask.getcolors() or []) == 2
    again = await http.post(url, json={"prompt": "a boat", "mask": good})
    assert again.status_code == 410 and again.json()["text"] == "de:editor.used"
    page = await http.get(url)
    assert page.status_code == 410 and "de:editor.used" in page.text


async def test_tampered_expired_and_foreign_links_are_refused(served: dict[str, Any], http: httpx.AsyncClient) -> None:
    token = _token(served)
    payload, signature = token.split(".")
    raw = base64.urlsafe_b64decode(payload + "==")
    assert raw.startswith(b"42|")
    forged = base64.urlsafe_b64encode(b"43" + raw[2:])  # another member, the same signature
    for bad in (f"{forged.decode().rstrip('=')}.{signature}", f"{payload}.{signature[:-2]}AA", "nonsense"):
        answer = await http.post(f"{served['base']}/editor/{bad}", json={"prompt": "x", "mask": "x"})
        assert answer.status_code == 403 and answer.json()["text"] == "None:editor.invalid"
        assert (await http.get(f"{served['base']}/editor/{bad}/image")).status_code == 404
    links: EditorLinks = served["editor"].links
    with pytest.raises(LinkProblem) as expired:
        links.verify(token, now=time.time() + links.ttl_s + 1)
    assert expired.value.kind == "expired" and expired.value.claims is not None
    short = EditorLinks(links.store, await load_key(links.store, None), ttl_s=-1)
    stale = short.issue(member_id=42, job_id=served["parent"].id, channel_id=10, guild_id=1, locale="ja")
    answer = await http.post(f"{served['base']}/editor/{stale}", json={"prompt": "x", "mask": "x"})
    assert answer.status_code == 410 and answer.json()["text"] == "ja:editor.expired"
    other = EditorLinks(links.store, await load_key(links.store, "another key, long enough"), ttl_s=300)
    with pytest.raises(LinkProblem):
        other.verify(token)
    # A picture from another server, or one its provider offers no Vary (Region) on, gives no page.
    foreign = _token(served, guild_id=2)
    assert (await http.get(f"{served['base']}/editor/{foreign}")).status_code == 404
    assert Verb.VARY_REGION in served["editor"].engine.verbs_for(served["parent"])


@pytest.mark.parametrize("store_backend", ["sqlite", "postgres"])
async def test_a_link_is_used_once_across_connections(store: Store, store_backend: str, tmp_path: Path) -> None:
    """Two processes sharing the database: the key is the same for both, and only one use of a link counts."""
    location: Any = tmp_path / "jobs.db" if store_backend == "sqlite" else None
    if location is None:
        location = store.url  # type: ignore[attr-defined]
    second = await Store.open(location)
    try:
        key = await load_key(store, None)
        assert await load_key(second, None) == key
        first_links, second_links = EditorLinks(store, key, 300), EditorLinks(second, key, 300)
        token = first_links.issue(member_id=1, job_id="0123456789abcdef", channel_id=2, guild_id=3, locale=None)
        claims = second_links.verify(token)
        async with store.transaction():
            await first_links.consume(claims, "aaaaaaaaaaaaaaaa")
        with pytest.raises(LinkProblem) as used:
            async with second.transaction():
                await second_links.consume(claims, "bbbbbbbbbbbbbbbb")
        assert used.value.kind == "used"
        assert await second_links.used_by(claims) == (True, "aaaaaaaaaaaaaaaa")
    finally:
        await second.close()
