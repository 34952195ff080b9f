"""How the controls beside the job buttons look and what their custom_ids say: Cancel on unfinished jobs,
and page buttons on job lists. Drawing only, like :mod:`bot.ui.buttons`.

Their custom_ids carry all their state, so they keep working after a restart. Cancel is
``img1:<job>:cancel`` (the job-button template only matches actions, so the two never clash); a page
button is ``img1:pg:<scope>:<member>:<status>:<offset>:<page>``. Pages hold as many whole rows as fit, so
where a page begins cannot be worked out from its number: Older carries the row the next page starts at.
Newer, and buttons from before pages were sized, carry no offset (``img1:pg:<scope>:<member>:<status>:<page>``)
and the list is laid out from the top to find it (:func:`bot.ui.jobs.job_list`).

Presses are answered by the extensions' DynamicItems, which match these templates: Cancel and the
``me`` pages (a member's /jobs) by the member extension, the ``mod`` pages (/mod jobs) by the moderation
extension. Each checks who pressed.
"""

from __future__ import annotations

import re
from typing import Any, ClassVar, Literal, NamedTuple, Protocol, Self

import discord

from bot.core.models import Job, JobStatus
from bot.ui.buttons import DrawnButton
from bot.ui.i18n import t

__all__ = [
    "CANCEL_TEMPLATE",
    "PageHandler",
    "PageRef",
    "PageScope",
    "PageShower",
    "cancel_button",
    "page_button",
    "page_template",
    "pager_view",
    "progress_view",
]

# A member's own history (/jobs), or the moderators' view of the server's (/mod jobs).
PageScope = Literal["me", "mod"]

_STATUSES = "|".join(s.value for s in JobStatus)
CANCEL_TEMPLATE = r"img1:(?P<job>[0-9a-f]{16}):cancel"


def page_template(scope: PageScope) -> str:
    """The custom_ids of the page buttons of one scope, with or without an offset."""
    return rf"img1:pg:(?P<scope>{scope}):(?P<member>\d+):(?P<status>all|{_STATUSES}):(?:(?P<offset>\d+):)?(?P<page>\d+)"


class PageRef(NamedTuple):
    """Where a page button leads: whose list (0: everyone's), which status (or "all"), which page, and
    the row the page starts at when known (see the module docstring)."""

    member: int
    status: str
    page: int
    offset: int | None

    @classmethod
    def of(cls, match: re.Match[str]) -> PageRef:
        """From a custom_id matched by :func:`page_template`."""
        offset = int(match["offset"]) if match["offset"] is not None else None
        return cls(int(match["member"]), match["status"], int(match["page"]), offset)


def cancel_button(job_id: str) -> discord.ui.Button[Any]:
    """The Cancel button of job ``job_id``, as the handler's DynamicItem wraps it."""
    return _cancel_button(discord.ui.Button, job_id)


def _cancel_button(kind: type[discord.ui.Button[Any]], job_id: str, locale: object = None) -> discord.ui.Button[Any]:
    label = t(locale, "cancel.label")
    return kind(style=discord.ButtonStyle.danger, label=label, custom_id=f"img1:{job_id}:cancel")


def page_button(
    scope: PageScope,
    member: int,
    status: str,
    page: int,
    *,
    label: str,
    offset: int | None = None,
    disabled: bool = False,
) -> discord.ui.Button[Any]:
    """A button to page ``page`` of a job list, as the handler's DynamicItem wraps it."""
    return _page_button(discord.ui.Button, scope, member, status, page, label=label, offset=offset, disabled=disabled)


def _page_button(
    kind: type[discord.ui.Button[Any]],
    scope: PageScope,
    member: int,
    status: str,
    page: int,
    *,
    label: str,
    offset: int | None,
    disabled: bool,
) -> discord.ui.Button[Any]:
    start = "" if offset is None else f"{offset}:"
    return kind(
        style=discord.ButtonStyle.secondary,
        label=label,
        disabled=disabled,
        custom_id=f"img1:pg:{scope}:{member}:{status}:{start}{page}",
    )


def progress_view(job: Job) -> discord.ui.View | None:
    """The Cancel button under a queued or running job."""
    if job.terminal:
        return None
    view = discord.ui.View(timeout=None)
    view.add_item(_cancel_button(DrawnButton, job.id, job.locale))
    return view


def pager_view(
    scope: PageScope, member: int, status: str, page: int, *, next_offset: int | None
) -> discord.ui.View | None:
    """Previous and next buttons; none when everything fits on the first page.

    ``next_offset`` is the row right after the last one shown, or None when no row follows.
    """
    has_more = next_offset is not None
    if page == 0 and not has_more:
        return None
    view = discord.ui.View(timeout=None)
    newer = _page_button(
        DrawnButton, scope, member, status, max(0, page - 1), label="◀ Newer", offset=None, disabled=page == 0
    )
    older = _page_button(
        DrawnButton, scope, member, status, page + 1, label="Older ▶", offset=next_offset or 0, disabled=not has_more
    )
    view.add_item(newer)
    view.add_item(older)
    return view


class PageShower(Protocol):
    """The extension that owns a job list: it shows the page a button leads to, after its own checks."""

    async def show_page(
        self, interaction: discord.Interaction, member: int, status: str, page: int, offset: int | None
    ) -> None: ...


class PageHandler(discord.ui.DynamicItem[discord.ui.Button[Any]], template=page_template("me")):
    """What the page-button handlers of every job list share: read the custom_id, hand the press over.

    Each extension that owns a list subclasses it with its own scope's template, sets ``scope``, and sets
    ``cog`` on its subclass in cog_load (clearing it in cog_unload), since discord.py registers the class
    and makes an instance per press. This base is never registered itself.
    """

    scope: ClassVar[PageScope] = "me"
    cog: ClassVar[PageShower | None] = None

    def __init__(
        self, member: int, status: str, page: int, *, label: str, offset: int | None = None, disabled: bool = False
    ) -> None:
        super().__init__(page_button(self.scope, member, status, page, label=label, offset=offset, disabled=disabled))
        self.member, self.status, self.page, self.offset = member, status, page, offset

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Item[Any], match: re.Match[str]
    ) -> Self:
        ref = PageRef.of(match)
        label = item.label if isinstance(item, discord.ui.Button) else None
        return cls(ref.member, ref.status, ref.page, label=label or "", offset=ref.offset)

    async def callback(self, interaction: discord.Interaction) -> None:
        cog = self.cog
        if cog is None:
            await interaction.response.send_message(t(interaction.locale, "off.lists"), ephemeral=True)
            return
        await cog.show_page(interaction, self.member, self.status, self.page, self.offset)
