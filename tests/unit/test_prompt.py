from __future__ import annotations

import pytest

from bot.core.errors import InputError
from bot.core.prompt import MAX_PROMPT_LENGTH, parse_prompt


def test_parameters_are_parsed_and_normalised() -> None:
    parsed = parse_prompt("a castle at dusk —ar 16:9 --seed 42 --no people --tile")
    assert parsed.text == "a castle at dusk"
    assert parsed.params == {"ar": "16:9", "seed": 42, "no": "people", "tile": True}
    assert parsed.final() == "a castle at dusk --ar 16:9 --seed 42 --no people --tile"


def test_slash_aspect_wins_over_text() -> None:
    assert parse_prompt("a cat --ar 1:1", aspect="9:16").aspect_ratio == "9:16"


def test_image_links_at_the_front_are_img2img() -> None:
    parsed = parse_prompt("https://cdn.example.com/a.png https://x.io/b.JPG?x=1 make it blue")
    assert parsed.image_urls == ("https://cdn.example.com/a.png", "https://x.io/b.JPG?x=1")
    assert parsed.text == "make it blue"
    assert parse_prompt("see https://x.io/a.png").image_urls == ()


@pytest.mark.parametrize(
    ("prompt", "message"),
    [
        ("", "empty"),
        ("   ", "empty"),
        ("a" * (MAX_PROMPT_LENGTH + 1), "limit"),
        ("a cat --ar 10:1", "outside"),
        ("a cat --ar wide", "ratio"),
        ("a cat --seed -4", "--seed"),
        ("a cat --chaos 500", "--chaos"),
        ("--ar 1:1", "nothing to draw"),
    ],
)
def test_bad_prompts_say_what_is_wrong(prompt: str, message: str) -> None:
    with pytest.raises(InputError, match=message):
        parse_prompt(prompt)


def test_prompt_at_the_limit_is_accepted() -> None:
    assert len(parse_prompt("a" * MAX_PROMPT_LENGTH).text) == MAX_PROMPT_LENGTH


def test_control_and_invisible_characters_never_reach_a_provider() -> None:
    parsed = parse_prompt("a\u200bcat\x00 in \u202ehat")
    assert parsed.final() == "acat in hat"


# Midjourney's parameters of 2026 (mj-verbs.md §12.2), each passed on to the provider exactly as typed.
PARAMETERS_2026 = (
    "--v 7", "--v 8", "--v 8.1", "--niji 7", "--sref https://example.com/style.png", "--sref random",
    "--sw 300", "--sv 7", "--oref https://example.com/me.png", "--ow 250", "--p", "--p m7a1b2c3", "--draft",
    "--hd", "--q 4", "--exp 25", "--raw", "--video", "--motion high", "--loop",
    "--end https://example.com/last.png", "--bs 2", "--style raw", "--personalize", "--chaos 10", "--s 250",
)  # fmt: skip


@pytest.mark.parametrize("parameter", PARAMETERS_2026)
def test_2026_parameters_pass_through_untouched(parameter: str) -> None:
    parsed = parse_prompt(f"a quiet harbour {parameter}")
    assert parsed.final() == f"a quiet harbour {parameter}"


def test_2026_video_prompt_passes_through_in_order() -> None:
    typed = "https://example.com/first.png a kite rising --video --motion low --loop --raw --v 7 --Q 2"
    parsed = parse_prompt(typed)
    assert parsed.image_urls == ("https://example.com/first.png",)
    assert parsed.final() == typed


def test_a_version_must_still_be_a_number() -> None:
    with pytest.raises(InputError, match="--v"):
        parse_prompt("a cat --v seven")
