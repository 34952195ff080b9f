"""ComfyUI on loopback: ``POST /prompt``, ``/ws?clientId=``, ``/history``, ``/queue``, ``/view``, ``/upload/image``.

Built from backends.md §1 (ComfyUI's server.py and execution.py): every route also under ``/api``; no
authentication of its own, but the Origin/cross-site checks (403 for ``Sec-Fetch-Site: cross-site``, and
for a loopback Host with a foreign Origin), and an optional proxy key (``proxy_key``: a Bearer header, as a
reverse proxy in front of ComfyUI would demand). ``/prompt`` validates the graph: no ``prompt`` → 400
``no_prompt``; an unknown ``class_type`` → 400 ``missing_node_type``; no output node → 400
``prompt_no_outputs``; a checkpoint that is not installed or a LoadImage of a file never uploaded → 400
``prompt_outputs_failed_validation`` with the node's errors; a ``prompt_id`` that is not a lower-case UUID
→ 400 ``invalid_prompt_id``; one already used → 409. A queued prompt runs on the simulator's clock:
``execution_start``, ``execution_cached``, ``executing`` per node, ``progress`` 1..steps with one binary
preview frame per step (type 1, or type 4 with JSON metadata once the client sent the
``supports_preview_metadata`` feature flag), ``executed`` for the SaveImage node, ``executing`` with node
null, ``execution_success`` — all only to the socket of the prompt's ``client_id``. Then ``/history/{id}``
flips from ``{}`` to the record, and ``/view`` serves the files. Forced errors: an out-of-memory
``execution_error`` (history ``status_str: "error"``), the validation errors above, a plain-text 500 (an
aiohttp crash page), and a proxy's 401/429/502. ``/interrupt`` ends the running prompt with
``execution_interrupted``; ``POST /queue {"delete": [...]}`` drops pending ones.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import re
import struct
import time
from typing import Any, ClassVar

from aiohttp import web
from PIL import Image, ImageFilter

from providersim._core import ErrorSpec, SimJob, SimServer, json_response
from providersim._images import render_grid, split_grid

__all__ = ["ComfyUISim"]

# Node types the simulated server has installed (core nodes only: a workflow needing a custom node fails).
NODE_TYPES = frozenset({
    "CheckpointLoaderSimple", "CLIPTextEncode", "EmptyLatentImage", "KSampler", "KSamplerAdvanced", "VAEDecode",
    "VAEEncode", "SaveImage", "PreviewImage", "LoadImage", "LatentFromBatch", "RepeatLatentBatch",
    "LatentUpscaleBy", "UpscaleModelLoader", "ImageUpscaleWithModel",
})  # fmt: skip
OUTPUT_TYPES = frozenset({"SaveImage", "PreviewImage"})
CHECKPOINTS = ("sd_xl_base_1.0.safetensors", "v1-5-pruned-emaonly.safetensors")
_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
# Binary frame event types and image formats (server.py BinaryEventTypes, send_image).
PREVIEW_IMAGE, PREVIEW_WITH_METADATA, FORMAT_JPEG = 1, 4, 1


def _error(kind: str, message: str, details: str = "", node_errors: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"error": {"type": kind, "message": message, "details": details, "extra_info": {}},
            "node_errors": node_errors or {}}  # fmt: skip


def _errors() -> dict[str, ErrorSpec]:
    return {
        "oom": ErrorSpec(job_failure="oom"),
        "missing_node_type": ErrorSpec(400, _error("missing_node_type", "Node 'FancySampler' not found.")),
        "invalid_ckpt": ErrorSpec(400, _error(
            "prompt_outputs_failed_validation", "Prompt outputs failed validation",
            "CheckpointLoaderSimple 4: Value not in list",
            {"4": {"errors": [{"type": "value_not_in_list", "message": "Value not in list",
                               "details": "ckpt_name: 'missing.safetensors' not in [...]", "extra_info": {}}],
                   "dependent_outputs": ["9"], "class_type": "CheckpointLoaderSimple"}})),
        # aiohttp's own page for an exception in a handler: not JSON.
        "server_error": ErrorSpec(500, "500 Internal Server Error\n\nServer got itself in trouble"),
        "proxy_unauthorized": ErrorSpec(401, "<html><body>401 Authorization Required</body></html>"),
        "proxy_rate_limited": ErrorSpec(429, "Too Many Requests", headers={"Retry-After": "0"}),
        "bad_gateway": ErrorSpec(502, "<html>502 Bad Gateway</html>"),
    }  # fmt: skip


def _variant(source: Image.Image, seed: int, index: int, size: tuple[int, int]) -> Image.Image:
    """Image-to-image, simulated: the start image resized, its hue turned by seed and batch index."""
    turn = (seed * 7 + index * 41) % 256
    hsv = source.convert("RGB").resize(size).convert("HSV")
    h, s, v = hsv.split()
    return Image.merge("HSV", (h.point(lambda p: (p + turn) % 256), s, v)).convert("RGB")


def _encode(image: Image.Image, fmt: str) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **({"quality": 70} if fmt == "JPEG" else {"compress_level": 1}))
    return buffer.getvalue()


class ComfyUISim(SimServer):
    name = "comfyui"
    # Every step of the clock is told (over the WebSocket, see notify), not only the end.
    progress_webhooks = True
    errors: ClassVar[dict[str, ErrorSpec]] = _errors()

    def __init__(self, *, proxy_key: str | None = None, **kwargs: Any) -> None:
        kwargs.setdefault("api_key", "")
        super().__init__(**kwargs)
        self.proxy_key = proxy_key
        self.sockets: dict[str, web.WebSocketResponse] = {}
        self.metadata_clients: set[str] = set()
        self.history: dict[str, dict[str, Any]] = {}
        self.files: dict[tuple[str, str], bytes] = {}
        self.counter = 0
        self.app.middlewares.insert(0, self._origin_check)

    def add_routes(self, router: web.UrlDispatcher) -> None:
        for prefix in ("", "/api"):
            router.add_post(f"{prefix}/prompt", self._prompt)
            router.add_get(f"{prefix}/prompt", self._prompt_info)
            router.add_get(f"{prefix}/ws", self._ws)
            router.add_get(f"{prefix}/history", self._history_list)
            router.add_get(f"{prefix}/history/{{id}}", self._history)
            router.add_get(f"{prefix}/queue", self._queue)
            router.add_post(f"{prefix}/queue", self._queue_change)
            router.add_post(f"{prefix}/interrupt", self._interrupt)
            router.add_get(f"{prefix}/view", self._view)
            router.add_post(f"{prefix}/upload/image", self._upload)
            router.add_get(f"{prefix}/object_info", self._object_info)
            router.add_get(f"{prefix}/system_stats", self._system_stats)

    def reset(self) -> None:
        super().reset()
        self.history.clear()

    # -- the gatekeepers -------------------------------------------------------------------------

    @web.middleware
    async def _origin_check(self, request: web.Request, handler: Any) -> web.StreamResponse:
        if request.path.startswith("/_sim/"):
            return await handler(request)
        if request.headers.get("Sec-Fetch-Site") == "cross-site":
            return web.Response(status=403)
        host = request.headers.get("Host", "").rsplit(":", 1)[0]
        origin = request.headers.get("Origin")
        if origin and host in ("127.0.0.1", "localhost", "[::1]"):
            origin_host = origin.split("://", 1)[-1].split("/", 1)[0].rsplit(":", 1)[0]
            if origin_host != host:
                return web.Response(status=403)
        return await handler(request)

    def authenticate(self, request: web.Request) -> str | None:
        if self.proxy_key is None:
            return "anyone"  # ComfyUI itself checks no credentials
        header = request.headers.get("Authorization", "")
        return "proxy" if header == f"Bearer {self.proxy_key}" else None

    def unauthorized(self) -> web.Response:
        return web.Response(status=401, text="401 Authorization Required")

    def server_error(self) -> web.Response:
        return web.Response(status=500, text="500 Internal Server Error\n\nServer got itself in trouble")

    # -- /prompt ---------------------------------------------------------------------------------

    async def _prompt_info(self, request: web.Request) -> web.Response:
        pending = sum(1 for j in self.jobs.values() if not j.terminal)
        return json_response(200, {"exec_info": {"queue_remaining": pending}})

    async def _prompt(self, request: web.Request) -> web.Response:
        body = await self.read_object(request)
        forced = self.forced_outcome()
        if forced.refusal is not None:
            return forced.refusal
        graph = body.get("prompt")
        if not isinstance(graph, dict):
            return json_response(400, _error("no_prompt", "No prompt provided"))
        prompt_id = body.get("prompt_id")
        if prompt_id is not None and (not isinstance(prompt_id, str) or not _UUID.fullmatch(prompt_id)):
            return json_response(400, _error("invalid_prompt_id", f"Invalid prompt_id: {prompt_id!r}"))
        if prompt_id in self.jobs or prompt_id in self.history:
            return json_response(409, {"error": {"type": "duplicate_prompt_id", "message": "prompt_id already exists"}})
        problem = self._validate(graph)
        if problem is not None:
            return json_response(400, problem)
        extra = body.get("extra_data") if isinstance(body.get("extra_data"), dict) else {}
        ref = extra.get("imagine_bot_ref")
        job = self.create_job(
            "", id=prompt_id or self._uuid(), kind="grid", action="prompt", prompt=self._text(graph),
            ref=ref if isinstance(ref, str) else None, failure=forced.failure,
            extra={"graph": graph, "client_id": body.get("client_id"), "number": self.counter},
        )  # fmt: skip
        self.counter += 1
        return json_response(200, {"prompt_id": job.id, "number": job.extra["number"], "node_errors": {}})

    def create_job(self, token: str, **fields: Any) -> SimJob:
        # The seed is the graph's, not a random one: the same graph makes the same images (ComfyUI's cache).
        graph = fields["extra"]["graph"]
        seed = next((n["inputs"]["seed"] for n in graph.values() if "seed" in n.get("inputs", {})), 0)
        job = super().create_job(token, **fields)
        job.seed = int(seed) if str(seed).isdigit() else 0
        return job

    def _uuid(self) -> str:
        raw = f"{self.random.getrandbits(128):032x}"
        return f"{raw[:8]}-{raw[8:12]}-4{raw[13:16]}-a{raw[17:20]}-{raw[20:32]}"

    @staticmethod
    def _text(graph: dict[str, Any]) -> str:
        texts = [n["inputs"].get("text") for n in graph.values() if n.get("class_type") == "CLIPTextEncode"]
        return next((t for t in texts if isinstance(t, str) and t), "image")

    def _validate(self, graph: dict[str, Any]) -> dict[str, Any] | None:
        for node_id, node in graph.items():
            if not isinstance(node, dict) or not isinstance(node.get("inputs"), dict):
                return _error("invalid_prompt", f"Node {node_id} is not a node")
            kind = node.get("class_type")
            if kind not in NODE_TYPES:
                error = _error("missing_node_type", f"Node '{kind}' not found. The custom node may not be installed.")
                error["error"]["extra_info"] = {"node_id": node_id, "class_type": kind}
                return error
        if not any(n["class_type"] in OUTPUT_TYPES for n in graph.values()):
            return _error("prompt_no_outputs", "Prompt has no outputs")
        node_errors: dict[str, Any] = {}
        for node_id, node in graph.items():
            inputs, problems = node["inputs"], []
            if node["class_type"] == "CheckpointLoaderSimple" and inputs.get("ckpt_name") not in CHECKPOINTS:
                wanted = inputs.get("ckpt_name")
                problems.append({"type": "value_not_in_list", "message": "Value not in list",
                                 "details": f"ckpt_name: {wanted!r} not in {list(CHECKPOINTS)}"})  # fmt: skip
            if node["class_type"] == "LoadImage" and ("input", str(inputs.get("image"))) not in self.files:
                problems.append({"type": "custom_validation_failed", "message": "Custom validation failed for node",
                                 "details": f"image - Invalid image file: {inputs.get('image')}"})  # fmt: skip
            for key in ("width", "height"):
                if key in inputs and not isinstance(inputs[key], list):
                    try:
                        value = int(inputs[key])
                    except (TypeError, ValueError):
                        problems.append({"type": "invalid_input_type", "message": "Invalid input type", "details": key})
                        continue
                    if value < 16:
                        problems.append({"type": "value_smaller_than_min", "message": "Value 8 smaller than min of 16",
                                         "details": f"{key}: {value}"})  # fmt: skip
            if problems:
                node_errors[node_id] = {"errors": problems, "dependent_outputs": [], "class_type": node["class_type"]}
        if node_errors:
            summary = "\n".join(f"{node_errors[n]['class_type']} {n}: {e['message']}" for n in node_errors
                                for e in node_errors[n]["errors"])  # fmt: skip
            return _error("prompt_outputs_failed_validation", "Prompt outputs failed validation", summary, node_errors)
        return None

    # -- the job clock, told over the WebSocket ---------------------------------------------------

    def notify(self, job: SimJob) -> None:
        # ComfyUI has no webhooks; every step of the clock becomes messages to the job's client instead.
        self._spawn(self._tell(job, job.state, job.stage))

    async def _tell(self, job: SimJob, state: str, stage: int) -> None:
        client = job.extra.get("client_id")
        graph = job.extra["graph"]
        now = int(time.time() * 1000)
        sampler = next((i for i, n in graph.items() if n["class_type"].startswith("KSampler")), None)
        if (stage == 1 and state == "running") or (stage == self.steps and not job.extra.get("started")):
            job.extra["started"] = True
            await self._send(client, "execution_start", {"prompt_id": job.id, "timestamp": now})
            await self._send(client, "execution_cached", {"nodes": [], "prompt_id": job.id, "timestamp": now})
            await self._send(client, "executing", {"node": sampler, "display_node": sampler, "prompt_id": job.id})
        if state == "running":
            await self._send(
                client, "progress", {"value": stage, "max": self.steps, "prompt_id": job.id, "node": sampler}
            )
            if self.previews:
                await self._preview(job, client, stage)
            return
        if job.terminal and job.id not in self.history:
            await self._finish(job, client, now)

    async def _finish(self, job: SimJob, client: Any, now: int) -> None:
        graph = job.extra["graph"]
        output = next(i for i, n in graph.items() if n["class_type"] in OUTPUT_TYPES)
        messages: list[list[Any]] = [
            ["execution_start", {"prompt_id": job.id, "timestamp": now}],
            ["execution_cached", {"nodes": [], "prompt_id": job.id, "timestamp": now}],
        ]
        outputs: dict[str, Any] = {}
        if job.state == "done":
            images = await asyncio.to_thread(self._render, job)
            refs = []
            for image in images:
                self.counter += 1
                name = f"imagine_{self.counter:05d}_.png"
                self.files[("output", name)] = image
                refs.append({"filename": name, "subfolder": "", "type": "output"})
            outputs = {output: {"images": refs}}
            await self._send(client, "executed", {"node": output, "display_node": output,
                                                  "output": outputs[output], "prompt_id": job.id})  # fmt: skip
            messages.append(["execution_success", {"prompt_id": job.id, "timestamp": now}])
            status = {"status_str": "success", "completed": True, "messages": messages}
        else:
            interrupted = job.state == "cancelled"
            kind = "execution_interrupted" if interrupted else "execution_error"
            data: dict[str, Any] = {"prompt_id": job.id, "node_id": "3", "node_type": "KSampler", "executed": [],
                                    "timestamp": now}  # fmt: skip
            if not interrupted:
                data |= {"exception_message": "Allocation on device 0 would exceed allowed memory. (out of memory)",
                         "exception_type": "torch.OutOfMemoryError", "traceback": ["..."], "current_inputs": {},
                         "current_outputs": {}}  # fmt: skip
            await self._send(client, kind, data)
            messages.append([kind, data])
            status = {"status_str": "error", "completed": False, "messages": messages}
        self.history[job.id] = {
            "prompt": [job.extra["number"], job.id, graph, {"client_id": client}, [output]],
            "outputs": outputs, "status": status,
            "meta": {output: {"node_id": output, "display_node": output, "parent_node": None, "real_node_id": output}},
        }  # fmt: skip
        await self._send(client, "executing", {"node": None, "display_node": None, "prompt_id": job.id})

    def _advance(self, job: SimJob, stage: int) -> None:
        if stage >= self.steps and job.failure is not None:
            job.stage, job.state, job.updated = stage, "failed", time.time()
            self.notify(job)
            return
        super()._advance(job, stage)

    def _render(self, job: SimJob) -> list[bytes]:
        graph = job.extra["graph"]
        latent = next((n["inputs"] for n in graph.values() if n["class_type"] == "EmptyLatentImage"), None)
        load = next((n["inputs"] for n in graph.values() if n["class_type"] == "LoadImage"), None)
        repeat = next((n["inputs"] for n in graph.values() if n["class_type"] == "RepeatLatentBatch"), None)
        if load is not None:
            source = Image.open(io.BytesIO(self.files[("input", str(load["image"]))])).convert("RGB")
            count = int(repeat["amount"]) if repeat else 1
            return [_encode(_variant(source, job.seed, i, source.size), "PNG") for i in range(count)]
        assert latent is not None
        size = (int(latent["width"]), int(latent["height"]))
        count = int(latent["batch_size"])
        tiles = split_grid(render_grid(job.prompt, job.seed, "1:1"))
        return [_encode(tiles[i % 4].resize(size), "PNG") for i in range(count)]

    async def _preview(self, job: SimJob, client: Any, stage: int) -> None:
        ws = self.sockets.get(client) if isinstance(client, str) else None
        if ws is None or ws.closed:
            return
        tile = split_grid(render_grid(job.prompt, job.seed, "1:1"))[0]
        blurred = tile.filter(ImageFilter.GaussianBlur(max(1, 8 - 2 * stage)))
        image = await asyncio.to_thread(_encode, blurred, "JPEG")
        if client in self.metadata_clients:
            meta = json.dumps({"node_id": "3", "prompt_id": job.id, "display_node_id": "3", "parent_node_id": None,
                               "real_node_id": "3", "image_type": "image/jpeg"}).encode()  # fmt: skip
            frame = struct.pack(">II", PREVIEW_WITH_METADATA, len(meta)) + meta + image
        else:
            frame = struct.pack(">II", PREVIEW_IMAGE, FORMAT_JPEG) + image
        await ws.send_bytes(frame)

    async def _send(self, client: Any, kind: str, data: dict[str, Any]) -> None:
        ws = self.sockets.get(client) if isinstance(client, str) else None
        if ws is not None and not ws.closed:
            with contextlib.suppress(ConnectionError):
                await ws.send_str(json.dumps({"type": kind, "data": data}))

    # -- the other routes ------------------------------------------------------------------------

    async def _ws(self, request: web.Request) -> web.StreamResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        sid = request.query.get("clientId") or self._uuid().replace("-", "")
        # Reusing a client id replaces the old socket, as ComfyUI does.
        self.sockets[sid] = ws
        self.metadata_clients.discard(sid)
        queue = sum(1 for j in self.jobs.values() if not j.terminal)
        await ws.send_str(json.dumps({"type": "status", "data": {"status": {"exec_info": {"queue_remaining": queue}},
                                                                  "sid": sid}}))  # fmt: skip
        async for message in ws:
            if message.type.name == "TEXT":
                try:
                    data = json.loads(message.data)
                except ValueError:
                    continue
                if data.get("type") == "feature_flags" and (data.get("data") or {}).get("supports_preview_metadata"):
                    self.metadata_clients.add(sid)
                    flags = {"supports_preview_metadata": True, "max_upload_size": 104857600}
                    await ws.send_str(json.dumps({"type": "feature_flags", "data": flags}))
        if self.sockets.get(sid) is ws:
            del self.sockets[sid]
        return ws

    async def _history(self, request: web.Request) -> web.Response:
        record = self.history.get(request.match_info["id"])
        return json_response(200, {request.match_info["id"]: record} if record else {})

    async def _history_list(self, request: web.Request) -> web.Response:
        limit = int(request.query.get("max_items", 10_000))
        return json_response(200, dict(list(self.history.items())[-limit:]))

    async def _queue(self, request: web.Request) -> web.Response:
        def entry(job: SimJob) -> list[Any]:
            return [job.extra["number"], job.id, job.extra["graph"], {"client_id": job.extra.get("client_id")}, []]

        # A prompt leaves the queue when its history record is written, not a moment before.
        live = [j for j in self.jobs.values() if j.id not in self.history]
        running = [entry(j) for j in live if j.state != "queued"]
        pending = [entry(j) for j in live if j.state == "queued"]
        return json_response(200, {"queue_running": running, "queue_pending": pending})

    async def _queue_change(self, request: web.Request) -> web.Response:
        body = await self.read_object(request)
        doomed = body.get("delete") if isinstance(body.get("delete"), list) else []
        if body.get("clear"):
            doomed = [j.id for j in self.jobs.values() if j.state == "queued"]
        for prompt_id in doomed:
            job = self.jobs.get(prompt_id)
            if job is not None and job.state == "queued":
                del self.jobs[prompt_id]
        return web.Response(status=200)

    async def _interrupt(self, request: web.Request) -> web.Response:
        body = await self.read_object(request)
        wanted = body.get("prompt_id")
        for job in self.jobs.values():
            if job.state == "running" and (wanted is None or wanted == job.id):
                self.finish(job, "cancelled")
        return web.Response(status=200)

    async def _view(self, request: web.Request) -> web.Response:
        name = request.query.get("filename", "")
        if not name or "/" in name or ".." in name:
            return web.Response(status=400)
        data = self.files.get((request.query.get("type", "output"), name))
        if data is None:
            return web.Response(status=404)
        return web.Response(body=data, content_type="image/png")

    async def _upload(self, request: web.Request) -> web.Response:
        reader = await request.multipart()
        fields: dict[str, Any] = {}
        while (part := await reader.next()) is not None:
            if not isinstance(part, object) or not hasattr(part, "name"):
                continue
            if part.name == "image":
                fields["filename"] = getattr(part, "filename", None) or "upload.png"
                fields["image"] = await part.read()  # type: ignore[union-attr]
            else:
                fields[str(part.name)] = (await part.read()).decode()  # type: ignore[union-attr]
        if "image" not in fields:
            return web.Response(status=400)
        name = str(fields["filename"]).rsplit("/", 1)[-1]
        folder = fields.get("type") or "input"
        if (
            (folder, name) in self.files
            and self.files[(folder, name)] != fields["image"]
            and fields.get("overwrite") not in ("true", "1")
        ):
            stem, _, suffix = name.rpartition(".")
            name = f"{stem} (1).{suffix}"
        self.files[(folder, name)] = bytes(fields["image"])
        return json_response(200, {"name": name, "subfolder": "", "type": folder})

    async def _object_info(self, request: web.Request) -> web.Response:
        info = {
            kind: {"input": {"required": {}}, "name": kind, "output_node": kind in OUTPUT_TYPES} for kind in NODE_TYPES
        }
        info["CheckpointLoaderSimple"]["input"]["required"]["ckpt_name"] = [list(CHECKPOINTS)]
        return json_response(200, info)

    async def _system_stats(self, request: web.Request) -> web.Response:
        return json_response(200, {"system": {"os": "posix", "comfyui_version": "0.3.99-sim"}, "devices": []})

    def job_body(self, job: SimJob) -> Any:
        return self.history.get(job.id, {})
