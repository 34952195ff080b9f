"""What members and moderators read: refusals say why, member text is quoted, nothing passes 2000 characters."""

from __future__ import annotations

import datetime as dt

import pytest

from bot.core.errors import InputError
from bot.core.models import ErrorReason, JobStatus
from bot.core.moderation import AuditAction, AuditEntry, Ban, MemberSettings, Refusal, StrikeOutcome, Term, WordFilter
from bot.core.moderation.policy import GuildConfig, WordEntry, parse_duration
from bot.core.moderation.service import GuildState
from bot.core.prompt import parse_prompt
from bot.ui.gate import suffix_params, with_member_defaults
from bot.ui.texts import audit_text, blocked_text, duration_text, job_list_text, refusal_text, words_text

from .conftest import job

NOW = dt.datetime(2030, 1, 1, 12, tzinfo=dt.UTC)


def test_refusals_say_why_with_numbers_and_times() -> None:
    later = NOW + dt.timedelta(hours=2)
    quota = refusal_text(Refusal(ErrorReason.QUOTA_REACHED, used=5, limit=5, retry_at=later))
    assert "5 of your 5 images" in quota and f"<t:{int(later.timestamp())}:R>" in quota
    assert "allows 2 at a time" in refusal_text(Refusal(ErrorReason.TOO_MANY_JOBS, used=2, limit=2))
    assert "next job <t:" in refusal_text(Refusal(ErrorReason.COOLDOWN, retry_at=later))
    ban = Ban(1, 2, "@everyone **spam**", 3, NOW, later)
    text = refusal_text(Refusal(ErrorReason.MEMBER_BANNED, ban=ban))
    assert "The block ends <t:" in text and "@everyone" not in text.replace("@\u200beveryone", "")
    assert "\\*\\*spam\\*\\*" in text


def test_blocked_text_counts_down_to_the_escalation() -> None:
    verdict = WordFilter([Term("gore")]).check("g.o.r.e")
    assert "2 more blocked prompts today" in blocked_text(verdict, StrikeOutcome(1, 3))
    assert "1 more blocked prompt today" in blocked_text(verdict, StrikeOutcome(2, 3))
    banned = blocked_text(verdict, StrikeOutcome(3, 3, Ban(1, 2, None, 0, NOW, NOW + dt.timedelta(hours=1)), 60))
    assert "now paused for you for an hour" in banned


def test_blocked_text_is_one_answer_with_what_matched_and_the_standing_apart() -> None:
    verdict = WordFilter([Term("gore")]).check("some g.o.r.e here")
    warning = blocked_text(verdict, StrikeOutcome(1, 3, pause_minutes=60))
    matched, standing = warning.split("\n")
    assert "does not allow" in matched and "Matched" in matched and "pause" not in matched
    assert standing == "-# 2 more blocked prompts today and the bot pauses for you for an hour."
    assert "paused" not in warning and "blocked from" not in warning
    # The second round of a day pauses for longer, and the text says so.
    later = blocked_text(verdict, StrikeOutcome(5, 3, pause_minutes=60))
    assert later.endswith("1 more blocked prompt today and the bot pauses for you for an hour.")

    ends = NOW + dt.timedelta(minutes=90)
    paused = blocked_text(verdict, StrikeOutcome(3, 3, Ban(1, 2, "3 blocked prompts", 0, NOW, ends), 90))
    matched, standing = paused.split("\n")
    assert "Matched" in matched
    assert standing == (
        f"That was 3 blocked prompts today, so the bot is now paused for you for 1 hour 30 minutes."
        f" The block ends <t:{int(ends.timestamp())}:R>."
    )
    assert "more blocked prompt" not in paused
    # Escalation off: what matched, nothing about a pause.
    assert "\n" not in blocked_text(verdict, StrikeOutcome(4, 0))


@pytest.mark.parametrize(
    ("minutes", "text"),
    [
        (1, "a minute"),
        (30, "30 minutes"),
        (60, "an hour"),
        (90, "1 hour 30 minutes"),
        (120, "2 hours"),
        (1440, "a day"),
        (2940, "2 days 1 hour"),
    ],
)
def test_pause_lengths_read_as_a_member_says_them(minutes: int, text: str) -> None:
    assert duration_text(minutes) == text


def test_member_defaults_fill_in_without_overriding_the_prompt() -> None:
    settings = MemberSettings(1, aspect="16:9", suffix="--seed 42 --chaos 5")
    merged = with_member_defaults(parse_prompt("a fox --chaos 9"), settings)
    assert merged.params == {"chaos": 9, "seed": 42, "ar": "16:9"}
    own_aspect = with_member_defaults(parse_prompt("a fox --ar 2:3"), settings)
    assert own_aspect.params["ar"] == "2:3"


@pytest.mark.parametrize("suffix", ["watercolor", "https://x.test/a.png --v 6"])
def test_suffix_holds_parameters_only(suffix: str) -> None:
    with pytest.raises(ValueError, match="parameters only"):
        suffix_params(suffix)


def test_suffix_parameters_are_validated() -> None:
    with pytest.raises(InputError):
        suffix_params("--chaos 900")
    assert suffix_params("--v 6 --stylize 250") == {"v": 6, "stylize": 250}


@pytest.mark.parametrize("action", list(AuditAction))
def test_every_audit_entry_renders_within_limits(action: AuditAction) -> None:
    detail = {
        "term": "x`" * 300,
        "kind": "phrase",
        "prompt": "<@123> @everyone " + "y" * 5000,
        "reason": "z" * 500,
        "minutes": 30,
        "strikes": 2,
        "status": "completed",
        "error": "provider_failed",
        "provider": "local",
        "action": "imagine",
        "channel_id": 5,
        "message_id": 6,
    }
    text = audit_text(AuditEntry(1, 9, NOW, 7, action, target_user_id=8, job_id="0" * 16, detail=detail))
    assert 0 < len(text) <= 2000
    assert "@everyone" not in text.replace("@\u200beveryone", "")


def test_long_lists_stay_under_the_message_limit() -> None:
    words = tuple(WordEntry(i, 1, f"{'w' * 150}{i}", False, 2, NOW) for i in range(500))
    state = GuildState(GuildConfig(1), words, WordFilter([]), {}, {}, frozenset())
    text = words_text(state)
    assert len(text) <= 2000 and text.endswith("more.")
    jobs = [job(prompt="p" * 3000, status=JobStatus.COMPLETED, message_id=5) for _ in range(10)]
    assert len(job_list_text(jobs, title="Jobs", page=0, show_member=True)) <= 2000


@pytest.mark.parametrize(("text", "minutes"), [("30m", 30), ("2h", 120), ("1d12h", 2160), ("90", 90), ("1w", 10080)])
def test_durations(text: str, minutes: int) -> None:
    assert parse_duration(text) == dt.timedelta(minutes=minutes)


@pytest.mark.parametrize("text", ["soon", "0m", "400d", "5x"])
def test_bad_durations(text: str) -> None:
    with pytest.raises(ValueError):
        parse_duration(text)
