"""The closed vocabulary of the bot: job statuses, actions, error reasons, and the job itself.

Everything from the provider adapters to the Discord messages speaks in these terms. Adding a member
to one of these enums is a deliberate change: the store, the renderers and the tests all key on them.
"""

from __future__ import annotations

import datetime as dt
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "ACTION_LABELS",
    "GRID_ACTIONS",
    "TERMINAL_STATUSES",
    "Action",
    "AnswerClass",
    "ErrorReason",
    "Job",
    "JobEvent",
    "JobEventKind",
    "JobStatus",
    "ProviderUpdate",
    "ReasonKind",
    "SubmitOutcome",
    "Verb",
    "utcnow",
]


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class JobStatus(StrEnum):
    QUEUED = "queued"
    SUBMITTED = "submitted"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    MODERATED = "moderated"
    CANCELLED = "cancelled"
    TIMED_OUT = "timed_out"

    @property
    def terminal(self) -> bool:
        return self in TERMINAL_STATUSES

    @property
    def rank(self) -> int:
        """Position in the lifecycle; a job never moves to a lower rank."""
        return _STATUS_RANK[self]


TERMINAL_STATUSES = frozenset(
    {JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.MODERATED, JobStatus.CANCELLED, JobStatus.TIMED_OUT}
)
_STATUS_RANK = {JobStatus.QUEUED: 0, JobStatus.SUBMITTED: 1, JobStatus.RUNNING: 2} | dict.fromkeys(TERMINAL_STATUSES, 3)


class Action(StrEnum):
    IMAGINE = "imagine"
    U1 = "u1"
    U2 = "u2"
    U3 = "u3"
    U4 = "u4"
    V1 = "v1"
    V2 = "v2"
    V3 = "v3"
    V4 = "v4"
    REROLL = "reroll"
    VARY_STRONG = "vary_strong"
    VARY_SUBTLE = "vary_subtle"
    ZOOM_OUT_2X = "zoom_2x"
    ZOOM_OUT_1_5X = "zoom_1_5x"
    PAN_LEFT = "pan_left"
    PAN_RIGHT = "pan_right"
    PAN_UP = "pan_up"
    PAN_DOWN = "pan_down"
    UPSCALE_SUBTLE = "upscale_subtle"
    UPSCALE_CREATIVE = "upscale_creative"
    # /blend: two to five images made into one grid (a job of its own, like /imagine; never a button).
    BLEND = "blend"
    # Zoom out by a factor the member chooses (1.0-2.0), with a prompt: a grid, from an upscale.
    CUSTOM_ZOOM = "custom_zoom"
    # A short video from an upscale, and a video made longer (Midjourney's Animate and Extend).
    ANIMATE_HIGH = "animate_high"
    ANIMATE_LOW = "animate_low"
    EXTEND_HIGH = "extend_high"
    EXTEND_LOW = "extend_low"
    # Repaint the masked part of an upscale with a (possibly edited) prompt: a grid, from an upscale.
    VARY_REGION = "vary_region"

    @property
    def tile(self) -> int | None:
        """The 1-based tile an upscale or variation acts on, or None (``index`` would shadow str.index)."""
        if self.value[0] in "uv" and self.value[1:].isdigit():
            return int(self.value[1:])
        return None

    @property
    def is_upscale(self) -> bool:
        return self in (Action.U1, Action.U2, Action.U3, Action.U4)

    @property
    def is_variation(self) -> bool:
        return self in (Action.V1, Action.V2, Action.V3, Action.V4)

    @property
    def makes_grid(self) -> bool:
        """Whether the result of this action is a 2x2 grid (and so gets U/V/reroll buttons)."""
        return not self.is_upscale

    @classmethod
    def upscale(cls, index: int) -> Action:
        return cls(f"u{index}")

    @classmethod
    def variation(cls, index: int) -> Action:
        return cls(f"v{index}")


