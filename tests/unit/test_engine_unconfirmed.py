"""A submit whose answer does not prove the provider refused it is never sent again.

The provider here is scripted: each test says what its submit answers and what a look-up by our ref
finds; the simulators' versions of the same rows are in tests/providers/test_submit_outcomes.py.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest

from bot.core.errors import ProviderError
from bot.core.models import AnswerClass, ErrorReason, JobStatus, ProviderUpdate, SubmitOutcome
from bot.core.providers.base import Submission
from bot.core.store import Store
from tests.unit.conftest import make_job, wait_until
from tests.unit.test_engine import ScriptedProvider, done, finished

A, OUT = AnswerClass, SubmitOutcome


class JudgedProvider(ScriptedProvider):
    """A scripted provider with a table of outcomes and, optionally, a look-up by ref."""

    submit_outcomes = {c: OUT.UNKNOWN for c in A} | {A.NOT_SENT: OUT.NOT_TAKEN, A.QUEUED_WITH_ID: OUT.TAKEN}

    def __init__(self, *, finds: bool = False) -> None:
        super().__init__()
        self.finds_by_ref = finds  # type: ignore[misc]
        self.lookups: list[str] = []
        self.found: dict[str, Submission] = {}
        self.still_running: set[str] = set()

    async def find_by_ref(self, ref: str, kind: str) -> Submission | None:
        self.lookups.append(ref)
        return self.found.get(ref)

    async def poll(self, provider_job_id: str, provider_data: Mapping[str, Any]) -> ProviderUpdate:
        if provider_job_id in self.still_running:
            return ProviderUpdate(status=JobStatus.RUNNING, progress=10)
        return done()


def unclear(answer: AnswerClass) -> ProviderError:
    return ProviderError(ErrorReason.PROVIDER_UNAVAILABLE, "gateway said 502", answer=answer)


@pytest.mark.parametrize("answer", [A.GATEWAY_ERROR, A.UNREADABLE, A.NO_ANSWER, A.SERVER_ERROR])
async def test_an_unclear_answer_is_never_resent_and_ends_honestly(
    make_engine: Any, store: Store, answer: AnswerClass
) -> None:
    provider = JudgedProvider()
    provider.submit_errors = [unclear(answer)]
    engine, _ = make_engine(provider, max_submit_attempts=5)
    await engine.start()
    job = await engine.submit(make_job(provider="scripted"))
    result = await wait_until(lambda: finished(store, job.id))
    assert result.error is ErrorReason.UNCONFIRMED and result.status is JobStatus.FAILED
    assert provider.submitted == [] and provider.submit_errors == []  # one attempt, never a second
    assert engine.pool.has_free()  # its account slot was given back


async def test_a_certain_refusal_is_still_retried(make_engine: Any, store: Store) -> None:
    provider = JudgedProvider()
    provider.submit_errors = [unclear(A.NOT_SENT)]
    engine, _ = make_engine(provider, max_submit_attempts=3)
    await engine.start()
    job = await engine.submit(make_job(provider="scripted"))
    result = await wait_until(lambda: finished(store, job.id), within=10)
    assert result.status is JobStatus.COMPLETED and result.attempts == 2


async def test_an_unclear_answer_is_claimed_by_a_lookup_of_our_ref(make_engine: Any, store: Store) -> None:
    provider = JudgedProvider(finds=True)
    provider.submit_errors = [unclear(A.NO_ANSWER)]
    engine, _ = make_engine(provider)
    await engine.start()
    job = make_job(provider="scripted")
    provider.found[job.id] = Submission(provider_job_id="p-found", provider_data={"kind": "grid"})
    await engine.submit(job)
    result = await wait_until(lambda: finished(store, job.id))
    assert result.status is JobStatus.COMPLETED and result.provider_job_id == "p-found"
    assert provider.lookups == [job.id] and provider.submitted == []


async def test_an_error_that_names_the_taken_job_is_followed(make_engine: Any, store: Store) -> None:
    provider = JudgedProvider()
    error = ProviderError(ErrorReason.JOB_QUEUED, "504 Job queued", answer=A.QUEUED_WITH_ID, provider_job_id="p-q")
    provider.submit_errors = [error]
    engine, _ = make_engine(provider)
    await engine.start()
    job = await engine.submit(make_job(provider="scripted"))
    result = await wait_until(lambda: finished(store, job.id))
    assert result.status is JobStatus.COMPLETED and result.provider_job_id == "p-q"
    assert result.attempts == 1 and provider.submitted == []


async def test_a_job_caught_mid_submit_is_found_after_a_restart(make_engine: Any, store: Store) -> None:
    provider = JudgedProvider(finds=True)
    job = make_job(provider="scripted", account="a")
    job.submit_started_at = job.created_at  # the crash came after this was written, before the answer
    await store.insert_job(job)
    provider.found[job.id] = Submission(provider_job_id="p-before-crash")
    engine, _ = make_engine(provider)
    await engine.start()
    result = await wait_until(lambda: finished(store, job.id))
    assert result.status is JobStatus.COMPLETED and result.provider_job_id == "p-before-crash"
    assert provider.submitted == []


async def test_a_retry_of_an_unconfirmed_press_acts_on_the_original_parent(make_engine: Any, store: Store) -> None:
    provider = JudgedProvider()
    engine, _ = make_engine(provider)
    await engine.start()
    grid = await engine.submit(make_job(provider="scripted"))
    grid = await wait_until(lambda: finished(store, grid.id))
    provider.submit_errors = [unclear(A.GATEWAY_ERROR)]
    press, _ = await engine.submit_child(make_job(provider="scripted", parent_id=grid.id, action="u1", account="a"))
    press = await wait_until(lambda: finished(store, press.id))
    assert press.error is ErrorReason.UNCONFIRMED
    # 🔄 on it: the same press again, as a child of the failed one, sent against the grid's provider job.
    retry, created = await engine.submit_child(
        make_job(provider="scripted", parent_id=press.id, action="u1", account="a")
    )
    assert created
    retry = await wait_until(lambda: finished(store, retry.id))
    assert retry.status is JobStatus.COMPLETED
    _, again = await engine.submit_child(make_job(provider="scripted", parent_id=press.id, action="u1"))
    assert not again  # one retry per failed job


async def test_a_job_claimed_after_a_restart_gives_back_only_the_slot_it_took(make_engine: Any, store: Store) -> None:
    """A crash-limbo job holds no slot until it is claimed, and gives back only that one when it ends: it
    must not free the slot of another job still running on the account."""
    provider = JudgedProvider(finds=True)
    running = make_job(provider="scripted", account="a", provider_job_id="p-running", status=JobStatus.RUNNING)
    running.submit_started_at = running.created_at
    limbo = make_job(provider="scripted", account="a")
    limbo.submit_started_at = limbo.created_at
    for job in (running, limbo):
        await store.insert_job(job)
    provider.found[limbo.id] = Submission(provider_job_id="p-claimed")
    provider.still_running.add("p-running")
    engine, _ = make_engine(provider)
    await engine.start()
    await wait_until(lambda: finished(store, limbo.id))
    assert engine.pool._slots[("scripted", "a")].in_use == 1  # the running job's, and only it
