"""The AUTOMATIC1111 / Forge / SD.Next adapter: ``/sdapi/v1/txt2img``, ``img2img``, ``progress``, ``interrogate``.

A1111 answers a generation request only when its images are drawn (backends.md §2.1: the calls are
serialised behind one lock), so this is a :class:`~bot.core.providers._blocking.BlockingAdapter`: the
request runs in a task of its own and the job is followed by reading that task, with ``GET
/sdapi/v1/progress`` (0–1 and the live preview, when the server's live previews are on) for progress.
That route reports the one generation running on the server; it is given to the oldest request this
adapter has open, the one A1111 serves first [INFERRED from the lock]. ``force_task_id`` carries our
ref, for A1111's own progress route and logs. After a bot restart an open request's images are lost
(the answer was the only copy) and the job ends as interrupted, never resent.

Credentials: ``A1111_API_KEY`` is ``user:pass`` for a server started with ``--api-auth`` (SD.Next:
``--auth``), sent as HTTP Basic. Account options: ``steps`` (default 25), ``cfg_scale`` (7), ``sampler``
(the server's default when unset), ``request_timeout_s`` (600), ``interrogate_model`` (``clip``), plus
those of :class:`~bot.core.providers._owned.OwnedAdapter`.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
from collections.abc import Mapping
from typing import Any

import httpx

from bot.core.errors import ProviderError
from bot.core.models import AnswerClass, ErrorReason, SubmitOutcome, Verb
from bot.core.providers._blocking import BlockingAdapter, RequestState
from bot.core.providers._common import Answer, answer_class
from bot.core.providers._owned import OWNED_CAPABILITIES, Plan, progress_percent
from bot.core.providers.base import loads_json

__all__ = ["A1111Provider"]

# A1111's own default is 50 steps; 25 is what its UI and most guides use for SD 1.5 / SDXL.
DEFAULT_STEPS = 25
DEFAULT_CFG = 7.0
# One generation of four SDXL images on a modest GPU takes minutes; the request stays open meanwhile.
DEFAULT_REQUEST_TIMEOUT_S = 600.0


class A1111Provider(BlockingAdapter):
    name = "a1111"
    default_base_url = "http://127.0.0.1:7860"
    capabilities = dataclasses.replace(OWNED_CAPABILITIES, describe=True, verbs=frozenset({Verb.DESCRIBE}))
    # backends.md §2: /sdapi/v1/interrogate captions an image (CLIP by default); one caption, not four.
    documented_verbs = {Verb.DESCRIBE: "POST /sdapi/v1/interrogate: one caption of the image"}
    # A1111 has no route that lists finished requests by our id, and none that returns their images.
    finds_by_ref = False
    # Whether A1111 has the job after each kind of answer to txt2img/img2img (backends.md §2.1).
    submit_outcomes = {
        AnswerClass.ACCEPTED: SubmitOutcome.TAKEN,  # the request is open (or answered with its images)
        AnswerClass.REFUSED: SubmitOutcome.NOT_TAKEN,  # A1111 has no 200 refusal
        AnswerClass.INVALID: SubmitOutcome.NOT_TAKEN,  # 404 sampler/model not found, 422 schema: before the lock
        AnswerClass.RATE_LIMITED: SubmitOutcome.NOT_TAKEN,  # a proxy's 429
        AnswerClass.AUTH: SubmitOutcome.NOT_TAKEN,  # 401 from --api-auth, before anything runs
        AnswerClass.ACCOUNT_HELD: SubmitOutcome.NOT_TAKEN,  # not an A1111 answer
        AnswerClass.QUEUED_WITH_ID: SubmitOutcome.NOT_TAKEN,  # not an A1111 answer
        AnswerClass.SERVER_ERROR: SubmitOutcome.UNKNOWN,  # its JSON 500 (out of memory) may come mid-generation
        AnswerClass.GATEWAY_ERROR: SubmitOutcome.UNKNOWN,  # a proxy's 502/503/504
        AnswerClass.UNREADABLE: SubmitOutcome.UNKNOWN,  # a garbled 200
        AnswerClass.NOT_SENT: SubmitOutcome.NOT_TAKEN,  # no connection was made
        AnswerClass.NO_ANSWER: SubmitOutcome.UNKNOWN,  # sent, then silence
    }

    def auth_headers(self) -> dict[str, str]:
        key = self.account.api_key
        if not key:
            return {}
        return {"Authorization": "Basic " + base64.b64encode(key.encode()).decode()}

    def scrub(self, text: str) -> str:
        text = super().scrub(text)
        if self.account.api_key:
            text = text.replace(base64.b64encode(self.account.api_key.encode()).decode(), "***")
            for part in self.account.api_key.split(":", 1)[1:]:
                text = text.replace(part, "***") if len(part) >= 4 else text
        return text

    def error_text(self, body: Any) -> str | None:
        if isinstance(body, dict):
            for key in ("detail", "errors", "error"):
                value = body.get(key)
                if isinstance(value, str) and value:
                    return value
            if isinstance(body.get("detail"), list):
                return "; ".join(str(d.get("msg", d)) if isinstance(d, dict) else str(d) for d in body["detail"])[:200]
        return super().error_text(body)

    def status_reason(self, status: int, body: Any, headers: httpx.Headers, text: str | None) -> ProviderError | None:
        detail = f"a1111 answered {status}" + (f": {text[:200]}" if text else "")
        if status in (400, 404, 422):
            # "Sampler not found", "Model not found", a schema error: the operator's settings, not the prompt.
            return ProviderError(ErrorReason.PROVIDER_FAILED, detail, status_code=status, answer=AnswerClass.INVALID)
        return None

    async def _post(self, path: str, body: dict[str, Any], wait_s: float | None = None) -> Answer:
        kwargs: dict[str, Any] = {"json": body}
        if wait_s is not None:
            kwargs["timeout"] = httpx.Timeout(wait_s, connect=10.0)
        try:
            status, data, headers = await self.request_json(
                "POST", f"{self.base_url}{path}", headers=self.auth_headers(), **kwargs
            )
        except ProviderError as exc:
            raise self._scrubbed(exc) from None
        answer = Answer(status, data, headers)
        if not answer.ok:
            error = self.http_error(answer)
            if error.answer is None:
                error.answer = answer_class(status, data)
            raise self._scrubbed(error)
        return answer

    async def run(self, plan: Plan, state: RequestState) -> list[bytes]:
        options = self.account.options
        body: dict[str, Any] = {
            "prompt": plan.prompt.positive,
            "negative_prompt": plan.prompt.negative,
            "seed": plan.seed,
            "batch_size": plan.count,
            "n_iter": 1,
            "width": plan.width,
            "height": plan.height,
            "steps": int(options.get("steps", DEFAULT_STEPS)),
            "cfg_scale": float(options.get("cfg_scale", DEFAULT_CFG)),
            "force_task_id": self.task_id(plan),
            "send_images": True,
            "save_images": False,
        }
        if options.get("sampler"):
            body["sampler_name"] = str(options["sampler"])
        path = "/sdapi/v1/txt2img"
        if plan.start is not None:
            path = "/sdapi/v1/img2img"
            body |= {"init_images": [base64.b64encode(plan.start).decode()], "denoising_strength": plan.denoise,
                     "resize_mode": 0}  # fmt: skip
        timeout = float(options.get("request_timeout_s", DEFAULT_REQUEST_TIMEOUT_S))
        data = (await self._post(path, body, timeout)).obj()
        images = data.get("images")
        if not isinstance(images, list) or not images:
            raise ProviderError(ErrorReason.MALFORMED_RESPONSE, "a1111 answered without images")
        first = 0
        info = data.get("info")
        if isinstance(info, str):
            try:
                parsed = loads_json(info)  # info is a JSON string inside the JSON (backends.md §2.4)
                if isinstance(parsed, dict) and isinstance(parsed.get("index_of_first_image"), int):
                    first = parsed["index_of_first_image"]  # 1 when a grid was prepended
            except (ValueError, RecursionError):
                pass
        try:
            return [base64.b64decode(str(i).split(",", 1)[-1], validate=False) for i in images[first:]]
        except (binascii.Error, ValueError):
            raise ProviderError(ErrorReason.MALFORMED_RESPONSE, "a1111 sent an image that is not base64") from None

    async def running_progress(self, task_id: str, state: RequestState) -> None:
        if self.oldest_running() != task_id:
            return  # waiting behind another of our requests on A1111's lock
        answer = await self.call("GET", "/sdapi/v1/progress", params={"skip_current_image": "false"})
        data = answer.body if isinstance(answer.body, dict) else {}
        percent = progress_percent(data.get("progress"), 1)
        if percent is not None and percent > state.progress:
            state.progress = percent
        image = data.get("current_image")
        if isinstance(image, str) and image:
            try:
                preview = base64.b64decode(image.split(",", 1)[-1])
            except (binascii.Error, ValueError):
                return
            state.previews += 1
            state.preview = self.keep_preview(task_id, state.previews, preview, "png")

    async def cancel(self, provider_job_id: str, provider_data: Mapping[str, Any]) -> None:
        """Interrupt the generation if it is ours and running; one still waiting on A1111's lock cannot be
        withdrawn (A1111 has no queue to delete from), so it runs and its answer is dropped."""
        if self.oldest_running() == provider_job_id:
            await self.call("POST", "/sdapi/v1/interrupt")

    async def describe(self, image: bytes) -> list[str]:
        """Prompts for an image: A1111's CLIP interrogator (``POST /sdapi/v1/interrogate``)."""
        model = str(self.account.options.get("interrogate_model", "clip"))
        body = {"image": base64.b64encode(image).decode(), "model": model}
        data = (await self._post("/sdapi/v1/interrogate", body, DEFAULT_REQUEST_TIMEOUT_S)).obj()
        caption = data.get("caption")
        if not isinstance(caption, str) or not caption.strip():
            raise ProviderError(ErrorReason.MALFORMED_RESPONSE, "a1111 interrogate answered without a caption")
        return [caption.strip()]

    async def check(self) -> str | None:
        try:
            await self.call("GET", "/sdapi/v1/options")
        except ProviderError as exc:
            if exc.status_code == 404:
                return f"a1111 at {self.base_url} has no API: start it with --api"
            if exc.reason is ErrorReason.UNAUTHORIZED:
                return f"a1111 at {self.base_url} refused the credentials (A1111_API_KEY is user:pass)"
            return f"a1111 at {self.base_url}: {exc.detail or exc.reason.value}"
        return None
