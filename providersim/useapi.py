"""useapi.net Midjourney v2 on loopback: ``/v2/jobs/imagine``, ``/v2/jobs/?jobid=``, ``/v2/jobs/button``.

What it keeps of the real service: Bearer auth; ``maxJobs`` per token (default 3) with 429 and
``executingJobs`` when full, and a Discord 429 without that list (and without Retry-After: the doc
says only "sleep a few seconds and retry"); 596 once the account is held for moderation, until
``POST /v2/account/midjourney/<channel>/reset``; 400 for a prompt over 2048 characters and 413 for a
``replyUrl`` or ``replyRef`` over 1024; 422 "moderated" at submit; 504 "Job queued" with the new
``jobid`` while the job still runs (forced error ``job_queued_504``); 409 for a second press of the
same U button, 400 for a button the parent does not offer, 404 for an unknown job; the submit answer
says ``started`` even when the job is already done (instant mode); ``GET /v2/jobs`` lists the
caller's executing jobids; the Discord-mirroring job object (progress only in ``content`` "(31%)",
images in ``attachments``, ``buttons``, ``children``, ``replyRef``); callbacks to ``replyUrl``.
The verbs of mj-verbs.md §4: ``/v2/jobs/describe`` (four prompts from the fetched image in
``embeds[0].description``; an unreadable image fails "Invalid link"), ``/v2/jobs/blend`` (2-5 URLs, 400
otherwise; a grid with buttons), ``/v2/jobs/seed_async`` (completed image parents only; the seed in the
content) and ``/v2/jobs/cancel/``. ``Vary (Region)`` on an upscale (§4.3) requires ``mask`` (base64 of a
black-and-white image, white = redraw; 400 when missing or unreadable) and takes an optional ``prompt``; a
mask not the size of the upscale is taken and fails "Invalid mask" (§13); the grid keeps the upscale's
unmasked pixels exactly and draws the masked part anew in each tile.
Video (§4.4): ``Animate (High motion)`` / ``Animate (Low motion)`` on
a finished upscale make a video job of four MP4 clips (``videoUx`` ``[{id, url}]``, the element shape
INFERRED by analogy with ``imageUx``; ``attachments`` hold only a still, which is not the result); ``U1``-``U4``
on it select one clip (a job of its own whose ``videoUx`` holds that clip); ``Extend (High/Low motion)`` on
a selected clip makes a longer video job of four clips again (INFERRED: Midjourney answers an extend with a
new set), four extends at most; Extend on a four-clip job is a 400. The clips are real H.264 MP4s
(``providersim._video``), and like ``cdn.midjourney.com`` their URLs refuse a download without a
browser's ``User-Agent`` (403).
"""

from __future__ import annotations

import datetime as dt
import io
import math
import re
from typing import Any, ClassVar

import aiohttp
from aiohttp import web
from PIL import Image

from providersim._core import MJ_FAILURES, TOKEN, ErrorSpec, SimJob, SimServer, json_response, prompt_aspect
from providersim._images import decode_mask
from providersim._video import BASE_FRAMES, EXTEND_FRAMES

__all__ = ["UseApiSim"]

GRID_BUTTONS = ["U1", "U2", "U3", "U4", "\U0001f504", "V1", "V2", "V3", "V4"]
UPSCALE_BUTTONS = ["Upscale (Subtle)", "Upscale (Creative)", "Vary (Subtle)", "Vary (Strong)", "Vary (Region)",
                   "Zoom Out 2x", "Zoom Out 1.5x", "Custom Zoom", "\u2b05\ufe0f", "\u27a1\ufe0f", "\u2b06\ufe0f",
                   "\u2b07\ufe0f"]  # fmt: skip
