"""The editor's page and its submit, served by the bot's own web server (``bot.core.webhooks``).

``GET  <base>/editor/<link>``        the page: the picture, the tools, the prompt, Submit
``GET  <base>/editor/<link>/image``  the picture itself, fetched by the bot from its provider (same origin)
``POST <base>/editor/<link>``        ``{"prompt", "mask"}``: check, then hand to the Discord layer's frontend
``GET  <base>/editor/static/<file>`` the page's script and style sheet

The page loads nothing from anywhere else and runs no inline script (:data:`CSP`). Every word it shows
comes from the frontend's catalogue in the member's locale (the core does not speak any language itself).
Submit checks everything again (signature, expiry, single use, the picture still there and still offered,
the mask) before the frontend moderates and parses the prompt and creates the job; a refusal leaves the
link unused and the page as it was. Nothing here logs a URL: the path holds the link.
"""

from __future__ import annotations

import base64
import binascii
import collections
import dataclasses
import html
import io
import json
import logging
import string
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from aiohttp import web
from PIL import Image, UnidentifiedImageError

from bot.core.editor._links import EditorLinks, LinkClaims, LinkProblem
from bot.core.errors import ProviderError
from bot.core.models import Action, Job, JobStatus, Verb

if TYPE_CHECKING:
    from bot.core.engine import JobEngine

__all__ = [
    "CSP",
    "PAGE_KEYS",
    "Editor",
    "EditorFrontend",
    "EditorSubmission",
    "EditorVerdict",
    "MaskProblem",
    "check_mask",
    "offers_vary_region",
]

_log = logging.getLogger(__name__)
_HERE = Path(__file__).parent
# The page's policy: its own script and style only, pictures from itself (and the canvas's blob:/data:),
# requests to itself, never framed, no <base>, forms only to itself.
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' blob: data:; connect-src 'self';"
    " frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)
_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    # The link is in the URL: no page or request may carry it anywhere as a referrer.
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}
# A mask is a black-and-white PNG; even a noisy 4096x4096 one stays far below this.
MAX_SUBMIT_BYTES = 8 * 1024 * 1024
MAX_PROMPT_CHARS = 6000
# Pictures kept in memory for the page and the mask's size check; a few members edit at once.
CACHED_PICTURES = 8
# What counts as painted in the mask the page sends (it sends 0 and 255; anything resampled is rounded).
PAINTED_FROM = 128
_STATIC = {"editor.js": "text/javascript", "editor.css": "text/css"}
# Every text the page or a refusal shows; the frontend gives them in the member's language.
PAGE_KEYS = (
    "editor.title", "editor.intro", "editor.brush", "editor.rect", "editor.lasso", "editor.erase", "editor.size",
    "editor.undo", "editor.clear", "editor.prompt", "editor.submit", "editor.sending", "editor.paint_first",
    "editor.network", "editor.open_job", "editor.picture_alt", "editor.tools",
    "editor.invalid", "editor.expired", "editor.used", "editor.gone", "editor.not_offered",
    "editor.mask_unreadable", "editor.mask_size", "editor.mask_empty", "editor.mask_full", "editor.unavailable",
)  # fmt: skip


def offers_vary_region(job: Job, verbs: frozenset[Verb] | set[Verb]) -> bool:
    """Whether Vary (Region) is offered on ``job``: a finished single picture (an upscale) whose provider
    speaks the verb. The provider's own list of buttons counts where it gives one; an upscale offers it."""
    if Verb.VARY_REGION not in verbs or job.status is not JobStatus.COMPLETED or job.result_url is None:
        return False
    return Action.VARY_REGION in job.actions or job.action.is_upscale


class MaskProblem(Exception):
    """The mask cannot be used: ``mask_unreadable``, ``mask_size``, ``mask_empty`` or ``mask_full``."""

    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


def check_mask(data: bytes, size: tuple[int, int]) -> bytes:
    """The canonical mask (PNG, mode L, 255 = repaint, 0 = keep) from what the page sent, or MaskProblem."""
    try:
        with Image.open(io.BytesIO(data)) as image:
            if image.format != "PNG":
                raise MaskProblem("editor.mask_unreadable")
            if image.size != size:
                raise MaskProblem("editor.mask_size")
            mask = image.convert("L").point(lambda v: 255 if v >= PAINTED_FROM else 0)
    except (OSError, UnidentifiedImageError, Image.DecompressionBombError):
        raise MaskProblem("editor.mask_unreadable") from None
    low, high = mask.getextrema()
    if high == 0:
        raise MaskProblem("editor.mask_empty")
    if low == 255:
        raise MaskProblem("editor.mask_full")
    buffer = io.BytesIO()
    mask.save(buffer, format="PNG", optimize=True)
    return buffer.getvalue()


