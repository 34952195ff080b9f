"""/mod and the audit channel in German and Japanese: every text a moderator reads comes from the catalogue.

The moderation texts of bot/ui, drawn in "de" and "ja", contain none of English's sentence pieces (the
literal parts of every ``mod.*`` and ``audit.*`` string); cogs/moderation.py hands no literal English to
``reply``/``refuse`` (each answer is a catalogue lookup, or text drawn by one); and every name,
description and choice of /mod has its translation, with valid names that stay distinct on each level.
"""

from __future__ import annotations

import ast
import datetime as dt
import re
import string
from pathlib import Path
from typing import Any

import pytest

from bot.core.models import JobStatus
from bot.core.moderation import AuditAction, AuditEntry, Ban, Stats, WordFilter
from bot.core.moderation.policy import GuildConfig, Limits, RoleLimits, WordEntry
from bot.core.moderation.service import GuildState
from bot.core.safety import SafetyMode, SafetyPolicy
from bot.ui.i18n import COMMANDS, LANGUAGES, t
from bot.ui.texts import audit_text, bans_text, limits_text, safety_text, stats_text, words_text

NOW = dt.datetime(2030, 1, 1, 12, tzinfo=dt.UTC)
COG = Path(__file__).resolve().parents[2] / "cogs" / "moderation.py"


def english_pieces() -> set[str]:
    """The literal text between placeholders of every English /mod and audit string, where it is words."""
    pieces: set[str] = set()
    for key, text in LANGUAGES["en"].items():
        if not key.startswith(("mod.", "audit.")):
            continue
        # What is in a code span (a command as typed, `pip install …`) is the same in every language.
        prose = re.sub(r"`[^`]*`", "\n", text)
        for literal, *_ in string.Formatter().parse(prose):
            for part in literal.replace("(", "\n").replace(")", "\n").split("\n"):
                part = part.strip(" .,:;-*#“”")
                if len(part.split()) >= 2:
                    pieces.add(part)
    return pieces


def drawn(locale: str) -> list[str]:
    """Every moderation text of bot/ui, with data that exercises each branch, in ``locale``."""
    config = GuildConfig(9, limits=Limits(5, 2, 30), moderator_role_id=4, audit_channel_id=5, strike_limit=3)
    words = (WordEntry(1, 9, "pineapple", False, 7, NOW), WordEntry(2, 9, r"\bgore\w*", True, 7, NOW))
    role = {6: RoleLimits(6, 50, None, 0)}
    state = GuildState(config, words, WordFilter([]), {}, role, frozenset({3}))
    empty = GuildState(GuildConfig(9, limits=Limits(0, 0, 0), strike_limit=0), (), WordFilter([]), {}, {}, frozenset())
    bans = [Ban(9, 8, "spam", 7, NOW, NOW + dt.timedelta(hours=1)), Ban(9, 8, None, 0, NOW)]
    stats = Stats(NOW, 10, {JobStatus.COMPLETED: 8, JobStatus.FAILED: 2}, [("provider_failed", 2)], [(8, 10, 8)], 1, 1)
    detail = {
        "term": "pineapple",
        "kind": "phrase",
        "prompt": "a cat",
        "reason": "spam",
        "minutes": 30,
        "strikes": 2,
        "status": "failed",
        "error": "provider_failed",
        "provider": "local",
        "action": "imagine",
        "channel_id": 5,
        "message_id": 6,
        "daily_quota": 5,
        "button_policy": "owner",
        "safety_mode": "block",
    }
    audits = [audit_text(AuditEntry(1, 9, NOW, 7, a, 8, "0" * 16, detail), locale) for a in AuditAction]
    audits.append(audit_text(AuditEntry(2, 9, NOW, 0, AuditAction.MEMBER_BANNED, None, None, {}), locale))
    return [
        words_text(state, locale),
        words_text(empty, locale),
        limits_text(state, locale),
        limits_text(empty, locale),
        bans_text(bans, locale),
        bans_text([], locale),
        stats_text(stats, 7, 12, locale),
        stats_text(stats, 1, None, locale),
        safety_text([("local", SafetyPolicy(SafetyMode.BLOCK, 0.7, True))], "a scorer", False, locale),
        safety_text([("apiframe", SafetyPolicy(SafetyMode.OFF, 0.7))], "a scorer", True, locale),
        safety_text([("useapi", SafetyPolicy(SafetyMode.SPOILER, 0.5))], "a scorer", True, locale),
        *audits,
    ]


