"""Plumbing shared by the provider simulators: jobs and their clock, faults, webhooks, images, control.

A simulator is an aiohttp application that speaks one provider's documented HTTP contract on
loopback. This module holds what every one of them needs:

* :class:`SimJob` and the clock that moves it from queued through progress steps to done or failed;
  with ``step_seconds == 0`` a job is finished before its submit answer leaves (instant mode);
* :class:`Faults`, the knobs set by CLI flags or ``POST /_sim/faults``: latency, 5xx, hangs,
  malformed bodies, dropped / duplicated / out-of-order webhooks, all answered before the provider sees
  the request; and the ambiguous ones (``after_*``) that let a submit create its job and then lose or
  garble the answer, as a gateway in front of a real provider does;
* the control endpoints under ``/_sim/`` (never logged, never authenticated: loopback only);
* the request log, the webhook log, the count of jobs created per caller reference
  (``GET /_sim/submits``), and PNG bytes drawn with the local provider's renderer.

A provider module subclasses :class:`SimServer`, adds its routes and says how a job looks in its
dialect (:meth:`SimServer.job_body`) and how its errors look (:attr:`SimServer.errors`). A submit
route is any handler that calls :meth:`SimServer.create_job`: the middleware sees which requests
created a job, and only those meet the ``after_*`` faults.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import contextvars
import dataclasses
import io
import json
import logging
import random
import re
import secrets
import time
from collections.abc import Awaitable, Callable
from typing import Any, ClassVar

import aiohttp
from aiohttp import web
from PIL import Image, ImageFilter

from providersim._images import render_grid, repaint_grid, split_grid

__all__ = [
    "JSON_BODY",
    "MJ_FAILURES",
    "TOKEN",
    "ErrorSpec",
    "Faults",
    "Forced",
    "SimJob",
    "SimServer",
    "json_response",
]

_log = logging.getLogger("providersim")

# Set by the middleware on every API request: the parsed JSON body and the caller's API key.
JSON_BODY = web.RequestKey("json", object)
TOKEN = web.RequestKey("token", str)

# Largest request body a simulator reads; the real providers cap prompts far below this.
MAX_BODY = 256 * 1024
# Webhook deliveries give up after this long, like a provider that does not wait for slow receivers.
WEBHOOK_TIMEOUT_S = 5.0
# Request-log entries kept; a long benchmark run must not grow without bound.
MAX_LOG = 10_000
# What a gateway in front of a provider answers when it loses the provider's answer (after_error_rate).
GATEWAY_STATUSES = (502, 503, 504)
_GATEWAY_TITLES = {502: "Bad Gateway", 503: "Service Temporarily Unavailable", 504: "Gateway Time-out"}

# The jobs the request being handled has created. Set by the middleware around each API handler (aiohttp
# runs a request in one task, so the handler's create_job sees the middleware's list); None elsewhere.
_CREATED: contextvars.ContextVar[list[SimJob] | None] = contextvars.ContextVar("providersim_created", default=None)

# Midjourney's own failure messages: the TNL code (§1.6 of providers.md) and the human text the other
# providers relay. A failure named here can be forced onto the next job of any simulator.
MJ_FAILURES: dict[str, tuple[str, str]] = {
    "banned_prompt": ("BANNED_PROMPT", "Banned prompt detected: the AI moderator thinks this breaks the rules"),
    "blocked": ("BLOCKED", "This message has been blocked"),
    "image_blocked": ("IMAGE_BLOCKED", "This image has been blocked"),
    "appeal_rejected": ("APPEAL_REJECTED", "Appeal rejected"),
    "no_fast_hours": ("NO_FAST_HOURS", "You've run out of fast hours"),
    "queue_full": ("QUEUE_FULL", "Queue full"),
    "invalid_parameter": ("INVALID_PARAMETER", "Invalid parameter"),
    "invalid_link": ("INVALID_LINK", "Invalid link"),
    "button_not_found": ("BUTTON_NOT_FOUND", "Button not found"),
    "already_requested_upscale": ("ALREADY_REQUESTED_UPSCALE", "You've already requested an upscale for this image"),
    "internal_error": ("INTERNAL_ERROR", "Midjourney had an internal error"),
    "failed_to_process": ("FAILED_TO_PROCESS_YOUR_COMMAND", "Midjourney failed to process your command"),
    "bot_took_too_long": ("BOT_TOOK_TOO_LONG_TO_PROCESS_YOUR_COMMAND", "Midjourney Bot took too long to process"),
    "failed_to_request": ("FAILED_TO_REQUEST", "Failed to request"),
    "job_action_restricted": ("JOB_ACTION_RESTRICTED", "Job action restricted"),
    "moderation_outage": ("MODERATION_OUTAGE", "Content moderator outage"),
    "please_subscribe": ("PLEASE_SUBSCRIBE_TO_MJ_IN_YOUR_DASHBOARD", "Please subscribe to Midjourney"),
    "private_mode": ("Private mode is not available on your plan", "Private mode is not available on your plan"),
    # Vary (Region) with a mask that is not the size of the image (mj-verbs.md §13: the job fails).
    "invalid_mask": ("INVALID_MASK", "Invalid mask: it must be the size of the image"),
}


def json_response(status: int, body: Any, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(
        status=status, text=json.dumps(body, ensure_ascii=False), content_type="application/json", headers=headers
    )


@dataclasses.dataclass
class ErrorSpec:
    """A forced error: an HTTP answer to the next submit, or a failure of the next job.

    With ``job_created`` it is both: the job is created and runs to its end as usual, and the submit is
    answered ``status`` with ``body`` — useapi's documented 504 "Job queued", which Midjourney still
    processes. ``body`` may then be a function of the new job, so the answer can carry its id.
    """

    status: int = 0
    body: Any = None
    job_failure: str | None = None  # a key of MJ_FAILURES: the job is accepted and fails at the end
    sticky: Callable[[SimServer], None] | None = None  # a state change the error leaves behind (596)
    headers: dict[str, str] | None = None
    job_created: bool = False  # the job is created and runs; only the answer is this error

    @property
    def at_submit(self) -> bool:
        """Whether the submit is refused with this answer and no job is created."""
        return self.job_failure is None and not self.job_created

    def answer_for(self, job: SimJob) -> web.Response:
        """The answer to a submit that created ``job`` (``job_created`` errors)."""
        body = self.body(job) if callable(self.body) else self.body
        return json_response(self.status, body, self.headers)


@dataclasses.dataclass(frozen=True)
class Forced:
    """What the next forced error does to a submit; an empty one (no error queued) changes nothing."""

    refusal: web.Response | None = None  # answer the submit with this and create no job
    failure: str | None = None  # create the job; it ends in this MJ_FAILURES key
    answer: ErrorSpec | None = None  # create the job and let it run; answer the submit with this error

    def reply(self, job: SimJob, normal: web.Response) -> web.Response:
        """The submit's answer once ``job`` exists: ``normal``, unless the error replaces it."""
        return normal if self.answer is None else self.answer.answer_for(job)


