-- A change whose outcome at EnableX is unknown (EnableX timed out, the connection broke, the
-- process died, the row could not be written after EnableX took the change) may have left
-- EnableX holding other values than the row. Taking a change's hold marks the row with the
-- hold's token first (write-ahead); the mark goes when the change is written, or when EnableX
-- refused it outright, and otherwise stays until the reconciler has pushed the row's values to
-- EnableX again. The index holds only marked rows.
ALTER TABLE meetings ADD COLUMN unsynced_by TEXT;
CREATE INDEX meetings_unsynced ON meetings (id) WHERE unsynced_by IS NOT NULL;
