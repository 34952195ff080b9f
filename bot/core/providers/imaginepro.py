"""The ImaginePro adapter, for both of its path generations.

Current: ``/api/v1/nova/imagine``, ``/api/v1/nova/button``, ``/api/v1/message/fetch/{id}``.
Legacy:  ``/api/v1/midjourney/imagine``, ``/api/v1/midjourney/button``, ``/api/v1/midjourney/message/{id}``.
Bodies and answers are the same in both; the message's ``status`` is QUEUED, PROCESSING, DONE or FAIL,
its ``progress`` a number or a numeric string, the result ``uri`` (ImaginePro's CDN) or ``originalUrl``
(Discord, valid 24 h). mymidjourney.ai speaks the legacy contract and works with ``paths: legacy``.

Account options (``IMAGINEPRO_OPTIONS`` / ``options`` in ``PROVIDER_ACCOUNTS``):

``paths``     ``"nova"`` (default) or ``"legacy"``.
``timeout``   int seconds (10-900), ImaginePro's own job timeout, sent with each imagine.
``mask_format``  ``"webp"`` (default) or ``"png"``: the image format of Vary (Region)'s mask. The docs'
              words say only "a base64 encoded string", black background, the region white; their one
              example is a WebP (``UklGR…``), so that is the default; PNG, the format mj-verbs.md reads
              into the words (§6.1, §14 item 1), is one option away. The simulator takes both.
``poll_interval`` / ``max_poll_interval``  polling cadence in seconds.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import httpx

from bot.core.errors import ConfigError, ProviderError
from bot.core.models import Action, AnswerClass, ErrorReason, JobStatus, ProviderUpdate, SubmitOutcome, Verb
from bot.core.providers._common import (
    GRID_SET,
    UPSCALED_SET,
    HttpAdapter,
    actions_from_labels,
    button_label,
    compose_prompt,
    first_str,
    load_webhook_json,
    parse_progress,
    reason_from_text,
    str_list,
)
from bot.core.providers._masks import MaskFormat, encode_mask, read_mask
from bot.core.providers.base import Account, ActionRequest, Capabilities, ImagineRequest, Submission

__all__ = ["ImagineProProvider"]

# (submit prefix, message path template) per path generation.
_PATHS = {
    "nova": ("/api/v1/nova", "/api/v1/message/fetch/{id}"),
    "legacy": ("/api/v1/midjourney", "/api/v1/midjourney/message/{id}"),
}


class ImagineProProvider(HttpAdapter):
    name = "imaginepro"
    default_base_url = "https://api.imaginepro.ai"
    capabilities = Capabilities(
        # Midjourney moderates its own output (and refuses prompts); a check of ours would only add cost.
        moderates_output=True,
        grid_actions=GRID_SET,
        upscale_actions=UPSCALED_SET,
        webhooks=True,
        poll_interval=3.0,
        max_poll_interval=15.0,
        verbs=frozenset({Verb.CANCEL, Verb.VARY_REGION}),
    )
    # mj-verbs.md §6: no describe, blend, seed, video or Custom Zoom in any page or SDK read. The remix prompt
    # is documented but not spoken by this adapter yet; it works only where the customer linked their own
    # Discord account with remix on. Vary (Region)'s own optional prompt needs neither (§6.1).
    documented_verbs = {
        Verb.VARY_REGION: "button 'Vary (Region)' + mask, base64, black with the region white; the example is a"
        " WebP, the words name no format: WebP sent by default, PNG by option (§6.1, §14)",
        Verb.REMIX: "prompt on V1-V4/🔄, own linked Discord account with remix on only (P§3.4)",
        Verb.CANCEL: "button 'Cancel Job' while progress < 100, no new messageId (P§3.4)",
    }

    # Whether ImaginePro has the job after each kind of answer to imagine or button (providers.md §3.2). Its
    # message trace needs its own messageId, so nothing of ours finds a job whose answer was lost.
    submit_outcomes = {
        AnswerClass.ACCEPTED: SubmitOutcome.TAKEN,  # {"success": true, "messageId": …}
        AnswerClass.REFUSED: SubmitOutcome.NOT_TAKEN,  # {"success": false, "error": …}: refused
        AnswerClass.INVALID: SubmitOutcome.NOT_TAKEN,  # a 4xx with {"success": false, "error"}: refused
        AnswerClass.RATE_LIMITED: SubmitOutcome.NOT_TAKEN,  # 429: refused
        AnswerClass.AUTH: SubmitOutcome.NOT_TAKEN,  # 401/402/403: refused before any job exists
        AnswerClass.ACCOUNT_HELD: SubmitOutcome.NOT_TAKEN,  # not an ImaginePro answer; a hold refuses new work
        AnswerClass.QUEUED_WITH_ID: SubmitOutcome.TAKEN,  # not an ImaginePro answer; an id means a job exists
        AnswerClass.SERVER_ERROR: SubmitOutcome.UNKNOWN,  # undocumented 5xx: it may have queued the job first
        AnswerClass.GATEWAY_ERROR: SubmitOutcome.UNKNOWN,  # a proxy's 502/503/504 says nothing of the job
        AnswerClass.UNREADABLE: SubmitOutcome.UNKNOWN,  # a garbled 200 may well be an accepted job
        AnswerClass.NOT_SENT: SubmitOutcome.NOT_TAKEN,  # no connection was made
        AnswerClass.NO_ANSWER: SubmitOutcome.UNKNOWN,  # sent, then silence: the job may be running
    }

    def __init__(self, account: Account, http: httpx.AsyncClient) -> None:
        super().__init__(account, http)
        generation = str(account.options.get("paths", "nova")).lower()
        if generation not in _PATHS:
            raise ConfigError(f"imaginepro option paths must be 'nova' or 'legacy', not {generation!r}.")
        self.prefix, self.message_path = _PATHS[generation]
        mask_format = str(account.options.get("mask_format", "webp")).lower()
        if mask_format not in ("webp", "png"):
            raise ConfigError(f"imaginepro option mask_format must be 'webp' or 'png', not {mask_format!r}.")
        self.mask_format: MaskFormat = "png" if mask_format == "png" else "webp"

    def status_reason(self, status: int, body: Any, headers: httpx.Headers, text: str | None) -> ProviderError | None:
        if status == 404 and text and "button" in text.lower():
            return ProviderError(
                ErrorReason.BUTTON_NOT_FOUND, f"imaginepro answered 404: {text[:200]}", status_code=404
            )
        return None

    async def imagine(self, request: ImagineRequest) -> Submission:
        body: dict[str, Any] = {"prompt": compose_prompt(request, with_aspect=True), "ref": request.job_id}
        if request.webhook_url:
            body["webhookOverride"] = request.webhook_url
        if "timeout" in self.account.options:
            body["timeout"] = int(self.account.options["timeout"])
        return await self.submit(f"{self.prefix}/imagine", body, lambda answer: self._submission(answer, "grid"))

    async def cancel(self, provider_job_id: str, provider_data: Mapping[str, Any]) -> None:
        # "Cancel Job" is pressed on the running job itself and answers {success, createdAt} without a
        # messageId (P§3.4); the job then shows FAIL, which the engine ignores for a job already ended.
        answer = await self.call(
            "POST", f"{self.prefix}/button", json_body={"messageId": provider_job_id, "button": "Cancel Job"}
        )
        if isinstance(answer.body, dict) and answer.body.get("success") is False:
            raise ProviderError(
                ErrorReason.PROVIDER_FAILED, f"imaginepro refused Cancel Job: {answer.body.get('error')}"
            )

    async def act(self, request: ActionRequest) -> Submission:
        body: dict[str, Any] = {
            "messageId": request.parent_provider_job_id,
            "button": button_label(request.action),
            "ref": request.job_id,
        }
        if request.action is Action.VARY_REGION:
            # ``mask``: base64 (no data: prefix in the example), black background, white = the region to redraw
            # (§6.1); ``prompt`` optional, for the redrawn area. The parent must be an upscale (the docs' words).
            body["mask"] = encode_mask(read_mask(request.mask), self.mask_format)
            if request.prompt is not None:
                body["prompt"] = request.prompt
        if request.webhook_url:
            body["webhookOverride"] = request.webhook_url
        kind = "upscale" if request.action.is_upscale else "grid"
        return await self.submit(f"{self.prefix}/button", body, lambda answer: self._submission(answer, kind))

    def _submission(self, answer: Any, kind: str) -> Submission:
        data = answer.obj()
        if data.get("success") is False or (data.get("error") and not data.get("messageId")):
            text = first_str(data, "error", "message") or "refused"
            raise ProviderError(
                reason_from_text(text) or ErrorReason.PROVIDER_FAILED, f"imaginepro: {text[:200]}",
                answer=AnswerClass.REFUSED,
            )  # fmt: skip
        message_id = first_str(data, "messageId")
        if message_id is None:
            raise self.protocol_error("submit answer has no messageId", data)
        return Submission(provider_job_id=message_id, provider_data={"kind": kind})

    async def poll(self, provider_job_id: str, provider_data: Mapping[str, Any]) -> ProviderUpdate:
        answer = await self.call("GET", self.message_path.format(id=provider_job_id))
        return self._update(answer.obj(), provider_job_id, str(provider_data.get("kind", "grid")))

    def parse_webhook(self, headers: Mapping[str, str], body: bytes) -> ProviderUpdate:
        data = load_webhook_json(body, self.name)
        message_id = first_str(data, "messageId")
        if message_id is None and first_str(data, "ref") is None:
            raise self.protocol_error("callback has neither messageId nor ref", data)
        buttons = data.get("buttons")
        upscaled = isinstance(buttons, list) and bool(buttons) and "U1" not in buttons
        return self._update(data, message_id, "upscale" if upscaled else "grid")

    def _update(self, data: dict[str, Any], message_id: str | None, kind: str) -> ProviderUpdate:
        status = str(data.get("status", "")).upper()
        ref = first_str(data, "ref")
        progress = parse_progress(data.get("progress"))
        if status == "QUEUED":
            return ProviderUpdate(provider_job_id=message_id, ref=ref, status=JobStatus.SUBMITTED, progress=0)
        if status == "PROCESSING":
            preview = first_str(data, "progressImageUrl", "uri")
            return ProviderUpdate(
                provider_job_id=message_id,
                ref=ref,
                status=JobStatus.RUNNING,
                progress=min(progress, 99) if progress is not None else None,
                preview_url=preview,
            )
        if status == "DONE":
            image = first_str(data, "uri", "originalUrl")
            if image is None:
                return ProviderUpdate(
                    provider_job_id=message_id, ref=ref, status=JobStatus.FAILED, error=ErrorReason.PROVIDER_FAILED,
                    error_detail="imaginepro: DONE without an image",
                )  # fmt: skip
            splits = str_list(data.get("images"))[:4]
            return ProviderUpdate(
                provider_job_id=message_id,
                ref=ref,
                status=JobStatus.COMPLETED,
                progress=100,
                grid_url=None if kind == "upscale" else image,
                image_urls=(image,) if kind == "upscale" else splits,
                actions=actions_from_labels(data.get("buttons")),
            )
        if status in ("FAIL", "FAILED"):
            text = first_str(data, "error", "message") or ""
            reason = reason_from_text(text) or ErrorReason.PROVIDER_FAILED
            return ProviderUpdate(
                provider_job_id=message_id,
                ref=ref,
                status=reason.status,
                error=reason,
                error_detail=f"imaginepro: {text[:200] or 'FAIL'}",
            )
        raise self.protocol_error("message has an unknown status", {"status": data.get("status")})
