"""What a simulated system remembers for a while: answered request ids, used nonces.

Every entry lives one fixed `ttl` from when it was stored, so storing order is expiry order (the
clock only moves forward); forgetting the expired ones therefore looks only at the oldest entries,
not at everything remembered. A day of request ids is tens of thousands: scanning all of them on
every write made the GSXT simulator spend three quarters of its CPU there under load.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Hashable
from datetime import datetime, timedelta
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class Expiring(Generic[K, V]):
    def __init__(self, ttl: timedelta) -> None:
        self.ttl = ttl
        # An OrderedDict, not a dict: taking its oldest entry stays O(1) however many were
        # deleted before it (a plain dict's iteration walks over the deleted slots).
        self._entries: OrderedDict[K, tuple[datetime, V]] = OrderedDict()

    def get(self, key: K, now: datetime) -> V | None:
        """The value stored under `key`, unless it expired by `now`."""
        self._forget_expired(now)
        entry = self._entries.get(key)
        # Checked again: a clock set back (a test's, an operator's) can leave an expired entry
        # behind one that is not.
        return entry[1] if entry is not None and entry[0] > now else None

    def put(self, key: K, value: V, now: datetime) -> None:
        self._entries[key] = (now + self.ttl, value)
        self._entries.move_to_end(key)  # its expiry is now the latest

    def clear(self) -> None:
        self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)

    def _forget_expired(self, now: datetime) -> None:
        while self._entries:
            key, (expires, _) = next(iter(self._entries.items()))
            if expires > now:
                return
            del self._entries[key]