@dataclasses.dataclass
class Faults:
    latency: float = 0.0  # seconds added before every API answer
    error_rate: float = 0.0  # share of API requests answered with a 5xx
    timeout_rate: float = 0.0  # share of API requests that hang for hang_seconds, then answer 504
    hang_seconds: float = 30.0
    malformed_rate: float = 0.0  # share of API requests answered 200 with a body that is not JSON
    # The ambiguous answers: these run the handler first, so the submit's job IS created and runs, and only
    # then replace its 2xx answer. They touch only requests that created a job (the submits).
    after_error_rate: float = 0.0  # share answered 502, 503 or 504 with a gateway's text or HTML page
    after_malformed_rate: float = 0.0  # share answered 200 with the real JSON answer cut off in the middle
    after_timeout_rate: float = 0.0  # share that hang for hang_seconds, then answer 504
    webhook_drop_rate: float = 0.0  # share of webhook deliveries never sent
    webhook_duplicate: bool = False  # every webhook is sent twice
    webhook_reorder: bool = False  # a stale progress webhook follows the final one
    webhook_progress: bool | None = None  # progress webhooks too (None: the provider's default)
    stall: bool = False  # new jobs stop before their last step and never finish
    banned_words: list[str] = dataclasses.field(default_factory=list)  # TNL prefilter
    image_403: bool = False  # result image URLs refuse downloads (TNL: use /getImage)

    def update(self, values: dict[str, Any]) -> None:
        names = {f.name for f in dataclasses.fields(self)}
        unknown = set(values) - names
        if unknown:
            raise ValueError(f"unknown fault knobs: {', '.join(sorted(unknown))}")
        for name, value in values.items():
            setattr(self, name, value)