# Video (mj-verbs.md §4.4, §1.2): Animate on an upscale, U1-U4 on a four-clip video, Extend on a selected clip.
ANIMATE_BUTTONS = ["Animate (High motion)", "Animate (Low motion)"]
UPSCALE_BUTTONS = UPSCALE_BUTTONS + ANIMATE_BUTTONS
VIDEO_GRID_BUTTONS = ["U1", "U2", "U3", "U4"]
CLIP_BUTTONS = ["Extend (High motion)", "Extend (Low motion)"]
# Midjourney stops extending near 21 s: four extends of a 5 s clip (§11, §13).
MAX_EXTENDS = 4
# useapi's own default when neither the request nor the account sets maxJobs.
DEFAULT_MAX_JOBS = 3
# v2's prompt limit (P§2.2; v1 said 1024): longer is a 400.
MAX_PROMPT = 2048
# replyUrl and replyRef limits (P§2.2): longer is a 413, the v1 table's "too long" status the v2 doc keeps.
MAX_REPLY_FIELD = 1024
# Vary (Region)'s mask is "a base64 black and white image" (§4.3), format unnamed: the common ones are read.
MASK_FORMATS = frozenset({"PNG", "WEBP", "JPEG"})


def _hold(sim: SimServer) -> None:
    assert isinstance(sim, UseApiSim)
    sim.moderation = True


def _errors() -> dict[str, ErrorSpec]:
    errors = {
        "unauthorized": ErrorSpec(401, {"error": "Unauthorized", "code": 401}),
        "subscription_expired": ErrorSpec(402, {"error": "Account has no subscription or subscription expired",
                                                "code": 402}),
        "missing_value": ErrorSpec(400, {"error": "Required param prompt is missing", "code": 400}),
        "too_long": ErrorSpec(400, {"error": f"Prompt is longer than {MAX_PROMPT} characters", "code": 400}),
        "reply_too_long": ErrorSpec(413, {"error": f"replyUrl is longer than {MAX_REPLY_FIELD} characters",
                                          "code": 413}),
        "moderated": ErrorSpec(422, {"error": "Unable to find posted message, likely moderated or invalid prompt",
                                     "jobid": "moderated-job", "status": "moderated", "code": 422}),
        # No Retry-After: the doc gives none, only "sleep a few seconds and retry".
        "discord_429": ErrorSpec(429, {"error": "Discord rate limit", "code": 429}),
        "queue_full_429": ErrorSpec(429, {"error": "API query is full and can not accept new jobs/imagine requests",
                                          "executingJobs": ["other-1", "other-2", "other-3"], "code": 429}),
        "pending_moderation": ErrorSpec(596, {"error": "Pending mod message or CAPTCHA, account removed from rotation",
                                              "errorDetails": "Midjourney asked to acknowledge a moderation message",
                                              "code": 596}, sticky=_hold),
        # An older, undocumented 504 that names no job; the simulator creates none, and the caller cannot tell.
        "gateway_timeout": ErrorSpec(504, {"error": "Job queued, Midjourney did not confirm in time", "code": 504}),
        # The documented 504: Midjourney still processes the job, and the answer names it.
        "job_queued_504": ErrorSpec(504, lambda job: {"error": "Job queued", "jobid": job.id, "status": "failed",
                                                      "code": 504}, job_created=True),
        "server_error": ErrorSpec(500, {"error": "Internal server error", "code": 500}),
        "job_moderated": ErrorSpec(job_failure="banned_prompt"),
    }  # fmt: skip
    errors |= {name: ErrorSpec(job_failure=name) for name in MJ_FAILURES}
    return errors


