"""Plumbing shared by the four HTTP adapters: requests, error mapping, progress and button parsing.

Each provider speaks its own dialect, but they all wrap the same Midjourney and fail in the same
words, so the translation of those words onto :class:`bot.core.models.ErrorReason`, the parsing of a
progress that may be a number, a string or a sentence, and the reading of button labels live here.
An adapter subclasses :class:`HttpAdapter` and keeps only what is really its provider's own.
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import json
import logging
import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import httpx

from bot.core.errors import ProviderError, ProviderProtocolError, WebhookRejected
from bot.core.models import ACTION_LABELS, GRID_ACTIONS, Action, AnswerClass, ErrorReason
from bot.core.providers.base import Account, ImagineRequest, Provider, Submission, loads_json, retry_after_seconds

__all__ = [
    "GRID_SET",
    "REF_HEADER",
    "UPSCALED_SET",
    "HttpAdapter",
    "actions_from_labels",
    "answer_class",
    "button_label",
    "compose_prompt",
    "load_webhook_json",
    "member_detail",
    "parse_progress",
    "reason_from_text",
    "webhook_header_secret",
]

_log = logging.getLogger(__name__)

# The webhook receiver copies a ``?ref=`` query parameter into this pseudo-header, for providers
# (APIFrame) whose callbacks carry no correlation field of their own.
REF_HEADER = "x-imaginebot-ref"
# Longest provider text kept in an error detail; those texts are for logs, not for members.
MAX_DETAIL = 200
# When a provider says "slow down" without saying for how long.
DEFAULT_RATE_LIMIT_WAIT_S = 5.0
# When a queue is full, a slot frees when one of the running jobs ends: tens of seconds, not one.
DEFAULT_QUEUE_FULL_WAIT_S = 15.0

# Provider texts and codes, matched in order against the lower-cased text; the first hit wins, so the
# specific phrases come before the general ones ("pending moderation" before "moderat").
_TEXT_REASONS: tuple[tuple[tuple[str, ...], ErrorReason], ...] = (
    (("already_requested", "already requested", "already executed", "already upscaled"), ErrorReason.ALREADY_REQUESTED),
    (("pending mod", "pending_mod", "captcha", "account under moderation"), ErrorReason.PENDING_MODERATION),
    (("image_blocked", "image has been blocked", "image blocked"), ErrorReason.IMAGE_BLOCKED),
    (("banned_prompt", "banned prompt", "invalid phrase", "invalid prompt", "appeal_rejected", "appeal rejected",
      "moderated", "blocked"), ErrorReason.BANNED_PROMPT),
    (("no_fast_hours", "fast hours", "fast time"), ErrorReason.OUT_OF_FAST_HOURS),
    (("job_queued", "job queued"), ErrorReason.JOB_QUEUED),
    (("queue_full", "queue full", "queue is full", "query is full"), ErrorReason.QUEUE_FULL),
    (("private mode", "private_mode", "stealth"), ErrorReason.PRIVATE_MODE_UNAVAILABLE),
    (("invalid_parameter", "invalid parameter", "invalid param", "unrecognized param", "unrecognised param"),
     ErrorReason.INVALID_PARAMETER),
    (("button_not_found", "button not found", "button not supported"), ErrorReason.BUTTON_NOT_FOUND),
    # Vary (Region)'s mask refused; specific phrases only, since a failure text may quote a prompt ("a gas mask").
    (("invalid_mask", "invalid mask", "param mask", "mask is missing", "mask is required", "mask must",
      "mask is not"), ErrorReason.INVALID_MASK),
    (("job_action_restricted", "action restricted"), ErrorReason.UNSUPPORTED_ACTION),
    (("invalid_link", "invalid link", "invalid url", "invalid image url"), ErrorReason.INVALID_LINK),
    (("please_subscribe", "subscription", "subscribe", "insufficient credits", "no credits"),
     ErrorReason.SUBSCRIPTION_EXPIRED),
    (("unauthorized", "unauthorised", "invalid api key", "invalid token"), ErrorReason.UNAUTHORIZED),
    (("rate limit", "too many requests"), ErrorReason.RATE_LIMITED),
    (("moderation_outage", "moderator outage"), ErrorReason.PROVIDER_UNAVAILABLE),
    (("internal_error", "internal error", "failed_to_process", "failed to process", "bot_took_too_long",
      "took too long", "failed_to_request", "failed to request", "could not complete"), ErrorReason.PROVIDER_FAILED),
)  # fmt: skip

# What a finished grid offers at every label-based provider, and what a single upscaled image offers.
GRID_SET = frozenset(GRID_ACTIONS)
UPSCALED_SET = frozenset(
    {Action.VARY_STRONG, Action.VARY_SUBTLE, Action.ZOOM_OUT_2X, Action.ZOOM_OUT_1_5X, Action.PAN_LEFT,
     Action.PAN_RIGHT, Action.PAN_UP, Action.PAN_DOWN, Action.UPSCALE_SUBTLE, Action.UPSCALE_CREATIVE}
)  # fmt: skip

# Our callback URLs carry the deployment's webhook token; a provider echoing one must not put it in a log.
_WEBHOOK_TOKEN = re.compile(r"(/webhooks/[^/\s]+/)[^\s?\"'&]+")
_PERCENT = re.compile(r"\((\d{1,3})%\)")
_NUMBER = re.compile(r"^\s*(\d{1,3}(?:\.\d+)?)\s*%?\s*$")
_AR_PARAM = re.compile(r"(?:(?<=\s)|^)--(?:ar|aspect)\s+\S+", re.IGNORECASE)
_LABEL_ACTIONS = {label: action for action, label in ACTION_LABELS.items()}
# Providers and old docs drop or add the emoji variation selector; compare labels without it.
_LABEL_ACTIONS |= {label.replace("\ufe0f", ""): action for label, action in list(_LABEL_ACTIONS.items())}


def reason_from_text(text: object) -> ErrorReason | None:
    """The reason a provider's error text or code means, or None when it says nothing we know."""
    if not isinstance(text, str) or not text.strip():
        return None
    lowered = text.lower()
    for needles, reason in _TEXT_REASONS:
        if any(needle in lowered for needle in needles):
            return reason
    return None