# Midjourney's own button labels; the label-based providers expect them byte for byte.
ACTION_LABELS: dict[Action, str] = {
    Action.U1: "U1",
    Action.U2: "U2",
    Action.U3: "U3",
    Action.U4: "U4",
    Action.V1: "V1",
    Action.V2: "V2",
    Action.V3: "V3",
    Action.V4: "V4",
    Action.REROLL: "\U0001f504",
    Action.VARY_STRONG: "Vary (Strong)",
    Action.VARY_SUBTLE: "Vary (Subtle)",
    Action.ZOOM_OUT_2X: "Zoom Out 2x",
    Action.ZOOM_OUT_1_5X: "Zoom Out 1.5x",
    Action.PAN_LEFT: "\u2b05\ufe0f",
    Action.PAN_RIGHT: "\u27a1\ufe0f",
    Action.PAN_UP: "\u2b06\ufe0f",
    Action.PAN_DOWN: "\u2b07\ufe0f",
    Action.UPSCALE_SUBTLE: "Upscale (Subtle)",
    Action.UPSCALE_CREATIVE: "Upscale (Creative)",
    Action.CUSTOM_ZOOM: "Custom Zoom",
    Action.ANIMATE_HIGH: "Animate (High motion)",
    Action.ANIMATE_LOW: "Animate (Low motion)",
    Action.EXTEND_HIGH: "Extend (High motion)",
    Action.EXTEND_LOW: "Extend (Low motion)",
    Action.VARY_REGION: "Vary (Region)",
}

# The key in a Vary (Region) job's params holding its mask: a base64 PNG, mode "L", the size of the parent
# image, 255 where the member painted (repaint) and 0 elsewhere (keep). In params, so it lives in the database
# with the job and survives a restart or a takeover by another process.
MASK_PARAM = "mask_png_b64"

# The key in a job's provider_data naming the provider it was meant for when another one made it (failover).
FAILED_OVER_FROM = "failed_over_from"

# What a finished grid offers, in the order the buttons are laid out.
GRID_ACTIONS: tuple[Action, ...] = (
    Action.U1, Action.U2, Action.U3, Action.U4, Action.REROLL,
    Action.V1, Action.V2, Action.V3, Action.V4,
)  # fmt: skip


class Verb(StrEnum):
    """The Midjourney verbs beyond /imagine and its U/V/🔄 buttons (mj-verbs.md §0).

    Each adapter says which of them its provider offers (``Capabilities.verbs``); the bot shows a command
    or a button for a verb only where the provider of the job (or a configured one, for a command) does.
    """

    DESCRIBE = "describe"  # four prompts from an image
    BLEND = "blend"  # two to five images into one grid
    VARY_REGION = "vary_region"  # repaint a masked part of an upscale
    CUSTOM_ZOOM = "custom_zoom"  # zoom out by a chosen factor, with a prompt
    REMIX = "remix"  # a changed prompt on Vary, Pan or 🔄
    ANIMATE = "animate"  # a short video from an upscale
    EXTEND = "extend"  # a video made longer
    SEED = "seed"  # the seed of a finished job
    CANCEL = "cancel"  # a running job stopped at the provider


# The presses that exist only where the job's provider offers the verb: drawn only there, and a stale one
# (a provider changed since the message was drawn) is answered politely instead of sent.
VIDEO_ACTION_VERBS: dict[Action, Verb] = {
    Action.ANIMATE_HIGH: Verb.ANIMATE,
    Action.ANIMATE_LOW: Verb.ANIMATE,
    Action.EXTEND_HIGH: Verb.EXTEND,
    Action.EXTEND_LOW: Verb.EXTEND,
}


class ReasonKind(StrEnum):
    """How the engine treats an error: retry it, end the job, or take the account out of service."""

    TRANSIENT = "transient"
    JOB = "job"
    ACCOUNT = "account"


class AnswerClass(StrEnum):
    """What a provider's answer to a submit was, before deciding what it means for the job.

    Each HTTP adapter maps every class onto a :class:`SubmitOutcome` in one table; the engine acts on the
    outcome, never on the class, so a provider's quirks live in its adapter alone.
    """

    ACCEPTED = "accepted"  # 2xx naming the provider's job
    REFUSED = "refused"  # an explicit refusal in a readable body (TNL's success: false)
    INVALID = "invalid"  # a 4xx about the request itself (400, 404, 409, 412, 413, 422)
    RATE_LIMITED = "rate_limited"  # 429
    AUTH = "auth"  # 401, 402, 403
    ACCOUNT_HELD = "account_held"  # useapi's 596: the account is on hold
    QUEUED_WITH_ID = "queued_with_id"  # useapi's 504 "Job queued" that names the job it queued
    SERVER_ERROR = "server_error"  # a 5xx whose body is the provider's own JSON
    GATEWAY_ERROR = "gateway_error"  # a 502/503/504 (or other 5xx) with no body the provider writes
    UNREADABLE = "unreadable"  # a 2xx whose body is not JSON or lacks what names the job
    NOT_SENT = "not_sent"  # the connection was never made: the request did not leave
    NO_ANSWER = "no_answer"  # sent, then the connection dropped or the answer timed out


