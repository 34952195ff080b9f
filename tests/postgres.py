"""The tests' PostgreSQL server: bot/devtools/postgres.py, shared with the load benchmark."""

from bot.devtools.postgres import INSTALL_HINT, PostgresServer, find_bindir

__all__ = ["INSTALL_HINT", "PostgresServer", "find_bindir"]
