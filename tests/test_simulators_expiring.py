"""What the simulators remember for a while (request ids, nonces): expiry, and its cost."""

from __future__ import annotations

from collections import OrderedDict
from datetime import datetime, timedelta

from simulators.expiring import Expiring

T0 = datetime(2026, 11, 27, 9, 0, 0)


def test_an_entry_lives_its_ttl_from_when_it_was_stored() -> None:
    memory: Expiring[str, int] = Expiring(timedelta(seconds=60))
    memory.put("a", 1, T0)
    memory.put("b", 2, T0 + timedelta(seconds=30))
    assert memory.get("a", T0 + timedelta(seconds=59)) == 1
    assert memory.get("a", T0 + timedelta(seconds=60)) is None  # expired at exactly its ttl
    assert memory.get("b", T0 + timedelta(seconds=60)) == 2
    assert len(memory) == 1  # "a" was forgotten, not only hidden


def test_storing_again_restarts_the_ttl() -> None:
    memory: Expiring[str, int] = Expiring(timedelta(seconds=60))
    memory.put("a", 1, T0)
    memory.put("b", 2, T0 + timedelta(seconds=10))
    memory.put("a", 3, T0 + timedelta(seconds=20))  # now the latest to expire
    assert memory.get("b", T0 + timedelta(seconds=75)) is None
    assert memory.get("a", T0 + timedelta(seconds=75)) == 3


def test_a_clock_set_back_never_answers_from_an_expired_entry() -> None:
    memory: Expiring[str, int] = Expiring(timedelta(seconds=60))
    memory.put("late", 1, T0 + timedelta(hours=1))
    memory.put("early", 2, T0)  # stored after, expires before: behind a live entry
    assert memory.get("early", T0 + timedelta(seconds=61)) is None
    assert memory.get("late", T0 + timedelta(seconds=61)) == 1


class _CountingEntries(OrderedDict):  # type: ignore[type-arg]
    looks = 0

    def items(self):  # type: ignore[no-untyped-def, override]
        type(self).looks += 1
        return super().items()


def test_forgetting_looks_at_the_oldest_entries_only() -> None:
    """Ten thousand live ids: a lookup inspects one entry, not all of them (the GSXT simulator
    used to scan every remembered requestId on each write)."""
    memory: Expiring[str, int] = Expiring(timedelta(hours=24))
    memory._entries = _CountingEntries()
    for i in range(10_000):
        memory.put(f"id-{i}", i, T0 + timedelta(seconds=i))
    _CountingEntries.looks = 0
    assert memory.get("id-5000", T0 + timedelta(hours=1)) == 5000
    assert _CountingEntries.looks == 1
    _CountingEntries.looks = 0
    assert memory.get("id-9999", T0 + timedelta(hours=24, seconds=100)) == 9999  # 101 expired
    assert _CountingEntries.looks == 102 and len(memory) == 10_000 - 101
