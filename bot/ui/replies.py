"""Replies that tell a member no, politely and only to them, and the one answer to anything that failed."""

from __future__ import annotations

import contextlib
import functools
import logging
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import discord
from discord import app_commands

from bot.core.errors import StoreError
from bot.ui.i18n import t
from bot.ui.render import NO_MENTIONS

__all__ = ["FAILED", "SAVE_FAILED", "answer_failures", "refuse", "reply", "reply_followup", "report_failure"]

_log = logging.getLogger(__name__)

ItemT = TypeVar("ItemT", bound=type[discord.ui.DynamicItem[Any]])

# Nothing is charged before a job reaches a provider, and nothing that can fail here sends one.
FAILED = t(None, "failure.internal")
SAVE_FAILED = t(None, "failure.save")

# Answers that are the message a component sits on: deleting "the original response" would delete it.
_UPDATES = frozenset(
    {discord.InteractionResponseType.deferred_message_update, discord.InteractionResponseType.message_update}
)


async def reply(interaction: discord.Interaction, content: str, **kwargs: Any) -> None:
    """An ephemeral answer, whether or not the interaction was deferred."""
    if interaction.response.is_done():
        await interaction.edit_original_response(content=content, allowed_mentions=NO_MENTIONS, **kwargs)
    else:
        await interaction.response.send_message(content, ephemeral=True, allowed_mentions=NO_MENTIONS, **kwargs)


async def reply_followup(interaction: discord.Interaction, text: str) -> None:
    """A private note after the interaction was answered some other way (a button that updates its message)."""
    try:
        await interaction.followup.send(text, ephemeral=True, allowed_mentions=NO_MENTIONS)
    except discord.HTTPException as exc:
        _log.warning("could not send a follow-up: %s %s", exc.status, exc.code)


async def refuse(interaction: discord.Interaction, text: str) -> None:
    """Answer ephemerally; if a public "thinking…" message was already started, remove it first."""
    if not interaction.response.is_done():
        try:
            await interaction.response.send_message(text, ephemeral=True, allowed_mentions=NO_MENTIONS)
        except discord.HTTPException as exc:
            # The interaction is already dead (the 3 s passed, or Discord expired it): nobody to tell.
            _log.warning("could not send a refusal: %s %s", exc.status, exc.code)
        return
    if interaction.response.type not in _UPDATES:
        # The deferred message is public; a refusal is nobody else's business.
        with contextlib.suppress(discord.HTTPException):
            await interaction.delete_original_response()
    try:
        await interaction.followup.send(text, ephemeral=True, allowed_mentions=NO_MENTIONS)
    except discord.HTTPException as exc:
        _log.warning("could not send a refusal: %s %s", exc.status, exc.code)


def _what(interaction: discord.Interaction) -> str:
    """The command or button an interaction was, for the log."""
    command = interaction.command
    if command is not None:
        return f"/{command.qualified_name}"
    data = interaction.data
    custom_id = data.get("custom_id") if data is not None else None
    return f"button {custom_id}" if custom_id else f"interaction type {interaction.type.value}"


async def report_failure(interaction: discord.Interaction, error: Exception) -> None:
    """Every command and button that raises ends here: one polite answer to the member and one log line.

    Installed as the command tree's error handler and around every persistent button's callback
    (see :mod:`bot.ui.client`), so no failure goes unanswered and none is logged twice.
    """
    original = getattr(error, "original", None) or error
    what = _what(interaction)
    if isinstance(error, app_commands.CommandNotFound):
        # A command Discord still shows from an earlier sync, for a verb the configured provider no longer
        # offers (the current sync dropped it): not a failure, a stale command.
        _log.info("%s is not offered here (member %s)", what, interaction.user.id)
        text = t(getattr(interaction, "locale", None), "verb.not_offered")
    elif isinstance(error, app_commands.CheckFailure):
        # Not a failure: a check said no (not a moderator, not in a server); its message says why.
        _log.info("%s refused to member %s: %s", what, interaction.user.id, error)
        text = str(error) or "You cannot use that here."
    elif isinstance(original, StoreError):
        # The database is busy or unavailable; the reason is in the message, a traceback adds nothing.
        _log.warning("%s failed for member %s: %s", what, interaction.user.id, original)
        text = t(getattr(interaction, "locale", None), "failure.save")
    else:
        _log.error("%s failed for member %s", what, interaction.user.id, exc_info=original)
        text = t(getattr(interaction, "locale", None), "failure.internal")
    await refuse(interaction, text)


def answer_failures(item: ItemT) -> ItemT:
    """Make a persistent button's failures get :func:`report_failure`'s answer; returns the class.

    discord.py 2.x hands what a DynamicItem's callback raises neither to ``View.on_error`` nor to
    ``Client.on_error``: it logs it, and the member sees "This interaction failed". The class's own
    callback is wrapped, in place, because discord.py's view store registers the class of every item of
    every view the bot sends, which would replace a registered subclass with the plain class.
    Wrapping twice is a no-op.
    """
    callback: Callable[[Any, discord.Interaction], Awaitable[None]] = item.callback
    if getattr(callback, "__answers_failures__", False):
        return item

    @functools.wraps(callback)
    async def answered(self: Any, interaction: discord.Interaction) -> None:
        try:
            await callback(self, interaction)
        except Exception as error:
            await report_failure(interaction, error)

    answered.__answers_failures__ = True  # type: ignore[attr-defined]
    item.callback = answered  # type: ignore[method-assign]
    return item
