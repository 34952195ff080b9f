"""Issue 14, item 1: buttons already pressed into a job are drawn in colour, custom ids unchanged."""

from __future__ import annotations

import discord

from bot.core.models import Action, ErrorReason, JobStatus
from bot.ui.buttons import result_view
from tests.unit.conftest import make_job

GRID = [Action.U1, Action.U2, Action.U3, Action.U4, Action.REROLL, Action.V1, Action.V2, Action.V3, Action.V4]


def styles(view: discord.ui.View | None) -> dict[str, discord.ButtonStyle]:
    assert view is not None
    return {item.custom_id.rsplit(":", 1)[1]: item.style for item in view.children}  # type: ignore[attr-defined]


# -- 1. pressed buttons ------------------------------------------------------------------------------


def test_pressed_buttons_are_coloured_and_keep_their_ids() -> None:
    job = make_job(status=JobStatus.COMPLETED, actions=GRID)
    plain, pressed = result_view(job), result_view(job, frozenset({Action.U2, Action.V3}))
    assert plain is not None and pressed is not None
    ids = [item.custom_id for item in plain.children]  # type: ignore[attr-defined]
    assert [item.custom_id for item in pressed.children] == ids  # type: ignore[attr-defined]
    assert [item.row for item in pressed.children] == [item.row for item in plain.children]
    drawn = styles(pressed)
    assert drawn["u2"] is drawn["v3"] is discord.ButtonStyle.primary
    assert all(style is discord.ButtonStyle.secondary for a, style in drawn.items() if a not in ("u2", "v3"))
    assert set(styles(plain).values()) == {discord.ButtonStyle.secondary}


def test_a_pressed_action_the_job_does_not_offer_draws_nothing_new() -> None:
    job = make_job(status=JobStatus.COMPLETED, actions=[Action.U1])
    assert styles(result_view(job, {Action.V4})) == {"u1": discord.ButtonStyle.secondary}


def test_a_retry_that_was_sent_shows_its_reroll_pressed() -> None:
    # 🔄 on an unsure failure sends the job's own action again, so the child's action is not "reroll".
    job = make_job(status=JobStatus.FAILED, error=ErrorReason.UNCONFIRMED)
    assert styles(result_view(job)) == {"reroll": discord.ButtonStyle.secondary}
    assert styles(result_view(job, {Action.IMAGINE})) == {"reroll": discord.ButtonStyle.primary}
