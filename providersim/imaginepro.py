"""ImaginePro on loopback, both path generations.

``/api/v1/nova/{imagine,button}`` with ``/api/v1/message/fetch/{id}``, and the legacy
``/api/v1/midjourney/{imagine,button}`` with ``/api/v1/midjourney/message/{id}``. Bearer auth;
submits answer ``{success, messageId, createdAt}`` or a non-2xx ``{success: false, error}``; the message
goes QUEUED → PROCESSING (progress a number, or a string with ``string_progress=True``) → DONE (``uri``,
``originalUrl``, ``buttons``) or FAIL (``error``); button results carry ``originatingMessageId``.
The ``Cancel Job`` button, while progress < 100, answers ``{success, createdAt}`` without a messageId
and ends the job FAIL ("Job cancelled"). Callbacks post the message object to ``webhookOverride``.
``Vary (Region)`` on an upscale (mj-verbs.md §6.1) requires ``mask`` (base64 without a prefix, black with
the region white; WebP as in the docs' example or PNG; 400 when missing or unreadable) and takes an
optional ``prompt``; a mask not the size of the upscale is taken and ends FAIL "Invalid mask" (§13).
"""

from __future__ import annotations

import datetime as dt
from typing import Any, ClassVar

from aiohttp import web
from PIL import Image

from providersim._core import MJ_FAILURES, TOKEN, ErrorSpec, SimJob, SimServer, json_response, prompt_aspect
from providersim._images import decode_mask

__all__ = ["ImagineProSim"]

GRID_BUTTONS = ["U1", "U2", "U3", "U4", "\U0001f504", "V1", "V2", "V3", "V4"]
UPSCALE_BUTTONS = ["Zoom Out 2x", "Zoom Out 1.5x", "Vary (Strong)", "Vary (Subtle)", "Vary (Region)",
                   "\u2b05\ufe0f", "\u27a1\ufe0f", "\u2b06\ufe0f", "\u2b07\ufe0f", "Make Square",
                   "Upscale (Subtle)", "Upscale (Creative)"]  # fmt: skip
# The one button pressed on a running job rather than a finished one (P§3.4).
CANCEL_BUTTON = "Cancel Job"
# Vary (Region)'s mask: the docs' example is a WebP, their words name no format (mj-verbs.md §14 item 1).
MASK_FORMATS = frozenset({"WEBP", "PNG"})


def _errors() -> dict[str, ErrorSpec]:
    errors = {
        "unauthorized": ErrorSpec(401, {"success": False, "error": "Unauthorized: invalid token"}),
        "no_credits": ErrorSpec(402, {"success": False, "error": "Insufficient credits, please subscribe"}),
        "invalid_parameter_submit": ErrorSpec(400, {"success": False, "error": "Invalid parameter: --v 99"}),
        "banned_prompt_submit": ErrorSpec(400, {"success": False, "error": "Banned prompt detected"}),
        "rate_limited": ErrorSpec(429, {"success": False, "error": "Too many requests"}, headers={"Retry-After": "1"}),
        "server_error": ErrorSpec(500, {"success": False, "error": "Internal server error"}),
        "no_fast_hours_submit": ErrorSpec(400, {"success": False, "error": "You've run out of fast hours"}),
        "private_mode_submit": ErrorSpec(
            403, {"success": False, "error": "Private mode is not available on your plan"}
        ),
    }
    errors |= {name: ErrorSpec(job_failure=name) for name in MJ_FAILURES}
    return errors


