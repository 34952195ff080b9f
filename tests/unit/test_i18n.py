"""Languages: every language has every key of English with the same placeholders, command names meet
Discord's rules, and a job message and a refusal come out in German and Japanese (English otherwise)."""

from __future__ import annotations

import datetime as dt
import string
from pathlib import Path

import discord
import pytest
import regex
from discord import app_commands

from bot.core.errors import Refusal
from bot.core.models import ErrorReason, JobStatus
from bot.core.store import Store
from bot.ui.i18n import COMMANDS, LANGUAGES, language, t
from bot.ui.i18n.translator import CatalogueTranslator
from bot.ui.render import job_content
from bot.ui.texts import blocked_text, duration_text, refusal_text
from tests.unit.conftest import make_job

OTHERS = [code for code in LANGUAGES if code != "en"]
# Discord's rule for command and option names (and lowercase where the script has case).
NAME = regex.compile(r"^[-_\p{L}\p{N}\p{sc=Deva}\p{sc=Thai}]{1,32}$")


def _fields(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name is not None}


@pytest.mark.parametrize("code", OTHERS)
def test_every_language_has_every_key_of_english(code: str) -> None:
    english, strings = LANGUAGES["en"], LANGUAGES[code]
    assert sorted(set(english) - set(strings)) == [], f"{code} misses these keys"
    assert sorted(set(strings) - set(english)) == [], f"{code} has keys English does not"
    for key, text in english.items():
        assert _fields(strings[key]) == _fields(text), f"{code} {key}: placeholders differ from English"


def test_every_error_reason_has_a_key() -> None:
    for reason in ErrorReason:
        assert LANGUAGES["en"][f"reason.{reason.value}"] == reason.message


@pytest.mark.parametrize("code", OTHERS)
def test_every_command_string_is_translated_and_names_are_valid(code: str) -> None:
    commands = COMMANDS[code]
    from cogs.imagine import Imagine
    from cogs.member import Member
    from cogs.verbs import Verbs

    wanted: set[str] = set()
    names: set[str] = set()
    for cog in (Imagine, Member, Verbs):
        for command in cog.__cog_app_commands__:
            assert isinstance(command, app_commands.Command)
            names.add(command.name)
            wanted |= {command.name, command.description}
            for param in command.parameters:
                names.add(param.name)
                wanted |= {param.name, param.description}
                wanted |= {str(choice.name) for choice in param.choices if not choice.name[0].isdigit()}
    assert sorted(wanted - set(commands)) == [], f"{code} misses command strings"
    for english in names:
        name = commands[english]
        assert NAME.match(name) and name == name.lower(), f"{code}: {name!r} is not a valid command name"


async def test_translator_answers_the_language_and_leaves_english() -> None:
    translator = CatalogueTranslator()
    context = app_commands.TranslationContext(location=app_commands.TranslationContextLocation.other, data=None)
    name = app_commands.locale_str("imagine")
    assert await translator.translate(name, discord.Locale.german, context) == "erstellen"
    assert await translator.translate(name, discord.Locale.japanese, context) == "画像生成"
    assert await translator.translate(name, discord.Locale.american_english, context) is None
    assert await translator.translate(name, discord.Locale.french, context) is None


def test_locales_fall_back_to_english() -> None:
    assert language(None) == language("en-US") == language("fr") == language("xx") == "en"
    assert language(discord.Locale.german) == "de" and language("ja") == "ja"
    assert t("fr", "status.completed") == "Done"


def test_job_message_in_german_and_japanese() -> None:
    running = make_job(status=JobStatus.RUNNING, progress=40, locale="de")
    assert "Wird gezeichnet" in job_content(running) and f"Auftrag `{running.id}`" in job_content(running)
    failed = make_job(status=JobStatus.FAILED, error=ErrorReason.OUT_OF_FAST_HOURS, locale="ja")
    text = job_content(failed)
    assert "失敗" in text and LANGUAGES["ja"]["reason.out_of_fast_hours"] in text and "ジョブ `" in text
    queued = make_job(locale="de")
    assert "Platz 3 in der Warteschlange" in job_content(queued, queue_position=3)
    # The member's own locale wins where given (a private reply); no locale at all stays English.
    assert "Waiting to start" in job_content(queued, locale="en-US")
    assert "Drawing" in job_content(make_job(status=JobStatus.RUNNING))


def test_refusal_in_german_and_japanese() -> None:
    later = dt.datetime(2030, 1, 1, tzinfo=dt.UTC)
    quota = Refusal(ErrorReason.QUOTA_REACHED, used=5, limit=5, retry_at=later)
    assert refusal_text(quota, "de").startswith("Du hast heute 5 von 5 Bildern")
    assert "<t:" in refusal_text(quota, "de")
    assert refusal_text(quota, "ja").startswith("このサーバーで今日使える画像 5 枚のうち")
    assert refusal_text(Refusal(ErrorReason.NOT_A_MODERATOR), discord.Locale.german) == (
        "Dieser Befehl ist für die Moderatoren dieses Servers."
    )
    assert refusal_text(quota).startswith("You have used 5 of your 5 images")


def test_durations() -> None:
    assert duration_text(60) == "an hour" and duration_text(90) == "1 hour 30 minutes"
    assert duration_text(60, "de") == "eine Stunde" and duration_text(2880, "de") == "2 Tage"
    assert duration_text(90, "ja") == "1時間30分"
    assert duration_text(0) == "a moment"


def test_blocked_without_hits_in_german() -> None:
    from bot.core.moderation import Verdict

    text = blocked_text(Verdict(), locale="de")
    assert text.endswith("Es wurde nichts gesendet.")


async def test_the_servers_locale_is_stored_with_the_job(tmp_path: Path) -> None:
    """The presenter and a restart draw the job's message from the store, so the locale must survive it."""
    store = await Store.open(tmp_path / "jobs.db")
    try:
        job = make_job(locale="ja", status=JobStatus.FAILED, error=ErrorReason.STALLED)
        await store.insert_job(job)
        loaded = await store.get_job(job.id)
        assert loaded is not None and loaded.locale == "ja"
        assert LANGUAGES["ja"]["reason.stalled"] in job_content(loaded)
        english = make_job()
        await store.insert_job(english)
        again = await store.get_job(english.id)
        assert again is not None and again.locale is None
    finally:
        await store.close()


def test_a_refused_input_and_the_buttons_in_german() -> None:
    from bot.core.errors import InputError
    from bot.core.models import Action
    from bot.ui.buttons import result_view
    from bot.ui.texts import input_text

    error = InputError(ErrorReason.INVALID_PROMPT, "The prompt is empty.")
    assert input_text(error, "en-US") == "The prompt is empty."
    assert input_text(error, "de").startswith("Der Prompt konnte nicht verstanden werden.")
    assert input_text(error, "de").endswith("> The prompt is empty.")
    job = make_job(status=JobStatus.COMPLETED, action=Action.U2, actions=[Action.VARY_STRONG], locale="de")
    view = result_view(job)
    assert view is not None
    assert [item.label for item in view.children] == ["Variieren (stark)"]  # type: ignore[attr-defined]
    job.locale = None
    view = result_view(job)
    assert view is not None and [item.label for item in view.children] == ["Vary (Strong)"]  # type: ignore[attr-defined]