@dataclasses.dataclass(frozen=True)
class EditorSubmission:
    """A checked submit: the link's claims, the picture's job, the member's prompt, the canonical mask."""

    claims: LinkClaims
    parent: Job
    prompt: str
    mask_png: bytes
    # Records the link's use; the frontend calls it inside the transaction that stores the new job.
    consume: Callable[[str], Awaitable[None]]


@dataclasses.dataclass(frozen=True)
class EditorVerdict:
    """What the page shows after a submit: ``ok`` (a job was made) and the text; ``link`` to its message."""

    ok: bool
    text: str
    link: str | None = None


class EditorFrontend(Protocol):
    """The Discord layer's side, registered by the extension that answers Vary (Region)."""

    def texts(self, locale: str | None) -> Mapping[str, str]:
        """Every key of :data:`PAGE_KEYS` in the member's language."""

    async def submit(self, submission: EditorSubmission) -> EditorVerdict:
        """Moderate and parse the prompt, post the new job's message and store the job (or say why not)."""


class Editor:
    """The editor's links and routes. Available when the bot has a public URL and its web server runs."""

    def __init__(self, engine: JobEngine, links: EditorLinks, public_url: str | None) -> None:
        self.engine = engine
        self.links = links
        self.public_url = public_url.rstrip("/") if public_url else None
        self.frontend: EditorFrontend | None = None
        self._pictures: collections.OrderedDict[str, tuple[bytes, str, tuple[int, int]]] = collections.OrderedDict()
        self._page = string.Template((_HERE / "page.html").read_text(encoding="utf-8"))

    @property
    def available(self) -> bool:
        return self.public_url is not None

    def link(self, *, member_id: int, job_id: str, channel_id: int, guild_id: int | None, locale: str | None) -> str:
        """A fresh signed link to the editor for this member and picture."""
        assert self.public_url is not None
        token = self.links.issue(
            member_id=member_id, job_id=job_id, channel_id=channel_id, guild_id=guild_id, locale=locale
        )
        return f"{self.public_url}/editor/{token}"

    def add_routes(self, app: web.Application) -> None:
        app.router.add_get("/editor/static/{name}", self._static)
        app.router.add_get("/editor/{token}", self._get_page)
        app.router.add_get("/editor/{token}/image", self._get_image)
        app.router.add_post("/editor/{token}", self._post)

    # -- helpers ---------------------------------------------------------------------------------

    def _texts(self, locale: str | None) -> Mapping[str, str]:
        if self.frontend is None:
            return {key: key for key in PAGE_KEYS}
        return self.frontend.texts(locale)

    async def _claims(self, token: str) -> tuple[LinkClaims, Job]:
        """The link's claims and its picture's job, or LinkProblem / MaskProblem-like refusals by key."""
        claims = self.links.verify(token)
        used, _ = await self.links.used_by(claims)
        if used:
            raise LinkProblem("used", claims)
        parent = await self.engine.get(claims.job_id)
        if parent is None or parent.guild_id != claims.guild_id:
            raise LinkProblem("gone", claims)
        if not offers_vary_region(parent, self.engine.verbs_for(parent)):
            raise LinkProblem("not_offered", claims)
        return claims, parent

    async def _picture(self, job: Job) -> tuple[bytes, str, tuple[int, int]]:
        cached = self._pictures.get(job.id)
        if cached is not None:
            self._pictures.move_to_end(job.id)
            return cached
        adapter = self.engine.pool.provider(job.provider, job.account) or self.engine.pool.provider(job.provider)
        if adapter is None or job.result_url is None:
            raise LinkProblem("gone")
        try:
            data = await adapter.fetch_image(job.result_url)
            with Image.open(io.BytesIO(data)) as image:
                kind, size = (image.format or "PNG").lower(), image.size
        except (ProviderError, OSError, UnidentifiedImageError):
            raise LinkProblem("gone") from None
        if kind not in ("png", "jpeg", "webp", "gif"):
            raise LinkProblem("gone")
        entry = (data, f"image/{kind}", size)
        self._pictures[job.id] = entry
        while len(self._pictures) > CACHED_PICTURES:
            self._pictures.popitem(last=False)
        return entry

    def _problem_page(self, problem: LinkProblem) -> web.Response:
        texts = self._texts(problem.claims.locale if problem.claims else None)
        status = {"invalid": 403, "expired": 410, "used": 410, "gone": 404, "not_offered": 409}.get(problem.kind, 400)
        body = (
            '<!doctype html><html><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,'
            ' initial-scale=1"><link rel="stylesheet" href="static/editor.css">'
            f'<title>{html.escape(texts["editor.title"])}</title></head><body><main class="problem">'
            f'<p role="alert">{html.escape(texts["editor." + problem.kind])}</p></main></body></html>'
        )
        return web.Response(text=body, status=status, content_type="text/html", headers=_HEADERS)

    @staticmethod
    def _json(verdict: EditorVerdict, status: int) -> web.Response:
        body = {"ok": verdict.ok, "text": verdict.text, "link": verdict.link}
        return web.json_response(body, status=status, headers=_HEADERS)

    # -- routes ----------------------------------------------------------------------------------

    async def _static(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        if name not in _STATIC:
            raise web.HTTPNotFound()
        headers = {**_HEADERS, "Cache-Control": "public, max-age=3600"}
        return web.Response(body=(_HERE / name).read_bytes(), content_type=_STATIC[name], headers=headers)

    async def _get_page(self, request: web.Request) -> web.Response:
        token = request.match_info["token"]
        try:
            claims, parent = await self._claims(token)
            _, _, size = await self._picture(parent)
        except LinkProblem as problem:
            return self._problem_page(problem)
        texts = self._texts(claims.locale)
        values = {key.replace(".", "_"): html.escape(text) for key, text in texts.items()}
        values |= {
            "lang": html.escape((claims.locale or "en").split("-")[0]),
            "token": html.escape(token),
            "width": str(size[0]),
            "height": str(size[1]),
            "prompt": html.escape(parent.prompt_final or parent.prompt),
        }
        return web.Response(text=self._page.safe_substitute(values), content_type="text/html", headers=_HEADERS)

    async def _get_image(self, request: web.Request) -> web.Response:
        try:
            _, parent = await self._claims(request.match_info["token"])
            data, content_type, _ = await self._picture(parent)
        except LinkProblem:
            raise web.HTTPNotFound() from None
        return web.Response(body=data, content_type=content_type, headers=_HEADERS)

    async def _post(self, request: web.Request) -> web.Response:
        token = request.match_info["token"]
        try:
            claims, parent = await self._claims(token)
        except LinkProblem as problem:
            texts = self._texts(problem.claims.locale if problem.claims else None)
            status = 403 if problem.kind == "invalid" else 410 if problem.kind in ("expired", "used") else 409
            return self._json(EditorVerdict(False, texts["editor." + problem.kind]), status)
        texts = self._texts(claims.locale)
        if self.frontend is None:
            return self._json(EditorVerdict(False, texts["editor.unavailable"]), 503)
        # Read by hand: the server's own body cap is the webhooks' (small); a mask may be larger.
        body = await request.content.read(MAX_SUBMIT_BYTES + 1)
        try:
            if len(body) > MAX_SUBMIT_BYTES:
                raise ValueError("too large")
            sent = json.loads(body)
            prompt, mask_b64 = sent["prompt"], sent["mask"]
            if not isinstance(prompt, str) or not isinstance(mask_b64, str) or len(prompt) > MAX_PROMPT_CHARS:
                raise ValueError("shape")
            mask_data = base64.b64decode(mask_b64.split(",", 1)[-1], validate=True)
        except (ValueError, KeyError, TypeError, binascii.Error):
            return self._json(EditorVerdict(False, texts["editor.mask_unreadable"]), 400)
        try:
            _, _, size = await self._picture(parent)
            mask = check_mask(mask_data, size)
        except LinkProblem:
            return self._json(EditorVerdict(False, texts["editor.gone"]), 404)
        except MaskProblem as problem:
            return self._json(EditorVerdict(False, texts[problem.key]), 422)

        async def consume(child_id: str) -> None:
            await self.links.consume(claims, child_id)

        try:
            verdict = await self.frontend.submit(EditorSubmission(claims, parent, prompt.strip(), mask, consume))
        except LinkProblem as problem:  # used meanwhile, from another tab or process
            return self._json(EditorVerdict(False, texts["editor." + problem.kind]), 410)
        except Exception:
            _log.exception("the editor's submit for job %s failed", parent.id)
            return self._json(EditorVerdict(False, texts["editor.unavailable"]), 500)
        return self._json(verdict, 200 if verdict.ok else 422)
