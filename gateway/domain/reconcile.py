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
come in key order; a run killed at any point resumes with `Diff(…, after=checkpoint)` (the sources
may start after the checkpoint too, or from the start: the diff skips what it has seen) and yields
exactly the findings of an uninterrupted run whose key is above the checkpoint. Store findings and
the checkpoint in one transaction, or drop stored findings above the checkpoint when resuming.

**Order of findings** (deterministic): by key; within a key, duplicates (owner's, then mirror's),
then missing in / extra at the mirror, or else state mismatch then field mismatch, then foreign
stops (多头修复; owner's listing, then mirror's). A duplicated key is diffed on its first row.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
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
    # The carried fields in the order of Diff.fields, or () when the listing leaves them out (then
    # a field mismatch names no field until `with_values` fills them in from a read by key).
    values: tuple[str | None, ...] = ()


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

    def __init__(self, side: Side, previous: str, key: str) -> None:
        super().__init__(
            f"{side.value} listing is not sorted by key (UTF-8 byte order): key {key!r} comes after {previous!r}"
        )
        self.side = side
        self.previous = previous
        self.key = key


def _rows(entries: Iterable[Entry], after: str | None) -> Iterator[Entry]:
    """Rows at or below `after` are skipped unchecked: a checkpoint already covers them."""
    it = iter(entries)
    return it if after is None else dropwhile(lambda e: e[0] <= after, it)


def _rest_of_group(head: Entry, ahead: Entry | None, rows: Iterator[Entry], side: Side) -> tuple[int, Entry | None]:
    """Called when the row after `head` does not sort above it: counts the rows sharing `head`'s
    key (duplicates), raises on a lower key; returns the count and the first row of the next key."""
    count = 1
    key = head[0]
    while ahead is not None and ahead[0] <= key:
        if ahead[0] != key:
            raise UnsortedInput(side, key, ahead[0])
        count += 1
        ahead = next(rows, None)
    return count, ahead


def _group(head: Entry | None, rows: Iterator[Entry], side: Side) -> tuple[Entry | None, int, Entry | None]:
    """The group starting at `head`: its first row, its row count, and the first row after it.
    (The hot loop in `Diff.__iter__` does the same inline.)"""
    if head is None:
        return None, 1, None
    ahead = next(rows, None)
    if ahead is not None and ahead[0] <= head[0]:
        count, ahead = _rest_of_group(head, ahead, rows, side)
        return head, count, ahead
    return head, 1, ahead


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
        owner_rows = _rows(self._owner, self.after)
        mirror_rows = _rows(self._mirror, self.after)
        # Each side: the current group's first row (o, m), its row count (oc, mc) and the row after
        # the group (o_next, m_next). The order check is the `<=` against the row ahead.
        o, oc, o_next = _group(next(owner_rows, None), owner_rows, Side.OWNER)
        m, mc, m_next = _group(next(mirror_rows, None), mirror_rows, Side.MIRROR)
        done = self.after  # the last key compared
        # The hot loop, inlined on purpose (millions of rows, no call per row but `next`): equal
        # keys with equal fingerprint, status and stopper, no duplicate and no foreign stop are the
        # common case and cost a few comparisons.
        while o is not None and m is not None:
            ok = o[0]
            mk = m[0]
            if ok == mk:
                done = ok
                if not (
                    oc == 1
                    and mc == 1
                    and o[1] == m[1]
                    and o[2] == m[2]
                    and o[3] == m[3]
                    and (o[3] is None or o[3] == owner_system)
                ):
                    yield from self._emit(ok, self._compare(o, oc, m, mc))
                advance_owner = advance_mirror = True
            elif ok < mk:
                done = ok
                yield from self._emit(ok, self._one_side(o, oc, Side.OWNER))
                advance_owner, advance_mirror = True, False
            else:
                done = mk
                yield from self._emit(mk, self._one_side(m, mc, Side.MIRROR))
                advance_owner, advance_mirror = False, True
            if advance_owner:
                o = o_next
                oc = 1
                if o is not None:
                    o_next = next(owner_rows, None)
                    if o_next is not None and o_next[0] <= o[0]:
                        oc, o_next = _rest_of_group(o, o_next, owner_rows, Side.OWNER)
            if advance_mirror:
                m = m_next
                mc = 1
                if m is not None:
                    m_next = next(mirror_rows, None)
                    if m_next is not None and m_next[0] <= m[0]:
                        mc, m_next = _rest_of_group(m, m_next, mirror_rows, Side.MIRROR)
        # One side is exhausted: the rest of the other is missing in, or extra at, the mirror.
        for side, head, count, ahead, rows in (
            (Side.OWNER, o, oc, o_next, owner_rows),
            (Side.MIRROR, m, mc, m_next, mirror_rows),
        ):
            while head is not None:
                done = head[0]
                yield from self._emit(done, self._one_side(head, count, side))
                head, count, ahead = _group(ahead, rows, side)
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
            differing = differing_fields(self.fields, owner.values, mirror.values)
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


def differing_fields(
    fields: tuple[str, ...], owner: tuple[str | None, ...], mirror: tuple[str | None, ...]
) -> tuple[FieldDifference, ...]:
    """The fields whose values differ; none when a side's row came without values."""
    if not owner or not mirror:
        return ()
    return tuple(
        FieldDifference(name=name, owner=ov, mirror=mv)
        for name, ov, mv in zip(fields, owner, mirror, strict=True)
        if ov != mv
    )


def with_values(
    finding: Finding,
    owner: tuple[str | None, ...],
    mirror: tuple[str | None, ...],
    fields: tuple[str, ...] = MIRRORED_FIELDS,
) -> Finding:
    """A field mismatch found on rows listed without their values (`Entry.values` empty: the cheap
    listing, key + fingerprint + state), with the differing fields named once the two rows' values
    have been read by key. Only differing rows need that second read."""
    if finding.kind is not FindingKind.FIELD_MISMATCH:
        raise ValueError(f"only a field mismatch names fields, not {finding.kind.value}")
    return replace(finding, fields=differing_fields(fields, owner, mirror))
