"""Property-based fuzzing of everything that reads text from outside: prompts, and every provider's poll
answers, submit answers and webhook bodies (the four adapters and the local provider's task files).

The property is the same everywhere: no input makes a parser raise anything but the error it
documents (InputError for a prompt, ProviderError / ProviderProtocolError for a provider answer,
WebhookRejected for a callback), and what it returns is well formed: a failed job always carries a
reason a member can be shown. Examples are few and derandomized so the suite stays fast and repeatable;
``FUZZ_EXAMPLES=5000`` digs deeper.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
from pathlib import Path
from typing import Any

import httpx
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from bot.core.engine import EngineConfig, JobEngine
from bot.core.errors import InputError, ProviderError, WebhookRejected
from bot.core.models import ErrorReason, Job, JobStatus, ProviderUpdate
from bot.core.prompt import MAX_PROMPT_LENGTH, parse_prompt
from bot.core.providers import provider_class
from bot.core.providers._common import REF_HEADER
from bot.core.providers.base import Account, ActionRequest, ImagineRequest, Provider
from bot.core.providers.local import LocalProvider
from bot.core.scheduling import AccountPool
from bot.core.store import Store
from bot.ui.render import MAX_CONTENT, job_content

REMOTE = ("thenextleg", "useapi", "imaginepro", "apiframe")
EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "150"))
# Modest and repeatable: the same examples on every run, no example database, no per-example deadline
# (the first example of a test pays for imports).
FUZZ = settings(
    max_examples=EXAMPLES,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)

# Every key any adapter reads, so generated objects hit the real code paths rather than only "unknown".
KEYS = (
    "success", "messageId", "msg", "error", "message", "progress", "response", "imageUrl", "imageUrls",
    "buttonMessageId", "content", "buttons", "originatingMessageId", "ref", "progressImageUrl", "jobid",
    "replyRef", "status", "verb", "button", "attachments", "errorDetails", "executingJobs", "uri",
    "originalUrl", "images", "task_id", "taskId", "task_type", "original_image_url", "image_urls", "image_url",
    "percentage", "errors", "progress_image_url", "intermediate_image_urls", "url", "proxy_url",
)  # fmt: skip
WORDS = (
    "created", "started", "progress", "completed", "failed", "moderated", "cancelled", "QUEUED", "PROCESSING",
    "DONE", "FAIL", "FAILED", "pending", "staged", "processing", "finished", "error", "retry", "incomplete",
    "BANNED_PROMPT", "NO_FAST_HOURS", "JOB_QUEUED", "APPEAL_ACCEPTED", "U1", "V2", "🔄", "Vary (Strong)",
    "upscale-1x", "upscale-creative", "button", "imagine", "http://img.test/a.png", "**x** (31%)", "40%", "100",
)  # fmt: skip
# Bodies no generator stumbles on by chance: numbers past Python's int-parsing limit, nesting past the
# recursion limit, NaN and infinities, lone surrogates, byte-order marks, other encodings.
NASTY_BODIES = (
    b"1" * 5000,
    b'{"progress": ' + b"9" * 5000 + b"}",
    b"[" * 20_000,
    b'{"a":' * 10_000,
    b'{"status": NaN, "progress": Infinity, "percentage": -Infinity}',
    b'{"progress": 1e400, "status": "processing"}',
    b'{"status": "\\ud800", "messageId": "\\udfff"}',
    b"\xef\xbb\xbf{}",
    b"\xff\xfe{\x00}\x00",
    '{"status": "PROCESSING", "progress": "٣٣"}'.encode(),
    b"",
    b"null",
    b"[]",
    b'"just a string"',
)

scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=30)
    | st.sampled_from(WORDS)
)
json_values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=5) | st.dictionaries(st.sampled_from(KEYS) | st.text(max_size=8), inner, max_size=6)
    ),
    max_leaves=20,
)
objects = st.dictionaries(st.sampled_from(KEYS), json_values, max_size=10)
bodies = (
    objects.map(lambda value: json.dumps(value).encode())
    | json_values.map(lambda value: json.dumps(value).encode())
    | st.sampled_from(NASTY_BODIES)
    | st.binary(max_size=64)
)
STATUSES = (200, 200, 200, 201, 400, 401, 402, 403, 404, 408, 409, 412, 413, 422, 429, 500, 502, 503, 504, 596)
answers = st.tuples(
    st.sampled_from(STATUSES),
    bodies,
    st.none() | st.sampled_from(("0", "2.5", "-1", "soon", "1e9", "Wed, 21 Oct 2015 07:28:00 GMT")),
)


def adapter(name: str, answer: tuple[int, bytes, str | None] | None = None) -> Provider:
    def handler(request: httpx.Request) -> httpx.Response:
        status, body, retry_after = answer or (500, b"", None)
        headers = {"content-type": "application/json"} | ({"retry-after": retry_after} if retry_after else {})
        return httpx.Response(status, content=body, headers=headers)

    account = Account(provider=name, name="fuzz", base_url="http://sim.test/v2", api_key="fuzz-key-0123456789")
    return provider_class(name)(account, httpx.AsyncClient(transport=httpx.MockTransport(handler)))


def check_update(update: object) -> None:
    assert isinstance(update, ProviderUpdate)
    if update.status.terminal and update.status is not JobStatus.COMPLETED:
        assert update.error is not None, "a failed update must say why"
    assert update.progress is None or 0 <= update.progress <= 100


def run_quietly(coro: Any, runner: asyncio.Runner) -> object:
    """Run one adapter call; only the documented error is allowed out."""
    try:
        return runner.run(coro)
    except ProviderError as exc:
        assert isinstance(exc.reason, ErrorReason)
        assert "fuzz-key-0123456789" not in str(exc)
        return None


# -- provider answers --------------------------------------------------------------------------------


@FUZZ
@given(name=st.sampled_from(REMOTE), body=bodies, ref=st.none() | st.text(max_size=20))
@example(name="useapi", body=b'{"jobid": "j", "status": "completed", "attachments": 5}', ref=None)
@example(name="useapi", body=b'{"jobid": "j", "status": "progress", "attachments": true}', ref=None)
@example(name="apiframe", body=b'{"task_id": "t", "status": "processing", "intermediate_image_urls": 7}', ref="r")
def test_webhook_bodies(name: str, body: bytes, ref: str | None) -> None:
    headers = {"content-type": "application/json"} | ({REF_HEADER: ref} if ref else {})
    provider = adapter(name)
    try:
        update = provider.parse_webhook(headers, body)
    except (ProviderError, WebhookRejected):
        return
    finally:
        asyncio.run(provider.http.aclose())
    check_update(update)


@FUZZ
@given(
    name=st.sampled_from(REMOTE),
    answer=answers,
    kind=st.sampled_from(("grid", "upscale", "upscale-alt", None, 7)),
    call=st.sampled_from(("poll", "imagine", "act")),
)
@example(name="useapi", answer=(200, b'{"progress": ' + b"9" * 5000 + b"}", None), kind="grid", call="poll")
@example(name="imaginepro", answer=(200, b"[" * 20_000, None), kind="grid", call="poll")
@example(name="useapi", answer=(200, b'{"jobid": "j", "status": []}', None), kind="grid", call="poll")
@example(name="useapi", answer=(200, b'{"jobid": "j", "status": {"a": 1}}', None), kind="grid", call="imagine")
@example(name="thenextleg", answer=(200, b'{"messageId": "\\udfff", "progress": 5}', None), kind="grid", call="poll")
def test_poll_and_submit_answers(name: str, answer: tuple[int, bytes, str | None], kind: object, call: str) -> None:
    provider = adapter(name, answer)
    with asyncio.Runner() as runner:
        if call == "poll":
            result = run_quietly(provider.poll("pj-1", {"kind": kind}), runner)
            if result is not None:
                check_update(result)
        elif call == "imagine":
            run_quietly(
                provider.imagine(ImagineRequest(job_id="j", prompt="a fox", webhook_url="http://h/w/x")), runner
            )
        else:
            from bot.core.models import Action

            request = ActionRequest(
                job_id="c", action=Action.U1, parent_provider_job_id="pj-1",
                parent_provider_data={"buttonMessageId": "b", "kind": kind}, parent_prompt="a fox",
            )  # fmt: skip
            run_quietly(provider.act(request), runner)
        runner.run(provider.http.aclose())


def test_local_provider_task_files_and_ids(tmp_path: Path) -> None:
    """The local provider reads its own files back; a corrupt one (disk, hand edits) must not crash it."""
    with asyncio.Runner() as runner:
        account = Account(provider="local", name="local", base_url="local://", options={"data_dir": str(tmp_path)})
        provider = LocalProvider(
            account, httpx.AsyncClient(transport=httpx.MockTransport(lambda r: httpx.Response(404)))
        )
        known = "0123456789abcdef"
        directory = tmp_path / "local-provider" / known
        directory.mkdir(parents=True)

        @FUZZ
        @given(task=json_values | objects, raw=st.none() | st.binary(max_size=40), task_id=st.text(max_size=20))
        @example(task={"kind": "imagine"}, raw=None, task_id="")
        @example(task={"created": "yesterday", "duration": 0, "kind": "imagine"}, raw=None, task_id="")
        @example(task={"created": 0, "duration": 0, "kind": "upscale", "prompt": "p", "seed": 1, "aspect": "1:1",
                       "action": "u1", "parent": known}, raw=None, task_id=known + "\n")  # fmt: skip
        @example(task={"created": 0, "duration": 1, "kind": "imagine", "prompt": "p", "seed": 1, "aspect": "0:0"},
                 raw=None, task_id="")  # fmt: skip
        def read(task: Any, raw: bytes | None, task_id: str) -> None:
            for stale in directory.iterdir():
                stale.unlink()
            (directory / "task.json").write_bytes(raw if raw is not None else json.dumps(task).encode())
            for pid in (known, task_id):
                result = run_quietly(provider.poll(pid, {}), runner)
                if result is not None:
                    check_update(result)
            run_quietly(provider.fetch_image(f"local://{known}/{task_id or 'grid.png'}"), runner)

        read()
        runner.run(provider.http.aclose())


def test_engine_turns_any_callback_into_a_rejection_or_a_no_op(tmp_path: Path) -> None:
    """Through the engine: lookups by hostile refs and ids never raise anything but WebhookRejected."""
    with asyncio.Runner() as runner:
        store = runner.run(Store.open(tmp_path / "jobs.db"))
        engine = JobEngine(store, AccountPool([adapter(name) for name in REMOTE]), EngineConfig())
        job = Job(id="0123456789abcdef", user_id=1, channel_id=1, provider="useapi", prompt="x",
                  provider_job_id="pj", status=JobStatus.RUNNING)  # fmt: skip
        runner.run(store.insert_job(job))

        @FUZZ
        @given(name=st.sampled_from(REMOTE), body=bodies, ref=st.none() | st.text(max_size=20))
        @example(name="useapi", body=b'{"jobid": "x\' OR 1=1 --", "replyRef": "0123456789abcdef"}', ref=None)
        @example(name="thenextleg", body=b'{"status": "\\ud800", "messageId": "\\udfff"}', ref=None)
        @example(name="apiframe", body=b'{"task_id": "t", "status": "finished"}', ref="\udc80")
        def deliver(name: str, body: bytes, ref: str | None) -> None:
            headers = {REF_HEADER: ref} if ref else {}
            try:
                runner.run(engine.handle_webhook(name, headers, body))
            except WebhookRejected as exc:
                assert 400 <= exc.status < 500

        deliver()
        for name in REMOTE:
            provider = engine.pool.provider(name)
            assert provider is not None
            runner.run(provider.http.aclose())
        runner.run(store.close())


# -- prompts -----------------------------------------------------------------------------------------

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff]")
PROMPT_TOKENS = (
    "--", "—", "--ar", "16:9", "--seed", "--no", "https://img.test/a.png", "@everyone", "@here", "```", "\u202e",
    "\u200b", "\x00", "\n", " ", " ", "'; DROP TABLE jobs; --", "<@&1>", "<@123456789012345678>", "||", "*", "\\",
)  # fmt: skip
prompt_text = st.lists(
    st.characters(codec="utf-8") | st.sampled_from(PROMPT_TOKENS) | st.text(max_size=5), max_size=40
).map("".join)


@FUZZ
@given(
    raw=prompt_text | st.text(max_size=MAX_PROMPT_LENGTH + 20),
    aspect=st.none() | st.sampled_from(("1:1", "16:9", "21:9", "0:1", "5:1", "x")) | st.text(max_size=6),
    suffix=st.sampled_from(("", "--v 6", "--stylize 250 --seed 7", "--ar 9:16")) | prompt_text,
)
@example(raw="x" * MAX_PROMPT_LENGTH, aspect=None, suffix="")
@example(raw="https://a.test/x.png --ar 1:1", aspect=None, suffix="")
@example(raw="a --seed 99999999999999999999999999999", aspect=None, suffix="")
@example(raw="a --chaos nan", aspect=None, suffix="")
@example(raw="a --q 1e309", aspect=None, suffix="")
def test_parse_prompt(raw: str, aspect: str | None, suffix: str) -> None:
    try:
        parsed = parse_prompt(raw, aspect=aspect, suffix=suffix)
    except InputError as exc:
        assert exc.reason is ErrorReason.INVALID_PROMPT and str(exc)
        return
    final = parsed.final()
    assert len(parsed.text) <= MAX_PROMPT_LENGTH
    assert not _CONTROL.search(final), "control or invisible characters reach the provider"
    assert all(re.match(r"^https?://\S+$", url, re.IGNORECASE) for url in parsed.image_urls)
    assert all(re.fullmatch(r"[a-z][a-z0-9]*", name) for name in parsed.params)
    assert parsed.text or parsed.image_urls


@FUZZ
@given(
    prompt=prompt_text | st.text(max_size=MAX_PROMPT_LENGTH),
    status=st.sampled_from(list(JobStatus)),
    error=st.none() | st.sampled_from(list(ErrorReason)),
    progress=st.integers(min_value=0, max_value=100),
)
@example(prompt="*" * MAX_PROMPT_LENGTH, status=JobStatus.FAILED, error=ErrorReason.PROVIDER_FAILED, progress=0)
@example(prompt="@everyone " * 150, status=JobStatus.RUNNING, error=None, progress=40)
@example(prompt="\\" * MAX_PROMPT_LENGTH, status=JobStatus.COMPLETED, error=None, progress=100)
@example(prompt="_`" * 750, status=JobStatus.TIMED_OUT, error=ErrorReason.STALLED, progress=10)
def test_any_prompt_renders_within_limits_with_its_status(
    prompt: str, status: JobStatus, error: ErrorReason | None, progress: int
) -> None:
    failed = status.terminal and status is not JobStatus.COMPLETED
    job = Job(id="0123456789abcdef", user_id=42, channel_id=1, provider="local", prompt=prompt, status=status,
              error=error if failed else None, progress=progress)  # fmt: skip
    content = job_content(job, queue_position=3)
    assert len(content) <= MAX_CONTENT
    # Whatever the prompt, the member sees where the job stands: its id and, for a failure, the reason.
    assert content.rstrip().endswith("Job `0123456789abcdef`"), content[-200:]
    if job.error is not None:
        assert job.error.message in content
    first_line = content.split("\n", 1)[0]
    assert first_line.startswith("**") and first_line.endswith("- <@42>"), first_line[-80:]
    prompt_part = first_line[2 : -len("** - <@42>")]
    assert "@everyone" not in prompt_part and "@here" not in prompt_part
    assert not re.search(r"<@[!&]?\d", prompt_part), "a mention survived the escaping"
    # Escaped mentions carry a zero-width space after the @; nothing else invisible may remain raw.
    assert not _CONTROL.search(prompt_part.replace("@\u200b", "@").replace("#\u200b", "#")), "a raw invisible character"
    assert not re.search(r"(?<!\\)(?:\\\\)*\\$", prompt_part), "the prompt ends in a dangling escape"
