"""Divergences of every kind, seeded only through the simulators' admin APIs, with their ground truth.

The simulators start consistent (simulators/README.md); each seed below changes one system the way
an operator, a skipped feed row or a restored backup would, and says which findings a
reconciliation must report for it: (kind, category, owner system, mirror system, identity key, side).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import aiohttp

from gateway.domain.categories import Category
from gateway.domain.identity import RecordIdentity

CC, GS = "creditchina_gansu", "gsxt_gansu"
PENALTY, ABNORMAL = Category.ADMIN_PENALTY.value, Category.ABNORMAL_OPERATIONS.value

Expected = tuple[str, str, str, str, str, str | None]  # kind, category, owner, mirror, key, side


def key_of(category: str, code: str, number: str) -> str:
    return RecordIdentity.of(Category(category), code, number).key


_FULL_WIDTH = str.maketrans("0123456789", "０１２３４５６７８９")


@dataclass
class World:
    urls: Mapping[str, str]
    cc_rows: list[dict[str, Any]]
    gs_records: list[dict[str, Any]]

    @classmethod
    async def read(cls, urls: Mapping[str, str]) -> World:
        async with aiohttp.ClientSession() as session:
            async with session.get(urls[CC] + "/admin/records") as answer:
                cc_rows = (await answer.json())["records"]
            async with session.get(urls[GS] + "/admin/records") as answer:
                gs_records = (await answer.json())["records"]
        return cls(urls, cc_rows, gs_records)

    def cc_row(self, number: str, rowtype: str = "CF") -> dict[str, Any]:
        column = f"{rowtype}_WSH"
        return copy.deepcopy(next(r for r in self.cc_rows if r["ROWTYPE"] == rowtype and r.get(column) == number))

    def cc_penalties(self, *, owned_by_gsxt: bool) -> list[dict[str, Any]]:
        """Current-generation 信用中国 penalty rows also on GSXT, of SAMR (GSXT's) or of others (信用中国's)."""
        on_gsxt = {(r["penDecNo"], r["table"]) for r in self.gs_records if r["table"] in ("punish", "otherpunish")}
        table = "punish" if owned_by_gsxt else "otherpunish"
        return [
            copy.deepcopy(r)
            for r in self.cc_rows
            if r["ROWTYPE"] == "CF" and "CF_CFJG" in r and (r["CF_WSH"], table) in on_gsxt
        ]

    def gs_record(self, table: str, number: str) -> dict[str, Any]:
        return copy.deepcopy(next(r for r in self.gs_records if r["table"] == table and r["penDecNo"] == number))


async def _post(session: aiohttp.ClientSession, url: str, body: dict[str, Any]) -> dict[str, Any]:
    async with session.post(url, json=body) as answer:
        payload: dict[str, Any] = await answer.json()
        assert answer.status == 200, payload
        return payload


def _loadable_cc(row: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in row.items() if k not in ("ID", "SJC")}


async def seed_every_kind(urls: Mapping[str, str], *, healable_only: bool = False) -> set[Expected]:
    """Seed one divergence of each kind (healable_only: only those a heal can fix); the findings
    a run must report for them."""
    world = await World.read(urls)
    cc_owned = world.cc_penalties(owned_by_gsxt=False)
    gs_owned = world.cc_penalties(owned_by_gsxt=True)
    assert len(cc_owned) >= 2 and len(gs_owned) >= 3, "the seed world changed"
    expected: set[Expected] = set()
    async with aiohttp.ClientSession() as session:
        # Missing in the mirror: a penalty 信用中国 owns, entered there after the feeds were read
        # (GSXT never got it).
        missing = _loadable_cc(cc_owned[0])
        missing["CF_WSH"] = missing["CF_WSH"].replace("号", "901号")
        await _post(session, urls[CC] + "/admin/load", {"rows": [missing]})
        expected.add(
            ("missing_in_mirror", PENALTY, CC, GS, key_of(PENALTY, missing["CF_CFJGDM"], missing["CF_WSH"]), None)
        )
        # State mismatch, the owner stopped: GSXT's operator stops a SAMR penalty; 信用中国 still shows it.
        stopped = gs_owned[0]
        await _post(
            session,
            urls[GS] + "/admin/repair",
            {"table": "punish", "penDecNo": stopped["CF_WSH"], "judAuthCode": stopped["CF_CFJGDM"]},
        )
        expected.add(
            ("state_mismatch", PENALTY, GS, CC, key_of(PENALTY, stopped["CF_CFJGDM"], stopped["CF_WSH"]), None)
        )
        # 多头修复: 信用中国's operator stops a SAMR penalty it only mirrors: a state mismatch and a
        # foreign stop on the mirror's side.
        foreign = gs_owned[1]
        await _post(
            session,
            urls[CC] + "/admin/repair",
            {"CF_WSH": foreign["CF_WSH"], "CF_CFJGDM": foreign["CF_CFJGDM"], "ZZYY": "01"},
        )
        foreign_key = key_of(PENALTY, foreign["CF_CFJGDM"], foreign["CF_WSH"])
        expected.add(("state_mismatch", PENALTY, GS, CC, foreign_key, None))
        expected.add(("foreign_stop", PENALTY, GS, CC, foreign_key, "mirror"))
        # Field mismatch: 信用中国 carries another decision date for a SAMR penalty.
        edited = _loadable_cc(gs_owned[2])
        edited["CF_JDRQ"] = "2020/01/02"
        await _post(session, urls[CC] + "/admin/load", {"rows": [edited]})
        expected.add(("field_mismatch", PENALTY, GS, CC, key_of(PENALTY, edited["CF_CFJGDM"], edited["CF_WSH"]), None))
        # The second category: 信用中国 removes an abnormal-list entry GSXT owns (多头修复).
        entry = next(r for r in world.cc_rows if r["ROWTYPE"] == "YC")
        await _post(
            session,
            urls[CC] + "/admin/repair",
            {"YC_WSH": entry["YC_WSH"], "YC_JDJGDM": entry["YC_JDJGDM"], "ZZYY": "04"},
        )
        entry_key = key_of(ABNORMAL, entry["YC_JDJGDM"], entry["YC_WSH"])
        expected.add(("state_mismatch", ABNORMAL, GS, CC, entry_key, None))
        expected.add(("foreign_stop", ABNORMAL, GS, CC, entry_key, "mirror"))
        if healable_only:
            return expected
        # Extra in the mirror: GSXT publishes another department's penalty 信用中国 never had.
        extra = world.gs_record("otherpunish", cc_owned[1]["CF_WSH"])
        extra.pop("table")
        extra["caseId"] = ""
        extra["penDecNo"] = extra["penDecNo"].replace("号", "902号")
        await _post(session, urls[GS] + "/admin/load", {"table": "otherpunish", "records": [extra]})
        expected.add(
            ("extra_in_mirror", PENALTY, CC, GS, key_of(PENALTY, extra["judAuthCode"], extra["penDecNo"]), None)
        )
        # Duplicate: 信用中国 holds one of its penalties a second time, its 文号 typed in full-width digits.
        twin = _loadable_cc(cc_owned[1])
        twin["CF_WSH"] = twin["CF_WSH"].translate(_FULL_WIDTH)
        await _post(session, urls[CC] + "/admin/load", {"rows": [twin]})
        expected.add(
            ("duplicate", PENALTY, CC, GS, key_of(PENALTY, cc_owned[1]["CF_CFJGDM"], cc_owned[1]["CF_WSH"]), "owner")
        )
    return expected


def found_set(findings: list[Any]) -> set[Expected]:
    return {(f.kind, f.category, f.owner_system, f.mirror_system, f.identity_key, f.side) for f in findings}


def found_set_json(findings: list[dict[str, Any]]) -> set[Expected]:
    return {
        (f["kind"], f["category"], f["owner_system"], f["mirror_system"], f["identity_key"], f["side"])
        for f in findings
    }
