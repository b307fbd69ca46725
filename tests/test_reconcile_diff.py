"""The streaming reconciliation diff against a naive in-memory reference, its checkpoints, and its
refusal of unsorted input."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import replace
from datetime import date
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway.domain.categories import AuthorityDomain, Category, SubjectType
from gateway.domain.model import MIRRORED_FIELDS, Publicity, RecordFacts, mirrored_fingerprint, mirrored_values
from gateway.domain.reconcile import (
    Diff,
    Entry,
    FieldDifference,
    Finding,
    FindingKind,
    Side,
    UnsortedInput,
    entry_of,
    with_values,
)

OWNER = "gsxt_gansu"
MIRROR = "creditchina_gansu"
FIELDS = ("decision_date", "fine_wan_yuan")


def reference(owner: list[Entry], mirror: list[Entry], fields: tuple[str, ...] = FIELDS) -> list[Finding]:
    """The diff as plainly as it can be said: everything in dicts, keys sorted by their UTF-8 bytes."""
    counts = {Side.OWNER: Counter(e.key for e in owner), Side.MIRROR: Counter(e.key for e in mirror)}
    firsts: dict[Side, dict[str, Entry]] = {Side.OWNER: {}, Side.MIRROR: {}}
    for side, rows in ((Side.OWNER, owner), (Side.MIRROR, mirror)):
        for e in rows:
            firsts[side].setdefault(e.key, e)

    def finding(kind: FindingKind, key: str, **kw: object) -> Finding:
        return Finding(kind=kind, key=key, owner_system=OWNER, mirror_system=MIRROR, **kw)  # type: ignore[arg-type]

    out: list[Finding] = []
    for key in sorted(set(firsts[Side.OWNER]) | set(firsts[Side.MIRROR]), key=lambda k: k.encode()):
        for side in Side:
            if counts[side][key] > 1:
                out.append(finding(FindingKind.DUPLICATE, key, side=side, count=counts[side][key]))
        o = firsts[Side.OWNER].get(key)
        m = firsts[Side.MIRROR].get(key)
        if m is None:
            assert o is not None
            out.append(finding(FindingKind.MISSING_IN_MIRROR, key, owner_status=o.status))
        elif o is None:
            out.append(finding(FindingKind.EXTRA_IN_MIRROR, key, mirror_status=m.status))
        else:
            if o.status != m.status:
                out.append(finding(FindingKind.STATE_MISMATCH, key, owner_status=o.status, mirror_status=m.status))
            if o.fingerprint != m.fingerprint:
                differing = tuple(
                    FieldDifference(name=n, owner=a, mirror=b)
                    for n, a, b in zip(fields, o.values, m.values, strict=True)
                    if a != b
                )
                out.append(
                    finding(
                        FindingKind.FIELD_MISMATCH,
                        key,
                        owner_status=o.status,
                        mirror_status=m.status,
                        fields=differing,
                    )
                )
        for side, e in ((Side.OWNER, o), (Side.MIRROR, m)):
            if e is not None and e.status is Publicity.STOPPED and e.stopped_by not in (None, OWNER):
                out.append(finding(FindingKind.FOREIGN_STOP, key, side=side, stopped_by=e.stopped_by))
    return out


def run(owner: Iterable[Entry], mirror: Iterable[Entry], after: str | None = None) -> list[Finding]:
    return list(Diff(owner, mirror, owner_system=OWNER, mirror_system=MIRROR, fields=FIELDS, after=after))


def precision_recall(found: list[Finding], expected: list[Finding]) -> dict[FindingKind, tuple[float, float]]:
    out = {}
    for kind in FindingKind:
        f = Counter(repr(x) for x in found if x.kind is kind)
        e = Counter(repr(x) for x in expected if x.kind is kind)
        hits = sum((f & e).values())
        out[kind] = (hits / sum(f.values()) if f else 1.0, hits / sum(e.values()) if e else 1.0)
    return out


def sort_rows(rows: list[Entry]) -> list[Entry]:
    return sorted(rows, key=lambda e: e.key.encode())  # stable: duplicates keep their order


# Keys from a small alphabet, so that sides share keys often; it holds the separator, ASCII,
# CJK and a character beyond the BMP (where UTF-16 order and byte order disagree).
keys = st.text(alphabet="\x1fa0Z号甲\U00020000\uff10", min_size=1, max_size=4)
values = st.tuples(st.sampled_from([None, "2026-01-02", "2026-01-03"]), st.sampled_from([None, "1.5", "2"]))
states = st.sampled_from(
    [
        (Publicity.PUBLISHED, None),
        (Publicity.STOPPED, None),
        (Publicity.STOPPED, OWNER),
        (Publicity.STOPPED, MIRROR),
        (Publicity.STOPPED, "court"),
    ]
)


@st.composite
def rows(draw: st.DrawFn, universe: list[str]) -> list[Entry]:
    out = []
    for key in universe:
        for _ in range(draw(st.sampled_from([0, 1, 1, 1, 2, 3]))):
            vals = draw(values)
            status, by = draw(states)
            out.append(Entry(key, mirrored_fingerprint(vals), status, by, vals))
    return sort_rows(out)


@st.composite
def listings(draw: st.DrawFn) -> tuple[list[Entry], list[Entry]]:
    universe = draw(st.lists(keys, unique=True, max_size=25))
    owner = draw(rows(universe))
    # The mirror mostly agrees with the owner, so every kind meets every other in one listing.
    mirror = []
    for e in owner:
        choice = draw(st.integers(0, 5))
        if choice <= 2:
            mirror.append(e)
        elif choice == 3:
            vals = draw(values)
            status, by = draw(states)
            mirror.append(Entry(e.key, mirrored_fingerprint(vals), status, by, vals))
    mirror += draw(rows(universe))
    return owner, sort_rows(mirror)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(listings())
def test_streaming_diff_matches_the_reference(data: tuple[list[Entry], list[Entry]]) -> None:
    owner, mirror = data
    found = run(iter(owner), iter(mirror))
    expected = reference(owner, mirror)
    scores = precision_recall(found, expected)
    assert all(score == (1.0, 1.0) for score in scores.values()), scores
    assert found == expected  # same findings, same order: deterministic


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(listings(), st.integers(0, 40), st.booleans())
def test_resume_from_checkpoint_reports_the_same_findings(
    data: tuple[list[Entry], list[Entry]], stop_after: int, sources_restart: bool
) -> None:
    owner, mirror = data
    full = run(owner, mirror)
    first = Diff(iter(owner), iter(mirror), owner_system=OWNER, mirror_system=MIRROR, fields=FIELDS)
    taken: list[Finding] = []
    for finding in first:
        taken.append(finding)
        if len(taken) == stop_after:
            break  # the run is killed here: only what was saved with the checkpoint survives
    checkpoint = first.checkpoint
    kept = [f for f in taken if checkpoint is not None and f.key.encode() <= checkpoint.encode()]
    if sources_restart:
        # The sources read again from the start; the diff skips what the checkpoint covers.
        resumed = run(owner, mirror, after=checkpoint)
    else:
        # The sources resume too (`WHERE key > checkpoint`).
        def beyond(rows: list[Entry]) -> list[Entry]:
            return [e for e in rows if checkpoint is None or e.key > checkpoint]

        resumed = run(beyond(owner), beyond(mirror), after=checkpoint)
    assert kept + resumed == full


@settings(max_examples=200, deadline=None)
@given(listings())
def test_checkpoint_never_passes_an_unreported_finding(data: tuple[list[Entry], list[Entry]]) -> None:
    owner, mirror = data
    run_ = Diff(owner, mirror, owner_system=OWNER, mirror_system=MIRROR, fields=FIELDS)
    full = run(owner, mirror)
    for seen, finding in enumerate(run_, start=1):
        cp = run_.checkpoint
        if cp is None:
            continue
        assert finding.key.encode() >= cp.encode()
        # Every finding at or below the checkpoint has been handed out already.
        assert all(f.key.encode() > cp.encode() for f in full[seen:])
    all_keys = [e.key for e in owner + mirror]
    assert run_.checkpoint == (max(all_keys, key=lambda k: k.encode()) if all_keys else None)


@settings(max_examples=200, deadline=None)
@given(st.lists(keys, unique=True, min_size=2, max_size=20), st.data())
def test_unsorted_input_raises(universe: list[str], data: st.DataObject) -> None:
    ordered = sorted(universe, key=lambda k: k.encode())
    i = data.draw(st.integers(0, len(ordered) - 2))
    j = data.draw(st.integers(i + 1, len(ordered) - 1))
    shuffled = [*ordered]
    shuffled[i], shuffled[j] = shuffled[j], shuffled[i]
    entries = [Entry(k, "f", Publicity.PUBLISHED) for k in shuffled]
    side = data.draw(st.sampled_from(Side))
    sorted_entries = [Entry(k, "f", Publicity.PUBLISHED) for k in ordered]
    owner, mirror = (entries, sorted_entries) if side is Side.OWNER else (sorted_entries, entries)
    with pytest.raises(UnsortedInput) as raised:
        run(owner, mirror)
    assert raised.value.side is side


def test_unsorted_input_says_where() -> None:
    rows = [Entry("b", "f", Publicity.PUBLISHED), Entry("a", "f", Publicity.PUBLISHED)]
    with pytest.raises(UnsortedInput, match=r"mirror listing is not sorted by key .*key 'a' comes after 'b'"):
        run([], rows)


def test_order_is_utf8_byte_order_not_utf16() -> None:
    # U+FF10 sorts after U+20000 in UTF-16 code units but before it in UTF-8 bytes.
    low, high = "k\uff10", "k\U00020000"
    assert low.encode() < high.encode()
    rows = [Entry(low, "f", Publicity.PUBLISHED), Entry(high, "f", Publicity.PUBLISHED)]
    assert run(rows, rows) == []
    with pytest.raises(UnsortedInput):
        run(rows[::-1], rows[::-1])


def test_duplicates_are_reported_and_the_rest_still_diffed() -> None:
    a = Entry("a", "f", Publicity.PUBLISHED)
    b = Entry("b", "f", Publicity.PUBLISHED)
    c = Entry("c", "f", Publicity.PUBLISHED)
    found = run([a, a, a, b, c], [a, c, c])
    assert [(f.kind, f.key, f.side, f.count) for f in found] == [
        (FindingKind.DUPLICATE, "a", Side.OWNER, 3),
        (FindingKind.MISSING_IN_MIRROR, "b", None, 1),
        (FindingKind.DUPLICATE, "c", Side.MIRROR, 2),
    ]


def facts(**kw: object) -> RecordFacts:
    base = RecordFacts(
        category=Category.ADMIN_PENALTY,
        authority_name="兰州市市场监督管理局",
        authority_code="11620100MB1234567X",
        document_number="兰市监罚〔2026〕 12 号",
        authority_domain=AuthorityDomain.MARKET_REGULATION,
        subject_name="兰州某某商贸有限公司",
        subject_type=SubjectType.LEGAL_ENTITY,
        decision_date=date(2026, 3, 4),
        fine_wan_yuan=Decimal("1.5"),
        violation="未按规定公示年度报告",
    )
    return replace(base, **kw)  # type: ignore[arg-type]


def test_every_kind_on_canonical_facts() -> None:
    """The diff over entries made from the canonical model: each kind names what it found."""
    same = facts()
    moved = facts(document_number="兰市监罚〔2026〕13号")
    fined = facts(document_number="兰市监罚〔2026〕14号")
    extra = facts(document_number="兰市监罚〔2026〕15号")
    stopped = facts(document_number="兰市监罚〔2026〕16号")
    owner = sorted(
        [
            entry_of(same, Publicity.PUBLISHED),
            entry_of(moved, Publicity.PUBLISHED),
            entry_of(fined, Publicity.PUBLISHED),
            entry_of(stopped, Publicity.STOPPED, stopped_by=OWNER),
        ],
        key=lambda e: e.key.encode(),
    )
    mirror = sorted(
        [
            # Full-width digits and spaces in the 文号 normalise to the same identity.
            entry_of(facts(document_number="兰市监罚〔２０２６〕１２号"), Publicity.PUBLISHED),
            entry_of(replace(fined, fine_wan_yuan=Decimal("2")), Publicity.PUBLISHED),
            entry_of(extra, Publicity.PUBLISHED),
            entry_of(stopped, Publicity.STOPPED, stopped_by=MIRROR),
        ],
        key=lambda e: e.key.encode(),
    )
    found = list(Diff(owner, mirror, owner_system=OWNER, mirror_system=MIRROR))
    by_kind = {(f.kind, f.key) for f in found}
    assert by_kind == {
        (FindingKind.MISSING_IN_MIRROR, moved.identity.key),
        (FindingKind.FIELD_MISMATCH, fined.identity.key),
        (FindingKind.EXTRA_IN_MIRROR, extra.identity.key),
        (FindingKind.FOREIGN_STOP, stopped.identity.key),
    }
    mismatch = next(f for f in found if f.kind is FindingKind.FIELD_MISMATCH)
    assert mismatch.fields == (FieldDifference(name="fine_wan_yuan", owner="1.5", mirror="2"),)
    foreign = next(f for f in found if f.kind is FindingKind.FOREIGN_STOP)
    assert (foreign.side, foreign.stopped_by) == (Side.MIRROR, MIRROR)


def test_mirrored_projection_leaves_out_what_mirrors_do_not_carry() -> None:
    a = facts()
    b = replace(a, subject_name="兰州某某商贸公司", severity=None, publication_date=date(2026, 3, 9))
    assert mirrored_values(a) == mirrored_values(b) == ("2026-03-04", "1.5", None, "未按规定公示年度报告", None)
    assert len(MIRRORED_FIELDS) == len(mirrored_values(a))
    assert mirrored_fingerprint(mirrored_values(a)) == mirrored_fingerprint(mirrored_values(b))
    assert mirrored_fingerprint((None,)) != mirrored_fingerprint(("None",))
    assert a.identity.key == "admin_penalty\x1f11620100MB1234567X\x1f兰市监罚〔2026〕12号"


def test_rows_listed_without_values_get_their_fields_named_afterwards() -> None:
    owner_values, mirror_values = ("2026-01-02", "1.5"), ("2026-01-02", "2")
    owner = [Entry("a", mirrored_fingerprint(owner_values), Publicity.PUBLISHED)]
    mirror = [Entry("a", mirrored_fingerprint(mirror_values), Publicity.PUBLISHED)]
    (found,) = run(owner, mirror)
    assert (found.kind, found.fields) == (FindingKind.FIELD_MISMATCH, ())
    named = with_values(found, owner_values, mirror_values, FIELDS)
    assert named.fields == (FieldDifference(name="fine_wan_yuan", owner="1.5", mirror="2"),)
    assert named == replace(found, fields=named.fields)
    with pytest.raises(ValueError, match="only a field mismatch"):
        with_values(run(owner, [])[0], owner_values, mirror_values, FIELDS)


def test_memory_does_not_grow_with_the_input() -> None:
    """Nothing proportional to the input is kept: the peak of what Python allocates while diffing
    lazily made listings is the same for 2,000 and 40,000 rows per side (a structural property
    measured by tracemalloc, not a speed)."""
    import tracemalloc

    def listing(n: int, side: Side) -> Iterable[Entry]:
        for i in range(n):
            if side is Side.MIRROR and i % 97 == 0:
                continue  # a missing row now and then, so findings flow too
            yield Entry(f"k{i:08d}", "f", Publicity.PUBLISHED, None, ("2026-01-02", "1.5"))

    def peak(n: int) -> int:
        tracemalloc.start()
        try:
            findings = 0
            for _ in Diff(listing(n, Side.OWNER), listing(n, Side.MIRROR), owner_system=OWNER, mirror_system=MIRROR):
                findings += 1
            assert findings == len(range(0, n, 97))
            return tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()

    small, large = peak(2_000), peak(40_000)
    assert large - small < 16 * 1024, (small, large)
