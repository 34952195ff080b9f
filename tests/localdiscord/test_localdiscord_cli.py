"""``python -m localdiscord --guilds 2``: one guild per shard of a bot with two (deploy/smoke.compose.yml)."""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.request

import pytest

pytestmark = pytest.mark.timeout(60)


def test_guilds_2_puts_a_copy_of_the_seeded_guild_on_the_other_shard() -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "localdiscord", "--port", "0", "--lenient", "--guilds", "2"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert process.stdout is not None
        lines = {}
        for line in process.stdout:  # it prints five lines, then serves until stopped
            name, _, value = line.partition(":")
            lines[name] = value.strip()
            if name == "Guilds":
                break
        ids = [int(g) for g in lines["Guilds"].split(",")]
        assert sorted((g >> 22) % 2 for g in ids) == [0, 1]
        with urllib.request.urlopen(lines["Control API"] + "/state", timeout=10) as response:
            guilds = json.load(response)["guilds"]
        assert [int(g["id"]) for g in guilds] == ids
        for guild in guilds:
            assert {"general", "imagine", "audit-log"} <= {c["name"] for c in guild["channels"]}
    finally:
        process.terminate()
        process.wait(10)
        if process.stdout is not None:
            process.stdout.close()
