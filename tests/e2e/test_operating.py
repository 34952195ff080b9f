"""What an operator runs the bot by: /metrics, /healthz and /readyz of the real bot process.

The bot runs against the local Discord and the useapi simulator, with its web server on HTTP_PORT and
callbacks off (the operator's endpoints do not need a public URL). After two jobs the scrape shows them
counted by status, provider and reason, the provider's requests timed per account, Discord's requests
timed, every interaction received acknowledged, and each final edit's lag. Then the simulator revokes the
API key: the next submit is refused 401, the account is paused, and /readyz answers 503 naming the
``providers`` check while the other checks still pass. No body carries a secret.

A second bot, on PostgreSQL with two shards, is ready with both connected, and answers 503 naming the
``database`` check once its data is dropped from under it.
"""

from __future__ import annotations

import json
from typing import Any

import asyncpg
import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from localdiscord import LocalDiscord
from providersim import simulator
from tests.e2e.test_imagine_flow import final, imagine
from tests.helpers import free_port, wait_until

pytestmark = pytest.mark.e2e

API_KEY = "e2e-metrics-key-0123456789abcdef"


def sample(text: str, name: str, **labels: str) -> float:
    """The sum of the samples called ``name`` whose labels include ``labels`` (0 when none)."""
    total = 0.0
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()):
                total += s.value
    return total


async def test_metrics_health_and_readiness(ld: LocalDiscord, start_bot: Any) -> None:
    sim = simulator("useapi", api_key=API_KEY, step_seconds=0.05, steps=2)
    await sim.start()
    try:
        port = free_port()
        options = {"poll_interval": 0.1, "max_poll_interval": 0.3, "min_request_interval": 0.0}
        bot = await start_bot(
            PROVIDER="useapi",
            USEAPI_API_KEY=API_KEY,
            USEAPI_BASE_URL=sim.api_base_url,
            USEAPI_OPTIONS=json.dumps(options),
            HTTP_PORT=port,
            LOG_FORMAT="json",
        )
        base = f"http://127.0.0.1:{port}"
        async with httpx.AsyncClient(base_url=base, timeout=10.0) as client:
            for prompt in ("a red fox in snow", "a lighthouse at dusk"):
                await final(ld, await imagine(ld, "alice", prompt))

            health = await client.get("/healthz")
            assert health.status_code == 200 and health.json() == {"ok": True}
            # discord.py is ready once the guilds have streamed in after READY (up to its guild_ready_timeout).
            ready = await wait_until(
                lambda: _when(client.get("/readyz"), lambda r: r.status_code == 200), within=10.0, what="/readyz 200"
            )
            checks = ready.json()["checks"]
            assert set(checks) == {"gateway", "database", "providers"}
            assert all(check["ok"] for check in checks.values()), checks
            assert checks["providers"]["detail"] == "1 of 1 provider accounts usable"

            async def scrape() -> str:
                response = await client.get("/metrics")
                assert response.status_code == 200
                assert response.headers["content-type"].startswith("text/plain")
                return response.text

            # Delivered flags and the final edits land a moment after the message shows the image.
            text = await wait_until(
                lambda: _when(
                    scrape(), lambda t: sample(t, "imagine_message_edit_lag_seconds_count", kind="final") >= 2
                ),
                within=10.0,
                what="both final edits counted",
            )
            assert sample(text, "imagine_jobs_created_total", provider="useapi", action="imagine") == 2
            assert sample(text, "imagine_jobs_finished_total", status="completed", provider="useapi", reason="") == 2
            assert sample(text, "imagine_queue_wait_seconds_count", provider="useapi") == 2
            assert sample(text, "imagine_job_duration_seconds_count", provider="useapi", status="completed") == 2
            submits = sample(
                text, "imagine_provider_request_seconds_count", provider="useapi", account="default", method="POST"
            )
            assert submits == 2, text
            assert sample(text, "imagine_provider_request_seconds_count", provider="useapi", method="GET") >= 2
            assert sample(text, "imagine_provider_errors_total") == 0
            assert sample(text, "imagine_provider_account_usable", provider="useapi", account="default") == 1
            assert sample(text, "imagine_queue_depth") == 0
            # Every interaction the local Discord made was received, acknowledged, and timed.
            interactions = ld.stats()["interactions"]
            assert interactions == 2
            assert sample(text, "imagine_interactions_received_total", type="application_command") == interactions
            assert sample(text, "imagine_interactions_acked_total", outcome="ok") == interactions
            assert sample(text, "imagine_interactions_acked_total", outcome="failed") == 0
            assert sample(text, "imagine_interaction_ack_seconds_count") == interactions
            edits = sample(text, "imagine_discord_request_seconds_count", method="PATCH")
            assert edits >= 2
            assert sample(text, "imagine_discord_rate_limited_total") == 0
            routes = {
                s.labels["route"]
                for f in text_string_to_metric_families(text)
                for s in f.samples
                if s.name == "imagine_discord_responses_total"
            }
            assert "/interactions/{id}/{token}/callback" in routes, routes

            # The provider revokes the key: the next submit is refused and the account paused.
            sim.api_keys.clear()
            await imagine(ld, "alice", "a third picture")
            ready = await wait_until(
                lambda: _when(client.get("/readyz"), lambda r: r.status_code == 503),
                within=15.0,
                what="/readyz to fail once the only account is paused",
            )
            checks = ready.json()["checks"]
            assert ready.json()["ok"] is False
            assert checks["providers"] == {"ok": False, "detail": "0 of 1 provider accounts usable"}
            assert checks["gateway"]["ok"] and checks["database"]["ok"], checks
            text = await wait_until(
                lambda: _when(scrape(), lambda t: sample(t, "imagine_jobs_finished_total", status="failed") == 1),
                within=10.0,
                what="the refused job counted",
            )
            assert sample(text, "imagine_provider_errors_total", provider="useapi", reason="unauthorized") >= 1
            assert sample(text, "imagine_provider_account_usable", provider="useapi", account="default") == 0
            assert sample(text, "imagine_jobs_finished_total", status="failed", reason="") == 0
            assert (await client.get("/healthz")).status_code == 200

            for body in (text, ready.text):
                assert API_KEY not in body and ld.token not in body and "aW50ZXJhY3Rpb24" not in body
        # LOG_FORMAT=json: every line the bot wrote is one JSON object, and the key is nowhere in them.
        lines = [line for line in bot.log_path.read_text().splitlines() if line.startswith("{")]
        assert lines and all(json.loads(line)["level"] for line in lines)
        assert API_KEY not in bot.log_path.read_text()
    finally:
        await sim.stop()