def parse_progress(value: object) -> int | None:
    """A progress percentage from a number, a numeric string ("40", "40%") or Discord text "(31%)"."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        if value != value or value in (float("inf"), float("-inf")):
            return None  # NaN or infinity: a provider bug, not a percentage
        return max(0, min(100, int(value)))
    if isinstance(value, str):
        match = _NUMBER.match(value) or _PERCENT.search(value)
        if match:
            return max(0, min(100, int(float(match[1]))))
    return None


def actions_from_labels(labels: object) -> tuple[Action, ...] | None:
    """Map a provider's button labels onto our actions; labels we do not offer are left out."""
    if not isinstance(labels, list):
        return None
    found: list[Action] = []
    for label in labels:
        if not isinstance(label, str):
            continue
        action = _LABEL_ACTIONS.get(label.strip()) or _LABEL_ACTIONS.get(label.strip().replace("\ufe0f", ""))
        if action is not None and action not in found:
            found.append(action)
    return tuple(sorted(found, key=list(Action).index))


def compose_prompt(request: ImagineRequest, *, with_aspect: bool) -> str:
    """The prompt as Midjourney reads it: image links first (img2img), then text, then ``--ar``.

    The prompt may already carry the links and the ratio (the parser keeps them); nothing is doubled.
    """
    words = request.prompt.split()
    while words and words[0] in request.image_urls:
        words.pop(0)
    text = " ".join(words)
    if not with_aspect:
        text = _AR_PARAM.sub("", text).strip()
        text = re.sub(r"\s{2,}", " ", text)
    elif request.aspect_ratio and not _AR_PARAM.search(text):
        text = f"{text} --ar {request.aspect_ratio}"
    return " ".join([*request.image_urls, text]).strip()


def webhook_header_secret(webhook_url: str) -> str:
    """The secret a provider echoes back in a header (APIFrame's x-webhook-secret).

    Derived from the callback URL, which holds the deployment's unguessable token, so the adapter that
    sends it and the receiver that checks it agree without sharing any more state.
    """
    base = webhook_url.split("?", 1)[0]
    return hmac.new(base.encode(), b"x-webhook-secret", hashlib.sha256).hexdigest()


