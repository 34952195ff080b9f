"""Load benchmark: N /imagine interactions at concurrency C through the real bot process, each result's
first button pressed, and what it cost, as JSON.

    python -m bench.load [--jobs N] [--concurrency C] [--provider local|thenextleg|useapi|imaginepro|apiframe]
                         [--mode webhook|poll] [--out FILE] [--slots S] [--timeout S] [--profile FILE]
                         [--validate] [--keep]

What runs, all on loopback and all stopped when the benchmark ends, however it ends:

* the local Discord (``localdiscord``), in this process, with Discord's rate limits. It checks request
  bodies against Discord's OpenAPI spec only with ``--validate``: jsonschema spends about as much CPU per
  message edit as the bot does per job, on the same two cores, so it would skew every latency measured
  (the e2e suite validates the same bodies);
* for a paid provider, its simulator as a subprocess (``python -m providersim NAME --step-seconds 0
  --stock-images``): instant mode, so every job is finished by the time the provider answers its submit,
  and one stock image per kind and aspect, so the simulator's drawing does not compete with the bot for
  the CPU (a real provider serves results from a CDN). TheNextLeg's one-request-per-3-s limit is switched
  off on both sides, or the run would take hours. The bot gets ``--slots`` provider job slots: by default
  one account at the settings' maximum of 50 concurrent jobs, so a burst of C members also exercises the
  bot's own fair queue; more than 50 become a pool of accounts of 50. The local provider runs in the bot
  with LOCAL_STEP_SECONDS=0 and at most 64 jobs at once;
* the bot, ``python -m bot run``, configured through its environment as an operator would, with the
  default EDIT_INTERVAL_S (2 s). ``--mode webhook`` turns its webhook receiver on (the simulator calls it
  back); ``--mode poll`` leaves it off, and the bot polls every POLL_INTERVAL_S. The local provider has no
  webhooks: it finishes in-process and the mode makes no difference.

Then C workers run the N sequences, each as one of many members (``min(N, 1000)`` of them): send /imagine,
wait for the deferred reply to show the finished grid, press its U1 button, wait for that message to show
the upscale. A run is bounded: ``--timeout`` for the whole load, STEP_TIMEOUT_S for any one wait.

"Bot job" below means a job the bot created during the run: each /imagine and each accepted button press
is one (2 x jobs when everything goes through). The JSON has exactly these fields:

``jobs``                  N, the /imagine interactions sent.
``completed``             sequences where the grid and then the upscale were both shown finished (image
                          attached, buttons, no progress bar) on their messages.
``failed``                ``jobs - completed``: refused, failed, timed out or not started before ``--timeout``.
``wall_s``                from the first /imagine sent to the last sequence ending.
``jobs_per_s``            ``completed / wall_s``.
``ack_ms_p50/p99``        per interaction (every /imagine and every press): from the local Discord sending
                          INTERACTION_CREATE on the gateway to it receiving the bot's interaction callback.
``done_to_edit_ms_p50/p99``  per completed bot job: from the provider finishing it (the simulator's own
                          completion time; for the local provider, which runs inside the bot, the job's
                          ``finished_at``) to the local Discord receiving the edit that shows the result.
``discord_calls_per_job`` REST requests the bot made to the local Discord during the load (callbacks,
                          edits, follow-ups, deletes, reads, whatever the status) / bot jobs.
``provider_calls_per_job``  API requests the simulator logged during the load (submits and polls; result
                          image downloads are not API calls) / bot jobs; 0 for the local provider.
``discord_429``           429 answers the local Discord gave the bot, start-up included.
``bot_cpu_ms_per_job``    user + system CPU time of the bot process (all its threads) during the load,
                          from /proc/<pid>/stat, / bot jobs.
``bot_peak_rss_mb``       the bot process's VmHWM from /proc/<pid>/status at the end, in MiB.

Percentiles are nearest-rank. The edit spacing (the smallest gap between two edits of one message seen in
the request log), progress edits, failures and, with ``--profile``, a py-spy breakdown of the bot's CPU by
package go to stderr, so the JSON stays exactly the fields above.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import datetime as dt
import itertools
import json
import math
import os
import re
import resource
import shutil
import signal
import sqlite3
import sys
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx

from bot.devtools import processes
from localdiscord import LocalDiscord, bot_connected

__all__ = ["FIELDS", "BenchOptions", "main", "run"]

FIELDS = (
    "jobs",
    "completed",
    "failed",
    "wall_s",
    "jobs_per_s",
    "ack_ms_p50",
    "ack_ms_p99",
    "done_to_edit_ms_p50",
    "done_to_edit_ms_p99",
    "discord_calls_per_job",
    "provider_calls_per_job",
    "discord_429",
    "bot_cpu_ms_per_job",
    "bot_peak_rss_mb",
)
PROVIDERS = ("local", "thenextleg", "useapi", "imaginepro", "apiframe")
# Bounds that keep a mistyped flag from turning the benchmark into a soak test.
MAX_JOBS = 20_000
MAX_CONCURRENCY = 1_000
# Enough distinct members that the fair queue and the per-member paths see a crowd, not a few heavy users.
MAX_MEMBERS = 1_000
CHANNEL = "imagine"
PRESSED = "u1"
# Any one wait (a reply, a result) longer than this counts the sequence as failed.
STEP_TIMEOUT_S = 120.0
DEFAULT_TIMEOUT_S = 900.0
# A cold bot imports discord.py, opens SQLite, syncs commands and connects the gateway.
START_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 10.0
# The settings' cap of concurrent jobs per account, and the benchmark's default number of slots.
ACCOUNT_MAX_JOBS = 50
LOCAL_MAX_JOBS = 64
# Poll mode's pace: quick enough that a run ends in minutes, slow enough to be a plausible setting.
POLL_INTERVAL_S = 1.0
MAX_POLL_INTERVAL_S = 2.0
API_KEY = "bench-provider-key-0123456789"
WEBHOOK_SECRET = "bench-webhook-secret-0123456789abcdef"
# How often the request log is copied out; the local Discord keeps only the newest 20 000 entries.
COLLECT_EVERY_S = 0.5
_EDIT_PATH = re.compile(r"/messages/(\d+)$")
_MESSAGE_FLAG_LOADING = 128


@dataclasses.dataclass
class BenchOptions:
    jobs: int = 1000
    concurrency: int = 200
    slots: int = ACCOUNT_MAX_JOBS
    provider: str = "apiframe"
    mode: str = "webhook"
    timeout: float = DEFAULT_TIMEOUT_S
    profile: Path | None = None
    keep: bool = False
    validate: bool = False
    # --database postgres runs the bot on a throwaway PostgreSQL server, as --processes processes (Fleet).
    database: str = "sqlite"
    processes: int = 1


@dataclasses.dataclass
class Sequence:
    """One member's /imagine and button press, as the benchmark saw them."""

    index: int
    interactions: list[str] = dataclasses.field(default_factory=list)
    messages: list[str] = dataclasses.field(default_factory=list)
    completed: bool = False
    failure: str | None = None
    ended: float | None = None


