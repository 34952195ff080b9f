"""PostgreSQL's own text of a migration, where the portable one in the folder above cannot serve.

A file here named like one above (``0001_jobs.sql``) replaces it on PostgreSQL; every other migration is
run there as written, with SQLite's INTEGER read as BIGINT (bot.core.store._postgres.to_postgres).
"""
