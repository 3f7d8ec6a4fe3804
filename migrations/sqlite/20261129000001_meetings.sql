-- Every meeting roomgate has been asked for. Ids are hyphenated lowercase UUID text and times
-- fixed-width RFC 3339 UTC text (2026-12-01T05:00:00.000000Z), so text order is time order.
CREATE TABLE meetings (
    id               TEXT PRIMARY KEY NOT NULL,
    room_id          TEXT UNIQUE,
    kind             TEXT NOT NULL CHECK (kind IN ('permanent', 'scheduled', 'adhoc')),
    name             TEXT NOT NULL,
    description      TEXT,
    owner_ref        TEXT NOT NULL,
    embed            TEXT NOT NULL CHECK (embed IN ('lite', 'premium')),
    starts_at        TEXT,
    ends_at          TEXT,
    joinable_from    TEXT,
    duration_minutes INTEGER CHECK (duration_minutes BETWEEN 1 AND 1440),
    settings         TEXT NOT NULL CHECK (json_valid(settings)),
    state            TEXT NOT NULL CHECK (state IN ('provisioning', 'active', 'failed', 'deleted')),
    failure          TEXT,
    created_at       TEXT NOT NULL,
    updated_at       TEXT NOT NULL,
    deleted_at       TEXT,
    CHECK ((kind = 'scheduled') = (starts_at IS NOT NULL AND duration_minutes IS NOT NULL))
);

CREATE INDEX meetings_state_id ON meetings (state, id DESC);
CREATE INDEX meetings_owner_id ON meetings (owner_ref, id DESC);
CREATE INDEX meetings_kind_id ON meetings (kind, id DESC);
CREATE INDEX meetings_starts_at ON meetings (starts_at) WHERE starts_at IS NOT NULL;
CREATE INDEX meetings_created_at ON meetings (created_at);
