-- Every answer that carries a moderator URL commits its audit row first (issue 9), so a page of
-- 50 meetings writes 50 rows. PostgreSQL checks a foreign key one row at a time, each check a
-- lookup and a share lock on the meeting's row (a write of its own), and that was a quarter of
-- the database's CPU for such a page (issue 11, docs/benchmarks.md). roomgate writes a grant only
-- for a meeting it has just read or activated, and never deletes meeting rows, so the check can
-- never fail; without it nothing cascades either: a meeting row deleted by hand keeps its grants
-- until they are deleted too (`DELETE FROM moderator_grants WHERE meeting_id = ...`).
-- The index on (meeting_id, at) still serves every lookup of a meeting's grants.
-- Dropping it locks `meetings` for a moment: on a busy database, give up (and let the next start
-- try again) rather than queue every request behind a long transaction.
SET LOCAL lock_timeout = '5s';
ALTER TABLE moderator_grants DROP CONSTRAINT IF EXISTS moderator_grants_meeting_id_fkey;