# -- child processes -------------------------------------------------------------------------------


# Started, waited for and stopped by ``bot.devtools.processes``: output to a log file in the working
# directory, SIGTERM then SIGKILL at the end, and SIGKILL from the kernel should this process die first.


def _base_env() -> dict[str, str]:
    """This environment without anything the bot would read as a setting: the benchmark sets its own."""
    from bot.core.settings import Settings

    ours = {name.upper() for name in Settings.model_fields}
    env = {k: v for k, v in os.environ.items() if k.upper() not in ours}
    env["PYTHONUNBUFFERED"] = "1"
    return env


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process and all its threads, from /proc/<pid>/stat."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    # After the command name: state is field 3, so utime (14) and stime (15) sit at 11 and 12.
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _own_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


class Simulator:
    """A provider simulator subprocess in instant mode."""

    def __init__(self, name: str, workdir: Path) -> None:
        self.name = name
        self.workdir = workdir
        self.child: processes.Child | None = None
        self.base_url = ""
        self.url = ""

    @property
    def pid(self) -> int:
        assert self.child is not None
        return self.child.pid

    async def start(self) -> None:
        out = self.workdir / f"providersim-{self.name}.log"
        args = [sys.executable, "-m", "providersim", self.name, "--port", "0", "--step-seconds", "0"]
        args += ["--api-key", API_KEY, "--stock-images"]
        if self.name == "thenextleg":
            args += ["--rate-limit-seconds", "0"]
        self.child = await processes.start(
            args, cwd=self.workdir, env=_base_env(), log=out, name=f"the {self.name} simulator"
        )

        def announced() -> dict[str, Any] | None:
            """The JSON line a simulator prints first, once it listens (read only once it is whole)."""
            first, newline, _ = out.read_text(errors="replace").partition("\n")
            return json.loads(first) if newline and first.startswith("{") else None

        info = await self.child.wait_ready(announced, within=START_TIMEOUT_S, what="its address")
        self.url, self.base_url = info["url"], info["base_url"]

    async def stop(self) -> None:
        if self.child is not None:
            await self.child.stop(grace=STOP_TIMEOUT_S)

    async def get(self, path: str) -> Any:
        async with httpx.AsyncClient(timeout=30.0) as client:
            response = await client.get(f"{self.url}{path}")
            response.raise_for_status()
            return response.json()


