"""A press's job keeps the picture's shape but not what only its parent's own press asked for."""

from __future__ import annotations

from bot.core.models import MASK_PARAM
from cogs.imagine import _press_params

REGION_RESULT = {"ar": "3:2", "seed": 7, "remix": True, "zoom": 1.5, MASK_PARAM: "iVBORw0KGgo="}


def test_a_press_on_a_result_drops_the_parents_own_press() -> None:
    # U1 on a Vary (Region) grid is no region job: no mask stored again, no prompt sent where none is documented.
    assert _press_params(REGION_RESULT, retry=False) == {"ar": "3:2", "seed": 7}


def test_a_retry_repeats_the_press_in_full() -> None:
    # 🔄 on a job that ended unconfirmed sends that same press again, mask and all.
    assert _press_params(REGION_RESULT, retry=True) == REGION_RESULT
