"""The core assembled: store, HTTP client, provider accounts and the engine, started and stopped as one.

The Discord layer owns a :class:`Runtime` and knows nothing of how it is built; tests and the benchmark
build one the same way.
"""

from __future__ import annotations

import logging

import httpx

from bot.core.cluster import Cluster
from bot.core.editor import Editor, EditorLinks, load_key
from bot.core.engine import EngineConfig, JobEngine
from bot.core.health import Readiness, database_check, providers_check
from bot.core.http_transport import AiohttpTransport
from bot.core.metrics import Metrics
from bot.core.models import Job
from bot.core.moderation import Moderation
from bot.core.providers import Provider, build_accounts, provider_class
from bot.core.safety import SafetyCheck, SafetyPolicy, effective_policy, make_scorer
from bot.core.scheduling import AccountPool
from bot.core.settings import Settings
from bot.core.store import PostgresStore, Store
from bot.core.webhooks import WebhookServer

__all__ = ["Runtime"]

_log = logging.getLogger(__name__)

# Provider calls that take longer than this are treated as failures and retried or polled again.
PROVIDER_TIMEOUT = httpx.Timeout(30.0, connect=10.0)


class Runtime:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.store: Store
        self.http: httpx.AsyncClient
        self.providers: list[Provider]
        self.engine: JobEngine
        self.moderation: Moderation
        self.webhooks: WebhookServer | None = None
        # This bot's own registry: several bots in one process (tests, the benchmark) never share counts.
        self.metrics = Metrics()
        # The core's checks are added at start; the Discord layer adds the gateway's.
        self.readiness = Readiness()
        # On PostgreSQL: this process's place among the processes sharing the jobs (bot.core.cluster).
        self.cluster: Cluster | None = None
        self.safety: SafetyCheck
        # Vary (Region)'s editor (bot.core.editor): its links and pages; the Discord layer attaches its frontend.
        self.editor: Editor

    async def start(self) -> None:
        settings = self.settings
        # Accounts first: a missing provider key stops the start before anything is opened.
        accounts = build_accounts(settings)
        self.store = await Store.open(settings.store_location)
        self.http = httpx.AsyncClient(timeout=PROVIDER_TIMEOUT, follow_redirects=False, transport=AiohttpTransport())
        self.providers = [provider_class(a.provider)(a, self.http) for a in accounts]
        for provider in self.providers:
            provider.metrics = self.metrics
        config = EngineConfig(
            stall_timeout_s=settings.stall_timeout_s,
            queue_timeout_s=settings.queue_timeout_s,
            max_submit_attempts=settings.max_submit_attempts,
            limbo_grace_s=settings.limbo_grace_s,
            webhook_fallback_poll_s=settings.webhook_fallback_poll_s,
            webhook_url_for=self.webhook_url_for,
            failover=tuple(p for p in settings.failover_providers if p != settings.provider),
        )
        self.engine = JobEngine(self.store, AccountPool(self.providers, limit=settings.process_max_jobs), config)
        self.metrics.watch_engine(self.engine)
        self.readiness.add("database", database_check(self.store))
        self.readiness.add("providers", providers_check(self.engine.pool))
        self.moderation = Moderation(self.store)
        if isinstance(self.store, PostgresStore):
            self.cluster = Cluster(self.store, self.engine, lease_s=settings.job_lease_s)
            await self.cluster.join()
        self.safety = SafetyCheck(make_scorer(settings.safety_scorer), self.safety_policy)
        if not self.safety.ready:
            # Loaded lazily; said here once so an operator sees it before the first image does.
            _log.warning(
                "the output-safety extra is not installed (pip install 'imagine-bot[safety]'): where /mod safety"
                " is on (the default for providers that do not moderate their output), images cannot be checked"
                " and are posted behind a spoiler"
            )
        self.engine.safety = self.safety
        editor_secret = settings.editor_secret.get_secret_value() if settings.editor_secret is not None else None
        links = EditorLinks(self.store, await load_key(self.store, editor_secret), settings.editor_link_ttl_s)
        # Offered only where members' browsers can reach the page: a public URL, and the web server running.
        public = settings.webhook_public_url if settings.http_address is not None else None
        self.editor = Editor(self.engine, links, public)

    async def start_engine(self) -> None:
        """Resume unfinished jobs and start scheduling; called once the listeners are attached."""
        settings = self.settings
        address = settings.http_address
        if address is not None:
            # The settings refuse to load without a secret when webhooks are on; off, no webhook route.
            secret = None
            if settings.webhook_enabled and settings.webhook_secret is not None:
                secret = settings.webhook_secret.get_secret_value()
            # Listening before the engine resumes jobs, so the callback URL it hands out is live.
            self.webhooks = WebhookServer(
                self.engine,
                secret=secret,
                url_for=self.webhook_url_for,
                host=address[0],
                port=address[1],
                metrics=self.metrics,
                readiness=self.readiness,
                editor=self.editor,
            )
            await self.webhooks.start()
        await self.engine.start()
        if self.cluster is not None:
            await self.cluster.start()

    async def close(self) -> None:
        if self.cluster is not None:
            await self.cluster.stop()
        if self.webhooks is not None:
            await self.webhooks.stop()
            self.webhooks = None
        engine = getattr(self, "engine", None)
        if engine is not None:
            await engine.stop()
        if self.cluster is not None:
            await self.cluster.leave()
            self.cluster = None
        for provider in getattr(self, "providers", []):
            await provider.aclose()
        if getattr(self, "http", None) is not None:
            await self.http.aclose()
        if getattr(self, "store", None) is not None:
            await self.store.close()

    async def safety_policy(self, job: Job) -> SafetyPolicy:
        """The output-safety policy for a job: its server's choice, else its provider's default."""
        config = (await self.moderation.guild(job.guild_id)).config if job.guild_id is not None else None
        adapter = self.engine.pool.provider(job.provider, job.account)
        if adapter is not None:
            moderates = adapter.capabilities.moderates_output
        else:
            try:
                moderates = provider_class(job.provider).capabilities.moderates_output
            except ValueError:
                moderates = False  # an unknown provider: the safe side
        return effective_policy(
            config.safety_mode if config else None,
            config.safety_threshold if config else None,
            moderates_output=moderates,
        )

    def webhook_url_for(self, provider: str) -> str | None:
        """Where a provider should call back, or None to poll."""
        settings = self.settings
        if not settings.webhook_enabled or settings.webhook_secret is None:
            return None
        # Without a public URL the receiver's own address serves: providers on the same host (simulators).
        public = settings.webhook_public_url or (self.webhooks.bound_url if self.webhooks is not None else None)
        if not public:
            return None
        base = public.rstrip("/")
        return f"{base}/webhooks/{provider}/{settings.webhook_secret.get_secret_value()}"
