"""Every row of every adapter's submit table, against the provider's simulator over real HTTP.

For each provider and each class of answer to a submit, the simulator is made to give that answer. The
test checks the class the adapter reads, the outcome its table gives, and what the engine does with it:
a job the provider certainly did not take may be sent again; one it took is followed; one it may have
taken is never sent again, and ends found (by callback or by our ref) or with the honest message. The
simulators' own logs count the jobs created per ref: never more than one.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from bot.core.errors import ProviderError
from bot.core.models import AnswerClass, ErrorReason, JobStatus, SubmitOutcome
from bot.core.providers import provider_class
from bot.core.providers.base import Account, ImagineRequest, Provider
from providersim import SimServer
from providersim._core import ErrorSpec
from tests.helpers import free_port

from .conftest import API_KEY, FAST_POLL, PROVIDERS, Harness, make_job

A, OUT = AnswerClass, SubmitOutcome


@dataclasses.dataclass(frozen=True)
class Shape:
    """How to make a simulator give one class of answer: a forced answer, a fault, or a dead address."""

    spec: ErrorSpec | None = None
    faults: dict[str, Any] = dataclasses.field(default_factory=dict)
    dead_address: bool = False
    client_timeout: float | None = None


def forced(status: int, body: Any) -> Shape:
    return Shape(spec=ErrorSpec(status, body))


# Answers every provider can give the same way.
COMMON: dict[AnswerClass, Shape] = {
    A.ACCEPTED: Shape(),
    # Retry-After keeps the retry within the test; without one useapi's advice is a 10 s wait.
    A.RATE_LIMITED: Shape(spec=ErrorSpec(429, {"error": "Too many requests"}, headers={"Retry-After": "0"})),
    A.AUTH: forced(401, {"error": "Unauthorized"}),
    A.SERVER_ERROR: forced(500, {"error": "Internal server error"}),
    A.GATEWAY_ERROR: forced(502, "<html>502 Bad Gateway</html>"),
    A.UNREADABLE: Shape(faults={"malformed_rate": 1.0}),
    A.NOT_SENT: Shape(dead_address=True),
    # The simulator sits on the request longer than our client waits for the answer.
    A.NO_ANSWER: Shape(faults={"latency": 2.0}, client_timeout=0.3),
}
# What each provider's own refusals look like (providers.md), and, for a class the provider never gives,
# the shape that means it at another provider: the adapter must not read it as that class.
PER_PROVIDER: dict[str, dict[AnswerClass, tuple[Shape, AnswerClass]]] = {
    "thenextleg": {
        A.REFUSED: (forced(200, {"success": False, "msg": "Invalid phrase: 'gore'"}), A.REFUSED),
        A.INVALID: (forced(400, {"success": False, "msg": "msg is required"}), A.INVALID),
        A.ACCOUNT_HELD: (forced(596, {"error": "Pending mod message"}), A.SERVER_ERROR),
        A.QUEUED_WITH_ID: (forced(504, {"error": "Job queued", "jobid": "x1", "status": "failed"}), A.SERVER_ERROR),
    },
    "useapi": {
        A.REFUSED: (forced(200, {"error": "refused", "code": 200}), A.UNREADABLE),
        A.INVALID: (
            forced(
                422, {"error": "Invalid parameter", "errorDetails": "Unrecognized parameter(s): `size`", "code": 422}
            ),
            A.INVALID,
        ),
        A.ACCOUNT_HELD: (forced(596, {"error": "Pending mod message or CAPTCHA", "code": 596}), A.ACCOUNT_HELD),
        A.QUEUED_WITH_ID: (Shape(), A.QUEUED_WITH_ID),  # the simulator's documented job_queued_504, below
    },
    "imaginepro": {
        A.REFUSED: (forced(200, {"success": False, "error": "Invalid prompt"}), A.REFUSED),
        A.INVALID: (forced(400, {"success": False, "error": "Invalid parameter: --foo"}), A.INVALID),
        A.ACCOUNT_HELD: (forced(596, {"success": False, "error": "Account on hold"}), A.SERVER_ERROR),
        A.QUEUED_WITH_ID: (forced(504, {"error": "Job queued", "jobid": "x1", "status": "failed"}), A.SERVER_ERROR),
    },
    "apiframe": {
        A.REFUSED: (forced(200, {"errors": [{"msg": "Invalid request"}]}), A.REFUSED),
        A.INVALID: (forced(400, {"errors": [{"msg": "Invalid request"}]}), A.INVALID),
        A.ACCOUNT_HELD: (forced(596, {"errors": [{"msg": "Account on hold"}]}), A.SERVER_ERROR),
        A.QUEUED_WITH_ID: (forced(504, {"task_id": "x1", "status": "failed"}), A.SERVER_ERROR),
    },
}
ROWS = [(p, c) for p in PROVIDERS for c in A]


def shape_for(name: str, answer: AnswerClass) -> tuple[Shape, AnswerClass]:
    if answer in PER_PROVIDER[name]:
        return PER_PROVIDER[name][answer]
    return COMMON[answer], answer


async def arrange(harness: Harness, name: str, shape: Shape) -> tuple[SimServer, Provider, httpx.AsyncClient | None]:
    sim = await harness.sim(name)
    if shape.spec is not None:
        sim.errors = {**sim.errors, "shape": shape.spec}
        sim.fail_next.append("shape")
    elif name == "useapi" and shape is PER_PROVIDER["useapi"][A.QUEUED_WITH_ID][0]:
        sim.fail_next.append("job_queued_504")
    sim.faults.update(shape.faults)
    client = httpx.AsyncClient(timeout=shape.client_timeout) if shape.client_timeout else None
    base = f"http://127.0.0.1:{free_port()}{sim.api_prefix}" if shape.dead_address else sim.api_base_url
    account = Account(provider=name, name="a", base_url=base, api_key=API_KEY, max_jobs=3, options=FAST_POLL)
    return sim, provider_class(name)(account, client or harness.http), client


def submits(sim: SimServer) -> list[dict[str, Any]]:
    return [r for r in sim.requests if r["method"] == "POST" and r["path"].endswith("/imagine")]


@pytest.mark.parametrize(("name", "answer"), ROWS, ids=[f"{p}-{c.value}" for p, c in ROWS])
async def test_each_row_of_the_table(harness: Harness, name: str, answer: AnswerClass) -> None:
    """The adapter reads the class, the table gives the outcome, and the outcome is the documented one."""
    shape, expected_class = shape_for(name, answer)
    _sim, adapter, client = await arrange(harness, name, shape)
    try:
        request = ImagineRequest(job_id="0123456789abcdef", prompt="a lighthouse at dusk")
        try:
            await adapter.imagine(request)
        except ProviderError as exc:
            assert exc.answer is expected_class, (exc.answer, exc)
            outcome = adapter.judge(exc)
        else:
            assert expected_class is A.ACCEPTED
            outcome = OUT.TAKEN
        table = type(adapter).submit_outcomes
        assert set(table) == set(A), "every class has a row"
        assert outcome is table[expected_class]
    finally:
        if client is not None:
            await client.aclose()


# What the engine must show for each outcome.
ENDS: dict[SubmitOutcome, Callable[[ErrorReason | None], bool]] = {
    OUT.TAKEN: lambda reason: reason is None,
    OUT.UNKNOWN: lambda reason: reason is ErrorReason.UNCONFIRMED,
    OUT.NOT_TAKEN: lambda reason: reason is not ErrorReason.UNCONFIRMED,
}


@pytest.mark.parametrize(("name", "answer"), ROWS, ids=[f"{p}-{c.value}" for p, c in ROWS])
async def test_the_engine_never_sends_a_maybe_taken_job_twice(harness: Harness, name: str, answer: AnswerClass) -> None:
    shape, expected_class = shape_for(name, answer)
    sim, adapter, client = await arrange(harness, name, shape)
    try:
        outcome = type(adapter).submit_outcomes[expected_class]
        engine = await harness.engine(adapter, max_submit_attempts=2)
        job = await engine.submit(make_job(name))
        ended = await harness.finished(engine, job.id, within=10.0)
        sent = len(submits(sim))
        if outcome is not OUT.NOT_TAKEN:
            assert sent == 1, f"{sent} submits after a {expected_class.value} answer"
        assert all(count == 1 for count in sim.submits.values()), sim.submits
        if outcome is OUT.UNKNOWN and name == "useapi" and sim.submits.get(job.id):
            # useapi lists its executing jobs: the one it took is found by our ref and followed.
            assert ended.status is JobStatus.COMPLETED, (ended.error, ended.error_detail)
        else:
            assert ENDS[outcome](ended.error), (ended.status, ended.error, ended.error_detail)
        if ended.error is ErrorReason.UNCONFIRMED:
            assert "not sent twice" in ended.error.message and "🔄" in ended.error.message
    finally:
        if client is not None:
            await client.aclose()
