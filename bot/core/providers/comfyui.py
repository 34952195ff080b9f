"""The ComfyUI adapter: the operator's API-format workflow, filled in and queued with ``POST /prompt``.

The workflow (``COMFYUI_WORKFLOW``, exported with "Export (API)") carries placeholders the bot fills in
the *parsed* JSON, never in its text (a prompt holding ``"`` must not break it):

``{{prompt}}``, ``{{negative}}``  text, substituted inside any string (usually CLIPTextEncode.text);
``{{seed}}``, ``{{width}}``, ``{{height}}``, ``{{batch_size}}``  numbers: a string that is exactly the
                                  placeholder becomes the number (usually KSampler.seed and the
                                  EmptyLatentImage's three inputs).

Variations and the other image-to-image actions need no second workflow: the bot replaces the node that
holds ``{{batch_size}}`` (the empty latent) with LoadImage → VAEEncode → RepeatLatentBatch, takes the VAE
from the workflow's VAEDecode, and sets ``denoise`` on the sampler that read the empty latent. At start
:func:`load_workflow` checks all of this and names what is missing in one line.

Submits carry our own ``prompt_id`` (a UUID made from our job id), so a job is found by it after a crash
(``/history/{id}``, ``/queue``) and a second submit of it would be refused 409 (read here as "taken").
Progress and preview frames come from the WebSocket (``/ws?clientId=``, one stable client id per account
so a restarted bot receives the events of the jobs it queued before); the record is ``/history``, and the
files come from ``/view`` and are copied into the bot's store. Account options: ``workflow`` (the path),
``token`` (ComfyUI-Login's ``?token=``), ``auth_header`` (header for the key, default Authorization:
Bearer), plus those of :class:`~bot.core.providers._owned.OwnedAdapter`.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import dataclasses
import hashlib
import json
import logging
import re
import struct
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import aiohttp
import httpx

from bot.core.errors import ConfigError, ProviderError
from bot.core.models import AnswerClass, ErrorReason, JobStatus, ProviderUpdate, SubmitOutcome
from bot.core.providers._common import Answer, first_str
from bot.core.providers._owned import OwnedAdapter, Plan, progress_percent
from bot.core.providers.base import Account, Submission, loads_json

__all__ = ["ComfyUIProvider", "Workflow", "fill_workflow", "load_workflow"]

_log = logging.getLogger(__name__)

_PLACEHOLDER = re.compile(r"\{\{\s*([a-z_]+)\s*\}\}")
TEXT_PLACEHOLDERS = frozenset({"prompt", "negative"})
NUMBER_PLACEHOLDERS = frozenset({"seed", "width", "height", "batch_size"})
# What the bot cannot work without; {{negative}} is optional (a workflow may have no negative prompt).
REQUIRED_PLACEHOLDERS = ("prompt", "seed", "width", "height", "batch_size")
# Ids of the nodes the bot adds for image-to-image; ComfyUI takes any unique string as a node id.
LOAD_NODE, ENCODE_NODE, REPEAT_NODE = "imagine_bot_load", "imagine_bot_encode", "imagine_bot_repeat"
# Binary WebSocket frame types (server.py BinaryEventTypes): a preview image, and one with JSON metadata.
PREVIEW_IMAGE, PREVIEW_WITH_METADATA = 1, 4
# Reconnect waits for the WebSocket: from this, doubling, up to the ceiling.
WS_RETRY_S, WS_RETRY_MAX_S = 0.5, 10.0
# Progress states kept per account; a prompt id older than this many is forgotten.
MAX_TRACKED = 256


@dataclasses.dataclass(frozen=True)
class Workflow:
    """A checked API-format workflow and where image-to-image plugs into it."""

    graph: dict[str, Any]
    latent_node: str
    vae: list[Any]
    denoise_nodes: tuple[str, ...]


def load_workflow(path: str | Path) -> Workflow:
    """Read and check the operator's workflow; a ConfigError in one line says what is wrong."""
    where = f"COMFYUI_WORKFLOW ({path})"
    try:
        graph = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{where} does not exist.") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{where} cannot be read: {exc}.") from None
    except ValueError as exc:
        raise ConfigError(f"{where} is not JSON: {exc}.") from None
    return check_workflow(graph, where)


