"""``imagine-bot playground`` as a process tree: it starts, says where, and leaves nothing behind."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from bot.devtools.playground import bot_environment
from tests.helpers import blocking, wait_until

from .support import Playground, pid_alive

pytestmark = pytest.mark.timeout(60)


def test_ctrl_c_stops_the_bot_too(tmp_path: Path) -> None:
    playground = Playground(tmp_path, "--step-seconds", "0")
    try:
        playground.wait_for(r"^Ready: the bot is online with \d+ command")
        state = playground.state()
        assert any(c["name"] == "imagine" for c in state["commands"]["guilds"][state["guilds"][0]["id"]])
        assert (tmp_path / "data" / "imagine-bot.db").exists()
        # Only the playground gets the signal: stopping the bot is its job, not the terminal's.
        playground.signal(signal.SIGINT)
        assert playground.process.wait(20) == 0
        blocking(wait_until(lambda: not pid_alive(playground.bot_pid), 5, "the bot to exit"))
        with pytest.raises(httpx.TransportError):
            httpx.get(playground.url + "/_control/state", timeout=2)
    finally:
        playground.kill_all()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the parent-death signal is Linux's")
def test_a_killed_playground_takes_its_bot_with_it(tmp_path: Path) -> None:
    playground = Playground(tmp_path, "--step-seconds", "0")
    try:
        playground.wait_for(r"^Ready: ")
        playground.signal(signal.SIGKILL)  # no clean-up code runs in the playground
        playground.process.wait(5)
        blocking(wait_until(lambda: not pid_alive(playground.bot_pid), 15, "the orphaned bot to exit"))
    finally:
        playground.kill_all()


def test_a_busy_port_is_one_clear_line(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        done = subprocess.run(
            [sys.executable, "-m", "bot", "playground", "--port", str(port), "--data-dir", str(tmp_path / "d")],
            capture_output=True,
            text=True,
            timeout=30,
        )
    assert done.returncode == 2
    assert f"cannot listen on 127.0.0.1:{port}" in done.stderr and "--port" in done.stderr
    assert not (tmp_path / "d").exists()  # nothing was started


def test_the_bot_gets_none_of_the_callers_settings(tmp_path: Path) -> None:
    caller = {
        "PATH": "/usr/bin",
        "DISCORD_TOKEN": "a-real-token",
        "PROVIDER": "thenextleg",
        "THENEXTLEG_API_KEY": "secret",
        "webhook_enabled": "true",
        "PROVIDER_ACCOUNTS": "[]",
        "DATABASE_PATH": "/var/lib/prod.db",
    }
    env = bot_environment(
        caller,
        api_base="http://127.0.0.1:1/api/v10",
        gateway_url="ws://127.0.0.1:1/gateway",
        token="local-bot-token",
        guild_id="2",
        data_dir=tmp_path,
        step=1.0,
    )
    assert env["PATH"] == "/usr/bin"
    assert env["DISCORD_TOKEN"] == "local-bot-token" and env["PROVIDER"] == "local"
    assert env["DATABASE_PATH"] == str(tmp_path / "imagine-bot.db")
    assert "THENEXTLEG_API_KEY" not in env and "webhook_enabled" not in env and "PROVIDER_ACCOUNTS" not in env
    assert env["WEBHOOK_ENABLED"] == "false" and env["LOCAL_STEP_SECONDS"] == "1.0"
