-- Who created each meeting (the authenticated caller: key:<name> or user:<subject>).
ALTER TABLE meetings ADD COLUMN created_by text NOT NULL DEFAULT 'anonymous';
-- The API lists a caller's own meetings by state, newest first: one index serves it in order.
CREATE INDEX meetings_created_by_state_id ON meetings (created_by, state, id DESC);

-- API keys. Only a SHA-256 of each key's secret part is kept.
CREATE TABLE api_keys (
    id          text PRIMARY KEY,            -- the key's public id (rg_<id>_<secret>)
    name        text NOT NULL,
    secret_hash text NOT NULL,
    admin       boolean NOT NULL DEFAULT false,
    created_at  timestamptz NOT NULL,
    revoked_at  timestamptz
);
-- A name names one live key; revoked keys keep theirs for the record.
CREATE UNIQUE INDEX api_keys_live_name ON api_keys (name) WHERE revoked_at IS NULL;
