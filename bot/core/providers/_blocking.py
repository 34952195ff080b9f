"""Backends whose submit is one long HTTP request that answers with the images (A1111, OpenAI Images).

The engine sends a submit under a work gate and expects an answer in seconds; A1111 holds its request
until the images are drawn (minutes on a slow GPU) and OpenAI's answer takes tens of seconds. So the
request runs in a task of the adapter's own: :meth:`BlockingAdapter.send` starts it, waits up to
:data:`SETTLE_S` for a quick refusal (bad credentials, an invalid body, moderation) so that the submit
table applies to it, and otherwise answers "taken" with our task id; :meth:`poll` then reads the task.

What this means for "never submitted twice": the request is sent exactly once, by that task. If the bot
restarts while it runs, the answer (the only copy of the images: neither backend keeps them for us) is
gone with the process. The job is then ended as INTERRUPTED (the image may have been made; it was not
sent twice; 🔄 sends it again), never resent on a guess. A1111's ``force_task_id`` names the request so
its own progress route can tell it apart, not so that its result can be fetched later: no A1111 route
returns a finished request's images.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import time
from collections.abc import Mapping
from typing import Any

from bot.core.errors import ProviderError
from bot.core.models import ErrorReason, JobStatus, ProviderUpdate
from bot.core.providers._owned import OwnedAdapter, Plan
from bot.core.providers.base import Submission

__all__ = ["SETTLE_S", "BlockingAdapter", "RequestState"]

# How long a submit waits for a quick refusal before answering "taken": a 401, 404 or 422 from these
# backends comes back in milliseconds, before any GPU work is queued.
SETTLE_S = 0.5
# Finished tasks whose result no poll has collected yet are kept at most this long.
UNCOLLECTED_TTL_S = 3600.0


@dataclasses.dataclass
class RequestState:
    plan: Plan
    started: float = dataclasses.field(default_factory=time.monotonic)
    progress: int = 0
    preview: str | None = None
    previews: int = 0
    task: asyncio.Task[list[bytes]] = dataclasses.field(init=False)


class BlockingAdapter(OwnedAdapter):
    """An owned backend whose submit request returns the finished images."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._tasks: dict[str, RequestState] = {}

    def task_id(self, plan: Plan) -> str:
        return "t-" + plan.ref

    async def run(self, plan: Plan, state: RequestState) -> list[bytes]:
        """Send the one request and return the images it answered with (raising a mapped ProviderError)."""
        raise NotImplementedError

    async def running_progress(self, task_id: str, state: RequestState) -> None:
        """Update ``state`` with the backend's progress while the request runs (A1111's /progress)."""

    async def send(self, plan: Plan) -> Submission:
        task_id = self.task_id(plan)
        state = RequestState(plan)
        state.task = asyncio.create_task(self._guarded(plan, state), name=f"{self.name}-{task_id}")
        self._tasks[task_id] = state
        self._forget_old()
        done, _ = await asyncio.wait({state.task}, timeout=SETTLE_S)
        if done and state.task.exception() is not None:
            del self._tasks[task_id]
            error = state.task.exception()
            assert isinstance(error, ProviderError)
            raise error
        update = await self._collect(task_id, state) if done else None
        return Submission(provider_job_id=task_id, provider_data=plan.provider_data(), update=update)

    async def _guarded(self, plan: Plan, state: RequestState) -> list[bytes]:
        try:
            return await self.run(plan, state)
        except ProviderError:
            raise
        except Exception as exc:  # a bug or an odd answer: the job fails, the task does not vanish silently
            raise ProviderError(ErrorReason.MALFORMED_RESPONSE, f"{self.name}: {type(exc).__name__}") from exc

    async def poll(self, provider_job_id: str, provider_data: Mapping[str, Any]) -> ProviderUpdate:
        stored = self.poll_stored(provider_job_id, provider_data)
        if stored is not None:
            return stored
        state = self._tasks.get(provider_job_id)
        if state is None:
            # The request belonged to a bot process that is gone, and its answer with it (module docstring).
            return ProviderUpdate(
                provider_job_id=provider_job_id, status=JobStatus.FAILED, error=ErrorReason.INTERRUPTED,
                error_detail=f"{self.name}: the bot restarted while the request was open; its images are lost",
            )  # fmt: skip
        if state.task.done():
            return await self._collect(provider_job_id, state)
        with contextlib.suppress(ProviderError):
            await self.running_progress(provider_job_id, state)
        return ProviderUpdate(
            provider_job_id=provider_job_id,
            status=JobStatus.RUNNING if state.progress > 0 or state.preview else JobStatus.SUBMITTED,
            progress=state.progress,
            preview_url=state.preview,
        )

    async def _collect(self, task_id: str, state: RequestState) -> ProviderUpdate:
        error = state.task.exception()
        if error is not None:
            self._tasks.pop(task_id, None)
            assert isinstance(error, ProviderError)
            return ProviderUpdate(
                provider_job_id=task_id, status=error.reason.status, error=error.reason,
                error_detail=self.scrub(error.detail or error.reason.value),
            )  # fmt: skip
        update = await self.store_result(task_id, state.plan.kind, state.task.result())
        self._tasks.pop(task_id, None)
        return update

    def _forget_old(self) -> None:
        now = time.monotonic()
        for task_id, state in list(self._tasks.items()):
            if state.task.done() and now - state.started > UNCOLLECTED_TTL_S:
                del self._tasks[task_id]

    def drop(self, task_id: str) -> None:
        """Stop waiting for a request (closing its connection) and forget it."""
        state = self._tasks.pop(task_id, None)
        if state is not None:
            state.task.cancel()

    def oldest_running(self) -> str | None:
        """The request the backend is working on when it serves one at a time: the oldest still open."""
        running = [(s.started, t) for t, s in self._tasks.items() if not s.task.done()]
        return min(running)[1] if running else None

    async def aclose(self) -> None:
        for state in self._tasks.values():
            state.task.cancel()
        await asyncio.gather(*(s.task for s in self._tasks.values()), return_exceptions=True)
        self._tasks.clear()
        await super().aclose()
