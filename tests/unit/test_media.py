"""Videos the bot serves itself (bot.core.media) over HTTP: the file with its headers and Range answers, and
the refusals: an altered link, one signed with another key or for the editor (404), an expired one (410);
expired files removed by the sweep; nothing kept without a public URL."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from aiohttp import web

from bot.core.editor import EditorLinks
from bot.core.media import MediaShelf
from tests.helpers import free_port

KEY = b"k" * 32
CLIP = bytes(range(256)) * 40  # not a video: the server never looks inside


@pytest.fixture
async def shelf(tmp_path: Path) -> AsyncIterator[MediaShelf]:
    port = free_port()
    shelf = MediaShelf(tmp_path / "media", KEY, ttl_s=3600, public_url=f"http://127.0.0.1:{port}/")
    app = web.Application()
    shelf.add_routes(app)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        yield shelf
    finally:
        await runner.cleanup()


async def test_a_kept_video_is_served_with_its_headers_and_ranges(shelf: MediaShelf, http: httpx.AsyncClient) -> None:
    kept = shelf.keep(CLIP)
    assert kept is not None
    link, expires = kept
    assert link.startswith(f"{shelf.public_url}/media/") and abs(expires - (time.time() + 3600)) < 5
    answer = await http.get(link)
    assert answer.status_code == 200 and answer.content == CLIP
    headers = answer.headers
    assert headers["content-type"] == "video/mp4" and headers["content-length"] == str(len(CLIP))
    assert headers["x-content-type-options"] == "nosniff" and "default-src 'none'" in headers["content-security-policy"]
    assert headers["referrer-policy"] == "no-referrer"
    part = await http.get(link, headers={"Range": "bytes=10-19"})
    assert part.status_code == 206 and part.content == CLIP[10:20]
    # The link names no file a member could guess, and the folder holds only the kept clip.
    assert [p.name.endswith(".mp4") for p in (shelf.root.iterdir())] == [True]


async def test_altered_foreign_and_expired_links_are_refused(
    shelf: MediaShelf, http: httpx.AsyncClient, tmp_path: Path
) -> None:
    kept = shelf.keep(CLIP)
    assert kept is not None
    link = kept[0]
    payload, signature = link.rsplit("/", 1)[1].split(".")
    base = f"{shelf.public_url}/media/"
    flipped = payload[:-1] + ("A" if payload[-1] != "A" else "B")
    other = MediaShelf(tmp_path / "media", b"o" * 32, 3600, shelf.public_url).keep(CLIP)
    assert other is not None
    editor_link = EditorLinks(None, KEY, 300).issue(  # type: ignore[arg-type]  # signing needs no store
        member_id=1, job_id="j", channel_id=2, guild_id=None, locale=None
    )
    for wrong in (f"{flipped}.{signature}", f"{payload}.{signature[:-2]}", "nothing", other[0].rsplit("/", 1)[1],
                  editor_link):  # fmt: skip
        answer = await http.get(base + wrong)
        assert answer.status_code == 404 and not answer.content, wrong
    old = shelf.keep(CLIP, now=time.time() - 3601)
    assert old is not None
    assert (await http.get(old[0])).status_code == 410
    # A good link whose file was swept away (or lives on another process): 404.
    for file in shelf.root.iterdir():
        file.unlink()
    assert (await http.get(link)).status_code == 404


def test_the_sweep_removes_expired_files_only(tmp_path: Path) -> None:
    shelf = MediaShelf(tmp_path / "media", KEY, ttl_s=600, public_url="http://example.invalid")
    now = time.time()
    assert shelf.sweep() == 0  # no folder yet
    fresh, stale = shelf.keep(b"fresh", now=now), shelf.keep(b"stale", now=now - 601)
    assert fresh is not None and stale is not None
    (shelf.root / f".{int(now) - 5}-{'0' * 32}.mp4.part").write_bytes(b"cut off")
    (shelf.root / "operator-notes.txt").write_text("not ours")
    assert shelf.sweep(now=now) == 2
    names = sorted(p.name for p in shelf.root.iterdir())
    assert len(names) == 2 and names[0].endswith(".mp4") and names[1] == "operator-notes.txt"
    assert MediaShelf(tmp_path / "m2", KEY, 600, public_url=None).keep(b"x") is None
