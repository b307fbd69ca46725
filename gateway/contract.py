"""The connector contract: the neutral shapes between transport (adapters) and fields (mappings).

Adapters and mappings both import this module; it imports neither (tests/test_connector_isolation.py).

An adapter moves native rows: it reads the system's change feed, lists everything the system
currently holds, and writes rows to it, handling auth, paging, in-call retries and the
classification of failures into the `DeliveryError` hierarchy (gateway.domain.retry). It does no
field mapping. A mapping turns native rows into canonical facts and state and back; it does no I/O.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar, Protocol

from gateway.domain.model import RecordFacts, TargetState
from gateway.domain.plan import Observation
from gateway.domain.retry import DeliveryError


@dataclass(frozen=True, kw_only=True)
class NativeChange:
    """One item of a system's change feed (or listing), still in the system's own format."""

    change_key: str  # unique per change within the system (inbox de-duplication)
    source_version: str  # sortable position in the feed, compared per record to spot stale reports
    changed_at: datetime  # the system's own timestamp of the change (aware, UTC)
    kind: str  # row type or table, e.g. "CF", "YC", "punish", "otherpunish", "opanomaly"
    native_id: str | None
    row: Mapping[str, Any]


@dataclass(frozen=True, kw_only=True)
class ChangePage:
    changes: list[NativeChange]
    cursor: str  # persist once `changes` are durably ingested; feed the next call with it
    has_more: bool


@dataclass(frozen=True, kw_only=True)
class ListingPage:
    """One page of a full listing: rows the system holds now, each in its current state."""

    rows: list[NativeChange]


@dataclass(frozen=True, kw_only=True)
class NativeWrite:
    """A row to set in the system, built by the system's mapping."""

    kind: str
    row: Mapping[str, Any]
    business_key: str  # the system's own key for the row, for logs and dead letters
    idempotency_key: str = ""  # deterministic per delivery; sent where the system honours it


@dataclass(frozen=True, kw_only=True)
class WriteResult:
    native_id: str | None = None
    detail: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True)
class Ingested:
    """A change the gateway has durably ingested, and how (the poller's acknowledgement)."""

    change: NativeChange
    outcome: str  # the inbound outcome: "created", "changed", "duplicate", "untracked", "quarantined", …
    problem: str | None = None  # why the gateway refused the row (it is in the quarantine); None: taken


class SystemAdapter(ABC):
    """Base class of every adapter. Subclasses set `system` and implement the abstract methods."""

    system: ClassVar[str]
    # Rows one write call can carry. Above 1, the dispatcher hands the adapter several deliveries
    # at once through `write_many` (信用中国's intake takes 100 rows per call).
    max_rows_per_write: ClassVar[int] = 1
    # False for a system the gateway only reads (a list authority that decides and publishes in its
    # own system): the plan never targets it and its `write` refuses (PermanentError).
    takes_writes: ClassVar[bool] = True

    @abstractmethod
    async def fetch_changes(self, cursor: str | None, page_size: int) -> ChangePage:
        """Changes after `cursor` (None: from the beginning). Must not skip any change; may
        repeat some (the inbox de-duplicates)."""

    def cursor_at(self, moment: datetime) -> str | None:
        """A cursor from which the feed yields every change made at or after `moment` (and maybe
        some before it; a re-read filters them). Default: the beginning of the feed (None), for
        feeds whose cursor is opaque."""
        return None

    async def acknowledge(self, ingested: Sequence[Ingested]) -> None:
        """Tell the system these changes are durably ingested (or refused, with the reason). The
        poller calls it after a page's changes have committed and before it moves the cursor, so a
        failure here (a `DeliveryError`) leaves the cursor and the page is read and acknowledged
        again. Default: nothing to tell (HTTP feeds); a 前置库 marks its rows processed."""
        return None

    def list_all(self, kind: str, page_size: int) -> AsyncIterator[ListingPage]:
        """Everything the system holds now of one row kind (a category's table or row type), page
        by page, each row once in its current state; memory stays one page whatever the size.
        Raise a `DeliveryError` subclass on failure. Default: the system offers no listing."""
        raise NotImplementedError(f"{self.system} offers no full listing")

    @abstractmethod
    async def write(self, write: NativeWrite) -> WriteResult:
        """Set one row. Raise a `DeliveryError` subclass on failure."""

    async def write_many(self, writes: Sequence[NativeWrite]) -> list[WriteResult | DeliveryError]:
        """Set several rows: one outcome per row, in order. Without a batch intake, row by row."""
        outcomes: list[WriteResult | DeliveryError] = []
        for write in writes:
            try:
                outcomes.append(await self.write(write))
            except DeliveryError as exc:
                outcomes.append(exc)
        return outcomes

    @abstractmethod
    async def close(self) -> None:
        """Release the client session."""


class UnmappableRow(ValueError):
    """A native row that cannot become a canonical record; `field` names the culprit."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class SystemMapping(Protocol):
    """A system's native rows ⇄ canonical facts and state. Pure, no I/O."""

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
