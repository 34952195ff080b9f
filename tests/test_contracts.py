"""The layout's promises, kept by tools: the layers import only what they may, and the bot type-checks.

``lint-imports`` reads the contracts in pyproject.toml ([tool.importlinter]); mypy runs in strict mode on
``bot/`` and ``cogs/`` ([tool.mypy]). Both run as the developer would run them, from the project root.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _run(*args: str, timeout: float) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, cwd=ROOT, capture_output=True, text=True, timeout=timeout, check=False)


def test_import_contracts_are_kept() -> None:
    # The console script beside this interpreter: the one the test extras installed.
    result = _run(str(Path(sys.executable).parent / "lint-imports"), "--no-cache", timeout=300)
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]


def test_bot_and_cogs_type_check_in_strict_mode() -> None:
    result = _run(sys.executable, "-m", "mypy", timeout=600)
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]


def test_architecture_names_only_files_that_exist() -> None:
    """Every path ARCHITECTURE.md names (in backticks, with a slash) is in the tree, so the map stays true."""
    text = (ROOT / "ARCHITECTURE.md").read_text(encoding="utf-8")
    named = {m for m in re.findall(r"`([\w./-]+/[\w./<>-]*)`", text) if "<" not in m and not m.startswith("DATA_DIR")}
    assert named, "ARCHITECTURE.md names no files"
    missing = sorted(path for path in named if not (ROOT / path.rstrip("/")).exists())
    assert not missing, missing
