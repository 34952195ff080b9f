"""OpenAI's Images API on loopback: ``/v1/images/generations``, ``/v1/images/edits``, ``/v1/models``.

Built from backends.md §3: Bearer auth (401 ``invalid_api_key`` in the error envelope); the request is held
for the simulator's clock and answered with ``n`` PNGs as ``b64_json`` and ``usage``; with ``stream: true``
server-sent events, ``partial_images`` partial events per image then one completed event per image; a
banned word (``Faults.banned_words``) is 400 ``moderation_blocked`` at the input stage, and the forced
``moderation_output`` refuses the finished image (stage ``output``); DALL·E's ``content_policy_violation``;
429 with the ``x-ratelimit-*`` headers, and 429 ``insufficient_quota``; 404 ``model_not_found`` for a
model outside ``models``; a 500; and with ``flat_errors`` the stable-diffusion.cpp flavour, whose errors are
``{"error": "<text>"}``. Edits take multipart (``image`` or ``image[]``) and answer variations of the image.
"""

from __future__ import annotations

import asyncio
import base64
import io
import json
import time
from typing import Any, ClassVar

from aiohttp import web
from PIL import Image, ImageFilter

from providersim._core import TOKEN, ErrorSpec, SimJob, SimServer, json_response
from providersim._images import render_grid, split_grid

__all__ = ["OpenAIImagesSim"]

MODELS = ("gpt-image-1.5", "gpt-image-2", "gpt-image-1-mini")
RATE_HEADERS = {
    "x-ratelimit-limit-requests": "50", "x-ratelimit-remaining-requests": "0", "x-ratelimit-reset-requests": "20ms",
    "x-ratelimit-limit-tokens": "100000", "x-ratelimit-remaining-tokens": "0", "x-ratelimit-reset-tokens": "1s",
}  # fmt: skip


def _envelope(message: str, kind: str, code: str | None, param: str | None = None) -> dict[str, Any]:
    return {"error": {"message": message, "type": kind, "param": param, "code": code}}


SAFETY = "Your request was rejected by the safety system. If you believe this is an error, contact us."


def _errors() -> dict[str, ErrorSpec]:
    return {
        "invalid_api_key": ErrorSpec(401, _envelope("Incorrect API key provided: sk-***.", "invalid_request_error",
                                                    "invalid_api_key")),
        "moderation_blocked": ErrorSpec(400, {**_envelope(SAFETY, "image_generation_user_error", "moderation_blocked"),
                                              "moderation_details": {"moderation_stage": "input",
                                                                     "categories": ["violence"]}}),
        "content_policy_violation": ErrorSpec(400, _envelope(
            "Your request was rejected as a result of our safety system.", "invalid_request_error",
            "content_policy_violation")),
        "moderation_output": ErrorSpec(job_failure="moderation_output"),
        "rate_limited": ErrorSpec(429, _envelope("Rate limit reached for images per minute.", "requests",
                                                 "rate_limit_exceeded"), headers=RATE_HEADERS),
        "insufficient_quota": ErrorSpec(429, _envelope("You exceeded your current quota.", "insufficient_quota",
                                                       "insufficient_quota")),
        "model_not_found": ErrorSpec(404, _envelope("The model `dall-e-2` does not exist.", "invalid_request_error",
                                                    "model_not_found")),
        "invalid_size": ErrorSpec(400, _envelope("Invalid size '640x480'.", "invalid_request_error", "invalid_value",
                                                 "size")),
        "server_error": ErrorSpec(500, _envelope("The server had an error processing your request.", "server_error",
                                                 None)),
        "bad_gateway": ErrorSpec(502, "<html>502 Bad Gateway</html>"),
    }  # fmt: skip


def _png_b64(image: Image.Image) -> str:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", compress_level=1)
    return base64.b64encode(buffer.getvalue()).decode()


