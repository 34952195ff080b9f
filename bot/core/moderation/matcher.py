"""The banned-word matcher: phrases and regular expressions checked against a normalised prompt.

Members who want a word past a filter try the same handful of tricks, and each has an answer here:

* case and compatibility forms (fullwidth ``ｎ``, math bold ``𝐧``, circled ``ⓝ``, ligatures): NFKC and
  case folding;
* accents and combining marks (``nüde``, strike-through overlays): stripped after NFD;
* invisible characters (zero-width spaces and joiners, soft hyphens, Hangul fillers): removed;
* look-alikes from other scripts (Cyrillic ``а``, Greek ``ο``, small capitals, enclosed letters): mapped
  onto the Latin letter they imitate; digits and symbols standing for letters (``p0rn``, ``$ex``) are
  accepted by the pattern of each letter;
* separators or repeated letters inside a word (``n.u.d.e``, ``n u d e``, ``nuuude``): each letter of a
  phrase matches a run of itself, with up to a few separators between letters.

A phrase matches whole words: ``nude`` does not match ``denuded``. A trailing ``*`` lets it match the start
of longer words (``porn*`` matches ``pornographic``), a leading ``*`` the end.

Regular expressions added by moderators run on the normalised text with a time limit, so a pattern that
backtracks badly can slow one check down but never hang the bot; such patterns are also refused when
they are added. Everything here is pure CPU: a compiled :class:`WordFilter` is cached per guild and the
check runs before the interaction is even acknowledged.
"""

from __future__ import annotations

import dataclasses
import re
import time
import unicodedata
from collections.abc import Iterable

import regex

# InvalidTerm lives in the exception tree (bot.core.errors); re-exported here, where callers found it.
from bot.core.errors import InvalidTerm

__all__ = [
    "MAX_PHRASE_LENGTH",
    "MAX_REGEX_LENGTH",
    "Hit",
    "InvalidTerm",
    "Term",
    "Verdict",
    "WordFilter",
    "check_regex",
    "normalize",
    "phrase_pattern",
]

# Long enough for any phrase worth banning; short enough that a list of them stays readable.
MAX_PHRASE_LENGTH = 100
# A regex longer than this is almost certainly an attempt at something a phrase list does better.
MAX_REGEX_LENGTH = 200
# Discord caps a string option at 6000 characters; a member suffix rides along. Nothing longer is scanned.
MAX_SCAN_LENGTH = 8000
# All moderator regexes of a guild together get this long per prompt, well inside Discord's 3 seconds.
REGEX_BUDGET_S = 0.25
# A regex that needs longer than this on a long adversarial prompt is refused when it is added.
REGEX_PROBE_LIMIT_S = 0.05

# Separators a member may put between the letters of a word. Symbols that stand for letters are kept
# out, so the two sets never overlap and the patterns below cannot backtrack against each other.
_SEP = r"(?:[^\w@$!|+]|_)"
_SEP_IN_WORD = rf"{_SEP}{{0,3}}"
_SEP_BETWEEN_WORDS = rf"{_SEP}{{0,8}}"
# Digits and symbols that stand for letters; the classes are disjoint so a run of one letter never
# swallows the next letter's stand-in.
_LEET: dict[str, str] = {
    "a": "a@4",
    "b": "b8",
    "e": "e3",
    "g": "g9",
    "i": "i1!",
    "l": "l|",
    "o": "o0",
    "s": "s$5",
    "t": "t7+",
    "z": "z2",
}
_WORD_START = r"(?<![^\W_])"
_WORD_END = r"(?![^\W_])"


