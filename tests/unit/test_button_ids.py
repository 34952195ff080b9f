"""The buttons the Discord layer draws and the extensions' handlers agree on every custom_id.

bot/ui draws the buttons (it may not import the extensions); each extension answers its own by a
DynamicItem template. A drawn id that no handler matches, or that two match, would be a dead or a
doubled button, and the ids of messages already posted must keep their handler after any restart.
"""

from __future__ import annotations

import discord

from bot.core.models import Action, ErrorReason, JobStatus, Verb
from bot.ui.buttons import describe_view, result_view
from bot.ui.controls import pager_view, progress_view
from cogs.imagine import JobButton
from cogs.member import CancelButton, PageButton
from cogs.moderation import ModPageButton
from cogs.region import RegionButton
from cogs.verbs import DescribePick, SeedButton
from tests.unit.conftest import make_job

HANDLERS = (JobButton, CancelButton, PageButton, ModPageButton, SeedButton, DescribePick, RegionButton)


def handlers_of(custom_id: str) -> list[str]:
    return [h.__name__ for h in HANDLERS if h.__discord_ui_compiled_template__.fullmatch(custom_id)]


def drawn_ids(view: discord.ui.View | None) -> list[str]:
    assert view is not None
    ids = []
    for item in view.children:
        assert isinstance(item, discord.ui.Button) and item.custom_id is not None
        ids.append(item.custom_id)
    return ids


async def test_every_drawn_button_has_exactly_one_handler() -> None:
    grid = make_job(status=JobStatus.COMPLETED, actions=list(Action)[1:])
    for custom_id in drawn_ids(result_view(grid)):
        assert handlers_of(custom_id) == ["JobButton"], custom_id
    seeded = drawn_ids(result_view(grid, verbs={Verb.SEED}))
    assert [handlers_of(i) for i in seeded][-1] == ["SeedButton"]
    assert all(handlers_of(i) == ["JobButton"] for i in seeded[:-1])
    assert [handlers_of(i) for i in drawn_ids(describe_view("0123456789abcdef", 4))] == [["DescribePick"]] * 4
    # Vary (Region) where the provider speaks it: its own handler, which opens the editor.
    upscale = make_job(status=JobStatus.COMPLETED, action=Action.U1, image_urls=["local://x/upscale.png"],
                       actions=[Action.VARY_SUBTLE])  # fmt: skip
    assert drawn_ids(result_view(upscale)) == [f"img1:{upscale.id}:vary_subtle"]  # not offered: not drawn
    region = drawn_ids(result_view(upscale, verbs={Verb.VARY_REGION}))
    assert [handlers_of(i) for i in region] == [["JobButton"], ["RegionButton"]]
    retry = make_job(status=JobStatus.FAILED, error=ErrorReason.UNCONFIRMED)
    assert [handlers_of(i) for i in drawn_ids(result_view(retry))] == [["JobButton"]]
    assert [handlers_of(i) for i in drawn_ids(progress_view(make_job()))] == [["CancelButton"]]
    for custom_id in drawn_ids(pager_view("me", 42, "all", 1, next_offset=17)):
        assert handlers_of(custom_id) == ["PageButton"], custom_id
    for custom_id in drawn_ids(pager_view("mod", 0, "failed", 1, next_offset=17)):
        assert handlers_of(custom_id) == ["ModPageButton"], custom_id


def test_ids_of_messages_already_posted_keep_their_handler() -> None:
    job = "0123456789abcdef"
    assert handlers_of(f"img1:{job}:u1") == ["JobButton"]
    assert handlers_of(f"img1:{job}:reroll") == ["JobButton"]
    assert handlers_of(f"img1:{job}:cancel") == ["CancelButton"]
    # Page buttons with the row they start at, and from before pages were sized (without it).
    assert handlers_of("img1:pg:me:42:all:17:2") == ["PageButton"]
    assert handlers_of("img1:pg:me:42:all:2") == ["PageButton"]
    assert handlers_of("img1:pg:mod:0:all:3") == ["ModPageButton"]
    assert handlers_of("img1:pg:mod:7:completed:30:3") == ["ModPageButton"]
    assert handlers_of(f"img1:{job}:imagine") == []
    assert handlers_of(f"img1:{job}:blend") == []
    assert handlers_of(f"img1:{job}:seed") == ["SeedButton"]
    assert handlers_of(f"img1:{job}:vary_region") == ["RegionButton"]
    assert handlers_of("img1:d:0123456789abcdef:2") == ["DescribePick"]


async def test_drawn_buttons_look_as_the_handlers_draw_them() -> None:
    # The handler's own button (what discord.py would render for it) and the drawn one are the same component.
    job = make_job(status=JobStatus.COMPLETED, actions=[Action.U1, Action.REROLL])
    drawn = [item.to_component_dict() for item in result_view(job).children]  # type: ignore[union-attr]
    assert drawn == [JobButton(job.id, a).to_component_dict() for a in (Action.U1, Action.REROLL)]
    running = make_job()
    [cancel] = progress_view(running).children  # type: ignore[union-attr]
    assert cancel.to_component_dict() == CancelButton(running.id).to_component_dict()
    newer, older = pager_view("me", 42, "all", 1, next_offset=17).children  # type: ignore[union-attr]
    assert newer.to_component_dict() == PageButton(42, "all", 0, label="◀ Newer").to_component_dict()
    assert older.to_component_dict() == PageButton(42, "all", 2, label="Older ▶", offset=17).to_component_dict()
    assert drawn_ids(pager_view("mod", 0, "all", 1, next_offset=17)) == [
        "img1:pg:mod:0:all:0",
        "img1:pg:mod:0:all:17:2",
    ]


async def test_discord_py_keeps_no_drawn_view() -> None:
    # The handlers answer by custom_id; a view kept in discord.py's view store would stay for the process's life.
    for view in (result_view(make_job(status=JobStatus.COMPLETED, actions=[Action.U1])), progress_view(make_job())):
        assert view is not None and not view.is_dispatchable()
