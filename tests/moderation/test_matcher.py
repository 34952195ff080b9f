"""The banned-word matcher: every evasion form it must see through, and the words it must leave alone."""

from __future__ import annotations

import time

import pytest

from bot.core.moderation.defaults import DEFAULT_PHRASES
from bot.core.moderation.matcher import (
    MAX_REGEX_LENGTH,
    InvalidTerm,
    Term,
    WordFilter,
    check_regex,
    normalize,
    phrase_pattern,
)

FILTER = WordFilter([Term("nude*"), Term("child porn"), Term("gore"), Term("ass"), Term("kill"), Term("*phile")])

EVASIONS = {
    "plain": "a nude portrait",
    "upper case": "a NUDE portrait",
    "mixed case": "a NuDe portrait",
    "zero-width space": "a nu\u200bde portrait",
    "zero-width joiner and non-joiner": "a n\u200du\u200cde portrait",
    "word joiner": "a n\u2060ude portrait",
    "byte order mark": "a nud\ufeffe portrait",
    "soft hyphen": "a nu\u00adde portrait",
    "hangul filler": "a nu\u3164de portrait",
    "combining grapheme joiner": "a nu\u034fde portrait",
    "fullwidth": "a ｎｕｄｅ portrait",
    "mathematical bold": "a 𝐧𝐮𝐝𝐞 portrait",
    "mathematical script": "a 𝓃𝓊𝒹ℯ portrait",
    "circled": "a ⓝⓤⓓⓔ portrait",
    "negative circled": "a 🅝🅤🅓🅔 portrait",
    "regional indicators": "a 🇳🇺🇩🇪 portrait",
    "small capitals": "a ɴᴜᴅᴇ portrait",
    "cyrillic look-alikes": "a nudе portrait",  # Cyrillic е
    "greek look-alikes": "a nυde portrait",  # Greek upsilon
    "accents": "a nüdé portrait",
    "strike-through overlay": "a n̶u̶d̶e̶ portrait",
    "dots between letters": "a n.u.d.e portrait",
    "spaces between letters": "a n u d e portrait",
    "dashes between letters": "a n-u-d-e portrait",
    "underscores between letters": "a n_u_d_e portrait",
    "mixed separators": "a n. u _d-e portrait",
    "repeated letters": "a nuuuuudeee portrait",
    "repeats and separators": "a nnn.uu.dddd.e portrait",
    "prefix wildcard": "nudes on a beach",
    "leet digits": "g0r3 everywhere",
    "leet symbols": "a$$ and more",
    "two words run together": "childporn",
    "two words with a leet letter": "child p0rn",
    "suffix wildcard": "a pedophile",
}


@pytest.mark.parametrize("text", EVASIONS.values(), ids=EVASIONS.keys())
def test_every_evasion_is_caught(text: str) -> None:
    verdict = FILTER.check(text)
    assert verdict.blocked, text


CLEAN = {
    "word inside another": "a denuded hillside",
    "letters of a phrase across words": "a class act, as if",
    "phrase across word starts": "skill and gorey lane",  # 'kill' inside 'skill'; 'gorey' is not 'gore'
    "no wildcard, no prefix match": "assassin's creed",
    "ordinary prompt": "a cat sitting on a sofa, watercolor --ar 16:9",
    "empty": "",
}


@pytest.mark.parametrize("text", CLEAN.values(), ids=CLEAN.keys())
def test_ordinary_words_are_left_alone(text: str) -> None:
    assert not FILTER.check(text).blocked, text


def test_normalize_folds_every_form_to_plain_latin() -> None:
    for text in ("ｎｕｄｅ", "𝐧𝐮𝐝𝐞", "ⓝⓤⓓⓔ", "nüdé", "n\u200bude", "NUDE", "ɴᴜᴅᴇ", "🅝🅤🅓🅔"):
        assert normalize(text) == "nude", text


def test_check_reports_the_term_and_what_matched() -> None:
    verdict = FILTER.check("a n.u.d.e figure")
    assert verdict.hits[0].term == Term("nude*")
    assert verdict.hits[0].excerpt == "n.u.d.e"


def test_every_lists_each_term_hit() -> None:
    verdict = FILTER.check("gore and a nude and kill", every=True)
    assert {h.term.text for h in verdict.hits} == {"gore", "nude*", "kill"}


def test_phrase_needs_a_letter() -> None:
    with pytest.raises(InvalidTerm):
        phrase_pattern(" *** ")
    with pytest.raises(InvalidTerm):
        phrase_pattern("")


def test_default_list_compiles_and_leaves_ordinary_prompts_alone() -> None:
    defaults = WordFilter(Term(p, default=True) for p in DEFAULT_PHRASES)
    assert len(defaults) == len(DEFAULT_PHRASES)
    for prompt in (
        "a grape vineyard at dusk, rapeseed fields",
        "essex countryside, therapist office",
        "a gorgeous sunset over the sea",
        "document the cumulative drape of fabric",
    ):
        assert not defaults.check(prompt).blocked, prompt
    assert defaults.check("a n.s.f.w picture").blocked


# -- moderator regexes -------------------------------------------------------------------------------


def test_regex_runs_on_the_normalised_prompt() -> None:
    flt = WordFilter([Term(r"\bsh[o0]ta\w*", is_regex=True)])
    assert flt.check("ＳＨＯＴＡcon art").blocked
    assert not flt.check("a short story").blocked


@pytest.mark.parametrize(
    ("pattern", "why"),
    [
        ("", "empty"),
        ("a" * (MAX_REGEX_LENGTH + 1), "at most"),
        ("(unclosed", "does not compile"),
        ("x*", "every prompt"),
        (r"(a|aa)+$", "too long"),
        (r"(\w|\w\w)+!$", "too long"),
        (r"(\d|\d\d)+z", "too long"),
    ],
)
def test_bad_regexes_are_refused_with_a_reason(pattern: str, why: str) -> None:
    with pytest.raises(InvalidTerm, match=why):
        check_regex(pattern)


def test_a_slow_regex_that_slipped_in_fails_closed_within_budget() -> None:
    # Stored before the probe existed, say: the check still ends in time and refuses the prompt.
    flt = WordFilter([Term(r"(a|aa)+$", is_regex=True)], regex_budget_s=0.05)
    started = time.monotonic()
    verdict = flt.check("a" * 60 + "!")
    assert time.monotonic() - started < 0.5
    assert verdict.blocked and verdict.unchecked and not verdict.hits


def test_check_is_fast_with_a_long_list_and_a_long_prompt() -> None:
    flt = WordFilter([Term(f"term{i} word*") for i in range(500)] + [Term(p) for p in DEFAULT_PHRASES])
    prompt = "a beautiful landscape with mountains, rivers and a tall lighthouse " * 22
    adversarial = "n " * 750
    started = time.monotonic()
    for text in (prompt, adversarial, "a" * 1500, "k" + "1" * 1500):
        flt.check(text, every=True)
    # Well inside the 3-second window even on a slow CI machine.
    assert time.monotonic() - started < 0.5
