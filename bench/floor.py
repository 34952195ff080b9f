"""The floor: the least a discord.py bot can do for the load benchmark's members.

    DISCORD_TOKEN=... DISCORD_API_BASE=... DISCORD_GATEWAY_URL=... DISCORD_GUILD_IDS=... python -m bench.floor

For each ``/imagine`` it defers (a public "thinking…" message), then edits that message once with a fixed
768×768 PNG and the nine buttons a finished grid carries (U1–U4, 🔄, V1–V4, custom ids in the bot's own
scheme); a press of any of them is answered the same way, on a message of its own. No database, no
provider, no queue, no moderation: what it costs per job is what discord.py, the gateway and the two REST
calls cost, which no bot of this shape can go below. ``bench.load --floor`` runs it beside the real bot
under the same harness, so the bot's figures can be read as multiples of it on any machine.

It uses the same REST routes as the bot (the interaction callback, then the interaction webhook's edit of
the message by id) and the same intents, and it stops cleanly on SIGTERM.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import os
import re
import secrets
import signal
from typing import Any

import discord
import discord.gateway
import discord.http
import yarl
from discord import app_commands
from PIL import Image, ImageDraw

__all__ = ["BUTTONS", "floor_png", "main"]

# The grid's buttons in the bot's custom_id scheme (img1:<job id>:<action>), two rows as the bot draws them.
BUTTONS = (("u1", "U1"), ("u2", "U2"), ("u3", "U3"), ("u4", "U4"), ("reroll", "🔄"),
           ("v1", "V1"), ("v2", "V2"), ("v3", "V3"), ("v4", "V4"))  # fmt: skip
_PRESS = re.compile(r"img1:[0-9a-f]{16}:\w+")
SIZE = 768


def floor_png() -> bytes:
    """A 768×768 PNG in four tiles, drawn once at start: the one image every answer carries."""
    image = Image.new("RGB", (SIZE, SIZE))
    draw = ImageDraw.Draw(image)
    half = SIZE // 2
    for n, colour in enumerate(((70, 110, 160), (200, 140, 60), (90, 160, 100), (150, 80, 140))):
        x, y = (n % 2) * half, (n // 2) * half
        draw.rectangle((x, y, x + half - 1, y + half - 1), fill=colour)
        draw.ellipse((x + 60, y + 60, x + half - 60, y + half - 60), outline=(240, 240, 240), width=9)
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


class _Shown(discord.ui.Button[discord.ui.View]):
    """A button that answers nothing itself (presses come through ``on_interaction``), so no view is kept."""

    def is_dispatchable(self) -> bool:
        return False


def _view(job_id: str) -> discord.ui.View:
    view = discord.ui.View(timeout=None)
    for n, (action, label) in enumerate(BUTTONS):
        view.add_item(
            _Shown(style=discord.ButtonStyle.secondary, label=label, custom_id=f"img1:{job_id}:{action}", row=n // 5)
        )
    return view


class FloorBot(discord.Client):
    def __init__(self, guild_ids: list[int]) -> None:
        super().__init__(intents=discord.Intents(guilds=True))
        self.tree = app_commands.CommandTree(self)
        self.guild_ids = guild_ids
        self.png = floor_png()

        @self.tree.command(name="imagine", description="Create four images from a prompt")
        async def imagine(interaction: discord.Interaction, prompt: str) -> None:
            await self.answer(interaction, prompt)

    async def setup_hook(self) -> None:
        for guild_id in self.guild_ids:
            guild = discord.Object(id=guild_id)
            self.tree.copy_global_to(guild=guild)
            await self.tree.sync(guild=guild)

    async def on_interaction(self, interaction: discord.Interaction) -> None:
        custom_id = (interaction.data or {}).get("custom_id", "")
        if interaction.type is discord.InteractionType.component and _PRESS.fullmatch(str(custom_id)):
            await self.answer(interaction, "pressed")

    async def answer(self, interaction: discord.Interaction, prompt: str) -> None:
        response = await interaction.response.defer(thinking=True)
        message_id = response.message_id if response is not None else None
        if message_id is None:
            message_id = (await interaction.original_response()).id
        job_id = secrets.token_hex(8)
        await interaction.followup.edit_message(
            message_id,
            content=f"**{discord.utils.escape_markdown(prompt)}** - <@{interaction.user.id}>",
            attachments=[discord.File(io.BytesIO(self.png), filename="grid.png")],
            view=_view(job_id),
            allowed_mentions=discord.AllowedMentions.none(),
        )


async def _run() -> None:
    env: dict[str, Any] = os.environ
    discord.http.Route.BASE = env["DISCORD_API_BASE"].rstrip("/")
    discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(env["DISCORD_GATEWAY_URL"])
    guilds = [int(g) for g in env.get("DISCORD_GUILD_IDS", "").replace(",", " ").split()]
    client = FloorBot(guilds)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    async with client:
        runner = asyncio.create_task(client.start(env["DISCORD_TOKEN"]))
        stopper = asyncio.create_task(stop.wait())
        await asyncio.wait({runner, stopper}, return_when=asyncio.FIRST_COMPLETED)
        stopper.cancel()
        await client.close()
        with contextlib.suppress(asyncio.CancelledError):
            await runner


def main() -> None:
    asyncio.run(_run())


if __name__ == "__main__":
    main()
