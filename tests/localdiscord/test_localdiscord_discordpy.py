"""An unmodified discord.py 2.7 client against LocalDiscord over real HTTP and WebSockets.

The bot below is deliberately tiny but touches every path a real bot relies on: login, command sync,
READY, deferring, editing ``@original`` with a file and a DynamicItem button, followups, ephemeral
replies, allowed_mentions, DMs, the 3-second and 15-minute rules, 429 retries and gateway RESUME.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import io
from collections.abc import AsyncIterator
from typing import Any

import discord
import httpx
import pytest
import yarl
from discord import app_commands

from localdiscord import ControlClient, LocalDiscord
from localdiscord.client import ControlAPIError


class JobButton(discord.ui.DynamicItem[discord.ui.Button], template=r"ldtest:(?P<op>u|x):(?P<n>[1-4])"):
    """``u`` answers with an ephemeral followup after a type-6 defer; ``x`` updates the clicked message."""

    def __init__(self, op: str, n: int) -> None:
        super().__init__(discord.ui.Button(label=f"{op.upper()}{n}", custom_id=f"ldtest:{op}:{n}"))
        self.op = op
        self.n = n

    @classmethod
    async def from_custom_id(cls, interaction: discord.Interaction, item: discord.ui.Button, match: Any) -> JobButton:
        return cls(match["op"], int(match["n"]))

    async def callback(self, interaction: discord.Interaction) -> None:
        client: TestBot = interaction.client  # type: ignore[assignment]
        client.clicks.append((self.op, self.n, interaction.user.id))
        if self.op == "u":
            await interaction.response.defer()
            await interaction.followup.send(f"upscaled {self.n} for {interaction.user.name}", ephemeral=True)
        else:
            await interaction.response.edit_message(content="cleared", attachments=[], view=None)


class PromptModal(discord.ui.Modal, title="New prompt"):
    prompt = discord.ui.TextInput(label="Prompt", custom_id="prompt", max_length=200)
    mood = discord.ui.Label(
        text="Mood",
        component=discord.ui.Select(
            custom_id="mood", options=[discord.SelectOption(label="calm"), discord.SelectOption(label="wild")]
        ),
    )

    async def on_submit(self, interaction: discord.Interaction) -> None:
        mood = self.mood.component.values[0]  # type: ignore[attr-defined]
        await interaction.response.send_message(f"reprompted: {self.prompt.value} ({mood})")


class TestBot(discord.Client):
    """Records what its handlers saw so tests can assert on the bot's side too."""

    __test__ = False  # not a pytest test class

    def __init__(self) -> None:
        super().__init__(intents=discord.Intents.default(), guild_ready_timeout=0.05)
        self.tree = app_commands.CommandTree(self)
        self.clicks: list[tuple[str, int, int]] = []
        self.errors: dict[str, int] = {}
        self.seen: dict[str, str] = {}
        self.hold = asyncio.Event()
        self.png = b""  # set by the fixture: the image /imagine attaches
        _add_commands(self)

    async def setup_hook(self) -> None:
        self.add_dynamic_items(JobButton)
        await self.tree.sync()