def _confusables() -> dict[int, str]:
    """Characters that imitate a Latin letter, mapped onto it (after NFKC and case folding)."""
    table: dict[str, str] = {
        # Cyrillic
        "а": "a", "в": "b", "е": "e", "ё": "e", "з": "3", "и": "u", "к": "k", "м": "m", "н": "h", "о": "o",
        "п": "n", "р": "p", "с": "c", "т": "t", "у": "y", "х": "x", "ь": "b", "ѕ": "s", "і": "i", "ї": "i",
        "ј": "j", "ԁ": "d", "ԛ": "q", "ԝ": "w", "һ": "h", "ӏ": "l", "ҫ": "c", "ү": "y", "ғ": "f",
        # Greek
        "α": "a", "β": "b", "γ": "y", "δ": "d", "ε": "e", "ζ": "z", "η": "n", "ι": "i", "κ": "k", "μ": "u",
        "ν": "v", "ο": "o", "ρ": "p", "σ": "o", "ς": "c", "τ": "t", "υ": "u", "χ": "x", "ω": "w", "ϲ": "c",
        "ϳ": "j",
        # Armenian
        "օ": "o", "ս": "u", "հ": "h", "ո": "n", "ց": "g", "զ": "q",
        # Latin letters that are not a base letter plus a mark, and small capitals
        "ı": "i", "ȷ": "j", "ł": "l", "ø": "o", "đ": "d", "ħ": "h", "ŧ": "t", "ƀ": "b", "ɨ": "i", "ʉ": "u",
        "æ": "ae", "œ": "oe", "þ": "p", "ð": "d", "ƒ": "f", "ɑ": "a", "ɩ": "i", "ɡ": "g", "ɢ": "g",
        "ᴀ": "a", "ʙ": "b", "ᴄ": "c", "ᴅ": "d", "ᴇ": "e", "ꜰ": "f", "ʜ": "h", "ɪ": "i", "ᴊ": "j", "ᴋ": "k",
        "ʟ": "l", "ᴍ": "m", "ɴ": "n", "ᴏ": "o", "ᴘ": "p", "ʀ": "r", "ꜱ": "s", "ᴛ": "t", "ᴜ": "u", "ᴠ": "v",
        "ᴡ": "w", "ʏ": "y", "ᴢ": "z",
    }  # fmt: skip
    mapping = {ord(k): v for k, v in table.items()}
    # Negative circled, negative squared and regional-indicator letters have no compatibility form.
    for start in (0x1F150, 0x1F170, 0x1F1E6):
        for offset in range(26):
            mapping[start + offset] = chr(ord("a") + offset)
    return mapping


_CONFUSABLES = _confusables()
# Characters that render as nothing (or as blank space inside a word) but are not format characters.
_FILLERS = frozenset("\u115f\u1160\u3164\uffa0\u2800\u034f")


def normalize(text: str) -> str:
    """The form both prompts and phrases are compared in: folded, unaccented, Latin, nothing invisible."""
    text = text[:MAX_SCAN_LENGTH]
    text = "".join(ch for ch in text if ch not in _FILLERS and unicodedata.category(ch) != "Cf")
    text = unicodedata.normalize("NFKC", text).casefold()
    text = "".join(ch for ch in unicodedata.normalize("NFD", text) if not unicodedata.combining(ch))
    # A second NFKC pass: a look-alike may map onto a letter that composes (rare, but cheap to be sure).
    return unicodedata.normalize("NFKC", text.translate(_CONFUSABLES))


@dataclasses.dataclass(frozen=True, slots=True)
class Term:
    text: str
    is_regex: bool = False
    # From the built-in list rather than added by the guild's moderators.
    default: bool = False

    @property
    def label(self) -> str:
        return f"regex `{self.text}`" if self.is_regex else f"“{self.text}”"


@dataclasses.dataclass(frozen=True, slots=True)
class Hit:
    term: Term
    # What matched, in normalised form; safe to show a moderator, not necessarily the member's spelling.
    excerpt: str


@dataclasses.dataclass(frozen=True, slots=True)
class Verdict:
    hits: tuple[Hit, ...] = ()
    # Regexes that ran out of time; the prompt is refused rather than let through unchecked.
    unchecked: tuple[Term, ...] = ()

    @property
    def blocked(self) -> bool:
        return bool(self.hits or self.unchecked)


def _letter(ch: str) -> str:
    stand_ins = _LEET.get(ch)
    if stand_ins is None:
        return re.escape(ch)
    return "[" + re.escape(stand_ins) + "]"


def _phrase_parts(phrase: str) -> tuple[bool, str, bool, str]:
    """(whether it must start a word, the pattern of its letters, whether it must end a word, its first letter)."""
    raw = phrase.strip()
    if not raw:
        raise InvalidTerm("The phrase is empty.")
    if len(raw) > MAX_PHRASE_LENGTH:
        raise InvalidTerm(f"A phrase can be at most {MAX_PHRASE_LENGTH} characters long.")
    words = [word for word in re.split(r"[^\w]+|_", normalize(raw.strip("*"))) if word]
    if not words:
        raise InvalidTerm("The phrase needs at least one letter or digit.")
    parts = []
    for word in words:
        pieces = []
        for run in (m.group(0) for m in re.finditer(r"(.)\1*", word)):
            letter = _letter(run[0])
            # The run's own length, each maybe behind separators, then (possessively) any adjacent repeats.
            # Repeats are not allowed separators: that would let "n n n n …" cost a scan per letter.
            pieces.append(letter + f"(?:{_SEP_IN_WORD}{letter})" * (len(run) - 1) + f"{letter}*+")
        parts.append(_SEP_IN_WORD.join(pieces))
    return not raw.startswith("*"), _SEP_BETWEEN_WORDS.join(parts), not raw.endswith("*"), _letter(words[0][0])


