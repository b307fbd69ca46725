"""The adapter contract: one class per external system, speaking its own transport.

An adapter moves native rows: it reads the system's change feed and writes rows to it, handling
auth, paging, in-call retries and the classification of failures into the `DeliveryError`
hierarchy (gateway.domain.retry). It does no field mapping (that is `mappings/<system>.py`).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar

from gateway.domain.retry import DeliveryError


@dataclass(frozen=True, kw_only=True)
class NativeChange:
    """One item of a system's change feed, still in the system's own format."""

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


class SystemAdapter(ABC):
    """Base class of every adapter. Subclasses set `system` and implement the three methods."""

    system: ClassVar[str]
    # Rows one write call can carry. Above 1, the dispatcher hands the adapter several deliveries
    # at once through `write_many` (信用中国's intake takes 100 rows per call).
    max_rows_per_write: ClassVar[int] = 1

    @abstractmethod
    async def fetch_changes(self, cursor: str | None, page_size: int) -> ChangePage:
        """Changes after `cursor` (None: from the beginning). Must not skip any change; may
        repeat some (the inbox de-duplicates)."""

    def cursor_at(self, moment: datetime) -> str | None:
        """A cursor from which the feed yields every change made at or after `moment` (and maybe
        some before it; a re-read filters them). Default: the beginning of the feed (None), for
        feeds whose cursor is opaque."""
        return None

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
