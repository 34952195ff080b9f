-- Vary (Region)'s editor (issue 11): each signed link makes at most one job. Its nonce is written here in
-- the transaction that stores that job, so the primary key refuses a second use from any process.
CREATE TABLE editor_links_used (
    nonce      TEXT PRIMARY KEY,
    member_id  INTEGER NOT NULL,
    job_id     TEXT NOT NULL,
    child_id   TEXT NOT NULL,
    used_at    TEXT NOT NULL
);
-- A picture may be varied by region many times (a new mask each time), as Midjourney allows; every other
-- button still makes one job per image, the key a double press meets. Each Vary (Region) is one link's job.
DROP INDEX jobs_parent_action;
CREATE UNIQUE INDEX jobs_parent_action ON jobs (parent_id, action) WHERE parent_id IS NOT NULL AND action <> 'vary_region';
