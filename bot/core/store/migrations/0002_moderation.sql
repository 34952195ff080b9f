-- Moderation and member self-service: banned words, sanctions, limits, settings and the audit trail.

-- One row per guild that changed anything; a guild without a row uses the defaults in bot.moderation.
CREATE TABLE mod_guild_config (
    guild_id             INTEGER PRIMARY KEY,
    daily_quota          INTEGER NOT NULL DEFAULT 0,
    max_concurrent       INTEGER NOT NULL DEFAULT 0,
    cooldown_s           INTEGER NOT NULL DEFAULT 0,
    button_policy        TEXT NOT NULL DEFAULT 'anyone',
    moderator_role_id    INTEGER,
    audit_channel_id     INTEGER,
    use_default_words    INTEGER NOT NULL DEFAULT 1,
    strike_limit         INTEGER NOT NULL DEFAULT 3,
    strike_block_minutes INTEGER NOT NULL DEFAULT 60,
    updated_at           TEXT NOT NULL
);

-- Banned phrases and regexes a guild's moderators added; the unique key also serves the per-guild read.
CREATE TABLE mod_words (
    id       INTEGER PRIMARY KEY AUTOINCREMENT,
    guild_id INTEGER NOT NULL,
    kind     TEXT NOT NULL CHECK (kind IN ('phrase', 'regex')),
    term     TEXT NOT NULL,
    added_by INTEGER NOT NULL,
    added_at TEXT NOT NULL,
    UNIQUE (guild_id, kind, term)
);

-- Members barred from the bot in a guild; banned_by 0 is the automatic escalation. NULL expires_at: until lifted.
CREATE TABLE mod_bans (
    guild_id   INTEGER NOT NULL,
    user_id    INTEGER NOT NULL,
    reason     TEXT,
    banned_by  INTEGER NOT NULL,
    created_at TEXT NOT NULL,
    expires_at TEXT,
    PRIMARY KEY (guild_id, user_id)
);

-- Every blocked prompt, counted for the escalation to a timed block.
CREATE TABLE mod_strikes (
    id       INTEGER PRIMARY KEY AUTOINCREMENT,
    guild_id INTEGER NOT NULL,
    user_id  INTEGER NOT NULL,
    term     TEXT NOT NULL,
    at       TEXT NOT NULL
);
-- A member's strikes in the last day (escalation) ...
CREATE INDEX mod_strikes_member ON mod_strikes (guild_id, user_id, at);
-- ... and the guild's (statistics).
CREATE INDEX mod_strikes_guild ON mod_strikes (guild_id, at);

-- Role-based overrides of the guild's limits; NULL inherits the guild's value.
CREATE TABLE mod_role_limits (
    guild_id       INTEGER NOT NULL,
    role_id        INTEGER NOT NULL,
    daily_quota    INTEGER,
    max_concurrent INTEGER,
    cooldown_s     INTEGER,
    PRIMARY KEY (guild_id, role_id)
);

-- Channels where the bot takes jobs; a guild with none takes them everywhere.
CREATE TABLE mod_channels (
    guild_id   INTEGER NOT NULL,
    channel_id INTEGER NOT NULL,
    PRIMARY KEY (guild_id, channel_id)
);

-- A member's own defaults, the same in every guild (like Midjourney's /settings).
CREATE TABLE member_settings (
    user_id      INTEGER PRIMARY KEY,
    aspect       TEXT,
    suffix       TEXT NOT NULL DEFAULT '',
    dm_on_finish INTEGER NOT NULL DEFAULT 0,
    updated_at   TEXT NOT NULL
);

-- The audit trail: every moderator action, every automatic sanction, every blocked prompt and every job's end.
CREATE TABLE mod_audit (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    guild_id       INTEGER NOT NULL,
    at             TEXT NOT NULL,
    actor_id       INTEGER NOT NULL,
    action         TEXT NOT NULL,
    target_user_id INTEGER,
    job_id         TEXT,
    detail         TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX mod_audit_guild ON mod_audit (guild_id, at);
-- What happened to one job (was its message deleted by a moderator?).
CREATE INDEX mod_audit_job ON mod_audit (job_id, action) WHERE job_id IS NOT NULL;
-- A job's end is recorded (and posted to the audit channel) once, even when its event is replayed at start.
CREATE UNIQUE INDEX mod_audit_job_end ON mod_audit (job_id) WHERE action = 'job_finished';

-- Quota and cooldown: a member's jobs in a guild since a moment; also /mod jobs filtered by member.
CREATE INDEX jobs_guild_user_created ON jobs (guild_id, user_id, created_at);
-- Concurrency: a member's unfinished jobs in a guild.
CREATE INDEX jobs_member_unfinished ON jobs (guild_id, user_id) WHERE status IN ('queued', 'submitted', 'running');
-- /mod jobs filtered by status.
CREATE INDEX jobs_guild_status_created ON jobs (guild_id, status, created_at);