class SubmitOutcome(StrEnum):
    """Whether a provider has a job after its answer to the submit: the one thing a retry depends on."""

    NOT_TAKEN = "not_taken"  # certainly not: safe to send again
    TAKEN = "taken"  # certainly: follow it by the id the answer gave
    UNKNOWN = "unknown"  # maybe: never resend; claim it by callback or by our ref, or end it honestly


class ErrorReason(StrEnum):
    """Why a job did not complete. Each has a plain-language message a member can act on."""

    # Refused before any provider was asked.
    BLOCKED_PROMPT = "blocked_prompt"
    INVALID_PROMPT = "invalid_prompt"
    INVALID_IMAGE = "invalid_image"
    # Refused by the server's own rules (moderation and limits) before any job exists.
    PROMPT_UNCHECKED = "prompt_unchecked"
    MEMBER_BANNED = "member_banned"
    QUOTA_REACHED = "quota_reached"
    TOO_MANY_JOBS = "too_many_jobs"
    COOLDOWN = "cooldown"
    CHANNEL_NOT_ALLOWED = "channel_not_allowed"
    BUTTON_RESTRICTED = "button_restricted"
    NOT_A_MODERATOR = "not_a_moderator"
    # What the providers report about the prompt or the image.
    BANNED_PROMPT = "banned_prompt"
    IMAGE_BLOCKED = "image_blocked"
    INVALID_PARAMETER = "invalid_parameter"
    INVALID_LINK = "invalid_link"
    # Vary (Region)'s painted mask: missing, unreadable, empty, or refused by the provider (wrong size).
    INVALID_MASK = "invalid_mask"
    # What the providers report about the job or the button.
    ALREADY_REQUESTED = "already_requested"
    BUTTON_NOT_FOUND = "button_not_found"
    UNSUPPORTED_ACTION = "unsupported_action"
    PROVIDER_FAILED = "provider_failed"
    # What the providers report about capacity; retried before the member sees it.
    JOB_QUEUED = "job_queued"
    QUEUE_FULL = "queue_full"
    RATE_LIMITED = "rate_limited"
    PROVIDER_UNAVAILABLE = "provider_unavailable"
    MALFORMED_RESPONSE = "malformed_response"
    # What the providers report about the account; the account is paused.
    OUT_OF_FAST_HOURS = "out_of_fast_hours"
    PRIVATE_MODE_UNAVAILABLE = "private_mode_unavailable"
    PENDING_MODERATION = "pending_moderation"
    SUBSCRIPTION_EXPIRED = "subscription_expired"
    UNAUTHORIZED = "unauthorized"
    NO_ACCOUNT = "no_account"
    # How the bot itself ends a job.
    STALLED = "stalled"
    LOST = "lost"
    QUEUE_TIMEOUT = "queue_timeout"
    INTERRUPTED = "interrupted"
    UNCONFIRMED = "unconfirmed"
    CANCELLED_BY_OWNER = "cancelled_by_owner"
    CANCELLED_BY_MODERATOR = "cancelled_by_moderator"
    MESSAGE_DELETED = "message_deleted"
    INTERNAL_ERROR = "internal_error"
    # The server's own output-safety check (/mod safety, mode block) flagged the finished image.
    IMAGE_WITHHELD = "image_withheld"

    @property
    def kind(self) -> ReasonKind:
        return _REASON_KIND.get(self, ReasonKind.JOB)

    @property
    def status(self) -> JobStatus:
        """The terminal status a job ends in when this reason ends it."""
        return _REASON_STATUS.get(self, JobStatus.FAILED)

    @property
    def message(self) -> str:
        return _REASON_MESSAGES[self]


_REASON_KIND = {
    ErrorReason.JOB_QUEUED: ReasonKind.TRANSIENT,
    ErrorReason.QUEUE_FULL: ReasonKind.TRANSIENT,
    ErrorReason.RATE_LIMITED: ReasonKind.TRANSIENT,
    ErrorReason.PROVIDER_UNAVAILABLE: ReasonKind.TRANSIENT,
    ErrorReason.MALFORMED_RESPONSE: ReasonKind.TRANSIENT,
    ErrorReason.OUT_OF_FAST_HOURS: ReasonKind.ACCOUNT,
    ErrorReason.PRIVATE_MODE_UNAVAILABLE: ReasonKind.ACCOUNT,
    ErrorReason.PENDING_MODERATION: ReasonKind.ACCOUNT,
    ErrorReason.SUBSCRIPTION_EXPIRED: ReasonKind.ACCOUNT,
    ErrorReason.UNAUTHORIZED: ReasonKind.ACCOUNT,
}

