"""Persistent job buttons. The custom_id carries the job id and the action, nothing else, so a button
works on any message after any restart: the rest comes from the store when it is pressed.

Scheme (versioned so it can change without breaking old messages): ``img1:<job id>:<action>``.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

import discord

from bot.core.models import Action, Job
from bot.ui.render import button_label, button_rows, result_actions

if TYPE_CHECKING:
    from cogs.imagine import Imagine

__all__ = ["JobButton", "result_view"]

_ACTIONS = "|".join(re.escape(a.value) for a in Action if a is not Action.IMAGINE)


class JobButton(
    discord.ui.DynamicItem[discord.ui.Button[Any]], template=rf"img1:(?P<job>[0-9a-f]{{16}}):(?P<action>{_ACTIONS})"
):
    def __init__(self, job_id: str, action: Action, *, row: int | None = None) -> None:
        label, emoji = button_label(action)
        super().__init__(
            discord.ui.Button(
                style=discord.ButtonStyle.secondary,
                label=label,
                emoji=emoji,
                custom_id=f"img1:{job_id}:{action.value}",
                row=row,
            )
        )
        self.job_id = job_id
        self.action = action

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Button[Any], match: re.Match[str]
    ) -> JobButton:
        # Runs inside Discord's 3-second window: parse only, no I/O.
        return cls(match["job"], Action(match["action"]))

    async def callback(self, interaction: discord.Interaction) -> None:
        cog: Imagine | None = interaction.client.get_cog("Imagine")  # type: ignore[union-attr]
        if cog is None:
            await interaction.response.send_message("Image generation is switched off right now.", ephemeral=True)
            return
        await cog.press(interaction, self.job_id, self.action)


def result_view(job: Job) -> discord.ui.View | None:
    """The buttons under a finished job, or None when it offers none."""
    actions = result_actions(job)
    if not actions:
        return None
    view = discord.ui.View(timeout=None)
    for row_index, row in enumerate(button_rows(actions)[:5]):
        for action in row:
            view.add_item(JobButton(job.id, action, row=row_index))
    return view