def _iso(moment: float) -> str:
    return dt.datetime.fromtimestamp(moment, dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class UseApiSim(SimServer):
    name = "useapi"
    api_prefix = "/v2"
    errors: ClassVar[dict[str, ErrorSpec]] = _errors()

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.moderation = False

    def add_routes(self, router: web.UrlDispatcher) -> None:
        router.add_post("/v2/jobs/imagine", self._imagine)
        router.add_post("/v2/jobs/button", self._button)
        router.add_get("/v2/jobs/", self._job)
        router.add_get("/v2/jobs", self._list)
        router.add_get("/v2/jobs/cancel/", self._cancel)
        router.add_post("/v2/jobs/describe", self._describe)
        router.add_post("/v2/jobs/blend", self._blend)
        router.add_post("/v2/jobs/seed_async", self._seed)
        router.add_post("/v2/account/midjourney/{channel}/reset", self._reset)

    def reset(self) -> None:
        super().reset()
        self.moderation = False

    async def before_submit(self, request: web.Request, token: str, body: dict[str, Any]) -> web.Response | None:
        for field in ("replyUrl", "replyRef"):
            value = body.get(field)
            if isinstance(value, str) and len(value) > MAX_REPLY_FIELD:
                return json_response(
                    413, {"error": f"{field} is longer than {MAX_REPLY_FIELD} characters", "code": 413}
                )
        if self.moderation:
            return json_response(596, self.errors["pending_moderation"].body)
        limit = body.get("maxJobs", DEFAULT_MAX_JOBS)
        if not isinstance(limit, int) or not 1 <= limit <= 15:
            return json_response(400, {"error": "maxJobs must be 1 to 15", "code": 400})
        executing = [j.id for j in self.jobs.values() if j.token == token and not j.terminal]
        if len(executing) >= limit:
            return json_response(
                429, {"error": "API query is full and can not accept new jobs/imagine requests",
                      "executingJobs": executing, "code": 429},
            )  # fmt: skip
        return None

    async def _imagine(self, request: web.Request) -> web.Response:
        token, body = request[TOKEN], await self.read_object(request)
        prompt = body.get("prompt")
        if not isinstance(prompt, str) or not prompt.strip():
            return json_response(400, {"error": "Required param prompt is missing", "code": 400})
        if len(prompt) > MAX_PROMPT:
            return json_response(400, {"error": f"Prompt is longer than {MAX_PROMPT} characters", "code": 400})
        if (refused := await self.before_submit(request, token, body)) is not None:
            return refused
        forced = self.forced_outcome()
        if forced.refusal is not None:
            return forced.refusal
        job = self.create_job(
            token, kind="grid", action="imagine", prompt=prompt, aspect=prompt_aspect(prompt),
            ref=body.get("replyRef"), webhook_url=body.get("replyUrl") or None, failure=forced.failure,
        )  # fmt: skip
        job.extra |= {"verb": "imagine", "maxJobs": body.get("maxJobs", DEFAULT_MAX_JOBS)}
        return forced.reply(job, json_response(200, self.job_body(job, submitted=True)))

    async def _button(self, request: web.Request) -> web.Response:
        token, body = request[TOKEN], await self.read_object(request)
        jobid, label = body.get("jobid"), body.get("button")
        if not isinstance(jobid, str) or not isinstance(label, str):
            return json_response(412, {"error": "jobid and button are required", "code": 412})
        parent = self.jobs.get(jobid)
        if parent is None:
            return json_response(404, {"error": f"Unable to locate jobid {jobid}", "code": 404})
        if parent.kind in ("video", "clip") or label in ANIMATE_BUTTONS:
            return await self._video_button(request, token, body, parent, label)
        offered = UPSCALE_BUTTONS if parent.kind == "upscale" else GRID_BUTTONS
        if parent.state != "done" or label not in offered:
            return json_response(
                400, {"error": "Button not supported or not found in jobid buttons array", "code": 400}
            )
        prompt = body.get("prompt")
        mask = None
        if label == "Vary (Region)":
            # 'Vary (Region)' requires mask, a base64 black-and-white image (§4.3; P§2.3 "required"). What it
            # answers to a missing or unreadable one is not shown: the 400 of its other missing values.
            mask = decode_mask(body.get("mask"), formats=MASK_FORMATS, data_uri=False)
            if mask == "missing":
                return json_response(400, {"error": "Required param mask is missing", "code": 400})
            if isinstance(mask, str):
                return json_response(
                    400, {"error": f"Param mask must be a base64 encoded black and white image ({mask})", "code": 400}
                )
        if label == "Custom Zoom":
            # Custom Zoom requires a prompt whose --zoom is above 1 and at most 2 (mj-verbs.md §4.3, §13).
            zoom = re.search(r"--zoom\s+(\d+(?:\.\d+)?)", prompt) if isinstance(prompt, str) else None
            if zoom is None or not 1 < float(zoom[1]) <= 2:
                return json_response(400, {"error": "Custom Zoom requires prompt with --zoom between 1 and 2",
                                           "code": 400})  # fmt: skip
        if label in ("U1", "U2", "U3", "U4") and label in parent.children:
            return _already_executed(parent, label)
        if (refused := await self.before_submit(request, token, body)) is not None:
            return refused
        forced = self.forced_outcome()
        if forced.refusal is not None:
            return forced.refusal
        upscale = label in ("U1", "U2", "U3", "U4")
        failure = forced.failure
        if isinstance(mask, Image.Image) and mask.size != await self.image_size(parent, "upscale.png"):
            failure = failure or "invalid_mask"  # taken, then failed by Midjourney (mj-verbs.md §13)
        job = self.create_job(
            token, kind="upscale" if upscale else "grid", action=label,
            prompt=prompt if isinstance(prompt, str) and prompt.strip() else parent.prompt, aspect=parent.aspect,
            parent=parent.id, index=int(label[1]) if upscale else None, ref=body.get("replyRef"),
            webhook_url=body.get("replyUrl") or None, failure=failure,
        )  # fmt: skip
        job.extra |= {"verb": "button", "maxJobs": body.get("maxJobs", DEFAULT_MAX_JOBS)}
        if isinstance(mask, Image.Image):
            job.extra["mask"] = mask
        parent.children[label] = job.id
        return forced.reply(job, json_response(200, self.job_body(job, submitted=True)))

    async def _video_button(
        self, request: web.Request, token: str, body: dict[str, Any], parent: SimJob, label: str
    ) -> web.Response:
        """Animate on an upscale, U1-U4 on a video job (select a clip), Extend on a selected clip (§4.4)."""
        if parent.kind == "upscale":
            offered = ANIMATE_BUTTONS
        elif parent.kind == "video":
            offered = VIDEO_GRID_BUTTONS
        else:
            offered = CLIP_BUTTONS if parent.extra.get("extends", 0) < MAX_EXTENDS else []
        if parent.state != "done" or label not in offered:
            return json_response(
                400, {"error": "Button not supported or not found in jobid buttons array", "code": 400}
            )
        if label in VIDEO_GRID_BUTTONS and label in parent.children:
            return _already_executed(parent, label)
        if (refused := await self.before_submit(request, token, body)) is not None:
            return refused
        forced = self.forced_outcome()
        if forced.refusal is not None:
            return forced.refusal
        index = None
        if parent.kind == "upscale":
            kind, video = "video", {"source": parent.id, "frames": BASE_FRAMES, "extends": 0}
            video["motion"] = "high" if "High" in label else "low"
        elif parent.kind == "video":
            # The selected clip: the same clip, now a job of its own that Extend acts on.
            kind, index = "clip", int(label[1])
            video = {k: parent.extra[k] for k in ("source", "frames", "motion", "extends")}
        else:
            kind = "video"
            video = {"source": parent.extra["source"], "frames": parent.extra["frames"] + EXTEND_FRAMES,
                     "motion": "high" if "High" in label else "low",
                     "extends": parent.extra["extends"] + 1}  # fmt: skip
        prompt = body.get("prompt")
        prompt = prompt if isinstance(prompt, str) and prompt.strip() else parent.prompt
        job = self.create_job(
            token, kind=kind, action=label, prompt=prompt,
            aspect=parent.aspect, parent=parent.id, index=index, ref=body.get("replyRef"),
            webhook_url=body.get("replyUrl") or None, failure=forced.failure,
        )  # fmt: skip
        job.extra |= {"verb": "button", "maxJobs": body.get("maxJobs", DEFAULT_MAX_JOBS), **video}
        parent.children[label] = job.id
        return forced.reply(job, json_response(200, self.job_body(job, submitted=True)))

    def video_refusal(self, request: web.Request) -> web.Response | None:
        # cdn.midjourney.com answers a client without a browser's headers with Cloudflare's 403 (§4.4).
        if "Mozilla/" not in request.headers.get("User-Agent", ""):
            return web.Response(status=403, text="Forbidden")
        return None

    async def _job(self, request: web.Request) -> web.Response:
        jobid = request.query.get("jobid")
        if not jobid:
            return json_response(400, {"error": "Query param jobid not provided", "code": 400})
        job = self.jobs.get(jobid)
        if job is None:
            return json_response(404, {"error": f"Unable to locate job {jobid}", "code": 404})
        return json_response(200, self.job_body(job))

    async def _list(self, request: web.Request) -> web.Response:
        # P§2.5 / mj-verbs §4.8: the caller's currently executing (non-terminal) jobids, oldest first.
        token = request[TOKEN]
        return json_response(200, [j.id for j in self.jobs.values() if j.token == token and not j.terminal])

    async def _cancel(self, request: web.Request) -> web.Response:
        job = self.jobs.get(request.query.get("jobid", ""))
        if job is None:
            return json_response(404, {"error": "Unable to locate job", "code": 404})
        if not job.terminal:
            self.finish(job, "cancelled")
        return json_response(200, {"jobid": job.id, "status": "cancelled", "code": 200})

    # -- the verbs beyond imagine (mj-verbs.md §4) --------------------------------------------------

    async def _describe(self, request: web.Request) -> web.Response:
        """``describeUrl`` → a job whose ``embeds[0].description`` holds four numbered prompts (§4.1); an
        image that cannot be read ends the job failed "Invalid link" (§13)."""
        token, body = request[TOKEN], await self.read_object(request)
        url = body.get("describeUrl")
        if not isinstance(url, str) or not url.startswith(("http://", "https://")):
            return json_response(400, {"error": "Required param describeUrl is missing", "code": 400})
        if (refused := await self.before_submit(request, token, body)) is not None:
            return refused
        prompts = await describe_image(self._session, url)
        job = self.create_job(
            token, kind="describe", action="describe", prompt=url, ref=body.get("replyRef"),
            webhook_url=body.get("replyUrl") or None, failure=None if prompts else "invalid_link",
        )  # fmt: skip
        job.extra |= {"verb": "describe", "prompts": prompts or [], "describeUrl": url}
        return json_response(200, self.job_body(job, submitted=True))

    async def _blend(self, request: web.Request) -> web.Response:
        """``blendUrls`` (2-5) and ``blendDimensions`` → a grid job with U/V/🔄 like an imagine (§4.2)."""
        token, body = request[TOKEN], await self.read_object(request)
        urls, dimensions = body.get("blendUrls"), body.get("blendDimensions", "Square")
        if not isinstance(urls, list) or not 2 <= len(urls) <= 5 or not all(isinstance(u, str) for u in urls):
            return json_response(400, {"error": "blendUrls must hold 2 to 5 image URLs", "code": 400})
        if dimensions not in BLEND_DIMENSIONS:
            return json_response(400, {"error": "blendDimensions must be Portrait, Square or Landscape", "code": 400})
        if (refused := await self.before_submit(request, token, body)) is not None:
            return refused
        forced = self.forced_outcome()
        if forced.refusal is not None:
            return forced.refusal
        job = self.create_job(
            token, kind="grid", action="blend", prompt=" ".join(urls), aspect=BLEND_DIMENSIONS[dimensions],
            ref=body.get("replyRef"), webhook_url=body.get("replyUrl") or None, failure=forced.failure,
        )  # fmt: skip
        job.extra |= {"verb": "blend", "maxJobs": body.get("maxJobs", DEFAULT_MAX_JOBS)}
        return forced.reply(job, json_response(200, self.job_body(job, submitted=True)))

    async def _seed(self, request: web.Request) -> web.Response:
        """``jobid`` of a completed image job → a job that completes with the seed in its content (§4.5; the
        seed's place there is INFERRED); a video or unfinished parent is refused with 400."""
        token, body = request[TOKEN], await self.read_object(request)
        parent = self.jobs.get(str(body.get("jobid", "")))
        if parent is None:
            return json_response(404, {"error": f"Unable to locate jobid {body.get('jobid')}", "code": 404})
        if parent.state != "done" or parent.kind not in ("grid", "upscale"):
            return json_response(400, {"error": "jobid must be a completed image job", "code": 400})
        job = self.create_job(token, kind="seed", action="seed_async", prompt=parent.prompt, parent=parent.id)
        job.extra |= {"verb": "seed_async", "seed": parent.seed}
        return json_response(200, self.job_body(job, submitted=True))

    async def _reset(self, request: web.Request) -> web.Response:
        self.moderation = False
        return json_response(200, {"channel": request.match_info["channel"], "code": 200})

    # -- rendering -------------------------------------------------------------------------------

    def job_body(self, job: SimJob, *, submitted: bool = False) -> dict[str, Any]:
        """The job object; ``submitted`` renders the submit answer, which the doc and the SDK only allow to
        say ``started``: it shows the job as it was when taken, even if it has already finished since."""
        state = "queued" if submitted else job.state
        updated = job.created if submitted else job.updated
        status = {
            "queued": "started" if submitted else "created", "running": "progress", "done": "completed",
            "failed": "failed", "expired": "failed", "cancelled": "cancelled",
        }[state]  # fmt: skip
        if state == "queued" and not submitted and job.stage == 0:
            status = "started"
        head = f"**{job.prompt}** - <@1000000000000000001>"
        body: dict[str, Any] = {
            "jobid": job.id, "verb": job.extra.get("verb", "imagine"), "status": status, "created": _iso(job.created),
            "updated": _iso(updated), "prompt": job.prompt, "channel": "1100000000000000001",
            "server": "1100000000000000000", "maxJobs": job.extra.get("maxJobs", DEFAULT_MAX_JOBS),
            "messageId": f"msg-{job.id}", "timestamp": _iso(updated), "code": 200,
            "discord": "<ABC…secured…xyz>", "children": [
                {"button": label, "jobid": child, "messageId": f"msg-{child}"} for label, child in job.children.items()
            ],
        }  # fmt: skip
        if job.ref is not None:
            body["replyRef"] = job.ref
        if job.webhook_url:
            body["replyUrl"] = job.webhook_url
        if job.parent:
            body |= {"parentJobId": job.parent, "button": job.action}
        if state == "queued":
            body["content"] = f"{head} (Waiting to start)"
        elif state == "running":
            body["content"] = f"{head} ({job.progress}%) (fast)"
            preview = self.preview_url(job)
            body["attachments"] = [_attachment(preview, "preview.webp")] if preview else []
        elif state == "done" and job.kind in ("video", "clip"):
            body["content"] = f"{head} (fast)"
            clips = [job.index or 1] if job.kind == "clip" else [1, 2, 3, 4]
            body["videoUx"] = [{"id": n, "url": self.image_url(job, f"clip_{n}.mp4")} for n in clips]
            source = self.jobs.get(job.extra["source"])
            # Only a still of the animated picture: the clips are in videoUx, never here.
            body["attachments"] = [_attachment(self.image_url(source, "upscale.png"), "still.png")] if source else []
            extendable = job.kind == "clip" and job.extra.get("extends", 0) < MAX_EXTENDS
            body["buttons"] = CLIP_BUTTONS if extendable else VIDEO_GRID_BUTTONS if job.kind == "video" else []
        elif state == "done" and job.kind == "describe":
            numbered = "\n\n".join(f"{n}\ufe0f\u20e3 {p}" for n, p in enumerate(job.extra["prompts"], start=1))
            body["content"] = ""
            body["embeds"] = [{"type": "rich", "description": numbered, "image": {"url": job.extra["describeUrl"]}}]
        elif state == "done" and job.kind == "seed":
            body["content"] = f"**Job ID**: {job.parent}\n**seed** {job.extra['seed']}"
        elif state == "done":
            body["content"] = f"{head} (fast)"
            body["attachments"] = [_attachment(self.result_url(job), "result.png")]
            body["buttons"] = UPSCALE_BUTTONS if job.kind == "upscale" else GRID_BUTTONS
        else:
            _, text = MJ_FAILURES.get(job.failure or "", ("", "Job failed"))
            if job.failure in ("banned_prompt", "blocked", "image_blocked"):
                body["status"] = "moderated"
            body["content"] = head
            body["error"] = text if state == "failed" else f"Job {state}"
        return body


BLEND_DIMENSIONS = {"Portrait": "2:3", "Square": "1:1", "Landscape": "3:2"}
_COLOURS = {"red": (220, 40, 30), "orange": (245, 140, 20), "yellow": (245, 225, 50), "green": (40, 160, 60),
            "teal": (0, 128, 128), "blue": (40, 80, 210), "navy": (20, 30, 90), "purple": (120, 40, 140),
            "pink": (240, 150, 180), "brown": (120, 75, 40), "black": (15, 15, 15), "grey": (128, 128, 128),
            "white": (245, 245, 245)}  # fmt: skip
_RATIOS = ("1:1", "4:5", "5:4", "2:3", "3:2", "3:4", "4:3", "9:16", "16:9")


async def describe_image(session: Any, url: str) -> list[str] | None:
    """Four prompts from the image at ``url`` (its average colour by name and its shape), as Midjourney's
    describe would word them; None when it cannot be fetched or read."""
    if session is None:
        return None
    try:
        async with session.get(url) as response:
            if response.status != 200:
                return None
            data = await response.read()
        with Image.open(io.BytesIO(data)) as image:
            rgb = image.convert("RGB")
    except (aiohttp.ClientError, OSError, ValueError):
        return None
    average = rgb.resize((1, 1)).getpixel((0, 0))
    assert isinstance(average, tuple)
    colour = min(_COLOURS, key=lambda n: sum((a - b) ** 2 for a, b in zip(_COLOURS[n], average, strict=False)))
    ratio = math.log(rgb.width / rgb.height)
    aspect = min(_RATIOS, key=lambda r: abs(math.log(int(r.split(":")[0]) / int(r.split(":")[1])) - ratio))
    return [
        f"a {colour} dreamscape, layered shapes, cinematic light --ar {aspect}",
        f"{colour} abstract painting with bold blocks of colour --ar {aspect}",
        f"minimalist {colour} poster, flat design, soft grain --ar {aspect}",
        f"a photograph of {colour} architecture at dusk, long exposure --ar {aspect}",
    ]


def _attachment(url: str, filename: str) -> dict[str, Any]:
    return {
        "id": "1200000000000000000", "filename": filename, "content_type": "image/png", "size": 1,
        "width": 1024, "height": 1024, "url": url, "proxy_url": url,
    }  # fmt: skip


def _already_executed(parent: SimJob, label: str) -> web.Response:
    """useapi's 409 for a U button pressed twice on one grid (of pictures or of clips): it names the first job."""
    return json_response(
        409, {"error": f"Upscale button already executed by jobid {parent.children[label]}",
              "button": label, "jobid": parent.children[label], "code": 409},
    )  # fmt: skip
