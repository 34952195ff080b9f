"""AUTOMATIC1111 (and Forge / SD.Next) on loopback: ``/sdapi/v1/txt2img``, ``img2img``, ``progress``, ``interrupt``.

Built from backends.md §2: the generation request is held open until the images are drawn (the
simulator's clock), and the calls are serialised behind one lock as A1111's are; ``GET
/sdapi/v1/progress`` walks 0→1 with ``state.sampling_step`` and a ``current_image`` preview (when
previews are on) for the one generation running; ``POST /sdapi/v1/interrupt`` ends it early and the held
request answers with what it has. The answer is ``images`` (base64 PNGs, ``batch_size × n_iter``) and
``info`` as a JSON *string* with ``all_seeds = [seed + i]``. HTTP Basic when ``credentials`` is set (401
``{"detail": "Incorrect username or password"}``); an unknown sampler is 404 in A1111's error envelope
``{"error", "detail", "body", "errors"}``; a body that is not the schema is FastAPI's 422. Forced errors:
those, a model that is not installed, an out-of-memory 500 after the generation started, a proxy's 502.
``POST /sdapi/v1/interrogate`` answers a caption; ``GET /sdapi/v1/options`` the settings.
"""

from __future__ import annotations

import asyncio
import base64
import io
import json
from typing import Any, ClassVar

from aiohttp import web
from PIL import Image, ImageFilter

from providersim._core import ErrorSpec, SimJob, SimServer, json_response
from providersim._images import render_grid, split_grid

__all__ = ["A1111Sim"]

SAMPLERS = ("Euler", "Euler a", "DPM++ 2M", "UniPC")


def _envelope(status_error: str, detail: str) -> dict[str, Any]:
    return {"error": status_error, "detail": detail, "body": "", "errors": detail}


def _errors() -> dict[str, ErrorSpec]:
    basic = {"WWW-Authenticate": "Basic"}
    return {
        "unauthorized": ErrorSpec(401, {"detail": "Incorrect username or password"}, headers=basic),
        "sampler_not_found": ErrorSpec(404, _envelope("HTTPException", "Sampler not found")),
        "model_not_found": ErrorSpec(404, _envelope("HTTPException", "Model not found")),
        "validation": ErrorSpec(
            422,
            {
                "detail": [
                    {"loc": ["body", "width"], "msg": "value is not a valid integer", "type": "type_error.integer"}
                ]
            },
        ),
        "oom": ErrorSpec(job_failure="oom"),
        "bad_gateway": ErrorSpec(502, "<html>502 Bad Gateway</html>"),
    }


def _b64png(image: Image.Image) -> str:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", compress_level=1)
    return base64.b64encode(buffer.getvalue()).decode()