class Bot:
    """``python -m bot run`` against the local Discord, with its CPU and memory readable from /proc."""

    def __init__(self, ld: LocalDiscord, workdir: Path, env: dict[str, str]) -> None:
        self.ld = ld
        self.workdir = workdir
        self.env = env
        self.child: processes.Child | None = None

    @property
    def log_path(self) -> Path:
        return self.workdir / "bot.log"

    @property
    def pid(self) -> int:
        assert self.child is not None
        return self.child.pid

    async def start(self) -> None:
        args = [sys.executable, "-m", "bot", "run"]
        self.child = await processes.start(
            args, cwd=self.workdir, env=_base_env() | self.env, log=self.log_path, name="the bot"
        )
        # READY sent on a connected session: commands were synced and the engine started before it.
        await self.child.wait_ready(lambda: bot_connected(self.ld), within=START_TIMEOUT_S, what="it to connect")

    async def stop(self) -> None:
        if self.child is not None:
            await self.child.stop(grace=STOP_TIMEOUT_S)

    def log_tail(self) -> str:
        return self.child.log_tail() if self.child is not None else ""

    def cpu_seconds(self) -> float:
        return cpu_seconds(self.pid)

    def peak_rss_mb(self) -> float:
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
        return float("nan")


# More bot processes than this on two cores measure the scheduler of the machine, not the bot's.
MAX_PROCESSES = 8


class Fleet:
    """``--database postgres``: the bot on a throwaway PostgreSQL server (Debian's package, as the tests run
    it), as ``--processes`` processes each on its shard of that many, with one guild per shard in the local
    Discord so the members' interactions spread over every process. Read like one :class:`Bot`: CPU summed,
    peak RSS the largest; ``database_cpu_seconds`` is the server's own CPU (its processes, exited ones too).
    """

    def __init__(self, ld: LocalDiscord, server: Any, bots: list[Bot], channels: list[str]) -> None:
        self.ld = ld
        self.server = server
        self.bots = bots
        self.channels = channels
        self.url = ""

    @classmethod
    async def open(
        cls, ld: LocalDiscord, workdir: Path, env: dict[str, str], count: int, stack: Any, log: Callable[[str], None]
    ) -> Fleet:
        from bot.devtools.postgres import INSTALL_HINT, PostgresServer, find_bindir

        bindir = find_bindir()
        if bindir is None:
            raise SystemExit(INSTALL_HINT)
        server = PostgresServer(bindir)
        stack.callback(server.stop)
        await asyncio.to_thread(server.start)
        log(f"PostgreSQL {bindir.parent.name} on port {server.port} as pid {server.pid}")
        first = ld.state()["guilds"][0]
        # Guild ids a millisecond apart land on consecutive shards ((id >> 22) % count): one guild per shard.
        added = [ld.add_guild(f"Bench {n}", guild_id=int(first["id"]) + (n << 22)) for n in range(1, count)]
        guilds = [str(first["id"])] + [guild["id"] for guild in added]
        channels = [CHANNEL] + [guild["channels"][CHANNEL] for guild in added]
        url = await server.create_database()
        bots = []
        for n in range(count):
            home = workdir / f"bot{n}"
            home.mkdir(parents=True, exist_ok=True)
            own = env | {"DATABASE_URL": url, "DATA_DIR": str(home / "data"), "DISCORD_GUILD_IDS": ",".join(guilds)}
            if count > 1:
                own |= {"SHARD_COUNT": str(count), "SHARD_IDS": str(n)}
            bots.append(Bot(ld, home, own))
        fleet = cls(ld, server, bots, channels)
        fleet.url = url
        return fleet

    @property
    def pid(self) -> int:
        return self.bots[0].pid

    @property
    def child(self) -> processes.Child | None:
        return self.bots[0].child

    def _connected(self) -> int:
        return sum(1 for s in self.ld.stats()["gateway"]["sessions"] if s["connected"] and s["seq"] >= 1)

    async def start(self) -> None:
        for bot in self.bots:
            before = self._connected()
            await bot.start()
            deadline = time.monotonic() + START_TIMEOUT_S
            while self._connected() <= before:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"bot process {bot.workdir.name} did not connect:\n{bot.log_tail()}")
                await asyncio.sleep(0.05)

    async def stop(self) -> None:
        await asyncio.gather(*(bot.stop() for bot in self.bots))

    def log_tail(self) -> str:
        return "\n".join(bot.log_tail() for bot in self.bots)

    def cpu_seconds(self) -> float:
        return sum(bot.cpu_seconds() for bot in self.bots)

    def peak_rss_mb(self) -> float:
        return max(bot.peak_rss_mb() for bot in self.bots)

    def database_cpu_seconds(self) -> float:
        """The server's CPU: the postmaster's own and its reaped children's, plus its live children's."""
        root = self.server.pid
        fields = Path(f"/proc/{root}/stat").read_text().rsplit(")", 1)[1].split()
        total = sum(int(f) for f in fields[11:15]) / os.sysconf("SC_CLK_TCK")  # utime, stime, cutime, cstime
        for stat in Path("/proc").glob("[0-9]*/stat"):
            with contextlib.suppress(OSError, IndexError, ValueError):
                rest = stat.read_text().rsplit(")", 1)[1].split()
                if int(rest[1]) == root:
                    total += (int(rest[11]) + int(rest[12])) / os.sysconf("SC_CLK_TCK")
        return total

    async def read_jobs(self, since: str) -> list[dict[str, Any]]:
        import asyncpg

        conn = await asyncpg.connect(self.url)
        try:
            rows = await conn.fetch(
                "SELECT id, parent_id, status, message_id, provider_job_id, finished_at FROM jobs"
                " WHERE created_at >= $1",
                since,
            )
        finally:
            await conn.close()
        return [dict(row) for row in rows]


