from __future__ import annotations

from pathlib import Path

import pytest

from bot.__main__ import main
from bot.core.errors import ConfigError
from bot.core.settings import load_settings


def test_defaults_need_only_a_token(monkeypatch: pytest.MonkeyPatch, tmp_path: object) -> None:
    monkeypatch.chdir(tmp_path)  # no .env from the developer's checkout
    settings = load_settings(discord_token="t")
    assert settings.provider == "local" and settings.db_path.name == "imagine-bot.db"


def test_invalid_setting_is_one_line_naming_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LOCAL_MAX_JOBS", "many")
    with pytest.raises(ConfigError, match=r"^LOCAL_MAX_JOBS is invalid"):
        load_settings()


def test_webhooks_need_a_long_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WEBHOOK_ENABLED", "true")
    monkeypatch.setenv("WEBHOOK_SECRET", "short")
    with pytest.raises(ConfigError, match="WEBHOOK_SECRET must be at least 16"):
        load_settings()


def test_paid_provider_without_key_says_what_to_set(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: object
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PROVIDER", "useapi")
    monkeypatch.delenv("USEAPI_API_KEY", raising=False)
    assert main(["check"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: USEAPI_API_KEY is not set")


def test_run_without_token_exits_with_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: object
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("DISCORD_TOKEN", raising=False)
    assert main(["run"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [
        "error: DISCORD_TOKEN is not set: put your bot token in the environment or in .env (see .env.example)."
    ]


def test_env_example_as_is_loads_with_defaults(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Copying .env.example to .env must not change any default: blank values mean unset."""
    example = Path(__file__).parents[2] / ".env.example"
    (tmp_path / ".env").write_text(example.read_text())
    monkeypatch.chdir(tmp_path)
    settings = load_settings()
    assert settings.db_path == Path("data/imagine-bot.db")
    assert settings.discord_token is None and settings.webhook_public_url is None
    assert settings.discord_guild_ids == [] and settings.provider_accounts == []


@pytest.mark.parametrize(
    ("variable", "value"),
    [("PROVIDER_ACCOUNTS", "not json"), ("USEAPI_OPTIONS", "{bad"), ("PROVIDER_ACCOUNTS", "")],
)
def test_undecodable_json_setting_is_one_line_naming_it(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, variable: str, value: str
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv(variable, value)
    with pytest.raises(ConfigError, match=rf"^{variable} is invalid: it is not valid JSON") as caught:
        load_settings()
    assert "\n" not in str(caught.value)


def test_env_file_that_is_not_utf8_is_a_config_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    (tmp_path / ".env").write_bytes(b"LOCAL_STEPS=3\nFOO=\xff\xfe\n")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError, match=r"^The \.env file is not UTF-8"):
        load_settings()
