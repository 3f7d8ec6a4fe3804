ALTER TABLE meetings ADD COLUMN created_by TEXT NOT NULL DEFAULT 'anonymous';
-- The API lists a caller's own meetings by state, newest first: one index serves it in order.
CREATE INDEX meetings_created_by_state_id ON meetings (created_by, state, id DESC);

CREATE TABLE api_keys (
    id          TEXT PRIMARY KEY NOT NULL,
    name        TEXT NOT NULL,
    secret_hash TEXT NOT NULL,
    admin       INTEGER NOT NULL DEFAULT 0 CHECK (admin IN (0, 1)),
    created_at  TEXT NOT NULL,
    revoked_at  TEXT
);
CREATE UNIQUE INDEX api_keys_live_name ON api_keys (name) WHERE revoked_at IS NULL;
