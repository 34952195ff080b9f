"""Persistent controls beside the job buttons: Cancel on unfinished jobs, and page buttons on job lists.

Like :class:`bot.ui.buttons.JobButton` they are DynamicItems whose custom_id carries all their state, so
they keep working after a restart. Cancel is ``img1:<job>:cancel`` (the job-button template only
matches actions, so the two never clash); a page button is ``img1:pg:<scope>:<member>:<status>:<offset>:<page>``.
Pages hold as many whole rows as fit, so where a page begins cannot be worked out from its number: Older
carries the row the next page starts at. Newer, and buttons from before pages were sized, carry no offset
(``img1:pg:<scope>:<member>:<status>:<page>``) and the cog lays the pages out from the top to find it.
The callbacks only hand over to the cogs, which check who pressed.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

import discord

from bot.core.models import Job, JobStatus

if TYPE_CHECKING:
    from cogs.member import Member
    from cogs.moderation import ModerationCog

__all__ = ["CancelButton", "PageButton", "pager_view", "progress_view"]

_STATUSES = "|".join(s.value for s in JobStatus)


class CancelButton(discord.ui.DynamicItem[discord.ui.Button[Any]], template=r"img1:(?P<job>[0-9a-f]{16}):cancel"):
    def __init__(self, job_id: str) -> None:
        super().__init__(
            discord.ui.Button(style=discord.ButtonStyle.danger, label="Cancel", custom_id=f"img1:{job_id}:cancel")
        )
        self.job_id = job_id

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Button[Any], match: re.Match[str]
    ) -> CancelButton:
        # Runs inside Discord's 3-second window: parse only, no I/O.
        return cls(match["job"])

    async def callback(self, interaction: discord.Interaction) -> None:
        cog: Member | None = interaction.client.get_cog("Member")  # type: ignore[union-attr]
        if cog is None:
            await interaction.response.send_message("Cancelling is switched off right now.", ephemeral=True)
            return
        await cog.cancel_pressed(interaction, self.job_id)


class PageButton(
    discord.ui.DynamicItem[discord.ui.Button[Any]],
    template=(
        rf"img1:pg:(?P<scope>me|mod):(?P<member>\d+):(?P<status>all|{_STATUSES}):(?:(?P<offset>\d+):)?(?P<page>\d+)"
    ),
):
    """One page of a job list; ``scope`` is a member's own history or the moderators' view.

    ``offset`` is the list row the page starts at, when known (see the module docstring).
    """

    def __init__(
        self,
        scope: str,
        member: int,
        status: str,
        page: int,
        *,
        label: str,
        offset: int | None = None,
        disabled: bool = False,
    ) -> None:
        start = "" if offset is None else f"{offset}:"
        super().__init__(
            discord.ui.Button(
                style=discord.ButtonStyle.secondary,
                label=label,
                disabled=disabled,
                custom_id=f"img1:pg:{scope}:{member}:{status}:{start}{page}",
            )
        )
        self.scope, self.member, self.status, self.page, self.offset = scope, member, status, page, offset

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Button[Any], match: re.Match[str]
    ) -> PageButton:
        offset = int(match["offset"]) if match["offset"] is not None else None
        return cls(
            match["scope"],
            int(match["member"]),
            match["status"],
            int(match["page"]),
            label=item.label or "",
            offset=offset,
        )

    async def callback(self, interaction: discord.Interaction) -> None:
        name = "Member" if self.scope == "me" else "ModerationCog"
        cog: Member | ModerationCog | None = interaction.client.get_cog(name)  # type: ignore[union-attr,assignment]
        if cog is None:
            await interaction.response.send_message("Job lists are switched off right now.", ephemeral=True)
            return
        await cog.show_page(interaction, self.member, self.status, self.page, self.offset)


def progress_view(job: Job) -> discord.ui.View | None:
    """The Cancel button under a queued or running job."""
    if job.terminal:
        return None
    view = discord.ui.View(timeout=None)
    view.add_item(CancelButton(job.id))
    return view


def pager_view(scope: str, member: int, status: str, page: int, *, next_offset: int | None) -> discord.ui.View | None:
    """Previous and next buttons; none when everything fits on the first page.

    ``next_offset`` is the row right after the last one shown, or None when no row follows.
    """
    has_more = next_offset is not None
    if page == 0 and not has_more:
        return None
    view = discord.ui.View(timeout=None)
    view.add_item(PageButton(scope, member, status, max(0, page - 1), label="◀ Newer", disabled=page == 0))
    view.add_item(
        PageButton(scope, member, status, page + 1, label="Older ▶", offset=next_offset or 0, disabled=not has_more)
    )
    return view
