"""The OpenAI-shaped Images adapter: ``/images/generations`` and ``/images/edits`` (backends.md §3).

One adapter for OpenAI's own image models and for the servers and resellers that speak the same shape
(stable-diffusion.cpp's server, LocalAI, ...): base URL (``OPENAI_BASE_URL``, ending in ``/v1``), key
(``OPENAI_API_KEY``) and model (``OPENAI_MODEL``) are settings. The answer is synchronous, so this is a
:class:`~bot.core.providers._blocking.BlockingAdapter`; with the account option ``partial_images``
(1–3) the request streams (server-sent events) and the partial images become the job's previews.

Mapping: imagine = ``n: 4`` (four images billed); V and the other image-to-image actions = ``/edits``
with the start image (the API has no denoise: the prompt and the image are all it takes); U = the tile
doubled by the bot; 🔄 = the same request again (there is no seed). The prompt's ``--no`` words are
appended as "Avoid: …" since the API has no negative prompt. A moderation refusal
(``moderation_blocked``; DALL·E's ``content_policy_violation``) is a refused prompt, or a refused result
when its ``moderation_stage`` is ``output``.

Sizes: the GPT image models take 1024x1024, 1536x1024 or 1024x1536 only; the nearest to the ratio is
sent (so the grid's ratio is approximate). ``sizes: "free"`` in the account options sends the ratio's
own WxH (multiples of 16, for gpt-image-2 and servers that take any size). Other options: ``quality``,
``request_timeout_s`` (300), plus those of :class:`~bot.core.providers._owned.OwnedAdapter`.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Mapping
from typing import Any

import httpx

from bot.core.errors import ProviderError
from bot.core.models import AnswerClass, ErrorReason, SubmitOutcome
from bot.core.providers._blocking import BlockingAdapter, RequestState
from bot.core.providers._common import Answer, answer_class, first_str
from bot.core.providers._owned import Plan, size_for
from bot.core.providers.base import loads_json

__all__ = ["OpenAIImagesProvider", "duration_seconds"]

# An image request with four GPT images takes about a minute; streaming keeps the connection busy.
DEFAULT_REQUEST_TIMEOUT_S = 300.0
# The only sizes the GPT image models accept besides "auto" (backends.md §3.2).
FIXED_SIZES = {"square": (1024, 1024), "landscape": (1536, 1024), "portrait": (1024, 1536)}
# A ratio this far from square gets the landscape or portrait size.
SQUARE_BAND = 1.2
# gpt-image-2 takes any size whose sides are multiples of 16.
FREE_SIZE_STEP = 16
MODERATION_CODES = ("moderation_blocked", "content_policy_violation")
_DURATION = re.compile(r"(?:(\d+(?:\.\d+)?)h)?(?:(\d+(?:\.\d+)?)m(?!s))?(?:(\d+(?:\.\d+)?)s)?(?:(\d+)ms)?")


def duration_seconds(text: object) -> float | None:
    """OpenAI's reset durations ("1s", "6m0s", "20ms") as seconds."""
    if not isinstance(text, str) or not text:
        return None
    match = _DURATION.fullmatch(text.strip())
    if match is None or not any(match.groups()):
        return None
    h, m, s, ms = (float(g) if g else 0.0 for g in match.groups())
    return h * 3600 + m * 60 + s + ms / 1000


