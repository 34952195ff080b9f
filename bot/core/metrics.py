"""The bot's Prometheus metrics, one registry per bot.

Each :class:`Runtime` owns a :class:`Metrics` with its own ``CollectorRegistry`` (never the library's
global one), so several bots in one process (tests, the benchmark) count apart. The metrics are fed at
the seams that already exist rather than from counters scattered through the code:

* the engine's listeners (:meth:`Metrics.on_event`): jobs created and ended, queue wait, job duration;
* a collector that reads the engine at scrape time: queue depth, jobs running, accounts usable;
* the adapters' request wrappers (``Provider.request_json``, ``HttpAdapter.call``): provider latency and
  errors per account;
* the Discord layer (``bot/ui/telemetry.py``): discord.py's HTTP trace hooks for REST latency, 429s and
  interaction acks, and the presenter's edit path for the lag from a change to its edit landing.

No label ever holds a secret, a prompt or an id: routes are templates (``/channels/{id}/messages/{id}``),
accounts are the operator's own names for them.
"""

from __future__ import annotations

import datetime as dt
import re
import time
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from bot.core.models import JobEvent, JobEventKind, utcnow

if TYPE_CHECKING:
    from bot.core.engine import JobEngine

__all__ = ["CONTENT_TYPE", "Metrics", "route_template"]

CONTENT_TYPE = CONTENT_TYPE_LATEST
# Every metric's name starts so, so a shared Prometheus tells the bot's series from others'.
PREFIX = "imagine"
# Seconds: a queue wait runs from nothing to the queue timeout (30 min by default).
WAIT_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800)
# Seconds: HTTP round trips, to providers and to Discord.
REQUEST_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30)
# Seconds: a job runs for a minute or so at a real provider, up to the stall timeout.
JOB_BUCKETS = (0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1200)
# Seconds: an edit lags its change by the edit spacing (2 s by default) plus the round trip.
LAG_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2, 3, 5, 10, 30, 60)
# Seconds: Discord drops an interaction not acknowledged within 3 s, so the buckets are dense below it.
ACK_BUCKETS = (0.05, 0.1, 0.25, 0.5, 0.75, 1, 1.5, 2, 2.5, 3, 5)
# A path segment kept as it is in a route label: a lowercase word of Discord's API ("messages",
# "callback"); anything else (an id, a token, an emoji) becomes a placeholder, so labels stay few and clean.
_ROUTE_WORD = re.compile(r"[a-z][a-z_-]{0,31}")
_API_PREFIX = re.compile(r"^.*?/api(?:/v\d+)?(?=/)")
# Discord's epoch, for the creation time inside a snowflake.
DISCORD_EPOCH_MS = 1_420_070_400_000


def route_template(path: str) -> str:
    """A Discord REST path as a label: ids become ``{id}``, tokens ``{token}``, anything else ``{x}``.

    ``/api/v10/webhooks/1/aW50...xyz/messages/2`` → ``/webhooks/{id}/{token}/messages/{id}``.
    """
    path = _API_PREFIX.sub("", path.split("?", 1)[0])
    out: list[str] = []
    for segment in path.strip("/").split("/"):
        if not segment:
            continue
        if len(out) >= 2 and out[-2] in ("webhooks", "interactions") and out[-1] == "{id}":
            out.append("{token}")  # the segment after the application or interaction id is the secret
        elif segment.isdigit():
            out.append("{id}")
        elif _ROUTE_WORD.fullmatch(segment):
            out.append(segment)
        else:
            out.append("{x}")
    return "/" + "/".join(out)


def snowflake_time(snowflake: int) -> float:
    """When Discord made the object with this id, in Unix seconds."""
    return ((snowflake >> 22) + DISCORD_EPOCH_MS) / 1000.0


