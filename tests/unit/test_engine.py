from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import httpx

from bot.core.engine import Clearance
from bot.core.errors import ProviderError
from bot.core.models import Action, ErrorReason, Job, JobEventKind, JobStatus, ProviderUpdate
from bot.core.providers.base import Account, ActionRequest, Capabilities, ImagineRequest, Provider, Submission
from bot.core.store import Store
from tests.unit.conftest import local_provider, make_job, wait_until


class ScriptedProvider(Provider):
    """A provider whose answers a test writes in advance."""

    name = "scripted"
    capabilities = Capabilities(
        grid_actions=frozenset({Action.U1, Action.REROLL}), poll_interval=0.02, max_poll_interval=0.05
    )

    def __init__(self, *, max_jobs: int = 4, name: str = "a") -> None:
        super().__init__(
            Account(provider="scripted", name=name, base_url="x://", max_jobs=max_jobs), httpx.AsyncClient()
        )
        self.submit_errors: list[ProviderError] = []
        self.polls: list[ProviderUpdate | ProviderError] = []
        self.submitted: list[str] = []
        self.hold = False

    async def imagine(self, request: ImagineRequest) -> Submission:
        if self.submit_errors:
            raise self.submit_errors.pop(0)
        self.submitted.append(request.job_id)
        return Submission(provider_job_id=f"p-{request.job_id}")

    async def act(self, request: ActionRequest) -> Submission:
        return await self.imagine(ImagineRequest(job_id=request.job_id, prompt=request.parent_prompt))

    async def poll(self, provider_job_id: str, provider_data: Mapping[str, Any]) -> ProviderUpdate:
        if self.hold or not self.polls:
            return ProviderUpdate(status=JobStatus.RUNNING, progress=10)
        answer = self.polls.pop(0)
        if isinstance(answer, ProviderError):
            raise answer
        return answer


def done(url: str = "x://grid.png") -> ProviderUpdate:
    return ProviderUpdate(status=JobStatus.COMPLETED, progress=100, grid_url=url, image_urls=(url,) * 4)


async def finished(store: Store, job_id: str) -> Any:
    job = await store.get_job(job_id)
    return job if job is not None and job.terminal else None


async def test_local_imagine_completes_with_grid_and_buttons(make_engine: Any, store: Store) -> None:
    engine, events = make_engine()
    await engine.start()
    job = await engine.submit(make_job())
    result = await wait_until(lambda: finished(store, job.id))
    assert result.status is JobStatus.COMPLETED and result.grid_url and len(result.image_urls) == 4
    assert set(result.actions) == {
        *(Action.upscale(i) for i in range(1, 5)),
        *(Action.variation(i) for i in range(1, 5)),
        Action.REROLL,
    }
    # The store shows the end a moment before the engine's event about it is out; wait for the event.

    async def ended() -> bool:
        return events.kinds(job.id)[-1:] == ["finished"]

    await wait_until(ended)
    assert events.kinds(job.id)[0] == "created"


async def test_progress_moves_forward_with_previews(
    make_engine: Any, store: Store, tmp_path: Path, http: httpx.AsyncClient
) -> None:
    engine, events = make_engine(local_provider(tmp_path, http, step=0.3, steps=4))
    await engine.start()
    job = await engine.submit(make_job())
    await wait_until(lambda: finished(store, job.id))
    progress = [e.job.progress for e in events.events if e.job.id == job.id]
    assert progress == sorted(progress) and progress[-1] == 100
    assert any(e.job.preview_url for e in events.events if e.job.status is JobStatus.RUNNING)


async def test_queue_is_fair_across_members(make_engine: Any, store: Store) -> None:
    provider = ScriptedProvider(max_jobs=1)
    engine, _ = make_engine(provider)
    burst = [await engine.submit(make_job(user_id=1, provider="scripted")) for _ in range(4)]
    other = await engine.submit(make_job(user_id=2, provider="scripted"))
    provider.polls = [done() for _ in range(5)]
    await engine.start()
    await wait_until(lambda: finished(store, burst[-1].id))
    assert provider.submitted.index(other.id) == 1  # served right after the first of the burst


async def test_stalled_job_times_out_with_reason(make_engine: Any, store: Store) -> None:
    provider = ScriptedProvider()
    provider.hold = True
    engine, _ = make_engine(provider, stall_timeout_s=0.3)
    await engine.start()
    job = await engine.submit(make_job(provider="scripted"))
    result = await wait_until(lambda: finished(store, job.id))
    assert result.status is JobStatus.TIMED_OUT and result.error is ErrorReason.STALLED
    assert "no progress" in result.error_detail