def check_workflow(graph: Any, where: str = "COMFYUI_WORKFLOW") -> Workflow:
    if isinstance(graph, dict) and isinstance(graph.get("nodes"), list):
        raise ConfigError(f"{where} is in ComfyUI's UI format; save it with 'Export (API)' instead.")
    if (
        not isinstance(graph, dict)
        or not graph
        or not all(
            isinstance(n, dict) and isinstance(n.get("class_type"), str) and isinstance(n.get("inputs"), dict)
            for n in graph.values()
        )
    ):
        raise ConfigError(f"{where} is not an API-format workflow (nodes with class_type and inputs).")
    found: dict[str, list[str]] = {}
    for node_id, node in graph.items():
        for value in node["inputs"].values():
            if isinstance(value, str):
                for name in _PLACEHOLDER.findall(value):
                    found.setdefault(name, []).append(node_id)
    unknown = sorted(set(found) - TEXT_PLACEHOLDERS - NUMBER_PLACEHOLDERS)
    if unknown:
        raise ConfigError(f"{where} has an unknown placeholder {{{{{unknown[0]}}}}} (see the README).")
    missing = [name for name in REQUIRED_PLACEHOLDERS if name not in found]
    if missing:
        raise ConfigError(f"{where} has no {{{{{missing[0]}}}}} placeholder (see the README: ComfyUI workflow).")
    latent = found["batch_size"][0]
    if not any("Save" in n["class_type"] for n in graph.values()):
        raise ConfigError(f"{where} has no output node (SaveImage) to read the images from.")
    decoders = [n["inputs"].get("vae") for n in graph.values() if n["class_type"] == "VAEDecode"]
    vae = next((link for link in decoders if _is_link(link)), None)
    denoise = tuple(
        node_id
        for node_id, n in graph.items()
        if "denoise" in n["inputs"] and any(_is_link(v) and v[0] == latent for v in n["inputs"].values())
    )
    if vae is None or not denoise:
        raise ConfigError(
            f"{where}: variations need a VAEDecode node and a sampler with a denoise input fed by node {latent}"
            " (the one with {{batch_size}})."
        )
    return Workflow(graph=graph, latent_node=latent, vae=list(vae), denoise_nodes=denoise)


def _is_link(value: object) -> bool:
    return isinstance(value, list) and len(value) == 2 and isinstance(value[0], str) and isinstance(value[1], int)


def fill_workflow(workflow: Workflow, plan: Plan, image_name: str | None = None) -> dict[str, Any]:
    """The graph for one plan: placeholders filled, and for image-to-image the start image wired in."""
    numbers = {"seed": plan.seed, "width": plan.width, "height": plan.height, "batch_size": plan.count}
    texts = {"prompt": plan.prompt.positive, "negative": plan.prompt.negative}

    def fill(value: Any) -> Any:
        if not isinstance(value, str):
            return value
        exact = _PLACEHOLDER.fullmatch(value.strip())
        if exact and exact[1] in numbers:
            return numbers[exact[1]]
        return _PLACEHOLDER.sub(lambda m: str(texts.get(m[1], numbers.get(m[1], m[0]))), value)

    graph = copy.deepcopy(workflow.graph)
    for node in graph.values():
        node["inputs"] = {key: fill(value) for key, value in node["inputs"].items()}
    if plan.start is None or image_name is None:
        return graph
    latent = workflow.latent_node
    del graph[latent]
    graph[LOAD_NODE] = {
        "class_type": "LoadImage",
        "inputs": {"image": image_name},
        "_meta": {"title": "imagine-bot start"},
    }
    graph[ENCODE_NODE] = {"class_type": "VAEEncode", "inputs": {"pixels": [LOAD_NODE, 0], "vae": list(workflow.vae)}}
    graph[REPEAT_NODE] = {
        "class_type": "RepeatLatentBatch",
        "inputs": {"samples": [ENCODE_NODE, 0], "amount": plan.count},
    }
    for node in graph.values():
        for key, value in node["inputs"].items():
            if _is_link(value) and value[0] == latent:
                node["inputs"][key] = [REPEAT_NODE, 0]
    for node_id in workflow.denoise_nodes:
        graph[node_id]["inputs"]["denoise"] = plan.denoise
    return graph


@dataclasses.dataclass
class _Progress:
    percent: int = 0
    running: bool = False
    preview: str | None = None
    previews: int = 0


