"""How a job's buttons look and what their custom_ids say. Drawing only: no press is handled here.

The custom_id carries the job id and the action, nothing else, so a button works on any message after any
restart: the rest comes from the store when it is pressed. Scheme (versioned so it can change without
breaking old messages): ``img1:<job id>:<action>``. The imagine extension's ``JobButton``
(``cogs/imagine.py``) answers presses by matching :data:`JOB_BUTTON_TEMPLATE`; this module only draws
the buttons, so the presenter and the member commands can show them without importing an extension.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from typing import Any

import discord

from bot.core.models import Action, Job, JobStatus
from bot.ui.render import button_label, button_rows, result_actions

__all__ = [
    "JOB_BUTTON_PREFIX",
    "JOB_BUTTON_TEMPLATE",
    "DrawnButton",
    "button_style",
    "job_button",
    "job_button_id",
    "result_view",
]

_ACTIONS = "|".join(re.escape(a.value) for a in Action if a is not Action.IMAGINE)
# How every job button's custom_id starts.
JOB_BUTTON_PREFIX = "img1:"
# Matches the custom_id of every job button, old or new; the handler's DynamicItem template.
JOB_BUTTON_TEMPLATE = rf"img1:(?P<job>[0-9a-f]{{16}}):(?P<action>{_ACTIONS})"


class DrawnButton(discord.ui.Button[discord.ui.View]):
    """A button as a message shows it, which answers nothing itself.

    Its presses are answered by the extension's DynamicItem whose template matches its custom_id. Saying
    it is not dispatchable keeps it, and its view, out of discord.py's view store: a dispatchable button
    would make every job message edited with buttons keep its view there for the life of the process,
    for a callback that does nothing. The message itself is the same either way.
    """

    def is_dispatchable(self) -> bool:
        return False


def job_button_id(job_id: str, action: Action) -> str:
    return f"img1:{job_id}:{action.value}"


def job_button(job_id: str, action: Action, *, row: int | None = None, pressed: bool = False) -> discord.ui.Button[Any]:
    """The button of ``action`` under job ``job_id``, as the handler's DynamicItem wraps it."""
    return _job_button(discord.ui.Button, job_id, action, row, pressed)


def button_style(pressed: bool) -> discord.ButtonStyle:
    """A button already pressed into a job is drawn in colour, as Midjourney does; the others grey."""
    return discord.ButtonStyle.primary if pressed else discord.ButtonStyle.secondary


def _job_button(
    kind: type[discord.ui.Button[Any]],
    job_id: str,
    action: Action,
    row: int | None,
    pressed: bool = False,
    locale: object = None,
) -> discord.ui.Button[Any]:
    label, emoji = button_label(action, locale)
    return kind(
        style=button_style(pressed),
        label=label,
        emoji=emoji,
        custom_id=job_button_id(job_id, action),
        row=row,
    )


def result_view(job: Job, pressed: Collection[Action] = frozenset()) -> discord.ui.View | None:
    """The buttons under a finished job, or None when it offers none. ``pressed`` are the actions already
    made into a job from it (the store's children of the job, by action): those are drawn in colour,
    their custom_ids unchanged, so they still answer (a second press points at the first)."""
    actions = result_actions(job)
    if not actions:
        return None
    if job.status is not JobStatus.COMPLETED and pressed:
        # 🔄 on a job that ended unsure sends the job's own action again: its child is that retry.
        pressed = {*pressed, Action.REROLL}
    view = discord.ui.View(timeout=None)
    for row_index, row in enumerate(button_rows(actions)[:5]):
        for action in row:
            view.add_item(_job_button(DrawnButton, job.id, action, row_index, action in pressed, job.locale))
    return view
