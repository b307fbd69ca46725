"""The declared schema: what the migrations must produce, table by table.

The migrations are written by hand per dialect (gateway/store/migrations/); a test migrates a
fresh database and compares what the database reports against this declaration, so a migration
that forgets a column or an index fails the build.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Column:
    name: str
    type: str  # logical: text, int, bigint, ts, serial
    nullable: bool = False


@dataclass(frozen=True)
class Index:
    name: str
    columns: tuple[str, ...]
    unique: bool = False
    where: str | None = None  # partial index predicate


@dataclass(frozen=True)
class Table:
    name: str
    columns: tuple[Column, ...]
    primary_key: tuple[str, ...]
    indexes: tuple[Index, ...] = ()


def _c(name: str, type_: str, nullable: bool = False) -> Column:
    return Column(name, type_, nullable)


TABLES: tuple[Table, ...] = (
    Table(
        "schema_migrations",
        (_c("version", "int"), _c("name", "text"), _c("applied_at", "ts")),
        ("version",),
    ),
    Table(
        "records",
        (
            _c("record_id", "text"),
            _c("category", "text"),
            _c("authority_code", "text"),
            _c("document_number", "text"),
            _c("subject_code", "text", True),
            _c("subject_name", "text"),
            _c("facts", "text"),
            _c("facts_fingerprint", "text"),
            _c("status", "text"),
            _c("reason", "text", True),
            _c("version", "int"),
            _c("decided_by", "text"),
            _c("decided_at", "ts"),
            _c("authoritative", "int"),
            _c("created_at", "ts"),
            _c("updated_at", "ts"),
            _c("stopped_on", "text", True),  # 0006: the stopping system's stop date (ISO date)
            _c("collected_at", "ts", True),  # 0013: the owner's own time of its row at first sighting
        ),
        ("record_id",),
        (
            Index("records_identity", ("category", "authority_code", "document_number"), unique=True),
            Index("records_subject", ("subject_code",)),
            Index("records_published", ("record_id",), where="status = 'published'"),  # 0002: expiry sweep
        ),
    ),
    Table(
        "links",
        (
            _c("record_id", "text"),
            _c("system", "text"),
            _c("native_id", "text", True),
            _c("written_version", "int", True),
            _c("written_status", "text", True),
            _c("written_reason", "text", True),
            _c("written_at", "ts", True),
            _c("seen_status", "text", True),
            _c("seen_reason", "text", True),
            _c("seen_source_version", "text", True),
            _c("seen_at", "ts", True),
            _c("confirmed_version", "int", True),  # 0004: the newest of our writes it reported back
        ),
        ("record_id", "system"),
    ),
    Table(
        "inbox",
        (
            _c("system", "text"),
            _c("change_key", "text"),
            _c("record_id", "text", True),
            _c("outcome", "text"),
            _c("received_at", "ts"),
        ),
        ("system", "change_key"),
    ),
    Table(
        "outbox",
        (
            _c("id", "serial"),
            _c("record_id", "text"),
            _c("target", "text"),
            _c("version", "int"),
            _c("state_status", "text"),
            _c("state_reason", "text", True),
            _c("state_decided_at", "ts"),
            _c("idempotency_key", "text"),
            _c("repair_id", "text", True),
            _c("status", "text"),
            _c("attempts", "int"),
            _c("next_attempt_at", "ts"),
            _c("lease_owner", "text", True),
            _c("lease_expires_at", "ts", True),
            _c("last_error", "text", True),
            _c("dead_context", "text", True),
            _c("replays", "int"),
            _c("created_at", "ts"),
            _c("updated_at", "ts"),
            _c("finished_at", "ts", True),
            _c("state_stopped_on", "text", True),  # 0006: the state's stop date (ISO date)
        ),
        ("id",),
        (
            # One pending and one in-flight delivery per (record, target), enforced by the database.
            Index("outbox_one_pending", ("record_id", "target"), unique=True, where="status = 'pending'"),
            Index("outbox_one_in_flight", ("record_id", "target"), unique=True, where="status = 'in_flight'"),
            Index("outbox_due", ("status", "next_attempt_at")),
            Index("outbox_record_target", ("record_id", "target")),
            Index("outbox_lease", ("lease_expires_at",), where="status = 'in_flight'"),
            # 0008: each dispatch lane claims its own target's due rows
            Index("outbox_target_due", ("target", "next_attempt_at", "id"), where="status = 'pending'"),
        ),
    ),
    Table(
        "repairs",
        (
            _c("repair_id", "text"),
            _c("record_id", "text"),
            _c("action", "text"),
            _c("source", "text"),
            _c("decided_by", "text"),
            _c("decided_at", "ts"),
            _c("accepted_at", "ts"),
            _c("version", "int", True),
            _c("outcome", "text"),
        ),
        ("repair_id",),
        (
            Index("repairs_record", ("record_id",)),
            Index("repairs_accepted", ("accepted_at", "repair_id")),  # 0008: GET /v1/repairs pages
        ),
    ),
    Table(
        "repair_targets",
        (
            _c("repair_id", "text"),
            _c("target", "text"),
            _c("outbox_id", "bigint", True),
            _c("status", "text"),
            _c("updated_at", "ts"),
            _c("delivered_at", "ts", True),
            _c("last_error", "text", True),
            # 0002 (sync SLA): last working day in time, ISO date text (Beijing); 1 if estimated.
            _c("due_on", "text", True),
            _c("due_estimated", "int"),
        ),
        ("repair_id", "target"),
        (
            Index("repair_targets_outbox", ("outbox_id",)),
            Index("repair_targets_due", ("status", "due_on")),  # 0002: the overdue gauge
        ),
    ),
    Table(
        "audit",
        (
            _c("id", "serial"),
            _c("record_id", "text"),
            _c("at", "ts"),
            _c("kind", "text"),
            _c("actor", "text"),
            _c("before_state", "text", True),
            _c("before_version", "int", True),
            _c("after_state", "text", True),
            _c("after_version", "int", True),
            _c("detail", "text"),
        ),
        ("id",),
        (Index("audit_record", ("record_id", "id")),),
    ),
    Table(
        "cursors",
        (_c("system", "text"), _c("feed", "text"), _c("position", "text"), _c("updated_at", "ts")),
        ("system", "feed"),
    ),
    Table(
        "idempotency",
        (
            _c("client", "text"),
            _c("key", "text"),
            _c("request_hash", "text"),
            _c("state", "text"),
            _c("response_status", "int", True),
            _c("response_body", "text", True),
            _c("created_at", "ts"),
            _c("updated_at", "ts"),
        ),
        ("client", "key"),
        (Index("idempotency_created", ("created_at",)),),  # 0005: retention
    ),
    # ---- per-record serialisation (migration 0005; docs/adr/0012-a-lock-row-per-record.md) ----
    Table("record_locks", (_c("record_id", "text"),), ("record_id",)),
    # ---- one reader per feed across replicas (migration 0014; docs/adr/0030) ----
    Table(
        "feed_leases",
        (
            _c("system", "text"),
            _c("feed", "text"),
            _c("owner", "text"),
            _c("generation", "bigint"),
            _c("lease_until", "ts"),
        ),
        ("system", "feed"),
    ),
    # ---- reminders (migration 0003; gateway/reminders.py) ----
    # 0012: the ledger of reminders scheduled and answered; each is sent as an outbox row to 'sms'.
    Table(
        "reminders",
        (
            _c("record_id", "text"),
            _c("milestone", "text"),
            _c("due_on", "text"),
            _c("channel", "text"),
            _c("message_id", "text"),
            _c("msg_id", "text", True),
            _c("last_error", "text", True),  # 0012: why it was cancelled (a failure's is the outbox row's)
            _c("created_at", "ts"),
            _c("updated_at", "ts"),
            _c("sent_at", "ts", True),
            _c("outbox_id", "bigint", True),
        ),
        # One reminder per record and milestone, ever (STYLE.md §3: the constraint deduplicates).
        ("record_id", "milestone"),
        (
            Index("reminders_message_id", ("message_id",), unique=True),
            Index("reminders_outbox", ("outbox_id",)),
        ),
    ),
    # ---- quarantine (migration 0007; gateway/quarantine.py) ----
    Table(
        "quarantine",
        (
            _c("id", "serial"),
            _c("system", "text"),
            _c("change_key", "text"),
            _c("kind", "text"),
            _c("reason", "text"),
            _c("field", "text", True),
            _c("message", "text"),
            _c("raw", "text"),
            _c("status", "text"),
            _c("record_id", "text", True),
            _c("retries", "int"),
            _c("outcome", "text", True),
            _c("created_at", "ts"),
            _c("updated_at", "ts"),
            _c("resolved_at", "ts", True),
        ),
        ("id",),
        (
            Index("quarantine_change", ("system", "change_key"), unique=True),
            Index("quarantine_open", ("system", "reason"), where="status = 'open'"),
        ),
    ),
    # 0009: API clients, sealed secrets, used nonces, audit of calls that change state (docs/signing.md).
    Table(
        "clients",
        (
            _c("client_id", "text"),
            _c("name", "text"),
            _c("scopes", "text"),
            _c("authorities", "text"),
            _c("categories", "text"),
            _c("cert_subject", "text", True),
            _c("rate_per_s", "int", True),
            _c("burst", "int", True),
            _c("status", "text"),
            _c("created_at", "ts"),
            _c("updated_at", "ts"),
        ),
        ("client_id",),
        (Index("clients_cert_subject", ("cert_subject",), unique=True, where="cert_subject IS NOT NULL"),),
    ),
    Table(
        "client_secrets",
        (
            _c("client_id", "text"),
            _c("secret_id", "int"),
            _c("sealed", "text"),
            _c("status", "text"),
            _c("created_at", "ts"),
            _c("retired_at", "ts", True),
        ),
        ("client_id", "secret_id"),
    ),
    Table(
        "nonces",
        (_c("client_id", "text"), _c("nonce", "text"), _c("expires_at", "ts")),
        ("client_id", "nonce"),
        (Index("nonces_expires", ("expires_at",)),),
    ),
    Table(
        "call_audit",
        (
            _c("id", "serial"),
            _c("at", "ts"),
            _c("client_id", "text"),
            _c("method", "text"),
            _c("route", "text"),
            _c("path", "text"),
            _c("status", "int"),
            _c("request_id", "text"),
        ),
        ("id",),
        (Index("call_audit_client", ("client_id", "id")),),
    ),
)

# ---- the history of our own writes (migration 0004; docs/adr/0011) ----
TABLES += (
    Table(
        "writes",
        (
            _c("record_id", "text"),
            _c("system", "text"),
            _c("version", "int"),
            _c("status", "text"),
            _c("reason", "text", True),
            _c("digest", "text"),
            _c("sent_at", "ts"),
            _c("acked_at", "ts", True),
        ),
        ("record_id", "system", "version"),
        (Index("writes_sent_at", ("sent_at",)),),
    ),
)


# ---- reconciliation runs and scheduled jobs (migration 0010; docs/adr/0022) ----
TABLES += (
    Table(
        "reconcile_runs",
        (
            _c("run_id", "text"),
            _c("mode", "text"),
            _c("scope", "text"),
            _c("status", "text"),
            _c("origin", "text"),
            _c("started_at", "ts"),
            _c("finished_at", "ts", True),
            _c("lease_owner", "text", True),
            _c("lease_until", "ts", True),
            _c("findings", "int"),
            _c("heals", "int"),
            _c("error", "text", True),
        ),
        ("run_id",),
        (
            Index("reconcile_runs_started", ("started_at", "run_id")),
            Index("reconcile_runs_unfinished", ("scope", "mode"), where="status = 'running'"),
        ),
    ),
    Table(
        "reconcile_pairs",
        (
            _c("run_id", "text"),
            _c("category", "text"),
            _c("owner_system", "text"),
            _c("mirror_system", "text"),
            _c("status", "text"),
            _c("owner_rows", "bigint"),
            _c("mirror_rows", "bigint"),
            _c("unreadable", "bigint"),
            _c("kinds", "text"),
            _c("heals", "int"),
            _c("checkpoint", "text", True),
            _c("error", "text", True),
            _c("updated_at", "ts"),
        ),
        ("run_id", "category", "owner_system", "mirror_system"),
    ),
    Table(
        "reconcile_findings",
        (
            _c("run_id", "text"),
            _c("seq", "int"),
            _c("kind", "text"),
            _c("category", "text"),
            _c("owner_system", "text"),
            _c("mirror_system", "text"),
            _c("side", "text", True),
            _c("identity_key", "text"),
            _c("record_id", "text", True),
            _c("owner_value", "text", True),
            _c("mirror_value", "text", True),
            _c("detail", "text"),
            _c("action", "text"),
            _c("action_reason", "text", True),
        ),
        ("run_id", "seq"),
        (Index("reconcile_findings_kind", ("run_id", "kind", "seq")),),
    ),
    Table(
        "scheduled_runs",
        (
            _c("job", "text"),
            _c("slot", "text"),
            _c("owner", "text"),
            _c("lease_until", "ts"),
            _c("claims", "int"),
            _c("started_at", "ts"),
            _c("finished_at", "ts", True),
            _c("outcome", "text", True),
        ),
        ("job", "slot"),
    ),
)

TABLE_NAMES = tuple(t.name for t in TABLES)
