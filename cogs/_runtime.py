"""What every cog of this bot reaches for: the job engine and the moderation service."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bot.client import ImagineBot
    from bot.engine import JobEngine
    from bot.moderation import Moderation

__all__ = ["RuntimeAccess"]


class RuntimeAccess:
    """A mixin for cogs that keep the bot as ``self.bot``; a mixin because /mod is a GroupCog."""

    bot: ImagineBot

    @property
    def engine(self) -> JobEngine:
        return self.bot.runtime.engine

    @property
    def moderation(self) -> Moderation:
        return self.bot.runtime.moderation