def bot_env(ld: LocalDiscord, workdir: Path, options: BenchOptions, sim: Simulator | None) -> dict[str, str]:
    env = {
        "DISCORD_TOKEN": ld.token,
        "DISCORD_API_BASE": ld.api_base,
        "DISCORD_GATEWAY_URL": ld.gateway_url,
        "DISCORD_GUILD_IDS": str(ld.state()["guilds"][0]["id"]),
        "DATA_DIR": str(workdir / "data"),
        "PROVIDER": options.provider,
        "LOG_LEVEL": "INFO",
    }
    if sim is None:
        return env | {"LOCAL_STEP_SECONDS": "0", "LOCAL_MAX_JOBS": str(min(options.slots, LOCAL_MAX_JOBS))}
    tuned: dict[str, float] = {"min_request_interval": 0.0}
    if options.mode == "poll":
        tuned |= {"poll_interval": POLL_INTERVAL_S, "max_poll_interval": MAX_POLL_INTERVAL_S}
    # A pool of accounts as an operator would configure for this many concurrent jobs.
    count = math.ceil(options.slots / ACCOUNT_MAX_JOBS)
    accounts = [
        {"provider": options.provider, "name": f"bench-{n}", "api_key": API_KEY, "base_url": sim.base_url,
         "max_jobs": math.ceil(options.slots / count), "options": tuned}
        for n in range(1, count + 1)
    ]  # fmt: skip
    env["PROVIDER_ACCOUNTS"] = json.dumps(accounts)
    if options.mode == "webhook":
        env |= {
            "WEBHOOK_ENABLED": "true",
            "WEBHOOK_HOST": "127.0.0.1",
            "WEBHOOK_PORT": "0",
            "WEBHOOK_SECRET": WEBHOOK_SECRET,
        }
    return env


# -- following messages ----------------------------------------------------------------------------


def message_state(message: dict[str, Any]) -> str | None:
    """``completed`` or ``failed`` once a job message shows its end, else None."""
    if message.get("_deleted"):
        return "failed"  # a refusal after the defer removes the public message
    if message.get("_loading") or (message.get("flags", 0) & _MESSAGE_FLAG_LOADING):
        return None
    content = message.get("content") or ""
    if message.get("_ephemeral") or "❌" in content:
        return "failed"
    if message.get("attachments") and "%" not in content and "⏳" not in content:
        return "completed"
    return None


def button_ids(message: dict[str, Any]) -> list[str]:
    rows = message.get("components") or []
    return [c.get("custom_id", "") for row in rows for c in row.get("components", []) if c.get("type") == 2]


class Feed:
    """Follows the local Discord's in-process message feed and wakes whoever waits on a message.

    Waiting by polling would cost this process more CPU than the bot under test at two hundred concurrent
    members; the feed costs one dictionary per message change.
    """

    def __init__(self, ld: LocalDiscord) -> None:
        self.ld = ld
        self._queue = ld.events.subscribe()
        self._first: dict[str, dict[str, Any]] = {}
        self._first_waiters: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self._waiters: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self.notes: dict[str, str] = {}
        self.resubscribed = 0
        self._task = asyncio.create_task(self._pump(), name="bench-feed")

    async def close(self) -> None:
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        self.ld.events.unsubscribe(self._queue)

    async def _pump(self) -> None:
        while True:
            kind, data = await self._queue.get()
            if not kind:
                # Dropped for falling behind: subscribe again and read afresh what anyone waits for.
                self.resubscribed += 1
                self._queue = self.ld.events.subscribe()
                for message_id in list(self._waiters):
                    current = self.ld.message(message_id)
                    if current is not None:
                        self._seen(current)
                continue
            self._seen(data)

    def _seen(self, message: dict[str, Any]) -> None:
        interaction_id = message.get("_interaction_id")
        if interaction_id:
            if interaction_id not in self._first:
                self._first[interaction_id] = message
                waiter = self._first_waiters.pop(interaction_id, None)
                if waiter is not None and not waiter.done():
                    waiter.set_result(message)
            elif message.get("_ephemeral"):
                self.notes[interaction_id] = message.get("content") or ""
        waiter = self._waiters.get(message["id"])
        if waiter is not None and not waiter.done() and message_state(message) is not None:
            del self._waiters[message["id"]]
            waiter.set_result(message)

    async def reply(self, interaction_id: str) -> dict[str, Any]:
        """The first message the interaction's answer created (the deferred one, or a refusal)."""
        if interaction_id in self._first:
            return self._first[interaction_id]
        waiter = self._first_waiters[interaction_id] = asyncio.get_running_loop().create_future()
        try:
            return await asyncio.wait_for(waiter, STEP_TIMEOUT_S)
        finally:
            self._first_waiters.pop(interaction_id, None)

    async def settled(self, message_id: str) -> dict[str, Any]:
        """The message once it shows the job's end."""
        current = self.ld.message(message_id)
        if current is not None and message_state(current) is not None:
            return current
        waiter = self._waiters[message_id] = asyncio.get_running_loop().create_future()
        try:
            return await asyncio.wait_for(waiter, STEP_TIMEOUT_S)
        finally:
            self._waiters.pop(message_id, None)