def load_webhook_json(body: bytes, provider: str) -> dict[str, Any]:
    try:
        data = loads_json(body)
    except (ValueError, RecursionError):
        # ValueError covers bad JSON and bad encodings, and numbers past Python's int-parsing limit;
        # RecursionError is nesting deeper than the decoder goes. All of it is a body we cannot read.
        raise WebhookRejected(400, f"{provider} callback is not JSON") from None
    if not isinstance(data, dict):
        raise WebhookRejected(400, f"{provider} callback is not a JSON object")
    return data


def _short(value: object) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
    return text[:MAX_DETAIL]


@dataclasses.dataclass(frozen=True)
class Answer:
    status: int
    body: Any
    headers: httpx.Headers

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    def obj(self) -> dict[str, Any]:
        """The body as a JSON object; anything else is a protocol error."""
        if not isinstance(self.body, dict):
            raise ProviderProtocolError(f"expected a JSON object, got {type(self.body).__name__} ({self.status})")
        return self.body


class HttpAdapter(Provider):
    """A provider reached over HTTPS with an API key. Subclasses say how to authenticate and what
    their error bodies mean; this class sends, scrubs secrets and maps the status codes all share."""

    default_base_url: str = ""

    def __init__(self, account: Account, http: httpx.AsyncClient) -> None:
        super().__init__(account, http)
        self.base_url = (account.base_url or self.default_base_url).rstrip("/")
        # Tests and slow plans tune polling per account; everything else comes from the class.
        options, caps = account.options, type(self).capabilities
        if any(name in options for name in ("poll_interval", "max_poll_interval", "min_request_interval")):
            self.capabilities = dataclasses.replace(
                caps,
                poll_interval=float(options.get("poll_interval", caps.poll_interval)),
                max_poll_interval=float(options.get("max_poll_interval", caps.max_poll_interval)),
                min_request_interval=float(options.get("min_request_interval", caps.min_request_interval)),
            )

    # -- overridden by the adapters --------------------------------------------------------------

    def auth_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.account.api_key}"}

    def error_text(self, body: Any) -> str | None:
        """The human text in an error body, wherever this provider puts it."""
        if isinstance(body, dict):
            for key in ("error", "msg", "message", "detail"):
                value = body.get(key)
                if isinstance(value, str):
                    return value
        return None

    def status_reason(self, status: int, body: Any, headers: httpx.Headers, text: str | None) -> ProviderError | None:
        """A provider-specific reading of an HTTP error; None falls through to the common one."""
        return None

    # -- sending ---------------------------------------------------------------------------------

    async def call(
        self, method: str, path: str, *, json_body: Mapping[str, Any] | None = None,
        params: Mapping[str, Any] | None = None,
    ) -> Answer:  # fmt: skip
        """Send one request and raise a mapped ProviderError for any non-2xx answer."""
        url = path if path.startswith("http") else f"{self.base_url}{path}"
        kwargs: dict[str, Any] = {}
        if json_body is not None:
            kwargs["json"] = dict(json_body)
        if params:
            kwargs["params"] = dict(params)
        try:
            status, body, headers = await self.request_json(method, url, headers=self.auth_headers(), **kwargs)
        except ProviderError as exc:
            raise self._scrubbed(exc) from None
        answer = Answer(status, body, headers)
        if not answer.ok:
            error = self.http_error(answer)
            if error.answer is None:
                error.answer = answer_class(status, body)
            if self.metrics is not None:
                # The round trip is counted by request_json; an answer that is an error is counted here.
                self.metrics.provider_error(self.name, self.account.name, error.reason.value)
            raise self._scrubbed(error)
        return answer

    async def submit(
        self, path: str, body: Mapping[str, Any], read: Callable[[Answer], Submission]
    ) -> Submission:  # fmt: skip
        """POST a submit and read its answer; every failure leaves with the answer class it was.

        A 2xx that ``read`` cannot make a Submission of is UNREADABLE unless ``read`` said otherwise (an
        explicit refusal is REFUSED): a body we failed to read may still be a job the provider took.
        """
        answer = await self.call("POST", path, json_body=body)
        try:
            return read(answer)
        except ProviderError as exc:
            if exc.answer is None:
                exc.answer = AnswerClass.UNREADABLE
            raise

    def http_error(self, answer: Answer) -> ProviderError:
        status, body, headers = answer.status, answer.body, answer.headers
        text = self.error_text(body)
        specific = self.status_reason(status, body, headers, text)
        if specific is not None:
            return specific
        detail = f"{self.name} answered {status}" + (f": {_short(text)}" if text else "")
        if status == 401 or status == 403:
            # A 403 may be a plan refusal ("private mode is not in your plan") rather than a bad key.
            said = reason_from_text(text) if status == 403 else None
            return ProviderError(said or ErrorReason.UNAUTHORIZED, detail, status_code=status)
        if status == 402:
            return ProviderError(ErrorReason.SUBSCRIPTION_EXPIRED, detail, status_code=status)
        if status == 429:
            wait = retry_after_seconds(headers, DEFAULT_RATE_LIMIT_WAIT_S)
            return ProviderError(ErrorReason.RATE_LIMITED, detail, retry_after=wait, status_code=status)
        if status == 504:
            # The gateway gave up waiting for Midjourney to acknowledge: the job sits in its queue.
            return ProviderError(
                ErrorReason.JOB_QUEUED, detail, retry_after=retry_after_seconds(headers), status_code=status
            )
        if status >= 500 or status in (408, 425):
            return ProviderError(
                ErrorReason.PROVIDER_UNAVAILABLE, detail, retry_after=retry_after_seconds(headers), status_code=status
            )
        reason = reason_from_text(text)
        if reason is not None:
            wait = retry_after_seconds(headers) if reason.kind.value == "transient" else None
            return ProviderError(reason, member_detail(reason, text) or detail, retry_after=wait, status_code=status)
        if status == 404:
            return ProviderError(ErrorReason.LOST, detail, status_code=status)
        # Not a verdict on the prompt's content: the request itself was refused, and its words (shown to the
        # member, escaped) say which flag or field to fix.
        reason = ErrorReason.INVALID_PARAMETER
        return ProviderError(reason, member_detail(reason, text) or detail, status_code=status)

    def scrub(self, text: str) -> str:
        key = self.account.api_key
        text = text.replace(key, "***") if key else text
        return _WEBHOOK_TOKEN.sub(r"\1***", text)

    def _scrubbed(self, exc: ProviderError) -> ProviderError:
        """The same error with the account's key cut out of its text, should a provider echo it."""
        if not exc.detail:
            return exc
        detail = self.scrub(exc.detail)
        if detail != exc.detail:
            exc.detail = detail
            exc.args = (f"{exc.reason.value}: {detail}",)
        return exc

    # -- reading ---------------------------------------------------------------------------------

    def protocol_error(self, what: str, body: Any) -> ProviderProtocolError:
        return ProviderProtocolError(f"{self.name} {what}: {_short(body)}")


