"""Provider adapters behind one protocol.

Public face: the protocol types from :mod:`bot.core.providers.base`, :func:`provider_class` to look an
adapter up by its setting name, and :func:`build_accounts` to turn settings into accounts.
"""

from __future__ import annotations

import importlib

from bot.core.errors import ConfigError
from bot.core.providers.base import Account, ActionRequest, Capabilities, ImagineRequest, Provider, Submission
from bot.core.settings import Settings

__all__ = [
    "Account",
    "ActionRequest",
    "Capabilities",
    "ImagineRequest",
    "Provider",
    "Submission",
    "build_accounts",
    "provider_class",
]

# Setting name → module:class. Imported lazily so a deployment loads only the adapters it uses.
_ADAPTERS = {
    "local": "bot.core.providers.local:LocalProvider",
    "thenextleg": "bot.core.providers.thenextleg:TheNextLegProvider",
    "useapi": "bot.core.providers.useapi:UseApiProvider",
    "imaginepro": "bot.core.providers.imaginepro:ImagineProProvider",
    "apiframe": "bot.core.providers.apiframe:ApiFrameProvider",
}


def provider_class(name: str) -> type[Provider]:
    try:
        module_name, _, class_name = _ADAPTERS[name].partition(":")
    except KeyError:
        raise ValueError(f"unknown provider {name!r}") from None
    adapter = getattr(importlib.import_module(module_name), class_name)
    assert isinstance(adapter, type) and issubclass(adapter, Provider)
    return adapter


def available_providers() -> tuple[str, ...]:
    return tuple(_ADAPTERS)


def build_accounts(settings: Settings) -> list[Account]:
    """Every account the settings describe, for the main provider and the failover ones."""
    accounts: list[Account] = []
    for name in dict.fromkeys([settings.provider, *settings.failover_providers]):
        if name == "local":
            accounts.append(
                Account(
                    provider="local",
                    name="local",
                    base_url="local://",
                    max_jobs=settings.local_max_jobs,
                    options={
                        "data_dir": str(settings.data_dir),
                        "step_seconds": settings.local_step_seconds,
                        "steps": settings.local_steps,
                        # The member's uploads live on the configured Discord; the local provider trusts them.
                        "trusted_image_origins": [settings.discord_api_base],
                    },
                )
            )
        else:
            accounts.extend(_remote_accounts(settings, name))
    return accounts


def _remote_accounts(settings: Settings, name: str) -> list[Account]:
    configured = settings.remote_accounts(name)
    if not configured:
        raise ConfigError(
            f"{name.upper()}_API_KEY is not set: the provider {name!r} needs an API key"
            " (or an entry in PROVIDER_ACCOUNTS)."
        )
    return [
        Account(provider=name, name=a.name, base_url=(a.base_url or "").rstrip("/"),
                api_key=a.api_key.get_secret_value(), max_jobs=a.max_jobs, options=a.options)
        for a in configured
    ]  # fmt: skip