class RequestLog:
    """Copies the local Discord's request log out as it grows, so a long run loses no entry to its cap."""

    def __init__(self, ld: LocalDiscord) -> None:
        self.ld = ld
        self.entries: list[dict[str, Any]] = []
        self.start_seq = max((r["seq"] for r in ld.requests), default=0)
        self._last = self.start_seq
        # A request is numbered when it arrives and logged when it is answered, so the log is not in number
        # order: a slow request lands after faster later ones. Copied by number, each once.
        self._seen: set[int] = set()
        self._task = asyncio.create_task(self._loop(), name="bench-request-log")

    def drain(self) -> None:
        new = [r for r in self.ld.requests_since(self._last) if r["seq"] not in self._seen]
        if new:
            self.entries.extend(new)
            self._seen.update(r["seq"] for r in new)

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(COLLECT_EVERY_S)
            self.drain()

    async def close(self) -> None:
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        self.drain()


# -- the load --------------------------------------------------------------------------------------


async def _sequence(ld: LocalDiscord, feed: Feed, member: str, seq: Sequence, channel: str = CHANNEL) -> None:
    try:
        started = await ld.invoke(member, channel, "imagine", {"prompt": f"a lighthouse at dawn, study {seq.index}"})
        seq.interactions.append(started["interaction_id"])
        grid = await _follow(feed, started["interaction_id"], seq, "grid")
        if grid is None:
            return
        custom_id = next((c for c in button_ids(grid) if c.endswith(f":{PRESSED}")), None)
        if custom_id is None:
            seq.failure = f"the grid has no {PRESSED} button"
            return
        pressed = await ld.click(member, grid["id"], custom_id)
        seq.interactions.append(pressed["interaction_id"])
        if await _follow(feed, pressed["interaction_id"], seq, "upscale") is not None:
            seq.completed = True
    except TimeoutError:
        seq.failure = f"no answer within {STEP_TIMEOUT_S:g} s"
    except Exception as exc:
        seq.failure = f"{type(exc).__name__}: {exc}"
    finally:
        seq.ended = time.monotonic()


async def _follow(feed: Feed, interaction_id: str, seq: Sequence, what: str) -> dict[str, Any] | None:
    first = await feed.reply(interaction_id)
    seq.messages.append(first["id"])
    message = await feed.settled(first["id"])
    if message_state(message) != "completed":
        note = feed.notes.get(interaction_id) or message.get("content") or "message deleted"
        seq.failure = f"{what}: {note[:200]}"
        return None
    return message


async def drive(
    ld: LocalDiscord, feed: Feed, members: list[str], options: BenchOptions, channels: list[str] | None = None
) -> list[Sequence]:
    sequences = [Sequence(index=i) for i in range(options.jobs)]
    pending: Iterator[Sequence] = iter(sequences)
    channels = channels or [CHANNEL]

    async def worker() -> None:
        for seq in pending:
            await _sequence(ld, feed, members[seq.index % len(members)], seq, channels[seq.index % len(channels)])

    workers = [asyncio.create_task(worker(), name=f"bench-worker-{n}") for n in range(options.concurrency)]
    try:
        await asyncio.wait_for(asyncio.gather(*workers), options.timeout)
    except TimeoutError:
        for seq in sequences:
            if not seq.completed and seq.failure is None:
                seq.failure = f"not finished within --timeout {options.timeout:g} s"
    return sequences


# -- figures ---------------------------------------------------------------------------------------


def percentile(values: list[float], p: float) -> float | None:
    """Nearest-rank percentile; None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


def _round(value: float | None, digits: int = 1) -> float | None:
    return None if value is None or math.isnan(value) else round(value, digits)


def read_jobs(db_path: Path, since: str) -> list[dict[str, Any]]:
    """The bot's jobs created during the load, read from its database after it stopped."""
    with contextlib.closing(sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)) as conn:
        conn.row_factory = sqlite3.Row
        rows = conn.execute(
            "SELECT id, parent_id, status, message_id, provider_job_id, finished_at FROM jobs WHERE created_at >= ?",
            (since,),
        ).fetchall()
    return [dict(row) for row in rows]


