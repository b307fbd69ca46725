"""The hrss mapping (mappings/hrss.py) on the department's own rows, read from the 前置库 on a real
MariaDB through the adapter, and on rows it must refuse (docs/protocols.md §8, lists-common §2–§4)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, date, datetime
from typing import Any

import pytest

from adapters.frontdb import FrontDbAddress
from adapters.hrss import HrssAdapter
from gateway.contract import NativeChange, UnmappableRow
from gateway.domain.categories import AuthorityDomain, Category, SubjectType
from gateway.domain.identity import RecordIdentity
from gateway.domain.model import PUBLISHED, StopReason, stopped
from gateway.domain.plan import Observation
from gateway.quarantine import examine
from mappings.hrss import KIND, HrssMapping
from simulators.hrss import HrssConfig, create_app
from tests.adapter_contract import drain, latest_by_row
from tests.conftest import mariadb_address
from tests.list_simulators import Sim, running

MAPPING = HrssMapping()
PROVINCE = "11620000MA72RN0959"  # 甘肃省人力资源和社会保障厅's code in the fixture


def config(clock: Any) -> HrssConfig:
    host, port = mariadb_address()
    return HrssConfig(host=host, port=port, clock=clock)


@pytest.fixture
async def read() -> AsyncIterator[tuple[Sim, HrssAdapter]]:
    async with running("hrss", create_app, config) as sim:
        info = await sim.admin("GET", "/admin/info")
        address = FrontDbAddress(
            host=info["host"], port=info["port"], user=info["user"], password="", database=info["database"]
        )
        adapter = HrssAdapter(address=address, table=info["table"], kind=KIND)
        try:
            yield sim, adapter
        finally:
            await adapter.close()


def by_object(changes: list[NativeChange]) -> dict[str, list[Observation]]:
    seen: dict[str, list[Observation]] = {}
    for change in changes:
        seen.setdefault(str(change.native_id), []).append(MAPPING.to_observation(change))
    return seen


@pytest.mark.mariadb
async def test_the_departments_fixture_rows_map(read: tuple[Sim, HrssAdapter]) -> None:
    _, adapter = read
    changes = (await adapter.fetch_changes(None, 50)).changes
    assert len(changes) == 7
    seen = by_object(changes)
    assert set(seen) == {"RS2024-0031-1", "RS2025-0007-1", "RS2025-0007-2", "RS2025-0019-1"}

    unit, person = seen["RS2025-0007-1"][-1], seen["RS2025-0007-2"][-1]
    # One decision lists the unit and its legal representative: two records, RDWSH#DXBH.
    assert unit.facts.document_number == "甘人社失惩〔2025〕7号#RS2025-0007-1"
    assert person.facts.document_number == "甘人社失惩〔2025〕7号#RS2025-0007-2"
    assert unit.facts.record_id != person.facts.record_id
    assert (unit.facts.category, unit.facts.authority_code, unit.facts.authority_domain) == (
        Category.WAGE_ARREARS,
        PROVINCE,
        AuthorityDomain.OTHER,
    )
    assert (unit.facts.subject_type, unit.facts.subject_code, unit.facts.subject_code_checksum_ok) == (
        SubjectType.LEGAL_ENTITY,
        "91620121MA72RN01XM",
        True,
    )
    assert unit.facts.decision_date == date(2025, 3, 10) and unit.facts.content == "涉及金额860000.00元"
    # The person: no 统一社会信用代码; the ID number exactly as the department masked it (ADR 0028).
    assert (person.facts.subject_type, person.facts.subject_code, person.facts.subject_name) == (
        SubjectType.NATURAL_PERSON,
        None,
        "何某某",
    )
    assert person.facts.subject_id_masked == "6201**********2516"
    assert unit.target == person.target == PUBLISHED

    # Updated twice: three rows, one record; the last row (by CZSJ, ID) is its state and content.
    updates = seen["RS2025-0019-1"]
    assert len(updates) == 3 and len({o.facts.record_id for o in updates}) == 1
    latest = MAPPING.to_observation(latest_by_row(changes)[(KIND, "RS2025-0019-1")])
    assert latest.facts.violation == "拖欠农民工工资31.25万元，逾期未支付"
    assert latest.facts.content == "涉及金额312500.00元"
    # The lower-case USCC as typed reads as the code, with a good checksum; the GB18030-only name stays.
    assert latest.facts.subject_code == "91620702MA72RN0284" and latest.facts.subject_code_checksum_ok is True
    assert latest.facts.subject_name == "嘉峪关示例𠮷安建设工程有限公司"

    # Removed early without a reason: still a removal (never a guessed reason), on its date.
    removed = seen["RS2024-0031-1"][-1]
    assert removed.target == stopped(StopReason.REMOVED, date(2025, 9, 1))
    assert removed.target.on == date(2025, 9, 1) and removed.decided_on == date(2025, 9, 1)
    assert removed.facts.record_id == seen["RS2024-0031-1"][0].facts.record_id


@pytest.mark.mariadb
async def test_awkward_rows_loaded_by_the_department_map(read: tuple[Sim, HrssAdapter]) -> None:
    sim, adapter = read
    start, _, _ = await drain(adapter)
    base = {
        "RDWSH": "甘人社失惩〔２０２６〕８号", "DXLX": "2", "DXMC": "某乙", "LRSY": "拖欠农民工工资",
        "RDBM": "甘肃省人力资源和社会保障厅", "RDBMDM": PROVINCE.lower(), "LRRQ": "2026-01-05", "LRQX": "2029-01-04",
        "SSDW": "兰州示例建筑劳务有限公司",
    }  # fmt: skip
    records = [
        {**base, "DXBH": "RS2026-0008-2", "ZJHM": "6201**********2516"},  # 18 wide, as the fixture
        {**base, "DXBH": "RS2026-0008-3", "ZJHM": "620102*********"},  # 15 wide (a pre-1999 number)
        {**base, "DXBH": "RS2026-0008-4", "ZJHM": "620102*********", "SJJE": ""},  # no amount
    ]
    await sim.admin("POST", "/admin/load", json={"records": records})
    await sim.admin("POST", "/admin/remove", json={"DXBH": "RS2026-0008-3", "kind": "expiry", "date": "2029-01-05"})
    await sim.admin("POST", "/admin/remove", json={"DXBH": "RS2026-0008-2", "kind": "early", "date": "2026-07-06"})
    _, changes, _ = await drain(adapter, start)
    fresh = {c.change_key: c for c in changes if str(c.native_id).startswith("RS2026-0008")}
    seen = by_object(sorted(fresh.values(), key=lambda c: c.source_version))
    two, three, four = seen["RS2026-0008-2"], seen["RS2026-0008-3"], seen["RS2026-0008-4"]
    # Full-width digits and a lower-case authority code: the same identity as the normalised form.
    identity = RecordIdentity.of(Category.WAGE_ARREARS, PROVINCE, "甘人社失惩〔2026〕8号#RS2026-0008-2")
    assert two[0].facts.identity == identity and two[0].facts.authority_code == PROVINCE
    assert all(o.facts.subject_type is SubjectType.NATURAL_PERSON and o.facts.subject_code is None for o in two)
    assert two[-1].target == stopped(StopReason.REMOVED, date(2026, 7, 6))  # 02 提前移出
    assert three[-1].target == stopped(StopReason.EXPIRED, date(2029, 1, 5))  # 01 期满
    assert four[-1].target == PUBLISHED and four[-1].facts.content is None
    masked_rows = [c.row["ZJHM"] for c in changes if c.native_id in ("RS2026-0008-2", "RS2026-0008-3")]
    assert set(masked_rows) == {"6201**********2516", "620102*********"}  # as the source masks them


def change(**row: Any) -> NativeChange:
    native = {
        "ID": 1, "DXBH": "RS2026-0009-1", "RDWSH": "甘人社失惩〔2026〕9号", "DXLX": "1", "DXMC": "某公司",
        "TYSHXYDM": "91620121MA72RN01XM", "ZJHM": None, "FDDBR": None, "SSDW": None, "LRSY": "拖欠工资",
        "SJJE": "10.00", "RDBM": "甘肃省人力资源和社会保障厅", "RDBMDM": PROVINCE, "LRRQ": "2026-01-05",
        "LRQX": "2029-01-04", "YCLX": None, "YCRQ": None, "YCYY": None, "CZBZ": "i", "CZSJ": "2026-01-05 09:00:00.000",
    }  # fmt: skip
    native.update(row)
    return NativeChange(
        change_key="1@x", source_version="x", changed_at=datetime(2026, 1, 5, 1, tzinfo=UTC), kind=KIND,
        native_id=str(native["DXBH"]), row=native,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("row", "field"),
    [
        ({"DXLX": "3"}, "DXLX"),
        ({"DXLX": "2", "TYSHXYDM": "91620121MA72RN01XM"}, "TYSHXYDM"),  # a person has no USCC
        ({"TYSHXYDM": "91620121MA72RN"}, "TYSHXYDM"),  # 14 characters
        ({"RDWSH": ""}, "RDWSH"),
        ({"RDBM": None}, "RDBM"),
        ({"LRQX": "2025-01-04"}, "LRQX"),  # ends before it starts
        ({"LRRQ": "2026-13-01"}, "LRRQ"),
        ({"SJJE": "-5"}, "SJJE"),
        ({"SJJE": "一万"}, "SJJE"),
        ({"CZBZ": "x"}, "CZBZ"),
        ({"CZBZ": "d", "YCLX": "03", "YCRQ": "2026-06-01"}, "YCLX"),
    ],
)
def test_rows_the_mapping_cannot_read_name_their_field(row: dict[str, Any], field: str) -> None:
    with pytest.raises(UnmappableRow) as caught:
        MAPPING.to_observation(change(**row))
    assert caught.value.field == field


def test_a_whole_id_number_is_refused_and_never_repeated() -> None:
    whole = "11010519491231002X"  # a valid GB 11643 number: the department must mask it
    problem = examine(MAPPING, change(DXLX="2", TYSHXYDM=None, ZJHM=whole))
    assert problem is not None and not isinstance(problem, Observation)
    assert problem.field == "ZJHM" and whole not in problem.message


def test_upper_case_operation_flags_and_removals_without_a_type() -> None:
    assert MAPPING.to_observation(change(CZBZ="U")).target == PUBLISHED
    removal = MAPPING.to_observation(change(CZBZ="D", YCLX=None, YCRQ="2026-06-01", YCYY=None))
    assert removal.target == stopped(StopReason.REMOVED, date(2026, 6, 1))


def test_the_gateway_never_writes_the_list() -> None:
    facts = MAPPING.to_observation(change()).facts
    with pytest.raises(Exception, match="only reads"):
        MAPPING.to_write(facts, PUBLISHED, idempotency_key="k")
