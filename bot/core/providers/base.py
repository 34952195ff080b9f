"""The provider adapter protocol.

An adapter speaks one provider's HTTP contract and maps everything it hears onto the closed sets in
:mod:`bot.core.models`: statuses, actions and error reasons. It holds no job state of its own: the engine
passes in what it needs (the provider's job id and the ``provider_data`` the adapter asked to keep)
and stores what comes back.

Every method that talks to the provider raises :class:`bot.core.errors.ProviderError` with a reason, never
a bare httpx exception; :meth:`Provider.request` does that translation for the common cases.
"""

from __future__ import annotations

import abc
import dataclasses
import json
import re
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar

import httpx

from bot.core.errors import ProviderError, ProviderProtocolError, WebhookRejected
from bot.core.models import Action, AnswerClass, ErrorReason, ProviderUpdate, SubmitOutcome, Verb

if TYPE_CHECKING:
    from bot.core.metrics import Metrics

__all__ = [
    "Account",
    "ActionRequest",
    "BlendRequest",
    "Capabilities",
    "DescribeRequest",
    "ImagineRequest",
    "Provider",
    "Submission",
]

_SURROGATE = re.compile("[\ud800-\udfff]")
# A result image larger than this is not something any provider sends; refuse rather than buffer it.
MAX_IMAGE_BYTES = 32 * 1024 * 1024
# Failures that happen before a connection exists; every other transport failure may follow a sent request.
_NEVER_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout, httpx.UnsupportedProtocol)


@dataclasses.dataclass(frozen=True)
class Capabilities:
    """What a provider can do; the bot offers a button only when the provider offers the action."""

    grid_actions: frozenset[Action]
    upscale_actions: frozenset[Action] = frozenset()
    webhooks: bool = False
    # Whether its callbacks include progress; if not, polling goes on beside them so the member sees progress.
    progress_webhooks: bool = False
    img2img: bool = True
    aspect_ratio: bool = True
    # The first poll waits this long; later polls back off towards max_poll_interval while nothing changes.
    poll_interval: float = 2.0
    max_poll_interval: float = 15.0
    # Requests closer together than this are refused by the provider (TheNextLeg: one per 3 s).
    min_request_interval: float = 0.0
    # The verbs beyond imagine the bot uses at this provider: documented by it (the adapter's
    # ``documented_verbs``) and spoken by the adapter. Nothing is offered on a guess.
    verbs: frozenset[Verb] = frozenset()
    # Whether its results need no output-safety check of ours (bot.core.safety): the service moderates its
    # own output (Midjourney does), or draws nothing that could need one. It sets the default of
    # /mod safety for a server that never chose: off when True, spoiler when False (the safe side, so an
    # adapter that does not say gets its images checked).
    moderates_output: bool = False
    # Whether the adapter can say what prompt an image suggests (describe; A1111's interrogate).
    describe: bool = False
    # Whether a result's link may be posted publicly (a video too large to attach is linked instead): not
    # where the provider says its links trace back to the account (useapi's cdn.midjourney.com, §4.4).
    shareable_links: bool = True


@dataclasses.dataclass(frozen=True)
class Account:
    """One set of credentials at one provider, with its own limit of concurrent jobs."""

    provider: str
    name: str
    base_url: str
    api_key: str = dataclasses.field(default="", repr=False)
    max_jobs: int = 3
    options: Mapping[str, Any] = dataclasses.field(default_factory=dict)

    @property
    def key(self) -> tuple[str, str]:
        return (self.provider, self.name)


@dataclasses.dataclass(frozen=True)
class ImagineRequest:
    job_id: str
    prompt: str
    image_urls: tuple[str, ...] = ()
    aspect_ratio: str | None = None
    seed: int | None = None
    webhook_url: str | None = None


@dataclasses.dataclass(frozen=True)
class ActionRequest:
    job_id: str
    action: Action
    parent_provider_job_id: str
    parent_provider_data: Mapping[str, Any]
    parent_prompt: str
    parent_image_urls: tuple[str, ...] = ()
    webhook_url: str | None = None
    # Remix: the member's edited prompt for this press (Vary, Pan, 🔄, Custom Zoom); None keeps the parent's.
    prompt: str | None = None
    # Custom Zoom's factor, 1.0-2.0.
    zoom: float | None = None
    # Vary (Region)'s mask: PNG bytes, mode "L", the parent image's size, 255 = repaint, 0 = keep. Each adapter
    # converts it to the format its provider's contract names (mj-verbs.md §2.1).
    mask: bytes | None = None


@dataclasses.dataclass(frozen=True)
class BlendRequest:
    """/blend: the images (2-5 links, already through the image guard) and the grid's shape (W:H)."""

    job_id: str
    image_urls: tuple[str, ...]
    aspect_ratio: str = "1:1"
    webhook_url: str | None = None


