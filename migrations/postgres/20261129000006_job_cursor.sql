-- Where a job that works through rows a batch at a time (the sweeper's check of open ad-hoc
-- meetings) goes on from, so every row is reached within a bounded number of runs, on any
-- replica.
ALTER TABLE leases ADD COLUMN cursor text;
-- The sweeper walks open ad-hoc meetings by id.
CREATE INDEX meetings_open_adhoc ON meetings (id) WHERE state = 'active' AND kind = 'adhoc' AND ended_at IS NULL;
-- ...and ends scheduled meetings past their end, oldest end first.
CREATE INDEX meetings_scheduled_ends ON meetings (ends_at) WHERE state = 'active' AND kind = 'scheduled' AND ended_at IS NULL;
