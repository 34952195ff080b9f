-- PostgreSQL's text of 0008_interaction_ledger.sql: the same table, and the index of the waiting jobs, which
-- only several processes read (SQLite, one process, would only pay for it on every write).

-- The interaction ledger of processes sharing a PostgreSQL database (issue 13): an /imagine or a press
-- acknowledged (or about to be) whose job is not stored yet, noted by the process that received it, so
-- that when that process dies its takeover can still answer the member's "thinking…" message
-- (bot.core.ledger, bot.core.cluster). On SQLite, one process, the table stays empty: the ledger is the
-- append-only file DATA_DIR/interactions.jsonl, which never waits for SQLite's one writer.
CREATE TABLE interaction_ledger (
    job_id   TEXT PRIMARY KEY,
    owner    TEXT NOT NULL,
    note     TEXT NOT NULL,
    noted_at TEXT NOT NULL
);
CREATE INDEX interaction_ledger_owner ON interaction_ledger (owner);

-- The jobs waiting to be sent: those handed back by their process (owner NULL) wait for any process with
-- a free slot to claim them in the fair order, and those a process holds count against the slots a claim
-- may take (bot.core.cluster.Cluster.claim).
CREATE INDEX jobs_waiting ON jobs (provider, user_id, created_at) WHERE status = 'queued' AND submit_started_at IS NULL;
