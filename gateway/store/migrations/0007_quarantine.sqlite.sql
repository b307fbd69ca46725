-- creditgw schema v7 (SQLite): inbound rows the gateway cannot map or must not apply (issue 10 item 9).
-- One row per (system, change): a feed re-reading the change finds it there. `raw` is the change as
-- read, with secrets and personal ID numbers masked (gateway/quarantine.py); `retry` re-maps it.
CREATE TABLE quarantine (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    system TEXT NOT NULL,
    change_key TEXT NOT NULL,
    kind TEXT NOT NULL,
    reason TEXT NOT NULL,
    field TEXT,
    message TEXT NOT NULL,
    raw TEXT NOT NULL,
    status TEXT NOT NULL,
    record_id TEXT,
    retries INTEGER NOT NULL,
    outcome TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    resolved_at TEXT
);
CREATE UNIQUE INDEX quarantine_change ON quarantine (system, change_key);
CREATE INDEX quarantine_open ON quarantine (system, reason) WHERE status = 'open';