def member_detail(reason: ErrorReason, text: str | None) -> str | None:
    """The provider's own words as a job's detail, for the reasons whose message shows them to the member."""
    if reason is ErrorReason.INVALID_PARAMETER and text and text.strip():
        return _short(text.strip())
    return None


def answer_class(status: int, body: Any) -> AnswerClass:
    """The class of a non-2xx answer from its status and whether the provider itself wrote the body."""
    if status == 429:
        return AnswerClass.RATE_LIMITED
    if status in (401, 402, 403):
        return AnswerClass.AUTH
    if status >= 500 or status in (408, 425):
        # A JSON object is the provider's own application talking; anything else is a proxy or gateway
        # in front of it. Neither proves the job was not queued before the failure.
        return AnswerClass.SERVER_ERROR if isinstance(body, dict) and body else AnswerClass.GATEWAY_ERROR
    return AnswerClass.INVALID


def first_str(data: Mapping[str, Any], *keys: str) -> str | None:
    """The first of ``keys`` holding a non-empty string (or a number, as ids sometimes are)."""
    for key in keys:
        value = data.get(key)
        if isinstance(value, str) and value:
            return value
        if isinstance(value, int) and not isinstance(value, bool):
            return str(value)
    return None


def str_list(value: object) -> tuple[str, ...]:
    if not isinstance(value, list):
        return ()
    return tuple(v for v in value if isinstance(v, str) and v)


def button_label(action: Action) -> str:
    """Midjourney's label for an action, as the label-based providers expect it."""
    try:
        return ACTION_LABELS[action]
    except KeyError:
        raise ProviderError(ErrorReason.UNSUPPORTED_ACTION, f"no button for {action.value}") from None


def sorted_actions(actions: Iterable[Action]) -> tuple[Action, ...]:
    return tuple(sorted(set(actions), key=list(Action).index))
