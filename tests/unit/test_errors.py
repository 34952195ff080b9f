"""The exception tree: one module defines every exception the core raises on purpose, and the places
that exported some of them before still export the very same classes."""

from __future__ import annotations

import re

import pytest

from bot.core import errors, moderation, netguard
from bot.core.errors import ImagineBotError, InputError
from bot.core.moderation import matcher, policy


@pytest.mark.parametrize("name", errors.__all__)
def test_every_error_is_defined_in_errors_and_under_the_base(name: str) -> None:
    cls = getattr(errors, name)
    assert cls.__module__ == "bot.core.errors"
    assert issubclass(cls, ImagineBotError)


def test_old_homes_re_export_the_same_classes() -> None:
    assert netguard.ImageRefused is errors.ImageRefused
    assert moderation.Refusal is policy.Refusal is errors.Refusal
    assert moderation.InvalidTerm is matcher.InvalidTerm is errors.InvalidTerm


def test_places_in_the_tree() -> None:
    assert issubclass(errors.ImageRefused, InputError)
    # A refusal is about the member's standing, not their input: it must not be caught as an InputError.
    assert not issubclass(errors.Refusal, InputError)
    # Callers that caught a bad term as a ValueError keep working.
    assert issubclass(errors.InvalidTerm, ValueError)


def test_the_docstring_draws_every_error() -> None:
    assert errors.__doc__ is not None
    tree = errors.__doc__.split("The hierarchy::", 1)[1].split("\n\n")[1]
    drawn = set(re.findall(r"^[\s│├└─]*(\w+)", tree, re.MULTILINE))
    assert drawn == set(errors.__all__)
