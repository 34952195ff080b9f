"""Vary (Region)'s editor: signed one-time links and the page the bot's web server serves for them (issue 11).

The core half: links (:mod:`._links`) and the page, its picture and its submit (:mod:`._pages`). The Discord
half (the button, the private answer, moderation, the new job's message) is the extension that registers
itself as the :class:`EditorFrontend`; the core never imports discord.
"""

from bot.core.editor._links import EditorLinks, LinkClaims, LinkProblem, load_key, seal, unseal
from bot.core.editor._pages import (
    CSP,
    PAGE_KEYS,
    Editor,
    EditorFrontend,
    EditorSubmission,
    EditorVerdict,
    MaskProblem,
    check_mask,
    offers_vary_region,
)

__all__ = [
    "CSP",
    "PAGE_KEYS",
    "Editor",
    "EditorFrontend",
    "EditorLinks",
    "EditorSubmission",
    "EditorVerdict",
    "LinkClaims",
    "LinkProblem",
    "MaskProblem",
    "check_mask",
    "load_key",
    "offers_vary_region",
    "seal",
    "unseal",
]
