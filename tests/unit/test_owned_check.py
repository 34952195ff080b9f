"""``imagine-bot check`` on an owned backend: a missing node, a bad URL or a missing key in one line.

The command runs as an operator runs it (``python -m bot check``, settings in the environment) against the
ComfyUI simulator on loopback.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path

import pytest

from bot.core.errors import ConfigError
from bot.core.providers import build_accounts
from bot.core.settings import load_settings
from providersim import simulator

EXAMPLE = Path(__file__).parents[2] / "examples" / "comfyui" / "sdxl_txt2img.json"


async def _check(tmp_path: Path, **env: str) -> tuple[int, list[str]]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("DISCORD_", "PROVIDER", "COMFYUI_", "OPENAI_"))}
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", "check", cwd=tmp_path, env=base | {"DISCORD_TOKEN": "t"} | env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    _, err = await asyncio.wait_for(process.communicate(), 60)
    return int(process.returncode or 0), err.decode().strip().splitlines()


async def test_check_names_the_problem_in_one_line(tmp_path: Path) -> None:
    graph = json.loads(EXAMPLE.read_text())
    graph["3"]["class_type"] = "FancySampler"
    custom = tmp_path / "custom.json"
    custom.write_text(json.dumps(graph))
    async with simulator("comfyui") as sim:
        env = {"PROVIDER": "comfyui", "COMFYUI_BASE_URL": sim.api_base_url}
        # Three independent runs at once: each is mostly the interpreter's start, which a second core takes.
        good, (code, err), (dead_code, dead_err) = await asyncio.gather(
            _check(tmp_path, **env, COMFYUI_WORKFLOW=str(EXAMPLE)),
            _check(tmp_path, **env, COMFYUI_WORKFLOW=str(custom)),
            _check(tmp_path, PROVIDER="comfyui", COMFYUI_BASE_URL="http://127.0.0.1:9", COMFYUI_WORKFLOW=str(EXAMPLE)),
        )
    assert good == (0, [])
    assert code == 1 and len(err) == 1 and "no node FancySampler" in err[0], err
    assert dead_code == 1 and len(dead_err) == 1 and "127.0.0.1:9" in dead_err[0], dead_err


def test_missing_key_and_workflow_are_one_line(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    for name in ("OPENAI_API_KEY", "COMFYUI_WORKFLOW", "PROVIDER_ACCOUNTS"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(ConfigError, match=r"^OPENAI_API_KEY is not set"):
        build_accounts(load_settings(provider="openai"))
    with pytest.raises(ConfigError, match=r"^COMFYUI_WORKFLOW is not set"):
        build_accounts(load_settings(provider="comfyui"))
    accounts = build_accounts(load_settings(provider="a1111", failover_providers=["comfyui"],
                                            comfyui_workflow=str(EXAMPLE)))  # fmt: skip
    assert [a.provider for a in accounts] == ["a1111", "comfyui"]
    assert accounts[0].options["data_dir"] == "data" and accounts[0].base_url == "http://127.0.0.1:7860"
