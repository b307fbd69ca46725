"""The reconciliation diff: a streaming sorted merge of an owner's and a mirror's full listing.

Pure and constant-memory: both sides arrive as iterators of compact `Entry`s sorted by identity
key, and the diff yields `Finding`s as it goes, keeping nothing but the two current heads (and,
for a row that differs, that row's values inside its finding). The caller brings the rows in
(page by page from a connector, or a sorted SELECT) and stores the findings.

**Sorted** means: ascending by `Entry.key` (`RecordIdentity.key`) in the byte order of its UTF-8
encoding — Python's `str` order, PostgreSQL's `ORDER BY key COLLATE "C"`, SQLite's default
`BINARY` collation. Equal keys on one side are duplicates and must be adjacent (they are, in any
sorted listing). A key lower than the one before it raises `UnsortedInput`: a merge over unsorted
input would report records as missing and extra at once, so the run stops instead.

**Checkpoints**: `Diff.checkpoint` is the last key whose findings have all been yielded. Findings
come in key order; a run killed at any point resumes with `diff(…, after=checkpoint)` (the sources
may start after the checkpoint too, or from the start: the diff skips what it has seen) and yields
exactly the findings of an uninterrupted run whose key is above the checkpoint. Store findings and
the checkpoint in one transaction, or drop stored findings above the checkpoint when resuming.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from enum import StrEnum
from itertools import dropwhile
from typing import NamedTuple

from gateway.domain.model import (
    MIRRORED_FIELDS,
    Publicity,
    RecordFacts,
    mirrored_fingerprint,
    mirrored_values,
)


class Entry(NamedTuple):
    """One row of a full listing, reduced to what the diff compares. A tuple, not a dataclass:
    millions are made per run and the merge reads them by position."""

    key: str  # RecordIdentity.key
    fingerprint: str  # mirrored_fingerprint(values)
    status: Publicity
    stopped_by: str | None = None  # the system that made the stop, when the listing says
    values: tuple[str | None, ...] = ()  # the carried fields, in the order of Diff.fields


def entry_of(
    facts: RecordFacts,
    status: Publicity,
    *,
    stopped_by: str | None = None,
    fields: tuple[str, ...] = MIRRORED_FIELDS,
) -> Entry:
    values = mirrored_values(facts, fields)
    return Entry(facts.identity.key, mirrored_fingerprint(values), status, stopped_by, values)


class Side(StrEnum):
    OWNER = "owner"
    MIRROR = "mirror"


class FindingKind(StrEnum):
    MISSING_IN_MIRROR = "missing_in_mirror"  # the owner publishes or stopped it; the mirror has no row
    EXTRA_IN_MIRROR = "extra_in_mirror"  # the mirror has a row the owner does not know
    STATE_MISMATCH = "state_mismatch"  # stopped on one side, published on the other
    FIELD_MISMATCH = "field_mismatch"  # a carried field differs
    DUPLICATE = "duplicate"  # one identity more than once in one system's listing
    FOREIGN_STOP = "foreign_stop"  # 多头修复: a stop made by a system that does not own the record


@dataclass(frozen=True, kw_only=True)
class FieldDifference:
    name: str
    owner: str | None
    mirror: str | None


@dataclass(frozen=True, kw_only=True)
class Finding:
    kind: FindingKind
    key: str
    owner_system: str
    mirror_system: str
    side: Side | None = None  # DUPLICATE, FOREIGN_STOP: the listing it was seen in
    owner_status: Publicity | None = None
    mirror_status: Publicity | None = None
    fields: tuple[FieldDifference, ...] = ()  # FIELD_MISMATCH; empty when the rows carry no values
    count: int = 1  # DUPLICATE: how many rows share the key
    stopped_by: str | None = None  # FOREIGN_STOP: who made the stop


class UnsortedInput(ValueError):
    """A listing is not in key order: the diff cannot tell missing from misplaced."""

    def __init__(self, side: Side, previous: str, key: str, position: int) -> None:
        super().__init__(
            f"{side.value} listing is not sorted by key (UTF-8 byte order): row {position} has key"
            f" {key!r} after {previous!r}"
        )
        self.side = side
        self.previous = previous
        self.key = key
        self.position = position


def _groups(entries: Iterable[Entry], side: Side, after: str | None) -> Iterator[tuple[Entry, int]]:
    """(first row, row count) per key, checking the order. Rows at or below `after` are skipped
    unchecked: they belong to the part of the run a checkpoint already covers."""
    it = iter(entries)
    if after is not None:
        it = dropwhile(lambda e: e[0] <= after, it)
    head = next(it, None)
    if head is None:
        return
    head_key = head[0]
    count = 1
    position = 0
    for entry in it:
        position += 1
        key = entry[0]
        if key == head_key:
            count += 1
            continue
        if key < head_key:
            raise UnsortedInput(side, head_key, key, position)
        yield head, count
        head, head_key, count = entry, key, 1
    yield head, count


class Diff:
    """Iterate it for the findings; read `checkpoint` between findings to save progress."""

    def __init__(
        self,
        owner: Iterable[Entry],
        mirror: Iterable[Entry],
        *,
        owner_system: str,
        mirror_system: str,
        fields: tuple[str, ...] = MIRRORED_FIELDS,
        after: str | None = None,
    ) -> None:
        self._owner = owner
        self._mirror = mirror
        self.owner_system = owner_system
        self.mirror_system = mirror_system
        self.fields = fields
        self.after = after
        self.checkpoint: str | None = after

    def __iter__(self) -> Iterator[Finding]:
        owner_system = self.owner_system
        owner_groups = _groups(self._owner, Side.OWNER, self.after)
        mirror_groups = _groups(self._mirror, Side.MIRROR, self.after)
        o = next(owner_groups, None)
        m = next(mirror_groups, None)
        done = self.after  # the last key compared
        # The hot loop: equal heads with equal fingerprint and state and no foreign stop are the
        # common case (99.9 %) and cost one tuple comparison and two `next` calls.
        while o is not None and m is not None:
            oe, oc = o
            me, mc = m
            ok = oe[0]
            mk = me[0]
            if ok == mk:
                done = ok
                if oc == 1 and mc == 1 and oe[1:4] == me[1:4] and (oe[3] is None or oe[3] == owner_system):
                    o = next(owner_groups, None)
                    m = next(mirror_groups, None)
                    continue
                yield from self._emit(ok, self._compare(oe, oc, me, mc))
                o = next(owner_groups, None)
                m = next(mirror_groups, None)
            elif ok < mk:
                done = ok
                yield from self._emit(ok, self._one_side(oe, oc, Side.OWNER))
                o = next(owner_groups, None)
            else:
                done = mk
                yield from self._emit(mk, self._one_side(me, mc, Side.MIRROR))
                m = next(mirror_groups, None)
        while o is not None:
            done = o[0][0]
            yield from self._emit(done, self._one_side(o[0], o[1], Side.OWNER))
            o = next(owner_groups, None)
        while m is not None:
            done = m[0][0]
            yield from self._emit(done, self._one_side(m[0], m[1], Side.MIRROR))
            m = next(mirror_groups, None)
        self.checkpoint = done

    def _emit(self, key: str, findings: list[Finding]) -> Iterator[Finding]:
        # The checkpoint moves to `key` just before its last finding is handed out, so whoever holds
        # that finding may save `checkpoint` with it; keys without findings move it lazily.
        last = len(findings) - 1
        for index, finding in enumerate(findings):
            if index == last:
                self.checkpoint = key
            yield finding

    def _finding(
        self,
        kind: FindingKind,
        key: str,
        *,
        side: Side | None = None,
        owner_status: Publicity | None = None,
        mirror_status: Publicity | None = None,
        fields: tuple[FieldDifference, ...] = (),
        count: int = 1,
        stopped_by: str | None = None,
    ) -> Finding:
        return Finding(
            kind=kind,
            key=key,
            owner_system=self.owner_system,
            mirror_system=self.mirror_system,
            side=side,
            owner_status=owner_status,
            mirror_status=mirror_status,
            fields=fields,
            count=count,
            stopped_by=stopped_by,
        )

    def _duplicates(self, key: str, owner_count: int, mirror_count: int) -> list[Finding]:
        out = []
        if owner_count > 1:
            out.append(self._finding(FindingKind.DUPLICATE, key, side=Side.OWNER, count=owner_count))
        if mirror_count > 1:
            out.append(self._finding(FindingKind.DUPLICATE, key, side=Side.MIRROR, count=mirror_count))
        return out

    def _foreign_stops(self, key: str, owner: Entry | None, mirror: Entry | None) -> list[Finding]:
        out = []
        for side, entry in ((Side.OWNER, owner), (Side.MIRROR, mirror)):
            if (
                entry is not None
                and entry.status is Publicity.STOPPED
                and entry.stopped_by is not None
                and entry.stopped_by != self.owner_system
            ):
                out.append(self._finding(FindingKind.FOREIGN_STOP, key, side=side, stopped_by=entry.stopped_by))
        return out

    def _one_side(self, entry: Entry, count: int, side: Side) -> list[Finding]:
        key = entry.key
        if side is Side.OWNER:
            out = self._duplicates(key, count, 0)
            out.append(self._finding(FindingKind.MISSING_IN_MIRROR, key, owner_status=entry.status))
            out += self._foreign_stops(key, entry, None)
        else:
            out = self._duplicates(key, 0, count)
            out.append(self._finding(FindingKind.EXTRA_IN_MIRROR, key, mirror_status=entry.status))
            out += self._foreign_stops(key, None, entry)
        return out

    def _compare(self, owner: Entry, owner_count: int, mirror: Entry, mirror_count: int) -> list[Finding]:
        key = owner.key
        out = self._duplicates(key, owner_count, mirror_count)
        if owner.status != mirror.status:
            out.append(
                self._finding(FindingKind.STATE_MISMATCH, key, owner_status=owner.status, mirror_status=mirror.status)
            )
        if owner.fingerprint != mirror.fingerprint:
            differing = tuple(
                FieldDifference(name=name, owner=ov, mirror=mv)
                for name, ov, mv in zip(self.fields, owner.values, mirror.values, strict=False)
                if ov != mv
            )
            out.append(
                self._finding(
                    FindingKind.FIELD_MISMATCH,
                    key,
                    owner_status=owner.status,
                    mirror_status=mirror.status,
                    fields=differing,
                )
            )
        out += self._foreign_stops(key, owner, mirror)
        return out


def diff(
    owner: Iterable[Entry],
    mirror: Iterable[Entry],
    *,
    owner_system: str,
    mirror_system: str,
    fields: tuple[str, ...] = MIRRORED_FIELDS,
    after: str | None = None,
) -> Diff:
    return Diff(owner, mirror, owner_system=owner_system, mirror_system=mirror_system, fields=fields, after=after)
