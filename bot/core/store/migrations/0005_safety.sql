-- The output-safety check (/mod safety). Per guild: the mode (off, spoiler, block) and the threshold;
-- NULL in either means the default, which depends on the job's provider (see bot.core.safety).
ALTER TABLE mod_guild_config ADD COLUMN safety_mode TEXT;
ALTER TABLE mod_guild_config ADD COLUMN safety_threshold REAL;
-- Per job: the check's score of the result (NULL: not checked) and whether it is posted as a spoiler.
ALTER TABLE jobs ADD COLUMN safety_score REAL;
ALTER TABLE jobs ADD COLUMN spoiler INTEGER NOT NULL DEFAULT 0;
