"""What every cog of this bot reaches for: the job engine and the moderation service."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bot.core.engine import JobEngine
    from bot.core.moderation import Moderation
    from bot.ui.client import ImagineBot

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