def phrase_pattern(phrase: str) -> str:
    """The regex source for one phrase (see the module docstring for what it accepts)."""
    starts_word, body, ends_word, _ = _phrase_parts(phrase)
    return (_WORD_START if starts_word else "") + body + (_WORD_END if ends_word else "")


def _probes(pattern: str) -> list[str]:
    """Long texts built to make a backtracking pattern show itself: runs of one character, framed by the
    pattern's own literals so that a required literal does not let the engine give up early."""
    size = 2000
    literals = sorted({ch for ch in pattern if not ch.isspace()} - set("()[]{}?*+|^$\\."))
    bases = ["a", "1", " ", "ab", "a ", *[ch for ch in literals if ch.isalnum()][:6]]
    frames = ["", "!", *literals[:6]]
    probes: list[str] = []
    for base in bases:
        run = base * (size // len(base))
        probes.extend(f"{frame}{run}!" for frame in frames)
        probes.extend(f"{frame}{run}{frame}!" for frame in frames[2:])
    return probes


def check_regex(pattern: str) -> regex.Pattern[str]:
    """Compile a moderator's regex, refusing one that is too long, broken, too broad or too slow."""
    pattern = pattern.strip()
    if not pattern:
        raise InvalidTerm("The regex is empty.")
    if len(pattern) > MAX_REGEX_LENGTH:
        raise InvalidTerm(f"A regex can be at most {MAX_REGEX_LENGTH} characters long.")
    try:
        compiled = regex.compile(pattern, regex.IGNORECASE | regex.V0)
    except regex.error as exc:
        raise InvalidTerm(f"The regex does not compile: {exc}.") from None
    if compiled.search("") is not None:
        raise InvalidTerm("The regex matches an empty prompt, so it would block every prompt.")
    for probe in _probes(pattern):
        try:
            compiled.search(probe, timeout=REGEX_PROBE_LIMIT_S)
        except TimeoutError:
            raise InvalidTerm(
                "The regex takes too long on long prompts (it backtracks); simplify it, for example by"
                " removing nested repeats like (a+)+."
            ) from None
    return compiled


class WordFilter:
    """All of a guild's banned terms, compiled once; :meth:`check` is what runs per prompt."""

    def __init__(self, terms: Iterable[Term], *, regex_budget_s: float = REGEX_BUDGET_S) -> None:
        self.terms = tuple(dict.fromkeys(terms))
        self._regex_budget_s = regex_budget_s
        self._phrases: list[Term] = []
        self._regexes: list[tuple[Term, regex.Pattern[str]]] = []
        # Phrases that start a word share one look-behind, so a position inside a word fails at once, and
        # are grouped by first letter, so a word start tries one group rather than every phrase.
        anchored: dict[str, list[str]] = {}
        floating: list[str] = []
        for term in self.terms:
            if term.is_regex:
                try:
                    # Stored regexes were checked when added; only compile them here.
                    compiled = regex.compile(term.text, regex.IGNORECASE | regex.V0)
                except regex.error:
                    continue
                self._regexes.append((term, compiled))
                continue
            try:
                starts_word, body, ends_word, first = _phrase_parts(term.text)
            except InvalidTerm:
                continue
            alternative = f"(?P<t{len(self._phrases)}>{body}{_WORD_END if ends_word else ''})"
            if starts_word:
                anchored.setdefault(first, []).append(alternative)
            else:
                floating.append(alternative)
            self._phrases.append(term)
        groups = [f"(?={first})(?:{'|'.join(alts)})" for first, alts in anchored.items()]
        branches = [f"{_WORD_START}(?:{'|'.join(groups)})"] if groups else []
        branches += floating
        self._combined = re.compile("|".join(branches)) if branches else None

    def __len__(self) -> int:
        return len(self._phrases) + len(self._regexes)

    def check(self, text: str, *, every: bool = False) -> Verdict:
        """Whether ``text`` contains a banned term: the first hit, or every one with ``every``."""
        normal = normalize(text)
        hits: list[Hit] = []
        if self._combined is not None:
            for match in self._combined.finditer(normal):
                hits.append(Hit(self._phrases[int(match.lastgroup[1:])], match.group(0)))  # type: ignore[index]
                if not every:
                    return Verdict(tuple(hits))
        unchecked: list[Term] = []
        deadline = time.monotonic() + self._regex_budget_s
        for term, compiled in self._regexes:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                unchecked.append(term)
                continue
            try:
                found = compiled.search(normal, timeout=remaining)
            except TimeoutError:
                unchecked.append(term)
                continue
            if found is not None:
                hits.append(Hit(term, found.group(0)))
                if not every:
                    break
        if hits and not every:
            return Verdict(tuple(hits[:1]))
        return Verdict(tuple(hits), tuple(unchecked))
