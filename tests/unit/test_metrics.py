"""The metrics module, the readiness checks, the operator's endpoints on the web server, and JSON logs."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
import sys
import time
from types import SimpleNamespace
from typing import Any

import httpx
import pytest

from bot.core.errors import StoreError
from bot.core.health import Readiness, database_check, probe, providers_check
from bot.core.logs import JsonFormatter, RedactingFormatter
from bot.core.metrics import DISCORD_EPOCH_MS, Metrics, route_template
from bot.core.models import Action, ErrorReason, JobEvent, JobEventKind, JobStatus, utcnow
from bot.core.settings import Settings
from bot.core.webhooks import WebhookServer
from tests.helpers import make_job

TOKEN = "aW50ZXJhY3Rpb246MTIzNDU2Nzg5OmFiY2RlZmdoaWprbG1ub3BxcnN0dXZ3eHl6"


def event(kind: JobEventKind, **fields: Any) -> JobEvent:
    return JobEvent(kind=kind, job=make_job("useapi", **fields))


# -- labels ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "route"),
    [
        ("/api/v10/channels/123/messages/456", "/channels/{id}/messages/{id}"),
        (f"/api/v10/webhooks/42/{TOKEN}/messages/@original", "/webhooks/{id}/{token}/messages/{x}"),
        (f"/api/v10/interactions/99/{TOKEN}/callback?with_response=true", "/interactions/{id}/{token}/callback"),
        ("/api/v10/applications/1/guilds/2/commands", "/applications/{id}/guilds/{id}/commands"),
        ("/api/v10/channels/1/messages/2/reactions/%F0%9F%91%8D/@me", "/channels/{id}/messages/{id}/reactions/{x}/{x}"),
        ("/api/v9/users/@me", "/users/{x}"),
    ],
)
def test_routes_are_templates_without_ids_or_tokens(path: str, route: str) -> None:
    assert route_template(path) == route


# -- the engine's events --------------------------------------------------------------------------


def test_job_events_count_created_finished_and_time_the_queue() -> None:
    metrics = Metrics()
    created = utcnow()
    metrics.on_event(event(JobEventKind.CREATED, created_at=created))
    metrics.on_event(event(JobEventKind.CREATED, action=Action.U2, parent_id="p"))
    metrics.on_event(
        event(JobEventKind.SUBMITTED, created_at=created, submit_started_at=created + dt.timedelta(seconds=3))
    )
    later = utcnow() + dt.timedelta(seconds=1)
    metrics.on_event(event(JobEventKind.FINISHED, status=JobStatus.COMPLETED, created_at=created, finished_at=later))
    failed = {"status": JobStatus.FAILED, "error": ErrorReason.UNAUTHORIZED, "finished_at": later}
    metrics.on_event(event(JobEventKind.FINISHED, **failed))
    # A job an earlier process finished, announced again at start so its result is shown: not counted again.
    old = utcnow() - dt.timedelta(hours=1)
    metrics.on_event(event(JobEventKind.FINISHED, status=JobStatus.COMPLETED, finished_at=old))

    assert metrics.value("imagine_jobs_created_total", {"provider": "useapi", "action": "imagine"}) == 1
    assert metrics.value("imagine_jobs_created_total", {"provider": "useapi", "action": "u2"}) == 1
    assert metrics.value("imagine_queue_wait_seconds_count", {"provider": "useapi"}) == 1
    assert metrics.value("imagine_queue_wait_seconds_sum", {"provider": "useapi"}) == pytest.approx(3.0)
    done = {"status": "completed", "provider": "useapi", "reason": ""}
    assert metrics.value("imagine_jobs_finished_total", done) == 1
    refused = {"status": "failed", "provider": "useapi", "reason": "unauthorized"}
    assert metrics.value("imagine_jobs_finished_total", refused) == 1
    assert metrics.value("imagine_job_duration_seconds_count", {"provider": "useapi", "status": "completed"}) == 1


def test_each_bot_has_its_own_registry() -> None:
    one, two = Metrics(), Metrics()
    one.on_event(event(JobEventKind.CREATED))
    assert one.value("imagine_jobs_created_total", {"provider": "useapi", "action": "imagine"}) == 1
    assert two.value("imagine_jobs_created_total", {"provider": "useapi", "action": "imagine"}) == 0


def test_engine_state_is_read_at_scrape_time() -> None:
    listeners: list[Any] = []
    slots = [
        SimpleNamespace(account=SimpleNamespace(provider="useapi", name="main"), paused=None, in_use=2),
        SimpleNamespace(account=SimpleNamespace(provider="useapi", name="spare"), paused=ErrorReason.UNAUTHORIZED,
                        in_use=0),
    ]  # fmt: skip
    engine = SimpleNamespace(add_listener=listeners.append, queued=5, running=2, pool=slots)
    metrics = Metrics()
    metrics.watch_engine(engine)  # type: ignore[arg-type]
    assert listeners == [metrics.on_event]
    assert metrics.value("imagine_queue_depth") == 5
    assert metrics.value("imagine_jobs_running") == 2
    assert metrics.value("imagine_provider_account_usable", {"provider": "useapi", "account": "main"}) == 1
    assert metrics.value("imagine_provider_account_usable", {"provider": "useapi", "account": "spare"}) == 0
    assert metrics.value("imagine_provider_account_jobs", {"provider": "useapi", "account": "main"}) == 2
    engine.queued = 0
    assert metrics.value("imagine_queue_depth") == 0
    assert b"imagine_queue_depth 0.0" in metrics.render()


# -- providers and Discord ------------------------------------------------------------------------


def test_provider_requests_are_timed_and_errors_counted_per_account() -> None:
    metrics = Metrics()
    metrics.provider_request("useapi", "main", "POST", 0.2, None)
    metrics.provider_request("useapi", "main", "GET", 0.1, "provider_unavailable")
    labels = {"provider": "useapi", "account": "main", "method": "POST"}
    assert metrics.value("imagine_provider_request_seconds_count", labels) == 1
    errors = {"provider": "useapi", "account": "main", "reason": "provider_unavailable"}
    assert metrics.value("imagine_provider_errors_total", errors) == 1
    metrics.provider_error("useapi", "main", "rate_limited")
    assert metrics.value("imagine_provider_errors_total", errors | {"reason": "rate_limited"}) == 1


def test_discord_requests_429s_and_interaction_acks() -> None:
    metrics = Metrics()
    interaction_id = (int(time.time() * 1000) - 400 - DISCORD_EPOCH_MS) << 22  # made 0.4 s ago
    callback = f"/api/v10/interactions/{interaction_id}/{TOKEN}/callback"
    metrics.discord_request("POST", callback, 0.05, 204)
    metrics.discord_request("POST", "/api/v10/interactions/1/" + TOKEN + "/callback", 0.05, 404)
    metrics.discord_request("PATCH", "/api/v10/channels/1/messages/2", 0.5, 429, "user")
    metrics.discord_request("PATCH", "/api/v10/channels/1/messages/2", 0.5, None)

    assert metrics.value("imagine_interactions_acked_total", {"outcome": "ok"}) == 1
    assert metrics.value("imagine_interactions_acked_total", {"outcome": "failed"}) == 1
    assert metrics.value("imagine_interaction_ack_seconds_count") == 1
    assert 0.3 < metrics.value("imagine_interaction_ack_seconds_sum") < 60
    edit = {"method": "PATCH", "route": "/channels/{id}/messages/{id}"}
    assert metrics.value("imagine_discord_request_seconds_count", edit) == 2
    assert metrics.value("imagine_discord_responses_total", edit | {"status": "429"}) == 1
    assert metrics.value("imagine_discord_responses_total", edit | {"status": "error"}) == 1
    limited = {"route": "/channels/{id}/messages/{id}", "scope": "user"}
    assert metrics.value("imagine_discord_rate_limited_total", limited) == 1
    assert TOKEN.encode() not in metrics.render()


def test_edit_lag_runs_from_the_change() -> None:
    metrics = Metrics()
    metrics.edit_landed("final", time.monotonic() - 1.5)
    assert metrics.value("imagine_message_edit_lag_seconds_count", {"kind": "final"}) == 1
    assert metrics.value("imagine_message_edit_lag_seconds_sum", {"kind": "final"}) >= 1.5


# -- readiness ------------------------------------------------------------------------------------


class _Store:
    def __init__(self, error: Exception | None = None, hang: bool = False) -> None:
        self.error, self.hang = error, hang

    async def get_state(self, key: str) -> str | None:
        if self.hang:
            await asyncio.sleep(60)
        if self.error is not None:
            raise self.error
        return None


async def test_readiness_names_each_check_and_never_an_exceptions_text(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("bot.core.health.CHECK_TIMEOUT_S", 0.05)
    secret_url = "postgresql://imagine:hunter2-secret@db:5432/imagine"
    pool = [SimpleNamespace(paused=None), SimpleNamespace(paused=ErrorReason.UNAUTHORIZED)]
    readiness = Readiness()
    readiness.add("database", database_check(_Store()))  # type: ignore[arg-type]
    readiness.add("providers", providers_check(pool))  # type: ignore[arg-type]
    readiness.add("gateway", lambda: (True, "connected"))
    assert await readiness.run() == (
        True,
        {
            "database": {"ok": True, "detail": "reachable"},
            "providers": {"ok": True, "detail": "1 of 2 provider accounts usable"},
            "gateway": {"ok": True, "detail": "connected"},
        },
    )

    def broken() -> tuple[bool, str]:
        raise RuntimeError(secret_url)

    readiness.add("database", database_check(_Store(StoreError(f"cannot connect to {secret_url}"))))  # type: ignore[arg-type]
    readiness.add("slow", database_check(_Store(hang=True)))  # type: ignore[arg-type]
    readiness.add("gateway", broken)
    pool[0].paused = ErrorReason.SUBSCRIPTION_EXPIRED
    ok, checks = await readiness.run()
    assert not ok
    assert checks["database"] == {"ok": False, "detail": "unreachable (StoreError)"}
    assert checks["providers"] == {"ok": False, "detail": "0 of 2 provider accounts usable"}
    assert checks["slow"] == {"ok": False, "detail": "no answer within 0.05 s"}
    assert checks["gateway"] == {"ok": False, "detail": "check failed (RuntimeError)"}
    assert "hunter2" not in json.dumps(checks)


async def test_web_server_without_callbacks_serves_the_operator_endpoints() -> None:
    metrics = Metrics()
    metrics.on_event(event(JobEventKind.CREATED))
    readiness = Readiness()
    store = _Store()
    readiness.add("database", database_check(store))  # type: ignore[arg-type]
    server = WebhookServer(
        SimpleNamespace(), secret=None, url_for=lambda p: None, port=0, metrics=metrics, readiness=readiness
    )  # type: ignore[arg-type]
    await server.start()
    try:
        async with httpx.AsyncClient(base_url=server.bound_url) as client:
            assert (await client.get("/healthz")).json() == {"ok": True}
            ready = await client.get("/readyz")
            assert ready.status_code == 200
            assert ready.json() == {"ok": True, "checks": {"database": {"ok": True, "detail": "reachable"}}}
            scraped = await client.get("/metrics")
            assert scraped.headers["content-type"].startswith("text/plain; version=")
            assert 'imagine_jobs_created_total{action="imagine",provider="useapi"} 1.0' in scraped.text
            # No secret, no callback route.
            assert (await client.post("/webhooks/useapi/0123456789abcdef0123", content=b"{}")).status_code in (404, 405)
            store.error = StoreError("disk I/O error")
            ready = await client.get("/readyz")
            assert ready.status_code == 503
            assert ready.json()["checks"]["database"] == {"ok": False, "detail": "unreachable (StoreError)"}
        # The container's health check, with the standard library only.
        assert await asyncio.to_thread(probe, f"{server.bound_url}/healthz")
    finally:
        await server.stop()
    assert not await asyncio.to_thread(probe, f"{server.bound_url}/healthz", 1.0)


def test_web_server_address_from_the_settings() -> None:
    assert Settings(_env_file=None).http_address is None  # type: ignore[call-arg]
    assert Settings(_env_file=None, http_port=9100).http_address == ("127.0.0.1", 9100)  # type: ignore[call-arg]
    both = Settings(_env_file=None, http_host="0.0.0.0", http_port="", webhook_enabled=True,  # type: ignore[call-arg]
                    webhook_secret="s" * 16, webhook_port=8090)  # fmt: skip
    assert both.http_address == ("0.0.0.0", 8090)


# -- JSON logs ------------------------------------------------------------------------------------


def test_json_log_lines_are_scrubbed_like_text_lines() -> None:
    secret = "provider-key-0123456789"
    formatter = JsonFormatter([secret])
    try:
        raise ValueError(f"refused with {secret}")
    except ValueError:
        record = logging.LogRecord(
            "bot.core.engine", logging.WARNING, __file__, 1, "submit failed: %s via %s", (secret, TOKEN), sys.exc_info()
        )
    line = formatter.format(record)
    assert "\n" not in line
    entry = json.loads(line)
    assert entry["level"] == "WARNING" and entry["logger"] == "bot.core.engine"
    assert entry["message"] == "submit failed: [redacted] via [redacted]"
    assert "ValueError: refused with [redacted]" in entry["exception"]
    assert dt.datetime.fromisoformat(entry["time"]).tzinfo is not None
    assert secret not in line and TOKEN not in line
    # The text formatter blanks the same things.
    text = RedactingFormatter("%(message)s", [secret]).format(record)
    assert secret not in text and TOKEN not in text
