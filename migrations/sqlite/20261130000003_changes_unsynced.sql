-- A change whose outcome at EnableX is unknown (EnableX timed out, the connection broke, the
-- process died, the row could not be written after EnableX took the change) may have left
-- EnableX holding other values than the row. Taking a change's hold marks the row with the
-- hold's token (`unsynced_by`, write-ahead, so a process killed mid-change leaves the mark), the
-- time it was first marked (`unsynced_since`) and the time of its latest unknown outcome
-- (`unsynced_at`). Writing the change clears its own mark, and so does EnableX refusing
-- it outright; otherwise the mark stays until the reconciler, a grace period after
-- `unsynced_at`, has pushed the row's values to EnableX again. The index holds only marked rows.
ALTER TABLE meetings ADD COLUMN unsynced_by TEXT;
ALTER TABLE meetings ADD COLUMN unsynced_at TEXT;
ALTER TABLE meetings ADD COLUMN unsynced_since TEXT;
CREATE INDEX meetings_unsynced ON meetings (unsynced_at) WHERE unsynced_by IS NOT NULL;
