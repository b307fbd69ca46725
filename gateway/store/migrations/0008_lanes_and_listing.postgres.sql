-- creditgw schema v8 (PostgreSQL): indexes for the dispatcher's per-target lanes and the operator's lists.
-- Each target's lane claims its own due deliveries (gateway/sync/dispatcher.py, ADR 0016): with
-- this index a lane reads only its target's pending rows, not every other target's backlog.
CREATE INDEX outbox_target_due ON outbox (target, next_attempt_at, id) WHERE status = 'pending';
-- GET /v1/repairs pages by (accepted_at, repair_id).
CREATE INDEX repairs_accepted ON repairs (accepted_at, repair_id);
