"""Provider adapters behind one protocol.

Public face: the protocol types from :mod:`bot.core.providers.base`, :func:`provider_class` to look an
adapter up by its setting name, and :func:`build_accounts` to turn settings into accounts.
"""

from __future__ import annotations

import importlib

from bot.core.errors import ConfigError
from bot.core.providers.base import Account, ActionRequest, Capabilities, ImagineRequest, Provider, Submission
from bot.core.settings import OWNED_PROVIDERS, Settings

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
    "comfyui": "bot.core.providers.comfyui:ComfyUIProvider",
    "a1111": "bot.core.providers.a1111:A1111Provider",
    "openai": "bot.core.providers.openai_images:OpenAIImagesProvider",
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
        elif name in OWNED_PROVIDERS:
            accounts.extend(_owned_accounts(settings, name))
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


def _owned_accounts(settings: Settings, name: str) -> list[Account]:
    """A backend the server owns: the simple account (no key needed, except OpenAI's), then the pool's.

    Each gets the bot's data directory (the adapters keep every result image there) and the configured
    Discord's origin (a member's uploads there are trusted as start images).
    """
    shared = {"data_dir": str(settings.data_dir), "trusted_image_origins": [settings.discord_api_base]}
    if name == "comfyui":
        if settings.comfyui_workflow is None:
            raise ConfigError("COMFYUI_WORKFLOW is not set: name the API-format workflow file (see the README).")
        shared["workflow"] = str(settings.comfyui_workflow)
        from bot.core.providers.comfyui import load_workflow

        load_workflow(settings.comfyui_workflow)  # one clear line now, not at the first job
    if name == "openai":
        shared["model"] = settings.openai_model
    key = getattr(settings, f"{name}_api_key")
    accounts = [
        Account(provider=name, name="default", base_url=getattr(settings, f"{name}_base_url").rstrip("/"),
                api_key=key.get_secret_value() if key is not None else "",
                max_jobs=getattr(settings, f"{name}_max_jobs"),
                options={**getattr(settings, f"{name}_options"), **shared})
    ]  # fmt: skip
    for extra in settings.provider_accounts:
        if extra.provider == name:
            accounts.append(
                Account(provider=name, name=extra.name,
                        base_url=(extra.base_url or getattr(settings, f"{name}_base_url")).rstrip("/"),
                        api_key=extra.api_key.get_secret_value(), max_jobs=extra.max_jobs,
                        options={**extra.options, **shared})
            )  # fmt: skip
    if name == "openai" and not all(a.api_key for a in accounts):
        raise ConfigError("OPENAI_API_KEY is not set: the provider 'openai' needs an API key.")
    return accounts
