-- A create writes its row `provisioning`, then activates it: a new row version, since the
-- activation sets indexed columns (`state`, `room_id`). Every index held an entry for the
-- provisioning version too, dead a moment later, so each create made about fifteen index
-- entries and the indexes filled with dead ones that every insert had to step over (one
-- INSERT touched ~200 pages; the activation's plan walked thousands of dead entries). No query
-- these indexes serve looks for provisioning rows (the lists name their state as a literal,
-- `state = 'active'`, which implies the predicate; provisioning rows are found through
-- `meetings_provisioning`), so they leave those rows out. The unique room id ignores the
-- empty ids of rows without a room, as the constraint did (NULLs never conflict).
-- Measured: PostgreSQL's CPU per create 160-190 -> 131-139 us, creates at 64 clients
-- 1.54-1.82x -> 1.72-1.89x the two-write reference (docs/benchmarks.md).
-- Rebuilding the indexes holds writes to `meetings` for as long as the builds take: seconds per
-- million rows.
SET LOCAL lock_timeout = '5s';
DROP INDEX meetings_state_id;
CREATE INDEX meetings_state_id ON meetings (state, id DESC) WHERE state <> 'provisioning';
DROP INDEX meetings_created_by_state_id;
CREATE INDEX meetings_created_by_state_id ON meetings (created_by, state, id DESC)
    WHERE state <> 'provisioning';
DROP INDEX meetings_owner_id;
CREATE INDEX meetings_owner_id ON meetings (owner_ref, id DESC) WHERE state <> 'provisioning';
DROP INDEX meetings_kind_id;
CREATE INDEX meetings_kind_id ON meetings (kind, id DESC) WHERE state <> 'provisioning';
DROP INDEX meetings_created_at;
CREATE INDEX meetings_created_at ON meetings (created_at) WHERE state <> 'provisioning';
ALTER TABLE meetings DROP CONSTRAINT meetings_room_id_key;
CREATE UNIQUE INDEX meetings_room_id ON meetings (room_id) WHERE room_id IS NOT NULL;
