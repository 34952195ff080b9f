-- The job table: one row per provider request, an /imagine or a button press.
CREATE TABLE jobs (
    id                TEXT PRIMARY KEY,
    user_id           INTEGER NOT NULL,
    guild_id          INTEGER,
    channel_id        INTEGER NOT NULL,
    message_id        INTEGER,
    interaction_token TEXT,
    token_expires_at  TEXT,
    provider          TEXT NOT NULL,
    account           TEXT,
    provider_job_id   TEXT,
    provider_data     TEXT NOT NULL DEFAULT '{}',
    parent_id         TEXT REFERENCES jobs (id),
    action            TEXT NOT NULL,
    prompt            TEXT NOT NULL,
    prompt_final      TEXT NOT NULL,
    params            TEXT NOT NULL DEFAULT '{}',
    image_urls_in     TEXT NOT NULL DEFAULT '[]',
    status            TEXT NOT NULL,
    progress          INTEGER NOT NULL DEFAULT 0,
    preview_url       TEXT,
    grid_url          TEXT,
    image_urls        TEXT NOT NULL DEFAULT '[]',
    actions           TEXT NOT NULL DEFAULT '[]',
    error             TEXT,
    error_detail      TEXT,
    attempts          INTEGER NOT NULL DEFAULT 0,
    upload_limit      INTEGER,
    delivered         INTEGER NOT NULL DEFAULT 0,
    created_at        TEXT NOT NULL,
    updated_at        TEXT NOT NULL,
    submit_started_at TEXT,
    submitted_at      TEXT,
    last_progress_at  TEXT,
    finished_at       TEXT
);

-- A double-pressed button yields one child job.
CREATE UNIQUE INDEX jobs_parent_action ON jobs (parent_id, action) WHERE parent_id IS NOT NULL;
-- Webhooks and polls map back to a job by the provider's id; one job per provider id.
CREATE UNIQUE INDEX jobs_provider_job ON jobs (provider, provider_job_id) WHERE provider_job_id IS NOT NULL;
-- Start-up resume and the watchdog read only the unfinished jobs.
CREATE INDEX jobs_unfinished ON jobs (status) WHERE status IN ('queued', 'submitted', 'running');
-- Finished jobs whose final message edit has not landed yet, redone at start.
CREATE INDEX jobs_undelivered ON jobs (finished_at) WHERE delivered = 0;
-- Member history, quotas and per-member concurrency.
CREATE INDEX jobs_user_created ON jobs (user_id, created_at);
-- Moderator oversight and statistics per guild.
CREATE INDEX jobs_guild_created ON jobs (guild_id, created_at);

-- Provider accounts the engine has taken out of service, until a moderator resets them.
CREATE TABLE provider_accounts (
    provider     TEXT NOT NULL,
    name         TEXT NOT NULL,
    paused       INTEGER NOT NULL DEFAULT 0,
    pause_reason TEXT,
    pause_detail TEXT,
    paused_at    TEXT,
    PRIMARY KEY (provider, name)
);
