"""A failing command or button gets one polite, private answer and one log record, in process.

The buttons are the bot's own DynamicItem classes, registered through the bot as the cogs register them;
the interaction is a stand-in that records what the bot answered. The end-to-end side is
tests/e2e/test_pages_and_errors.py.
"""

from __future__ import annotations

import logging
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import discord
import pytest
from discord import app_commands

from bot.core.errors import StoreError
from bot.core.models import Action
from bot.core.runtime import Runtime
from bot.core.settings import load_settings
from bot.ui.client import ImagineBot
from bot.ui.replies import FAILED, SAVE_FAILED, answer_failures, report_failure
from cogs.imagine import JobButton
from cogs.member import CancelButton, PageButton
from cogs.moderation import ModPageButton, NotModerator

JOB = "0123456789abcdef"


class Response:
    """The parts of discord.InteractionResponse the bot uses, recording the answer."""

    def __init__(self) -> None:
        self.type: discord.InteractionResponseType | None = None
        self.sent: list[tuple[str, dict[str, Any]]] = []

    def is_done(self) -> bool:
        return self.type is not None

    async def send_message(self, content: str, **kwargs: Any) -> None:
        self.sent.append((content, kwargs))
        self.type = discord.InteractionResponseType.channel_message

    async def defer(self, *, thinking: bool = False, ephemeral: bool = False) -> None:
        self.type = (
            discord.InteractionResponseType.deferred_channel_message
            if thinking
            else discord.InteractionResponseType.deferred_message_update
        )


class Followup:
    def __init__(self) -> None:
        self.sent: list[tuple[str, dict[str, Any]]] = []

    async def send(self, content: str, **kwargs: Any) -> None:
        self.sent.append((content, kwargs))


class Press:
    """A button press as the callbacks see it; the cog it reaches is set on the button's class."""

    def __init__(self, custom_id: str) -> None:
        self.response = Response()
        self.followup = Followup()
        self.originals_deleted = 0
        self.command = None
        self.type = discord.InteractionType.component
        self.data = {"custom_id": custom_id}
        self.user = SimpleNamespace(id=42)

    async def delete_original_response(self) -> None:
        self.originals_deleted += 1

    def answers(self) -> list[tuple[str, dict[str, Any]]]:
        return self.response.sent + self.followup.sent


class FailingCog:
    """Fails every hand-over from a button, after answering it the way the real cog would."""

    def __init__(self, error: Exception, *, defer: bool = False, thinking: bool = False) -> None:
        self.error, self.defer, self.thinking = error, defer, thinking

    async def _fail(self, interaction: Any, *_: Any) -> None:
        if self.defer:
            await interaction.response.defer(thinking=self.thinking)
        raise self.error

    cancel_pressed = show_page = press = _fail


@pytest.fixture
async def bot(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> ImagineBot:
    monkeypatch.chdir(tmp_path)  # no .env from the developer's checkout
    settings = load_settings(discord_token="t", data_dir=tmp_path)
    bot = ImagineBot(settings, Runtime(settings))
    # As the cogs register them.
    bot.add_dynamic_items(CancelButton, PageButton, JobButton, ModPageButton)
    return bot


def replies_log(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "bot.ui.replies"]


async def test_a_button_that_fails_before_answering_gets_the_polite_answer(
    bot: ImagineBot, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    caplog.set_level(logging.INFO)
    press = Press(f"img1:{JOB}:cancel")
    monkeypatch.setattr(CancelButton, "cog", FailingCog(RuntimeError("boom")))
    await CancelButton(JOB).callback(press)  # type: ignore[arg-type]
    [(text, options)] = press.answers()
    assert text == FAILED and options["ephemeral"] is True
    assert options["allowed_mentions"].to_dict() == discord.AllowedMentions.none().to_dict()
    [record] = replies_log(caplog)
    assert record.levelno == logging.ERROR and f"button img1:{JOB}:cancel failed" in record.getMessage()
    assert record.exc_info is not None and str(record.exc_info[1]) == "boom"


async def test_a_page_button_that_fails_after_deferring_leaves_its_list_alone(
    bot: ImagineBot, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    caplog.set_level(logging.INFO)
    press = Press("img1:pg:me:42:all:17:2")
    monkeypatch.setattr(PageButton, "cog", FailingCog(StoreError("database is locked"), defer=True))
    button = PageButton(42, "all", 2, label="Older ▶", offset=17)
    await button.callback(press)  # type: ignore[arg-type]
    # The deferred answer is the list message itself: it is not deleted, the answer comes beside it.
    assert press.originals_deleted == 0
    assert [text for text, _ in press.followup.sent] == [SAVE_FAILED]
    assert press.followup.sent[0][1]["ephemeral"] is True
    [record] = replies_log(caplog)
    assert record.levelno == logging.WARNING and "database is locked" in record.getMessage()


async def test_a_result_button_that_fails_after_thinking_removes_the_public_thinking_message(
    bot: ImagineBot, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    caplog.set_level(logging.INFO)
    press = Press(f"img1:{JOB}:u1")
    monkeypatch.setattr(JobButton, "cog", FailingCog(ValueError("unreadable row"), defer=True, thinking=True))
    await JobButton(JOB, Action.U1).callback(press)  # type: ignore[arg-type]
    assert press.originals_deleted == 1
    assert [text for text, _ in press.followup.sent] == [FAILED]
    assert len(replies_log(caplog)) == 1


async def test_buttons_built_from_a_custom_id_answer_their_failures_too(
    bot: ImagineBot, monkeypatch: pytest.MonkeyPatch
) -> None:
    press = Press("img1:pg:mod:0:all:3")
    monkeypatch.setattr(ModPageButton, "cog", FailingCog(RuntimeError("boom")))
    match = ModPageButton.__discord_ui_compiled_template__.fullmatch("img1:pg:mod:0:all:3")
    assert match is not None and match["offset"] is None
    item = discord.ui.Button(label="◀ Newer", custom_id="img1:pg:mod:0:all:3")
    button = await ModPageButton.from_custom_id(press, item, match)  # type: ignore[arg-type]
    await button.callback(press)  # type: ignore[arg-type]
    assert [text for text, _ in press.answers()] == [FAILED]


def test_wrapping_twice_answers_once(bot: ImagineBot) -> None:
    callback = CancelButton.callback
    assert answer_failures(CancelButton) is CancelButton and CancelButton.callback is callback
    bot.add_dynamic_items(CancelButton)
    assert CancelButton.callback is callback


async def test_commands_a_check_refuses_are_answered_with_its_reason_and_logged_as_information(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    command = SimpleNamespace(name="bans", qualified_name="mod bans")
    press = Press("unused")
    press.command = command  # type: ignore[assignment]
    await report_failure(press, NotModerator("That command is for this server's moderators."))  # type: ignore[arg-type]
    assert [text for text, _ in press.answers()] == ["That command is for this server's moderators."]
    [record] = replies_log(caplog)
    assert record.levelno == logging.INFO and "/mod bans refused" in record.getMessage()

    caplog.clear()
    failed = Press("unused")
    failed.command = command  # type: ignore[assignment]
    await failed.response.defer(thinking=True)
    error = app_commands.CommandInvokeError(command, StoreError("disk I/O error"))  # type: ignore[arg-type]
    await report_failure(failed, error)  # type: ignore[arg-type]
    assert failed.originals_deleted == 1 and [text for text, _ in failed.followup.sent] == [SAVE_FAILED]
    [record] = replies_log(caplog)
    assert record.levelno == logging.WARNING and "/mod bans failed for member 42: disk I/O error" in record.getMessage()
