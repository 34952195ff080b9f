"""The checks a member's request meets before the interaction is acknowledged, and who counts as a moderator.

Everything here reads only the cached guild snapshot (see :class:`bot.core.moderation.Moderation`), so it
runs well inside Discord's 3 seconds; only a guild's first request after a start loads the snapshot.
A refused request is answered ephemerally, before anything public was posted.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import discord

from bot.core.moderation import GuildState, MemberSettings, Moderation, StrikeOutcome
from bot.core.prompt import ParsedPrompt, parse_prompt
from bot.ui.i18n import t
from bot.ui.replies import refuse
from bot.ui.texts import ban_text, blocked_text, channel_pointer

if TYPE_CHECKING:
    from bot.ui.client import ImagineBot

__all__ = ["guard", "is_moderator", "prompt_allowed", "role_ids", "with_member_defaults"]

_log = logging.getLogger(__name__)
# Counting a blocked prompt runs as a task (kept referenced until done) so that the answer need not wait
# longer than this for it; the count finishes either way.
STRIKE_WAIT_S = 1.5
_background: set[asyncio.Task[Any]] = set()


def moderation_of(bot: ImagineBot) -> Moderation:
    return bot.runtime.moderation


def role_ids(user: discord.abc.User) -> list[int]:
    """The member's role ids, straight from the interaction payload (no cache needed)."""
    ids = getattr(user, "_roles", None)
    if ids is not None:
        return list(ids)
    return [role.id for role in getattr(user, "roles", ())]


def is_moderator(interaction: discord.Interaction, state: GuildState | None) -> bool:
    """Manage Server (or Administrator), or the guild's configured moderator role."""
    permissions = interaction.permissions
    if permissions.manage_guild or permissions.administrator:
        return True
    return state is not None and state.is_moderator_role(role_ids(interaction.user))


def _channel_ids(interaction: discord.Interaction) -> tuple[int | None, ...]:
    channel = interaction.channel
    parent = getattr(channel, "parent_id", None)
    return interaction.channel_id, parent


async def guard(bot: ImagineBot, interaction: discord.Interaction) -> GuildState | None:
    """Allowed channel and ban; answers a refusal itself and returns None, else the guild snapshot."""
    if interaction.guild_id is None:
        await refuse(interaction, t(interaction.locale, "gate.servers_only"))
        return None
    state = await moderation_of(bot).guild(interaction.guild_id)
    if not state.channel_allowed(*_channel_ids(interaction)):
        await refuse(interaction, channel_pointer(state, interaction.locale))
        return None
    ban = state.ban_for(interaction.user.id)
    if ban is not None:
        await refuse(interaction, ban_text(ban, interaction.locale))
        return None
    return state


async def prompt_allowed(
    bot: ImagineBot, interaction: discord.Interaction, state: GuildState, text: str, *, strike: bool = True
) -> bool:
    """Banned words: a blocked prompt is counted towards the escalation and explained in one private reply.

    The reply says what matched and where the member now stands (how many more before an automatic pause,
    or that the pause just started). Counting is one short transaction; should it take longer than
    :data:`STRIKE_WAIT_S`, the reply goes without the standing (Discord's 3 seconds come first) and the
    count still completes in the background, with no second message.
    """
    verdict = state.filter.check(text)
    if not verdict.blocked:
        return True
    outcome: StrikeOutcome | None = None
    if strike and verdict.hits and interaction.guild_id is not None:
        task = asyncio.create_task(_strike(bot, interaction.guild_id, interaction.user.id, verdict, text))
        _background.add(task)
        task.add_done_callback(_background.discard)
        with contextlib.suppress(TimeoutError):
            outcome = await asyncio.wait_for(asyncio.shield(task), STRIKE_WAIT_S)
    await refuse(interaction, blocked_text(verdict, outcome, interaction.locale))
    return False


async def _strike(bot: ImagineBot, guild_id: int, user_id: int, verdict: Any, text: str) -> StrikeOutcome | None:
    try:
        return await moderation_of(bot).record_block(guild_id, user_id, verdict, text)
    except Exception:
        _log.exception("could not record a blocked prompt")
        return None


def with_member_defaults(parsed: ParsedPrompt, settings: MemberSettings) -> ParsedPrompt:
    """The member's default aspect and suffix parameters, for whatever the prompt did not say itself."""
    params = dict(parsed.params)
    if settings.suffix:
        for name, value in suffix_params(settings.suffix).items():
            params.setdefault(name, value)
    if settings.aspect and "ar" not in params:
        params["ar"] = settings.aspect
    return dataclasses.replace(parsed, params=params)


def suffix_params(suffix: str) -> dict[str, Any]:
    """The parameters of a suffix; raises InputError for a bad one, ValueError if it holds more than parameters."""
    parsed = parse_prompt("x", suffix=suffix)
    if parsed.text != "x" or parsed.image_urls:
        raise ValueError("A suffix holds parameters only, for example `--v 6 --stylize 250`.")
    return parsed.params


def is_owner_or_moderator(interaction: discord.Interaction, state: GuildState | None, owner_ids: Sequence[int]) -> bool:
    return interaction.user.id in owner_ids or is_moderator(interaction, state)