class OpenAIImagesProvider(BlockingAdapter):
    name = "openai"
    default_base_url = "https://api.openai.com/v1"
    finds_by_ref = False
    # Whether the service has (and bills) the job after each kind of answer (backends.md §3.7).
    submit_outcomes = {
        AnswerClass.ACCEPTED: SubmitOutcome.TAKEN,  # the request is open, or answered with the images
        AnswerClass.REFUSED: SubmitOutcome.NOT_TAKEN,  # not given by this API
        AnswerClass.INVALID: SubmitOutcome.NOT_TAKEN,  # 400 (incl. input moderation), 404 model, 422
        AnswerClass.RATE_LIMITED: SubmitOutcome.NOT_TAKEN,  # 429: requests, tokens or quota
        AnswerClass.AUTH: SubmitOutcome.NOT_TAKEN,  # 401 invalid key, 403 not allowed the model
        AnswerClass.ACCOUNT_HELD: SubmitOutcome.NOT_TAKEN,  # not given by this API
        AnswerClass.QUEUED_WITH_ID: SubmitOutcome.NOT_TAKEN,  # not given by this API
        AnswerClass.SERVER_ERROR: SubmitOutcome.UNKNOWN,  # a 500 may come after the images were made
        AnswerClass.GATEWAY_ERROR: SubmitOutcome.UNKNOWN,
        AnswerClass.UNREADABLE: SubmitOutcome.UNKNOWN,
        AnswerClass.NOT_SENT: SubmitOutcome.NOT_TAKEN,
        AnswerClass.NO_ANSWER: SubmitOutcome.UNKNOWN,
    }

    def size(self, aspect: str) -> tuple[int, int]:
        if self.account.options.get("sizes") == "free":
            return size_for(aspect, self.long_side, FREE_SIZE_STEP)
        width, height = size_for(aspect, 1024)
        if width / height >= SQUARE_BAND:
            return FIXED_SIZES["landscape"]
        if height / width >= SQUARE_BAND:
            return FIXED_SIZES["portrait"]
        return FIXED_SIZES["square"]

    def _api_size(self, width: int, height: int) -> tuple[int, int]:
        """The size to ask for an image-to-image of a start image of this size."""
        if self.account.options.get("sizes") == "free":
            step = FREE_SIZE_STEP
            return max(step, round(width / step) * step), max(step, round(height / step) * step)
        if width / height >= SQUARE_BAND:
            return FIXED_SIZES["landscape"]
        if height / width >= SQUARE_BAND:
            return FIXED_SIZES["portrait"]
        return FIXED_SIZES["square"]

    def error_text(self, body: Any) -> str | None:
        if isinstance(body, dict) and isinstance(body.get("error"), dict):
            return first_str(body["error"], "message", "code")
        return super().error_text(body)  # stable-diffusion.cpp's flat {"error": "<text>"}

    def status_reason(self, status: int, body: Any, headers: httpx.Headers, text: str | None) -> ProviderError | None:
        error = body.get("error") if isinstance(body, dict) else None
        fields = error if isinstance(error, dict) else {}
        code = " ".join(str(fields.get(k) or "") for k in ("code", "type"))
        detail = f"openai answered {status}" + (f": {text[:200]}" if text else "")
        if any(c in code for c in MODERATION_CODES) or (text and "safety system" in text.lower()):
            details = body.get("moderation_details") if isinstance(body, dict) else None
            stage = details.get("moderation_stage") if isinstance(details, dict) else fields.get("moderation_stage")
            reason = ErrorReason.IMAGE_BLOCKED if stage == "output" else ErrorReason.BANNED_PROMPT
            return ProviderError(reason, detail, status_code=status, answer=AnswerClass.INVALID)
        if status == 429:
            if "insufficient_quota" in code:
                return ProviderError(ErrorReason.SUBSCRIPTION_EXPIRED, detail, status_code=status)
            wait = duration_seconds(headers.get("x-ratelimit-reset-requests")) or duration_seconds(
                headers.get("x-ratelimit-reset-tokens")
            )
            return ProviderError(ErrorReason.RATE_LIMITED, detail, retry_after=wait, status_code=status)
        if status == 403:
            return ProviderError(ErrorReason.UNAUTHORIZED, detail, status_code=status)
        if status == 404:
            # model_not_found: the configured model (retired, or not this server's): the operator's to fix.
            return ProviderError(ErrorReason.PROVIDER_FAILED, detail, status_code=status, answer=AnswerClass.INVALID)
        return None

    def _fields(self, plan: Plan) -> dict[str, Any]:
        options = self.account.options
        prompt = plan.prompt.positive or "an image"
        if plan.prompt.negative:
            prompt = f"{prompt}. Avoid: {plan.prompt.negative}"
        fields: dict[str, Any] = {
            "model": str(options.get("model") or "gpt-image-1.5"),
            "prompt": prompt,
            "n": plan.count,
            "size": f"{plan.width}x{plan.height}",
        }
        if options.get("quality"):
            fields["quality"] = str(options["quality"])
        partial = int(options.get("partial_images", 0) or 0)
        if partial > 0:
            fields |= {"stream": True, "partial_images": min(3, partial)}
        return fields

    async def run(self, plan: Plan, state: RequestState) -> list[bytes]:
        fields = self._fields(plan)
        if plan.start is None:
            return await self._request(plan, state, "/images/generations", {"json": fields})
        width, height = self._api_size(plan.width, plan.height)
        fields["size"] = f"{width}x{height}"
        form = {k: (str(v).lower() if isinstance(v, bool) else str(v)) for k, v in fields.items()}
        files = {"image": ("start.png", plan.start, "image/png")}
        return await self._request(plan, state, "/images/edits", {"data": form, "files": files})

    async def _request(self, plan: Plan, state: RequestState, path: str, body: dict[str, Any]) -> list[bytes]:
        timeout = httpx.Timeout(
            float(self.account.options.get("request_timeout_s", DEFAULT_REQUEST_TIMEOUT_S)), connect=10.0
        )
        url = f"{self.base_url}{path}"
        streaming = bool((body.get("json") or body.get("data") or {}).get("stream"))
        if streaming:
            return await self._stream(url, plan, state, body, timeout)
        try:
            status, data, headers = await self.request_json(
                "POST", url, headers=self.auth_headers(), timeout=timeout, **body
            )
        except ProviderError as exc:
            raise self._scrubbed(exc) from None
        answer = Answer(status, data, headers)
        if not answer.ok:
            raise self._failure(answer)
        return await self._images(answer.obj())

    def _failure(self, answer: Answer) -> ProviderError:
        error = self.http_error(answer)
        if error.answer is None:
            error.answer = answer_class(answer.status, answer.body)
        return self._scrubbed(error)

    async def _images(self, data: dict[str, Any]) -> list[bytes]:
        items = data.get("data")
        if not isinstance(items, list) or not items:
            raise ProviderError(ErrorReason.MALFORMED_RESPONSE, "openai answered without images")
        images = []
        for item in items:
            if isinstance(item, dict) and isinstance(item.get("b64_json"), str):
                images.append(_b64(item["b64_json"]))
            elif isinstance(item, dict) and isinstance(item.get("url"), str):
                images.append(await self.fetch_image(item["url"]))  # LocalAI and dall-e's url form
        if not images:
            raise ProviderError(ErrorReason.MALFORMED_RESPONSE, "openai answered without image data")
        return images

    async def _stream(
        self, url: str, plan: Plan, state: RequestState, body: dict[str, Any], limits: httpx.Timeout
    ) -> list[bytes]:
        """Server-sent events: partial images become previews, completed ones the result (backends.md §3.6)."""
        images: list[bytes] = []
        try:
            async with self.http.stream("POST", url, headers=self.auth_headers(), timeout=limits, **body) as response:
                if response.status_code >= 400:
                    raw = await response.aread()
                    try:
                        parsed = loads_json(raw) if raw else None
                    except (ValueError, RecursionError):
                        parsed = None
                    raise self._failure(Answer(response.status_code, parsed, response.headers))
                async for line in response.aiter_lines():
                    if not line.startswith("data:"):
                        continue
                    payload = line[5:].strip()
                    if not payload or payload == "[DONE]":
                        continue
                    try:
                        event = loads_json(payload)
                    except (ValueError, RecursionError):
                        continue
                    if not isinstance(event, dict):
                        continue
                    kind = str(event.get("type", ""))
                    if kind == "error":
                        # A refusal after the stream began (output moderation): the envelope, in an event.
                        raise self._failure(Answer(400, {"error": event.get("error")}, response.headers))
                    if not isinstance(event.get("b64_json"), str):
                        continue
                    if kind.endswith("partial_image"):
                        state.previews += 1
                        state.progress = min(95, state.progress + 100 // (4 * plan.count))
                        state.preview = self.keep_preview(
                            self.task_id(plan), state.previews, _b64(event["b64_json"]), "png"
                        )
                    elif kind.endswith("completed"):
                        images.append(_b64(event["b64_json"]))
        except httpx.TimeoutException as exc:
            raise ProviderError(
                ErrorReason.PROVIDER_UNAVAILABLE, "openai timed out", answer=AnswerClass.NO_ANSWER
            ) from exc
        except httpx.HTTPError as exc:
            raise ProviderError(
                ErrorReason.PROVIDER_UNAVAILABLE, f"openai: {type(exc).__name__}", answer=AnswerClass.NO_ANSWER
            ) from exc
        if not images:
            raise ProviderError(ErrorReason.MALFORMED_RESPONSE, "openai's stream ended without an image")
        return images

    async def cancel(self, provider_job_id: str, provider_data: Mapping[str, Any]) -> None:
        """Close the request (the API has no cancel); images already being made may be billed anyway."""
        self.drop(provider_job_id)

    async def check(self) -> str | None:
        try:
            await self.call("GET", "/models")
        except ProviderError as exc:
            if exc.reason is ErrorReason.UNAUTHORIZED:
                return f"openai at {self.base_url} refused OPENAI_API_KEY"
            if exc.status_code == 404:
                return None  # some compatible servers have no /models; the key was not refused
            return f"openai at {self.base_url}: {exc.detail or exc.reason.value}"
        return None


def _b64(text: str) -> bytes:
    try:
        return base64.b64decode(text.split(",", 1)[-1])
    except (binascii.Error, ValueError):
        raise ProviderError(ErrorReason.MALFORMED_RESPONSE, "openai sent an image that is not base64") from None