def edits_by_message(entries: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """Successful message edits (either route), per message id, in arrival order."""
    edits: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for entry in entries:
        if entry["method"] != "PATCH" or not (200 <= (entry["status"] or 0) < 300):
            continue
        match = _EDIT_PATH.search(entry["path"])
        if match and not entry["path"].endswith("/@original"):
            edits[match[1]].append(entry)
    return edits


@dataclasses.dataclass
class Diagnostics:
    """What goes to stderr beside the JSON."""

    min_edit_gap_s: float | None = None
    progress_edits: int = 0
    bot_jobs: int = 0
    matched_provider_times: int = 0
    failures: Counter[str] = dataclasses.field(default_factory=Counter)
    # CPU seconds during the load of what shares the machine with the bot.
    harness_cpu_s: float = 0.0
    simulator_cpu_s: float = 0.0
    database_cpu_s: float | None = None
    profile: dict[str, float] = dataclasses.field(default_factory=dict)

    def lines(self) -> list[str]:
        gap = "n/a" if self.min_edit_gap_s is None else f"{self.min_edit_gap_s:.3f} s"
        out = [
            f"bot jobs: {self.bot_jobs}; progress edits: {self.progress_edits}; smallest gap between two edits "
            f"of one message: {gap}; provider completion times matched: {self.matched_provider_times}",
        ]
        out.append(
            f"CPU during the load besides the bot: this process (local Discord, workers) {self.harness_cpu_s:.1f} s,"
            f" provider simulator {self.simulator_cpu_s:.1f} s"
            + ("" if self.database_cpu_s is None else f", PostgreSQL server {self.database_cpu_s:.1f} s")
        )
        out += [f"failed x{count}: {why}" for why, count in self.failures.most_common(5)]
        if self.profile:
            share = ", ".join(f"{name} {pct:.1f}%" for name, pct in self.profile.items())
            out.append(f"bot CPU samples by package: {share}")
        return out


def figures(
    *,
    options: BenchOptions,
    sequences: list[Sequence],
    ld: LocalDiscord,
    entries: list[dict[str, Any]],
    jobs: list[dict[str, Any]],
    provider_done: dict[str, float],
    provider_calls: int,
    load_started: float,
    cpu_s: float,
    peak_rss_mb: float,
) -> tuple[dict[str, Any], Diagnostics]:
    diag = Diagnostics(bot_jobs=len(jobs))
    completed = sum(1 for s in sequences if s.completed)
    diag.failures = Counter(s.failure for s in sequences if s.failure)
    ended = [s.ended for s in sequences if s.ended is not None]
    wall = max(ended) - load_started if ended else 0.0

    acks = []
    for seq in sequences:
        for interaction_id in seq.interactions:
            with contextlib.suppress(Exception):
                latency = ld.interaction(interaction_id)["ack_latency_ms"]
                if latency is not None:
                    acks.append(float(latency))

    edits = edits_by_message(entries)
    gaps = [b["t_mono"] - a["t_mono"] for chain in edits.values() for a, b in itertools.pairwise(chain)]
    diag.min_edit_gap_s = min(gaps) if gaps else None
    diag.progress_edits = sum(len(chain) - 1 for chain in edits.values())

    done_to_edit = []
    for job in jobs:
        chain = edits.get(str(job["message_id"]))
        if job["status"] != "completed" or not chain or job["finished_at"] is None:
            continue
        finished = provider_done.get(job["provider_job_id"] or "")
        if finished is not None:
            diag.matched_provider_times += 1
        else:
            finished = dt.datetime.fromisoformat(job["finished_at"]).timestamp()
        done_to_edit.append((chain[-1]["t_wall"] - finished) * 1000)

    per_job = max(1, len(jobs))
    result = {
        "jobs": options.jobs,
        "completed": completed,
        "failed": options.jobs - completed,
        "wall_s": _round(wall, 2),
        "jobs_per_s": _round(completed / wall if wall > 0 else 0.0, 2),
        "ack_ms_p50": _round(percentile(acks, 50)),
        "ack_ms_p99": _round(percentile(acks, 99)),
        "done_to_edit_ms_p50": _round(percentile(done_to_edit, 50)),
        "done_to_edit_ms_p99": _round(percentile(done_to_edit, 99)),
        "discord_calls_per_job": _round(len(entries) / per_job, 3),
        "provider_calls_per_job": _round(provider_calls / per_job, 3),
        "discord_429": int(ld.stats()["rate_limited"]),
        "bot_cpu_ms_per_job": _round(cpu_s * 1000 / per_job, 2),
        "bot_peak_rss_mb": _round(peak_rss_mb),
    }
    assert tuple(result) == FIELDS
    return result, diag


# -- profiling (optional) --------------------------------------------------------------------------


def _py_spy() -> str | None:
    beside = Path(sys.executable).with_name("py-spy")
    return str(beside) if beside.exists() else shutil.which("py-spy")


def profile_shares(raw: Path) -> dict[str, float]:
    """Percent of py-spy samples per package, each sample charged to the innermost frame outside the
    standard library, so json or zlib work done for discord.py counts as discord.py's."""
    counts: Counter[str] = Counter()
    for line in raw.read_text(errors="replace").splitlines():
        stack, _, count = line.rpartition(" ")
        if not count.isdigit():
            continue
        owner = "stdlib (event loop, threads)"
        for frame in reversed(stack.split(";")):
            package = _package_of(frame)
            if package is not None:
                owner = package
                break
        counts[owner] += int(count)
    total = sum(counts.values()) or 1
    return {name: 100 * n / total for name, n in counts.most_common(12)}


def _package_of(frame: str) -> str | None:
    """The top-level package of a py-spy frame ``func (pkg/mod.py:12)``, None for the standard library."""
    path = frame.rsplit("(", 1)[-1].rsplit(":", 1)[0]
    if "site-packages/" in path:
        path = path.split("site-packages/", 1)[1]
    top = path.lstrip("/").split("/", 1)[0].removesuffix(".py")
    if path.startswith("<") or top in sys.stdlib_module_names or path.endswith("bot/__main__.py"):
        return None  # the entry point only starts the loop; what runs under it is charged below
    return "imagine-bot" if top in ("bot", "cogs") else top


# -- the run ---------------------------------------------------------------------------------------


async def run(
    options: BenchOptions, log: Callable[[str], None] = lambda line: None
) -> tuple[dict[str, Any], Diagnostics]:
    """Start everything, run the load, stop everything; returns the JSON figures and the diagnostics."""
    workdir = Path(tempfile.mkdtemp(prefix="imagine-bench-"))
    async with contextlib.AsyncExitStack() as stack:
        if not options.keep:
            stack.callback(shutil.rmtree, workdir, ignore_errors=True)
        else:
            log(f"keeping {workdir}")
        # A spec path that does not exist is how the local Discord is told not to validate.
        ld = LocalDiscord(spec_path=None if options.validate else workdir / "no-spec.json")
        await ld.start()
        stack.push_async_callback(ld.stop)
        log(f"local Discord on {ld.url}" + (f": {ld.spec_status}" if options.validate else ""))
        count = min(options.jobs, MAX_MEMBERS)
        members = [ld.add_user(f"bench{n:04d}")["username"] for n in range(count)]

        sim = None
        if options.provider != "local":
            sim = Simulator(options.provider, workdir)
            stack.push_async_callback(sim.stop)
            await sim.start()
            log(f"{options.provider} simulator on {sim.url} as pid {sim.pid}")
        bot: Bot | Fleet = Bot(ld, workdir, bot_env(ld, workdir, options, sim))
        if options.database == "postgres":
            bot = await Fleet.open(ld, workdir, bot_env(ld, workdir, options, sim), options.processes, stack, log)
        stack.push_async_callback(bot.stop)
        await bot.start()
        log(f"bot running as pid {bot.pid}")

        profiler = None
        raw_profile = options.profile
        if raw_profile is not None:
            spy = _py_spy()
            if spy is None:
                log("--profile: py-spy is not installed (pip install py-spy); running without it")
            else:
                profiler = await processes.start(
                    [spy, "record", "--pid", str(bot.pid), "--rate", "250", "--format", "raw", "--nonblocking",
                     "--output", str(raw_profile)],
                    cwd=workdir, env=dict(os.environ), log=workdir / "py-spy.log", name="py-spy",
                )  # fmt: skip
                stack.push_async_callback(profiler.stop, grace=STOP_TIMEOUT_S)

        sim_calls_before = (await sim.get("/_sim/requests"))["total"] if sim else 0
        feed = Feed(ld)
        stack.push_async_callback(feed.close)
        requests = RequestLog(ld)
        stack.push_async_callback(requests.close)
        since = (dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)).isoformat(timespec="microseconds")
        cpu_before = bot.cpu_seconds()
        own_before = _own_cpu_seconds()
        sim_before = cpu_seconds(sim.pid) if sim else 0.0
        db_before = bot.database_cpu_seconds() if isinstance(bot, Fleet) else 0.0
        load_started = time.monotonic()
        log(f"load: {options.jobs} sequences, {options.concurrency} at a time, {len(members)} members")
        sequences = await drive(ld, feed, members, options, bot.channels if isinstance(bot, Fleet) else None)
        cpu_s = bot.cpu_seconds() - cpu_before
        db_cpu = bot.database_cpu_seconds() - db_before if isinstance(bot, Fleet) else None
        own_cpu = _own_cpu_seconds() - own_before
        sim_cpu = cpu_seconds(sim.pid) - sim_before if sim else 0.0
        peak_rss = bot.peak_rss_mb()
        await requests.close()
        if profiler is not None:
            await profiler.stop(signum=signal.SIGINT, grace=STOP_TIMEOUT_S)  # py-spy writes its file on SIGINT
        provider_calls, provider_done = 0, {}
        if sim is not None:
            provider_calls = (await sim.get("/_sim/requests"))["total"] - sim_calls_before
            sim_jobs = (await sim.get("/_sim/jobs"))["jobs"]
            provider_done = {j["id"]: j["finished_at"] for j in sim_jobs if j["finished_at"]}
        await bot.stop()
        if bot.child is not None and bot.child.returncode not in (0, -signal.SIGTERM):
            log(f"the bot exited with {bot.child.returncode}:\n{bot.log_tail()}")
        if isinstance(bot, Fleet):
            jobs = await bot.read_jobs(since)
        else:
            jobs = read_jobs(workdir / "data" / "imagine-bot.db", since)
        result, diag = figures(
            options=options, sequences=sequences, ld=ld, entries=requests.entries, jobs=jobs,
            provider_done=provider_done, provider_calls=provider_calls, load_started=load_started, cpu_s=cpu_s,
            peak_rss_mb=peak_rss,
        )  # fmt: skip
        diag.harness_cpu_s, diag.simulator_cpu_s, diag.database_cpu_s = own_cpu, sim_cpu, db_cpu
        if raw_profile is not None and raw_profile.exists():
            diag.profile = profile_shares(raw_profile)
        if options.validate:
            log(f"request bodies Discord's spec rejects: {len(ld.violations)}")
        if feed.resubscribed:
            log(f"the message feed fell behind {feed.resubscribed} times")
        return result, diag
    raise AssertionError("unreachable")  # pragma: no cover - the stack does not swallow exceptions


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bench.load", description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=1000, help="/imagine interactions to send (default 1000)")
    parser.add_argument("--concurrency", type=int, default=200, help="sequences in flight at once (default 200)")
    parser.add_argument("--provider", choices=PROVIDERS, default="apiframe", help="default apiframe")
    parser.add_argument("--mode", choices=("webhook", "poll"), default="webhook", help="default webhook")
    parser.add_argument("--out", type=Path, help="write the JSON here (default: stdout)")
    parser.add_argument(
        "--slots", type=int, default=ACCOUNT_MAX_JOBS, help="provider jobs at once, in accounts of 50 (default 50)"
    )
    parser.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT_S, help="seconds for the whole load")
    parser.add_argument("--profile", type=Path, help="record the bot with py-spy (raw format) into this file")
    parser.add_argument("--keep", action="store_true", help="keep the working directory (logs, database)")
    parser.add_argument("--validate", action="store_true", help="check request bodies against Discord's spec")
    parser.add_argument(
        "--database", choices=("sqlite", "postgres"), default="sqlite",
        help="the bot's store; postgres starts a throwaway server from Debian's package (default sqlite)",
    )  # fmt: skip
    parser.add_argument(
        "--processes", type=int, default=1, help="bot processes, one shard each (more than 1 needs postgres)"
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if not 1 <= args.jobs <= MAX_JOBS:
        _parser().error(f"--jobs must be 1 to {MAX_JOBS}")
    if not 1 <= args.concurrency <= MAX_CONCURRENCY:
        _parser().error(f"--concurrency must be 1 to {MAX_CONCURRENCY}")
    if not 1 <= args.slots <= MAX_CONCURRENCY:
        _parser().error(f"--slots must be 1 to {MAX_CONCURRENCY}")
    if not 0 < args.timeout <= 3600:
        _parser().error("--timeout must be more than 0 and at most 3600 seconds")
    if not 1 <= args.processes <= MAX_PROCESSES or (args.processes > 1 and args.database != "postgres"):
        _parser().error(f"--processes must be 1 to {MAX_PROCESSES}, and more than 1 needs --database postgres")
    options = BenchOptions(
        jobs=args.jobs,
        concurrency=min(args.concurrency, args.jobs),
        slots=args.slots,
        provider=args.provider,
        mode=args.mode,
        timeout=args.timeout,
        profile=args.profile,
        keep=args.keep,
        validate=args.validate,
        database=args.database,
        processes=args.processes,
    )

    def log(line: str) -> None:
        print(line, file=sys.stderr, flush=True)

    result, diag = asyncio.run(run(options, log))
    for line in diag.lines():
        log(line)
    text = json.dumps(result, indent=2)
    if args.out is not None:
        args.out.write_text(text + "\n")
    else:
        print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
