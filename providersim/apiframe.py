"""APIFrame (classic Midjourney API) on loopback: one POST endpoint per action, ``/fetch`` to follow.

Auth by the raw key in ``Authorization`` (as the docs say) or ``Bearer <key>`` (as the new SDK sends);
401 answers ``{}``. Submits answer ``{"task_id"}`` or 400 ``{"errors": [{"msg"}]}``. Tasks go
``pending`` → ``processing`` with ``percentage`` as a string → ``finished`` with ``original_image_url`` and
``image_urls`` (grids) or ``image_url`` (upscales), or ``failed`` with ``message``. Callbacks post the
fetch object to ``webhook_url`` with ``x-webhook-secret``, for updates and the final result.
A tile may be upscaled again (a new task each time): no source documents a refusal.

Tasks carry no correlation field. What the simulator can see of the caller's own reference is a ``ref``
query parameter on ``webhook_url`` (where the bot's adapter puts its job id): that becomes the job's
``ref``, so ``GET /_sim/submits`` and ``/_sim/jobs`` can count and find it.

The verbs of mj-verbs.md §7: ``/describe`` (``image_url`` fetched; four keycap-numbered prompts in
``content``; an unreadable image fails "Invalid link"), ``/blend`` (2-5 ``image_urls`` and ``dimension``
square/portrait/landscape, 400 otherwise; a grid), ``/seed`` (a finished image task; the seed as a
**string**, as the doc's example has it), ``/inpaint`` (Vary (Region) on an upscale-1x task: ``mask``
base64 with or without a ``data:image/png;base64,`` prefix, 400 when missing or unreadable, a mask not the
upscale's size fails "Invalid mask"; optional ``prompt``; a grid whose tiles keep the upscale outside the
mask). No cancel: APIFrame documents none.

Video (§7.7): ``/imagine-video`` ``{prompt*, image_url* (the first frame, fetched: an unreadable one fails
"Invalid link"), motion low|high}`` and ``/imagine-video-extend`` ``{parent_task_id* (a finished video
task), index* "1"-"4", prompt*, motion?}``, each a task whose finished ``/fetch`` has no ``status`` (like the
doc's other finished examples) and the clips as ``video_urls`` (four real H.264 MP4s), the shape a
look-alike service documents; APIFrame's own docs name none, and its SDK also declares ``videoUrl``, which
``video_field = "videoUrl"`` serves instead (one clip). Four extends at most, as Midjourney's.
"""

from __future__ import annotations

import io
import uuid
from typing import Any, ClassVar
from urllib.parse import parse_qs, urlsplit

import aiohttp
from aiohttp import web
from PIL import Image

from providersim._core import MJ_FAILURES, TOKEN, ErrorSpec, SimJob, SimServer, json_response
from providersim._images import decode_mask
from providersim._video import BASE_FRAMES, EXTEND_FRAMES
from providersim.useapi import describe_image

__all__ = ["ApiFrameSim"]

_VARY = {"strong": "vary-strong", "subtle": "vary-subtle"}
_BLEND_DIMENSIONS = {"portrait": "2:3", "square": "1:1", "landscape": "3:2"}
# /inpaint's mask: "base64", a PNG data-URI prefix accepted (§7.5); the format is not otherwise named.
_MASK_FORMATS = frozenset({"PNG", "WEBP", "JPEG"})
# Midjourney stops extending near 21 s: four extends of a 5 s clip (mj-verbs.md §11).
MAX_EXTENDS = 4
# A first frame larger than this is refused (the real service's limit is not documented; Discord's is 10 MiB).
MAX_PICTURE_BYTES = 10 * 1024 * 1024


def _errors() -> dict[str, ErrorSpec]:
    errors = {
        "invalid_request": ErrorSpec(400, {"errors": [{"msg": "Invalid request"}]}),
        "invalid_parameter_submit": ErrorSpec(400, {"errors": [{"msg": "Invalid parameter: --chaos 500"}]}),
        "banned_prompt_submit": ErrorSpec(400, {"errors": [{"msg": "Banned prompt: the prompt was rejected"}]}),
        "unauthorized": ErrorSpec(401, {}),
        "insufficient_credits": ErrorSpec(402, {"errors": [{"msg": "Insufficient credits"}]}),
        "rate_limited": ErrorSpec(429, {"errors": [{"msg": "Rate limit exceeded"}]}, headers={"Retry-After": "1"}),
        "server_error": ErrorSpec(500, {}),
        "no_fast_hours_submit": ErrorSpec(400, {"errors": [{"msg": "You've run out of fast hours"}]}),
    }
    errors |= {name: ErrorSpec(job_failure=name) for name in MJ_FAILURES}
    return errors


