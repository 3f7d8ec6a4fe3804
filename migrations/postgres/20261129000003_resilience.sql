-- When a meeting was found to be over (a scheduled one past its end, an ad-hoc one whose room
-- EnableX removed after its session).
ALTER TABLE meetings ADD COLUMN ended_at timestamptz;
CREATE INDEX meetings_provisioning ON meetings (created_at) WHERE state = 'provisioning';

-- The first answer to each (caller, Idempotency-Key) pair, replayed to retries.
CREATE TABLE idempotency_keys (
    caller       text NOT NULL,
    key          text NOT NULL,
    request_hash text NOT NULL,                 -- SHA-256 of the request body as JSON
    meeting_id   uuid NOT NULL,
    status       integer,                       -- null while the first request is in flight
    body         text,
    created_at   timestamptz NOT NULL,
    expires_at   timestamptz NOT NULL,
    PRIMARY KEY (caller, key)
);
CREATE INDEX idempotency_keys_expires_at ON idempotency_keys (expires_at);

-- Leases so that one replica at a time runs each background job.
CREATE TABLE leases (
    name   text PRIMARY KEY,
    holder text NOT NULL,
    until  timestamptz NOT NULL
);
