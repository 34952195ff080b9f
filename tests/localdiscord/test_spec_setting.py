"""A missing Discord spec skips the tests that need it with a useful reason, and fails them under CI.

Runs pytest in a subprocess with ``DISCORD_OPENAPI_SPEC`` pointing at a file that does not exist, over a
local-Discord test that validates bodies and an e2e module (whose fixtures skip on their own), once with
``CI=true`` and once without ``CI``.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from localdiscord import SPEC_SETTING

REPO = Path(__file__).resolve().parents[2]
NEEDS_SPEC = [
    "tests/localdiscord/test_localdiscord_server.py::test_spec_violations_are_caught",
    "tests/e2e/test_imagine_flow.py",
]


def _start(tmp_path: Path, *, ci: bool) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("CI", "PYTEST_ADDOPTS")}
    env[SPEC_SETTING] = str(tmp_path / "absent" / "discord-openapi.json")
    if ci:
        env["CI"] = "true"
    command = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "-rs", *NEEDS_SPEC]
    # Output to a file, not a pipe: the other run is not read while this one is waited for.
    with (tmp_path / "output.txt").open("w") as output:
        return subprocess.Popen(command, cwd=REPO, env=env, stdout=output, stderr=subprocess.STDOUT, text=True)


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[bool, tuple[Path, int, str]]:
    """Both runs, with and without ``CI``, started together: each is mostly an interpreter's and pytest's
    start, which the second core takes. By ``ci``: the run's spec directory, exit code and output."""
    started: dict[bool, tuple[Path, subprocess.Popen[str]]] = {}
    try:
        for ci in (True, False):
            tmp_path = tmp_path_factory.mktemp("ci" if ci else "local")
            started[ci] = (tmp_path, _start(tmp_path, ci=ci))
        done: dict[bool, tuple[Path, int, str]] = {}
        for ci, (tmp_path, process) in started.items():
            process.wait(timeout=150)
            done[ci] = (tmp_path, process.returncode, (tmp_path / "output.txt").read_text())
        return done
    finally:
        for _, process in started.values():
            if process.poll() is None:
                process.kill()
                process.wait()


def test_a_missing_spec_fails_the_run_under_ci(runs: dict[bool, tuple[Path, int, str]]) -> None:
    tmp_path, returncode, output = runs[True]
    assert returncode != 0, output
    assert "CI must provide Discord's OpenAPI spec, and it is missing" in output, output
    assert str(tmp_path / "absent" / "discord-openapi.json") in output
    assert " skipped" not in output.splitlines()[-1], output
    assert " passed" not in output.splitlines()[-1], output


def test_a_missing_spec_skips_with_how_to_get_it(runs: dict[bool, tuple[Path, int, str]]) -> None:
    tmp_path, returncode, output = runs[False]
    assert returncode == 0, output
    summary = output.strip().splitlines()[-1]
    assert " skipped" in summary and "passed" not in summary and "failed" not in summary, output
    skips = [line for line in output.splitlines() if line.startswith("SKIPPED")]
    assert skips, output
    for line in skips:
        assert str(tmp_path / "absent" / "discord-openapi.json") in line, line
        assert "discord-api-spec" in line and "specs/openapi.json" in line and SPEC_SETTING in line, line
