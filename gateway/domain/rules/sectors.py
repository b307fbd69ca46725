"""The sector of a penalty (食品、药品、特种设备、安全生产、消防), derived from what the record carries.

The sector lengthens the minimum period (domain.md §5.1, §5.3, §8.5), and no system states it, so
it is read from the record's legal basis (the statutes cited in 处罚依据, the violation or the
content), its deciding authority's name and the words of its violation, with the markers of the
rule data (`data.SECTORS`, each with its source). A record is known to be outside every sector only
when its substantive legal basis names no sector statute or its authority's remit holds none;
otherwise the answer is "unknown", with the reason, and the rule engine gives no minimum period
rather than the short one. The authority's code is not read: GB 32100 carries no sector. Pure.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from gateway.domain.model import DomainFlag, RecordFacts
from gateway.domain.rules.schema import SectorMarker, SectorRules

_CITATION = re.compile(r"《([^》]+)》")
_PREFIX = "中华人民共和国"


@dataclass(frozen=True, kw_only=True)
class SectorFinding:
    """`sectors` when `known`; `evidence` says what was read, `reason` why the sector is unknown."""

    known: bool
    sectors: frozenset[DomainFlag]
    evidence: tuple[str, ...] = ()
    reason: str | None = None
    source: str | None = None


def cited_statutes(*texts: str | None) -> tuple[str, ...]:
    """The titles cited as 《…》 in `texts`, without the 中华人民共和国 prefix, in order, once each."""
    titles = (m.group(1).strip() for t in texts if t for m in _CITATION.finditer(t))
    return tuple(dict.fromkeys(t.removeprefix(_PREFIX).strip() for t in titles if t.strip()))


def _statute_in(marker: SectorMarker, title: str) -> bool:
    # A provincial statute of the sector (《甘肃省食品安全条例》) names the sector's object in its title.
    return title in marker.laws.value or any(term in title for term in marker.violation_terms.value)


def derive_sectors(facts: RecordFacts, rules: SectorRules) -> SectorFinding:
    """The sectors of `facts` (empty and known: in none of them), or unknown with the reason."""
    found: set[DomainFlag] = set(facts.domain_flags)
    evidence: list[str] = [f"domain_flags: {f.value}" for f in sorted(facts.domain_flags)]
    sources: list[str] = []
    statutes = cited_statutes(facts.legal_basis, facts.violation, facts.content)
    words = " ".join(t for t in (facts.violation, facts.content) if t)
    for marker in rules.markers:
        hits = [f"《{t}》" for t in statutes if _statute_in(marker, t)]
        if hits:
            evidence.append(f"{marker.label}: legal basis {'、'.join(hits)}")
            sources.append(marker.laws.source)
        authority = next((a for a in sorted(marker.authorities.value) if a in facts.authority_name), None)
        if authority is not None:
            evidence.append(f"{marker.label}: authority {facts.authority_name}")
            sources.append(marker.authorities.source)
        term = next((w for w in sorted(marker.violation_terms.value) if w in words), None)
        if term is not None:
            evidence.append(f"{marker.label}: violation names {term}")
            sources.append(marker.violation_terms.source)
        if hits or authority is not None or term is not None:
            found.add(marker.sector)
    if found:
        return SectorFinding(
            known=True, sectors=frozenset(found), evidence=tuple(evidence), source=sources[0] if sources else None
        )
    substantive = [t for t in statutes if t not in rules.procedural_laws.value]
    if substantive:
        listed = "、".join(f"《{t}》" for t in substantive)
        return SectorFinding(
            known=True,
            sectors=frozenset(),
            evidence=(f"legal basis {listed} names no sector statute",),
            source=rules.markers[0].laws.source,
        )
    outside = next((a for a in sorted(rules.outside_authorities.value) if a in facts.authority_name), None)
    if outside is not None:
        return SectorFinding(
            known=True,
            sectors=frozenset(),
            evidence=(f"authority {facts.authority_name}: its remit holds none of the sectors",),
            source=rules.outside_authorities.source,
        )
    labels = "、".join(m.label for m in rules.markers)
    return SectorFinding(
        known=False,
        sectors=frozenset(),
        reason=(
            f"whether the penalty belongs to {labels} (a longer minimum period) cannot be told: the record cites no "
            f"substantive legal basis, its violation names none of these sectors, and its authority "
            f"({facts.authority_name}) may decide penalties of several sectors"
        ),
        source=rules.markers[0].laws.source,
    )