class A1111Sim(SimServer):
    name = "a1111"
    progress_webhooks = True  # every step is noted (for the held request and /progress), no webhooks exist
    errors: ClassVar[dict[str, ErrorSpec]] = _errors()

    def __init__(self, *, credentials: str | None = None, **kwargs: Any) -> None:
        kwargs.setdefault("api_key", "")
        super().__init__(**kwargs)
        self.credentials = credentials
        self.lock = asyncio.Lock()
        self.events: dict[str, asyncio.Event] = {}

    def add_routes(self, router: web.UrlDispatcher) -> None:
        router.add_post("/sdapi/v1/txt2img", self._generate)
        router.add_post("/sdapi/v1/img2img", self._generate)
        router.add_get("/sdapi/v1/progress", self._progress)
        router.add_post("/sdapi/v1/interrupt", self._interrupt)
        router.add_post("/sdapi/v1/interrogate", self._interrogate)
        router.add_get("/sdapi/v1/options", self._options)
        router.add_get("/sdapi/v1/samplers", self._samplers)

    def authenticate(self, request: web.Request) -> str | None:
        if self.credentials is None:
            return "anyone"
        expected = "Basic " + base64.b64encode(self.credentials.encode()).decode()
        return "user" if request.headers.get("Authorization") == expected else None

    def unauthorized(self) -> web.Response:
        return json_response(401, {"detail": "Incorrect username or password"}, {"WWW-Authenticate": "Basic"})

    def server_error(self) -> web.Response:
        return json_response(500, _envelope("RuntimeError", "Internal error"))

    async def _generate(self, request: web.Request) -> web.Response:
        body = await self.read_object(request)
        forced = self.forced_outcome()
        if forced.refusal is not None:
            return forced.refusal
        if not isinstance(body.get("width", 512), int) or not isinstance(body.get("height", 512), int):
            return json_response(422, {"detail": [{"loc": ["body", "width"], "msg": "value is not a valid integer",
                                                   "type": "type_error.integer"}]})  # fmt: skip
        sampler = body.get("sampler_name")
        if sampler is not None and sampler not in SAMPLERS:
            return json_response(404, _envelope("HTTPException", "Sampler not found"))
        img2img = request.path.endswith("img2img")
        if img2img and not body.get("init_images"):
            return json_response(404, _envelope("HTTPException", "Init image not found"))
        async with self.lock:
            seed = body.get("seed", -1)
            job = self.create_job(
                "", kind="grid", action="img2img" if img2img else "txt2img", prompt=str(body.get("prompt") or "image"),
                ref=str(body["force_task_id"]) if body.get("force_task_id") else None, failure=forced.failure,
                extra={"body": body},
            )  # fmt: skip
            if isinstance(seed, int) and seed >= 0:
                job.seed = seed
            event = self.events.setdefault(job.id, asyncio.Event())
            if job.terminal:
                event.set()
            await event.wait()
            self.events.pop(job.id, None)
        if job.state == "failed":
            return json_response(500, _envelope("OutOfMemoryError", "CUDA out of memory. Tried to allocate 2.00 GiB"))
        images = await asyncio.to_thread(self._render, job, img2img)
        count = int(body.get("batch_size", 1)) * int(body.get("n_iter", 1))
        info = {"prompt": job.prompt, "all_seeds": [job.seed + i for i in range(count)], "seed": job.seed,
                "index_of_first_image": 0, "width": body.get("width", 512),
                "height": body.get("height", 512)}  # fmt: skip
        return json_response(200, {"images": images, "parameters": body, "info": json.dumps(info)})

    def notify(self, job: SimJob) -> None:
        if job.terminal and job.id in self.events:
            self.events[job.id].set()
        elif job.terminal:
            self.events.setdefault(job.id, asyncio.Event()).set()

    def _render(self, job: SimJob, img2img: bool) -> list[str]:
        body = job.extra["body"]
        size = (int(body.get("width", 512)), int(body.get("height", 512)))
        count = int(body.get("batch_size", 1)) * int(body.get("n_iter", 1))
        if job.state == "cancelled":
            count = 1  # interrupted: what was drawn so far
        if img2img:
            raw = str(body["init_images"][0]).split(",", 1)[-1]
            source = Image.open(io.BytesIO(base64.b64decode(raw))).convert("RGB").resize(size)
            out = []
            for i in range(count):
                h, s, v = source.convert("HSV").split()
                turn = (job.seed * 7 + i * 41) % 256
                out.append(_b64png(Image.merge("HSV", (h.point(lambda p, t=turn: (p + t) % 256), s, v)).convert("RGB")))
            return out
        tiles = split_grid(render_grid(job.prompt, job.seed, "1:1"))
        return [_b64png(tiles[i % 4].resize(size)) for i in range(count)]

    def _running(self) -> SimJob | None:
        return next((j for j in self.jobs.values() if j.state == "running"), None)

    async def _progress(self, request: web.Request) -> web.Response:
        job = self._running()
        if job is None:
            return json_response(200, {"progress": 0, "eta_relative": 0, "state": {"job_count": 0, "sampling_step": 0,
                                       "sampling_steps": 0, "interrupted": False}, "current_image": None,
                                       "textinfo": None})  # fmt: skip
        preview = None
        if self.previews and request.query.get("skip_current_image", "false") == "false":
            tile = split_grid(render_grid(job.prompt, job.seed, "1:1"))[0]
            preview = await asyncio.to_thread(_b64png, tile.filter(ImageFilter.GaussianBlur(6)))
        return json_response(200, {
            "progress": job.stage / self.steps, "eta_relative": (self.steps - job.stage) * self.step_seconds,
            "state": {"skipped": False, "interrupted": False, "job": job.ref or "", "job_count": 1, "job_no": 0,
                      "sampling_step": job.stage, "sampling_steps": self.steps},
            "current_image": preview, "textinfo": None,
        })  # fmt: skip

    async def _interrupt(self, request: web.Request) -> web.Response:
        job = self._running()
        if job is not None:
            self.finish(job, "cancelled")
        return json_response(200, {})

    async def _interrogate(self, request: web.Request) -> web.Response:
        body = await self.read_object(request)
        if body.get("model", "clip") not in ("clip", "deepdanbooru"):
            return json_response(404, _envelope("HTTPException", "Model not found"))
        if not body.get("image"):
            return json_response(404, _envelope("HTTPException", "Image not found"))
        return json_response(200, {"caption": "a painting of a landscape with bands of colour, trending on artstation"})

    async def _options(self, request: web.Request) -> web.Response:
        return json_response(200, {"sd_model_checkpoint": "sd_xl_base_1.0.safetensors", "live_previews_enable": True})

    async def _samplers(self, request: web.Request) -> web.Response:
        return json_response(200, [{"name": s, "aliases": [], "options": {}} for s in SAMPLERS])

    def job_body(self, job: SimJob) -> Any:
        return {}