def test_english_is_unchanged_for_an_english_moderator() -> None:
    texts = drawn("en-US")
    assert "Escalation: 3 blocked prompts in a day pause a member for 60 minutes (longer each time)." in texts[2]
    assert texts[6].startswith("**Jobs in the last 7 days:** 10") and texts[7].startswith("**Jobs in the last 1 day:**")
    assert any(text.startswith("🛡️ <@7> added a banned phrase: `pineapple`") for text in texts)


@pytest.mark.parametrize("locale", ["de", "ja"])
def test_moderation_texts_have_no_english_left(locale: str) -> None:
    pieces = english_pieces()
    assert len(pieces) > 60  # the check would pass vacuously if the pieces were not found
    english = drawn("en")
    for ours, theirs in zip(drawn(locale), english, strict=True):
        assert ours != theirs
        prose = re.sub(r"`[^`]*`", " ", ours)
        left = sorted(piece for piece in pieces if piece in prose)
        assert left == [], f"English left in the {locale} text {ours!r}"


@pytest.mark.parametrize("locale", ["de", "ja"])
def test_the_cog_reads_each_key_it_uses(locale: str) -> None:
    """Every ``t(…, "mod.…")`` key the cog names exists, and a moderator's answer is not English."""
    source = COG.read_text()
    keys = {
        node.args[1].value
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.Call)
        and getattr(node.func, "id", None) == "t"
        and len(node.args) > 1
        and isinstance(node.args[1], ast.Constant)
    }
    assert keys and all(key in LANGUAGES[locale] for key in keys), sorted(keys - set(LANGUAGES[locale]))
    for key in ("mod.deleted.deleted", "mod.deleted.already_gone", "mod.deleted.never_posted"):
        assert t(locale, key, id="x") != t("en", key, id="x")  # built from the stored word in the cog
    for policy in ("anyone", "owner"):
        assert t(locale, f"mod.policy_{policy}") != t("en", f"mod.policy_{policy}")


def test_the_cog_hands_no_literal_text_to_a_member() -> None:
    """No answer of cogs/moderation.py is a string literal or an f-string: each comes from the catalogue."""
    literal = []
    for node in ast.walk(ast.parse(COG.read_text())):
        if not isinstance(node, ast.Call) or len(node.args) < 2:
            continue
        name = getattr(node.func, "id", None) or getattr(node.func, "attr", None)
        if name in ("reply", "refuse") and isinstance(node.args[1], ast.Constant | ast.JoinedStr):
            literal.append(f"line {node.lineno}: {ast.unparse(node.args[1])[:60]}")
    assert literal == []


@pytest.mark.parametrize("locale", ["de", "ja"])
def test_every_mod_command_string_is_translated_with_valid_unique_names(locale: str) -> None:
    """/mod's groups, subcommands, options and choices as Discord lists them, in the moderator's language:
    each translated, each name valid, and no two names on one level the same once translated."""
    from discord import app_commands

    from cogs.moderation import ModerationCog
    from tests.unit.test_i18n import NAME

    commands = COMMANDS[locale]
    missing: list[str] = []

    def need(text: str) -> str:
        if text not in commands:
            missing.append(text)
        return commands.get(text, text)

    def names_unique(names: list[str], where: str) -> None:
        assert len(set(names)) == len(names), f"{locale} {where}: names collide {names}"
        for name in names:
            assert NAME.match(name) and name == name.lower(), f"{locale}: {name!r} is not a valid command name"

    def walk(command: app_commands.Command[Any, ..., Any] | app_commands.Group, path: str) -> None:
        need(command.description)
        if isinstance(command, app_commands.Group):
            names_unique([need(child.name) for child in command.commands], path)
            for child in command.commands:
                walk(child, f"{path} {child.name}")
            return
        names_unique([need(param.name) for param in command.parameters], path)
        for param in command.parameters:
            if param.description != "…":  # discord.py's "no description", the same in every language
                need(param.description)
            for choice in param.choices:
                need(str(choice.name))

    group = ModerationCog.__cog_group_name__
    need(ModerationCog.__cog_group_description__)
    top = list(ModerationCog.__cog_app_commands__)
    names_unique([need(str(group))], "/")
    names_unique([need(c.name) for c in top], "/mod")
    for command in top:
        walk(command, f"/mod {command.name}")
    assert sorted(set(missing)) == [], f"{locale} misses /mod command strings"