async def _when(awaitable: Any, accept: Any) -> Any:
    value = await awaitable
    return value if accept(value) else None


async def test_readiness_on_postgresql_with_shards_names_the_lost_database(
    ld: LocalDiscord, start_bot: Any, postgres_url: str
) -> None:
    """A sharded bot on PostgreSQL is ready with both shards connected; when its data goes away (the
    test's schema dropped under it, as a database restored elsewhere would), /readyz says ``database``."""
    port = free_port()
    await start_bot(DATABASE_URL=postgres_url, SHARD_COUNT=2, HTTP_PORT=port)
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=10.0) as client:
        ready = await wait_until(
            lambda: _when(client.get("/readyz"), lambda r: r.status_code == 200), within=15.0, what="/readyz 200"
        )
        checks = ready.json()["checks"]
        assert checks["gateway"] == {"ok": True, "detail": "2 shards connected"}
        assert checks["database"] == {"ok": True, "detail": "reachable"}

        schema = postgres_url.rsplit("search_path=", 1)[1]
        conn = await asyncpg.connect(postgres_url.split("?", 1)[0])
        try:
            await conn.execute(f"DROP SCHEMA {schema} CASCADE")
        finally:
            await conn.close()
        ready = await wait_until(
            lambda: _when(client.get("/readyz"), lambda r: r.status_code == 503),
            within=10.0,
            what="/readyz to fail once the database does not answer",
        )
        checks = ready.json()["checks"]
        assert checks["database"]["ok"] is False and checks["database"]["detail"].startswith("unreachable ("), checks
        assert checks["gateway"]["ok"] and checks["providers"]["ok"], checks
        assert "postgresql://" not in ready.text and schema not in ready.text
        assert (await client.get("/healthz")).status_code == 200
