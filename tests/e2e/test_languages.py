"""Languages end to end: through the local Discord's control API, one member's Discord client speaks
German ("de") and the server's language is Japanese ("ja"), so the member's interactions carry locale
"de" and guild_locale "ja"; the bot answers the member in German, draws the public job message in
Japanese, and registers its commands with German and Japanese names. A member whose client speaks
English still reads English; a moderator whose client speaks Japanese reads /mod in Japanese, and the
audit channel posts in the server's Japanese."""

from __future__ import annotations

from typing import Any

import pytest

from localdiscord import LocalDiscord
from localdiscord.client import ControlClient
from tests.e2e.harness import job_id_of
from tests.helpers import wait_until

pytestmark = pytest.mark.e2e


async def reply_text(ld: LocalDiscord, interaction_id: str, *, contains: str) -> str:
    def said() -> str | None:
        info = ld.interaction(interaction_id)
        ids = [info["response_message_id"], *info["followup_message_ids"]]
        texts = [ld.message(m)["content"] for m in ids if m and ld.message(m)]
        text = "\n".join(t for t in texts if t)
        return text if contains in text else None

    return await wait_until(said, within=15.0, what=f"a reply containing {contains!r}")


async def test_member_in_german_public_message_in_the_servers_japanese(ld: LocalDiscord, start_bot: Any) -> None:
    await start_bot(LOCAL_STEP_SECONDS="0.3", LOCAL_STEPS="2")
    guild_id = ld.state()["guilds"][0]["id"]
    imagine = next(c for c in ld.state()["commands"]["guilds"][guild_id] if c["name"] == "imagine")
    assert imagine["name_localizations"]["de"] == "erstellen" and imagine["name_localizations"]["ja"] == "画像生成"
    alice = next(m["id"] for m in ld.state()["guilds"][0]["members"] if m["username"] == "alice")
    # Over HTTP, as any test or tool would: alice's client speaks German, the server Japanese.
    async with ControlClient(ld.url) as control:
        said = await control.set_locale("alice", "de", guild_id=guild_id, guild_locale="ja")
    assert said == {"user_id": alice, "locale": "de", "guild_id": guild_id, "guild_locale": "ja"}

    # A private reply to the member: German.
    result = await ld.invoke("alice", "imagine", "job", {"job": "zzzzzzzz"})
    text = await reply_text(ld, result["interaction_id"], contains="Auftrag")
    assert text == "In diesem Server gibt es keinen Auftrag mit dieser ID."

    # The job's public message: the server's Japanese, while running and when done.
    result = await ld.invoke("alice", "imagine", "imagine", {"prompt": "a red bicycle"})

    def done() -> dict[str, Any] | None:
        message_id = ld.interaction(result["interaction_id"])["response_message_id"]
        message = ld.message(message_id) if message_id else None
        return message if message and message.get("attachments") and "%" not in message["content"] else None

    message = await wait_until(done, within=20.0, what="the finished job message")
    assert f"ジョブ `{job_id_of(message)}`" in message["content"], message["content"]

    # Someone else, in an English client, still reads English.
    result = await ld.invoke("bob", "imagine", "job", {"job": "zzzzzzzz"})
    assert await reply_text(ld, result["interaction_id"], contains="no job") == (
        "There is no job with that id in this server."
    )

    # A moderator whose client speaks Japanese reads /mod in Japanese; the audit channel, public, is in the
    # server's language (Japanese here too, from the guild's preferred_locale the local Discord sent).
    async with ControlClient(ld.url) as control:
        await control.set_locale("mod", "ja")
    result = await ld.invoke("mod", "imagine", "mod audit-channel", {"channel": "audit-log"})
    assert "監査ログは" in await reply_text(ld, result["interaction_id"], contains="監査ログ")
    result = await ld.invoke("mod", "imagine", "mod words add", {"term": "pineapple"})
    added = await reply_text(ld, result["interaction_id"], contains="pineapple")
    assert added == "フレーズ `pineapple` を追加しました。次のプロンプトから適用されます。"
    result = await ld.invoke("mod", "imagine", "mod limits show", {})
    assert "**このサーバーの制限**" in await reply_text(ld, result["interaction_id"], contains="制限")

    def posted() -> str | None:
        posts = [m["content"] for m in ld.messages("audit-log")]
        return next((p for p in posts if "pineapple" in p), None)

    post = await wait_until(posted, within=15.0, what="the audit post of the added word")
    assert "が禁止フレーズを追加しました: `pineapple`" in post, post
