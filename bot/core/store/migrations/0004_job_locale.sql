-- The server's language when the job was made (Discord's guild_locale, e.g. "de", "ja", "en-US"), so the
-- job's public message is drawn in it by the presenter and after a restart. NULL: English.
ALTER TABLE jobs ADD COLUMN locale TEXT;
