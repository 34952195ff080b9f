"""Hostile input through the real bot and the local Discord: prompts built to break storage, layout or
pings; image links aimed at the bot's own network; uploads that are not what they claim. And, after a
run that provokes every kind of error, no secret anywhere: not in the bot's log, not in anything the
local Discord received, not in the stored error details.
"""

from __future__ import annotations

import asyncio
import base64
import io
import json
import sqlite3
from typing import Any

import httpx
import pytest
from PIL import Image

from bot.core.models import ErrorReason, JobStatus
from bot.core.prompt import MAX_PROMPT_LENGTH
from bot.core.providers._common import webhook_header_secret
from bot.ui.render import quote_prompt
from localdiscord import ControlError, LocalDiscord
from providersim import simulator
from providersim._core import MJ_FAILURES, ErrorSpec
from tests.e2e.harness import BotProcess, button_ids
from tests.faults.support import (
    API_KEY,
    WEBHOOK_SECRET,
    bot_logs,
    free_port,
    job_rows,
    message_shows,
    provider_env,
    response_message_id,
    settle,
    texts_seen,
)
from tests.helpers import wait_until
from tests.hostile.test_netguard import png_header_only

pytestmark = pytest.mark.e2e

ROLE, USER, CHANNEL = "6", "10", "3"  # the seeded Moderator role, alice, #general
# Prompts the bot must take, store byte for byte, show escaped and never ping anyone with.
ACCEPTED = {
    "at the limit": ("abcd " * MAX_PROMPT_LENGTH)[: MAX_PROMPT_LENGTH - 1] + "e",
    "markdown at the limit": "*_`~|" * (MAX_PROMPT_LENGTH // 5),
    "mentions at the limit": "@everyone " * (MAX_PROMPT_LENGTH // 10),
    "control characters": "a\x00b\x07c\x1bd\x7fe\rf\tg\x0bh a cat",
    "right-to-left override": "\u202eevil\u202c and \u2067isolate\u2069 a cat",
    "zero-width": "c\u200ba\u200dt\ufeff in\u2060visible",
    "markdown breakers": "**bold** __u__ ~~s~~ ||spoiler|| `code` ``` block ``` > quote\n# heading\n-# sub "
    "[link](https://evil.example) <https://evil.example> \\* \\",
    "mass mentions": f"@everyone @here <@&{ROLE}> <@{USER}> <@!{USER}> <#{CHANNEL}> <@&1> hello",
    "sql": "Robert'); DROP TABLE jobs; -- \" OR 1=1 /* */ %_ \\\\ ; SELECT * FROM sqlite_master",
    "newlines": "line one\nline two\r\n\n--ar 2:3",
}
# Refused by the bot, with the reason.
REFUSED = {
    "whitespace only": (" \u200b \t ", "The prompt is empty."),
    "only parameters": ("--ar 16:9 --seed 7", "nothing to draw"),
}
# Refused by Discord itself (the option's length range, which is the bot's own limit), as the Discord
# client would; the parser's own limit sentence is tested in tests/unit/test_prompt.py.
DISCORD_REFUSES = {"empty": "", "one past the limit": "y" * (MAX_PROMPT_LENGTH + 1), "past Discord's cap": "z" * 6001}


def member_id(ld: LocalDiscord, username: str) -> str:
    return next(m["id"] for m in ld.state()["guilds"][0]["members"] if m["username"] == username)


def stored_prompts(bot: BotProcess) -> dict[str, str]:
    return {row["prompt"]: row["id"] for row in job_rows(bot).values()}


async def ephemeral_for(ld: LocalDiscord, user_id: str, text: str, *, within: float = 10.0) -> dict[str, Any]:
    def found() -> dict[str, Any] | None:
        return next(
            (m for m in ld.messages("imagine", ephemeral=True)
             if m["_ephemeral"] and str(m["_visible_to"]) == str(user_id) and text in m["content"]),
            None,
        )  # fmt: skip

    return await wait_until(found, within=within, what=f"an ephemeral {text!r}")


async def test_hostile_prompts_are_stored_verbatim_shown_escaped_and_ping_no_one(
    ld: LocalDiscord, start_bot: Any
) -> None:
    bot = await start_bot()
    for name, prompt in DISCORD_REFUSES.items():
        with pytest.raises(ControlError):
            await ld.invoke("alice", "imagine", "imagine", {"prompt": prompt})
        assert name
    started = await asyncio.gather(
        *(ld.invoke("alice", "imagine", "imagine", {"prompt": p}) for p in ACCEPTED.values()),
        *(ld.invoke("bob", "imagine", "imagine", {"prompt": p}) for p, _ in REFUSED.values()),
    )
    accepted = dict(zip(ACCEPTED, started[: len(ACCEPTED)], strict=True))
    ids = {name: await response_message_id(ld, s["interaction_id"]) for name, s in accepted.items()}
    rows = await settle(ld, bot, ids.values(), within=20)
    messages = {name: ld.message(message_id) or {} for name, message_id in ids.items()}
    for name, prompt in ACCEPTED.items():
        message = messages[name]
        row = rows[message["id"]]
        assert row["prompt"] == prompt, f"{name}: not stored verbatim"
        assert row["status"] == JobStatus.COMPLETED.value and button_ids(message), name
        content = message["content"]
        assert len(content) <= 2000 and f"Job `{row['id']}`" in content, (name, content[-100:])
        # The first line shows the prompt as sent (issue 14, item 3: parameters applied, whitespace as the
        # parser leaves it), escaped; what was typed is what is stored.
        shown_prompt = row["prompt_final"] or prompt
        assert content.startswith(f"**{quote_prompt(shown_prompt)}** - <@"), (name, content[:200])
        assert message["_pinged"] is False, name
        assert not message["mentions"] and not message["mention_roles"] and not message["mention_everyone"], name
        shown = content.replace("@\u200b", "@").replace("#\u200b", "#")
        assert not any(c in shown for c in "\x00\x07\x1b\x7f\u202e\u2067\u200b\u200d\ufeff\u2060"), name
    # Mentions come out readable but inert.
    mentions = messages["mass mentions"]["content"]
    assert "@\u200beveryone" in mentions and "<@\u200b&6>" in mentions and "@everyone" not in mentions

    bob = member_id(ld, "bob")
    for _, reason in REFUSED.values():
        await ephemeral_for(ld, bob, reason)
    assert not set(stored_prompts(bot)) & {p for p, _ in REFUSED.values()}
    # Nothing public is left from a refusal, and nothing the bot posted pinged anyone.
    for message in ld.messages("imagine", ephemeral=True, deleted=True):
        assert message["_pinged"] is False


def upload(data: bytes, filename: str, content_type: str) -> dict[str, str]:
    return {"filename": filename, "content_type": content_type, "data_b64": base64.b64encode(data).decode()}


def small_png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (32, 32), (10, 200, 90)).save(buffer, format="PNG")
    return buffer.getvalue()


async def test_hostile_image_links_and_uploads(ld: LocalDiscord, start_bot: Any) -> None:
    bot = await start_bot()
    alice = member_id(ld, "alice")
    typed = {
        "http://169.254.169.254/latest/meta-data/iam.png": "does not fetch images from",
        "http://[fd00:ec2::254]/latest/x.png": "does not fetch images from",
        "http://localhost:8080/admin.png": "does not fetch images from",
        "http://2130706433/x.png": "does not fetch images from",
        # The local Discord's own upload origin is trusted for uploads, never for typed links.
        f"http://127.0.0.1:{ld.port}/attachments/1/2/x.png": "does not fetch images from",
        "http://user:pass@img.example/x.png": "not one the bot can use",
        # Resolved after the defer: nothing answers for it here, so it cannot be reached.
        "https://no-such-host.invalid/x.png": "could not be reached",
    }
    for link, text in typed.items():
        started = await ld.invoke("alice", "imagine", "imagine", {"prompt": f"{link} a cat"})
        await ephemeral_for(ld, alice, text)
        assert link not in stored_prompts(bot), link
        # Refused at once (an ephemeral answer) or after the defer (the public "thinking" message taken back).
        original = ld.interaction(started["interaction_id"])["response_message_id"]
        answer = ld.message(original) if original is not None else None
        assert answer is None or answer["_deleted"] or answer["_ephemeral"], (link, answer)
    assert not [r for r in job_rows(bot).values() if "a cat" in r["prompt"]]

    # An upload that is not an image by type and name is refused before anything is posted.
    text_file = await ld.invoke("alice", "imagine", "imagine",
                                {"prompt": "a cat", "image": upload(b"<html>", "x.html", "text/html")})  # fmt: skip
    await ephemeral_for(ld, alice, "must be a PNG, JPEG, GIF or WebP")
    answer = ld.message(ld.interaction(text_file["interaction_id"])["response_message_id"])
    assert answer is not None and answer["_ephemeral"], "a refusal was posted publicly"
    # A decompression bomb dressed as a PNG upload: taken (trusted origin), refused when decoded.
    bomb_png = upload(png_header_only(9000, 9000), "b.png", "image/png")
    bomb = await ld.invoke("alice", "imagine", "imagine", {"prompt": "a bomb", "image": bomb_png})
    # A real upload still works.
    real_png = upload(small_png(), "r.png", "image/png")
    fine = await ld.invoke("alice", "imagine", "imagine", {"prompt": "a real reference", "image": real_png})
    message_ids = [await response_message_id(ld, s["interaction_id"]) for s in (bomb, fine)]
    rows = await settle(ld, bot, message_ids, within=20)
    assert rows[message_ids[0]]["error"] == ErrorReason.INVALID_IMAGE.value
    assert ErrorReason.INVALID_IMAGE.message in (ld.message(message_ids[0]) or {})["content"]
    assert rows[message_ids[1]]["status"] == JobStatus.COMPLETED.value


@pytest.mark.allow_429
async def test_no_secret_anywhere_after_a_run_full_of_errors(
    ld: LocalDiscord, start_bot: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    sim = simulator("useapi", api_key=API_KEY, step_seconds=0.1, steps=3)
    await sim.start()
    port = free_port()
    hook = f"http://127.0.0.1:{port}/webhooks/useapi/{WEBHOOK_SECRET}"
    # The provider echoes our key and our callback URL in its errors and in a job's failure text.
    echo = f"bad key {API_KEY} for {hook}"
    monkeypatch.setitem(MJ_FAILURES, "echo_failure", ("ECHO", echo))
    sim.errors = {
        **sim.errors,
        "echo": ErrorSpec(400, {"error": echo}),
        "echo_failure": ErrorSpec(job_failure="echo_failure"),
    }
    try:
        bot = await start_bot(**provider_env("useapi", sim, port, LOG_LEVEL="DEBUG", MAX_SUBMIT_ATTEMPTS=1))
        sim.fail_next.append("echo")
        refused = await ld.invoke("alice", "imagine", "imagine", {"prompt": "echoed refusal"})
        # Discord trouble on the edits: rate limits and errors, on URLs that carry interaction tokens.
        ld.add_fault("PATCH /webhooks/{}/{}/messages/{}", status=429, retry_after=0.2, count=2)
        ld.add_fault("PATCH /webhooks/{}/{}/messages/{}", status=500, count=1)
        busy = await ld.invoke("bob", "imagine", "imagine", {"prompt": "through discord errors"})
        expiring = await ld.invoke("carol", "imagine", "imagine", {"prompt": "a token that dies"})
        await response_message_id(ld, expiring["interaction_id"])
        ld.expire(expiring["interaction_id"])
        started = [refused, busy, expiring]
        message_ids = [await response_message_id(ld, s["interaction_id"]) for s in started]
        rows = await settle(ld, bot, message_ids, within=30)

        # A job the provider fails with our key in its error text, reported by webhook and by poll.
        job = rows[message_ids[1]]
        failing = {"jobid": job["provider_job_id"], "replyRef": job["id"], "status": "failed", "error": echo}
        async with httpx.AsyncClient() as http:
            # Callbacks: forged (wrong token), a token in the wrong place, and one carrying the key.
            await http.post(f"http://127.0.0.1:{port}/webhooks/useapi/{WEBHOOK_SECRET}x", json=failing)
            await http.post(f"http://127.0.0.1:{port}/webhooks/useapi/{API_KEY}", json=failing)
            await http.post(hook, content=b"{not json " + API_KEY.encode())
            await http.post(hook, json={"jobid": "unknown", "status": "failed", "error": echo})
        sim.fail_next.append("echo_failure")
        late = await ld.invoke("alice", "imagine", "imagine", {"prompt": "failed by the provider"})
        late_id = await response_message_id(ld, late["interaction_id"])
        rows = await settle(ld, bot, [*message_ids, late_id], within=30)
    finally:
        await sim.stop()

    secrets = {
        "the Discord token": ld.token,
        "the provider key": API_KEY,
        "the webhook secret": WEBHOOK_SECRET,
        "APIFrame's header secret": webhook_header_secret(hook),
    }
    secrets |= {f"interaction token {i.id}": i.token for i in ld.world.interactions.values()}
    logs = bot_logs([bot.workdir])
    assert "DEBUG" in logs and "rejected" in logs, "the run did not log what it should have"
    seen = texts_seen(ld)
    details = [json.dumps([r["error_detail"], r["provider_data"]]) for r in job_rows(bot).values()]
    with sqlite3.connect(bot.workdir / "data" / "imagine-bot.db") as conn:
        audit = [json.dumps(row) for row in conn.execute("SELECT * FROM mod_audit").fetchall()]
    leaks = [
        (what, where)
        for what, secret in secrets.items()
        for where, texts in (("the log", [logs]), ("Discord", seen), ("error details", details), ("audit", audit))
        if any(secret in text for text in texts)
    ]
    assert not leaks, leaks
    # The errors did happen and were told to the members.
    assert any(message_shows(ld.message(m), rows[m]) and rows[m]["error"] for m in message_ids)
