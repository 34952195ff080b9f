-- Several bot processes on one PostgreSQL database (issue 13). On SQLite, one process: owner stays NULL
-- and the two tables stay empty.

-- The process working on a job: the one that took it in, or the one that took it over from a process
-- that died. NULL: no process in particular (a job from before this migration).
ALTER TABLE jobs ADD COLUMN owner TEXT;
CREATE INDEX jobs_owner ON jobs (owner) WHERE owner IS NOT NULL;

-- Each running process and its lease, renewed while it lives; once lease_until (seconds since the epoch,
-- on the database's clock) has passed, another process takes its jobs over.
CREATE TABLE bot_processes (
    id          TEXT PRIMARY KEY,
    lease_until DOUBLE PRECISION NOT NULL,
    started_at  TEXT NOT NULL
);

-- Provider callbacks that reached a process other than their job's owner, kept until the owner applies them.
CREATE TABLE webhook_inbox (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    job_id      TEXT NOT NULL,
    provider    TEXT NOT NULL,
    headers     TEXT NOT NULL,
    body        TEXT NOT NULL,
    received_at TEXT NOT NULL
);
CREATE INDEX webhook_inbox_job ON webhook_inbox (job_id);
