"""TheNextLeg v2 on loopback: ``/v2/imagine``, ``/v2/message/<id>``, ``/v2/button``, ``/getImage``.

What it keeps of the real service: Bearer or ``?authToken=`` auth; one request per 3 s per token
(sliding window, 429 beyond it); the banned-word prefilter's 400 "Invalid phrase"; finished messages
flat, as the docs show them (``nested_message=True`` nests them under ``response``, as the SDKs and
every real client read them); progress numbers with
``progressImageUrl``, ``"incomplete"`` after expiry; Midjourney's refusals as a finished message
whose ``content`` is a code and which has no ``imageUrl``; ``ALREADY_REQUESTED_UPSCALE`` for a second
press of the same U button; completion webhooks (the ``response`` object) to ``webhookOverride``.
"""

from __future__ import annotations

import datetime as dt
import time
from typing import Any, ClassVar

from aiohttp import web

from providersim._core import MJ_FAILURES, TOKEN, ErrorSpec, SimJob, SimServer, json_response, prompt_aspect

__all__ = ["TheNextLegSim"]

GRID_BUTTONS = ["U1", "U2", "U3", "U4", "\U0001f504", "V1", "V2", "V3", "V4"]
UPSCALE_BUTTONS = ["Vary (Strong)", "Vary (Subtle)", "Zoom Out 2x", "Zoom Out 1.5x", "Custom Zoom",
                   "\u2b05\ufe0f", "\u27a1\ufe0f", "\u2b06\ufe0f", "\u2b07\ufe0f", "Make Square"]  # fmt: skip


def _errors() -> dict[str, ErrorSpec]:
    errors = {
        "invalid_phrase": ErrorSpec(400, {"success": False, "msg": "Invalid phrase: 'forbidden'"}),
        "unauthorized": ErrorSpec(401, {"success": False, "msg": "Unauthorized"}),
        "rate_limited": ErrorSpec(429, {"success": False, "msg": "Too many requests"}, headers={"Retry-After": "1"}),
        "server_error": ErrorSpec(500, {"success": False, "msg": "Internal server error"}),
        "job_queued": ErrorSpec(job_failure="job_queued"),
    }
    errors |= {name: ErrorSpec(job_failure=name) for name in MJ_FAILURES}
    return errors


