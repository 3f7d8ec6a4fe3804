-- A list page's moderator URLs, recorded as one row: the caller, when, and every meeting whose
-- moderator URL the page carried. The same audit trail as `moderator_grants` (which still
-- holds every grant handed out alone: a create, a read, a link, a token), at a fraction of the
-- cost: one row, a primary-key entry and an index entry per meeting, instead of 50 rows and
-- 100 index entries for a page of 50. A meeting's grants are the rows naming it in both
-- tables. The GIN index is built without its pending list (`fastupdate = off`): a pending
-- list is cheaper to append to but is merged by whichever insert finds it full, which held
-- that insert (and its list answer) for seconds. Adding a table takes no lock on the others:
-- replicas of the previous release go on writing every grant into `moderator_grants`.
SET LOCAL lock_timeout = '5s';
CREATE TABLE moderator_grant_pages (
    id          uuid PRIMARY KEY,             -- UUID v7: appended in order
    caller      text NOT NULL,
    what        text NOT NULL CHECK (what IN ('url', 'link', 'token')),
    at          timestamptz NOT NULL,
    meeting_ids uuid[] NOT NULL CHECK (cardinality(meeting_ids) > 0)
);
CREATE INDEX moderator_grant_pages_meeting_ids ON moderator_grant_pages
    USING gin (meeting_ids) WITH (fastupdate = off);
