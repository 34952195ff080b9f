"""Replies that tell a member no, politely and only to them."""

from __future__ import annotations

import contextlib
import logging

import discord

from bot.ui.render import NO_MENTIONS

__all__ = ["refuse"]

_log = logging.getLogger(__name__)


async def refuse(interaction: discord.Interaction, text: str) -> None:
    """Answer ephemerally; if a public "thinking…" message was already started, remove it first."""
    if not interaction.response.is_done():
        try:
            await interaction.response.send_message(text, ephemeral=True, allowed_mentions=NO_MENTIONS)
        except discord.HTTPException as exc:
            # The interaction is already dead (the 3 s passed, or Discord expired it): nobody to tell.
            _log.warning("could not send a refusal: %s %s", exc.status, exc.code)
        return
    # The deferred message is public; a refusal is nobody else's business.
    with contextlib.suppress(discord.HTTPException):
        await interaction.delete_original_response()
    try:
        await interaction.followup.send(text, ephemeral=True, allowed_mentions=NO_MENTIONS)
    except discord.HTTPException as exc:
        _log.warning("could not send a refusal: %s %s", exc.status, exc.code)
