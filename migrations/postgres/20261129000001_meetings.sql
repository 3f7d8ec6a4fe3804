-- Every meeting roomgate has been asked for, including the ones whose room was never made.
CREATE TABLE meetings (
    id               uuid PRIMARY KEY,               -- UUID v7: time-ordered
    room_id          text UNIQUE,                    -- EnableX's room id, once it answered
    kind             text NOT NULL CHECK (kind IN ('permanent', 'scheduled', 'adhoc')),
    name             text NOT NULL,
    description      text,
    owner_ref        text NOT NULL,
    embed            text NOT NULL CHECK (embed IN ('lite', 'premium')),
    starts_at        timestamptz,
    ends_at          timestamptz,
    joinable_from    timestamptz,
    duration_minutes integer CHECK (duration_minutes BETWEEN 1 AND 1440),
    settings         jsonb NOT NULL,
    state            text NOT NULL CHECK (state IN ('provisioning', 'active', 'failed', 'deleted')),
    failure          text,                           -- why creation failed, for ops
    created_at       timestamptz NOT NULL,
    updated_at       timestamptz NOT NULL,
    deleted_at       timestamptz,
    CONSTRAINT meetings_schedule_only_when_scheduled
        CHECK ((kind = 'scheduled') = (starts_at IS NOT NULL AND duration_minutes IS NOT NULL))
);

-- The listing filters, each ordered the way the API pages (newest id first).
CREATE INDEX meetings_state_id ON meetings (state, id DESC);
CREATE INDEX meetings_owner_id ON meetings (owner_ref, id DESC);
CREATE INDEX meetings_kind_id ON meetings (kind, id DESC);
CREATE INDEX meetings_starts_at ON meetings (starts_at) WHERE starts_at IS NOT NULL;
CREATE INDEX meetings_created_at ON meetings (created_at);