def _iso(moment: float) -> str:
    return dt.datetime.fromtimestamp(moment, dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _accepted(job: SimJob) -> web.Response:
    """The submit answer of imagine and of every button but ``Cancel Job`` (P§3.2)."""
    return json_response(200, {"success": True, "messageId": job.id, "createdAt": _iso(job.created)})


class ImagineProSim(SimServer):
    name = "imaginepro"
    api_prefix = ""
    # No progress image is documented; with previews on, ``uri`` shows one while PROCESSING.
    documented_previews = False
    errors: ClassVar[dict[str, ErrorSpec]] = _errors()

    def __init__(self, *, string_progress: bool = False, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.string_progress = string_progress

    def add_routes(self, router: web.UrlDispatcher) -> None:
        for prefix in ("/api/v1/nova", "/api/v1/midjourney"):
            router.add_post(f"{prefix}/imagine", self._imagine)
            router.add_post(f"{prefix}/button", self._button)
        router.add_get("/api/v1/message/fetch/{id}", self._message)
        router.add_get("/api/v1/midjourney/message/{id}", self._message)

    def unauthorized(self) -> web.Response:
        return json_response(401, {"success": False, "error": "Unauthorized"})

    def server_error(self) -> web.Response:
        return json_response(500, {"success": False, "error": "Internal server error"})

    async def _imagine(self, request: web.Request) -> web.Response:
        token, body = request[TOKEN], await self.read_object(request)
        prompt = body.get("prompt")
        if not isinstance(prompt, str) or not prompt.strip():
            return json_response(400, {"success": False, "error": "prompt is required"})
        forced = self.forced_outcome()
        if forced.refusal is not None:
            return forced.refusal
        job = self.create_job(
            token, kind="grid", action="imagine", prompt=prompt, aspect=prompt_aspect(prompt),
            ref=body.get("ref") or None, webhook_url=body.get("webhookOverride") or None, failure=forced.failure,
        )  # fmt: skip
        return forced.reply(job, _accepted(job))

    async def _button(self, request: web.Request) -> web.Response:
        token, body = request[TOKEN], await self.read_object(request)
        message_id, label = body.get("messageId"), body.get("button")
        if not isinstance(message_id, str) or not isinstance(label, str):
            return json_response(400, {"success": False, "error": "messageId and button are required"})
        parent = self.jobs.get(message_id)
        if parent is None:
            return json_response(404, {"success": False, "error": "Message not found"})
        if label == CANCEL_BUTTON:
            return self._cancel(parent)
        offered = UPSCALE_BUTTONS if parent.kind == "upscale" else GRID_BUTTONS
        if parent.state != "done" or label not in offered:
            return json_response(400, {"success": False, "error": "Button not found in the message's buttons"})
        prompt, mask = parent.prompt, None
        if label == "Vary (Region)":
            # mask (required): base64, black background, the region white (§6.1). The words name no format and
            # the example is a WebP: both WebP and PNG are read. Refusals are not documented: the 400 shape.
            mask = decode_mask(body.get("mask"), formats=MASK_FORMATS, data_uri=False)
            if mask == "missing":
                return json_response(400, {"success": False, "error": "mask is required for Vary (Region)"})
            if isinstance(mask, str):
                return json_response(
                    400, {"success": False, "error": f"mask must be a base64 encoded WebP or PNG image ({mask})"}
                )
            if isinstance(body.get("prompt"), str) and body["prompt"].strip():
                prompt = body["prompt"]  # optional, "useful for the inpainting area"
        forced = self.forced_outcome()
        if forced.refusal is not None:
            return forced.refusal
        failure = forced.failure
        if label in ("U1", "U2", "U3", "U4") and label in parent.children:
            failure = failure or "already_requested_upscale"
        upscale = label in ("U1", "U2", "U3", "U4")
        if isinstance(mask, Image.Image) and mask.size != await self.image_size(parent, "upscale.png"):
            failure = failure or "invalid_mask"  # taken, then failed by Midjourney (mj-verbs.md §13)
        job = self.create_job(
            token, kind="upscale" if upscale else "grid", action=label, prompt=prompt, aspect=parent.aspect,
            parent=parent.id, index=int(label[1]) if upscale else None, ref=body.get("ref") or None,
            webhook_url=body.get("webhookOverride") or None, failure=failure,
        )  # fmt: skip
        if isinstance(mask, Image.Image):
            job.extra["mask"] = mask
        parent.children.setdefault(label, job.id)
        return forced.reply(job, _accepted(job))

    def _cancel(self, job: SimJob) -> web.Response:
        """``Cancel Job`` (P§3.4, mj-verbs §6.2): only while progress < 100; the job then shows FAIL and its
        webhook is told. The answer names no new message: no job is created."""
        if job.terminal or job.progress >= 100:
            return json_response(
                400, {"success": False, "error": "Cancel Job is only valid while the job is in progress"}
            )
        self.finish(job, "cancelled")
        return json_response(200, {"success": True, "createdAt": _iso(job.updated)})

    async def _message(self, request: web.Request) -> web.Response:
        job = self.jobs.get(request.match_info["id"])
        if job is None:
            return json_response(404, {"success": False, "error": "Message not found"})
        return json_response(200, self.job_body(job))

    def job_body(self, job: SimJob) -> dict[str, Any]:
        status = {"queued": "QUEUED", "running": "PROCESSING", "done": "DONE"}.get(job.state, "FAIL")
        progress: Any = job.progress
        if self.string_progress:
            progress = str(progress)
        body: dict[str, Any] = {
            "messageId": job.id, "prompt": job.prompt, "progress": progress, "status": status,
            "createdAt": _iso(job.created), "updatedAt": _iso(job.updated), "ref": job.ref or "",
        }  # fmt: skip
        if job.parent:
            body["originatingMessageId"] = job.parent
        if job.state == "done":
            url = self.result_url(job)
            body |= {
                "uri": url, "originalUrl": url,
                "buttons": UPSCALE_BUTTONS if job.kind == "upscale" else GRID_BUTTONS,
            }  # fmt: skip
        elif job.state == "running" and (preview := self.preview_url(job)):
            body["uri"] = preview
        elif status == "FAIL":
            _, text = MJ_FAILURES.get(job.failure or "", ("", "Job failed"))
            body["error"] = text if job.state == "failed" else f"Job {job.state}"
        return body