def _add_commands(bot: TestBot) -> None:
    tree = bot.tree

    @tree.command(name="imagine", description="Render a prompt")
    @app_commands.describe(prompt="What to draw")
    async def imagine(interaction: discord.Interaction, prompt: str) -> None:
        await interaction.response.defer(thinking=True)
        view = discord.ui.View(timeout=None)
        view.add_item(JobButton("u", 1))
        view.add_item(JobButton("x", 1))
        await interaction.edit_original_response(
            content=f"done: {prompt}",
            attachments=[discord.File(io.BytesIO(bot.png), filename="grid.png")],
            view=view,
            allowed_mentions=discord.AllowedMentions.none(),
        )

    @tree.command(name="ping", description="Say hi loudly or quietly")
    async def ping(interaction: discord.Interaction, loud: bool = False) -> None:
        mentions = discord.AllowedMentions.all() if loud else discord.AllowedMentions.none()
        await interaction.response.send_message(f"@everyone <@{interaction.user.id}> hi", allowed_mentions=mentions)

    @tree.command(name="slow", description="Misses the 3-second deadline")
    async def slow(interaction: discord.Interaction) -> None:
        await asyncio.sleep(3.5)  # deliberately past Discord's 3 s acknowledgement window
        try:
            await interaction.response.defer()
        except discord.HTTPException as exc:
            bot.errors["slow"] = exc.code

    @tree.command(name="hold", description="Defers, then edits when the test says so")
    async def hold(interaction: discord.Interaction) -> None:
        await interaction.response.defer(thinking=True)
        await bot.hold.wait()
        try:
            await interaction.edit_original_response(content="late")
        except discord.HTTPException as exc:
            bot.errors["hold"] = exc.code

    @tree.command(name="edit", description="Defers and edits at once")
    async def edit(interaction: discord.Interaction) -> None:
        await interaction.response.defer(thinking=True)
        try:
            await interaction.edit_original_response(content="edited")
        except discord.HTTPException as exc:
            bot.errors["edit"] = exc.code

    @tree.command(name="followups", description="Two followups after a thinking defer")
    async def followups(interaction: discord.Interaction) -> None:
        await interaction.response.defer(thinking=True)
        await interaction.followup.send("first")
        await interaction.followup.send("second")

    @tree.command(name="inspect", description="Reads resolved options")
    async def inspect(interaction: discord.Interaction, who: discord.Member, image: discord.Attachment) -> None:
        data = await image.read()
        bot.seen["inspect"] = f"{who.name} {image.filename} {len(data)} {image.width}x{image.height}"
        await interaction.response.send_message(bot.seen["inspect"], ephemeral=True)

    @tree.command(name="dm", description="Sends the invoker a DM")
    async def dm(interaction: discord.Interaction) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        await interaction.user.send("hello in private")
        await interaction.edit_original_response(content="sent")

    @tree.command(name="reprompt", description="Opens a modal")
    async def reprompt(interaction: discord.Interaction) -> None:
        await interaction.response.send_modal(PromptModal())

    @tree.command(name="style", description="Autocompleted option")
    async def style(interaction: discord.Interaction, name: str) -> None:
        await interaction.response.send_message(f"style {name}")

    @style.autocomplete("name")
    async def style_names(interaction: discord.Interaction, current: str) -> list[app_commands.Choice[str]]:
        names = ["cinematic", "comic", "photo"]
        return [app_commands.Choice(name=n, value=n) for n in names if n.startswith(current)]

    mod = app_commands.Group(
        name="mod", description="Moderation", default_permissions=discord.Permissions(manage_guild=True)
    )
    words = app_commands.Group(name="words", description="Blocked words", parent=mod)

    @words.command(name="add", description="Block a word")
    @app_commands.choices(
        scope=[app_commands.Choice(name="all", value="all"), app_commands.Choice(name="me", value="me")]
    )
    async def add(interaction: discord.Interaction, word: str, scope: app_commands.Choice[str] | None = None) -> None:
        await interaction.response.send_message(f"added {word} ({scope.value if scope else 'all'})", ephemeral=True)

    tree.add_command(mod)


@pytest.fixture
async def bot(ld: LocalDiscord, png: bytes) -> AsyncIterator[TestBot]:
    """A logged-in, READY bot pointed at ``ld``; the URL patches are undone afterwards."""
    old_base = discord.http.Route.BASE
    old_gateway = discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY
    discord.http.Route.BASE = ld.api_base
    discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(ld.gateway_url)
    client = TestBot()
    client.png = png
    runner = asyncio.create_task(client.start(ld.token))
    try:
        ready = asyncio.create_task(client.wait_until_ready())
        done, _ = await asyncio.wait({ready, runner}, timeout=10, return_when=asyncio.FIRST_COMPLETED)
        if ready not in done:
            ready.cancel()
            if runner in done:
                runner.result()  # surface the login/connect error
            raise TimeoutError("bot did not become ready within 10s")
        yield client
    finally:
        await client.close()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait_for(runner, timeout=5)
        discord.http.Route.BASE = old_base
        discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = old_gateway
    # Everything discord.py itself sent in the test must satisfy Discord's published schema.
    assert ld.violations == [], ld.violations


async def _acked(control: ControlClient, interaction_id: str) -> dict[str, Any]:
    async def check() -> dict[str, Any] | None:
        info = await control.interaction(interaction_id)
        return info if info["acked"] else None

    return await control.wait_for(check, timeout=5, description=f"interaction {interaction_id} acknowledged")


def _ok(message: dict[str, Any], content: str) -> bool:
    return message["content"] == content and not message["_loading"]