async def test_transient_errors_are_retried_then_succeed(make_engine: Any, store: Store) -> None:
    provider = ScriptedProvider()
    provider.submit_errors = [ProviderError(ErrorReason.QUEUE_FULL, retry_after=0.05)] * 2
    provider.polls = [done()]
    engine, _ = make_engine(provider)
    await engine.start()
    job = await engine.submit(make_job(provider="scripted"))
    result = await wait_until(lambda: finished(store, job.id))
    assert result.status is JobStatus.COMPLETED and result.attempts == 3


async def test_transient_errors_give_up_with_the_reason(make_engine: Any, store: Store) -> None:
    provider = ScriptedProvider()
    provider.submit_errors = [ProviderError(ErrorReason.PROVIDER_UNAVAILABLE, retry_after=0.01)] * 5
    engine, _ = make_engine(provider, max_submit_attempts=3)
    await engine.start()
    job = await engine.submit(make_job(provider="scripted"))
    result = await wait_until(lambda: finished(store, job.id))
    assert result.status is JobStatus.FAILED and result.error is ErrorReason.PROVIDER_UNAVAILABLE


async def test_account_problem_pauses_account_and_fails_over(make_engine: Any, store: Store) -> None:
    first, second = ScriptedProvider(name="a"), ScriptedProvider(name="b")
    first.submit_errors = [ProviderError(ErrorReason.PENDING_MODERATION, "596")]
    second.polls = [done()]
    engine, events = make_engine(first, second)
    await engine.start()
    job = await engine.submit(make_job(provider="scripted"))
    result = await wait_until(lambda: finished(store, job.id))
    assert result.status is JobStatus.COMPLETED
    paused = await store.paused_accounts()
    assert list(paused) == [("scripted", "a") if ("scripted", "a") in paused else ("scripted", "b")]
    assert any(e.kind.value == "account_paused" for e in events.events)


async def test_updates_never_move_a_job_backwards(make_engine: Any, store: Store) -> None:
    provider = ScriptedProvider()
    provider.hold = True
    engine, _ = make_engine(provider)
    await engine.start()
    job = await engine.submit(make_job(provider="scripted"))
    await wait_until(lambda: engine.get(job.id))
    live = await wait_until(lambda: _tracked(engine, job.id))
    await engine.apply_update(live, ProviderUpdate(status=JobStatus.RUNNING, progress=60))
    await engine.apply_update(live, ProviderUpdate(status=JobStatus.SUBMITTED, progress=20))
    assert live.status is JobStatus.RUNNING and live.progress == 60
    await engine.apply_update(live, done())
    await engine.apply_update(live, ProviderUpdate(status=JobStatus.FAILED, error=ErrorReason.PROVIDER_FAILED))
    stored = await store.get_job(job.id)
    assert stored is not None and stored.status is JobStatus.COMPLETED


async def _tracked(engine: Any, job_id: str) -> Any:
    tracker = engine._active.get(job_id)
    return tracker.job if tracker and tracker.job.provider_job_id else None


async def test_unfinished_jobs_resume_after_restart(
    make_engine: Any, store: Store, tmp_path: Path, http: httpx.AsyncClient
) -> None:
    engine, _ = make_engine(local_provider(tmp_path, http, step=0.2, steps=3))
    await engine.start()
    job = await engine.submit(make_job())
    await wait_until(lambda: _tracked(engine, job.id))
    await engine.stop()  # as if the process died: nothing is marked, the store keeps the state
    stored = await store.get_job(job.id)
    assert stored is not None and not stored.terminal
    engine2, _ = make_engine(local_provider(tmp_path, http, step=0.2, steps=3))
    await engine2.start()
    result = await wait_until(lambda: finished(store, job.id))
    assert result.status is JobStatus.COMPLETED


class CallbackProvider(ScriptedProvider):
    """A scripted provider whose callbacks carry progress, so the engine polls it only as a slow safety net."""

    capabilities = Capabilities(
        grid_actions=frozenset({Action.U1, Action.REROLL}), webhooks=True, progress_webhooks=True, poll_interval=0.02
    )


async def test_job_taken_up_after_restart_is_polled_at_once(make_engine: Any, store: Store) -> None:
    # The job finished while no process listened, so its final callback is lost: only a poll can tell. The
    # fallback poll is as slow as the settings allow, so the job ends within the wait only if the restarted
    # engine asks at once.
    provider = CallbackProvider()
    provider.polls = [done()]
    job = make_job(provider="scripted", account="a", provider_job_id="p-1", status=JobStatus.RUNNING, progress=50)
    job.submit_started_at = job.created_at
    await store.insert_job(job)
    hook = "http://127.0.0.1:9/hook"
    engine, _ = make_engine(provider, webhook_url_for=lambda name: hook, webhook_fallback_poll_s=600)
    await engine.start()
    result = await wait_until(lambda: finished(store, job.id), what="the resumed job to be polled and finish")
    assert result.status is JobStatus.COMPLETED and provider.submitted == []


