-- creditgw schema v5 (PostgreSQL): one lock row per record, and idempotency keys that expire.
-- record_locks: the row every unit that plans a record, or changes its links or outbox, locks
-- first (docs/adr/0012-a-lock-row-per-record.md). It exists before the record does (a first
-- sighting locks it too), so two units creating one record wait on each other. On SQLite
-- BEGIN IMMEDIATE already serialises writers; the same statements run so both stores take one path.
CREATE TABLE record_locks (
    record_id TEXT NOT NULL PRIMARY KEY
);
INSERT INTO record_locks (record_id) SELECT record_id FROM records;
-- Retention purges stored responses by age (CREDITGW_IDEMPOTENCY_RETENTION_DAYS).
CREATE INDEX idempotency_created ON idempotency (created_at);
