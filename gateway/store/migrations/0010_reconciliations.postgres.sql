-- creditgw schema v10 (PostgreSQL): reconciliation runs, their per-pair progress and findings
-- (issue 13, docs/adr/0022), and the once-per-slot lease of scheduled jobs (gateway/schedule.py).
-- A run is held by one process at a time (lease_owner, lease_until): a run whose holder died is
-- taken over and resumed from each pair's checkpoint.
CREATE TABLE reconcile_runs (
    run_id TEXT NOT NULL PRIMARY KEY,
    mode TEXT NOT NULL,
    scope TEXT NOT NULL,
    status TEXT NOT NULL,
    origin TEXT NOT NULL,
    started_at TIMESTAMPTZ NOT NULL,
    finished_at TIMESTAMPTZ,
    lease_owner TEXT,
    lease_until TIMESTAMPTZ,
    findings INTEGER NOT NULL,
    heals INTEGER NOT NULL,
    error TEXT
);
CREATE INDEX reconcile_runs_started ON reconcile_runs (started_at, run_id);
CREATE INDEX reconcile_runs_unfinished ON reconcile_runs (scope, mode) WHERE status = 'running';
-- One row per (run, category, owner, mirror): rows read per side, findings by kind (JSON), heals
-- sent, and the checkpoint (the last identity key whose findings are stored) written in the same
-- transaction as the findings it covers.
CREATE TABLE reconcile_pairs (
    run_id TEXT NOT NULL,
    category TEXT NOT NULL,
    owner_system TEXT NOT NULL,
    mirror_system TEXT NOT NULL,
    status TEXT NOT NULL,
    owner_rows BIGINT NOT NULL,
    mirror_rows BIGINT NOT NULL,
    unreadable BIGINT NOT NULL,
    kinds TEXT NOT NULL,
    heals INTEGER NOT NULL,
    checkpoint TEXT,
    error TEXT,
    updated_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (run_id, category, owner_system, mirror_system)
);
-- Every finding with both sides' values (JSON) and the action taken; seq orders a run's findings.
CREATE TABLE reconcile_findings (
    run_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    kind TEXT NOT NULL,
    category TEXT NOT NULL,
    owner_system TEXT NOT NULL,
    mirror_system TEXT NOT NULL,
    side TEXT,
    identity_key TEXT NOT NULL,
    record_id TEXT,
    owner_value TEXT,
    mirror_value TEXT,
    detail TEXT NOT NULL,
    action TEXT NOT NULL,
    action_reason TEXT,
    PRIMARY KEY (run_id, seq)
);
CREATE INDEX reconcile_findings_kind ON reconcile_findings (run_id, kind, seq);
-- Scheduled jobs across replicas: one row per (job, slot) claimed atomically by the first replica;
-- another takes it over only once lease_until has passed without finished_at.
CREATE TABLE scheduled_runs (
    job TEXT NOT NULL,
    slot TEXT NOT NULL,
    owner TEXT NOT NULL,
    lease_until TIMESTAMPTZ NOT NULL,
    claims INTEGER NOT NULL,
    started_at TIMESTAMPTZ NOT NULL,
    finished_at TIMESTAMPTZ,
    outcome TEXT,
    PRIMARY KEY (job, slot)
);