async def test_job_caught_mid_submit_is_never_sent_twice(make_engine: Any, store: Store, monkeypatch: Any) -> None:
    import bot.core.engine

    monkeypatch.setattr(bot.core.engine, "LIMBO_GRACE_S", 0.1)
    provider = ScriptedProvider()
    job = make_job(provider="scripted", account="a")
    job.submit_started_at = job.created_at  # the crash came after this was written, before the answer
    await store.insert_job(job)
    engine, _ = make_engine(provider)
    await engine.start()
    result = await wait_until(lambda: finished(store, job.id))
    assert result.error is ErrorReason.INTERRUPTED and provider.submitted == []


async def test_cancel_queued_and_running(make_engine: Any, store: Store) -> None:
    provider = ScriptedProvider(max_jobs=1)
    provider.hold = True
    engine, _ = make_engine(provider)
    await engine.start()
    running = await engine.submit(make_job(provider="scripted"))
    queued = await engine.submit(make_job(provider="scripted"))
    await wait_until(lambda: _tracked(engine, running.id))
    cancelled = await engine.cancel(queued.id, ErrorReason.CANCELLED_BY_OWNER)
    assert cancelled is not None and cancelled.status is JobStatus.CANCELLED
    await engine.cancel(running.id, ErrorReason.CANCELLED_BY_MODERATOR)
    result = await store.get_job(running.id)
    assert result is not None and result.error is ErrorReason.CANCELLED_BY_MODERATOR
    assert await engine.cancel(running.id, ErrorReason.CANCELLED_BY_OWNER) is None
    assert provider.submitted == [running.id]


async def test_child_of_completed_job_runs_on_parent_account(make_engine: Any, store: Store) -> None:
    engine, _ = make_engine()
    await engine.start()
    parent = await engine.submit(make_job())
    parent = await wait_until(lambda: finished(store, parent.id))
    child, created = await engine.submit_child(make_job(parent_id=parent.id, action=Action.U2, account=parent.account))
    again, created_again = await engine.submit_child(make_job(parent_id=parent.id, action=Action.U2))
    assert created and not created_again and again.id == child.id
    result = await wait_until(lambda: finished(store, child.id))
    assert result.status is JobStatus.COMPLETED and len(result.image_urls) == 1
    assert Action.ZOOM_OUT_2X in result.actions


class HandingGuard:
    """A cluster's guard in miniature: every submit may go; what the engine hands back and asks is recorded."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.sharing = True
        self.handed: list[str] = []
        self.idles = 0

    async def begin_submit(self, job: Job, max_jobs: int) -> Clearance:
        await self.store.record_submit_start(job)
        return Clearance.GO

    async def forward_webhook(self, job_id: str, provider: str, headers: Any, body: bytes) -> bool:
        return False

    def hand_back(self, jobs: list[Job]) -> None:
        self.handed += [job.id for job in jobs]

    def idle(self) -> None:
        self.idles += 1


async def test_with_several_processes_jobs_beyond_the_process_limit_go_back_to_the_shared_queue(
    make_engine: Any, store: Store
) -> None:
    provider = ScriptedProvider(max_jobs=4)
    engine, recorder = make_engine(provider)
    engine.pool.limit = 2  # PROCESS_MAX_JOBS: four slots on the account, two for this process
    engine.guard = guard = HandingGuard(store)
    jobs = [await engine.submit(make_job(user_id=i, provider="scripted")) for i in range(5)]
    await engine.start()
    await wait_until(lambda: len(guard.handed) == 3, what="the jobs beyond the limit handed back")
    # The first two in the fair order run here; the rest leave this process's queue, shown as waiting.
    assert guard.handed == [j.id for j in jobs[2:]] and engine.queued == 0
    assert [e.kind for e in recorder.events if e.job.id == jobs[4].id][-1] is JobEventKind.QUEUED
    assert guard.idles == 0  # no slot free here: nothing asked of the others
    provider.polls = [done(), done()]
    await wait_until(lambda: guard.idles > 0, what="a free slot to ask for work")


async def test_a_process_alone_keeps_its_queue(make_engine: Any, store: Store) -> None:
    provider = ScriptedProvider(max_jobs=4)
    engine, _ = make_engine(provider)
    engine.pool.limit = 1
    engine.guard = guard = HandingGuard(store)
    guard.sharing = False  # no other process alive: nothing to hand to, nothing through the database
    jobs = [await engine.submit(make_job(user_id=i, provider="scripted")) for i in range(3)]
    provider.polls = [done() for _ in jobs]
    await engine.start()
    await wait_until(lambda: finished(store, jobs[-1].id), what="every job run here")
    assert guard.handed == []
