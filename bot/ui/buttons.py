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

from bot.core.editor import offers_vary_region
from bot.core.models import VIDEO_ACTION_VERBS, Action, Job, JobStatus, Verb
from bot.ui.render import button_label, button_rows, is_video, result_actions

__all__ = [
    "DESCRIBE_TEMPLATE",
    "JOB_BUTTON_TEMPLATE",
    "PROMPT_MODAL_TEMPLATE",
    "REGION_TEMPLATE",
    "SEED_TEMPLATE",
    "DrawnButton",
    "button_style",
    "describe_button",
    "describe_view",
    "job_button",
    "job_button_id",
    "prompt_modal_id",
    "result_view",
    "seed_button",
]

# Actions a job is made by but no button presses: /imagine and /blend are commands.
_COMMAND_ACTIONS = frozenset({Action.IMAGINE, Action.BLEND})
# Vary (Region) is drawn like the others but answered by its own handler (it opens the editor): REGION_TEMPLATE.
_ACTIONS = "|".join(re.escape(a.value) for a in Action if a not in _COMMAND_ACTIONS and a is not Action.VARY_REGION)
# Matches the custom_id of every job button, old or new; the handler's DynamicItem template.
JOB_BUTTON_TEMPLATE = rf"img1:(?P<job>[0-9a-f]{{16}}):(?P<action>{_ACTIONS})"
# ✉️ under a finished job: its seed, privately (Midjourney's ✉️ reaction). "seed" is no action's value.
SEED_TEMPLATE = r"img1:(?P<job>[0-9a-f]{16}):seed"
# A /describe answer's numbered buttons: imagine suggestion ``pick`` of the suggestions stored as ``ref``.
DESCRIBE_TEMPLATE = r"img1:d:(?P<ref>[0-9a-f]{16}):(?P<pick>[1-9])"
# The Remix and Custom Zoom modals: the job and the press they make, so a submit needs nothing held in memory
# and still makes its job after a restart (discord.py keeps a modal's callback only in the process that sent it).
PROMPT_MODAL_TEMPLATE = r"img1:m:(?P<job>[0-9a-f]{16}):(?P<action>[a-z0-9_]{1,20})"
# Vary (Region) under an upscale: answered with a private link to the editor (cogs/region.py).
REGION_TEMPLATE = r"img1:(?P<job>[0-9a-f]{16}):vary_region"
SEED_EMOJI = "\u2709\ufe0f"
# Keycap digits, as Midjourney's /describe answer numbers its prompts.
_KEYCAPS = tuple(f"{n}\ufe0f\u20e3" for n in range(1, 10))


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


def seed_button(job_id: str) -> discord.ui.Button[Any]:
    """✉️ under job ``job_id``, as the handler's DynamicItem wraps it."""
    return _seed_button(discord.ui.Button, job_id)


def _seed_button(kind: type[discord.ui.Button[Any]], job_id: str, row: int | None = None) -> discord.ui.Button[Any]:
    return kind(style=discord.ButtonStyle.secondary, emoji=SEED_EMOJI, custom_id=f"img1:{job_id}:seed", row=row)


def prompt_modal_id(job_id: str, action: Action) -> str:
    """The custom_id of the Remix / Custom Zoom modal for ``action`` pressed on job ``job_id``."""
    return f"img1:m:{job_id}:{action.value}"


def describe_button(ref: str, pick: int) -> discord.ui.Button[Any]:
    """Button ``pick`` (1-based) of the /describe answer stored as ``ref``."""
    return _describe_button(discord.ui.Button, ref, pick)


def _describe_button(kind: type[discord.ui.Button[Any]], ref: str, pick: int) -> discord.ui.Button[Any]:
    return kind(style=discord.ButtonStyle.secondary, emoji=_KEYCAPS[pick - 1], custom_id=f"img1:d:{ref}:{pick}")


def describe_view(ref: str, count: int) -> discord.ui.View:
    """A numbered button per suggestion (at most five, one row), each imagining that prompt."""
    view = discord.ui.View(timeout=None)
    for pick in range(1, min(count, 5) + 1):
        view.add_item(_describe_button(DrawnButton, ref, pick))
    return view


def result_view(
    job: Job, pressed: Collection[Action] = frozenset(), verbs: Collection[Verb] = frozenset()
) -> discord.ui.View | None:
    """The buttons under a finished job, or None when it offers none. ``pressed`` are the actions already
    made into a job from it (the store's children of the job, by action): those are drawn in colour,
    their custom_ids unchanged, so they still answer (a second press points at the first). ``verbs`` are
    what the job's provider offers beyond the actions: ✉️ (the seed) on a finished job where it gives one."""
    # Custom Zoom only where the provider takes its factor and prompt (the modal needs both).
    actions = [a for a in result_actions(job) if a is not Action.CUSTOM_ZOOM or Verb.CUSTOM_ZOOM in verbs]
    # Animate and Extend only where the provider makes video (a result may list them where it does not).
    actions = [a for a in actions if a not in VIDEO_ACTION_VERBS or VIDEO_ACTION_VERBS[a] in verbs]
    # Vary (Region) where the provider speaks it on this picture (its editor needs the verb), else never.
    region = offers_vary_region(job, frozenset(verbs))
    region = region and not is_video(job.result_url)  # a picked video clip is an upscale's action, not a picture
    actions = [a for a in actions if a is not Action.VARY_REGION or region]
    if region and Action.VARY_REGION not in actions:
        actions.append(Action.VARY_REGION)
    seed = Verb.SEED in verbs and job.status is JobStatus.COMPLETED
    # Midjourney gives no seed of a video (useapi and APIFrame refuse a video job's): no ✉️ under one.
    seed = seed and not is_video(job.result_url)
    if not actions and not seed:
        return None
    if job.status is not JobStatus.COMPLETED and pressed:
        # 🔄 on a job that ended unsure sends the job's own action again: its child is that retry.
        pressed = {*pressed, Action.REROLL}
    view = discord.ui.View(timeout=None)
    rows = button_rows(actions)[:4] if seed else button_rows(actions)[:5]
    for row_index, row in enumerate(rows):
        for action in row:
            view.add_item(_job_button(DrawnButton, job.id, action, row_index, action in pressed, job.locale))
    if seed:
        view.add_item(_seed_button(DrawnButton, job.id, len(rows)))
    return view
