"""Do the systems agree with the canonical state? Pure comparison, used by the demo's convergence
check (and the seed of the nightly reconciliation diff)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from gateway.domain.model import CanonicalRecord, Publicity, TargetState


@dataclass(frozen=True, kw_only=True)
class Disagreement:
    record_id: str
    system: str
    expected: TargetState
    found: TargetState | None  # None: the system does not show the record at all

    @property
    def label(self) -> str:
        found = self.found.label if self.found else "missing"
        return f"{self.record_id} on {self.system}: expected {self.expected.label}, found {found}"


def disagreements(
    records: Iterable[CanonicalRecord],
    views: Mapping[str, Mapping[str, TargetState]],
    publishers: Mapping[str, tuple[str, ...]],
) -> list[Disagreement]:
    """Every (record, system) where a system that should show the record shows another state.

    `views[system][record_id]` is what that system shows; `publishers[record_id]` the systems that
    must show it. Records only a mirror has reported (not authoritative) are not judged. A system
    that does not hold a stopped record at all agrees with it: it publishes nothing (a mirror that
    never held a list entry removed before go-live is sent no stop, plan._first_fan_out; the court
    deletes what it removes).
    """
    out = []
    for record in records:
        if not record.state.authoritative:
            continue
        for system in publishers.get(record.record_id, ()):
            view = views.get(system)
            if view is None:
                continue  # not a system we can see
            found = view.get(record.record_id)
            if found is None and record.state.target.status is Publicity.STOPPED:
                continue
            if found != record.state.target:
                out.append(
                    Disagreement(record_id=record.record_id, system=system, expected=record.state.target, found=found)
                )
    return sorted(out, key=lambda d: (d.system, d.record_id))