_REASON_STATUS = {
    ErrorReason.BLOCKED_PROMPT: JobStatus.MODERATED,
    ErrorReason.BANNED_PROMPT: JobStatus.MODERATED,
    ErrorReason.IMAGE_BLOCKED: JobStatus.MODERATED,
    ErrorReason.STALLED: JobStatus.TIMED_OUT,
    ErrorReason.LOST: JobStatus.TIMED_OUT,
    ErrorReason.QUEUE_TIMEOUT: JobStatus.TIMED_OUT,
    ErrorReason.CANCELLED_BY_OWNER: JobStatus.CANCELLED,
    ErrorReason.CANCELLED_BY_MODERATOR: JobStatus.CANCELLED,
    ErrorReason.MESSAGE_DELETED: JobStatus.CANCELLED,
    ErrorReason.IMAGE_WITHHELD: JobStatus.MODERATED,
}

_REASON_MESSAGES = {
    ErrorReason.BLOCKED_PROMPT: "Your prompt contains a word this server does not allow.",
    ErrorReason.INVALID_PROMPT: "The prompt could not be understood. Check its parameters and try again.",
    ErrorReason.INVALID_IMAGE: "The image could not be used. Send a PNG, JPEG, GIF or WebP by a public link or upload.",
    ErrorReason.PROMPT_UNCHECKED: "Your prompt could not be checked against this server's word list in time."
    " Try a shorter or simpler prompt.",
    ErrorReason.MEMBER_BANNED: "You are blocked from using the image bot in this server.",
    ErrorReason.QUOTA_REACHED: "You have used all of your images for today in this server.",
    ErrorReason.TOO_MANY_JOBS: "You already have as many jobs running as this server allows. Wait for one to finish.",
    ErrorReason.COOLDOWN: "You are starting jobs too quickly for this server. Wait a moment and try again.",
    ErrorReason.CHANNEL_NOT_ALLOWED: "The image bot is not used in this channel.",
    ErrorReason.BUTTON_RESTRICTED: "In this server only an image's owner (or a moderator) can use its buttons.",
    ErrorReason.NOT_A_MODERATOR: "That command is for this server's moderators.",
    ErrorReason.BANNED_PROMPT: "The image service refused this prompt under its content rules.",
    ErrorReason.IMAGE_BLOCKED: "The image service refused the result under its content rules.",
    ErrorReason.INVALID_PARAMETER: "One of the prompt's parameters is not valid for the image service.",
    ErrorReason.INVALID_LINK: "The image link in the prompt could not be read by the image service.",
    ErrorReason.INVALID_MASK: "The painted region could not be used. Press Vary (Region) again and paint the part"
    " to redraw.",
    ErrorReason.ALREADY_REQUESTED: "That button was already used on this image.",
    ErrorReason.BUTTON_NOT_FOUND: "The image service no longer offers that button for this image.",
    ErrorReason.UNSUPPORTED_ACTION: "The image service does not offer that action.",
    ErrorReason.PROVIDER_FAILED: "The image service could not complete the job.",
    ErrorReason.JOB_QUEUED: "The image service queued the job and did not start it in time.",
    ErrorReason.QUEUE_FULL: "The image service is at capacity and did not take the job in time.",
    ErrorReason.RATE_LIMITED: "The image service asked us to slow down and did not take the job in time.",
    ErrorReason.PROVIDER_UNAVAILABLE: "The image service is not reachable right now. Try again in a few minutes.",
    ErrorReason.MALFORMED_RESPONSE: "The image service sent an answer we could not read.",
    ErrorReason.OUT_OF_FAST_HOURS: "The image service account is out of fast hours. The moderators have been told.",
    ErrorReason.PRIVATE_MODE_UNAVAILABLE: "Private mode is not in the service plan. The moderators have been told.",
    ErrorReason.PENDING_MODERATION: "The image service account is on hold. The moderators have been told.",
    ErrorReason.SUBSCRIPTION_EXPIRED: "The image service subscription has expired. The moderators have been told.",
    ErrorReason.UNAUTHORIZED: "The image service rejected the bot's credentials. The moderators have been told.",
    ErrorReason.NO_ACCOUNT: "No image service account is available right now. The moderators have been told.",
    ErrorReason.STALLED: "The job stopped making progress and was ended.",
    ErrorReason.LOST: "The image service lost track of the job, so it was ended.",
    ErrorReason.QUEUE_TIMEOUT: "The job waited too long in the queue and was ended.",
    ErrorReason.INTERRUPTED: "The bot restarted while sending the job and could not tell whether the image service"
    " got it. It may have made the image, but it was not sent twice: press 🔄 to try again.",
    ErrorReason.UNCONFIRMED: "The image service did not answer clearly whether it took the job. It may have made the"
    " image, but it was not sent twice: press 🔄 to try again.",
    ErrorReason.CANCELLED_BY_OWNER: "Cancelled by its owner.",
    ErrorReason.CANCELLED_BY_MODERATOR: "Cancelled by a moderator.",
    ErrorReason.MESSAGE_DELETED: "The job's message was deleted, so the job was ended.",
    ErrorReason.INTERNAL_ERROR: "Something went wrong on our side. The job was ended.",
    ErrorReason.IMAGE_WITHHELD: "The image was made, but this server's safety check flagged it, so it is not"
    " posted here. The moderators have been told.",
}