async def test_imagine_defer_edit_attachment_and_dynamic_buttons(
    ld: LocalDiscord, control: ControlClient, bot: TestBot, png: bytes
) -> None:
    state = await control.state()
    commands = {c["name"]: c for c in state["commands"]["global"]}
    assert {"imagine", "ping", "mod"} <= set(commands)
    assert commands["mod"]["default_member_permissions"] == str(discord.Permissions(manage_guild=True).value)

    started = await control.invoke("alice", "imagine", "imagine", prompt="a red fox")
    message = await control.wait_for_message("imagine", lambda m: _ok(m, "done: a red fox"))
    info = await control.interaction(started["interaction_id"])
    assert info["response_type"] == 5 and 0 <= info["ack_latency_ms"] < 3000
    assert info["response_message_id"] == message["id"] and message["_edit_count"] == 1

    [attachment] = message["attachments"]
    assert (attachment["filename"], attachment["content_type"]) == ("grid.png", "image/png")
    assert (attachment["width"], attachment["height"], attachment["size"]) == (4, 3, len(png))
    async with httpx.AsyncClient() as http:
        download = await http.get(attachment["url"])
    assert download.content == png and download.headers["content-type"] == "image/png"
    custom_ids = [c["custom_id"] for row in message["components"] for c in row["components"]]
    assert custom_ids == ["ldtest:u:1", "ldtest:x:1"]

    bob = next(m for m in state["guilds"][0]["members"] if m["username"] == "bob")
    await control.click("bob", message["id"], "ldtest:u:1")
    reply = await control.wait_for_message("imagine", lambda m: m["content"] == "upscaled 1 for bob", ephemeral=True)
    assert reply["_ephemeral"] and reply["_visible_to"] == bob["id"]
    assert bot.clicks == [("u", 1, int(bob["id"]))]
    # Ephemeral replies never show up without asking for them.
    assert all(not m["_ephemeral"] for m in await control.messages("imagine"))

    await control.click("alice", message["id"], "ldtest:x:1")
    cleared = await control.wait_for_message(
        "imagine", lambda m: m["id"] == message["id"] and m["content"] == "cleared"
    )
    assert cleared["attachments"] == [] and cleared["components"] == []

    assert await control.violations() == []
    assert [r for r in await control.requests() if r["status"] >= 400] == []


async def test_first_followup_after_thinking_defer_fills_the_loading_message(
    control: ControlClient, bot: TestBot
) -> None:
    started = await control.invoke("carol", "general", "followups")
    await control.wait_for_message("general", lambda m: m["content"] == "second")
    messages = [m for m in await control.messages("general") if m["_interaction_id"] == started["interaction_id"]]
    assert [(m["content"], m["flags"]) for m in messages] == [("first", 0), ("second", 0)]
    info = await control.interaction(started["interaction_id"])
    assert info["response_message_id"] == messages[0]["id"]
    assert info["followup_message_ids"] == [messages[0]["id"], messages[1]["id"]]


async def test_three_second_rule(control: ControlClient, bot: TestBot) -> None:
    started = await control.invoke("alice", "general", "slow")
    await control.wait_for(lambda: bot.errors.get("slow"), timeout=6, description="the late defer to fail")
    assert bot.errors["slow"] == 10062
    info = await control.interaction(started["interaction_id"])
    assert not info["acked"] and [e["code"] for e in info["errors"]] == [10062]


async def test_token_expiry(control: ControlClient, bot: TestBot) -> None:
    started = await control.invoke("alice", "general", "hold")
    await _acked(control, started["interaction_id"])
    expired = await control.expire(started["interaction_id"])
    assert expired["token_expired"]
    bot.hold.set()
    await control.wait_for(lambda: bot.errors.get("hold"), timeout=5, description="the edit to fail")
    assert bot.errors["hold"] == 50027

    # An interaction created almost 15 minutes ago can still be acknowledged but its token dies at once.
    backdated = await control.invoke("alice", "general", "edit", backdate_s=15 * 60 + 1)
    await control.wait_for(lambda: bot.errors.get("edit"), timeout=5, description="the backdated edit to fail")
    assert bot.errors["edit"] == 50027
    assert (await control.interaction(backdated["interaction_id"]))["token_expired"]


async def test_double_acknowledgement_is_refused(ld: LocalDiscord, control: ControlClient, bot: TestBot) -> None:
    started = await control.invoke("alice", "general", "ping")
    await _acked(control, started["interaction_id"])
    url = f"{ld.api_base}/interactions/{started['interaction_id']}/{started['token']}/callback"
    async with httpx.AsyncClient() as http:
        again = await http.post(url, params={"with_response": "1"}, json={"type": 4, "data": {"content": "again"}})
    assert again.status_code == 400 and again.headers["content-type"] == "application/json"
    assert again.json() == {"message": "Interaction has already been acknowledged.", "code": 40060}


async def test_rate_limited_edit_is_retried(ld: LocalDiscord, control: ControlClient, bot: TestBot) -> None:
    await control.fault(
        "PATCH /webhooks/{application_id}/{token}/messages/@original", status=429, retry_after=0.2, count=1
    )
    since = ld.requests[-1]["seq"]
    await control.invoke("alice", "imagine", "imagine", prompt="retry me")
    await control.wait_for_message("imagine", lambda m: _ok(m, "done: retry me"))
    edits = [
        r["status"]
        for r in await control.requests(since=since)
        if r["route"] == "PATCH /webhooks/{webhook_id}/{webhook_token}/messages/@original"
    ]
    assert edits == [429, 200]
    assert (await control.stats())["rate_limited"] == 1


