"""Which owner/mirror pairs a run compares, from the ownership table and the configured connectors.

Generic over `SPECS`: a connector joins the run by declaring, per category, the row kinds its full
listing holds (`ConnectorSpec.listings`); pairs follow from `owner_of` / `mirrors_of` over every
authority domain and subject type, so a new list authority needs no change here.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass

from gateway.domain.categories import AuthorityDomain, Category, SubjectType, mirrors_of, owner_of


@dataclass(frozen=True, kw_only=True)
class Pair:
    category: Category
    owner: str
    mirror: str


def pairs_of(category: Category) -> list[Pair]:
    """Every (owner, mirror) the ownership table allows for `category`, in a stable order."""
    found: set[tuple[str, str]] = set()
    for domain in AuthorityDomain:
        owner = owner_of(category, domain).value
        for subject in SubjectType:
            for mirror in mirrors_of(category, domain, subject):
                found.add((owner, mirror.value))
    return [Pair(category=category, owner=o, mirror=m) for o, m in sorted(found)]


def planned_pairs(
    listings: Mapping[str, Mapping[Category, tuple[str, ...]]],
    *,
    systems: Collection[str],
    system: str | None = None,
    category: Category | None = None,
) -> list[Pair]:
    """The pairs a run covers: both systems configured and listing the category, narrowed to one
    system (as owner or mirror) and/or one category."""
    out = []
    for cat in Category:
        if category is not None and cat is not category:
            continue
        for pair in pairs_of(cat):
            if pair.owner not in systems or pair.mirror not in systems:
                continue
            if system is not None and system not in (pair.owner, pair.mirror):
                continue
            if not listings.get(pair.owner, {}).get(cat) or not listings.get(pair.mirror, {}).get(cat):
                continue
            out.append(pair)
    return out
