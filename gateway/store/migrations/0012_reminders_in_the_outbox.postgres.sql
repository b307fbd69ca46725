-- creditgw schema v12 (PostgreSQL): a reminder is a delivery, an outbox row to the target 'sms'
-- (docs/adr/0029-one-plan-writer.md): leases, retries, dead letters and replay are the outbox's.
-- The reminders table stays the ledger of what was scheduled (one row per record and milestone,
-- ever), of what the SMS service answered (msg_id, sent_at) and of why one was cancelled
-- (last_error); its sending state (attempts, retries, lease, dead letter) is its outbox row's.
ALTER TABLE reminders ADD COLUMN outbox_id BIGINT;
-- Pending and dead reminders become outbox rows (as of their record's current state). One pending
-- row per (record, target) (outbox_one_pending): of two pending milestones of a record, the later one.
INSERT INTO outbox (record_id, target, version, state_status, state_reason, state_decided_at, idempotency_key,
    repair_id, status, attempts, next_attempt_at, last_error, replays, created_at, updated_at, finished_at,
    state_stopped_on)
SELECT m.record_id, 'sms', r.version, r.status, r.reason, r.decided_at, m.message_id, NULL,
    CASE WHEN m.status = 'dead' THEN 'dead' ELSE 'pending' END, m.attempts, m.next_attempt_at, m.last_error, 0,
    m.created_at, m.updated_at, CASE WHEN m.status = 'dead' THEN m.updated_at END, r.stopped_on
FROM reminders m JOIN records r ON r.record_id = m.record_id
WHERE m.status = 'dead' OR (m.status = 'pending' AND NOT EXISTS (SELECT 1 FROM reminders n
    WHERE n.record_id = m.record_id AND n.status = 'pending' AND n.milestone > m.milestone));
UPDATE reminders SET outbox_id = (SELECT o.id FROM outbox o WHERE o.target = 'sms'
    AND o.idempotency_key = reminders.message_id) WHERE status IN ('pending', 'dead');
-- What is not in the outbox now was sent (msg_id set) or cancelled (msg_id NULL; last_error: why).
UPDATE reminders SET msg_id = NULL WHERE outbox_id IS NULL AND status <> 'sent';
UPDATE reminders SET last_error = 'milestone_changed' WHERE outbox_id IS NULL AND status = 'pending';
DROP INDEX reminders_pending;
ALTER TABLE reminders DROP COLUMN status;
ALTER TABLE reminders DROP COLUMN attempts;
ALTER TABLE reminders DROP COLUMN next_attempt_at;
CREATE INDEX reminders_outbox ON reminders (outbox_id);
