"""The load benchmark at a tiny size: the command runs, stops what it started and writes exactly its fields.

Not a timed test: the figures are only checked to be the right kind of number. The helpers that turn the
request log and profiles into figures are checked on small hand-made inputs.
"""

from __future__ import annotations

import json
import math
import re
import subprocess
import sys
from pathlib import Path

import pytest

from bench.load import FIELDS, edits_by_message, message_state, percentile, profile_shares

REPO_ROOT = Path(__file__).resolve().parents[2]
# Ten sequences take a few seconds; the rest is the bot's and the simulator's start-up.
RUN_TIMEOUT_S = 150


@pytest.mark.e2e
@pytest.mark.parametrize(("provider", "mode"), [("apiframe", "webhook"), ("local", "poll")])
def test_tiny_run_writes_exactly_the_fields(tmp_path: Path, provider: str, mode: str) -> None:
    out = tmp_path / "bench.json"
    command = [sys.executable, "-m", "bench.load", "--jobs", "10", "--concurrency", "5"]
    command += ["--provider", provider, "--mode", mode, "--out", str(out)]
    done = subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True, timeout=RUN_TIMEOUT_S)
    assert done.returncode == 0, done.stderr[-4000:]
    result = json.loads(out.read_text())

    assert list(result) == list(FIELDS)
    assert result["jobs"] == 10
    assert result["completed"] + result["failed"] == 10
    assert result["completed"] == 10, done.stderr[-4000:]
    for name in FIELDS:
        value = result[name]
        assert isinstance(value, int | float) and not isinstance(value, bool), name
        assert math.isfinite(value) and value >= 0, (name, value)
    assert result["wall_s"] > 0 and result["jobs_per_s"] > 0
    assert 0 < result["ack_ms_p50"] <= result["ack_ms_p99"] < 3000  # Discord's 3 s deadline was met
    assert 0 <= result["done_to_edit_ms_p50"] <= result["done_to_edit_ms_p99"]
    # A callback and a final edit for each job, and nothing rate-limited.
    assert result["discord_calls_per_job"] >= 2 and result["discord_429"] == 0
    assert (result["provider_calls_per_job"] >= 1) == (provider != "local")
    assert result["bot_cpu_ms_per_job"] > 0 and 20 < result["bot_peak_rss_mb"] < 1000
    assert "smallest gap between two edits" in done.stderr
    # Everything it started is gone: the bot's and the simulator's processes no longer exist.
    pids = [int(p) for p in re.findall(r"pid (\d+)", done.stderr)]
    assert len(pids) == (2 if provider != "local" else 1), done.stderr
    assert not [p for p in pids if Path(f"/proc/{p}").exists()]


def test_percentile_is_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 50) == 50 and percentile(values, 99) == 99 and percentile(values, 100) == 100
    assert percentile([7.0], 99) == 7 and percentile([], 50) is None


def test_message_state_reads_what_a_member_sees() -> None:
    loading = {"id": "1", "flags": 128, "_loading": True, "content": ""}
    progress = {"id": "1", "flags": 0, "content": "`███░░` 40% · Drawing", "attachments": [{"id": "9"}]}
    done = {"id": "1", "flags": 0, "content": "**a cat**\n-# Job `ab`", "attachments": [{"id": "9"}]}
    failed = {"id": "1", "flags": 0, "content": "❌ **Failed:** the provider failed", "attachments": []}
    refused = {"id": "1", "flags": 64, "_ephemeral": True, "content": "That prompt is not allowed here."}
    assert [message_state(m) for m in (loading, progress, done, failed, refused)] == [
        None,
        None,
        "completed",
        "failed",
        "failed",
    ]
    assert message_state({**done, "_deleted": True}) == "failed"


def test_edits_are_grouped_per_message_from_either_route() -> None:
    def entry(seq: int, method: str, path: str, status: int = 200) -> dict[str, object]:
        return {"seq": seq, "method": method, "path": path, "status": status, "t_mono": float(seq)}

    log = [
        entry(1, "POST", "/api/v10/interactions/5/tok/callback"),
        entry(2, "PATCH", "/api/v10/webhooks/1/tok/messages/77"),
        entry(3, "PATCH", "/api/v10/webhooks/1/tok/messages/@original"),
        entry(4, "PATCH", "/api/v10/channels/3/messages/77"),
        entry(5, "PATCH", "/api/v10/channels/3/messages/78", status=429),
    ]
    edits = edits_by_message(log)
    assert list(edits) == ["77"] and [e["seq"] for e in edits["77"]] == [2, 4]


def test_profile_shares_charge_the_standard_library_to_its_caller(tmp_path: Path) -> None:
    raw = tmp_path / "bot.raw"
    raw.write_text(
        "main (bot/__main__.py:1);run (asyncio/runners.py:1);poll (discord/gateway.py:9);loads (json/decoder.py:3) 3\n"
        "main (bot/__main__.py:1);_submit (bot/core/engine.py:5);send (httpx/_client.py:7) 1\n"
        "main (bot/__main__.py:1);run (asyncio/runners.py:1);select (selectors.py:468) 1\n"
    )
    shares = profile_shares(raw)
    assert shares == {"discord": 60.0, "httpx": 20.0, "stdlib (event loop, threads)": 20.0}


def test_several_processes_need_postgres(capsys: pytest.CaptureFixture[str]) -> None:
    from bench.load import main

    with pytest.raises(SystemExit):
        main(["--processes", "2"])
    assert "--database postgres" in capsys.readouterr().err
