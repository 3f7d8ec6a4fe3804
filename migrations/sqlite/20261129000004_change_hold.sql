-- A change in flight holds its meeting: EnableX is updated only while the row is held, so two
-- concurrent changes can never leave EnableX and the record apart. A holder that dies lets go
-- at change_until.
ALTER TABLE meetings ADD COLUMN change_token TEXT;
ALTER TABLE meetings ADD COLUMN change_until TEXT;
