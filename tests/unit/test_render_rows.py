"""Issue 14, item 2: the buttons in Midjourney's rows. After an upscale, Vary and Zoom on one row, the four
pans on the next, the upscales after; on a grid, 🔄 stays on the U row."""

from __future__ import annotations

from bot.core.models import Action, JobStatus
from bot.ui.buttons import result_view
from bot.ui.render import button_rows, result_actions
from tests.unit.conftest import make_job

GRID = [Action.U1, Action.U2, Action.U3, Action.U4, Action.REROLL, Action.V1, Action.V2, Action.V3, Action.V4]
AFTER_UPSCALE = [
    Action.VARY_STRONG,
    Action.VARY_SUBTLE,
    Action.ZOOM_OUT_2X,
    Action.ZOOM_OUT_1_5X,
    Action.PAN_LEFT,
    Action.PAN_RIGHT,
    Action.PAN_UP,
    Action.PAN_DOWN,
    Action.UPSCALE_SUBTLE,
    Action.UPSCALE_CREATIVE,
]


# -- 2. rows -------------------------------------------------------------------------------------------


def test_after_an_upscale_vary_and_zoom_then_pans_then_upscales() -> None:
    job = make_job(status=JobStatus.COMPLETED, action=Action.U2, actions=list(reversed(AFTER_UPSCALE)))
    assert button_rows(result_actions(job)) == [
        [Action.VARY_STRONG, Action.VARY_SUBTLE, Action.ZOOM_OUT_2X, Action.ZOOM_OUT_1_5X],
        [Action.PAN_LEFT, Action.PAN_RIGHT, Action.PAN_UP, Action.PAN_DOWN],
        [Action.UPSCALE_SUBTLE, Action.UPSCALE_CREATIVE],
    ]
    view = result_view(job)
    assert view is not None
    assert [item.row for item in view.children] == [0, 0, 0, 0, 1, 1, 1, 1, 2, 2]


def test_rows_skip_what_is_not_offered_and_keep_the_grid() -> None:
    assert button_rows([Action.ZOOM_OUT_2X, Action.UPSCALE_SUBTLE]) == [[Action.ZOOM_OUT_2X], [Action.UPSCALE_SUBTLE]]
    assert button_rows([Action.PAN_UP, Action.REROLL]) == [[Action.PAN_UP], [Action.REROLL]]
    grid = make_job(status=JobStatus.COMPLETED, actions=GRID)
    assert button_rows(result_actions(grid)) == [GRID[:5], GRID[5:]]  # 🔄 stays on the U row
    assert all(len(row) <= 5 for row in button_rows(result_actions(grid)))
