"""The APIFrame (classic Midjourney API) adapter: one endpoint per action, ``/fetch`` to follow a task.

APIFrame offers no list of buttons: the adapter knows what each result type allows (a grid: U, V and
reroll; an upscale: vary, zoom, pan and the subtle/creative upscales) and maps each action to its
endpoint (``/upscale-1x``, ``/variations``, ``/reroll``, ``/upscale-alt``, ``/outpaint``, ``/pan``).
Callbacks carry ``x-webhook-secret``, which the receiver checks, but no correlation field; our job id
rides in the callback URL's query string instead.

Account options (``APIFRAME_OPTIONS`` / ``options`` in ``PROVIDER_ACCOUNTS``):

``auth_style``     ``"raw"`` (default, ``Authorization: <key>`` as the docs say) or ``"bearer"``.
``process_mode``   ``"fast"`` or ``"turbo"``; omitted unless set (newer docs dropped the field).
``poll_interval`` / ``max_poll_interval``  polling cadence in seconds.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode

import httpx

from bot.core.errors import ConfigError, ProviderError
from bot.core.models import (
    GRID_ACTIONS,
    Action,
    AnswerClass,
    ErrorReason,
    JobStatus,
    ProviderUpdate,
    SubmitOutcome,
    Verb,
)
from bot.core.providers._common import (
    REF_HEADER,
    UPSCALED_SET,
    HttpAdapter,
    compose_prompt,
    first_str,
    load_webhook_json,
    parse_progress,
    reason_from_text,
    sorted_actions,
    str_list,
    webhook_header_secret,
)
from bot.core.providers._masks import encode_mask, read_mask
from bot.core.providers.base import (
    Account,
    ActionRequest,
    BlendRequest,
    Capabilities,
    DescribeRequest,
    ImagineRequest,
    Submission,
)

__all__ = ["ApiFrameProvider"]

_WAITING = frozenset({"pending", "staged", "starting", "retry", "retrying", "queued"})
_DONE = frozenset({"finished", "completed", "done"})
# Any finished picture may be animated: /imagine-video takes its link as the first frame (mj-verbs.md §7.7).
# /inpaint takes an upscale-1x task only (§7.5), so Vary (Region) is offered here and on nothing else.
_UPSCALED = UPSCALED_SET | {Action.ANIMATE_HIGH, Action.ANIMATE_LOW, Action.VARY_REGION, Action.CUSTOM_ZOOM}
# An alternative upscale is a finished picture too, but it cannot be upscaled again, nor inpainted.
_ALT_UPSCALED = _UPSCALED - {Action.UPSCALE_SUBTLE, Action.UPSCALE_CREATIVE, Action.VARY_REGION}
_PAN = {Action.PAN_LEFT: "left", Action.PAN_RIGHT: "right", Action.PAN_UP: "up", Action.PAN_DOWN: "down"}
_ZOOM = {Action.ZOOM_OUT_2X: "2", Action.ZOOM_OUT_1_5X: "1.5"}
# The endpoints whose optional "prompt" acts as Remix's prompt (mj-verbs.md §7.6), and /inpaint's own (§7.5).
_REMIX_PATHS = frozenset({"/reroll", "/variations", "/pan", "/outpaint", "/inpaint"})
# /blend's shapes in APIFrame's words (mj-verbs.md §7.4), by the ratio the bot keeps.
_BLEND_DIMENSIONS = {"2:3": "portrait", "1:1": "square", "3:2": "landscape"}
# The keycap digit Midjourney puts before each described prompt ("1️⃣ …"), with or without the selector.
_KEYCAP = re.compile(r"^\s*[1-9]\ufe0f?\u20e3\s*")


class ApiFrameProvider(HttpAdapter):
    name = "apiframe"
    default_base_url = "https://api.apiframe.pro"
    capabilities = Capabilities(
        # Midjourney moderates its own output (and refuses prompts); a check of ours would only add cost.
        moderates_output=True,
        grid_actions=frozenset(GRID_ACTIONS),
        upscale_actions=_UPSCALED,
        webhooks=True,
        # Newer docs: "the final result and updates of this task will be posted".
        progress_webhooks=True,
        poll_interval=3.0,
        max_poll_interval=15.0,
        verbs=frozenset(
            {Verb.DESCRIBE, Verb.BLEND, Verb.SEED, Verb.ANIMATE, Verb.EXTEND, Verb.VARY_REGION}
            | {Verb.CUSTOM_ZOOM, Verb.REMIX}
        ),
    )
    # mj-verbs.md §7 (APIFrame v1). Describe, blend, seed, Animate, Extend, Vary (Region), Custom Zoom and Remix
    # are spoken. No cancel endpoint exists (§7.9);
    # the video result's shape is undocumented (video_urls vs videoUrl, §7.7, INFERRED): both are read.
    documented_verbs = {
        Verb.DESCRIBE: "POST /describe {image_url} (§7.1)",
        Verb.BLEND: "POST /blend {image_urls, dimension} (§7.4)",
        Verb.VARY_REGION: "POST /inpaint {parent_task_id, mask: base64 PNG, white = repaint (INFERRED), prompt?}"
        " (§7.5)",
        Verb.CUSTOM_ZOOM: "POST /outpaint {zoom_ratio in (1, 2]} (§7.6)",
        Verb.REMIX: "prompt on reroll/variations/pan/outpaint (§7.6)",
        Verb.ANIMATE: "POST /imagine-video {image_url, motion} (§7.7)",
        Verb.EXTEND: "POST /imagine-video-extend {parent_task_id, index} (§7.7)",
        Verb.SEED: "POST /seed {task_id}; the seed comes back as a string (§7.3)",
    }

    # Whether APIFrame has the task after each kind of answer to a submit endpoint (providers.md §4.2). It has
    # no way to list tasks by anything of ours (/fetch and /fetch-many need its task_id), so an unclear
    # answer is claimed only by a callback.
    submit_outcomes = {
        AnswerClass.ACCEPTED: SubmitOutcome.TAKEN,  # 200 {"task_id": …}
        AnswerClass.REFUSED: SubmitOutcome.NOT_TAKEN,  # {"errors": [{"msg"}]} on a 200: refused
        AnswerClass.INVALID: SubmitOutcome.NOT_TAKEN,  # 400 {"errors": [{"msg"}]}: the request was refused
        AnswerClass.RATE_LIMITED: SubmitOutcome.NOT_TAKEN,  # 429 (the SDK's RateLimitError): refused
        AnswerClass.AUTH: SubmitOutcome.NOT_TAKEN,  # 401 {} / 402 credits: refused before any task exists
        AnswerClass.ACCOUNT_HELD: SubmitOutcome.NOT_TAKEN,  # not an APIFrame answer; a hold refuses new work
        AnswerClass.QUEUED_WITH_ID: SubmitOutcome.TAKEN,  # not an APIFrame answer; an id means a task exists
        AnswerClass.SERVER_ERROR: SubmitOutcome.UNKNOWN,  # the documented 500 {} may follow a created task
        AnswerClass.GATEWAY_ERROR: SubmitOutcome.UNKNOWN,  # a proxy's 502/503/504 says nothing of the task
        AnswerClass.UNREADABLE: SubmitOutcome.UNKNOWN,  # a garbled 200 may well be an accepted task
        AnswerClass.NOT_SENT: SubmitOutcome.NOT_TAKEN,  # no connection was made
        AnswerClass.NO_ANSWER: SubmitOutcome.UNKNOWN,  # sent, then silence: the task may be running
    }

    def __init__(self, account: Account, http: httpx.AsyncClient) -> None:
        super().__init__(account, http)
        style = str(account.options.get("auth_style", "raw")).lower()
        if style not in ("raw", "bearer"):
            raise ConfigError(f"apiframe option auth_style must be 'raw' or 'bearer', not {style!r}.")
        self.auth_style = style

    def auth_headers(self) -> dict[str, str]:
        key = self.account.api_key
        return {"Authorization": f"Bearer {key}" if self.auth_style == "bearer" else key}

    def error_text(self, body: Any) -> str | None:
        if isinstance(body, dict) and isinstance(body.get("errors"), list):
            texts = [str(e["msg"]) for e in body["errors"] if isinstance(e, dict) and isinstance(e.get("msg"), str)]
            if texts:
                return "; ".join(texts)
        return super().error_text(body)

    def status_reason(self, status: int, body: Any, headers: httpx.Headers, text: str | None) -> ProviderError | None:
        if status in (400, 404) and text and "not found" in text.lower() and "task" in text.lower():
            return ProviderError(ErrorReason.LOST, f"apiframe answered {status}: {text[:200]}", status_code=status)
        if status == 400 and text and "parent task is not finished" in text.lower():
            return ProviderError(ErrorReason.BUTTON_NOT_FOUND, f"apiframe answered 400: {text[:200]}", status_code=400)
        if status == 400 and text and "needs an upscale" in text.lower():
            # An upscale's action (Vary (Region), zoom, pan) on a parent that is not such an upscale.
            return ProviderError(ErrorReason.BUTTON_NOT_FOUND, f"apiframe answered 400: {text[:200]}", status_code=400)
        return None

    def _webhook_fields(self, job_id: str, webhook_url: str | None) -> dict[str, str]:
        if not webhook_url:
            return {}
        joiner = "&" if "?" in webhook_url else "?"
        return {
            "webhook_url": f"{webhook_url}{joiner}{urlencode({'ref': job_id})}",
            "webhook_secret": webhook_header_secret(webhook_url),
        }

    async def imagine(self, request: ImagineRequest) -> Submission:
        body: dict[str, Any] = {"prompt": compose_prompt(request, with_aspect=False)}
        if request.aspect_ratio:
            body["aspect_ratio"] = request.aspect_ratio
        if "process_mode" in self.account.options:
            body["process_mode"] = str(self.account.options["process_mode"])
        body |= self._webhook_fields(request.job_id, request.webhook_url)
        return await self.submit("/imagine", body, lambda answer: self._submission(answer, "grid"))

    async def act(self, request: ActionRequest) -> Submission:
        if request.action in _VIDEO_ACTIONS or request.parent_provider_data.get("kind") in _VIDEO_KINDS:
            return await self._act_on_video(request)
        action = request.action
        body: dict[str, Any] = {"parent_task_id": request.parent_provider_job_id}
        if action.is_upscale:
            path, kind = "/upscale-1x", "upscale"
            body["index"] = str(action.tile)
        elif action.is_variation:
            path, kind = "/variations", "grid"
            body["index"] = str(action.tile)
        elif action is Action.REROLL:
            path, kind = "/reroll", "grid"
        elif action in (Action.VARY_STRONG, Action.VARY_SUBTLE):
            path, kind = "/variations", "grid"
            body["index"] = "strong" if action is Action.VARY_STRONG else "subtle"
        elif action in (Action.UPSCALE_SUBTLE, Action.UPSCALE_CREATIVE):
            path, kind = "/upscale-alt", "upscale-alt"
            body["type"] = "subtle" if action is Action.UPSCALE_SUBTLE else "creative"
        elif action in _ZOOM:
            path, kind = "/outpaint", "grid"
            body["zoom_ratio"] = _ZOOM[action]
        elif action is Action.CUSTOM_ZOOM:
            # Custom Zoom is /outpaint with any zoom_ratio in (1, 2], a string as the docs' "1.5" and "2" (§7.6).
            if request.zoom is None or not 1.0 < request.zoom <= 2.0:
                raise ProviderError(ErrorReason.INVALID_PARAMETER, "Custom Zoom takes a factor above 1 and up to 2")
            path, kind = "/outpaint", "grid"
            body["zoom_ratio"] = f"{request.zoom:g}"
        elif action in _PAN:
            path, kind = "/pan", "grid"
            body["direction"] = _PAN[action]
        elif action is Action.VARY_REGION:
            # /inpaint {parent_task_id (an upscale-1x task), mask, prompt?} → a grid (§7.5). ``mask`` is base64; a
            # data:image/png;base64, prefix is also accepted, so a PNG it is, sent bare. The colour is not stated
            # for v1: white = repaint, as APIFrame's v2 and every provider that names one say (INFERRED, §2.1).
            path, kind = "/inpaint", "grid"
            body["mask"] = encode_mask(read_mask(request.mask), "png")
        else:
            raise ProviderError(ErrorReason.UNSUPPORTED_ACTION, f"apiframe has no endpoint for {action.value}")
        if request.prompt is not None and path in _REMIX_PATHS:
            # Remix: "prompt" on these endpoints is the new prompt the result is made with (§7.6).
            body["prompt"] = request.prompt
        body |= self._webhook_fields(request.job_id, request.webhook_url)
        return await self.submit(path, body, lambda answer: self._submission(answer, kind))

    # -- the verbs beyond imagine (mj-verbs.md §7) ---------------------------------------------------

    async def blend(self, request: BlendRequest) -> Submission:
        body: dict[str, Any] = {
            "image_urls": list(request.image_urls),
            "dimension": _BLEND_DIMENSIONS.get(request.aspect_ratio, "square"),
        }
        body |= self._webhook_fields(request.job_id, request.webhook_url)
        return await self.submit("/blend", body, lambda answer: self._submission(answer, "grid"))

    async def describe_image(self, request: DescribeRequest) -> list[str]:
        data = await self._finished_task("/describe", {"image_url": request.image_url})
        content = data.get("content")
        texts = content if isinstance(content, list) else str(content or "").split("\n\n")
        return [_KEYCAP.sub("", t).strip() for t in texts if isinstance(t, str) and t.strip()]

    async def seed(self, provider_job_id: str, provider_data: Mapping[str, Any]) -> int:
        data = await self._finished_task("/seed", {"task_id": provider_job_id})
        # The seed comes back as a string ("993456789123" in the doc's example, past 32 bits: kept as is).
        raw = data.get("seed")
        if isinstance(raw, int | str) and str(raw).strip().isdigit():
            return int(str(raw).strip())
        raise self.protocol_error("seed task finished without a seed", data)

    async def _finished_task(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        """Submit a describe or seed task and poll /fetch until it has its result; the caller bounds the wait."""
        submitted = (await self.call("POST", path, json_body=body)).obj()
        task_id = first_str(submitted, "task_id", "taskId")
        if task_id is None:
            raise self.protocol_error("answer has no task_id", submitted)
        delay = self.capabilities.poll_interval
        while True:
            await asyncio.sleep(delay)
            delay = min(delay * 1.5, self.capabilities.max_poll_interval)
            data = (await self.call("POST", "/fetch", json_body={"task_id": task_id})).obj()
            status = str(data.get("status") or "").lower()
            if status in ("failed", "error"):
                text = first_str(data, "message", "error") or ""
                raise ProviderError(reason_from_text(text) or ErrorReason.PROVIDER_FAILED, f"apiframe: {text[:200]}")
            # Finished results lack a status in the doc's examples: their fields say they are done (P§4.4).
            if status in _DONE or "content" in data or "seed" in data:
                return data

    # -- video (mj-verbs.md §7.7) ---------------------------------------------------------------------

    async def _act_on_video(self, request: ActionRequest) -> Submission:
        """Animate an upscale (``/imagine-video``), pick a clip of a video task, extend a picked clip
        (``/imagine-video-extend``).

        APIFrame extends one clip of a video task, named by its ``index`` ("1"-"4"); it has no call that picks
        one. The bot's video follows Midjourney's (pick with U1-U4, then Extend the picked clip), so a pick is
        made here without asking APIFrame: a job of its own, finished at once, whose id names the task and
        the clip (``<task_id>#<n>``) and which Extend then sends as ``parent_task_id`` and ``index``.
        """
        action, parent = request.action, request.parent_provider_data.get("kind")
        motion = "high" if action in (Action.ANIMATE_HIGH, Action.EXTEND_HIGH) else "low"
        prompt = (request.prompt or request.parent_prompt).strip() or "animate"
        if action in (Action.ANIMATE_HIGH, Action.ANIMATE_LOW) and parent not in _VIDEO_KINDS:
            if not request.parent_image_urls:
                raise ProviderError(ErrorReason.BUTTON_NOT_FOUND, "the upscale has no image to animate")
            body: dict[str, Any] = {"prompt": prompt, "image_url": request.parent_image_urls[0], "motion": motion}
            body |= self._webhook_fields(request.job_id, request.webhook_url)
            return await self.submit("/imagine-video", body, lambda answer: self._submission(answer, "video"))
        if action.is_upscale and parent == "video":
            clip = action.tile or 1
            if clip > len(request.parent_image_urls):
                raise ProviderError(ErrorReason.BUTTON_NOT_FOUND, f"the video has no clip {clip}")
            update = ProviderUpdate(
                provider_job_id=f"{request.parent_provider_job_id}{_CLIP_MARK}{clip}", status=JobStatus.COMPLETED,
                progress=100, image_urls=(request.parent_image_urls[clip - 1],), actions=_EXTENDS,
            )  # fmt: skip
            data = {"kind": "clip", "task_id": request.parent_provider_job_id, "clip": clip}
            return Submission(provider_job_id=str(update.provider_job_id), provider_data=data, update=update)
        if action in (Action.EXTEND_HIGH, Action.EXTEND_LOW) and parent in _VIDEO_KINDS:
            task_id, _, picked = request.parent_provider_job_id.partition(_CLIP_MARK)
            # A video task of a single clip (the ``videoUrl`` shape) is extended without a pick: clip 1.
            body = {"parent_task_id": task_id, "index": picked or "1", "prompt": prompt, "motion": motion}
            body |= self._webhook_fields(request.job_id, request.webhook_url)
            return await self.submit("/imagine-video-extend", body, lambda answer: self._submission(answer, "video"))
        raise ProviderError(ErrorReason.UNSUPPORTED_ACTION, f"apiframe has no endpoint for {action.value} here")

    async def _poll_clip(self, provider_job_id: str, provider_data: Mapping[str, Any]) -> ProviderUpdate:
        """A picked clip: the clip of its video task (read again, so a restart needs nothing but the id)."""
        task_id, _, clip = provider_job_id.partition(_CLIP_MARK)
        answer = await self.call("POST", "/fetch", json_body={"task_id": task_id})
        video = self._update(answer.obj(), task_id, "video")
        index = int(clip) if clip.isdigit() else 1
        if video.status is not JobStatus.COMPLETED or not 1 <= index <= len(video.image_urls):
            return video.model_copy(update={"provider_job_id": provider_job_id})
        return ProviderUpdate(
            provider_job_id=provider_job_id, status=JobStatus.COMPLETED, progress=100,
            image_urls=(video.image_urls[index - 1],), actions=_EXTENDS,
        )  # fmt: skip

    def _submission(self, answer: Any, kind: str) -> Submission:
        data = answer.obj()
        # The reroll page's example names it taskId; old docs had integer ids.
        task_id = first_str(data, "task_id", "taskId")
        if task_id is None:
            if data.get("errors"):
                # A 200 that carries the documented error shape: a refusal, not an accepted task.
                error = self.http_error(answer)
                error.answer = AnswerClass.REFUSED
                raise error
            raise self.protocol_error("submit answer has no task_id", data)
        return Submission(provider_job_id=task_id, provider_data={"kind": kind})

    async def poll(self, provider_job_id: str, provider_data: Mapping[str, Any]) -> ProviderUpdate:
        if provider_data.get("kind") == "clip":
            return await self._poll_clip(provider_job_id, provider_data)
        answer = await self.call("POST", "/fetch", json_body={"task_id": provider_job_id})
        return self._update(answer.obj(), provider_job_id, provider_data.get("kind"))

    def parse_webhook(self, headers: Mapping[str, str], body: bytes) -> ProviderUpdate:
        data = load_webhook_json(body, self.name)
        task_id = first_str(data, "task_id", "taskId")
        ref = headers.get(REF_HEADER) or None
        if task_id is None and ref is None:
            raise self.protocol_error("callback has no task_id", data)
        return self._update(data, task_id, None).model_copy(update={"ref": ref})

    def _update(self, data: dict[str, Any], task_id: str | None, kind: object) -> ProviderUpdate:
        status = str(data.get("status") or "").lower()
        task_type = str(data.get("task_type") or "")
        if not isinstance(kind, str):
            kind = _kind_of(task_type)
        grid = first_str(data, "original_image_url")
        images = str_list(data.get("image_urls"))[:4]
        single = first_str(data, "image_url")
        has_result = bool(grid or images or single)
        video = _video_update(data, task_id, kind, status)
        if video is not None:
            return video
        if status == "failed" or (status in ("error", "cancelled")):
            text = first_str(data, "message", "error") or ""
            reason = reason_from_text(text) or ErrorReason.PROVIDER_FAILED
            return ProviderUpdate(
                provider_job_id=task_id, status=reason.status, error=reason,
                error_detail=f"apiframe: {text[:200] or 'failed'}",
            )  # fmt: skip
        if status in _DONE or (has_result and status not in _WAITING and status != "processing"):
            if not has_result:
                return ProviderUpdate(
                    provider_job_id=task_id, status=JobStatus.FAILED, error=ErrorReason.PROVIDER_FAILED,
                    error_detail=f"apiframe: {status} without an image",
                )  # fmt: skip
            if kind in ("upscale", "upscale-alt") or (single and not grid and not images):
                actions = _ALT_UPSCALED if kind == "upscale-alt" else _UPSCALED
                return ProviderUpdate(
                    provider_job_id=task_id, status=JobStatus.COMPLETED, progress=100,
                    image_urls=((single or grid or images[0]),), actions=sorted_actions(actions),
                )  # fmt: skip
            return ProviderUpdate(
                provider_job_id=task_id, status=JobStatus.COMPLETED, progress=100, grid_url=grid or single,
                image_urls=images, actions=sorted_actions(GRID_ACTIONS),
            )  # fmt: skip
        if status == "processing":
            progress = parse_progress(data.get("percentage"))
            return ProviderUpdate(
                provider_job_id=task_id,
                status=JobStatus.RUNNING,
                progress=min(progress, 99) if progress is not None else None,
                # Not in APIFrame's docs; read if a deployment ever sends one (GoAPI's task API has them).
                preview_url=first_str(data, "progress_image_url")
                or (str_list(data.get("intermediate_image_urls")) or (None,))[-1],
            )
        if status in _WAITING:
            return ProviderUpdate(provider_job_id=task_id, status=JobStatus.SUBMITTED, progress=0)
        raise self.protocol_error("task has an unknown status", {"status": data.get("status")})


_VIDEO_ACTIONS = frozenset({Action.ANIMATE_HIGH, Action.ANIMATE_LOW, Action.EXTEND_HIGH, Action.EXTEND_LOW})
_VIDEO_KINDS = frozenset({"video", "clip"})
_EXTENDS = (Action.EXTEND_HIGH, Action.EXTEND_LOW)
# Joins a video task's id and a clip's number in the id of a picked clip: never in APIFrame's UUIDs.
_CLIP_MARK = "#"


def _video_update(data: dict[str, Any], task_id: str | None, kind: object, status: str) -> ProviderUpdate | None:
    """A finished video task: its clips from ``video_urls`` (a look-alike's documented shape) or ``videoUrl``
    (the SDK's), neither documented by APIFrame (mj-verbs.md §7.7, §14.5). Four clips are picked from with
    U1-U4; a single one is extended as it is. None for anything that is not a finished video."""
    clips = str_list(data.get("video_urls"))[:4] or [u for u in (first_str(data, "videoUrl", "video_url"),) if u]
    task_type = str(data.get("task_type") or "")
    is_video = kind in _VIDEO_KINDS or task_type.startswith("imagine-video")
    if status in ("failed", "error", "cancelled") or status in _WAITING or status == "processing":
        return None
    if not clips:
        if is_video and (status in _DONE or bool(first_str(data, "original_image_url", "image_url"))):
            return ProviderUpdate(
                provider_job_id=task_id, status=JobStatus.FAILED, error=ErrorReason.PROVIDER_FAILED,
                error_detail="apiframe: the video task finished without a clip",
            )  # fmt: skip
        return None
    actions = (Action.U1, Action.U2, Action.U3, Action.U4)[: len(clips)] if len(clips) > 1 else _EXTENDS
    return ProviderUpdate(
        provider_job_id=task_id, status=JobStatus.COMPLETED, progress=100, image_urls=tuple(clips), actions=actions
    )


def _kind_of(task_type: str) -> str:
    if task_type.startswith("upscale-") and task_type != "upscale-highres":
        return "upscale-alt"
    if task_type.startswith("upscale"):
        return "upscale"
    return "grid"
