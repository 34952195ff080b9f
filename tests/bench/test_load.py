"""The load benchmark at a tiny size: the command runs, stops what it started and writes exactly its fields.

Not a timed test: the figures are only checked to be the right kind of number. The helpers that turn the
request log and profiles into figures are checked on small hand-made inputs.
"""

from __future__ import annotations

import asyncio
import json
import math
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from bench.load import COMPARED, FIELDS, edits_by_message, message_state, percentile, profile_hot_spots, profile_shares
from bench.probe import LagProbe, lag_figures

REPO_ROOT = Path(__file__).resolve().parents[2]
# Ten sequences take a few seconds; the rest is the bot's and the simulator's start-up.
RUN_TIMEOUT_S = 150


@pytest.mark.e2e
@pytest.mark.parametrize(("provider", "mode"), [("apiframe", "webhook"), ("local", "poll")])
def test_tiny_run_writes_exactly_the_fields(tmp_path: Path, provider: str, mode: str) -> None:
    out = tmp_path / "bench.json"
    command = [sys.executable, "-m", "bench.load", "--jobs", "10", "--concurrency", "5"]
    command += ["--provider", provider, "--mode", mode, "--out", str(out)]
    if provider == "apiframe":
        # The same bot run, alternated with the floor for one round: the plumbing of --floor as well.
        command += ["--floor", "--rounds", "1"]
    done = subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True, timeout=RUN_TIMEOUT_S)
    assert done.returncode == 0, done.stderr[-4000:]
    result = json.loads(out.read_text())
    if provider == "apiframe":
        floor = _check_floor(result, done.stderr)
        result = result["bot"]
        assert floor["jobs_per_s"] > 0  # paced to the bot's own rate, and it kept up

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
    # The benchmark's own bookkeeping: every interaction answered in time, no ref sent twice, every job ended.
    assert result["ack_late"] == 0 and result["submitted_twice"] == 0 and result["jobs_unended"] == 0
    assert 0 <= result["loop_lag_ms_p99"] <= result["loop_lag_ms_max"]
    assert "smallest gap between two edits" in done.stderr
    # Everything it started is gone: the bot's, the floor's and the simulator's processes no longer exist.
    pids = [int(p) for p in re.findall(r"pid (\d+)", done.stderr)]
    assert len(pids) == (3 if provider != "local" else 1), done.stderr
    assert not [p for p in pids if Path(f"/proc/{p}").exists()]


def _check_floor(result: dict[str, Any], stderr: str) -> dict[str, Any]:
    """The --floor document: medians for both sides, ratios of the compared figures, one round."""
    assert set(result) == {"bot", "floor", "ratio", "rounds"}
    assert list(result["floor"]) == list(FIELDS) and set(result["ratio"]) == set(COMPARED)
    assert len(result["rounds"]) == 1 and result["rounds"][0]["pace"] > 0
    floor = result["floor"]
    assert floor["completed"] == floor["jobs"] == 10, stderr[-4000:]
    assert floor["discord_calls_per_job"] == 2  # the callback and the one edit
    assert floor["ack_late"] == 0 and floor["discord_429"] == 0
    # What only the bot has (a provider, a database) is null for the floor, not zero.
    assert floor["submitted_twice"] is None and floor["done_to_edit_ms_p50"] is None
    for name in COMPARED:
        assert result["ratio"][name] is None or result["ratio"][name] > 0, name
    assert "median over 1 rounds" in stderr
    return floor


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
    # The bot's own functions, inclusive; the entry point is not one of them.
    assert profile_hot_spots(raw) == {"_submit (bot/core/engine.py)": 20.0}


def test_done_to_edit_ends_at_the_edit_carrying_the_image() -> None:
    def entry(seq: int, files: list[str]) -> dict[str, object]:
        return {"seq": seq, "method": "PATCH", "path": "/api/v10/webhooks/1/tok/messages/77", "status": 200,
                "files": files, "t_mono": float(seq), "t_wall": 100.0 + seq}  # fmt: skip

    # A progress edit, the result (with its image), then a restyle of the buttons after a press.
    chain = edits_by_message([entry(1, []), entry(2, ["grid.png"]), entry(5, [])])["77"]
    assert next(e for e in chain if e["files"] and e["t_wall"] >= 101.5)["seq"] == 2


def test_loop_lag_probe_sees_a_stall(tmp_path: Path) -> None:
    def block(seconds: float) -> None:
        """A callback that keeps the loop busy: the probe's next turn comes that much late."""
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            pass

    loop = asyncio.new_event_loop()
    try:
        probe = LagProbe(loop)
        probe.start()
        started = time.monotonic()
        loop.call_later(0.05, block, 0.08)
        loop.run_until_complete(asyncio.sleep(0.2))
    finally:
        loop.close()
    out = tmp_path / "lag.json"
    out.write_text(json.dumps({"samples": probe.samples()}))
    p99, worst = lag_figures(out, started, time.monotonic())
    assert worst is not None and worst >= 50 and p99 is not None and p99 <= worst
    assert lag_figures(out, 0.0, 1.0) == (None, None)  # nothing in that window
    assert lag_figures(tmp_path / "missing.json", 0.0, 1.0) == (None, None)


def test_several_processes_need_postgres(capsys: pytest.CaptureFixture[str]) -> None:
    from bench.load import main

    with pytest.raises(SystemExit):
        main(["--processes", "2"])
    assert "--database postgres" in capsys.readouterr().err