@dataclasses.dataclass
class SimJob:
    id: str
    token: str
    kind: str  # "grid" (imagine, variation, reroll, zoom, pan) or "upscale"
    action: str  # "imagine" or the button label / endpoint that made it
    prompt: str
    seed: int
    aspect: str = "1:1"
    parent: str | None = None
    index: int | None = None
    ref: str | None = None
    webhook_url: str | None = None
    webhook_secret: str | None = None
    failure: str | None = None
    state: str = "queued"  # queued, running, done, failed, expired, cancelled
    progress: int = 0
    stage: int = 0
    frozen: bool = False
    created: float = dataclasses.field(default_factory=time.time)
    updated: float = dataclasses.field(default_factory=time.time)
    children: dict[str, str] = dataclasses.field(default_factory=dict)
    extra: dict[str, Any] = dataclasses.field(default_factory=dict)

    @property
    def terminal(self) -> bool:
        return self.state in ("done", "failed", "expired", "cancelled")


class SimServer:
    """One simulated provider. Subclasses set ``name``, add routes and render jobs in their dialect."""

    name: ClassVar[str] = ""
    # Path prefix of the API on the simulator (the adapter's base URL is root + this).
    api_prefix: ClassVar[str] = ""
    # Whether the provider posts progress callbacks as well as the final one, unless a fault says.
    progress_webhooks: ClassVar[bool] = False
    # Whether the provider shows in-progress preview images (as its docs say), unless told otherwise.
    documented_previews: ClassVar[bool] = True
    # Forced errors by name; filled by each provider module.
    errors: ClassVar[dict[str, ErrorSpec]] = {}

    def __init__(
        self, *, api_key: str = "sim-key", step_seconds: float = 0.0, steps: int = 4, seed: int = 0,
        faults: Faults | None = None, previews: bool | None = None, stock_images: bool = False,
    ) -> None:  # fmt: skip
        self.api_keys = {api_key}
        self.step_seconds = step_seconds
        self.steps = max(2, steps)
        self.faults = faults or Faults()
        self.previews = self.documented_previews if previews is None else previews
        # One drawing per kind of image and aspect, served for every job: a CDN's cost, not a renderer's, so a
        # benchmark on a small machine measures the bot rather than the simulator's Pillow work.
        self.stock_images = stock_images
        # API requests ever logged; the log itself is trimmed, a long benchmark still needs the count.
        self.requests_total = 0
        self.random = random.Random(seed)
        self.jobs: dict[str, SimJob] = {}
        self.requests: list[dict[str, Any]] = []
        self.webhooks: list[dict[str, Any]] = []
        self.fail_next: list[str] = []
        # Jobs ever created per caller reference (not trimmed, not touched by "forget"): a job sent twice shows.
        self.submits: collections.Counter[str] = collections.Counter()
        self.submits_total = 0
        self.public_url = ""
        self._images: dict[tuple[str, str], bytes] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self._session: aiohttp.ClientSession | None = None
        self._runner: web.AppRunner | None = None
        self._stale: dict[str, dict[str, Any]] = {}
        self.app = web.Application(middlewares=[self._middleware], client_max_size=MAX_BODY)
        self.app.router.add_get("/images/{job}/{name}", self._image)
        self.app.router.add_get("/_sim/requests", self._ctl_requests)
        self.app.router.add_delete("/_sim/requests", self._ctl_clear)
        self.app.router.add_get("/_sim/webhooks", self._ctl_webhooks)
        self.app.router.add_get("/_sim/faults", self._ctl_faults)
        self.app.router.add_post("/_sim/faults", self._ctl_faults)
        self.app.router.add_get("/_sim/errors", self._ctl_errors)
        self.app.router.add_post("/_sim/fail-next", self._ctl_fail_next)
        self.app.router.add_get("/_sim/jobs", self._ctl_jobs)
        self.app.router.add_get("/_sim/submits", self._ctl_submits)
        self.app.router.add_post("/_sim/jobs/{id}/{op}", self._ctl_job_op)
        self.app.router.add_post("/_sim/reset", self._ctl_reset)
        self.add_routes(self.app.router)

    # -- for the provider modules ----------------------------------------------------------------

    def add_routes(self, router: web.UrlDispatcher) -> None:
        raise NotImplementedError

    def job_body(self, job: SimJob) -> Any:
        """The job as the provider's poll endpoint shows it (and its webhook posts it)."""
        raise NotImplementedError

    def webhook_request(self, job: SimJob) -> tuple[Any, dict[str, str]]:
        """The body and headers of a callback about ``job``; the poll body by default."""
        return self.job_body(job), {}

    def authenticate(self, request: web.Request) -> str | None:
        """The API key the request carries, if it is one of ours."""
        header = request.headers.get("Authorization", "")
        token = header.removeprefix("Bearer ").strip()
        return token if token in self.api_keys else None

    def unauthorized(self) -> web.Response:
        return json_response(401, {"error": "Unauthorized", "code": 401})

    def server_error(self) -> web.Response:
        return json_response(500, {"error": "Internal server error", "code": 500})

    async def before_submit(self, request: web.Request, token: str, body: dict[str, Any]) -> web.Response | None:
        """A provider's own refusal of a submit (rate limits, queue limits, held accounts)."""
        return None

    def take_forced(self) -> ErrorSpec | None:
        if not self.fail_next:
            return None
        spec = self.errors[self.fail_next.pop(0)]
        if spec.sticky is not None:
            spec.sticky(self)
        return spec

    def forced_outcome(self) -> Forced:
        """The next forced error: a refusal to give the submit now, a failure for its job to end in, or an
        error answer to give once its job exists."""
        forced = self.take_forced()
        if forced is None:
            return Forced()
        if forced.job_created:
            return Forced(answer=forced)
        if forced.at_submit:
            return Forced(refusal=json_response(forced.status, forced.body, forced.headers))
        return Forced(failure=forced.job_failure)

    def new_id(self) -> str:
        return secrets.token_hex(10)

    def create_job(self, token: str, **fields: Any) -> SimJob:
        job = SimJob(
            id=fields.pop("id", None) or self.new_id(), token=token, seed=self.random.randrange(2**31), **fields
        )
        self.jobs[job.id] = job
        self.submits_total += 1
        if job.ref is not None:
            self.submits[job.ref] += 1
        created = _CREATED.get()
        if created is not None:
            created.append(job)
        if self.faults.stall:
            job.frozen = True
        if self.step_seconds <= 0 and not job.frozen:
            self._advance(job, self.steps)
        else:
            self._spawn(self._run(job))
        return job

    def image_url(self, job: SimJob, name: str) -> str:
        return f"{self.public_url}/images/{job.id}/{name}"

    def grid_urls(self, job: SimJob) -> tuple[str, list[str]]:
        return self.image_url(job, "grid.png"), [self.image_url(job, f"tile_{i}.png") for i in range(1, 5)]

    def result_url(self, job: SimJob) -> str:
        return self.image_url(job, "upscale.png") if job.kind == "upscale" else self.image_url(job, "grid.png")

    def preview_url(self, job: SimJob) -> str | None:
        if not self.previews or job.state != "running":
            return None
        return self.image_url(job, f"preview_{job.stage}.png")

    # -- videos (Animate / Extend) -----------------------------------------------------------------

    def video_refusal(self, request: web.Request) -> web.Response | None:
        """A provider's CDN refusing a video download (useapi's cdn.midjourney.com wants a browser's headers)."""
        return None

    async def _video(self, request: web.Request, job: SimJob, name: str) -> web.Response:
        refused = self.video_refusal(request)
        if refused is not None:
            return refused
        data = await self.video_bytes(job, name)
        if data is None:
            return web.Response(status=404)
        return web.Response(body=data, content_type="video/mp4")

    async def video_bytes(self, job: SimJob, name: str) -> bytes | None:
        """Clip ``clip_<n>.mp4`` of a finished video job, whose ``extra`` names the upscale it animates
        (``source``), its length in frames (``frames``) and its ``motion``; drawn once, then kept."""
        match = re.fullmatch(r"clip_([1-4])\.mp4", name)
        source = self.jobs.get(str(job.extra.get("source", "")))
        given = job.extra.get("picture")  # PNG bytes of a first frame fetched from a link (APIFrame)
        if match is None or (source is None and given is None) or job.state != "done" or "frames" not in job.extra:
            return None
        key = (job.id, name)
        if key not in self._images:
            from providersim._video import render_clip  # PyAV, which only the video verbs need

            if isinstance(given, bytes):
                picture: Image.Image | None = await asyncio.to_thread(_open_picture, given)
            else:
                assert source is not None
                picture = await asyncio.to_thread(self._draw, source, "upscale.png")
            assert picture is not None
            frames, motion = int(job.extra["frames"]), str(job.extra.get("motion", "low"))
            self._images[key] = await asyncio.to_thread(render_clip, picture, int(match[1]), frames, motion)
        return self._images[key]

    # -- the job clock ---------------------------------------------------------------------------

    async def _run(self, job: SimJob) -> None:
        for stage in range(1, self.steps + 1):
            await asyncio.sleep(self.step_seconds)
            # A frozen job is thawed from a control request; a short poll is simpler than an Event per job.
            while job.frozen and not job.terminal:  # noqa: ASYNC110
                await asyncio.sleep(max(self.step_seconds, 0.05))
            if job.terminal:
                return
            self._advance(job, stage)

    def _advance(self, job: SimJob, stage: int) -> None:
        job.stage = stage
        job.updated = time.time()
        if stage < self.steps:
            job.state, job.progress = "running", round(100 * stage / self.steps)
            if self._progress_webhooks:
                self.notify(job)
            return
        if job.failure is not None:
            job.state = "failed"
        else:
            job.state, job.progress = "done", 100
        self.notify(job)

    @property
    def _progress_webhooks(self) -> bool:
        return self.faults.webhook_progress if self.faults.webhook_progress is not None else self.progress_webhooks

    def finish(self, job: SimJob, state: str) -> None:
        """End a job from outside its clock (expiry, cancel) and tell its webhook."""
        job.state, job.updated = state, time.time()
        self.notify(job)

    # -- webhooks --------------------------------------------------------------------------------

    def notify(self, job: SimJob) -> None:
        if not job.webhook_url:
            return
        body, headers = self.webhook_request(job)
        if not job.terminal:
            # Kept to be replayed after the final callback when out-of-order delivery is on.
            self._stale[job.id] = body
            if self._pick(self.faults.webhook_drop_rate):
                self.webhooks.append({"job": job.id, "state": job.state, "dropped": True})
                return
            self._spawn(self._deliver_final(job, body, headers, None))
            return
        stale = self._stale.pop(job.id, None)
        if self._pick(self.faults.webhook_drop_rate):
            self.webhooks.append({"job": job.id, "state": job.state, "dropped": True})
            return
        self._spawn(self._deliver_final(job, body, headers, stale))

    async def _deliver_final(self, job: SimJob, body: Any, headers: dict[str, str], stale: Any) -> None:
        await self._deliver(job, body, headers)
        if self.faults.webhook_duplicate:
            await self._deliver(job, body, headers)
        if self.faults.webhook_reorder and stale is not None:
            await self._deliver(job, stale, headers)

    async def _deliver(self, job: SimJob, body: Any, headers: dict[str, str]) -> None:
        assert job.webhook_url is not None
        if self._session is None:
            return
        entry: dict[str, Any] = {"job": job.id, "state": job.state, "dropped": False, "time": time.time()}
        try:
            async with self._session.post(
                job.webhook_url, data=json.dumps(body, ensure_ascii=False).encode(),
                headers={"Content-Type": "application/json", **headers},
                timeout=aiohttp.ClientTimeout(total=WEBHOOK_TIMEOUT_S),
            ) as response:  # fmt: skip
                entry["status"] = response.status
        except (aiohttp.ClientError, TimeoutError) as exc:
            entry["status"] = None
            entry["error"] = type(exc).__name__
        self.webhooks.append(entry)

    # -- images ----------------------------------------------------------------------------------

    async def _image(self, request: web.Request) -> web.Response:
        job = self.jobs.get(request.match_info["job"])
        name = request.match_info["name"]
        if job is None:
            return web.Response(status=404)
        if self.faults.image_403:
            return web.Response(status=403, text="Forbidden")
        if name.endswith(".mp4"):
            return await self._video(request, job, name)
        data = await self.image_bytes(job, name)
        if data is None:
            return web.Response(status=404)
        return web.Response(body=data, content_type="image/png")

    async def image_bytes(self, job: SimJob, name: str) -> bytes | None:
        key = (job.id, name)
        # A repainted grid is made of its parent and its mask: no stock picture stands for it.
        if self.stock_images and "mask" not in job.extra:
            kind = "preview" if name.startswith("preview_") else name
            key = ("stock", f"{kind}/{job.kind}/{job.aspect}")
        if key not in self._images:
            image = await asyncio.to_thread(self._draw, job, name)
            if image is None:
                return None
            self._images[key] = await asyncio.to_thread(_png, image)
        return self._images[key]

    async def image_size(self, job: SimJob, name: str) -> tuple[int, int] | None:
        """The size of an image the simulator serves for ``job`` (a Vary (Region) mask must match it)."""
        data = await self.image_bytes(job, name)
        if data is None:
            return None
        with Image.open(io.BytesIO(data)) as image:
            return image.size

    def _draw(self, job: SimJob, name: str) -> Image.Image | None:
        parent = self.jobs.get(job.parent or "")
        mask = job.extra.get("mask")
        if isinstance(mask, Image.Image) and parent is not None and parent.kind == "upscale":
            # Vary (Region): the parent upscale, its masked part drawn anew in each of the four tiles.
            base = self._draw(parent, "upscale.png")
            assert base is not None
            grid = repaint_grid(base, mask, job.prompt or "image", job.seed)
        else:
            grid = render_grid(job.prompt or "image", job.seed, job.aspect if _valid_aspect(job.aspect) else "1:1")
        if name == "grid.png":
            return grid
        if name.startswith("tile_") and name[5:6] in "1234" and name.endswith(".png"):
            return split_grid(grid)[int(name[5]) - 1]
        if name == "upscale.png":
            tile = split_grid(grid)[(job.index or 1) - 1]
            return tile.resize((tile.width * 2, tile.height * 2))
        if name.startswith("preview_"):
            source = grid if job.kind != "upscale" else split_grid(grid)[(job.index or 1) - 1]
            return source.resize((source.width // 2, source.height // 2)).filter(ImageFilter.GaussianBlur(8))
        return None

    # -- middleware: log, auth, faults -----------------------------------------------------------

    @web.middleware
    async def _middleware(
        self, request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        path = request.path
        if path.startswith("/_sim/") or path.startswith("/images/"):
            return await handler(request)
        # A multipart upload is left for its handler to stream (reading it here would consume it).
        raw = b"" if request.content_type.startswith("multipart/") else await request.read()
        body: Any = None
        if raw:
            try:
                body = json.loads(raw)
            except (json.JSONDecodeError, UnicodeDecodeError):
                body = None
        query = {k: v for k, v in request.query.items() if k.lower() != "authtoken"}
        entry = {"method": request.method, "path": path, "query": query, "body": body, "time": time.time()}
        if len(self.requests) >= MAX_LOG:
            del self.requests[: MAX_LOG // 10]
        self.requests.append(entry)
        self.requests_total += 1
        request[JSON_BODY] = body
        token = self.authenticate(request)
        if token is None and not path.endswith("/getImage"):
            entry["status"] = 401
            return self.unauthorized()
        request[TOKEN] = token or ""
        faults = self.faults
        if faults.latency > 0:
            await asyncio.sleep(faults.latency)
        if self._pick(faults.timeout_rate):
            await asyncio.sleep(faults.hang_seconds)
            entry["status"] = 504
            return web.Response(status=504, text="Gateway Timeout")
        if self._pick(faults.error_rate):
            entry["status"] = 502
            return self.server_error()
        if self._pick(faults.malformed_rate):
            entry["status"] = 200
            return web.Response(status=200, text="<html>upstream hiccup", content_type="application/json")
        created: list[SimJob] = []
        context = _CREATED.set(created)
        try:
            response = await handler(request)
        finally:
            _CREATED.reset(context)
        entry["status"] = response.status
        if created:
            entry["created"] = [job.id for job in created]
            # Only an answer that says the job was taken is replaced: the caller must not be able to tell.
            if 200 <= response.status < 300 and isinstance(response, web.Response):
                return await self._after_fault(response, entry)
        return response

    async def _after_fault(self, response: web.Response, entry: dict[str, Any]) -> web.StreamResponse:
        """The answer a job-creating submit gets once the ``after_*`` faults have had their turn."""
        faults = self.faults
        if self._pick(faults.after_timeout_rate):
            # Logged before the hang: a client that gives up first still leaves a complete log entry.
            entry["status"], entry["after_fault"] = 504, "timeout"
            await asyncio.sleep(faults.hang_seconds)
            return web.Response(status=504, text="Gateway Timeout")
        if self._pick(faults.after_error_rate):
            status = self.random.choice(GATEWAY_STATUSES)
            entry["status"], entry["after_fault"] = status, "error"
            return self._gateway_page(status)
        if self._pick(faults.after_malformed_rate):
            entry["after_fault"] = "malformed"
            text = response.text or ""
            # A submit answer is a JSON object, and no proper prefix of an object is valid JSON.
            return web.Response(status=200, text=text[: len(text) // 2], content_type="application/json")
        return response

    def _gateway_page(self, status: int) -> web.Response:
        """A gateway's own error page (nginx-style HTML or a plain line), never the provider's JSON."""
        title = f"{status} {_GATEWAY_TITLES[status]}"
        if self.random.random() < 0.5:
            return web.Response(status=status, text=f"{title}\n", content_type="text/plain")
        html = (
            f"<html>\r\n<head><title>{title}</title></head>\r\n<body>\r\n<center><h1>{title}</h1></center>\r\n"
            "<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
        )
        return web.Response(status=status, text=html, content_type="text/html")

    def _pick(self, rate: float) -> bool:
        return rate > 0 and self.random.random() < rate

    async def read_object(self, request: web.Request) -> dict[str, Any]:
        """The JSON object body (or the query, for TNL's GET-with-parameters form)."""
        body = request.get(JSON_BODY)
        if isinstance(body, dict):
            return body
        return {k: v for k, v in request.query.items() if k.lower() != "authtoken"}

    # -- control endpoints -----------------------------------------------------------------------

    async def _ctl_requests(self, request: web.Request) -> web.Response:
        return json_response(200, {"requests": self.requests, "total": self.requests_total})

    async def _ctl_clear(self, request: web.Request) -> web.Response:
        self.requests.clear()
        self.webhooks.clear()
        return json_response(200, {"ok": True})

    async def _ctl_webhooks(self, request: web.Request) -> web.Response:
        return json_response(200, {"webhooks": self.webhooks})

    async def _ctl_faults(self, request: web.Request) -> web.Response:
        if request.method == "POST":
            try:
                self.faults.update(await request.json())
            except (ValueError, TypeError) as exc:
                return json_response(400, {"error": str(exc)})
        return json_response(200, dataclasses.asdict(self.faults))

    async def _ctl_errors(self, request: web.Request) -> web.Response:
        return json_response(200, {"errors": sorted(self.errors)})

    async def _ctl_fail_next(self, request: web.Request) -> web.Response:
        body = await request.json()
        names = body.get("errors") or [body.get("error")]
        count = int(body.get("count", 1))
        unknown = [n for n in names if n not in self.errors]
        if unknown:
            return json_response(400, {"error": f"unknown errors {unknown}; see GET /_sim/errors"})
        self.fail_next.extend(n for _ in range(count) for n in names)
        return json_response(200, {"fail_next": self.fail_next})

    async def _ctl_jobs(self, request: web.Request) -> web.Response:
        return json_response(200, {"jobs": [self._summary(j) for j in self.jobs.values()]})

    async def _ctl_submits(self, request: web.Request) -> web.Response:
        # Jobs without a reference (a caller that sent none) are only in the totals.
        unreferenced = self.submits_total - sum(self.submits.values())
        return json_response(
            200, {"by_ref": dict(self.submits), "jobs": self.submits_total, "unreferenced": unreferenced}
        )

    async def _ctl_job_op(self, request: web.Request) -> web.Response:
        job = self.jobs.get(request.match_info["id"]) or next(
            (j for j in self.jobs.values() if j.ref == request.match_info["id"]), None
        )
        if job is None:
            return json_response(404, {"error": "no such job"})
        op = request.match_info["op"]
        if op == "stall":
            job.frozen = True
        elif op == "resume":
            job.frozen = False
            if self.step_seconds <= 0 and not job.terminal:
                self._advance(job, self.steps)
        elif op == "forget":
            del self.jobs[job.id]
        elif op == "expire":
            self.finish(job, "expired")
        else:
            return json_response(400, {"error": "op is one of stall, resume, forget, expire"})
        return json_response(200, self._summary(job))

    async def _ctl_reset(self, request: web.Request) -> web.Response:
        self.reset()
        return json_response(200, {"ok": True})

    def reset(self) -> None:
        """Forget jobs, logs, forced errors and held state; keep the faults."""
        self.jobs.clear()
        self.requests.clear()
        self.webhooks.clear()
        self.fail_next.clear()
        self.submits.clear()
        self.submits_total = 0

    @staticmethod
    def _summary(job: SimJob) -> dict[str, Any]:
        return {
            "id": job.id, "ref": job.ref, "kind": job.kind, "action": job.action, "state": job.state,
            "progress": job.progress, "parent": job.parent, "failure": job.failure, "frozen": job.frozen,
            "finished_at": job.updated if job.terminal else None,
        }  # fmt: skip

    # -- running ---------------------------------------------------------------------------------

    def _spawn(self, coro: Awaitable[Any]) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    @property
    def api_base_url(self) -> str:
        return self.public_url + self.api_prefix

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        """Listen (port 0: any free port) and return the root URL."""
        self._session = aiohttp.ClientSession()
        self._runner = web.AppRunner(self.app, access_log=None, shutdown_timeout=0.5)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port)
        await site.start()
        bound = self._runner.addresses[0]
        self.public_url = f"http://{host}:{bound[1]}"
        return self.public_url

    async def stop(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def __aenter__(self) -> SimServer:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        with contextlib.suppress(Exception):
            await self.stop()


def _valid_aspect(aspect: str) -> bool:
    try:
        width, height = (int(p) for p in aspect.split(":"))
    except ValueError:
        return False
    return 0 < width <= 21 * height and 0 < height <= 21 * width


def _open_picture(data: bytes) -> Image.Image:
    with Image.open(io.BytesIO(data)) as image:
        return image.convert("RGB")


def _png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", compress_level=1)
    return buffer.getvalue()


def prompt_aspect(prompt: str) -> str:
    """The ``--ar`` of a Midjourney prompt, or 1:1."""
    words = prompt.split()
    for i, word in enumerate(words[:-1]):
        if word.lower() in ("--ar", "--aspect") and _valid_aspect(words[i + 1]):
            return words[i + 1]
    return "1:1"