class _EngineCollector(Collector):
    """Reads the engine when Prometheus scrapes: nothing to keep in step as jobs come and go."""

    def __init__(self, engine: JobEngine) -> None:
        self.engine = engine

    def collect(self) -> Iterator[Metric]:
        engine = self.engine
        depth = GaugeMetricFamily(f"{PREFIX}_queue_depth", "Jobs waiting in this process's queue for an account slot.")
        depth.add_metric([], engine.queued)
        yield depth
        running = GaugeMetricFamily(f"{PREFIX}_jobs_running", "Jobs this process is submitting or following.")
        running.add_metric([], engine.running)
        yield running
        usable = GaugeMetricFamily(
            f"{PREFIX}_provider_account_usable",
            "1 if the provider account takes jobs, 0 while it is paused (a bad key, an expired plan).",
            labels=["provider", "account"],
        )
        in_use = GaugeMetricFamily(
            f"{PREFIX}_provider_account_jobs",
            "Jobs holding a slot of the provider account.",
            labels=["provider", "account"],
        )
        for slot in engine.pool:
            labels = [slot.account.provider, slot.account.name]
            usable.add_metric(labels, 0 if slot.paused else 1)
            in_use.add_metric(labels, slot.in_use)
        yield usable
        yield in_use

    def describe(self) -> Iterable[Metric]:
        return []  # unknown until the first scrape; the registry then asks collect()


