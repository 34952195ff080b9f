"""useapi.net Midjourney v2 on loopback: ``/v2/jobs/imagine``, ``/v2/jobs/?jobid=``, ``/v2/jobs/button``.

What it keeps of the real service: Bearer auth; ``maxJobs`` per token (default 3) with 429 and
``executingJobs`` when full, and a Discord 429 without that list; 596 once the account is held for
moderation, until ``POST /v2/account/midjourney/<channel>/reset``; 422 "moderated" at submit; 409 for a
second press of the same U button, 400 for a button the parent does not offer, 404 for an unknown job;
the Discord-mirroring job object (progress only in ``content`` "(31%)", images in ``attachments``,
``buttons``, ``children``); callbacks to ``replyUrl`` with ``replyRef``.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, ClassVar

from aiohttp import web

from providersim._core import MJ_FAILURES, TOKEN, ErrorSpec, SimJob, SimServer, json_response, prompt_aspect

__all__ = ["UseApiSim"]

GRID_BUTTONS = ["U1", "U2", "U3", "U4", "\U0001f504", "V1", "V2", "V3", "V4"]
UPSCALE_BUTTONS = ["Upscale (Subtle)", "Upscale (Creative)", "Vary (Subtle)", "Vary (Strong)", "Vary (Region)",
                   "Zoom Out 2x", "Zoom Out 1.5x", "Custom Zoom", "\u2b05\ufe0f", "\u27a1\ufe0f", "\u2b06\ufe0f",
                   "\u2b07\ufe0f"]  # fmt: skip
# useapi's own default when neither the request nor the account sets maxJobs.
DEFAULT_MAX_JOBS = 3
MAX_PROMPT = 2048


def _hold(sim: SimServer) -> None:
    assert isinstance(sim, UseApiSim)
    sim.moderation = True


def _errors() -> dict[str, ErrorSpec]:
    errors = {
        "unauthorized": ErrorSpec(401, {"error": "Unauthorized", "code": 401}),
        "subscription_expired": ErrorSpec(402, {"error": "Account has no subscription or subscription expired",
                                                "code": 402}),
        "missing_value": ErrorSpec(400, {"error": "Required param prompt is missing", "code": 400}),
        "too_long": ErrorSpec(413, {"error": "Request entity too large: prompt", "code": 413}),
        "moderated": ErrorSpec(422, {"error": "Unable to find posted message, likely moderated or invalid prompt",
                                     "jobid": "moderated-job", "status": "moderated", "code": 422}),
        "discord_429": ErrorSpec(429, {"error": "Discord rate limit", "code": 429}, headers={"Retry-After": "1"}),
        "queue_full_429": ErrorSpec(429, {"error": "API query is full and can not accept new jobs/imagine requests",
                                          "executingJobs": ["other-1", "other-2", "other-3"], "code": 429}),
        "pending_moderation": ErrorSpec(596, {"error": "Pending mod message or CAPTCHA, account removed from rotation",
                                              "errorDetails": "Midjourney asked to acknowledge a moderation message",
                                              "code": 596}, sticky=_hold),
        "gateway_timeout": ErrorSpec(504, {"error": "Job queued, Midjourney did not confirm in time", "code": 504}),
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
        router.add_post("/v2/account/midjourney/{channel}/reset", self._reset)

    def reset(self) -> None:
        super().reset()
        self.moderation = False

    async def before_submit(self, request: web.Request, token: str, body: dict[str, Any]) -> web.Response | None:
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
            return json_response(413, {"error": f"Prompt is longer than {MAX_PROMPT}", "code": 413})
        if (refused := await self.before_submit(request, token, body)) is not None:
            return refused
        response, failure = self.forced_outcome()
        if response is not None:
            return response
        job = self.create_job(
            token, kind="grid", action="imagine", prompt=prompt, aspect=prompt_aspect(prompt),
            ref=body.get("replyRef"), webhook_url=body.get("replyUrl") or None, failure=failure,
        )  # fmt: skip
        job.extra |= {"verb": "imagine", "maxJobs": body.get("maxJobs", DEFAULT_MAX_JOBS)}
        return json_response(200, self.job_body(job, submitted=True))

    async def _button(self, request: web.Request) -> web.Response:
        token, body = request[TOKEN], await self.read_object(request)
        jobid, label = body.get("jobid"), body.get("button")
        if not isinstance(jobid, str) or not isinstance(label, str):
            return json_response(412, {"error": "jobid and button are required", "code": 412})
        parent = self.jobs.get(jobid)
        if parent is None:
            return json_response(404, {"error": f"Unable to locate jobid {jobid}", "code": 404})
        offered = UPSCALE_BUTTONS if parent.kind == "upscale" else GRID_BUTTONS
        if parent.state != "done" or label not in offered:
            return json_response(
                400, {"error": "Button not supported or not found in jobid buttons array", "code": 400}
            )
        if label in ("U1", "U2", "U3", "U4") and label in parent.children:
            return json_response(
                409, {"error": f"Upscale button already executed by jobid {parent.children[label]}",
                      "button": label, "jobid": parent.children[label], "code": 409},
            )  # fmt: skip
        if (refused := await self.before_submit(request, token, body)) is not None:
            return refused
        response, failure = self.forced_outcome()
        if response is not None:
            return response
        upscale = label in ("U1", "U2", "U3", "U4")
        job = self.create_job(
            token, kind="upscale" if upscale else "grid", action=label, prompt=parent.prompt, aspect=parent.aspect,
            parent=parent.id, index=int(label[1]) if upscale else None, ref=body.get("replyRef"),
            webhook_url=body.get("replyUrl") or None, failure=failure,
        )  # fmt: skip
        job.extra |= {"verb": "button", "maxJobs": body.get("maxJobs", DEFAULT_MAX_JOBS)}
        parent.children[label] = job.id
        return json_response(200, self.job_body(job, submitted=True))

    async def _job(self, request: web.Request) -> web.Response:
        jobid = request.query.get("jobid")
        if not jobid:
            return json_response(400, {"error": "Query param jobid not provided", "code": 400})
        job = self.jobs.get(jobid)
        if job is None:
            return json_response(404, {"error": f"Unable to locate job {jobid}", "code": 404})
        return json_response(200, self.job_body(job))

    async def _list(self, request: web.Request) -> web.Response:
        token = request[TOKEN]
        return json_response(200, [j.id for j in self.jobs.values() if j.token == token and not j.terminal])

    async def _cancel(self, request: web.Request) -> web.Response:
        job = self.jobs.get(request.query.get("jobid", ""))
        if job is None:
            return json_response(404, {"error": "Unable to locate job", "code": 404})
        if not job.terminal:
            self.finish(job, "cancelled")
        return json_response(200, {"jobid": job.id, "status": "cancelled", "code": 200})

    async def _reset(self, request: web.Request) -> web.Response:
        self.moderation = False
        return json_response(200, {"channel": request.match_info["channel"], "code": 200})

    # -- rendering -------------------------------------------------------------------------------

    def job_body(self, job: SimJob, *, submitted: bool = False) -> dict[str, Any]:
        status = {
            "queued": "started" if submitted else "created", "running": "progress", "done": "completed",
            "failed": "failed", "expired": "failed", "cancelled": "cancelled",
        }[job.state]  # fmt: skip
        if job.state == "queued" and not submitted and job.stage == 0:
            status = "started"
        head = f"**{job.prompt}** - <@1000000000000000001>"
        body: dict[str, Any] = {
            "jobid": job.id, "verb": job.extra.get("verb", "imagine"), "status": status, "created": _iso(job.created),
            "updated": _iso(job.updated), "prompt": job.prompt, "channel": "1100000000000000001",
            "server": "1100000000000000000", "maxJobs": job.extra.get("maxJobs", DEFAULT_MAX_JOBS),
            "messageId": f"msg-{job.id}", "timestamp": _iso(job.updated), "code": 200,
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
        if job.state == "queued":
            body["content"] = f"{head} (Waiting to start)"
        elif job.state == "running":
            body["content"] = f"{head} ({job.progress}%) (fast)"
            preview = self.preview_url(job)
            body["attachments"] = [_attachment(preview, "preview.webp")] if preview else []
        elif job.state == "done":
            body["content"] = f"{head} (fast)"
            body["attachments"] = [_attachment(self.result_url(job), "result.png")]
            body["buttons"] = UPSCALE_BUTTONS if job.kind == "upscale" else GRID_BUTTONS
        else:
            _, text = MJ_FAILURES.get(job.failure or "", ("", "Job failed"))
            if job.failure in ("banned_prompt", "blocked", "image_blocked"):
                body["status"] = "moderated"
            body["content"] = head
            body["error"] = text if job.state == "failed" else f"Job {job.state}"
        return body


def _attachment(url: str, filename: str) -> dict[str, Any]:
    return {
        "id": "1200000000000000000", "filename": filename, "content_type": "image/png", "size": 1,
        "width": 1024, "height": 1024, "url": url, "proxy_url": url,
    }  # fmt: skip
