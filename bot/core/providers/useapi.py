"""The useapi.net Midjourney v2 adapter: ``/jobs/imagine``, ``/jobs/?jobid=``, ``/jobs/button``.

useapi drives a Discord account of the operator's: its job object mirrors the Discord message, so the
progress percentage is read out of ``content`` ("(31%)") and the images out of ``attachments``. Its
own limit is ``maxJobs`` per Discord account: a full account answers 429 with ``executingJobs``,
while a 429 without that list is Discord throttling. 596 means Midjourney put the account on hold
(a pending moderation message or a CAPTCHA); the engine pauses the account until a moderator resets it.

Account options (``USEAPI_OPTIONS`` / ``options`` in ``PROVIDER_ACCOUNTS``):

``discord``, ``server``, ``channel``  which configured Discord account and channel to use (strings);
                                       without them useapi picks any configured account.
``poll_interval`` / ``max_poll_interval``  polling cadence in seconds (useapi itself polls Discord
                                       only every 15–60 s, so the defaults are slow).

The account's ``max_jobs`` is sent as ``maxJobs`` (3 for Basic/Standard plans, up to 15 for Pro/Mega).
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Mapping
from typing import Any

import httpx

from bot.core.errors import ProviderError
from bot.core.models import Action, AnswerClass, ErrorReason, JobStatus, ProviderUpdate, SubmitOutcome, Verb
from bot.core.providers._common import (
    DEFAULT_QUEUE_FULL_WAIT_S,
    GRID_SET,
    UPSCALED_SET,
    HttpAdapter,
    actions_from_labels,
    button_label,
    compose_prompt,
    first_str,
    load_webhook_json,
    member_detail,
    parse_progress,
    reason_from_text,
)
from bot.core.providers._masks import encode_mask, read_mask
from bot.core.providers.base import (
    ActionRequest,
    BlendRequest,
    Capabilities,
    DescribeRequest,
    ImagineRequest,
    Submission,
    retry_after_seconds,
)

__all__ = ["UseApiProvider"]

# useapi refuses maxJobs outside 1-15 (15 is the Pro/Mega plans' concurrency).
MAX_JOBS_LIMIT = 15
# useapi's Midjourney account status codes.
STATUS_PENDING_MODERATION = 596
# useapi's advice after a Discord-side 429 (no executingJobs): wait at least 10 s, at most 30 s.
DISCORD_THROTTLE_WAIT_S = 10.0
# Executing jobs read one by one when looking for our ref; an account runs at most 15 at once.
MAX_REF_LOOKUPS = 30
# What a 422 says when it is about the request rather than the prompt's content (the second documented form).
_INVALID_PARAMETER_WORDS = ("invalid parameter", "unrecognized parameter", "unrecognised parameter")
# What a 422 says when Midjourney's moderation refused the prompt.
_MODERATION_WORDS = ("action needed", "moderat", "banned", "blocked", "invalid prompt", "invalid phrase")
_WAITING = frozenset({"created", "started"})
# /blend's shapes in useapi's words (mj-verbs.md §4.2), by the ratio the bot keeps.
_BLEND_DIMENSIONS = {"2:3": "Portrait", "1:1": "Square", "3:2": "Landscape"}
# The keycap digits Midjourney numbers /describe's prompts with ("1️⃣ …"), with or without the selector.
_KEYCAP = re.compile(r"^\s*[1-9]\ufe0f?\u20e3\s*")
# Where the seed sits in a finished seed_async job's text: not shown in useapi's pages (mj-verbs.md §4.5,
# INFERRED), so any "seed" followed by a 32-bit number is read, in content or an embed.
_SEED = re.compile(r"seed\D{0,20}?(\d{1,10})\b", re.IGNORECASE)
_ZOOM_PARAM = re.compile(r"(?:(?<=\s)|^)--zoom\s+\S+", re.IGNORECASE)
_TERMINAL_FAILURES = {
    "failed": ErrorReason.PROVIDER_FAILED,
    "moderated": ErrorReason.BANNED_PROMPT,
    "cancelled": ErrorReason.PROVIDER_FAILED,
}


class UseApiProvider(HttpAdapter):
    name = "useapi"
    default_base_url = "https://api.useapi.net/v2"
    capabilities = Capabilities(
        # Midjourney moderates its own output (and refuses prompts); a check of ours would only add cost.
        moderates_output=True,
        grid_actions=GRID_SET,
        upscale_actions=UPSCALED_SET,
        webhooks=True,
        # useapi refreshes a job from Discord every 15-60 s; polling faster only spends requests.
        poll_interval=10.0,
        max_poll_interval=30.0,
        # cdn.midjourney.com links embed a job GUID traceable to the operator's account: never posted (§4.4).
        shareable_links=False,
        verbs=frozenset(
            {Verb.DESCRIBE, Verb.BLEND, Verb.SEED, Verb.CANCEL, Verb.REMIX, Verb.CUSTOM_ZOOM}
            | {Verb.ANIMATE, Verb.EXTEND}
            | {Verb.VARY_REGION}
        ),
    )
    # Everything mj-verbs.md §4 documents for v2, and all of it is spoken (v3, §5, is not this adapter's).
    documented_verbs = {
        Verb.DESCRIBE: "POST /v2/jobs/describe {describeUrl}; prompts in embeds[0].description (§4.1)",
        Verb.BLEND: "POST /v2/jobs/blend {blendUrls, blendDimensions} (§4.2)",
        Verb.VARY_REGION: "button 'Vary (Region)' + mask, base64 B/W PNG, white = repaint (§4.3; format"
        " INFERRED, §2.1)",
        Verb.CUSTOM_ZOOM: "button 'Custom Zoom' + prompt with --zoom (§4.3; the --zoom placement INFERRED)",
        Verb.REMIX: "prompt on V1-V4, Vary, pans, 🔄 with Remix on (§4.3)",
        Verb.ANIMATE: "buttons 'Animate (High/Low motion)' on an upscale (§4.4)",
        Verb.EXTEND: "buttons 'Extend (High/Low motion)' on a selected clip (§4.4)",
        Verb.SEED: "POST /v2/jobs/seed_async {jobid}; where the seed sits is INFERRED (§4.5)",
        Verb.CANCEL: "GET /v2/jobs/cancel/?jobid= (§4.6; whether Midjourney stops is not stated)",
    }

    finds_by_ref = True
    # Whether useapi has the job after each kind of answer to /jobs/imagine or /jobs/button (providers.md §2.2,
    # §2.3). Its own errors carry {"error", "code"} JSON; a gateway's do not.
    submit_outcomes = {
        AnswerClass.ACCEPTED: SubmitOutcome.TAKEN,  # 200 with the new jobid
        AnswerClass.REFUSED: SubmitOutcome.NOT_TAKEN,  # not a useapi answer; an explicit refusal takes nothing
        AnswerClass.INVALID: SubmitOutcome.NOT_TAKEN,  # 400/412/413 refused, 409 already executed, 422 moderated
        AnswerClass.RATE_LIMITED: SubmitOutcome.NOT_TAKEN,  # 429: the queue is full or Discord said slow down
        AnswerClass.AUTH: SubmitOutcome.NOT_TAKEN,  # 401/402: refused before anything reached Discord
        AnswerClass.ACCOUNT_HELD: SubmitOutcome.NOT_TAKEN,  # 596: the account left rotation, nothing was posted
        AnswerClass.QUEUED_WITH_ID: SubmitOutcome.TAKEN,  # 504 "Job queued" with its jobid: Midjourney has it
        AnswerClass.SERVER_ERROR: SubmitOutcome.UNKNOWN,  # a 5xx of useapi's own after the prompt may be posted
        AnswerClass.GATEWAY_ERROR: SubmitOutcome.UNKNOWN,  # a proxy's 502/503/504 says nothing of the job
        AnswerClass.UNREADABLE: SubmitOutcome.UNKNOWN,  # a garbled 200 may well be an accepted job
        AnswerClass.NOT_SENT: SubmitOutcome.NOT_TAKEN,  # no connection was made
        AnswerClass.NO_ANSWER: SubmitOutcome.UNKNOWN,  # sent, then silence: the job may be in Discord already
    }

    def status_reason(self, status: int, body: Any, headers: httpx.Headers, text: str | None) -> ProviderError | None:
        detail = f"useapi answered {status}" + (f": {text[:200]}" if text else "")
        if status == STATUS_PENDING_MODERATION:
            return ProviderError(
                ErrorReason.PENDING_MODERATION, detail, status_code=status, answer=AnswerClass.ACCOUNT_HELD
            )
        if status == 429:
            if isinstance(body, dict) and isinstance(body.get("executingJobs"), list):
                # Our account's queue is full: a slot frees only when one of those jobs ends.
                wait = retry_after_seconds(headers, DEFAULT_QUEUE_FULL_WAIT_S)
                return ProviderError(ErrorReason.QUEUE_FULL, detail, retry_after=wait, status_code=status)
            # Discord itself throttled the account; useapi's example says to wait 10-30 s before trying again.
            wait = retry_after_seconds(headers, DISCORD_THROTTLE_WAIT_S)
            return ProviderError(ErrorReason.RATE_LIMITED, detail, retry_after=wait, status_code=status)
        if status == 422:
            return _unprocessable(body, text, detail)
        if status == 504 and isinstance(body, dict) and first_str(body, "jobid"):
            # "Job queued": Midjourney did not acknowledge in time but still processes the job, and the body
            # names it (its "status": "failed" is about the request, not the job): follow it, never resend.
            return ProviderError(
                ErrorReason.JOB_QUEUED, detail, status_code=status, answer=AnswerClass.QUEUED_WITH_ID,
                provider_job_id=first_str(body, "jobid"),
            )  # fmt: skip
        if status == 409:
            return ProviderError(ErrorReason.ALREADY_REQUESTED, detail, status_code=status)
        if status in (400, 412, 413):
            reason = reason_from_text(text)
            if reason is None:
                # 400 on a button is "not supported or not found in jobid buttons array".
                reason = ErrorReason.BUTTON_NOT_FOUND if text and "button" in text.lower() else None
            reason = reason or ErrorReason.INVALID_PARAMETER
            return ProviderError(reason, member_detail(reason, text) or detail, status_code=status)
        return None

    def _common_fields(self, request_job_id: str, webhook_url: str | None) -> dict[str, Any]:
        body: dict[str, Any] = {
            "replyRef": request_job_id,
            "maxJobs": max(1, min(MAX_JOBS_LIMIT, self.account.max_jobs)),
        }
        if webhook_url:
            body["replyUrl"] = webhook_url
        for key in ("discord", "server", "channel"):
            value = self.account.options.get(key)
            if value:
                body[key] = str(value)
        return body

    async def imagine(self, request: ImagineRequest) -> Submission:
        body = {
            "prompt": compose_prompt(request, with_aspect=True),
            **self._common_fields(request.job_id, request.webhook_url),
        }
        return await self.submit("/jobs/imagine", body, lambda answer: self._submission(answer, "grid"))

    async def act(self, request: ActionRequest) -> Submission:
        body = {
            "jobid": request.parent_provider_job_id,
            "button": button_label(request.action),
            **self._common_fields(request.job_id, request.webhook_url),
        }
        if request.action is Action.VARY_REGION:
            # 'Vary (Region)' requires ``mask``: a base64 black-and-white image (§4.3), sent as a PNG of the parent's
            # size, white = repaint, without a data: prefix. Colour, size and format are INFERRED (§2.1): the
            # convention of every provider that names one. Its optional prompt goes as the remix prompt, below.
            body["mask"] = encode_mask(read_mask(request.mask), "png")
        if request.action is Action.CUSTOM_ZOOM:
            # Custom Zoom requires a prompt; the factor rides in it as --zoom (mj-verbs.md §4.3, INFERRED).
            prompt = _ZOOM_PARAM.sub("", request.prompt or request.parent_prompt).strip()
            body["prompt"] = f"{prompt} --zoom {request.zoom or 2.0:g}"
        elif request.prompt is not None:
            # Remix: the edited prompt goes with V1-V4, Vary, the pans and 🔄 (needs Remix on at the account).
            body["prompt"] = request.prompt
        kind = "upscale" if request.action.is_upscale else "grid"
        kind = _video_kind(request) or kind
        return await self.submit("/jobs/button", body, lambda answer: self._submission(answer, kind))

    def _submission(self, answer: Any, kind: str) -> Submission:
        data = answer.obj()
        jobid = first_str(data, "jobid")
        if jobid is None:
            raise self.protocol_error("submit answer has no jobid", data)
        update = None
        status = data.get("status")
        if isinstance(status, str) and (status in _TERMINAL_FAILURES or status == "completed"):
            update = self._update(data, jobid, kind)
        return Submission(provider_job_id=jobid, provider_data={"kind": kind}, update=update)

    # -- the verbs beyond imagine ----------------------------------------------------------------

    async def cancel(self, provider_job_id: str, provider_data: Mapping[str, Any]) -> None:
        # 200 {"status": "cancelled"}; 404 for a job useapi does not know (mj-verbs.md §4.6).
        await self.call("GET", "/jobs/cancel/", params={"jobid": provider_job_id})

    async def blend(self, request: BlendRequest) -> Submission:
        body = {
            "blendUrls": list(request.image_urls),
            "blendDimensions": _BLEND_DIMENSIONS.get(request.aspect_ratio, "Square"),
            **self._common_fields(request.job_id, request.webhook_url),
        }
        return await self.submit("/jobs/blend", body, lambda answer: self._submission(answer, "grid"))

    async def describe_image(self, request: DescribeRequest) -> list[str]:
        # No replyRef or replyUrl: this is not a job of the engine's, and it is followed here by polling.
        body = {"describeUrl": request.image_url, **self._common_fields(request.ref, None)}
        body.pop("replyRef", None)
        data = await self._finished((await self.call("POST", "/jobs/describe", json_body=body)).obj())
        texts = [e.get("description") for e in data.get("embeds") or [] if isinstance(e, dict)]
        text = next((t for t in texts if isinstance(t, str) and t.strip()), None) or str(data.get("content") or "")
        return [_KEYCAP.sub("", part).strip() for part in re.split(r"\n\s*\n", text) if _KEYCAP.match(part)]

    async def seed(self, provider_job_id: str, provider_data: Mapping[str, Any]) -> int:
        body = {"jobid": provider_job_id, **self._common_fields(provider_job_id, None)}
        body.pop("replyRef", None)
        data = await self._finished((await self.call("POST", "/jobs/seed_async", json_body=body)).obj())
        texts = [str(data.get("content") or "")]
        texts += [str(e.get("description") or "") for e in data.get("embeds") or [] if isinstance(e, dict)]
        for text in texts:
            match = _SEED.search(text)
            if match and int(match[1]) < 2**32:
                return int(match[1])
        raise self.protocol_error("seed job finished without a seed", data)

    async def _finished(self, submitted: dict[str, Any]) -> dict[str, Any]:
        """Poll a describe or seed job until it ends; its object when completed, a ProviderError otherwise.

        The caller bounds the wait; the pace is the account's polling pace.
        """
        jobid = first_str(submitted, "jobid")
        if jobid is None:
            raise self.protocol_error("answer has no jobid", submitted)
        data, delay = submitted, self.capabilities.poll_interval
        while True:
            status = data.get("status")
            if status == "completed":
                return data
            if isinstance(status, str) and status in _TERMINAL_FAILURES:
                text = first_str(data, "error", "errorDetails") or str(data.get("content") or "")
                reason = reason_from_text(text) or _TERMINAL_FAILURES[status]
                raise ProviderError(reason, f"useapi job {status}: {text[:150]}")
            await asyncio.sleep(delay)
            delay = min(delay * 1.5, self.capabilities.max_poll_interval)
            data = (await self.call("GET", "/jobs/", params={"jobid": jobid})).obj()

    def download_headers(self, url: str) -> Mapping[str, str] | None:
        # cdn.midjourney.com refuses a client without a browser's headers (mj-verbs.md §4.4); the videos are
        # there. The images on Discord's CDN take any client, so only a video's download poses as a browser.
        return {"User-Agent": BROWSER_USER_AGENT} if _is_video_url(url) else None

    async def find_by_ref(self, ref: str, kind: str) -> Submission | None:
        """A job we sent with ``replyRef`` = ``ref``, among the account's executing jobs (``GET /jobs``).

        useapi lists only jobs still executing (as jobids; objects with a ``replyRef`` are read too), so
        a job that already finished is found only by its callback.
        """
        listing = (await self.call("GET", "/jobs")).body
        entries = listing if isinstance(listing, list) else []
        for entry in entries[:MAX_REF_LOOKUPS]:
            jobid = entry if isinstance(entry, str) else first_str(entry, "jobid") if isinstance(entry, dict) else None
            if not jobid:
                continue
            if isinstance(entry, dict) and first_str(entry, "replyRef") not in (None, ref):
                continue
            data = (await self.call("GET", "/jobs/", params={"jobid": jobid})).obj()
            if first_str(data, "replyRef") != ref:
                continue
            found_kind = "upscale" if str(data.get("button", "")) in {"U1", "U2", "U3", "U4"} else kind
            return Submission(
                provider_job_id=jobid, provider_data={"kind": found_kind}, update=self._update(data, jobid, found_kind)
            )
        return None

    async def poll(self, provider_job_id: str, provider_data: Mapping[str, Any]) -> ProviderUpdate:
        answer = await self.call("GET", "/jobs/", params={"jobid": provider_job_id})
        return self._update(answer.obj(), provider_job_id, str(provider_data.get("kind", "grid")))

    def parse_webhook(self, headers: Mapping[str, str], body: bytes) -> ProviderUpdate:
        data = load_webhook_json(body, self.name)
        jobid = first_str(data, "jobid")
        if jobid is None and first_str(data, "replyRef") is None:
            raise self.protocol_error("callback has neither jobid nor replyRef", data)
        kind = (
            "upscale"
            if data.get("verb") == "button" and str(data.get("button", "")) in {"U1", "U2", "U3", "U4"}
            else "grid"
        )
        return self._update(data, jobid, kind)

    def _update(self, data: dict[str, Any], jobid: str | None, kind: str) -> ProviderUpdate:
        # Anything but a string is an unknown status (a list would not even be hashable).
        status = data.get("status") if isinstance(data.get("status"), str) else None
        ref = first_str(data, "replyRef")
        raw_content = data.get("content")
        content = raw_content if isinstance(raw_content, str) else ""
        raw_attachments = data.get("attachments")
        attachments = [a for a in raw_attachments if isinstance(a, dict)] if isinstance(raw_attachments, list) else []
        urls = [u for u in (first_str(a, "url", "proxy_url") for a in attachments) if u]
        if status in _WAITING:
            return ProviderUpdate(provider_job_id=jobid, ref=ref, status=JobStatus.SUBMITTED, progress=0)
        if status == "progress":
            progress = parse_progress(content)
            return ProviderUpdate(
                provider_job_id=jobid,
                ref=ref,
                status=JobStatus.RUNNING,
                progress=min(progress, 99) if progress is not None else None,
                preview_url=urls[0] if urls else None,
            )
        if status == "completed":
            video = _video_update(data, jobid, ref, kind)
            if video is not None:
                return video
            if not urls:
                reason = reason_from_text(data.get("error")) or reason_from_text(content) or ErrorReason.PROVIDER_FAILED
                return ProviderUpdate(
                    provider_job_id=jobid, ref=ref, status=reason.status, error=reason,
                    error_detail=f"useapi: completed without an attachment: {content[:150]}",
                )  # fmt: skip
            return ProviderUpdate(
                provider_job_id=jobid,
                ref=ref,
                status=JobStatus.COMPLETED,
                progress=100,
                grid_url=None if kind == "upscale" else urls[0],
                image_urls=(urls[0],) if kind == "upscale" else (),
                actions=actions_from_labels(data.get("buttons")),
            )
        if status in _TERMINAL_FAILURES:
            text = first_str(data, "error", "errorDetails") or content
            reason = reason_from_text(text) or _TERMINAL_FAILURES[status]
            if status == "moderated" and reason is not ErrorReason.IMAGE_BLOCKED:
                reason = ErrorReason.BANNED_PROMPT
            return ProviderUpdate(
                provider_job_id=jobid,
                ref=ref,
                status=reason.status,
                error=reason,
                error_detail=f"useapi job {status}" + (f": {text[:150]}" if text else ""),
            )
        raise self.protocol_error("job has an unknown status", {"status": status})


# -- video (mj-verbs.md §4.4) ------------------------------------------------------------------------

# A browser's User-Agent, which cdn.midjourney.com wants before it serves a clip (§4.4).
BROWSER_USER_AGENT = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36"
_VIDEO_KINDS = frozenset({"video", "clip"})
_VIDEO_SUFFIXES = (".mp4", ".webm", ".mov")
_ANIMATE_ACTIONS = frozenset({Action.ANIMATE_HIGH, Action.ANIMATE_LOW, Action.EXTEND_HIGH, Action.EXTEND_LOW})


def _is_video_url(url: str) -> bool:
    return url.lower().split("?", 1)[0].endswith(_VIDEO_SUFFIXES)


def _video_kind(request: ActionRequest) -> str | None:
    """What a press makes when video is involved: Animate and Extend make a video job of four clips ("video");
    U1-U4 on one select a clip ("clip"), the job Extend acts on. None for the image presses."""
    if request.action in _ANIMATE_ACTIONS:
        return "video"
    if request.action.is_upscale and request.parent_provider_data.get("kind") == "video":
        return "clip"
    return None


def _video_update(data: dict[str, Any], jobid: str | None, ref: str | None, kind: str) -> ProviderUpdate | None:
    """A finished video job: its clips from ``videoUx`` (elements ``{id, url}`` by analogy with ``imageUx``,
    INFERRED; plain URL strings are read too), else from video ``attachments``. Its ``attachments`` may hold
    a still of the picture, which is never taken for the result. None when the job is no video at all."""
    raw = data.get("videoUx")
    entries = raw if isinstance(raw, list) else []
    clips = [e if isinstance(e, str) else first_str(e, "url") if isinstance(e, dict) else None for e in entries]
    urls = [u for u in clips if u]
    if not urls:
        listed = data.get("attachments")
        attachments: list[Any] = listed if isinstance(listed, list) else []
        for item in attachments:
            url = first_str(item, "url", "proxy_url") if isinstance(item, dict) else None
            content_type = str(item.get("content_type", "")) if isinstance(item, dict) else ""
            if url and (content_type.startswith("video/") or _is_video_url(url)):
                urls.append(url)
    if not urls:
        if kind not in _VIDEO_KINDS:
            return None
        return ProviderUpdate(
            provider_job_id=jobid, ref=ref, status=JobStatus.FAILED, error=ErrorReason.PROVIDER_FAILED,
            error_detail="useapi: the video job completed without a clip",
        )  # fmt: skip
    actions = actions_from_labels(data.get("buttons"))
    if actions is None:
        # No buttons listed: four clips are picked from with U1-U4, a single clip is extended.
        actions = (
            (Action.U1, Action.U2, Action.U3, Action.U4) if len(urls) > 1 else (Action.EXTEND_HIGH, Action.EXTEND_LOW)
        )
    return ProviderUpdate(
        provider_job_id=jobid, ref=ref, status=JobStatus.COMPLETED, progress=100, image_urls=tuple(urls[:4]),
        actions=actions,
    )  # fmt: skip


def _unprocessable(body: Any, text: str | None, detail: str) -> ProviderError:
    """useapi's 422 in its two documented forms: a moderation verdict, or an invalid parameter.

    Only an explicit verdict ("Action needed to continue", ``status: "moderated"``) is a refused prompt; an
    invalid parameter shows the member useapi's own words (``errorDetails``) so they can fix the flag.
    """
    data = body if isinstance(body, dict) else {}
    details = first_str(data, "errorDetails")
    words = " ".join(t for t in (text, details) if t).lower()
    if any(w in words for w in _INVALID_PARAMETER_WORDS):
        reason = ErrorReason.INVALID_PARAMETER
        return ProviderError(reason, member_detail(reason, details or text), status_code=422)
    if data.get("status") == "moderated" or any(w in words for w in _MODERATION_WORDS):
        said = reason_from_text(words)
        reason = ErrorReason.IMAGE_BLOCKED if said is ErrorReason.IMAGE_BLOCKED else ErrorReason.BANNED_PROMPT
        return ProviderError(reason, detail, status_code=422)
    # Neither form: the request was refused for a reason useapi names but we do not know.
    reason = reason_from_text(words) or ErrorReason.INVALID_PARAMETER
    return ProviderError(reason, member_detail(reason, details or text) or detail, status_code=422)
