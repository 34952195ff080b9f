"""Parsing and normalising a member's prompt before it is stored or sent anywhere.

A prompt is free text, optional image links at its front (img2img) and Midjourney-style parameters
(``--ar 16:9 --seed 7``). Parsing never raises on odd text; it raises InputError only for a
parameter whose value cannot be right, with a message that says which one.
"""

from __future__ import annotations

import dataclasses
import re
import unicodedata
from typing import Any

from bot.core.errors import InputError
from bot.core.models import ErrorReason

__all__ = ["ASPECT_CHOICES", "MAX_PROMPT_LENGTH", "ParsedPrompt", "parse_prompt"]

# Discord caps a string option at 6000 characters; providers choke long before. Midjourney's own limit
# is around 6000 too, but prompts past ~1500 characters are where proxies start losing track of jobs.
MAX_PROMPT_LENGTH = 1500

# The aspect ratios offered as slash-command choices; --ar in the text may ask for any W:H in range.
ASPECT_CHOICES = ("1:1", "2:3", "3:2", "4:5", "5:4", "9:16", "16:9", "21:9")
# Midjourney refuses ratios wider than this either way.
MAX_ASPECT_SIDE_RATIO = 4.0

IMAGE_EXTENSIONS = (".png", ".gif", ".webp", ".jpg", ".jpeg")

# Dashes that phones and word processors substitute for "--" before a parameter.
_DASH_PREFIX = re.compile(r"(?:(?<=\s)|^)(?:\u2014|\u2013|\u2012|\u2015|\u2212|-\u2013|\u2013-|—)(?=[a-zA-Z])")
_PARAM = re.compile(r"(?:(?<=\s)|^)--([a-zA-Z][a-zA-Z0-9]*)((?:\s+(?!--)[^\s]+)*)")
_URL = re.compile(r"^https?://\S+$", re.IGNORECASE)
# Control characters other than tab and newline; bidi overrides and zero-width marks are kept verbatim
# in the stored prompt but removed from what is sent to a provider.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_INVISIBLE = re.compile(r"[\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff]")

# Parameters that take a number, with the range Midjourney accepts.
_NUMERIC: dict[str, tuple[float, float]] = {
    "seed": (0, 4294967295),
    "stylize": (0, 1000),
    "s": (0, 1000),
    "chaos": (0, 100),
    "c": (0, 100),
    "weird": (0, 3000),
    "w": (0, 3000),
    "quality": (0.25, 4),
    "q": (0.25, 4),
    "iw": (0, 3),
    "stop": (10, 100),
}
# Parameters whose value must be a number but whose range moves with every Midjourney release (--v 8.1 in
# 2026, --niji 7): the provider judges the value and its own refusal reaches the member (mj-verbs.md §12).
_NUMBER_ONLY = frozenset({"v", "version"})
_FLAGS = frozenset({"tile", "niji", "raw", "fast", "relax", "turbo", "video", "draft", "hd", "loop", "p"})
# Aliases, for validation only: a parameter is passed on under the name it was typed with (never renamed,
# lowercased or reordered), except the two the bot itself reads and applies, --ar and --seed.
_ALIASES = {"aspect": "ar", "s": "stylize", "c": "chaos", "w": "weird", "q": "quality", "version": "v"}
# The parameters the bot reads itself (placeholder shape; the seed kept with the job), under one name each.
_READ_BY_BOT = frozenset({"ar", "seed"})


@dataclasses.dataclass(frozen=True)
class ParsedPrompt:
    text: str
    image_urls: tuple[str, ...]
    params: dict[str, Any]

    @property
    def aspect_ratio(self) -> str:
        return str(self.params.get("ar", "1:1"))

    @property
    def seed(self) -> int | None:
        seed = self.params.get("seed")
        return int(seed) if seed is not None else None

    def final(self, *, include_images: bool = True) -> str:
        """The prompt as a provider receives it: images first, then text, then parameters."""
        parts = list(self.image_urls) if include_images else []
        parts.append(self.text)
        for name, value in self.params.items():
            if value is True:
                parts.append(f"--{name}")
            else:
                parts.append(f"--{name} {value}")
        return " ".join(p for p in parts if p)


def clean_for_provider(text: str) -> str:
    """Drop control and invisible characters; they only ever confuse a provider's parser."""
    return _INVISIBLE.sub("", _CONTROL.sub(" ", text))


def parse_aspect(value: str) -> str:
    match = re.fullmatch(r"\s*(\d{1,3})\s*[:x]\s*(\d{1,3})\s*", value)
    if not match:
        raise InputError(ErrorReason.INVALID_PROMPT, f"--ar needs a ratio like 16:9, not {value!r}.")
    width, height = int(match[1]), int(match[2])
    if not width or not height or max(width / height, height / width) > MAX_ASPECT_SIDE_RATIO:
        raise InputError(ErrorReason.INVALID_PROMPT, f"--ar {width}:{height} is outside 1:4 to 4:1.")
    return f"{width}:{height}"


def parse_prompt(raw: str, *, aspect: str | None = None, suffix: str = "") -> ParsedPrompt:
    """Parse a prompt; ``aspect`` (the slash option) wins over ``--ar`` in the text."""
    text = _DASH_PREFIX.sub("--", clean_for_provider(raw).strip())
    if suffix.strip():
        text = f"{text} {clean_for_provider(suffix).strip()}"
    if not text.strip():
        raise InputError(ErrorReason.INVALID_PROMPT, "The prompt is empty.")
    if len(text) > MAX_PROMPT_LENGTH:
        raise InputError(
            ErrorReason.INVALID_PROMPT, f"The prompt is {len(text)} characters long; the limit is {MAX_PROMPT_LENGTH}."
        )

    words = text.split()
    images: list[str] = []
    while words and _URL.match(words[0]) and words[0].lower().split("?")[0].endswith(IMAGE_EXTENSIONS):
        images.append(words.pop(0))
    text = " ".join(words)

    params: dict[str, Any] = {}
    first_param = _PARAM.search(text)
    body = text[: first_param.start()].strip() if first_param else text
    for match in _PARAM.finditer(text):
        typed = match[1]
        name = _ALIASES.get(typed.lower(), typed.lower())
        value = match[2].strip()
        checked = _param_value(name, value)
        if name in _READ_BY_BOT:
            params[name] = checked
        else:
            # Passed through as typed: its own name, its value's own spelling ("--q .5" stays ".5").
            params[typed] = checked if checked is True or name in _FLAGS or str(checked) == value else value
    if aspect:
        params["ar"] = parse_aspect(aspect)
    if not body and not images:
        raise InputError(ErrorReason.INVALID_PROMPT, "The prompt has parameters but nothing to draw.")
    return ParsedPrompt(text=unicodedata.normalize("NFC", body), image_urls=tuple(images), params=params)


def _param_value(name: str, value: str) -> Any:
    if name == "ar":
        return parse_aspect(value)
    if name in _FLAGS:
        return value or True
    if name in _NUMBER_ONLY:
        if not re.fullmatch(r"\d+(?:\.\d+)?", value):
            raise InputError(ErrorReason.INVALID_PROMPT, f"--{name} needs a version number, like --{name} 7.")
        version = float(value)
        return int(version) if version.is_integer() else version
    if name in _NUMERIC:
        low, high = _NUMERIC[name]
        try:
            number = float(value.split()[0]) if value else None
        except ValueError:
            number = None
        if number is None or not low <= number <= high:
            raise InputError(ErrorReason.INVALID_PROMPT, f"--{name} needs a number from {low:g} to {high:g}.")
        return int(number) if number.is_integer() else number
    if not value:
        return True
    return value
