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
--
-- The new indexes are built first, under new names: building takes a lock that holds writes to
-- `meetings` (not reads) for as long as the builds take, seconds per million rows. Only then
-- are the old ones dropped and the new ones renamed, which needs the table to itself for a
-- moment. Waiting more than 5 s for a lock gives up, and the next start tries again.
SET LOCAL lock_timeout = '5s';
CREATE INDEX meetings_state_id_live ON meetings (state, id DESC)
    WHERE state <> 'provisioning';
CREATE INDEX meetings_created_by_state_id_live ON meetings (created_by, state, id DESC)
    WHERE state <> 'provisioning';
CREATE INDEX meetings_owner_id_live ON meetings (owner_ref, id DESC)
    WHERE state <> 'provisioning';
CREATE INDEX meetings_kind_id_live ON meetings (kind, id DESC)
    WHERE state <> 'provisioning';
CREATE INDEX meetings_created_at_live ON meetings (created_at)
    WHERE state <> 'provisioning';
CREATE UNIQUE INDEX meetings_room_id ON meetings (room_id) WHERE room_id IS NOT NULL;
DROP INDEX meetings_state_id;
DROP INDEX meetings_created_by_state_id;
DROP INDEX meetings_owner_id;
DROP INDEX meetings_kind_id;
DROP INDEX meetings_created_at;
ALTER TABLE meetings DROP CONSTRAINT meetings_room_id_key;
ALTER INDEX meetings_state_id_live RENAME TO meetings_state_id;
ALTER INDEX meetings_created_by_state_id_live RENAME TO meetings_created_by_state_id;
ALTER INDEX meetings_owner_id_live RENAME TO meetings_owner_id;
ALTER INDEX meetings_kind_id_live RENAME TO meetings_kind_id;
ALTER INDEX meetings_created_at_live RENAME TO meetings_created_at;
