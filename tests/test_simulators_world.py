"""The synthetic world: deterministic, valid codes, consistent renderings in each native dialect."""

from __future__ import annotations

import re

import pytest

from simulators import uscc
from simulators.world import WORLD_SEED, build_world, creditchina_gansu_rows, gsxt_gansu_records

SLASH_DATE = re.compile(r"\d{4}/\d{2}/\d{2}")
DASH_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


@pytest.mark.parametrize(
    ("code", "valid"),
    [
        ("91350200776049653A", True),
        ("91350500798359476R", True),
        ("913502000728319549", True),
        ("91440101MA5CJQ4N59", True),
        ("91330203674737244W", True),
        ("91330203674737244w", True),  # exports carry lowercase codes
        ("91620102MA72ABCD94", True),
        ("91350200776049653B", False),
        ("91350203M0001QAY9B", False),
        ("91350100M0001TGQXM", False),
        ("00000000000000000X", False),
    ],
)
def test_check_digit_vectors(code: str, valid: bool) -> None:
    assert uscc.is_valid(code) is valid


def test_well_formed_is_about_length_and_alphabet_only() -> None:
    assert uscc.is_well_formed("91350200776049653B")  # bad checksum, still well formed
    assert not uscc.is_well_formed("91350200776049653")  # 17 characters
    assert not uscc.is_well_formed("9135020077604965IO")  # I and O are not in the alphabet


def test_two_builds_are_equal() -> None:
    build_world.cache_clear()
    first = build_world(WORLD_SEED)
    build_world.cache_clear()
    second = build_world(WORLD_SEED)
    assert first == second and first is not second
    assert creditchina_gansu_rows(first) == creditchina_gansu_rows(second)
    assert gsxt_gansu_records(first) == gsxt_gansu_records(second)


def test_world_shape() -> None:
    world = build_world()
    kinds = [s.kind for s in world.subjects]
    assert 35 <= len(world.subjects) <= 45
    assert kinds.count("individual_business") >= 3 and kinds.count("natural_person") >= 2
    assert any(p.legacy for p in world.penalties)
    assert any(len(p.kinds) > 1 for p in world.penalties)
    assert {p.subject.kind for p in world.penalties if not p.samr} >= {"natural_person", "enterprise"}
    dates = [p.decided_on for p in world.penalties] + [e.listed_on for e in world.abnormal_entries]
    assert all(2024 <= d.year <= 2026 for d in dates)
    legacy_share = sum(p.legacy for p in world.penalties if not p.samr) / sum(1 for p in world.penalties if not p.samr)
    assert 0.2 <= legacy_share <= 0.45


def test_every_generated_code_passes_the_check_digit() -> None:
    world = build_world()
    codes = [s.uscc for s in world.subjects if s.kind != "natural_person"]
    codes += [a.uscc for a in world.authorities]
    assert codes and all(uscc.is_valid(code) for code in codes)
    assert all(s.uscc[2:4] == "62" for s in world.subjects if s.uscc)  # Gansu area codes
    assert all(a.uscc.startswith("11") for a in world.authorities)
    assert len(set(codes)) == len(codes)


def test_creditchina_rendering_uses_its_own_dialect() -> None:
    rows = creditchina_gansu_rows(build_world())
    current = [r for r in rows if r["ROWTYPE"] == "CF" and "CF_XDR_LB" in r]
    legacy = [r for r in rows if r["ROWTYPE"] == "CF" and "CF_XDR_LB" not in r]
    abnormal = [r for r in rows if r["ROWTYPE"] == "YC"]
    assert current and legacy and abnormal
    assert all(SLASH_DATE.fullmatch(r["CF_JDRQ"]) for r in current + legacy)
    assert all(SLASH_DATE.fullmatch(r["YC_LRRQ"]) for r in abnormal)
    assert all("CF_NR_FK" not in r and "CF_XZJG" in r for r in legacy)
    assert any(";" in r["CF_CFLB"] for r in current)
    assert {r["CF_XDR_LB"] for r in current} == {"法人及非法人组织", "自然人", "个体工商户"}
    assert all(r["CF_XDR_SHXYM"] == "" for r in current if r["CF_XDR_LB"] == "自然人")
    assert all(r["CF_ZT"] == "0" and r["GSZT"] == "1" for r in rows)
    assert [r["SJC"] for r in rows] == sorted(r["SJC"] for r in rows)


def test_gsxt_rendering_uses_its_own_dialect_and_matches_creditchina() -> None:
    world = build_world()
    tables = gsxt_gansu_records(world)
    for table in ("punish", "otherpunish"):
        for record in tables[table]:
            assert DASH_DATE.fullmatch(record["penDecIssDate"]) and DASH_DATE.fullmatch(record["pubDate"])
            assert record["pubFlag"] == "1" and record["entType"] in ("企业", "个体工商户", "农专社")
    assert all(r["auditState"] == "1" for r in tables["otherpunish"])
    assert all(r["isMove"] == "0" for r in tables["opanomaly"])

    rows = creditchina_gansu_rows(world)
    cf_keys = {(r["CF_WSH"], r.get("CF_CFJGDM") or r["CF_XZJGDM"]) for r in rows if r["ROWTYPE"] == "CF"}
    yc_keys = {(r["YC_WSH"], r["YC_JDJGDM"]) for r in rows if r["ROWTYPE"] == "YC"}
    gsxt_penalties = {(r["penDecNo"], r["judAuthCode"]) for t in ("punish", "otherpunish") for r in tables[t]}
    assert gsxt_penalties <= cf_keys  # every GSXT penalty is mirrored on 信用中国
    assert len(cf_keys - gsxt_penalties) == sum(1 for p in world.penalties if not p.on_gsxt)
    assert {(r["penDecNo"], r["decOrgCode"]) for r in tables["opanomaly"]} == yc_keys
    # Amounts agree across the two systems (万元 on both sides).
    fines = {r["CF_WSH"]: r["CF_NR_FK"] for r in rows if r.get("CF_NR_FK")}
    for record in tables["punish"]:
        if record["penAm"] is not None:
            assert float(fines[record["penDecNo"]]) == record["penAm"]