class ProviderUpdate(BaseModel):
    """What a provider said about one of its jobs, already mapped onto the closed sets.

    Produced by an adapter from a poll answer or a webhook body; the engine applies it to the job.
    """

    model_config = ConfigDict(frozen=True)

    provider_job_id: str | None = None
    ref: str | None = None
    status: JobStatus
    progress: int | None = None
    preview_url: str | None = None
    grid_url: str | None = None
    image_urls: tuple[str, ...] = ()
    actions: tuple[Action, ...] | None = None
    error: ErrorReason | None = None
    error_detail: str | None = None
    provider_data: dict[str, Any] = Field(default_factory=dict)


class Job(BaseModel):
    """One request to a provider: an /imagine or a button press on an earlier job's result."""

    model_config = ConfigDict(validate_assignment=False)

    id: str
    user_id: int
    guild_id: int | None = None
    channel_id: int
    message_id: int | None = None
    interaction_token: str | None = None
    token_expires_at: dt.datetime | None = None
    provider: str
    account: str | None = None
    provider_job_id: str | None = None
    provider_data: dict[str, Any] = Field(default_factory=dict)
    parent_id: str | None = None
    action: Action = Action.IMAGINE
    prompt: str
    prompt_final: str = ""
    params: dict[str, Any] = Field(default_factory=dict)
    image_urls_in: list[str] = Field(default_factory=list)
    status: JobStatus = JobStatus.QUEUED
    progress: int = 0
    preview_url: str | None = None
    grid_url: str | None = None
    image_urls: list[str] = Field(default_factory=list)
    actions: list[Action] = Field(default_factory=list)
    error: ErrorReason | None = None
    error_detail: str | None = None
    attempts: int = 0
    # The largest upload the job's interaction allows (Discord's attachment_size_limit), in bytes.
    upload_limit: int | None = None
    # The server's locale (Discord's guild_locale, a plain string such as "de"): the public message's language.
    locale: str | None = None
    # The output-safety check's score of the result (0 safe … 1 not safe), None when it was not checked.
    safety_score: float | None = None
    # Whether the result is posted behind Discord's spoiler (flagged, or not checkable, under mode spoiler).
    spoiler: bool = False
    # Whether the message shows the job's final state; a crash between the two is redone at start.
    delivered: bool = False
    created_at: dt.datetime = Field(default_factory=utcnow)
    updated_at: dt.datetime = Field(default_factory=utcnow)
    submit_started_at: dt.datetime | None = None
    submitted_at: dt.datetime | None = None
    last_progress_at: dt.datetime | None = None
    finished_at: dt.datetime | None = None

    @property
    def terminal(self) -> bool:
        return self.status.terminal

    @property
    def result_url(self) -> str | None:
        """The image a finished job shows: the grid, or the single upscaled image."""
        return self.grid_url or (self.image_urls[0] if self.image_urls else None)


class JobEventKind(StrEnum):
    CREATED = "created"
    QUEUED = "queued"
    SUBMITTED = "submitted"
    PROGRESS = "progress"
    FINISHED = "finished"
    ACCOUNT_PAUSED = "account_paused"


class JobEvent(BaseModel):
    """What the engine tells its listeners; the Discord layer turns these into message edits."""

    model_config = ConfigDict(frozen=True)

    kind: JobEventKind
    job: Job
    queue_position: int | None = None
    detail: str | None = None
