-- Every moderator URL, moderator link and moderator token handed out: to whom and when. Kept as
-- long as the meeting's row (which is never deleted, only marked deleted).
CREATE TABLE moderator_grants (
    id         uuid PRIMARY KEY,
    meeting_id uuid NOT NULL REFERENCES meetings (id) ON DELETE CASCADE,
    caller     text NOT NULL,                -- the caller's identity (key:<name>, user:<subject>)
    what       text NOT NULL CHECK (what IN ('url', 'link', 'token')),
    at         timestamptz NOT NULL
);
CREATE INDEX moderator_grants_meeting_at ON moderator_grants (meeting_id, at);

-- A key name names one identity for good: a new key may take a name only by rotation
-- (`roomgate keys rotate`), never by creation after the old key was revoked. During a
-- rotation's grace period two keys of one name are live, so the old per-name index goes.
CREATE TABLE key_names (
    name       text PRIMARY KEY,
    created_at timestamptz NOT NULL
);
INSERT INTO key_names (name, created_at)
    SELECT name, min(created_at) FROM api_keys GROUP BY name;
DROP INDEX api_keys_live_name;
CREATE INDEX api_keys_name ON api_keys (name);
