"""Run docker-compose.yml as shown and prove it: ``python3 deploy/smoke.py [--local-base] [--keep]``.

An operator's rerunnable check, not part of the test suite (CI has no Docker daemon). It builds the image,
starts docker-compose.yml unchanged with deploy/smoke.compose.yml beside it (a local Discord with two
guilds, one per shard, and a useapi simulator, both from the bot's own image) and the ``metrics`` profile,
then checks, failing at the first that does not hold:

1. both bot containers become healthy (the Dockerfile's HEALTHCHECK) and ``/readyz`` answers 200 on both;
2. an ``/imagine`` in each guild completes through the local Discord, one answered by each bot;
3. ``/metrics`` of each bot counts its completed job, and Prometheus scrapes both;
4. ``docker kill`` of the bot holding jobs in flight: the other takes them over, every job ends and its
   message shows it, and the simulator saw no job submitted twice.

``--local-base`` is for a machine without Docker Hub: it builds stand-ins for python:3.11-slim, postgres and
prom/prometheus from Debian's archive (deploy/local-base/build.sh) and uses them. ``--keep`` leaves the
deployment running; otherwise it is taken down with its volumes. A ``.env`` is made from ``.env.example``
when there is none (and removed after), so the run sees what a reader who follows the README has.
Standard library only; Docker and either ``docker compose`` or ``docker-compose`` on PATH.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")
ROOT = Path(__file__).resolve().parents[1]
PROJECT = "imaginesmoke"
BOT_PORTS = {"bot0": 8080, "bot1": 8081}  # docker-compose.yml publishes them on 127.0.0.1
DISCORD = "http://127.0.0.1:18765/_control"  # deploy/smoke.compose.yml's SMOKE_DISCORD_PORT default
SIM = "http://127.0.0.1:19001/_sim"  # deploy/smoke.compose.yml's SMOKE_SIM_PORT default
PROMETHEUS = "http://127.0.0.1:9090"
# The bots' HEALTHCHECK runs every 30 s after a 30 s start period; three rounds of it on a loaded machine.
HEALTHY_WITHIN_S = 240.0
# Jobs in flight for the kill: more than the useapi account's 3 slots (.env.example), so some wait queued.
KILL_JOBS = 8


def log(text: str) -> None:
    print(f"smoke: {text}", flush=True)


def run(args: list[str], *, check: bool = True, capture: bool = False) -> str:
    log("$ " + " ".join(args))
    done = subprocess.run(args, cwd=ROOT, check=False, text=True, capture_output=capture)
    if check and done.returncode != 0:
        raise SystemExit(f"smoke: failed ({done.returncode}): {' '.join(args)}\n{done.stderr or ''}")
    return done.stdout if capture else ""


def http(url: str, body: Any = None) -> tuple[int, str]:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()
    except (urllib.error.URLError, OSError) as exc:
        return 0, str(exc)


def get_json(url: str, body: Any = None) -> Any:
    status, text = http(url, body)
    if status // 100 != 2:
        raise SystemExit(f"smoke: {url} answered {status}: {text[:500]}")
    return json.loads(text)


def wait(condition: Callable[[], T | None], *, within: float, what: str, interval: float = 1.0) -> T:
    deadline = time.monotonic() + within
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise SystemExit(f"smoke: timed out after {within:g} s waiting for {what}")
        time.sleep(interval)


class Deployment:
    def __init__(self, compose: list[str]) -> None:
        self.compose = [*compose, "-p", PROJECT, "-f", "docker-compose.yml", "-f", "deploy/smoke.compose.yml"]

    def __call__(self, *args: str, capture: bool = False, check: bool = True) -> str:
        return run([*self.compose, *args], capture=capture, check=check)

    def container(self, service: str) -> str:
        return self("ps", "-q", service, capture=True).strip()

    def inspect(self, service: str, template: str) -> str:
        return run(["docker", "inspect", "-f", template, self.container(service)], capture=True).strip()

    def sql(self, query: str) -> list[list[str]]:
        out = self(
            "exec", "-T", "postgres", "psql", "-U", "imagine", "-d", "imagine", "-AtF", "|", "-c", query, capture=True
        )
        return [line.split("|") for line in out.splitlines() if line]


def compose_command() -> list[str]:
    if subprocess.run(["docker", "compose", "version"], capture_output=True, check=False).returncode == 0:
        return ["docker", "compose"]
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    raise SystemExit("smoke: neither `docker compose` nor `docker-compose` is installed")


def metric(text: str, name: str, **labels: str) -> float:
    """The sum of a metric's samples whose labels include ``labels``."""
    total = 0.0
    for line in text.splitlines():
        if not line.startswith(name + "{") and not line.startswith(name + " "):
            continue
        head, value = line.rsplit(" ", 1)
        if all(f'{k}="{v}"' in head for k, v in labels.items()):
            total += float(value)
    return total