class Metrics:
    """The metrics of one bot, in their own registry."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        # Jobs finished before this moment were counted by an earlier process (start re-announces them).
        self.started_at = utcnow()
        r = self.registry
        self.jobs_created = Counter(
            f"{PREFIX}_jobs_created", "Jobs stored: /imagine and button presses.", ["provider", "action"], registry=r
        )
        self.jobs_finished = Counter(
            f"{PREFIX}_jobs_finished",
            "Jobs that ended, by final status, provider and error reason (empty when completed).",
            ["status", "provider", "reason"],
            registry=r,
        )
        self.queue_wait = Histogram(
            f"{PREFIX}_queue_wait_seconds",
            "From a job's creation to the start of the submit the provider took.",
            ["provider"],
            buckets=WAIT_BUCKETS,
            registry=r,
        )
        self.job_duration = Histogram(
            f"{PREFIX}_job_duration_seconds",
            "From a job's creation to its end.",
            ["provider", "status"],
            buckets=JOB_BUCKETS,
            registry=r,
        )
        self.provider_latency = Histogram(
            f"{PREFIX}_provider_request_seconds",
            "Round trip of one request to a provider's API (answered or not).",
            ["provider", "account", "method"],
            buckets=REQUEST_BUCKETS,
            registry=r,
        )
        self.provider_errors = Counter(
            f"{PREFIX}_provider_errors",
            "Provider requests that failed, by the error reason they were read as.",
            ["provider", "account", "reason"],
            registry=r,
        )
        self.discord_latency = Histogram(
            f"{PREFIX}_discord_request_seconds",
            "Round trip of one Discord REST request.",
            ["method", "route"],
            buckets=REQUEST_BUCKETS,
            registry=r,
        )
        self.discord_responses = Counter(
            f"{PREFIX}_discord_responses",
            "Discord REST answers by status code ('error' when no answer came).",
            ["method", "route", "status"],
            registry=r,
        )
        self.discord_rate_limited = Counter(
            f"{PREFIX}_discord_rate_limited",
            "Discord REST answers with status 429, by route and X-RateLimit-Scope (user, global, shared).",
            ["route", "scope"],
            registry=r,
        )
        self.edit_lag = Histogram(
            f"{PREFIX}_message_edit_lag_seconds",
            "From a job's change to the message edit showing it landing (spacing included).",
            ["kind"],
            buckets=LAG_BUCKETS,
            registry=r,
        )
        self.interactions_received = Counter(
            f"{PREFIX}_interactions_received", "Interactions received from the gateway.", ["type"], registry=r
        )
        self.interactions_acked = Counter(
            f"{PREFIX}_interactions_acked",
            "Interaction responses (acks) sent, by outcome: ok (2xx) or failed.",
            ["outcome"],
            registry=r,
        )
        self.ack_latency = Histogram(
            f"{PREFIX}_interaction_ack_seconds",
            "From an interaction's creation (its snowflake) to its ack being answered; Discord allows 3 s.",
            buckets=ACK_BUCKETS,
            registry=r,
        )

    # -- wiring ------------------------------------------------------------------------------------

    def watch_engine(self, engine: JobEngine) -> None:
        """Count the engine's jobs (as a listener) and read its queue and accounts at each scrape."""
        engine.add_listener(self.on_event)
        self.registry.register(_EngineCollector(engine))

    def render(self) -> bytes:
        """The text exposition format, for ``GET /metrics``."""
        return generate_latest(self.registry)

    # -- the engine's events -------------------------------------------------------------------------

    def on_event(self, event: JobEvent) -> None:
        job = event.job
        if event.kind is JobEventKind.CREATED:
            self.jobs_created.labels(job.provider, job.action.value).inc()
        elif event.kind is JobEventKind.SUBMITTED:
            if job.submit_started_at is not None:
                self.queue_wait.labels(job.provider).observe(_seconds(job.created_at, job.submit_started_at))
        elif event.kind is JobEventKind.FINISHED:
            if job.finished_at is not None and job.finished_at < self.started_at:
                return  # an earlier process's result, announced again at start to be shown
            reason = job.error.value if job.error is not None else ""
            self.jobs_finished.labels(job.status.value, job.provider, reason).inc()
            end = job.finished_at or utcnow()
            self.job_duration.labels(job.provider, job.status.value).observe(_seconds(job.created_at, end))

    # -- providers -----------------------------------------------------------------------------------

    def provider_request(self, provider: str, account: str, method: str, seconds: float, error: str | None) -> None:
        """One request to a provider's API; ``error`` is the reason it failed with, None if it did not."""
        self.provider_latency.labels(provider, account, method).observe(seconds)
        if error is not None:
            self.provider_error(provider, account, error)

    def provider_error(self, provider: str, account: str, reason: str) -> None:
        """A provider request that failed: no readable answer, or an answer that is an error."""
        self.provider_errors.labels(provider, account, reason).inc()

    # -- Discord -------------------------------------------------------------------------------------

    def discord_request(
        self, method: str, path: str, seconds: float, status: int | None, scope: str | None = None
    ) -> None:
        """One Discord REST request (``status`` None: no answer). An interaction callback is also its ack."""
        route = route_template(path)
        self.discord_latency.labels(method, route).observe(seconds)
        self.discord_responses.labels(method, route, "error" if status is None else str(status)).inc()
        if status == 429:
            self.discord_rate_limited.labels(route, scope or "unknown").inc()
        if method == "POST" and route == "/interactions/{id}/{token}/callback":
            ok = status is not None and 200 <= status < 300
            self.interactions_acked.labels("ok" if ok else "failed").inc()
            interaction_id = _interaction_id(path)
            if ok and interaction_id is not None:
                self.ack_latency.observe(max(0.0, time.time() - snowflake_time(interaction_id)))

    def interaction_received(self, kind: str) -> None:
        self.interactions_received.labels(kind).inc()

    def edit_landed(self, kind: str, since: float) -> None:
        """A message edit landed; ``since`` is the monotonic time of the oldest change it shows."""
        self.edit_lag.labels(kind).observe(max(0.0, time.monotonic() - since))

    def value(self, name: str, labels: dict[str, str] | None = None) -> float:
        """A sample's current value (0 when absent): for tests and ``/mod stats``-style readers."""
        got = self.registry.get_sample_value(name, labels or {})
        return got if got is not None else 0.0


def _seconds(start: dt.datetime, end: dt.datetime) -> float:
    return max(0.0, (end - start).total_seconds())


def _interaction_id(path: str) -> int | None:
    parts = path.split("?", 1)[0].rstrip("/").split("/")
    try:
        at = len(parts) - 1 - parts[::-1].index("interactions")
        return int(parts[at + 1])
    except (ValueError, IndexError):
        return None
