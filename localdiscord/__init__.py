"""A local Discord that an unmodified discord.py client talks to over real HTTP and WebSockets.

Start one, point the bot at it with two URLs, drive users through the control API::

    ld = LocalDiscord()            # port 0 picks a free port
    await ld.start()
    discord.http.Route.BASE = ld.api_base
    discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(ld.gateway_url)
    ...
    await ld.invoke("alice", "general", "imagine", {"prompt": "a cat"})

The same operations are served over HTTP under ``/_control`` (see ``ControlClient``).
"""

from __future__ import annotations

from ._errors import ControlError, DiscordError
from ._events import bot_connected
from ._ratelimit import normalize_route
from ._server import LocalDiscord, create_app
from ._snowflake import seed_id, snowflake_time_ms
from ._state import Perm
from ._validate import ALLOWED_DEVIATIONS, SPEC_SETTING, SPEC_SOURCE, Deviation, SpecValidator, default_spec_path
from .client import ControlClient

__all__ = [
    "ALLOWED_DEVIATIONS",
    "SPEC_SETTING",
    "SPEC_SOURCE",
    "ControlClient",
    "ControlError",
    "Deviation",
    "DiscordError",
    "LocalDiscord",
    "Perm",
    "SpecValidator",
    "bot_connected",
    "create_app",
    "default_spec_path",
    "normalize_route",
    "seed_id",
    "snowflake_time_ms",
]
