-- creditgw schema v13 (SQLite): when a record was collected, as its owner system stamps its row
-- (信用中国 SJC, GSXT's change time) at the gateway's first sighting of it; NULL for records created
-- before this column or by a decision. Timeliness of collection (gateway/quality.py) measures the
-- decision date against it: at go-live `created_at` is the go-live day for every stock record.
ALTER TABLE records ADD COLUMN collected_at TEXT;
