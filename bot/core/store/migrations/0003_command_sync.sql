-- Small facts the bot keeps about itself between starts, one value per key. The first: a hash of the
-- slash commands last synced to each target ("commands:global", "commands:guild:<id>"), so that a start
-- with an unchanged command tree writes nothing to Discord, which rate-limits command writes.
CREATE TABLE bot_state (
    key        TEXT PRIMARY KEY,
    value      TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
