-- creditgw schema v1 (PostgreSQL).
CREATE TABLE records (
    record_id TEXT NOT NULL PRIMARY KEY,
    category TEXT NOT NULL,
    authority_code TEXT NOT NULL,
    document_number TEXT NOT NULL,
    subject_code TEXT,
    subject_name TEXT NOT NULL,
    facts TEXT NOT NULL,
    facts_fingerprint TEXT NOT NULL,
    status TEXT NOT NULL,
    reason TEXT,
    version INTEGER NOT NULL,
    decided_by TEXT NOT NULL,
    decided_at TIMESTAMPTZ NOT NULL,
    authoritative INTEGER NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL
);
CREATE UNIQUE INDEX records_identity ON records (category, authority_code, document_number);
CREATE INDEX records_subject ON records (subject_code);

CREATE TABLE links (
    record_id TEXT NOT NULL,
    system TEXT NOT NULL,
    native_id TEXT,
    written_version INTEGER,
    written_status TEXT,
    written_reason TEXT,
    written_at TIMESTAMPTZ,
    seen_status TEXT,
    seen_reason TEXT,
    seen_source_version TEXT,
    seen_at TIMESTAMPTZ,
    PRIMARY KEY (record_id, system)
);

CREATE TABLE inbox (
    system TEXT NOT NULL,
    change_key TEXT NOT NULL,
    record_id TEXT,
    outcome TEXT NOT NULL,
    received_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (system, change_key)
);

CREATE TABLE outbox (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    record_id TEXT NOT NULL,
    target TEXT NOT NULL,
    version INTEGER NOT NULL,
    state_status TEXT NOT NULL,
    state_reason TEXT,
    state_decided_at TIMESTAMPTZ NOT NULL,
    idempotency_key TEXT NOT NULL,
    repair_id TEXT,
    status TEXT NOT NULL,
    attempts INTEGER NOT NULL,
    next_attempt_at TIMESTAMPTZ NOT NULL,
    lease_owner TEXT,
    lease_expires_at TIMESTAMPTZ,
    last_error TEXT,
    dead_context TEXT,
    replays INTEGER NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL,
    finished_at TIMESTAMPTZ
);
CREATE UNIQUE INDEX outbox_one_pending ON outbox (record_id, target) WHERE status = 'pending';
CREATE UNIQUE INDEX outbox_one_in_flight ON outbox (record_id, target) WHERE status = 'in_flight';
CREATE INDEX outbox_due ON outbox (status, next_attempt_at);
CREATE INDEX outbox_record_target ON outbox (record_id, target);
CREATE INDEX outbox_lease ON outbox (lease_expires_at) WHERE status = 'in_flight';

CREATE TABLE repairs (
    repair_id TEXT NOT NULL PRIMARY KEY,
    record_id TEXT NOT NULL,
    action TEXT NOT NULL,
    source TEXT NOT NULL,
    decided_by TEXT NOT NULL,
    decided_at TIMESTAMPTZ NOT NULL,
    accepted_at TIMESTAMPTZ NOT NULL,
    version INTEGER,
    outcome TEXT NOT NULL
);
CREATE INDEX repairs_record ON repairs (record_id);

CREATE TABLE repair_targets (
    repair_id TEXT NOT NULL,
    target TEXT NOT NULL,
    outbox_id BIGINT,
    status TEXT NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL,
    delivered_at TIMESTAMPTZ,
    last_error TEXT,
    PRIMARY KEY (repair_id, target)
);
CREATE INDEX repair_targets_outbox ON repair_targets (outbox_id);

CREATE TABLE audit (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    record_id TEXT NOT NULL,
    at TIMESTAMPTZ NOT NULL,
    kind TEXT NOT NULL,
    actor TEXT NOT NULL,
    before_state TEXT,
    before_version INTEGER,
    after_state TEXT,
    after_version INTEGER,
    detail TEXT NOT NULL
);
CREATE INDEX audit_record ON audit (record_id, id);

CREATE TABLE cursors (
    system TEXT NOT NULL,
    feed TEXT NOT NULL,
    position TEXT NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (system, feed)
);

CREATE TABLE idempotency (
    client TEXT NOT NULL,
    key TEXT NOT NULL,
    request_hash TEXT NOT NULL,
    state TEXT NOT NULL,
    response_status INTEGER,
    response_body TEXT,
    created_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (client, key)
);