def _caller_ref(body: dict[str, Any]) -> str | None:
    """The caller's own reference, if it shows: the ``ref`` query parameter of ``webhook_url``."""
    url = body.get("webhook_url")
    if not isinstance(url, str) or not url:
        return None
    values = parse_qs(urlsplit(url).query).get("ref")
    return values[-1] if values else None


class ApiFrameSim(SimServer):
    name = "apiframe"
    api_prefix = ""
    # Newer docs: "the final result and updates of this task will be posted".
    progress_webhooks = True
    # No progress image is documented; with previews on, ``progress_image_url`` (an extension) shows one.
    documented_previews = False
    errors: ClassVar[dict[str, ErrorSpec]] = _errors()
    # Where a finished video task lists its clips: "video_urls" (four) or "videoUrl" (one); §7.7, §14.5.
    video_field = "video_urls"

    def add_routes(self, router: web.UrlDispatcher) -> None:
        router.add_post("/imagine", self._imagine)
        router.add_post("/fetch", self._fetch)
        for path in ("/upscale-1x", "/variations", "/reroll", "/upscale-alt", "/pan", "/outpaint"):
            router.add_post(path, self._action)
        router.add_post("/describe", self._describe)
        router.add_post("/blend", self._blend)
        router.add_post("/seed", self._seed)
        router.add_post("/inpaint", self._inpaint)
        router.add_post("/imagine-video", self._imagine_video)
        router.add_post("/imagine-video-extend", self._extend_video)

    def new_id(self) -> str:
        return str(uuid.uuid4())

    def authenticate(self, request: web.Request) -> str | None:
        token = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
        return token if token in self.api_keys else None

    def unauthorized(self) -> web.Response:
        return json_response(401, {})

    def server_error(self) -> web.Response:
        return json_response(500, {})

    async def _imagine(self, request: web.Request) -> web.Response:
        token, body = request[TOKEN], await self.read_object(request)
        prompt = body.get("prompt")
        if not isinstance(prompt, str) or not prompt.strip():
            return json_response(400, {"errors": [{"msg": "prompt is required"}]})
        aspect = body.get("aspect_ratio", "1:1")
        if not isinstance(aspect, str) or aspect.count(":") != 1:
            return json_response(400, {"errors": [{"msg": "aspect_ratio is invalid"}]})
        forced = self.forced_outcome()
        if forced.refusal is not None:
            return forced.refusal
        job = self.create_job(
            token, kind="grid", action="imagine", prompt=prompt, aspect=aspect, ref=_caller_ref(body),
            webhook_url=body.get("webhook_url") or None, webhook_secret=body.get("webhook_secret"),
            failure=forced.failure,
        )  # fmt: skip
        return forced.reply(job, json_response(200, {"task_id": job.id}))

    def _finished_parent(self, body: dict[str, Any]) -> SimJob | web.Response:
        """The finished task ``parent_task_id`` names, or the 400 APIFrame answers when there is none."""
        parent_id = body.get("parent_task_id")
        if not isinstance(parent_id, str) or not parent_id:
            return json_response(400, {"errors": [{"msg": "parent_task_id is required"}]})
        parent = self.jobs.get(parent_id)
        if parent is None:
            return json_response(400, {"errors": [{"msg": "parent_task_id not found"}]})
        if parent.state != "done":
            return json_response(400, {"errors": [{"msg": "parent task is not finished"}]})
        return parent

    async def _action(self, request: web.Request) -> web.Response:
        token, body = request[TOKEN], await self.read_object(request)
        endpoint = request.path.lstrip("/")
        parent = self._finished_parent(body)
        if isinstance(parent, web.Response):
            return parent
        refusal, kind, index, action = self._plan(endpoint, body, parent)
        if refusal is not None:
            return json_response(400, {"errors": [{"msg": refusal}]})
        forced = self.forced_outcome()
        if forced.refusal is not None:
            return forced.refusal
        # "prompt" on reroll/variations/pan/outpaint is the remix prompt the result is made with (§7.6). The docs
        # name no error for an empty one: it is taken as no prompt, rather than inventing a refusal.
        remix = body.get("prompt") if endpoint in ("reroll", "variations", "pan", "outpaint") else None
        remix = remix if isinstance(remix, str) and remix.strip() else None
        job = self.create_job(
            token, kind=kind, action=action, prompt=remix or parent.prompt, aspect=parent.aspect, parent=parent.id,
            index=index if index is not None else parent.index, ref=_caller_ref(body),
            webhook_url=body.get("webhook_url") or None, webhook_secret=body.get("webhook_secret"),
            failure=forced.failure,
        )  # fmt: skip
        job.extra["task_type"] = action
        # The first task per action; a repeated upscale of the same tile is a new task, and allowed.
        parent.children.setdefault(action, job.id)
        return forced.reply(job, json_response(200, {"task_id": job.id}))

    @staticmethod
    def _plan(endpoint: str, body: dict[str, Any], parent: SimJob) -> tuple[str | None, str, int | None, str]:
        """(refusal, kind, index, task_type) for an action endpoint on ``parent``."""
        grid_parent = parent.kind == "grid"
        index = str(body.get("index", ""))
        if endpoint == "upscale-1x":
            if not grid_parent or index not in ("1", "2", "3", "4"):
                return "index must be 1, 2, 3, or 4", "", None, ""
            return None, "upscale", int(index), f"upscale#{index}"
        if endpoint == "variations":
            if grid_parent and index in ("1", "2", "3", "4"):
                return None, "grid", int(index), f"variation-{index}"
            if not grid_parent and index in _VARY:
                return None, "grid", None, _VARY[index]
            return "index must be 1, 2, 3, 4, strong or subtle", "", None, ""
        if endpoint == "reroll":
            return (None, "grid", None, "reroll") if grid_parent else ("reroll needs a grid", "", None, "")
        if grid_parent:
            return f"{endpoint} needs an upscaled parent", "", None, ""
        if endpoint == "upscale-alt":
            kind = body.get("type")
            if kind not in ("subtle", "creative"):
                return "type must be subtle or creative", "", None, ""
            return None, "upscale", None, f"upscale-{kind}"
        if endpoint == "pan":
            if body.get("direction") not in ("up", "down", "left", "right"):
                return "direction must be up, down, left or right", "", None, ""
            return None, "grid", None, "pan"
        try:
            ratio = float(body.get("zoom_ratio", ""))
        except (TypeError, ValueError):
            ratio = 0.0
        if not 1.0 < ratio <= 2.0:
            return "zoom_ratio must be between 1 and 2", "", None, ""
        return None, "grid", None, "outpaint"

    async def _describe(self, request: web.Request) -> web.Response:
        token, body = request[TOKEN], await self.read_object(request)
        url = body.get("image_url")
        if not isinstance(url, str) or not url.startswith(("http://", "https://")):
            return json_response(400, {"errors": [{"msg": "image_url is required"}]})
        prompts = await describe_image(self._session, url)
        job = self.create_job(
            token, kind="describe", action="describe", prompt=url, failure=None if prompts else "invalid_link"
        )
        job.extra |= {"task_type": "describe", "prompts": prompts or [], "image_url": url}
        return json_response(200, {"task_id": job.id})

    async def _blend(self, request: web.Request) -> web.Response:
        token, body = request[TOKEN], await self.read_object(request)
        urls, dimension = body.get("image_urls"), body.get("dimension", "square")
        if not isinstance(urls, list) or not 2 <= len(urls) <= 5 or not all(isinstance(u, str) for u in urls):
            return json_response(400, {"errors": [{"msg": "image_urls must hold 2 to 5 URLs"}]})
        if dimension not in _BLEND_DIMENSIONS:
            return json_response(400, {"errors": [{"msg": "dimension must be square, portrait or landscape"}]})
        forced = self.forced_outcome()
        if forced.refusal is not None:
            return forced.refusal
        job = self.create_job(
            token, kind="grid", action="blend", prompt=" ".join(urls), aspect=_BLEND_DIMENSIONS[dimension],
            ref=_caller_ref(body), webhook_url=body.get("webhook_url") or None,
            webhook_secret=body.get("webhook_secret"), failure=forced.failure,
        )  # fmt: skip
        job.extra["task_type"] = "blend"
        return forced.reply(job, json_response(200, {"task_id": job.id}))

    async def _seed(self, request: web.Request) -> web.Response:
        token, body = request[TOKEN], await self.read_object(request)
        parent = self.jobs.get(str(body.get("task_id", "")))
        if parent is None:
            return json_response(400, {"errors": [{"msg": "task_id not found"}]})
        if parent.state != "done" or parent.kind not in ("grid", "upscale"):
            return json_response(400, {"errors": [{"msg": "task is not a finished image task"}]})
        job = self.create_job(token, kind="seed", action="seed", prompt=parent.prompt, parent=parent.id)
        job.extra |= {"task_type": "seed", "seed": str(parent.seed)}
        return json_response(200, {"task_id": job.id})

    async def _inpaint(self, request: web.Request) -> web.Response:
        """Vary (Region): ``parent_task_id`` of an upscale-1x task, ``mask`` (base64, with or without a
        ``data:image/png;base64,`` prefix), optional ``prompt`` → a grid task ``inpaint`` (§7.5). The 400s are
        the documented shape with JourneyAPI's wording where APIFrame's own is not shown."""
        token, body = request[TOKEN], await self.read_object(request)
        parent = self._finished_parent(body)
        if isinstance(parent, web.Response):
            return parent
        if parent.kind != "upscale" or not str(parent.extra.get("task_type", "")).startswith("upscale#"):
            return json_response(400, {"errors": [{"msg": "inpaint needs an upscale-1x parent"}]})
        mask = decode_mask(body.get("mask"), formats=_MASK_FORMATS, data_uri=True)
        if mask == "missing":
            return json_response(400, {"errors": [{"msg": "mask is required"}]})
        if isinstance(mask, str):
            return json_response(400, {"errors": [{"msg": f"mask must be a base64 encoded image ({mask})"}]})
        prompt = body.get("prompt")
        forced = self.forced_outcome()
        if forced.refusal is not None:
            return forced.refusal
        failure = forced.failure
        if mask.size != await self.image_size(parent, "upscale.png"):
            failure = failure or "invalid_mask"  # taken, then failed (mj-verbs.md §13)
        job = self.create_job(
            token, kind="grid", action="inpaint", prompt=prompt if isinstance(prompt, str) and prompt.strip()
            else parent.prompt, aspect=parent.aspect, parent=parent.id, ref=_caller_ref(body),
            webhook_url=body.get("webhook_url") or None, webhook_secret=body.get("webhook_secret"), failure=failure,
        )  # fmt: skip
        job.extra |= {"task_type": "inpaint", "mask": mask}
        return forced.reply(job, json_response(200, {"task_id": job.id}))

    # -- video (mj-verbs.md §7.7) ---------------------------------------------------------------------

    async def _imagine_video(self, request: web.Request) -> web.Response:
        token, body = request[TOKEN], await self.read_object(request)
        prompt, url, motion = body.get("prompt"), body.get("image_url"), body.get("motion", "low")
        if not isinstance(prompt, str) or not prompt.strip():
            return json_response(400, {"errors": [{"msg": "prompt is required"}]})
        if not isinstance(url, str) or not url.startswith(("http://", "https://")):
            return json_response(400, {"errors": [{"msg": "image_url is required"}]})
        if motion not in ("low", "high"):
            return json_response(400, {"errors": [{"msg": "motion must be low or high"}]})
        forced = self.forced_outcome()
        if forced.refusal is not None:
            return forced.refusal
        picture = await self._fetch_picture(url)
        job = self.create_job(
            token, kind="video", action="imagine-video", prompt=prompt, ref=_caller_ref(body),
            webhook_url=body.get("webhook_url") or None, webhook_secret=body.get("webhook_secret"),
            failure=forced.failure or (None if picture else "invalid_link"),
        )  # fmt: skip
        job.extra |= {"task_type": "imagine-video", "picture": picture, "frames": BASE_FRAMES, "motion": motion,
                      "extends": 0, "clips": 1 if self.video_field == "videoUrl" else 4}  # fmt: skip
        return forced.reply(job, json_response(200, {"task_id": job.id}))

    async def _extend_video(self, request: web.Request) -> web.Response:
        token, body = request[TOKEN], await self.read_object(request)
        parent = self.jobs.get(str(body.get("parent_task_id", "")))
        prompt, index, motion = body.get("prompt"), str(body.get("index", "")), body.get("motion")
        if parent is None:
            return json_response(400, {"errors": [{"msg": "parent_task_id not found"}]})
        if not isinstance(prompt, str) or not prompt.strip():
            return json_response(400, {"errors": [{"msg": "prompt is required"}]})
        if parent.kind != "video" or parent.state != "done":
            return json_response(400, {"errors": [{"msg": "parent task is not a finished video task"}]})
        if index not in [str(n) for n in range(1, parent.extra["clips"] + 1)]:
            return json_response(400, {"errors": [{"msg": "index must be 1, 2, 3, or 4"}]})
        if parent.extra["extends"] >= MAX_EXTENDS:
            return json_response(400, {"errors": [{"msg": "the video cannot be extended any further"}]})
        if motion is not None and motion not in ("low", "high"):
            return json_response(400, {"errors": [{"msg": "motion must be low or high"}]})
        forced = self.forced_outcome()
        if forced.refusal is not None:
            return forced.refusal
        job = self.create_job(
            token, kind="video", action="imagine-video-extend", prompt=prompt, parent=parent.id, index=int(index),
            ref=_caller_ref(body), webhook_url=body.get("webhook_url") or None,
            webhook_secret=body.get("webhook_secret"), failure=forced.failure,
        )  # fmt: skip
        job.extra |= {
            "task_type": "imagine-video-extend", "picture": parent.extra["picture"], "clips": parent.extra["clips"],
            "frames": parent.extra["frames"] + EXTEND_FRAMES, "motion": motion or parent.extra["motion"],
            "extends": parent.extra["extends"] + 1,
        }  # fmt: skip
        parent.children.setdefault(f"extend#{index}", job.id)
        return forced.reply(job, json_response(200, {"task_id": job.id}))

    async def _fetch_picture(self, url: str) -> bytes | None:
        """The first frame's bytes, or None when the link cannot be read as an image."""
        if self._session is None:
            return None
        try:
            async with self._session.get(url) as response:
                if response.status != 200:
                    return None
                data = await response.content.read(MAX_PICTURE_BYTES + 1)
            if len(data) > MAX_PICTURE_BYTES:
                return None
            with Image.open(io.BytesIO(data)) as image:
                image.verify()
        except (aiohttp.ClientError, OSError, ValueError):
            return None
        return data

    async def _fetch(self, request: web.Request) -> web.Response:
        body = await self.read_object(request)
        job = self.jobs.get(str(body.get("task_id", "")))
        if job is None:
            return json_response(404, {"errors": [{"msg": "Task not found"}]})
        return json_response(200, self.job_body(job))

    def job_body(self, job: SimJob) -> dict[str, Any]:
        task_type = job.extra.get("task_type", "imagine")
        body: dict[str, Any] = {"task_id": job.id, "task_type": task_type}
        if job.state == "queued":
            body["status"] = "pending"
        elif job.state == "running":
            body |= {"status": "processing", "percentage": str(job.progress)}
            if preview := self.preview_url(job):
                body["progress_image_url"] = preview
        elif job.state == "done" and job.kind == "describe":
            # As the doc's example: no status on a finished result, only its fields.
            numbered = [f"{n}\ufe0f\u20e3 {p}" for n, p in enumerate(job.extra["prompts"], start=1)]
            body |= {"image_url": job.extra["image_url"], "content": numbered}
        elif job.state == "done" and job.kind == "seed":
            body["seed"] = job.extra["seed"]
        elif job.state == "done" and job.kind == "video":
            # No status, as the doc's other finished examples; the clips in the field the SDK names.
            clips = [self.image_url(job, f"clip_{n}.mp4") for n in range(1, job.extra["clips"] + 1)]
            body |= {"video_urls": clips} if self.video_field == "video_urls" else {"videoUrl": clips[0]}
        elif job.state == "done":
            body["status"] = "finished"
            if job.kind == "upscale":
                body["image_url"] = self.result_url(job)
            else:
                grid, tiles = self.grid_urls(job)
                body |= {"original_image_url": grid, "image_urls": tiles}
        else:
            _, text = MJ_FAILURES.get(job.failure or "", ("", "Task failed"))
            body |= {"status": "failed", "message": text if job.state == "failed" else f"Task {job.state}"}
        return body

    def webhook_request(self, job: SimJob) -> tuple[Any, dict[str, str]]:
        headers = {"x-webhook-secret": job.webhook_secret} if job.webhook_secret else {}
        return self.job_body(job), headers
