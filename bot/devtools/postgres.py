"""A throwaway PostgreSQL server from Debian's ``postgresql`` package, run from a temporary directory, for the
tests (tests/conftest.py) and the load benchmark (``bench.load --database postgres``).

One server per test session or benchmark run (``initdb`` takes a second or two), on a free loopback port,
with durability off since its data dies with it; each test gets a database of its own. The server stops
when the session ends, and with the process that started it if that dies first (parent-death signal).

PostgreSQL refuses to run as root. Run as root (a CI container, this machine), the server runs as the
package's ``postgres`` user (``nobody`` without it) through util-linux's ``setpriv``; the data directory is
handed to that user.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

__all__ = ["INSTALL_HINT", "PostgresServer", "find_bindir"]

INSTALL_HINT = (
    "PostgreSQL is not installed; install Debian's package to run these tests: apt-get install postgresql"
    " (the tests start its initdb and postgres from /usr/lib/postgresql/<version>/bin themselves)"
)
# How long the server may take to accept connections after its start, on a loaded machine.
READY_WITHIN_S = 60.0
# How long a fast shutdown may take before the server is killed.
STOP_WITHIN_S = 15.0


def free_port() -> int:
    """A TCP port free on loopback right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def find_bindir() -> Path | None:
    """The newest installed PostgreSQL's binaries (Debian keeps them off PATH), or None."""
    candidates = [Path(p) for p in glob.glob("/usr/lib/postgresql/*/bin")]
    candidates = [p for p in candidates if (p / "initdb").exists() and (p / "postgres").exists()]

    def version(path: Path) -> tuple[int, ...]:
        return tuple(int(part) for part in path.parent.name.split(".") if part.isdigit())

    if candidates:
        return max(candidates, key=version)
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


def _run_as() -> list[str]:
    """The command prefix that drops root for PostgreSQL; nothing when not root."""
    if os.geteuid() != 0:
        return []
    for name in ("postgres", "nobody"):
        with contextlib.suppress(KeyError):
            pwd.getpwnam(name)
            return ["setpriv", f"--reuid={name}", f"--regid={pwd.getpwnam(name).pw_gid}", "--init-groups"]
    raise RuntimeError("running as root and neither a postgres nor a nobody user exists to run PostgreSQL")


class PostgresServer:
    def __init__(self, bindir: Path) -> None:
        self.bindir = bindir
        self.root = Path(tempfile.mkdtemp(prefix="imagine-bot-pg-"))
        self.data = self.root / "data"
        self.log = self.root / "postgres.log"
        self.port = 0
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        prefix = _run_as()
        if prefix:
            entry = pwd.getpwnam(prefix[1].split("=", 1)[1])
            os.chown(self.root, entry.pw_uid, entry.pw_gid)
        subprocess.run(
            [*prefix, str(self.bindir / "initdb"), "-D", str(self.data), "-U", "postgres", "--auth=trust",
             "--encoding=UTF8", "--no-locale", "--no-sync"],
            check=True, capture_output=True, cwd=self.root,
        )  # fmt: skip
        self.port = free_port()
        server = [
            str(self.bindir / "postgres"), "-D", str(self.data), "-p", str(self.port),
            "-c", "listen_addresses=127.0.0.1", "-c", f"unix_socket_directories={self.root}",
            # Test data dies with the session: no need to wait for the disk.
            "-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off",
            "-c", "max_connections=300",
        ]  # fmt: skip
        with open(self.log, "wb") as log:
            if prefix:
                # setpriv sets the parent-death signal after dropping root (a change of user clears it).
                command = [*prefix, "--pdeathsig=TERM", "--", *server]
                self.process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, cwd=self.root)
            else:
                self.process = subprocess.Popen(
                    server, stdout=log, stderr=subprocess.STDOUT, cwd=self.root, preexec_fn=_die_with_parent
                )
        deadline = time.monotonic() + READY_WITHIN_S
        while b"ready to accept connections" not in self.log.read_bytes():
            if self.process.poll() is not None or time.monotonic() > deadline:
                tail = self.log.read_text(errors="replace")[-2000:]
                self.stop()
                raise RuntimeError(f"PostgreSQL did not start:\n{tail}")
            time.sleep(0.05)

    @property
    def pid(self) -> int:
        """The postmaster's process id (setpriv, when it drops root, becomes the server by exec)."""
        assert self.process is not None
        return self.process.pid

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    async def create_database(self) -> str:
        """A fresh, empty place for one test's data; returns the URL that opens it.

        A schema of its own in the server's one database, which the URL makes the connection's search
        path: as isolated as a database of its own for our tables, and made in milliseconds where CREATE
        DATABASE takes half a second on a loaded machine."""
        import asyncpg

        name = f"t_{secrets.token_hex(6)}"
        conn = await asyncpg.connect(self.url())
        try:
            await conn.execute(f"CREATE SCHEMA {name}")
        finally:
            await conn.close()
        return f"{self.url()}?search_path={name}"

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)  # fast shutdown: end the sessions, then stop
            try:
                self.process.wait(STOP_WITHIN_S)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        shutil.rmtree(self.root, ignore_errors=True)


def _die_with_parent() -> None:
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    pr_set_pdeathsig = 1
    libc.prctl(pr_set_pdeathsig, signal.SIGTERM)
