"""Logging and every metric, in one place.

Metric names follow Prometheus conventions: `creditgw_` prefix, base units (seconds), `_total` for
counters, and labels from small closed sets (system, outcome, state) — never record or subject ids.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Mapping, MutableMapping
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from enum import Enum
from typing import Any
from uuid import UUID

import structlog
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from gateway.domain.personal import mask_deep

REGISTRY = CollectorRegistry(auto_describe=True)

DELIVERIES = Counter(
    "creditgw_deliveries_total",
    "Delivery attempts to target systems, by target and outcome.",
    ["target", "outcome"],
    registry=REGISTRY,
)
DELIVERY_LATENCY = Histogram(
    "creditgw_delivery_latency_seconds",
    "Time from a delivery's enqueue to its acknowledgement by the target.",
    ["target"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 1800, 3600, 86400),
    registry=REGISTRY,
)
OUTBOX_DEPTH = Gauge(
    "creditgw_outbox_depth",
    "Outbox rows by target and state (pending, in_flight, dead).",
    ["target", "state"],
    registry=REGISTRY,
)
OUTBOX_OLDEST_PENDING = Gauge(
    "creditgw_outbox_oldest_pending_age_seconds",
    "Age of the oldest pending delivery per target.",
    ["target"],
    registry=REGISTRY,
)
LAST_SUCCESS = Gauge(
    "creditgw_delivery_last_success_timestamp_seconds",
    "Unix time of the last acknowledged delivery per target.",
    ["target"],
    registry=REGISTRY,
)
INBOUND = Counter(
    "creditgw_inbound_changes_total",
    "Changes read from systems' feeds, by system and outcome (created, changed, echo, stale, …).",
    ["system", "outcome"],
    registry=REGISTRY,
)
POLL_ERRORS = Counter(
    "creditgw_poll_errors_total", "Failed polls of a system's change feed.", ["system"], registry=REGISTRY
)
LEASES_REAPED = Counter(
    "creditgw_leases_reaped_total",
    "In-flight deliveries whose lease expired and were returned.",
    registry=REGISTRY,
)
IDEMPOTENCY = Counter(
    "creditgw_idempotency_total",
    "Idempotent API requests by result (new, replayed, conflict, in_flight).",
    ["result"],
    registry=REGISTRY,
)
AUTH_FAILURES = Counter(
    "creditgw_auth_failures_total",
    "API requests refused 401, by reason (bad_signature, replayed_nonce, expired_timestamp, …).",
    ["reason"],
    registry=REGISTRY,
)
RATE_LIMITED = Counter(
    "creditgw_rate_limited_total",
    "API requests refused 429 by a client's rate limit (no client label: ids stay out of labels).",
    registry=REGISTRY,
)
SHED = Counter(
    "creditgw_shed_total",
    "API requests refused 503 before any work: overloaded, shutting_down or database_unavailable.",
    ["reason"],
    registry=REGISTRY,
)
DATABASE_UP = Gauge(
    "creditgw_database_up",
    "1 while the database answers the pressure check, 0 while it is unreachable.",
    registry=REGISTRY,
)
HTTP_REQUESTS = Histogram(
    "creditgw_http_request_duration_seconds",
    "API request latency by route template, method and status class.",
    ["route", "method", "status"],
    registry=REGISTRY,
)
SCHEDULED_RUNS = Counter(
    "creditgw_scheduled_runs_total",
    "Scheduled job runs this replica made (sweep, reminders): once per slot across all replicas.",
    ["job"],
    registry=REGISTRY,
)


# ---- expiry sweep and sync SLA ----------------------------------------------------------------
SWEEP_EXPIRED = Counter(
    "creditgw_sweep_expired_total",
    "Published records the expiry sweep stopped because their maximum publicity period ended.",
    registry=REGISTRY,
)
SWEEP_WITHHELD = Counter(
    "creditgw_sweep_withheld_total",
    "Published records the sweep stopped because the rules do not publish them at all, by reason"
    " (warning_only_not_published, not_published_by_default).",
    ["reason"],
    registry=REGISTRY,
)
RECORDS_AWAITING_CLASSIFICATION = Gauge(
    "creditgw_records_awaiting_classification",
    "Published penalties whose rules cannot be evaluated until their Order 36 tier (轻微/一般/严重) is"
    " given (GET /v1/records/awaiting-classification); counted by every sweep run.",
    registry=REGISTRY,
)
SWEEP_UNEVALUABLE = Gauge(
    "creditgw_sweep_unevaluable_records",
    "Published records whose expiry day the last sweep could not compute, by reason (e.g."
    " severity_missing, publication_date_missing, no_maximum, provisional).",
    ["reason"],
    registry=REGISTRY,
)
SWEEP_LAST_SUCCESS = Gauge(
    "creditgw_sweep_last_success_timestamp_seconds",
    "Unix time the last expiry sweep of this process finished.",
    registry=REGISTRY,
)
SLA_DEADLINE_ESTIMATED = Counter(
    "creditgw_sla_deadline_estimated_total",
    "Sync deadlines computed across a year the working-day calendar has no data for (Monday to Friday"
    " taken as working days); supply the year's arrangement in settings.",
    registry=REGISTRY,
)
SYNC_DEADLINE_MISSED = Counter(
    "creditgw_sync_deadline_missed_total",
    "Deliveries of a repair that completed after its sync deadline (N working days), by target.",
    ["target"],
    registry=REGISTRY,
)
SYNC_OVERDUE = Gauge(
    "creditgw_sync_overdue_targets",
    "Repair targets not yet delivered (pending, in flight or dead) whose sync deadline has passed, by target.",
    ["target"],
    registry=REGISTRY,
)
TARGET_MISMATCH = Gauge(
    "creditgw_target_mismatch_records",
    "Records whose last write a system acknowledged longer than the feed catch-up window ago without"
    " reporting it back, while it still shows something other than the canonical state, by system.",
    ["system"],
    registry=REGISTRY,
)

# ---- repair reminders (gateway/reminders.py) --------------------------------------------------
REMINDERS = Counter(
    "creditgw_reminders_total",
    "Repair reminders by outcome: scheduled (new row), sent (accepted by the SMS service), retry (failed,"
    " will be sent again), dead (refused for good or out of attempts), cancelled (no longer due).",
    ["outcome"],
    registry=REGISTRY,
)
REMINDER_LAST_RUN = Gauge(
    "creditgw_reminders_last_run_timestamp_seconds",
    "Unix time the last reminder run of this process finished.",
    registry=REGISTRY,
)

# ---- quarantine (gateway/quarantine.py) --------------------------------------------------------
# Data-collection quality (gateway/quality.py), per category only: departments are many (hundreds of
# deciding authorities), so their detail is in GET /v1/collection-quality and its CSV, not in labels.
COLLECTION_QUALITY = Gauge(
    "creditgw_collection_quality_ratio",
    "Share of records (0-1) complete, accurate, or collected on time (of those judged), by category and"
    " dimension, as of the last quality report.",
    ["category", "dimension"],
    registry=REGISTRY,
)
COLLECTION_DEFECTS = Gauge(
    "creditgw_collection_defect_records",
    "Records failing one accuracy check, by category and check, as of the last quality report.",
    ["category", "check"],
    registry=REGISTRY,
)
QUARANTINED = Counter(
    "creditgw_quarantined_total",
    "Inbound changes put in quarantine (not mapped or not applied), by system and reason.",
    ["system", "reason"],
    registry=REGISTRY,
)
QUARANTINE_OPEN = Gauge(
    "creditgw_quarantine_open",
    "Quarantined inbound changes not yet resolved by a retry, by system and reason.",
    ["system", "reason"],
    registry=REGISTRY,
)
# File-drop transports (adapters/filedrop.py, docs/adr/0027): every file taken, by outcome
# (processed, duplicate, refused, incomplete), and the files held back because they are incomplete.
FILEDROP_FILES = Counter(
    "creditgw_filedrop_files_total",
    "Files taken from a system's drop directory, by system and outcome.",
    ["system", "outcome"],
    registry=REGISTRY,
)
FILEDROP_HELD = Gauge(
    "creditgw_filedrop_files_held",
    "Files in a system's drop directory held back because they do not parse as a whole (yet).",
    ["system"],
    registry=REGISTRY,
)
ACKNOWLEDGED = Counter(
    "creditgw_acknowledged_total",
    "Inbound changes acknowledged to their system after ingest (a 前置库's processed marks), by"
    " system and status (processed, refused).",
    ["system", "status"],
    registry=REGISTRY,
)


# ---- reconciliation (gateway/reconcile/; docs/adr/0022) -----------------------------------------
# Read from the stored runs by every replica (Runtime.refresh_gauges), so a run made by
# `creditgw reconcile` or by another replica's nightly job is exported too.
RECONCILE_LAST_SUCCESS = Gauge(
    "creditgw_reconcile_last_success_timestamp_seconds",
    "Unix time the last reconciliation run that completed (whatever it found) finished; 0 if none has.",
    registry=REGISTRY,
)
RECONCILE_DURATION = Gauge(
    "creditgw_reconcile_last_duration_seconds",
    "Wall time of the last completed reconciliation run.",
    registry=REGISTRY,
)
RECONCILE_ROWS = Gauge(
    "creditgw_reconcile_rows_read",
    "Rows of the systems' full listings the last completed run compared, by system and side (owner, mirror).",
    ["system", "side"],
    registry=REGISTRY,
)
RECONCILE_FINDINGS = Gauge(
    "creditgw_reconcile_findings",
    "Findings of the last completed reconciliation run, by kind and by the mirror system of the pair"
    " (the system that diverges from its owner).",
    ["kind", "system"],
    registry=REGISTRY,
)
RECONCILE_HEALS = Gauge(
    "creditgw_reconcile_heals",
    "Heals the last completed reconciliation run queued (deliveries and owner observations).",
    registry=REGISTRY,
)
RECONCILE_RUNS = Counter(
    "creditgw_reconcile_runs_total",
    "Reconciliation runs this process ran, by outcome (succeeded, failed).",
    ["outcome"],
    registry=REGISTRY,
)


def mask_personal_ids(_logger: Any, _method: str, event: MutableMapping[str, Any]) -> Mapping[str, Any]:
    """structlog processor: every string value with natural persons' ID numbers masked."""
    return {key: mask_deep(value) for key, value in event.items()}


def _json_default(value: Any) -> Any:
    """Values JSON has no type for: dates and times as ISO 8601 (not their repr), the rest as text."""
    if isinstance(value, date | datetime | time):
        return value.isoformat()
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, Decimal | UUID):
        return str(value)
    if isinstance(value, set | frozenset | tuple):
        return sorted(value, key=str) if not isinstance(value, tuple) else list(value)
    return repr(value)


def configure_logging(fmt: str = "console", level: str = "INFO") -> None:
    """JSON in production (one object a line, for the log shipper); readable in a terminal."""
    renderer: Any = (
        structlog.processors.JSONRenderer(ensure_ascii=False, default=_json_default)
        if fmt == "json"
        else structlog.dev.ConsoleRenderer(colors=False)
    )
    logging.basicConfig(format="%(message)s", stream=sys.stderr, level=level.upper(), force=True)
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            mask_personal_ids,  # last before rendering: nothing logged carries a whole ID number
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level.upper())),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=False,
    )


def get_logger(name: str) -> Any:
    return structlog.get_logger(name)
