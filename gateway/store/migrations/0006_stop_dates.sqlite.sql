-- creditgw schema v6 (SQLite): the day a stop took effect as the stopping system stated it
-- (信用中国 ZZRQ, GSXT stopDate / remDate), ISO date text; NULL when the stop's own decision dates it
-- (API decisions, the expiry sweep) or for a published state. Written as the other systems'
-- 终止日期 (ZZRQ / stopDate), never a feed timestamp (issue 10 item 5).
ALTER TABLE records ADD COLUMN stopped_on TEXT;
ALTER TABLE outbox ADD COLUMN state_stopped_on TEXT;
