ALTER TABLE meetings ADD COLUMN ended_at TEXT;
CREATE INDEX meetings_provisioning ON meetings (created_at) WHERE state = 'provisioning';

CREATE TABLE idempotency_keys (
    caller       TEXT NOT NULL,
    key          TEXT NOT NULL,
    request_hash TEXT NOT NULL,
    meeting_id   TEXT NOT NULL,
    status       INTEGER,
    body         TEXT,
    created_at   TEXT NOT NULL,
    expires_at   TEXT NOT NULL,
    PRIMARY KEY (caller, key)
);
CREATE INDEX idempotency_keys_expires_at ON idempotency_keys (expires_at);

CREATE TABLE leases (
    name   TEXT PRIMARY KEY NOT NULL,
    holder TEXT NOT NULL,
    until  TEXT NOT NULL
);
