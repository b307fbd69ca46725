-- creditgw schema v3 (SQLite): reminders sent to subjects before they may apply for repair.
-- One row per (record, milestone): the primary key makes a second reminder for the same milestone
-- impossible, across runs, restarts and replicas. message_id is derived from the key and sent as the
-- SMS service's messageId, so a resend after a crash is answered without a second text.
CREATE TABLE reminders (
    record_id TEXT NOT NULL,
    milestone TEXT NOT NULL,
    due_on TEXT NOT NULL,
    channel TEXT NOT NULL,
    message_id TEXT NOT NULL,
    status TEXT NOT NULL,
    attempts INTEGER NOT NULL,
    next_attempt_at TEXT NOT NULL,
    msg_id TEXT,
    last_error TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    sent_at TEXT,
    PRIMARY KEY (record_id, milestone)
);
CREATE UNIQUE INDEX reminders_message_id ON reminders (message_id);
CREATE INDEX reminders_pending ON reminders (record_id, milestone) WHERE status = 'pending';
