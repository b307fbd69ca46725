"""The mapping contract: a system's native rows ⇄ canonical facts and state. Pure, no I/O."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from adapters.base import NativeChange, NativeWrite
from gateway.domain.model import RecordFacts, TargetState
from gateway.domain.plan import Observation


class UnmappableRow(ValueError):
    """A native row that cannot become a canonical record; `field` names the culprit."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class SystemMapping(Protocol):
    system: str

    def to_observation(self, change: NativeChange) -> Observation | None:
        """None for rows the gateway does not track (e.g. not yet audited on GSXT)."""

    def to_write(
        self,
        facts: RecordFacts,
        target: TargetState,
        *,
        idempotency_key: str,
        decided_at: datetime | None = None,
    ) -> NativeWrite:
        """The native row that sets this system's copy of the record to `target`; `decided_at`
        (when the state was decided) dates a stop."""