class OpenAIImagesSim(SimServer):
    name = "openai"
    api_prefix = "/v1"
    progress_webhooks = True  # every step is noted (the held request waits on it); no webhooks exist
    errors: ClassVar[dict[str, ErrorSpec]] = _errors()

    def __init__(self, *, flat_errors: bool = False, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.flat_errors = flat_errors
        self.events: dict[str, asyncio.Event] = {}

    def add_routes(self, router: web.UrlDispatcher) -> None:
        router.add_post("/v1/images/generations", self._generate)
        router.add_post("/v1/images/edits", self._generate)
        router.add_get("/v1/models", self._models)

    def unauthorized(self) -> web.Response:
        return self._error(401, _envelope("Incorrect API key provided.", "invalid_request_error", "invalid_api_key"))

    def server_error(self) -> web.Response:
        return self._error(500, _envelope("The server had an error.", "server_error", None))

    def _error(self, status: int, body: Any, headers: dict[str, str] | None = None) -> web.Response:
        if self.flat_errors and isinstance(body, dict) and isinstance(body.get("error"), dict):
            body = {"error": body["error"]["message"]}
        return json_response(status, body, headers)

    async def _read(self, request: web.Request) -> dict[str, Any]:
        if not request.content_type.startswith("multipart/"):
            return await self.read_object(request)
        fields: dict[str, Any] = {}
        reader = await request.multipart()
        while (part := await reader.next()) is not None:
            name = getattr(part, "name", None)
            data = await part.read()  # type: ignore[union-attr]
            if name in ("image", "image[]"):
                fields.setdefault("images", []).append(bytes(data))
            elif name:
                fields[name] = data.decode()
        for key in ("n", "partial_images"):
            if key in fields:
                fields[key] = int(fields[key])
        if "stream" in fields:
            fields["stream"] = fields["stream"] in ("true", "True", "1")
        return fields

    async def _generate(self, request: web.Request) -> web.StreamResponse:
        body = await self._read(request)
        forced = self.forced_outcome()
        if forced.refusal is not None:
            if self.flat_errors and forced.refusal.content_type == "application/json":
                spec_body = json.loads(forced.refusal.text or "null")
                kept = {k: v for k, v in forced.refusal.headers.items() if k.lower().startswith("x-")}
                return self._error(forced.refusal.status, spec_body, kept)
            return forced.refusal
        prompt = body.get("prompt")
        if not isinstance(prompt, str) or not prompt:
            return self._error(400, _envelope("Missing required parameter: 'prompt'.", "invalid_request_error",
                                              "missing_required_parameter", "prompt"))  # fmt: skip
        if body.get("model", MODELS[0]) not in MODELS:
            return self._error(404, _envelope(f"The model `{body.get('model')}` does not exist.",
                                              "invalid_request_error", "model_not_found"))  # fmt: skip
        if any(word.lower() in prompt.lower() for word in self.faults.banned_words):
            return self._refused("input")
        edit = request.path.endswith("/edits")
        if edit and not body.get("images"):
            return self._error(400, _envelope("Missing required parameter: 'image'.", "invalid_request_error",
                                              "missing_required_parameter", "image"))  # fmt: skip
        try:
            width, height = (int(p) for p in str(body.get("size", "1024x1024")).split("x"))
        except ValueError:
            return self._error(400, _envelope(f"Invalid size {body.get('size')!r}.", "invalid_request_error",
                                              "invalid_value", "size"))  # fmt: skip
        count = int(body.get("n", 1))
        job = self.create_job(request[TOKEN], kind="grid", action="edit" if edit else "generate", prompt=prompt,
                              failure=forced.failure, extra={"size": (width, height), "n": count,
                                                             "images": body.get("images")})  # fmt: skip
        if body.get("stream"):
            return await self._stream(request, job, int(body.get("partial_images", 0)))
        await self._wait(job)
        if job.state == "failed":
            return self._refused("output")
        images = await asyncio.to_thread(self._render, job)
        return json_response(200, {
            "created": int(time.time()), "data": [{"b64_json": b, "revised_prompt": None} for b in images],
            "background": "opaque", "output_format": "png", "quality": "medium", "size": f"{width}x{height}",
            "usage": {"input_tokens": 50, "input_tokens_details": {"image_tokens": 0, "text_tokens": 50},
                      "output_tokens": 1056 * count, "total_tokens": 50 + 1056 * count},
        })  # fmt: skip

    def _refused(self, stage: str) -> web.Response:
        details = {"moderation_stage": stage, "categories": ["violence"]}
        body = {**_envelope(SAFETY, "image_generation_user_error", "moderation_blocked"), "moderation_details": details}
        return self._error(400, body)

    async def _wait(self, job: SimJob) -> None:
        event = self.events.setdefault(job.id, asyncio.Event())
        if job.terminal:
            event.set()
        await event.wait()
        self.events.pop(job.id, None)

    def notify(self, job: SimJob) -> None:
        event = self.events.setdefault(job.id, asyncio.Event())
        if job.terminal:
            event.set()
        else:
            event_progress = self.events.setdefault(f"{job.id}:step", asyncio.Event())
            event_progress.set()

    async def _stream(self, request: web.Request, job: SimJob, partials: int) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"})
        await response.prepare(request)
        try:
            await self._events(response, job, partials)
        except ConnectionError:
            pass  # the client went away (a killed bot): the images are made and billed all the same
        finally:
            self.events.pop(job.id, None)
            self.events.pop(f"{job.id}:step", None)
        return response

    async def _events(self, response: web.StreamResponse, job: SimJob, partials: int) -> None:
        sent = 0
        while not job.terminal:
            step = self.events.setdefault(f"{job.id}:step", asyncio.Event())
            done = self.events.setdefault(job.id, asyncio.Event())
            waiters = {asyncio.ensure_future(step.wait()), asyncio.ensure_future(done.wait())}
            _, pending = await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
            for waiter in pending:
                waiter.cancel()
            step.clear()
            if not job.terminal and sent < partials and self.previews:
                preview = await asyncio.to_thread(self._partial, job)
                await self._event(response, {"type": "image_generation.partial_image", "b64_json": preview,
                                             "partial_image_index": sent, "output_format": "png"})  # fmt: skip
                sent += 1
        if job.state == "failed":
            error = _envelope(SAFETY, "image_generation_user_error", "moderation_blocked")["error"]
            await self._event(response, {"type": "error", "error": error})
        else:
            for image in await asyncio.to_thread(self._render, job):
                await self._event(response, {"type": "image_generation.completed", "b64_json": image,
                                             "output_format": "png", "usage": {"total_tokens": 1106}})  # fmt: skip
        await response.write_eof()

    @staticmethod
    async def _event(response: web.StreamResponse, data: dict[str, Any]) -> None:
        await response.write(f"event: {data['type']}\ndata: {json.dumps(data)}\n\n".encode())

    def _partial(self, job: SimJob) -> str:
        tile = split_grid(render_grid(job.prompt, job.seed, "1:1"))[0].resize(job.extra["size"])
        return _png_b64(tile.filter(ImageFilter.GaussianBlur(6)))

    def _render(self, job: SimJob) -> list[str]:
        size, count = job.extra["size"], job.extra["n"]
        if job.extra.get("images"):
            source = Image.open(io.BytesIO(job.extra["images"][0])).convert("RGB").resize(size)
            out = []
            for i in range(count):
                h, s, v = source.convert("HSV").split()
                turn = (job.seed * 7 + i * 41) % 256
                out.append(
                    _png_b64(Image.merge("HSV", (h.point(lambda p, t=turn: (p + t) % 256), s, v)).convert("RGB"))
                )
            return out
        tiles = split_grid(render_grid(job.prompt, job.seed, "1:1"))
        return [_png_b64(tiles[i % 4].resize(size)) for i in range(count)]

    async def _models(self, request: web.Request) -> web.Response:
        return json_response(200, {"object": "list", "data": [{"id": m, "object": "model"} for m in MODELS]})

    def job_body(self, job: SimJob) -> Any:
        return {}