async def test_gateway_drop_resume_and_reidentify(control: ControlClient, bot: TestBot) -> None:
    async def gateway(resumes: int = 0, identifies: int = 1) -> dict[str, Any] | None:
        snap = await control.gateway()
        connected = any(s["connected"] for s in snap["sessions"])
        return snap if connected and snap["resumes"] >= resumes and snap["identifies"] >= identifies else None

    # Close with 4000 and invoke at once: the interaction waits in the session buffer until RESUME.
    assert (await control.drop_gateway("close"))["affected"] == 1
    await control.invoke("alice", "general", "imagine", prompt="after close")
    await control.wait_for(lambda: gateway(resumes=1), timeout=5, description="a RESUME after close")
    await control.wait_for_message("general", lambda m: _ok(m, "done: after close"))

    await control.drop_gateway("reconnect")
    await control.wait_for(lambda: gateway(resumes=2), timeout=5, description="a RESUME after op 7")
    await control.invoke("alice", "general", "imagine", prompt="after reconnect")
    await control.wait_for_message("general", lambda m: _ok(m, "done: after reconnect"))

    await control.drop_gateway("invalidate")
    await control.wait_for(lambda: gateway(resumes=2, identifies=2), timeout=10, description="a new IDENTIFY")
    await control.invoke("alice", "general", "imagine", prompt="after invalidate")
    await control.wait_for_message("general", lambda m: _ok(m, "done: after invalidate"))


async def test_allowed_mentions_decide_who_is_pinged(ld: LocalDiscord, control: ControlClient, bot: TestBot) -> None:
    quiet = await control.invoke("alice", "general", "ping", loud=False)
    loud = await control.invoke("alice", "general", "ping", loud=True)
    for started, pinged in ((quiet, False), (loud, True)):
        info = await _acked(control, started["interaction_id"])
        message = await control.message(info["response_message_id"])
        assert message["content"].startswith("@everyone <@") and message["_pinged"] is pinged
        assert message["mention_everyone"] is pinged and bool(message["mentions"]) is pinged
    assert ld.violations == []


async def test_options_resolve_users_and_attachments(control: ControlClient, bot: TestBot, png: bytes) -> None:
    image = {"filename": "in.png", "content_type": "image/png", "data_b64": base64.b64encode(png).decode()}
    await control.invoke("alice", "general", "inspect", who="bob", image=image)
    reply = await control.wait_for_message("general", lambda m: m["content"].startswith("bob "), ephemeral=True)
    assert reply["content"] == f"bob in.png {len(png)} 4x3"


async def test_default_member_permissions_and_dm(ld: LocalDiscord, control: ControlClient, bot: TestBot) -> None:
    with pytest.raises(ControlAPIError) as refused:
        await control.invoke("alice", "general", "mod words add", word="spoiler")
    assert refused.value.status == 403 and refused.value.body == {"message": "member cannot use this command"}
    with pytest.raises(ControlAPIError) as bad_choice:
        await control.invoke("mod", "general", "mod words add", word="spoiler", scope="nobody")
    assert bad_choice.value.status == 400

    await control.invoke("mod", "general", "mod words add", word="spoiler", scope="me")
    await control.wait_for_message("general", lambda m: m["content"] == "added spoiler (me)", ephemeral=True)
    # force lets a test prove the bot's own run-time permission check (this bot has none, so it answers).
    await control.invoke("alice", "general", "mod words add", word="forced", force=True)
    await control.wait_for_message("general", lambda m: m["content"] == "added forced (all)", ephemeral=True)

    await control.invoke("carol", "general", "dm")
    await control.wait_for_message("general", lambda m: m["content"] == "sent", ephemeral=True)
    [dm] = (await control.state())["dm_channels"]
    [private] = await control.messages(dm["id"])
    assert private["content"] == "hello in private"
    assert ld.violations == []


async def test_modal_submit_and_autocomplete(control: ControlClient, bot: TestBot) -> None:
    opened = await control.invoke("alice", "general", "reprompt")
    info = await _acked(control, opened["interaction_id"])
    assert info["response_type"] == 9 and info["modal"]["title"] == "New prompt"
    with pytest.raises(ControlAPIError):
        await control.submit_modal(opened["interaction_id"], {"nope": "x"})
    await control.submit_modal(opened["interaction_id"], {"prompt": "a calm lake", "mood": "calm"})
    await control.wait_for_message("general", lambda m: m["content"] == "reprompted: a calm lake (calm)")

    typed = await control.autocomplete("alice", "general", "style", "name", name="c")
    choices = await control.wait_for(
        lambda: _choices(control, typed["interaction_id"]), timeout=5, description="autocomplete choices"
    )
    assert [c["value"] for c in choices] == ["cinematic", "comic"]


async def _choices(control: ControlClient, interaction_id: str) -> list[dict[str, Any]] | None:
    return (await control.interaction(interaction_id))["autocomplete_choices"]
