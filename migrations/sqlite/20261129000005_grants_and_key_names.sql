-- Every moderator URL, moderator link and moderator token handed out: to whom and when. Kept as
-- long as the meeting's row (which is never deleted, only marked deleted).
CREATE TABLE moderator_grants (
    id         TEXT PRIMARY KEY NOT NULL,
    meeting_id TEXT NOT NULL REFERENCES meetings (id) ON DELETE CASCADE,
    caller     TEXT NOT NULL,
    what       TEXT NOT NULL CHECK (what IN ('url', 'link', 'token')),
    at         TEXT NOT NULL
);
CREATE INDEX moderator_grants_meeting_at ON moderator_grants (meeting_id, at);

-- A key name names one identity for good: a new key may take a name only by rotation
-- (`roomgate keys rotate`), never by creation after the old key was revoked. During a
-- rotation's grace period two keys of one name are live, so the old per-name index goes.
CREATE TABLE key_names (
    name       TEXT PRIMARY KEY NOT NULL,
    created_at TEXT NOT NULL
);
INSERT INTO key_names (name, created_at)
    SELECT name, min(created_at) FROM api_keys GROUP BY name;
DROP INDEX api_keys_live_name;
CREATE INDEX api_keys_name ON api_keys (name);
