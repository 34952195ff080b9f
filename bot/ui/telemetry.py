"""The Discord side of the metrics: discord.py's HTTP trace hooks, and the gateway's readiness check.

discord.py sends every REST request (interaction acks, webhook edits, channel edits) through one aiohttp
session, which takes an ``aiohttp.TraceConfig`` (the client's ``http_trace`` option): one place sees each
request's round trip, status and rate-limit scope, without wrapping discord.py's own methods. The numbers
go to the core's :class:`bot.core.metrics.Metrics`; nothing Discord-specific lives there.
"""

from __future__ import annotations

import math
import time
from types import SimpleNamespace
from typing import TYPE_CHECKING

import aiohttp

from bot.core.health import CheckResult
from bot.core.metrics import Metrics

if TYPE_CHECKING:
    from discord.ext import commands

__all__ = ["discord_trace", "gateway_check"]


def discord_trace(metrics: Metrics) -> aiohttp.TraceConfig:
    """A trace config that times every Discord REST request into ``metrics``."""
    trace = aiohttp.TraceConfig()

    async def on_start(
        session: aiohttp.ClientSession, ctx: SimpleNamespace, params: aiohttp.TraceRequestStartParams
    ) -> None:
        ctx.started = time.monotonic()

    async def on_end(
        session: aiohttp.ClientSession, ctx: SimpleNamespace, params: aiohttp.TraceRequestEndParams
    ) -> None:
        response = params.response
        scope = response.headers.get("X-RateLimit-Scope")
        if scope is None and response.status == 429 and response.headers.get("X-RateLimit-Global"):
            scope = "global"
        metrics.discord_request(params.method, params.url.path, _elapsed(ctx), response.status, scope)

    async def on_error(
        session: aiohttp.ClientSession, ctx: SimpleNamespace, params: aiohttp.TraceRequestExceptionParams
    ) -> None:
        metrics.discord_request(params.method, params.url.path, _elapsed(ctx), None)

    trace.on_request_start.append(on_start)
    trace.on_request_end.append(on_end)
    trace.on_request_exception.append(on_error)
    return trace


def _elapsed(ctx: SimpleNamespace) -> float:
    started = getattr(ctx, "started", None)
    return time.monotonic() - started if started is not None else 0.0


def gateway_check(bot: commands.Bot) -> CheckResult:
    """Connected: READY was received, the client is not closing, and every shard's socket is open."""
    if bot.is_closed():
        return False, "closing"
    if not bot.is_ready():
        return False, "not ready yet"
    shards = getattr(bot, "shards", None)
    if isinstance(shards, dict) and shards:
        # AutoShardedBot: each shard of this process has its own connection.
        closed = sorted(shard_id for shard_id, shard in shards.items() if shard.is_closed())
        if closed:
            return False, f"shards {closed} disconnected"
        return True, f"{len(shards)} shards connected"
    ws = bot.ws
    if ws is None or not ws.open:
        return False, "disconnected"
    latency = bot.latency
    return True, f"connected (heartbeat {latency * 1000:.0f} ms)" if math.isfinite(latency) else "connected"
