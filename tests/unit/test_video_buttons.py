"""Video's buttons (issue 11): Animate and Extend only where the job's provider offers them, no ✉️ under a
video (Midjourney gives no seed of one), a video grid's U1-U4 titled as clips; and a Remix / Custom Zoom
modal's values read from a submit's components in either of Discord's layouts."""

from __future__ import annotations

from typing import Any

from bot.core.models import Action, Job, JobStatus, Verb
from bot.ui.buttons import prompt_modal_id, result_view
from bot.ui.render import job_content
from cogs.imagine import _PROMPT_MODAL, modal_values

JOB_ID = "0123456789abcdef"


def _ids(job: Job, verbs: set[Verb]) -> list[str]:
    view = result_view(job, frozenset(), frozenset(verbs))
    return [str(getattr(item, "custom_id", "")) for item in (view.children if view else [])]


def test_animate_and_extend_only_where_offered() -> None:
    upscale = Job(id=JOB_ID, user_id=1, channel_id=2, provider="p", prompt="a kite", action=Action.U1,
                  status=JobStatus.COMPLETED, image_urls=["https://cdn/x.png"],
                  actions=[Action.VARY_STRONG, Action.ANIMATE_HIGH, Action.ANIMATE_LOW])  # fmt: skip
    assert not [i for i in _ids(upscale, {Verb.SEED}) if "animate" in i]
    assert [i for i in _ids(upscale, {Verb.ANIMATE}) if "animate" in i] == [
        f"img1:{JOB_ID}:animate_high",
        f"img1:{JOB_ID}:animate_low",
    ]
    clip = upscale.model_copy(update={"image_urls": ["https://cdn/clip_2.mp4"], "actions": [Action.EXTEND_LOW],
                                      "provider_data": {"kind": "clip"}, "action": Action.U2})  # fmt: skip
    assert _ids(clip, {Verb.ANIMATE, Verb.SEED}) == []  # Extend not offered, and no ✉️ under a video
    assert _ids(clip, {Verb.EXTEND, Verb.SEED}) == [f"img1:{JOB_ID}:extend_low"]
    assert "Clip #2" in job_content(clip) and "Image #2" not in job_content(clip)


def test_modal_values_and_id() -> None:
    custom_id = prompt_modal_id(JOB_ID, Action.CUSTOM_ZOOM)
    match = _PROMPT_MODAL.fullmatch(custom_id)
    assert match is not None and (match["job"], match["action"]) == (JOB_ID, "custom_zoom")
    rows: dict[str, Any] = {"custom_id": custom_id, "components": [
        {"type": 1, "components": [{"type": 4, "custom_id": "zoom", "value": "1.5"}]},
        {"type": 1, "components": [{"type": 4, "custom_id": "prompt", "value": "wider"}]},
    ]}  # fmt: skip
    labels: dict[str, Any] = {"custom_id": custom_id, "components": [
        {"type": 18, "component": {"type": 4, "custom_id": "zoom", "value": "1.5"}},
        {"type": 18, "component": {"type": 4, "custom_id": "prompt", "value": "wider"}},
    ]}  # fmt: skip
    assert modal_values(rows) == modal_values(labels) == {"zoom": "1.5", "prompt": "wider"}
