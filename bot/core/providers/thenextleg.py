"""The TheNextLeg (TNL) v2 adapter: ``/imagine``, ``/message/<id>``, ``/button``.

TNL reports Midjourney's refusals not as HTTP errors but as a "finished" message without an image
whose ``content`` holds a code (``BANNED_PROMPT``, ``NO_FAST_HOURS`` …). The message endpoint answers
either flat (as its docs show) or nested under ``response`` (as every SDK reads it); both are read.
Buttons are pressed on the result's ``buttonMessageId``, which is kept in the job's provider data.

Account options (``THENEXTLEG_OPTIONS`` / ``options`` in ``PROVIDER_ACCOUNTS``):

``ignore_prefilter``   bool, send ``ignorePrefilter`` so TNL skips its banned-word prefilter.
``expire_mins``        int, ``expireMins`` of the message endpoint (TNL default 12).
``min_request_interval``  seconds between requests to the account (default 3, TNL's limit).
``poll_interval`` / ``max_poll_interval``  polling cadence in seconds.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import httpx

from bot.core.errors import ProviderError
from bot.core.models import Action, AnswerClass, ErrorReason, JobStatus, ProviderUpdate, SubmitOutcome, Verb
from bot.core.providers._common import (
    DEFAULT_RATE_LIMIT_WAIT_S,
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
    str_list,
)
from bot.core.providers.base import ActionRequest, Capabilities, ImagineRequest, Submission, retry_after_seconds

__all__ = ["TheNextLegProvider"]

# TNL's documented limit: "one request every 3 seconds", sliding window, per token.
TNL_REQUEST_INTERVAL_S = 3.0
# Codes that arrive in ``content`` but do not end the job: Midjourney queued it or reinstated it.
_NON_TERMINAL_CODES = frozenset({"JOB_QUEUED", "APPEAL_ACCEPTED"})


class TheNextLegProvider(HttpAdapter):
    name = "thenextleg"
    default_base_url = "https://api.thenextleg.io/v2"
    capabilities = Capabilities(
        # Midjourney moderates its own output (and refuses prompts); a check of ours would only add cost.
        moderates_output=True,
        grid_actions=GRID_SET,
        upscale_actions=UPSCALED_SET - {Action.UPSCALE_SUBTLE, Action.UPSCALE_CREATIVE},
        webhooks=True,
        poll_interval=TNL_REQUEST_INTERVAL_S,
        max_poll_interval=15.0,
        min_request_interval=TNL_REQUEST_INTERVAL_S,
    )
    # mj-verbs.md §3 and P§1.8 (TheNextLeg shut down in January 2024: historical). None is spoken by this
    # adapter. The sources disagree: the seed is the ✉️ button in the docs but POST /v2/seed in the SDKs;
    # blend is in third-party code only; Custom Zoom's ``zoom`` field is in P§1.7 while mj-verbs §0 found none.
    documented_verbs = {
        Verb.DESCRIBE: "POST /v2/describe {url}; content = four prompts (P§1.8)",
        Verb.BLEND: "POST /v2/blend {urls} (third-party code only, P§1.8)",
        Verb.SEED: "button ✉️ (docs) or POST /v2/seed (SDKs) (P§1.8)",
    }

    # Whether TNL has the job after each kind of answer to /imagine or /button (providers.md §1.2).
    submit_outcomes = {
        AnswerClass.ACCEPTED: SubmitOutcome.TAKEN,  # {"success": true, "messageId": …}
        AnswerClass.REFUSED: SubmitOutcome.NOT_TAKEN,  # {"success": false, "msg": …}: refused before Midjourney
        AnswerClass.INVALID: SubmitOutcome.NOT_TAKEN,  # 400 "Invalid phrase" (prefilter) and other request errors
        AnswerClass.RATE_LIMITED: SubmitOutcome.NOT_TAKEN,  # the 3-second window refused the request
        AnswerClass.AUTH: SubmitOutcome.NOT_TAKEN,  # a bad token is refused before anything is queued
        AnswerClass.ACCOUNT_HELD: SubmitOutcome.NOT_TAKEN,  # not a TNL answer; a hold refuses new work
        AnswerClass.QUEUED_WITH_ID: SubmitOutcome.TAKEN,  # not a TNL answer; an id means a job exists
        AnswerClass.SERVER_ERROR: SubmitOutcome.UNKNOWN,  # undocumented 5xx: it may have queued the job first
        AnswerClass.GATEWAY_ERROR: SubmitOutcome.UNKNOWN,  # a proxy's 502/503/504 says nothing of the job
        AnswerClass.UNREADABLE: SubmitOutcome.UNKNOWN,  # a garbled 200 may well be an accepted job
        AnswerClass.NOT_SENT: SubmitOutcome.NOT_TAKEN,  # no connection was made
        AnswerClass.NO_ANSWER: SubmitOutcome.UNKNOWN,  # sent, then silence: TNL may be drawing it
    }

    def status_reason(self, status: int, body: Any, headers: httpx.Headers, text: str | None) -> ProviderError | None:
        if status == 400 and text is not None and reason_from_text(text) is None:
            # The only documented 400 is the prefilter's "Invalid Prompt" / "Invalid phrase: 'x'", which
            # reason_from_text reads as a refused prompt. Any other 400 ("msg is required") is about the
            # request, not the prompt's content: only an explicit verdict says a prompt broke the rules.
            reason = ErrorReason.INVALID_PARAMETER
            return ProviderError(reason, member_detail(reason, text), status_code=400)
        if status == 429:
            wait = retry_after_seconds(headers, TNL_REQUEST_INTERVAL_S) or DEFAULT_RATE_LIMIT_WAIT_S
            return ProviderError(ErrorReason.RATE_LIMITED, "thenextleg rate limit", retry_after=wait, status_code=429)
        return None

    async def imagine(self, request: ImagineRequest) -> Submission:
        body: dict[str, Any] = {"msg": compose_prompt(request, with_aspect=True), "ref": request.job_id}
        if request.webhook_url:
            body["webhookOverride"] = request.webhook_url
        if "ignore_prefilter" in self.account.options:
            # The docs send the string form; the server reads "true"/"false".
            body["ignorePrefilter"] = "true" if self.account.options["ignore_prefilter"] else "false"
        return await self.submit("/imagine", body, lambda answer: self._submission(answer, kind="grid"))

    async def act(self, request: ActionRequest) -> Submission:
        label = button_label(request.action)
        button_message_id = request.parent_provider_data.get("buttonMessageId")
        if not isinstance(button_message_id, str) or not button_message_id:
            raise ProviderError(ErrorReason.BUTTON_NOT_FOUND, "the parent result has no buttonMessageId")
        body: dict[str, Any] = {"button": label, "buttonMessageId": button_message_id, "ref": request.job_id}
        if request.webhook_url:
            body["webhookOverride"] = request.webhook_url
        kind = "upscale" if request.action.is_upscale else "grid"
        return await self.submit("/button", body, lambda answer: self._submission(answer, kind=kind))

    def _submission(self, answer: Any, *, kind: str) -> Submission:
        data = answer.obj()
        if data.get("success") is False:
            text = first_str(data, "msg", "error", "message") or "refused"
            raise ProviderError(
                reason_from_text(text) or ErrorReason.PROVIDER_FAILED, f"thenextleg: {text[:200]}",
                answer=AnswerClass.REFUSED,
            )  # fmt: skip
        message_id = first_str(data, "messageId")
        if message_id is None:
            raise self.protocol_error("submit answer has no messageId", data)
        return Submission(provider_job_id=message_id, provider_data={"kind": kind})

    async def poll(self, provider_job_id: str, provider_data: Mapping[str, Any]) -> ProviderUpdate:
        params = {}
        if "expire_mins" in self.account.options:
            params["expireMins"] = int(self.account.options["expire_mins"])
        answer = await self.call("GET", f"/message/{provider_job_id}", params=params)
        data = answer.obj()
        progress_raw = data.get("progress")
        result = data.get("response") if isinstance(data.get("response"), dict) else None
        if result is None and any(k in data for k in ("imageUrl", "buttonMessageId", "content", "imageUrls")):
            result = data  # the flat form of the docs
        if progress_raw == "incomplete":
            return ProviderUpdate(
                provider_job_id=provider_job_id,
                status=JobStatus.TIMED_OUT,
                error=ErrorReason.LOST,
                error_detail="thenextleg marked the message incomplete",
            )
        progress = parse_progress(progress_raw)
        if result is not None and (progress == 100 or progress is None):
            return self._result(result, provider_job_id, str(provider_data.get("kind", "grid")))
        if progress is None:
            raise self.protocol_error("message has no readable progress", data)
        if progress >= 100:
            raise self.protocol_error("message at 100% without a result", data)
        preview = data.get("progressImageUrl") if isinstance(data.get("progressImageUrl"), str) else None
        return ProviderUpdate(
            provider_job_id=provider_job_id,
            status=JobStatus.RUNNING if progress > 0 else JobStatus.SUBMITTED,
            progress=progress,
            preview_url=preview,
            # Moving again: whatever queued it is over, and a later stall is a plain stall.
            provider_data={"stall_reason": None} if progress > 0 else {},
        )

    def parse_webhook(self, headers: Mapping[str, str], body: bytes) -> ProviderUpdate:
        data = load_webhook_json(body, self.name)
        if isinstance(data.get("response"), dict):
            data = data["response"]
        message_id = first_str(data, "originatingMessageId", "messageId")
        ref = first_str(data, "ref")
        if message_id is None and ref is None:
            raise self.protocol_error("callback has neither originatingMessageId nor ref", data)
        progress_raw = data.get("progress")
        progress = parse_progress(progress_raw)
        if progress_raw == "incomplete":
            return ProviderUpdate(
                provider_job_id=message_id, ref=ref, status=JobStatus.TIMED_OUT, error=ErrorReason.LOST,
                error_detail="thenextleg marked the message incomplete",
            )  # fmt: skip
        if progress is not None and progress < 100 and not data.get("imageUrl") and not data.get("content"):
            # Not documented, but harmless to read: a progress callback.
            preview = data.get("progressImageUrl") if isinstance(data.get("progressImageUrl"), str) else None
            return ProviderUpdate(
                provider_job_id=message_id, ref=ref, status=JobStatus.RUNNING if progress else JobStatus.SUBMITTED,
                progress=progress, preview_url=preview,
            )  # fmt: skip
        update = self._result(data, message_id, "upscale" if _looks_upscaled(data) else "grid")
        return update.model_copy(update={"ref": ref})

    def _result(self, data: dict[str, Any], provider_job_id: str | None, kind: str) -> ProviderUpdate:
        ref = first_str(data, "ref")
        image = first_str(data, "imageUrl")
        content = data.get("content")
        code = content.strip() if isinstance(content, str) else ""
        if image is None:
            if code.upper() in _NON_TERMINAL_CODES:
                return ProviderUpdate(
                    provider_job_id=provider_job_id,
                    ref=ref,
                    status=JobStatus.SUBMITTED,
                    provider_data={"stall_reason": ErrorReason.JOB_QUEUED.value},
                )
            reason = reason_from_text(code) or ErrorReason.PROVIDER_FAILED
            return ProviderUpdate(
                provider_job_id=provider_job_id,
                ref=ref,
                status=reason.status,
                error=reason,
                error_detail=f"thenextleg: {code[:200] or 'finished without an image'}",
            )
        button_message_id = first_str(data, "buttonMessageId")
        actions = actions_from_labels(data.get("buttons"))
        images: tuple[str, ...]
        if kind == "upscale":
            grid, images = None, (image,)
        else:
            grid, images = image, str_list(data.get("imageUrls"))[:4]
        return ProviderUpdate(
            provider_job_id=provider_job_id,
            ref=ref,
            status=JobStatus.COMPLETED,
            progress=100,
            grid_url=grid,
            image_urls=images,
            actions=actions,
            provider_data={"buttonMessageId": button_message_id} if button_message_id else {},
        )

    async def fetch_image(self, url: str) -> bytes:
        try:
            return await super().fetch_image(url)
        except ProviderError:
            # Discord and Midjourney CDNs refuse some programmatic downloads; TNL proxies them.
            host_root = self.base_url.rsplit("/v2", 1)[0]
            try:
                response = await self.http.post(
                    f"{host_root}/getImage", json={"imgUrl": url}, headers=self.auth_headers()
                )
            except httpx.HTTPError as exc:
                raise ProviderError(
                    ErrorReason.PROVIDER_UNAVAILABLE, f"getImage failed: {type(exc).__name__}"
                ) from None
            if response.status_code != 200 or not response.content:
                raise ProviderError(
                    ErrorReason.PROVIDER_UNAVAILABLE, f"getImage answered {response.status_code}"
                ) from None
            return response.content


def _looks_upscaled(data: Mapping[str, Any]) -> bool:
    """A callback does not say what it answers; an upscale has one image and no grid buttons."""
    buttons = data.get("buttons")
    return not data.get("imageUrls") and isinstance(buttons, list) and "U1" not in buttons and "V1" not in buttons
