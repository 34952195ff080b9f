"""The /job autocomplete's choice names: id, status and the start of the prompt, plain and within 100 characters."""

from __future__ import annotations

from bot.core.models import JobStatus
from bot.ui.jobs import CHOICE_NAME_MAX, job_choice_name
from tests.helpers import make_job


def test_choice_name_shows_id_status_and_prompt_start() -> None:
    job = make_job(id="0123456789abcdef", status=JobStatus.RUNNING, prompt="a cabin in a snowy forest")
    assert job_choice_name(job) == "0123456789abcdef · running · a cabin in a snowy forest"


def test_long_prompt_is_cut_to_discords_limit_with_the_id_whole() -> None:
    job = make_job(id="0123456789abcdef", status=JobStatus.COMPLETED, prompt="word " * 100)
    name = job_choice_name(job)
    assert len(name) <= CHOICE_NAME_MAX and name.endswith("…")
    assert name.startswith("0123456789abcdef · completed · word word")


def test_prompt_is_neutral_no_line_breaks_control_or_invisible_characters() -> None:
    job = make_job(status=JobStatus.QUEUED, prompt="a\n\nfox\u202e\u200b<@123>\x07  **bold**\t@everyone")
    name = job_choice_name(job)
    assert "\n" not in name and "\u202e" not in name and "\u200b" not in name and "\x07" not in name
    # Choice names are plain text in Discord: shown as typed, not escaped with backslashes.
    assert name.endswith("a fox <@123> **bold** @everyone")
    wide = make_job(prompt="\u200b" * 300 + "x")
    assert len(job_choice_name(wide)) <= CHOICE_NAME_MAX
