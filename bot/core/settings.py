"""Settings, read from the environment and a ``.env`` file by pydantic-settings.

Order of precedence, highest first: environment variables, then ``.env`` in the working directory,
then the defaults below. Every variable is documented in ``.env.example``. The defaults are the
embedded ones: the local provider and a SQLite file under ``data/``, so only ``DISCORD_TOKEN`` is
needed to run.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Annotated, Any, Literal, TypeGuard

from pydantic import BaseModel, Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict, SettingsError

from bot.core.errors import ConfigError

__all__ = ["PROVIDER_NAMES", "Settings", "load_settings"]

# The secret is the only thing that authenticates most providers' callbacks; it must not be guessable.
MIN_WEBHOOK_SECRET = 16

PROVIDER_NAMES = ("local", "thenextleg", "useapi", "imaginepro", "apiframe", "comfyui", "a1111", "openai")
ProviderName = Literal["local", "thenextleg", "useapi", "imaginepro", "apiframe", "comfyui", "a1111", "openai"]
# Backends a server owns or rents by the call (bot/core/providers/_owned.py): no Midjourney account behind them.
OWNED_PROVIDERS = ("comfyui", "a1111", "openai")
# How pydantic-settings names the field whose raw value it could not decode (JSON of a dict or list field).
_SETTINGS_ERROR_FIELD = re.compile(r'field "(\w+)"')


def _is_provider_name(name: str) -> TypeGuard[ProviderName]:
    return name in PROVIDER_NAMES


def _split_csv(value: Any) -> Any:
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


class AccountSettings(BaseModel):
    """One provider account in PROVIDER_ACCOUNTS."""

    provider: ProviderName
    name: str = Field(min_length=1, max_length=64)
    api_key: SecretStr
    base_url: str | None = None
    max_jobs: int = Field(default=3, ge=1, le=50)
    options: dict[str, Any] = Field(default_factory=dict)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_file=".env", env_file_encoding="utf-8", extra="ignore", case_sensitive=False, validate_default=True
    )

    # -- Discord ---------------------------------------------------------------------------------
    discord_token: SecretStr | None = None
    # Both URLs point at discord.com by default; a REST/gateway proxy or the local Discord replaces them.
    discord_api_base: str = "https://discord.com/api/v10"
    discord_gateway_url: str = "wss://gateway.discord.gg/"
    # Empty: commands are synced globally. Otherwise synced to these guilds only (instant, for testing).
    discord_guild_ids: Annotated[list[int], NoDecode] = Field(default_factory=list)
    # Sync the slash commands at start when they changed since the last sync (a hash per target is kept
    # in the database); `imagine-bot sync` forces one.
    sync_commands: bool = True

    # -- storage ---------------------------------------------------------------------------------
    data_dir: Path = Path("data")
    database_path: Path | None = None
    # postgresql://user:password@host:port/db: the PostgreSQL store, which several processes can share.
    # Unset: the SQLite file above. A secret, since the URL usually carries the password.
    database_url: SecretStr | None = None
    # -- several processes (PostgreSQL only) -----------------------------------------------------
    # Gateway shards of the whole bot, and the ones this process runs (empty: all of them). Unset
    # SHARD_COUNT: one process, Discord's recommended count.
    shard_count: int | None = Field(default=None, ge=1, le=1024)
    shard_ids: Annotated[list[int], NoDecode] = Field(default_factory=list)
    # A process holds the jobs it works on by a lease it renews; one that died loses them after this long,
    # and another process takes them over.
    job_lease_s: float = Field(default=30, ge=2, le=600)
    # Jobs this process runs at once on all its accounts together (0: only the accounts' own limits); with
    # several processes, queued jobs beyond it are left for the others to claim.
    process_max_jobs: int = Field(default=0, ge=0, le=100000)

    # -- providers -------------------------------------------------------------------------------
    provider: ProviderName = "local"
    # Where an imagine goes when the main provider cannot take it, in order.
    failover_providers: Annotated[list[ProviderName], NoDecode] = Field(default_factory=list)
    # Concurrent jobs the local provider runs; the paid providers take theirs from the account.
    local_max_jobs: int = Field(default=4, ge=1, le=64)
    # Seconds per progress step of the local provider; 0 makes it instant (tests, benchmarks).
    local_step_seconds: float = Field(default=1.5, ge=0, le=60)
    local_steps: int = Field(default=4, ge=1, le=20)

    # Remote providers, one account each in the simple form (<PROVIDER>_API_KEY, _BASE_URL, _MAX_JOBS,
    # _OPTIONS as JSON); PROVIDER_ACCOUNTS (a JSON list of account objects) adds pools of several.
    thenextleg_api_key: SecretStr | None = None
    thenextleg_base_url: str = "https://api.thenextleg.io/v2"
    thenextleg_max_jobs: int = Field(default=3, ge=1, le=50)
    thenextleg_options: dict[str, Any] = Field(default_factory=dict)
    useapi_api_key: SecretStr | None = None
    useapi_base_url: str = "https://api.useapi.net/v2"
    useapi_max_jobs: int = Field(default=3, ge=1, le=50)
    useapi_options: dict[str, Any] = Field(default_factory=dict)
    imaginepro_api_key: SecretStr | None = None
    imaginepro_base_url: str = "https://api.imaginepro.ai"
    imaginepro_max_jobs: int = Field(default=3, ge=1, le=50)
    imaginepro_options: dict[str, Any] = Field(default_factory=dict)
    apiframe_api_key: SecretStr | None = None
    apiframe_base_url: str = "https://api.apiframe.pro"
    apiframe_max_jobs: int = Field(default=3, ge=1, le=50)
    apiframe_options: dict[str, Any] = Field(default_factory=dict)
    # Backends a server owns (README: providers). ComfyUI and A1111 need no key; ComfyUI's is a reverse
    # proxy's (sent as a Bearer header), A1111's is --api-auth's "user:pass" (HTTP Basic).
    comfyui_api_key: SecretStr | None = None
    comfyui_base_url: str = "http://127.0.0.1:8188"
    # One GPU runs one prompt at a time; a second queued one keeps it busy between jobs.
    comfyui_max_jobs: int = Field(default=2, ge=1, le=50)
    comfyui_options: dict[str, Any] = Field(default_factory=dict)
    # The API-format workflow file with the bot's placeholders (README: ComfyUI workflow).
    comfyui_workflow: Path | None = None
    a1111_api_key: SecretStr | None = None
    a1111_base_url: str = "http://127.0.0.1:7860"
    # A1111 serves one generation at a time behind a lock; more would only wait inside its HTTP request.
    a1111_max_jobs: int = Field(default=1, ge=1, le=50)
    a1111_options: dict[str, Any] = Field(default_factory=dict)
    openai_api_key: SecretStr | None = None
    openai_base_url: str = "https://api.openai.com/v1"
    openai_max_jobs: int = Field(default=3, ge=1, le=50)
    openai_options: dict[str, Any] = Field(default_factory=dict)
    openai_model: str = "gpt-image-1.5"
    provider_accounts: list[AccountSettings] = Field(default_factory=list)

    # -- job engine ------------------------------------------------------------------------------
    # A running job whose progress has not moved for this long ends as timed_out.
    stall_timeout_s: float = Field(default=600, gt=0)
    # A job still waiting in our queue after this long ends as timed_out.
    queue_timeout_s: float = Field(default=1800, gt=0)
    # Attempts at a transient provider error before the job fails with that reason.
    max_submit_attempts: int = Field(default=5, ge=1, le=50)
    # A job whose submit was cut off by a crash, or got an unclear answer, waits this long for a callback
    # carrying its ref (the provider took it) before it ends as interrupted. It is never submitted again.
    limbo_grace_s: float = Field(default=30, gt=0, le=3600)
    # With callbacks on, a job is still polled at least this often, so a lost callback delays its result
    # by no more than this (failed polls back off no further).
    webhook_fallback_poll_s: float = Field(default=30, ge=1, le=600)

    # -- Discord messages ------------------------------------------------------------------------
    # Progress edits per message are at least this far apart; the latest state wins.
    edit_interval_s: float = Field(default=2.0, ge=0, le=60)

    # -- webhooks --------------------------------------------------------------------------------
    webhook_enabled: bool = False
    webhook_host: str = "127.0.0.1"
    webhook_port: int = Field(default=8080, ge=0, le=65535)
    webhook_public_url: str | None = None
    webhook_secret: SecretStr | None = None

    # -- the web server: /metrics, /healthz, /readyz (and the webhook route when WEBHOOK_ENABLED) ---
    # Set, the server listens here whether or not callbacks are on (the Docker image sets 0.0.0.0:8080);
    # unset, it listens on WEBHOOK_HOST:WEBHOOK_PORT when callbacks are on, and not at all otherwise.
    http_host: str | None = None
    http_port: int | None = Field(default=None, ge=0, le=65535)
    # -- Vary (Region)'s editor (served by the web server above, at WEBHOOK_PUBLIC_URL) ----------------
    # How long a member's editor link works (it works once); minutes, as a private link should.
    editor_link_ttl_s: float = Field(default=300, ge=30, le=3600)
    # The key that signs editor links, shared by every process. Unset: one is generated and kept in the database.
    editor_secret: SecretStr | None = None
    # -- output-safety check (/mod safety) -------------------------------------------------------
    # What scores each result image: "opennsfw" (the [safety] extra's model) or "fixed:<0..1>", one score
    # for every image (tests, and trying the modes without the model).
    safety_scorer: str = Field(default="opennsfw", pattern=r"^(opennsfw|fixed:(0(\.\d+)?|1(\.0+)?))$")

    # -- logging ---------------------------------------------------------------------------------
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    # json: one JSON object per line (for a log collector), secrets blanked as in text lines.
    log_format: Literal["text", "json"] = "text"

    @field_validator("discord_guild_ids", "failover_providers", mode="before")
    @classmethod
    def _csv(cls, value: Any) -> Any:
        return _split_csv(value)

    @field_validator(
        "discord_token", "database_path", "webhook_public_url", "webhook_secret", "thenextleg_api_key",
        "useapi_api_key", "imaginepro_api_key", "apiframe_api_key", "comfyui_api_key", "a1111_api_key",
        "openai_api_key", "comfyui_workflow", mode="before",
    )  # fmt: skip
    @classmethod
    def _blank_is_unset(cls, value: Any) -> Any:
        # A copied .env.example leaves these as "VAR=": that means "not set", not an empty path or key.
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("editor_secret", mode="before")
    @classmethod
    def _editor_secret(cls, value: Any) -> Any:
        if isinstance(value, str) and not value.strip():
            return None
        if isinstance(value, str) and len(value) < MIN_WEBHOOK_SECRET:
            raise ValueError(f"EDITOR_SECRET must be at least {MIN_WEBHOOK_SECRET} random characters")
        return value

    @field_validator("http_host", "http_port", mode="before")
    @classmethod
    def _blank_http_is_unset(cls, value: Any) -> Any:
        # HTTP_PORT= in a copied .env means "no separate web server", not port 0.
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("shard_ids", mode="before")
    @classmethod
    def _shard_csv(cls, value: Any) -> Any:
        return _split_csv(value)

    @field_validator("shard_count", mode="before")
    @classmethod
    def _blank_count(cls, value: Any) -> Any:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("database_url", mode="before")
    @classmethod
    def _database_url(cls, value: Any) -> Any:
        if isinstance(value, str) and not value.strip():
            return None
        if isinstance(value, str) and value.split("://", 1)[0] not in ("postgresql", "postgres"):
            raise ValueError("it must start with postgresql:// (leave it empty for the SQLite file)")
        return value

    @model_validator(mode="after")
    def _shards_fit(self) -> Settings:
        if self.shard_ids and self.shard_count is None:
            raise ValueError("SHARD_IDS needs SHARD_COUNT, the number of shards of the whole bot")
        if self.shard_count is not None and any(not 0 <= i < self.shard_count for i in self.shard_ids):
            raise ValueError(f"SHARD_IDS must each be between 0 and SHARD_COUNT - 1 ({self.shard_count - 1})")
        return self

    @model_validator(mode="after")
    def _webhooks_need_a_secret(self) -> Settings:
        if self.webhook_enabled:
            secret = self.webhook_secret.get_secret_value() if self.webhook_secret else ""
            if len(secret) < MIN_WEBHOOK_SECRET:
                raise ValueError(
                    f"WEBHOOK_SECRET must be at least {MIN_WEBHOOK_SECRET} random characters"
                    " when WEBHOOK_ENABLED is true"
                )
        return self

    @property
    def http_address(self) -> tuple[str, int] | None:
        """Where the web server listens, or None when it does not (no HTTP_PORT and callbacks off)."""
        if self.http_port is not None:
            return self.http_host or self.webhook_host, self.http_port
        if self.webhook_enabled:
            return self.http_host or self.webhook_host, self.webhook_port
        return None

    @property
    def db_path(self) -> Path:
        return self.database_path or self.data_dir / "imagine-bot.db"

    @property
    def store_location(self) -> str | Path:
        """What the store opens: DATABASE_URL when set, else the SQLite file."""
        return self.database_url.get_secret_value() if self.database_url is not None else self.db_path

    def remote_accounts(self, provider: str) -> list[AccountSettings]:
        """The accounts configured for a remote provider: the simple one first, then the pool."""
        if not _is_provider_name(provider) or provider == "local":
            raise ConfigError(f"{provider!r} is not a remote provider (one of {', '.join(PROVIDER_NAMES[1:])}).")
        accounts = []
        key: SecretStr | None = getattr(self, f"{provider}_api_key")
        if key is not None and key.get_secret_value():
            accounts.append(AccountSettings(
                provider=provider, name="default", api_key=key, base_url=getattr(self, f"{provider}_base_url"),
                max_jobs=getattr(self, f"{provider}_max_jobs"), options=getattr(self, f"{provider}_options"),
            ))  # fmt: skip
        for account in self.provider_accounts:
            if account.provider == provider:
                base_url = account.base_url or getattr(self, f"{provider}_base_url")
                accounts.append(account.model_copy(update={"base_url": base_url}))
        return accounts

    def require_token(self) -> str:
        if self.discord_token is None:
            raise ConfigError(
                "DISCORD_TOKEN is not set: put your bot token in the environment or in .env (see .env.example)."
            )
        return self.discord_token.get_secret_value()


def load_settings(**overrides: Any) -> Settings:
    """Read the settings, turning a validation failure into one ConfigError line naming the variable.

    Every ValueError reading them can raise ends here as a ConfigError: pydantic's ValidationError, the
    SettingsError of a dict or list setting (PROVIDER_ACCOUNTS, <PROVIDER>_OPTIONS) that is not JSON, and
    the UnicodeDecodeError of a .env file that is not UTF-8.
    """
    try:
        return Settings(**overrides)
    except SettingsError as exc:
        # Raised before validation, when a raw value cannot even be decoded; the message names the field.
        found = _SETTINGS_ERROR_FIELD.search(str(exc))
        name = found.group(1).upper() if found else "A setting"
        cause = exc.__cause__
        if isinstance(cause, json.JSONDecodeError):
            raise ConfigError(f"{name} is invalid: it is not valid JSON ({cause}).") from None
        raise ConfigError(f"{name} could not be read: {cause or exc}.") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"The .env file is not UTF-8 text (byte {exc.start}); save it as UTF-8.") from None
    except ValidationError as exc:
        first = exc.errors()[0]
        if not first["loc"]:  # a check across settings: its message names the variables itself
            raise ConfigError(str(first["msg"]).removeprefix("Value error, ") + ".") from None
        name = str(first["loc"][0]).upper()
        raise ConfigError(f"{name} is invalid: {first['msg']}.") from None