def final_message(interaction_id: str) -> dict[str, Any] | None:
    """The job message of an /imagine once it shows its end (the image and buttons, or ❌), else None."""
    interaction = get_json(f"{DISCORD}/interactions/{interaction_id}")
    mid = interaction.get("response_message_id")
    if not mid:
        return None
    message = get_json(f"{DISCORD}/messages/{mid}")
    content = message.get("content") or ""
    done = (message.get("attachments") and message.get("components") and content.count("\n") == 1) or "❌" in content
    return message if done and not message.get("_loading") else None


def imagine(channel: str, prompt: str, user: str = "alice") -> str:
    body = {"user_id": user, "channel_id": channel, "command": "imagine", "options": {"prompt": prompt}}
    return str(get_json(f"{DISCORD}/interactions/command", body)["interaction_id"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--local-base", action="store_true", help="build the base images from Debian's archive")
    parser.add_argument("--keep", action="store_true", help="leave the deployment running afterwards")
    args = parser.parse_args()

    if subprocess.run(["docker", "info"], capture_output=True, check=False).returncode != 0:
        raise SystemExit("smoke: no Docker daemon answers (`docker info` failed); nothing was run")
    compose = Deployment(compose_command())
    made_env = not (ROOT / ".env").exists()
    if made_env:
        shutil.copy(ROOT / ".env.example", ROOT / ".env")
        log("no .env: made one from .env.example")
    env_overrides: dict[str, str] = {}
    build = ["docker", "build", "-t", "imagine-bot:latest", "."]
    if args.local_base:
        run([str(ROOT / "deploy/local-base/build.sh")])
        build[2:2] = ["--network", "host", "--build-arg", "BASE_IMAGE=imagine-local/python:3.11"]
        env_overrides = {
            "SMOKE_POSTGRES_IMAGE": "imagine-local/postgres:15",
            "SMOKE_PROMETHEUS_IMAGE": "imagine-local/prometheus",
        }
    os.environ.update(env_overrides)
    # docker-compose v1 gives up on a daemon call after 60 s; removing a container's copy of its image under
    # the vfs storage driver (a sandboxed daemon) took longer on a loaded machine, and left the volumes behind.
    os.environ.setdefault("COMPOSE_HTTP_TIMEOUT", "600")
    try:
        run(build)
        compose("--profile", "metrics", "up", "-d")
        prove(compose)
        log("PASSED: every check held")
    finally:
        if not args.keep:
            compose("--profile", "metrics", "down", "-v", check=False)
        if made_env:
            (ROOT / ".env").unlink()


def prove(compose: Deployment) -> None:
    # 1. Healthy and ready.
    for service in BOT_PORTS:
        wait(
            lambda s=service: compose.inspect(s, "{{.State.Health.Status}}") == "healthy",
            within=HEALTHY_WITHIN_S,
            interval=3,
            what=f"{service} to be healthy",
        )
        log(f"{service}: healthy")
    for service, port in BOT_PORTS.items():
        status, body = wait(
            lambda p=port: (lambda r: r if r[0] == 200 else None)(http(f"http://127.0.0.1:{p}/readyz")),
            within=60,
            what=f"{service} /readyz 200",
        )
        log(f"{service} /readyz {status} {body}")

    # 2. One /imagine in each guild: shard 0's guild reaches bot0, shard 1's reaches bot1.
    guilds = get_json(f"{DISCORD}/state")["guilds"]
    channels = [next(c["id"] for c in g["channels"] if c["name"] == "imagine") for g in guilds]
    started = [imagine(channel, f"a lighthouse in guild {n + 1}") for n, channel in enumerate(channels)]
    for iid in started:
        message = wait(lambda i=iid: final_message(i), within=120, what=f"interaction {iid} to complete")
        log(f"/imagine {iid}: {message['content']!r}, {len(message['attachments'])} attachment(s)")
    for service, port in BOT_PORTS.items():
        status, text = http(f"http://127.0.0.1:{port}/metrics")
        received = metric(text, "imagine_interactions_received_total", type="application_command")
        completed = metric(text, "imagine_jobs_finished_total", status="completed")
        log(f"{service} /metrics {status}: interactions received {received:g}, jobs completed {completed:g}")
        if status != 200 or received < 1 or completed < 1:
            raise SystemExit(f"smoke: {service} did not take its guild's /imagine through")

    # 3. Prometheus scrapes both bots.
    def both_up() -> list[str] | None:
        status, text = http(f"{PROMETHEUS}/api/v1/targets")
        if status != 200:
            return None
        targets = json.loads(text)["data"]["activeTargets"]
        up = sorted(t["labels"]["instance"] for t in targets if t["health"] == "up")
        return up if len(up) == 2 else None

    log(f"prometheus targets up: {wait(both_up, within=90, interval=3, what='Prometheus to scrape both bots')}")

    # 4. Jobs in flight on bot1 (shard 1's guild), then kill -9 of bot1's container.
    guild = guilds[1]["id"]
    (victim_owner,) = {row[0] for row in compose.sql(f"SELECT owner FROM jobs WHERE guild_id::text = '{guild}'")}
    started = [
        imagine(channels[1], f"a harbour at dusk, take {n}", user=("alice", "bob", "carol")[n % 3])
        for n in range(KILL_JOBS)
    ]

    def in_flight() -> list[list[str]] | None:
        rows = compose.sql(
            f"SELECT id FROM jobs WHERE owner = '{victim_owner}' "
            "AND submit_started_at IS NOT NULL AND finished_at IS NULL"
        )
        return rows or None

    busy = wait(in_flight, within=60, interval=0.5, what="jobs in flight on bot1")
    log(f"bot1 is process {victim_owner}, with {len(busy)} job(s) submitted and unfinished")
    victim_pid = compose.inspect("bot1", "{{.State.Pid}}")
    run(["docker", "kill", "--signal", "KILL", compose.container("bot1")])
    killed_at = time.monotonic()
    log(f"killed bot1 (host pid {victim_pid})")
    orphans = [r[0] for r in compose.sql(f"SELECT id FROM jobs WHERE owner = '{victim_owner}' AND finished_at IS NULL")]
    log(f"bot1 left {len(orphans)} unfinished job(s)")

    def taken_over() -> bool:
        return not compose.sql(f"SELECT id FROM jobs WHERE owner = '{victim_owner}' AND finished_at IS NULL")

    wait(taken_over, within=60, interval=0.5, what="bot0 to take bot1's jobs over")
    log(f"bot1's unfinished jobs taken over {time.monotonic() - killed_at:.1f} s after the kill")
    for iid in started:
        wait(lambda i=iid: final_message(i), within=180, what=f"interaction {iid} to end")
    rows = compose.sql("SELECT status, coalesce(error, '') FROM jobs")
    listed = ", ".join(f"'{job}'" for job in orphans)
    owners = {r[0] for r in compose.sql(f"SELECT owner FROM jobs WHERE id IN ({listed})")} if orphans else set()
    unfinished = compose.sql("SELECT id FROM jobs WHERE finished_at IS NULL")
    submits = get_json(f"{SIM}/submits")["by_ref"]
    twice = {ref: n for ref, n in submits.items() if n > 1}
    running = compose.inspect("bot1", "{{.State.Running}}")
    log(
        f"after the kill: {len(rows)} jobs, outcomes {sorted({(r[0], r[1]) for r in rows})}; unfinished "
        f"{len(unfinished)}; simulator submits {sum(submits.values())} for {len(submits)} refs, twice: {twice}; "
        f"bot1 running: {running}; bot1's unfinished jobs now owned by {sorted(owners)}"
    )
    if unfinished or twice or running != "false" or not orphans or victim_owner in owners:
        raise SystemExit("smoke: the survivor did not finish the jobs cleanly")


if __name__ == "__main__":
    sys.exit(main())
