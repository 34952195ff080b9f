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

from localdiscord import SPEC_SETTING

REPO = Path(__file__).resolve().parents[2]
NEEDS_SPEC = [
    "tests/localdiscord/test_localdiscord_server.py::test_spec_violations_are_caught",
    "tests/e2e/test_imagine_flow.py",
]


def _run(tmp_path: Path, *, ci: bool) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("CI", "PYTEST_ADDOPTS")}
    env[SPEC_SETTING] = str(tmp_path / "absent" / "discord-openapi.json")
    if ci:
        env["CI"] = "true"
    command = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "-rs", *NEEDS_SPEC]
    return subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=150, check=False)


def test_a_missing_spec_fails_the_run_under_ci(tmp_path: Path) -> None:
    result = _run(tmp_path, ci=True)
    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    assert "CI must provide Discord's OpenAPI spec, and it is missing" in output, output
    assert str(tmp_path / "absent" / "discord-openapi.json") in output
    assert " skipped" not in output.splitlines()[-1], output
    assert " passed" not in output.splitlines()[-1], output


def test_a_missing_spec_skips_with_how_to_get_it(tmp_path: Path) -> None:
    result = _run(tmp_path, ci=False)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    summary = output.strip().splitlines()[-1]
    assert " skipped" in summary and "passed" not in summary and "failed" not in summary, output
    skips = [line for line in output.splitlines() if line.startswith("SKIPPED")]
    assert skips, output
    for line in skips:
        assert str(tmp_path / "absent" / "discord-openapi.json") in line, line
        assert "discord-api-spec" in line and "specs/openapi.json" in line and SPEC_SETTING in line, line
