-- creditgw schema v4 (PostgreSQL): the history of our own writes per (record, target), so that a
-- system's report is recognised as the echo of one of them by what was written, never by clocks
-- (docs/adr/0011-echoes-are-recognised-by-what-we-wrote.md). A row is added when a delivery is
-- claimed (sent), acknowledged when the system accepts it; rows older than the last write the
-- system reported back are deleted then, the rest by retention.
CREATE TABLE writes (
    record_id TEXT NOT NULL,
    system TEXT NOT NULL,
    version INTEGER NOT NULL,
    status TEXT NOT NULL,
    reason TEXT,
    digest TEXT NOT NULL,
    sent_at TIMESTAMPTZ NOT NULL,
    acked_at TIMESTAMPTZ,
    PRIMARY KEY (record_id, system, version)
);
CREATE INDEX writes_sent_at ON writes (sent_at);
-- The newest of our writes the system has reported back.
ALTER TABLE links ADD COLUMN confirmed_version INTEGER;