@dataclasses.dataclass(frozen=True)
class DescribeRequest:
    """/describe: one image link (already through the image guard)."""

    ref: str
    image_url: str


@dataclasses.dataclass(frozen=True)
class Submission:
    """The provider accepted a job. ``provider_data`` is kept with the job and handed back later."""

    provider_job_id: str
    provider_data: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    update: ProviderUpdate | None = None


class Provider(abc.ABC):
    """Base class of the adapters. One instance serves one :class:`Account`."""

    name: ClassVar[str]
    # Declared per class; an account's options may tune an instance's copy (poll pace, request spacing).
    capabilities: Capabilities
    # For every class of answer to a submit, whether the provider has the job afterwards. An adapter that
    # talks over a network declares all of them; a class it leaves out counts as UNKNOWN (never resent).
    submit_outcomes: ClassVar[Mapping[AnswerClass, SubmitOutcome]] = {}
    # Whether find_by_ref can find a job the provider took by the ref we sent with it.
    finds_by_ref: ClassVar[bool] = False
    # The bot's metrics, set by the runtime; the HTTP adapters time each request into it.
    metrics: Metrics | None = None
    # Every verb the provider's documents offer, with where it is documented (mj-verbs.md); what the bot
    # uses is ``capabilities.verbs``, the ones of these the adapter speaks.
    documented_verbs: ClassVar[Mapping[Verb, str]] = {}

    def __init__(self, account: Account, http: httpx.AsyncClient) -> None:
        self.account = account
        self.http = http

    @abc.abstractmethod
    async def imagine(self, request: ImagineRequest) -> Submission:
        """Submit a new grid."""

    @abc.abstractmethod
    async def act(self, request: ActionRequest) -> Submission:
        """Press a button on a finished parent job."""

    @abc.abstractmethod
    async def poll(self, provider_job_id: str, provider_data: Mapping[str, Any]) -> ProviderUpdate:
        """Ask the provider where a job stands."""

    async def find_by_ref(self, ref: str, kind: str) -> Submission | None:
        """The provider's job submitted with our ``ref``, if its API can list it; None when not found.

        Used for a job whose submit may or may not have reached the provider (a crash or an unclear
        answer), so that a job the provider took is followed instead of ended. ``kind`` is what the job
        makes ("grid" or "upscale"), for reading the job the provider returns.
        """
        return None

    async def cancel(self, provider_job_id: str, provider_data: Mapping[str, Any]) -> None:
        """Ask the provider to stop a job the bot ended (a member's or moderator's cancel); best effort.

        The default does nothing: the job has already ended on our side, and its result is ignored. An
        adapter that offers ``Verb.CANCEL`` raises ProviderError when the provider refuses, so the member is
        told whether the job was stopped there.
        """

    # -- the verbs beyond imagine; each is called only where ``capabilities.verbs`` offers it ------------

    async def seed(self, provider_job_id: str, provider_data: Mapping[str, Any]) -> int:
        """The seed of a finished job (0-4294967295)."""
        raise ProviderError(ErrorReason.UNSUPPORTED_ACTION, f"{self.name} offers no seed")

    async def describe_image(self, request: DescribeRequest) -> list[str]:
        """/describe: prompt suggestions for an image link (usually four; never assume how many)."""
        raise ProviderError(ErrorReason.UNSUPPORTED_ACTION, f"{self.name} offers no describe")

    async def blend(self, request: BlendRequest) -> Submission:
        """Submit a blend of the images, whose result is a grid like an imagine's."""
        raise ProviderError(ErrorReason.UNSUPPORTED_ACTION, f"{self.name} offers no blend")

    def judge(self, exc: ProviderError) -> SubmitOutcome:
        """What a failed submit means for the job, by this adapter's table (see ``submit_outcomes``).

        An error with no answer class was raised before anything was sent (the adapter refused the request
        itself), so the provider cannot have the job.
        """
        if exc.answer is None:
            return SubmitOutcome.NOT_TAKEN
        outcome = self.submit_outcomes.get(exc.answer, SubmitOutcome.UNKNOWN)
        if outcome is SubmitOutcome.TAKEN and not exc.provider_job_id:
            return SubmitOutcome.UNKNOWN  # taken, but with no id to follow it by
        return outcome

    def parse_webhook(self, headers: Mapping[str, str], body: bytes) -> ProviderUpdate:
        """Turn a callback into an update. Raises WebhookRejected for anything not authentic or readable."""
        raise WebhookRejected(404, f"{self.name} does not deliver webhooks")

    def actions_for(self, update: ProviderUpdate, parent_action: Action) -> tuple[Action, ...]:
        """The actions a finished result offers, when the provider does not list them itself."""
        if update.actions is not None:
            return update.actions
        return tuple(
            sorted(
                self.capabilities.grid_actions if parent_action.makes_grid else self.capabilities.upscale_actions,
                key=list(Action).index,
            )
        )

    def download_headers(self, url: str) -> Mapping[str, str] | None:
        """Headers a result's download needs (a CDN that serves only browsers); none by default."""
        return None

    async def fetch_image(self, url: str) -> bytes:
        """Download a result image (or video) the provider serves."""
        try:
            async with self.http.stream("GET", url, headers=self.download_headers(url)) as response:
                if response.status_code != 200:
                    raise ProviderError(
                        ErrorReason.PROVIDER_UNAVAILABLE, f"image download answered {response.status_code}"
                    )
                chunks, size = [], 0
                async for chunk in response.aiter_bytes():
                    size += len(chunk)
                    if size > MAX_IMAGE_BYTES:
                        raise ProviderError(ErrorReason.PROVIDER_FAILED, "result image is too large")
                    chunks.append(chunk)
                return b"".join(chunks)
        except httpx.HTTPError as exc:
            raise ProviderError(
                ErrorReason.PROVIDER_UNAVAILABLE, f"image download failed: {type(exc).__name__}"
            ) from exc

    async def aclose(self) -> None:
        """Release anything the adapter holds beyond the shared HTTP client."""

    def scrub(self, text: str) -> str:
        """Provider text with this account's credentials cut out; the engine passes every error detail
        through it before storing it, since a provider may echo what it was sent in a job's failure."""
        return text

    # -- helpers for the HTTP adapters -----------------------------------------------------------

    async def request_json(
        self, method: str, url: str, *, headers: Mapping[str, str] | None = None, **kwargs: Any
    ) -> tuple[int, Any, httpx.Headers]:
        """Send a request and return (status, parsed JSON or None, headers).

        Network failures and timeouts become a transient PROVIDER_UNAVAILABLE; the status code is left
        for the adapter to interpret, since each provider means something different by it. Each request's
        round trip goes into the bot's metrics, with the reason when no readable answer came.
        """
        started = time.monotonic()
        try:
            answer = await self._exchange(method, url, headers=headers, **kwargs)
        except ProviderError as exc:
            self._observe(method, started, exc.reason.value)
            raise
        self._observe(method, started, None)
        return answer

    def _observe(self, method: str, started: float, error: str | None) -> None:
        if self.metrics is not None:
            self.metrics.provider_request(self.name, self.account.name, method, time.monotonic() - started, error)

    async def _exchange(
        self, method: str, url: str, *, headers: Mapping[str, str] | None = None, **kwargs: Any
    ) -> tuple[int, Any, httpx.Headers]:
        try:
            response = await self.http.request(method, url, headers=headers, **kwargs)
        except _NEVER_SENT as exc:
            # No connection was made, so the provider cannot have seen the request.
            raise ProviderError(
                ErrorReason.PROVIDER_UNAVAILABLE, f"{self.name}: {type(exc).__name__}", answer=AnswerClass.NOT_SENT
            ) from exc
        except httpx.TimeoutException as exc:
            raise ProviderError(
                ErrorReason.PROVIDER_UNAVAILABLE, f"{self.name} timed out", answer=AnswerClass.NO_ANSWER
            ) from exc
        except httpx.HTTPError as exc:
            # Written and then cut off, or a broken answer: the provider may have acted on what it read.
            raise ProviderError(
                ErrorReason.PROVIDER_UNAVAILABLE, f"{self.name}: {type(exc).__name__}", answer=AnswerClass.NO_ANSWER
            ) from exc
        body: Any = None
        if response.content:
            try:
                body = loads_json(response.content)
            except (ValueError, RecursionError) as exc:
                if response.status_code < 400:
                    raise ProviderProtocolError(
                        f"{self.name} answered {response.status_code} with a non-JSON body",
                        answer=AnswerClass.UNREADABLE,
                    ) from exc
        return response.status_code, body, response.headers


def loads_json(raw: bytes | str) -> Any:
    """JSON from outside, as strictly as the rest of the bot needs it.

    Raises ValueError (or RecursionError) for anything that is not JSON: bad syntax or encoding, a number
    past Python's int-parsing limit, nesting past the decoder's depth, and strings holding lone UTF-16
    surrogates (valid JSON escapes, but not text: SQLite and every encoder refuse them later).
    """
    data = json.loads(raw)
    stack = [data]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if not item.isascii() and _SURROGATE.search(item):
                raise ValueError("a string holds a lone surrogate")
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return data


def retry_after_seconds(headers: Mapping[str, str], default: float | None = None) -> float | None:
    """Read Retry-After as seconds; the HTTP-date form is rare enough from these providers to ignore."""
    raw = headers.get("retry-after")
    if raw is None:
        return default
    try:
        return max(0.0, float(raw))
    except ValueError:
        return default
