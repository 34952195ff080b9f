"""The deployment files hold together: docker-compose.yml, deploy/prometheus.yml and the Dockerfile.

Docker images cannot be pulled where the tests run, so the compose deployment is never started here;
these tests read its structure instead. No YAML library is among the test dependencies, so the files
are read by :func:`read_yaml`, a strict reader of the small block subset they are written in (mappings,
lists, plain, double-quoted and JSON flow scalars, whole-line comments): anything outside that subset
fails the test rather than being misread. Where PyYAML happens to be installed, it must read the same.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from bot.core.settings import Settings

ROOT = Path(__file__).parents[2]
_KEY = re.compile(r"([A-Za-z_][\w.-]*):(?: (.*))?$")


def read_yaml(text: str) -> Any:
    lines = []
    for number, raw in enumerate(text.splitlines(), 1):
        stripped = raw.strip()
        if not stripped or stripped.startswith("#"):
            continue
        assert "\t" not in raw and not re.search(r"[&*!|>]|<<", stripped.split(": ", 1)[-1][:1] or "x"), number
        lines.append([len(raw) - len(raw.lstrip(" ")), stripped, number])
    value, end = _block(lines, 0, lines[0][0])
    assert end == len(lines), f"line {lines[end][2]} is outside the structure"
    return value


def _block(lines: list[list[Any]], i: int, indent: int) -> tuple[Any, int]:
    return _list(lines, i, indent) if lines[i][1].startswith("- ") else _map(lines, i, indent)


def _map(lines: list[list[Any]], i: int, indent: int) -> tuple[dict[str, Any], int]:
    out: dict[str, Any] = {}
    while i < len(lines) and lines[i][0] == indent and not lines[i][1].startswith("- "):
        found = _KEY.match(lines[i][1])
        assert found, f"line {lines[i][2]}: not a 'key: value'"
        key, rest = found.group(1), found.group(2)
        assert key not in out, f"line {lines[i][2]}: {key} twice"
        i += 1
        if rest:
            out[key] = _scalar(rest)
        elif i < len(lines) and lines[i][0] > indent:
            out[key], i = _block(lines, i, lines[i][0])
        elif i < len(lines) and lines[i][0] == indent and lines[i][1].startswith("- "):
            out[key], i = _list(lines, i, indent)
        else:
            out[key] = None
    assert i == len(lines) or lines[i][0] < indent, f"line {lines[i][2]} is misindented"
    return out, i


def _list(lines: list[list[Any]], i: int, indent: int) -> tuple[list[Any], int]:
    out: list[Any] = []
    while i < len(lines) and lines[i][0] == indent and lines[i][1].startswith("- "):
        item = lines[i][1][2:].strip()
        if _KEY.match(item) and not item.startswith(('"', "[")):
            lines[i] = [indent + 2, item, lines[i][2]]  # a mapping item: its keys line up after "- "
            value, i = _map(lines, i, indent + 2)
            out.append(value)
        else:
            out.append(_scalar(item))
            i += 1
    return out, i


def _scalar(text: str) -> Any:
    if text.startswith(('"', "[", "{")):
        return json.loads(text)
    assert not text.startswith(("'", "&", "*", "!", "|", ">")), f"unsupported scalar {text!r}"
    return int(text) if text.isdigit() else text


def load(path: Path) -> Any:
    text = path.read_text()
    value = read_yaml(text)
    try:
        import yaml  # type: ignore[import-untyped]
    except ImportError:
        return value
    assert yaml.safe_load(text) == value, f"{path.name}: the subset reader and PyYAML disagree"
    return value


def test_the_subset_reader_is_strict() -> None:
    assert read_yaml('a:\n  b: "x"\n  c:\n    - 1\n    - k: v\n      w: [1, 2]\nd: plain:colon\n') == {
        "a": {"b": "x", "c": [1, {"k": "v", "w": [1, 2]}]},
        "d": "plain:colon",
    }
    for bad in ("a: 1\n  b: 2\n", "a: &anchor 1\n", "a: 1\na: 2\n", "- a\nb: 1\n"):
        with pytest.raises(AssertionError):
            read_yaml(bad)


def test_compose_runs_postgres_two_sharded_bots_and_an_optional_prometheus() -> None:
    compose = load(ROOT / "docker-compose.yml")
    services = compose["services"]
    assert set(services) == {"postgres", "bot0", "bot1", "prometheus"}
    assert "profiles" not in services["postgres"] and services["postgres"]["healthcheck"]["test"][0] == "CMD"
    assert services["prometheus"]["profiles"] == ["metrics"]

    ports = []
    for shard, name in enumerate(("bot0", "bot1")):
        bot = services[name]
        env = bot["environment"]
        assert bot["build"] == "."
        assert bot["depends_on"] == {"postgres": {"condition": "service_healthy"}}
        assert env["DATABASE_URL"].startswith("postgresql://") and "@postgres:5432/" in env["DATABASE_URL"]
        assert (env["SHARD_COUNT"], env["SHARD_IDS"]) == ("2", str(shard))
        assert env["HTTP_HOST"] == "0.0.0.0" and env["HTTP_PORT"] == "8080"
        for variable in env:
            assert variable.lower() in Settings.model_fields, variable
        ports += [p.rsplit(":", 1)[0] for p in bot["ports"]]
        assert all(p.endswith(":8080") for p in bot["ports"])
    assert len(ports) == len(set(ports)), "two services publish the same host port"

    named = set(compose["volumes"])
    for service in services.values():
        for volume in service.get("volumes", []):
            source = volume.split(":", 1)[0]
            if source.startswith("."):
                assert (ROOT / source).is_file(), source
            else:
                assert source in named, source

    prometheus = load(ROOT / "deploy" / "prometheus.yml")
    (job,) = prometheus["scrape_configs"]
    assert job["metrics_path"] == "/metrics"
    assert sorted(job["static_configs"][0]["targets"]) == ["bot0:8080", "bot1:8080"]


def test_dockerfile_serves_and_checks_health_on_its_port() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "HTTP_HOST=0.0.0.0" in dockerfile and "HTTP_PORT=8080" in dockerfile
    assert "EXPOSE 8080" in dockerfile
    (healthcheck,) = [line for line in dockerfile.splitlines() if line.startswith("HEALTHCHECK")]
    assert json.loads(healthcheck.split(" CMD ", 1)[1]) == ["python", "-m", "bot.core.health"]


def _dockerfile_env() -> dict[str, str]:
    """The ``ENV`` of the Dockerfile (one instruction, continued lines of ``KEY=value``)."""
    text = (ROOT / "Dockerfile").read_text().replace("\\\n", " ")
    (env,) = [line for line in text.splitlines() if line.startswith("ENV ")]
    return dict(pair.split("=", 1) for pair in env.split()[1:])


def _env_example() -> dict[str, str]:
    lines = (ROOT / ".env.example").read_text().splitlines()
    return dict(line.split("=", 1) for line in lines if line and not line.startswith("#"))


def test_the_env_file_cannot_undo_what_the_image_sets() -> None:
    # `cp .env.example .env` as the README says: env_file values beat the image's ENV, and only the
    # service's own `environment` beats them. .env.example's DATA_DIR=data would put the database and images
    # in /app/data, which the unprivileged user cannot create, instead of on the /data volume.
    compose = load(ROOT / "docker-compose.yml")
    image_env = _dockerfile_env()
    shadowed = {name for name in image_env if name in _env_example()}
    assert {"DATA_DIR", "HTTP_HOST", "HTTP_PORT"} <= shadowed
    for name in ("bot0", "bot1"):
        bot = compose["services"][name]
        assert bot["env_file"] == ".env"
        for variable in shadowed:
            assert bot["environment"].get(variable) == image_env[variable], (name, variable)
        (data,) = [v for v in bot["volumes"] if v.split(":")[1] == image_env["DATA_DIR"]]
        assert data.split(":")[0] == f"{name}data"


def test_the_base_image_is_the_official_one_unless_a_build_arg_says_otherwise() -> None:
    lines = (ROOT / "Dockerfile").read_text().splitlines()
    assert "ARG BASE_IMAGE=python:3.11-slim" in lines
    (base,) = [line for line in lines if line.startswith("FROM ")]
    assert base == "FROM ${BASE_IMAGE}"
    # Nothing secret or bulky reaches the build context.
    ignored = set((ROOT / ".dockerignore").read_text().split())
    assert {".env", ".venv", ".git", "data"} <= ignored


def test_the_smoke_override_only_adds_the_local_discord_and_simulator() -> None:
    compose = load(ROOT / "docker-compose.yml")["services"]
    smoke = load(ROOT / "deploy" / "smoke.compose.yml")["services"]
    assert set(smoke) - set(compose) == {"discord", "providersim"}
    for name in ("bot0", "bot1"):
        assert set(smoke[name]) == {"depends_on", "environment"}
        for variable in smoke[name]["environment"]:
            assert variable.lower() in Settings.model_fields, variable
    assert set(smoke["postgres"]) == set(smoke["prometheus"]) == {"image"}