class ComfyUIProvider(OwnedAdapter):
    name = "comfyui"
    default_base_url = "http://127.0.0.1:8188"
    finds_by_ref = True
    # Whether ComfyUI has the job after each kind of answer to POST /prompt (backends.md §1.3).
    submit_outcomes = {
        AnswerClass.ACCEPTED: SubmitOutcome.TAKEN,  # 200 {prompt_id, number, node_errors}
        AnswerClass.REFUSED: SubmitOutcome.NOT_TAKEN,  # ComfyUI has no 200 refusal; an explicit one takes nothing
        AnswerClass.INVALID: SubmitOutcome.NOT_TAKEN,  # 400 envelope: the graph failed validation, nothing queued
        AnswerClass.RATE_LIMITED: SubmitOutcome.NOT_TAKEN,  # a proxy's 429 in front of ComfyUI
        AnswerClass.AUTH: SubmitOutcome.NOT_TAKEN,  # a proxy's 401, or ComfyUI's 403 Origin/cross-site check
        AnswerClass.ACCOUNT_HELD: SubmitOutcome.NOT_TAKEN,  # not a ComfyUI answer
        AnswerClass.QUEUED_WITH_ID: SubmitOutcome.TAKEN,  # 409 "prompt_id already exists": ours, queued before
        AnswerClass.SERVER_ERROR: SubmitOutcome.UNKNOWN,  # a 500 after reading the graph may follow the queueing
        AnswerClass.GATEWAY_ERROR: SubmitOutcome.UNKNOWN,  # a proxy's 502/503/504 says nothing of the queue
        AnswerClass.UNREADABLE: SubmitOutcome.UNKNOWN,  # a garbled 200 may well be a queued prompt
        AnswerClass.NOT_SENT: SubmitOutcome.NOT_TAKEN,  # no connection was made
        AnswerClass.NO_ANSWER: SubmitOutcome.UNKNOWN,  # sent, then silence: it may be queued (found by our id)
    }

    def __init__(self, account: Account, http: httpx.AsyncClient) -> None:
        super().__init__(account, http)
        path = account.options.get("workflow")
        if not path:
            raise ConfigError("COMFYUI_WORKFLOW is not set: name the API-format workflow file (see the README).")
        self.workflow = load_workflow(str(path))
        self.token = str(account.options.get("token") or "")
        # Stable per deployment and account: ComfyUI sends a job's events to the socket of the client id
        # that queued it, so a restarted bot reconnecting with the same id still sees its old jobs.
        seed = f"{account.options.get('data_dir', '')}|{account.name}|{self.base_url}"
        self.client_id = "imagine-bot-" + hashlib.sha256(seed.encode()).hexdigest()[:16]
        self._progress: dict[str, _Progress] = {}
        self._running: str | None = None
        self._session: aiohttp.ClientSession | None = None
        self._socket: asyncio.Task[None] | None = None

    # -- HTTP ------------------------------------------------------------------------------------

    def auth_headers(self) -> dict[str, str]:
        key = self.account.api_key
        if not key:
            return {}
        header = str(self.account.options.get("auth_header") or "Authorization")
        return {header: f"Bearer {key}" if header.lower() == "authorization" else key}

    def _params(self, params: Mapping[str, Any] | None = None) -> dict[str, Any]:
        return {**(params or {}), **({"token": self.token} if self.token else {})}

    def scrub(self, text: str) -> str:
        text = super().scrub(text)
        return text.replace(self.token, "***") if self.token else text

    def error_text(self, body: Any) -> str | None:
        if isinstance(body, dict) and isinstance(body.get("error"), dict):
            error = body["error"]
            parts = [first_str(error, "type"), first_str(error, "message"), first_str(error, "details")]
            return ": ".join(p for p in parts if p) or None
        return super().error_text(body)

    def status_reason(self, status: int, body: Any, headers: httpx.Headers, text: str | None) -> ProviderError | None:
        detail = f"comfyui answered {status}" + (f": {text[:200]}" if text else "")
        if status == 400:
            # The graph failed validation (a node type missing, a model not installed): the workflow's
            # fault, not the member's prompt. The detail names the node for the operator's log.
            return ProviderError(ErrorReason.PROVIDER_FAILED, detail, status_code=status, answer=AnswerClass.INVALID)
        return None

    # -- submitting ------------------------------------------------------------------------------

    async def send(self, plan: Plan) -> Submission:
        self._ensure_socket()
        prompt_id = self.backend_id(plan.ref)
        image_name = await self._upload(prompt_id, plan.start) if plan.start is not None else None
        body = {
            "prompt": fill_workflow(self.workflow, plan, image_name),
            "client_id": self.client_id,
            "prompt_id": prompt_id,
            "extra_data": {"imagine_bot_ref": plan.ref},
        }
        try:
            answer = await self.call("POST", "/prompt", json_body=body, params=self._params() or None)
        except ProviderError as exc:
            if exc.status_code == 409:
                # Our own id is already queued: this job reached ComfyUI before (a resend after a lost answer).
                exc.answer, exc.provider_job_id = AnswerClass.QUEUED_WITH_ID, prompt_id
                exc.reason = ErrorReason.JOB_QUEUED
            raise
        data = answer.body if isinstance(answer.body, dict) else None
        if data is None or first_str(data, "prompt_id") is None:
            raise ProviderError(ErrorReason.MALFORMED_RESPONSE, "comfyui: /prompt answer has no prompt_id",
                                answer=AnswerClass.UNREADABLE)  # fmt: skip
        self._progress.setdefault(prompt_id, _Progress())
        return Submission(provider_job_id=prompt_id, provider_data=plan.provider_data())

    async def _upload(self, prompt_id: str, data: bytes) -> str:
        """The start image into ComfyUI's input folder; nothing is queued yet, so a failure takes nothing."""
        url = f"{self.base_url}/upload/image"
        files = {"image": (f"imagine-{prompt_id}.png", data, "image/png")}
        try:
            status, body, headers = await self.request_json(
                "POST", url, headers=self.auth_headers(), params=self._params(), files=files,
                data={"type": "input", "overwrite": "true"},
            )  # fmt: skip
        except ProviderError as exc:
            exc.answer = AnswerClass.NOT_SENT  # only the upload may have happened: the job was not queued
            raise self._scrubbed(exc) from None
        if not 200 <= status < 300:
            error = self.http_error(Answer(status, body, headers))
            error.answer = AnswerClass.NOT_SENT
            raise self._scrubbed(error)
        name = first_str(body, "name") if isinstance(body, dict) else None
        if name is None:
            raise ProviderError(ErrorReason.MALFORMED_RESPONSE, "comfyui: upload answer has no name",
                                answer=AnswerClass.NOT_SENT)  # fmt: skip
        subfolder = first_str(body, "subfolder") if isinstance(body, dict) else None
        return f"{subfolder}/{name}" if subfolder else name

    async def find_by_ref(self, ref: str, kind: str) -> Submission | None:
        prompt_id = self.backend_id(ref)
        if await self._history(prompt_id) is not None or await self._queued(prompt_id) is not None:
            return Submission(provider_job_id=prompt_id, provider_data={"kind": kind})
        return None

    # -- following -------------------------------------------------------------------------------

    async def poll(self, provider_job_id: str, provider_data: Mapping[str, Any]) -> ProviderUpdate:
        kind = str(provider_data.get("kind", "grid"))
        stored = self.poll_stored(provider_job_id, provider_data)
        if stored is not None:
            return stored
        self._ensure_socket()
        record = await self._history(provider_job_id)
        if record is None:
            state = self._progress.get(provider_job_id)
            queued = await self._queued(provider_job_id)
            if queued is None:
                # Between our two reads the job may have finished: history is written before the queue drops it.
                record = await self._history(provider_job_id)
                if record is None:
                    raise ProviderError(ErrorReason.LOST, "comfyui has the prompt neither in its queue nor its history")
            elif queued == "pending":
                return ProviderUpdate(provider_job_id=provider_job_id, status=JobStatus.SUBMITTED, progress=0)
            else:
                return ProviderUpdate(
                    provider_job_id=provider_job_id,
                    status=JobStatus.RUNNING,
                    progress=state.percent if state else 0,
                    preview_url=state.preview if state else None,
                )
        self._progress.pop(provider_job_id, None)
        return await self._finished(provider_job_id, kind, record)

    async def _finished(self, prompt_id: str, kind: str, record: dict[str, Any]) -> ProviderUpdate:
        raw_status = record.get("status")
        status: dict[str, Any] = raw_status if isinstance(raw_status, dict) else {}
        status_str = status.get("status_str")
        if status_str == "error" or (status_str is not None and status_str != "success"):
            raw_messages = status.get("messages")
            messages: list[Any] = raw_messages if isinstance(raw_messages, list) else []
            text = "execution failed"
            for entry in messages:
                if isinstance(entry, list) and len(entry) == 2 and isinstance(entry[1], dict):
                    if entry[0] == "execution_error":
                        error = entry[1]
                        text = ": ".join(
                            s for s in (first_str(error, "exception_type"), first_str(error, "exception_message")) if s
                        ) or text  # fmt: skip
                    elif entry[0] == "execution_interrupted":
                        text = "interrupted"
            return ProviderUpdate(
                provider_job_id=prompt_id, status=JobStatus.FAILED, error=ErrorReason.PROVIDER_FAILED,
                error_detail=f"comfyui: {text[:180]}",
            )  # fmt: skip
        images: list[dict[str, Any]] = []
        raw_outputs = record.get("outputs")
        outputs: dict[str, Any] = raw_outputs if isinstance(raw_outputs, dict) else {}
        for output in outputs.values():
            if isinstance(output, dict) and isinstance(output.get("images"), list):
                found = [i for i in output["images"] if isinstance(i, dict) and isinstance(i.get("filename"), str)]
                # Saved files first; a PreviewImage node's temp files only when nothing was saved.
                images.extend(i for i in found if i.get("type", "output") == "output")
        if not images:
            raise ProviderError(ErrorReason.MALFORMED_RESPONSE, "comfyui finished without an output image")
        wanted = images[:1] if kind == "upscale" else images[:4]
        files = [await self._view(image) for image in wanted]
        return await self.store_result(prompt_id, kind, files)

    async def _view(self, image: Mapping[str, Any]) -> bytes:
        params = {"filename": image["filename"], "subfolder": str(image.get("subfolder") or ""),
                  "type": str(image.get("type") or "output")}  # fmt: skip
        try:
            response = await self.http.get(
                f"{self.base_url}/view", params=self._params(params), headers=self.auth_headers()
            )
        except httpx.HTTPError as exc:
            raise ProviderError(ErrorReason.PROVIDER_UNAVAILABLE, f"comfyui /view: {type(exc).__name__}") from None
        if response.status_code != 200:
            raise ProviderError(ErrorReason.PROVIDER_UNAVAILABLE, f"comfyui /view answered {response.status_code}")
        return response.content

    async def _history(self, prompt_id: str) -> dict[str, Any] | None:
        """The job's history record once it has finished; None while it has not (ComfyUI answers {})."""
        data = (await self.call("GET", f"/history/{prompt_id}", params=self._params() or None)).body
        if isinstance(data, dict) and isinstance(data.get(prompt_id), dict):
            return dict(data[prompt_id])
        return None

    async def _queued(self, prompt_id: str) -> str | None:
        """ "running" or "pending" while the job is in ComfyUI's queue, else None."""
        data = (await self.call("GET", "/queue", params=self._params() or None)).body
        if not isinstance(data, dict):
            return None
        for state, key in (("running", "queue_running"), ("pending", "queue_pending")):
            entries = data.get(key)
            if isinstance(entries, list) and any(
                isinstance(e, list) and len(e) > 1 and e[1] == prompt_id for e in entries
            ):
                return state
        return None

    async def cancel(self, provider_job_id: str, provider_data: Mapping[str, Any]) -> None:
        """Drop it from the queue if it waits there, interrupt it if it runs (backends.md §1.8)."""
        params = self._params() or None
        await self.call("POST", "/queue", json_body={"delete": [provider_job_id]}, params=params)
        await self.call("POST", "/interrupt", json_body={"prompt_id": provider_job_id}, params=params)

    # -- the WebSocket ---------------------------------------------------------------------------

    def _ensure_socket(self) -> None:
        if self._socket is None or self._socket.done():
            self._socket = asyncio.create_task(self._listen(), name=f"comfyui-ws-{self.account.name}")

    async def _listen(self) -> None:
        """Hold the WebSocket open, reconnecting with growing waits; events update the progress table."""
        wait = WS_RETRY_S
        url = self.base_url.replace("http", "ws", 1) + "/ws"
        while True:
            try:
                if self._session is None:
                    self._session = aiohttp.ClientSession()
                params = self._params({"clientId": self.client_id})
                async with self._session.ws_connect(
                    url, params=params, headers=self.auth_headers(), heartbeat=30
                ) as ws:
                    await ws.send_json({"type": "feature_flags", "data": {"supports_preview_metadata": True}})
                    wait = WS_RETRY_S
                    async for message in ws:
                        if message.type == aiohttp.WSMsgType.TEXT:
                            self._on_text(message.data)
                        elif message.type == aiohttp.WSMsgType.BINARY:
                            self._on_binary(message.data)
                        elif message.type in (aiohttp.WSMsgType.ERROR, aiohttp.WSMsgType.CLOSED):
                            break
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the socket is a hint: polling /history still finishes every job
                _log.info("comfyui websocket: %s", self.scrub(f"{type(exc).__name__}: {exc}"))
            await asyncio.sleep(wait)
            wait = min(WS_RETRY_MAX_S, wait * 2)

    def _state(self, prompt_id: str) -> _Progress:
        state = self._progress.get(prompt_id)
        if state is None:
            state = self._progress[prompt_id] = _Progress()
            while len(self._progress) > MAX_TRACKED:
                self._progress.pop(next(iter(self._progress)))
        return state

    def _on_text(self, raw: str) -> None:
        try:
            message = loads_json(raw)
        except (ValueError, RecursionError):
            return
        if not isinstance(message, dict) or not isinstance(message.get("data"), dict):
            return
        kind, data = message.get("type"), message["data"]
        prompt_id = data.get("prompt_id")
        if not isinstance(prompt_id, str):
            return
        if kind in ("execution_start", "executing"):
            if kind == "executing" and data.get("node") is None:
                self._running = None if self._running == prompt_id else self._running
                return
            self._running = prompt_id
            self._state(prompt_id).running = True
        elif kind == "progress":
            percent = progress_percent(data.get("value"), data.get("max"))
            state = self._state(prompt_id)
            if percent is not None and percent > state.percent:
                state.percent = percent
        elif kind in ("execution_success", "execution_error", "execution_interrupted"):
            self._running = None if self._running == prompt_id else self._running

    def _on_binary(self, frame: bytes) -> None:
        if len(frame) < 8:
            return
        (event,) = struct.unpack(">I", frame[:4])
        prompt_id: str | None
        if event == PREVIEW_IMAGE:
            (image_format,) = struct.unpack(">I", frame[4:8])
            prompt_id, image, suffix = self._running, frame[8:], "png" if image_format == 2 else "jpg"
        elif event == PREVIEW_WITH_METADATA:
            (length,) = struct.unpack(">I", frame[4:8])
            with contextlib.suppress(ValueError, RecursionError):
                meta = loads_json(frame[8 : 8 + length])
                prompt_id = meta.get("prompt_id") if isinstance(meta, dict) else None
                image = frame[8 + length :]
                suffix = "png" if isinstance(meta, dict) and meta.get("image_type") == "image/png" else "jpg"
                self._keep(prompt_id, image, suffix)
            return
        else:
            return
        self._keep(prompt_id, image, suffix)

    def _keep(self, prompt_id: object, image: bytes, suffix: str) -> None:
        if not isinstance(prompt_id, str) or not image:
            return
        state = self._state(prompt_id)
        state.previews += 1
        state.preview = self.keep_preview(prompt_id, state.previews, image, suffix)

    async def aclose(self) -> None:
        if self._socket is not None:
            self._socket.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._socket
            self._socket = None
        if self._session is not None:
            await self._session.close()
            self._session = None

    # -- imagine-bot check -----------------------------------------------------------------------

    async def check(self) -> str | None:
        """One line naming what stops this account from working, or None: the server, and the nodes."""
        try:
            answer = await self.call("GET", "/object_info", params=self._params() or None)
        except ProviderError as exc:
            return f"comfyui at {self.base_url}: {exc.detail or exc.reason.value}"
        known = answer.body if isinstance(answer.body, dict) else {}
        needed = {n["class_type"] for n in self.workflow.graph.values()} | {
            "LoadImage",
            "VAEEncode",
            "RepeatLatentBatch",
        }
        missing = sorted(needed - set(known))
        if missing:
            return f"comfyui at {self.base_url} has no node {missing[0]} (a custom node the workflow needs?)"
        return None
