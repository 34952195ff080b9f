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
