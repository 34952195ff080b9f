from __future__ import annotations

import io

from PIL import Image

from bot.core.models import Action, ErrorReason, JobStatus
from bot.ui.buttons import result_view
from bot.ui.render import encode_for_upload, job_content, quote_prompt
from tests.unit.conftest import make_job


def test_prompt_is_shown_escaped_and_inert() -> None:
    text = quote_prompt("@everyone <@123> **bold** ```code``` \u202eevil")
    assert ("@\u200beveryone" in text and "<@\u200b123>" not in text) or "<@123>" not in text
    assert "\\*\\*bold\\*\\*" in text and "\\u202e" in text and "\u202e" not in text


def test_content_for_each_state() -> None:
    job = make_job(status=JobStatus.RUNNING, progress=40)
    assert "40%" in job_content(job) and "Drawing" in job_content(job)
    job.status = JobStatus.QUEUED
    assert "position 3" in job_content(job, queue_position=3)
    job.status, job.error = JobStatus.FAILED, ErrorReason.OUT_OF_FAST_HOURS
    assert ErrorReason.OUT_OF_FAST_HOURS.message in job_content(job)
    assert len(job_content(make_job(prompt="x" * 6000))) <= 2000


def test_grid_buttons_in_midjourney_order() -> None:
    job = make_job(status=JobStatus.COMPLETED, actions=list(reversed(list(Action)[1:10])))
    view = result_view(job)
    assert view is not None
    ids = [item.custom_id for item in view.children]  # type: ignore[attr-defined]
    assert [i.rsplit(":", 1)[1] for i in ids] == ["u1", "u2", "u3", "u4", "reroll", "v1", "v2", "v3", "v4"]
    assert all(len(i) <= 100 for i in ids)


def test_upscale_buttons_show_only_what_is_offered() -> None:
    job = make_job(status=JobStatus.COMPLETED, action=Action.U2, actions=[Action.ZOOM_OUT_2X, Action.VARY_SUBTLE])
    view = result_view(job)
    assert view is not None and len(view.children) == 2
    assert result_view(make_job(status=JobStatus.COMPLETED, actions=[])) is None


def test_oversized_image_is_reencoded_under_the_limit() -> None:
    image = Image.effect_noise((800, 800), 100).convert("RGB")
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    data = buffer.getvalue()
    small, name = encode_for_upload(data, 60_000)
    assert len(small) <= 60_000 and name == "grid.jpg"
    assert encode_for_upload(data, None) == (data, "grid.png")


def test_an_invalid_parameter_shows_the_providers_words_escaped() -> None:
    job = make_job(status=JobStatus.FAILED, error=ErrorReason.INVALID_PARAMETER)
    job.error_detail = "Unrecognized parameter(s): `size` @everyone"
    content = job_content(job)
    assert ErrorReason.INVALID_PARAMETER.message in content
    assert "Unrecognized parameter(s): \\`size\\`" in content and "@everyone" not in content
    # Other reasons keep their detail for logs and moderators.
    job.error, job.error_detail = ErrorReason.PROVIDER_FAILED, "useapi job failed: internal trace 42"
    assert "internal trace" not in job_content(job)


def test_a_job_that_may_exist_offers_a_retry_and_says_so() -> None:
    for reason in (ErrorReason.UNCONFIRMED, ErrorReason.INTERRUPTED):
        job = make_job(status=JobStatus.FAILED, error=reason)
        content = job_content(job)
        assert "may have made" in content and "not sent twice" in content and "🔄" in content
        view = result_view(job)
        assert view is not None
        assert [item.custom_id for item in view.children] == [f"img1:{job.id}:reroll"]  # type: ignore[attr-defined]
    # A failure that is certain offers nothing to press.
    assert result_view(make_job(status=JobStatus.FAILED, error=ErrorReason.BANNED_PROMPT)) is None