def _iso(moment: float) -> str:
    return dt.datetime.fromtimestamp(moment, dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class TheNextLegSim(SimServer):
    name = "thenextleg"
    api_prefix = "/v2"
    errors: ClassVar[dict[str, ErrorSpec]] = _errors()

    def __init__(self, *, rate_limit_seconds: float = 3.0, nested_message: bool = False, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.rate_limit_seconds = rate_limit_seconds
        # The docs show the finished message flat; the SDK types nest it under "response" (P§1.4).
        self.nested_message = nested_message
        self._last_request: dict[str, float] = {}
        self.button_ids: dict[str, str] = {}  # buttonMessageId → job id

    def add_routes(self, router: web.UrlDispatcher) -> None:
        for method in ("POST", "GET"):
            router.add_route(method, "/v2/imagine", self._imagine)
            router.add_route(method, "/v2/button", self._button)
        router.add_get("/v2/message/{id}", self._message)
        router.add_post("/getImage", self._get_image)

    def authenticate(self, request: web.Request) -> str | None:
        token = super().authenticate(request)
        if token is None:
            query_token = request.query.get("authToken", "")
            token = query_token if query_token in self.api_keys else None
        return token

    def unauthorized(self) -> web.Response:
        return json_response(401, {"success": False, "msg": "Unauthorized"})

    def server_error(self) -> web.Response:
        return json_response(500, {"success": False, "msg": "Internal server error"})

    def _throttled(self, token: str) -> web.Response | None:
        if self.rate_limit_seconds <= 0:
            return None
        now = time.monotonic()
        wait = self._last_request.get(token, -1e9) + self.rate_limit_seconds - now
        if wait > 0:
            return json_response(
                429, {"success": False, "msg": "Too many requests: one request every 3 seconds"},
                headers={"Retry-After": f"{wait:.2f}"},
            )  # fmt: skip
        self._last_request[token] = now
        return None

    async def _imagine(self, request: web.Request) -> web.Response:
        token = request[TOKEN]
        if (refused := self._throttled(token)) is not None:
            return refused
        body = await self.read_object(request)
        # The stage docs' img2img example names the prompt "cmd"; accept it as the service must have.
        prompt = body.get("msg") or body.get("cmd")
        if not isinstance(prompt, str) or not prompt.strip():
            return json_response(400, {"success": False, "msg": "msg is required"})
        if str(body.get("ignorePrefilter", "false")).lower() != "true":
            for word in self.faults.banned_words:
                if word.lower() in prompt.lower():
                    return json_response(400, {"success": False, "msg": f"Invalid phrase: '{word}'"})
        forced = self.forced_outcome()
        if forced.refusal is not None:
            return forced.refusal
        job = self.create_job(
            token, kind="grid", action="imagine", prompt=prompt, aspect=prompt_aspect(prompt),
            ref=_ref(body.get("ref")), webhook_url=body.get("webhookOverride") or None, failure=forced.failure,
        )  # fmt: skip
        return forced.reply(job, self._accepted(job))

    async def _button(self, request: web.Request) -> web.Response:
        token = request[TOKEN]
        if (refused := self._throttled(token)) is not None:
            return refused
        body = await self.read_object(request)
        label, button_message_id = body.get("button"), body.get("buttonMessageId")
        if not isinstance(label, str) or not isinstance(button_message_id, str):
            return json_response(400, {"success": False, "msg": "button and buttonMessageId are required"})
        parent = self.jobs.get(self.button_ids.get(button_message_id, ""))
        forced = self.forced_outcome()
        if forced.refusal is not None:
            return forced.refusal
        failure = forced.failure
        offered = (UPSCALE_BUTTONS if parent.kind == "upscale" else GRID_BUTTONS) if parent else []
        if parent is None or parent.state != "done" or label not in offered:
            failure = failure or "button_not_found"
        elif label in parent.children and label.startswith("U"):
            failure = failure or "already_requested_upscale"
        upscale = label in ("U1", "U2", "U3", "U4")
        job = self.create_job(
            token, kind="upscale" if upscale else "grid", action=label,
            prompt=parent.prompt if parent else "", aspect=parent.aspect if parent else "1:1",
            parent=parent.id if parent else None, index=int(label[1]) if upscale else None,
            ref=_ref(body.get("ref")), webhook_url=body.get("webhookOverride") or None, failure=failure,
        )  # fmt: skip
        if parent is not None and failure is None:
            parent.children[label] = job.id
        return forced.reply(job, self._accepted(job))

    @staticmethod
    def _accepted(job: SimJob) -> web.Response:
        """The common submit answer (P§1.2)."""
        return json_response(200, {"success": True, "messageId": job.id, "createdAt": _iso(job.created)})

    async def _message(self, request: web.Request) -> web.Response:
        token = request[TOKEN]
        if (refused := self._throttled(token)) is not None:
            return refused
        job = self.jobs.get(request.match_info["id"])
        if job is None:
            return json_response(404, {"success": False, "msg": "Message not found"})
        return json_response(200, self.job_body(job))

    async def _get_image(self, request: web.Request) -> web.Response:
        if not request.get(TOKEN):
            return self.unauthorized()
        body = await self.read_object(request)
        url = body.get("imgUrl")
        prefix = f"{self.public_url}/images/"
        if not isinstance(url, str) or not url.startswith(prefix):
            return json_response(400, {"success": False, "msg": "imgUrl is not a Midjourney image"})
        job_id, _, name = url[len(prefix) :].partition("/")
        job = self.jobs.get(job_id)
        data = await self.image_bytes(job, name) if job else None
        if data is None:
            return json_response(404, {"success": False, "msg": "image not found"})
        return web.Response(body=data, content_type="image/png")

    # -- rendering -------------------------------------------------------------------------------

    def _result(self, job: SimJob) -> dict[str, Any]:
        button_message_id = job.extra.get("buttonMessageId")
        result: dict[str, Any] = {
            "createdAt": _iso(job.created),
            "responseAt": _iso(job.updated),
            "originatingMessageId": job.id,
            "ref": job.ref or "",
            "type": "imagine" if job.action == "imagine" else "button",
        }
        if job.state == "failed":
            code, _ = MJ_FAILURES.get(job.failure or "", ("JOB_QUEUED", ""))
            result |= {"content": code, "buttons": [], "imageUrl": None, "imageUrls": None}
            return result
        if button_message_id is None:
            button_message_id = job.extra["buttonMessageId"] = self.new_id()
            self.button_ids[button_message_id] = job.id
        if job.kind == "upscale":
            result |= {"imageUrl": self.result_url(job), "buttons": UPSCALE_BUTTONS}
        else:
            grid, tiles = self.grid_urls(job)
            result |= {"imageUrl": grid, "imageUrls": tiles, "buttons": GRID_BUTTONS}
        result |= {"buttonMessageId": button_message_id, "content": job.prompt}
        return result

    def job_body(self, job: SimJob) -> dict[str, Any]:
        if job.state == "expired":
            return {"progress": "incomplete"}
        if job.state in ("done", "failed"):
            result = self._result(job)
            return {"progress": 100, "response": result} if self.nested_message else {"progress": 100, **result}
        return {"progress": job.progress, "progressImageUrl": self.preview_url(job)}

    def webhook_request(self, job: SimJob) -> tuple[Any, dict[str, str]]:
        if job.state == "expired":
            return {"originatingMessageId": job.id, "ref": job.ref or "", "progress": "incomplete"}, {}
        if not job.terminal:
            progress = {"progress": job.progress, "progressImageUrl": self.preview_url(job)}
            return {"originatingMessageId": job.id, "ref": job.ref or "", **progress}, {}
        return self._result(job), {}


def _ref(value: Any) -> str | None:
    # One app sends an object; the docs say string. Keep what a string can hold.
    if value is None or value == "":
        return None
    return value if isinstance(value, str) else str(value)
