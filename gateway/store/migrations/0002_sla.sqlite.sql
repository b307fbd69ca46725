-- creditgw schema v2 (SQLite): the sync SLA and the expiry sweep.
-- repair_targets.due_on: the last working day (Beijing time, ISO date text) on which the target is
-- in time; due_estimated: 1 when the working-day calendar had no data for a year it counted.
ALTER TABLE repair_targets ADD COLUMN due_on TEXT;
ALTER TABLE repair_targets ADD COLUMN due_estimated INTEGER NOT NULL DEFAULT 0;
-- Outstanding targets past their deadline (the overdue gauge).
CREATE INDEX repair_targets_due ON repair_targets (status, due_on);
-- The expiry sweep walks published records in record_id order (keyset pagination).
CREATE INDEX records_published ON records (record_id) WHERE status = 'published';
