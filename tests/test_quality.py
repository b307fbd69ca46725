"""Data-collection quality (gateway/domain/quality.py, gateway/quality.py): each check flags exactly
the records seeded with its defect and nothing else (precision and recall per check), the report
sums them per department and category on both databases, the API serves it signed and scoped (JSON,
CSV with a BOM), and the CLI prints it."""

from __future__ import annotations

import csv
import io
import json
from dataclasses import replace
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from gateway.calendar_data import load_calendar
from gateway.domain.categories import AuthorityDomain, Category, SubjectType
from gateway.domain.model import PUBLISHED, CanonicalRecord, PublicityState, RecordFacts
from gateway.domain.quality import Check, Timeliness, assess
from gateway.domain.uscc import check_character
from gateway.domain.workdays import WorkdayCalendar
from gateway.observability import COLLECTION_DEFECTS, COLLECTION_QUALITY
from gateway.quality import BOM, build_report, refresh_quality, to_csv
from gateway.settings import Settings
from gateway.store.database import Database, Tx
from gateway.store.repo import Repo
from tests.test_api_harness import open_harness
from tests.test_cli import creditgw

CALENDAR = load_calendar(Settings())
TODAY = date(2026, 12, 3)


def uscc(first17: str) -> str:
    return first17 + check_character(first17)


AUTHORITY_A = uscc("11620100MB0000001")  # 兰州市生态环境局
AUTHORITY_B = uscc("11620500MB0000002")  # 天水市应急管理局
SUBJECT = uscc("91620102MA72ABCD9")


def clean(n: int, authority: str = AUTHORITY_A, name: str = "兰州市生态环境局") -> RecordFacts:
    """A 双公示 penalty with every required field, valid codes, sane dates and amounts."""
    return RecordFacts(
        category=Category.ADMIN_PENALTY,
        authority_name=name,
        authority_code=authority,
        document_number=f"兰环罚〔2026〕{n}号",
        authority_domain=AuthorityDomain.OTHER,
        subject_name="甘肃示例科技有限公司",
        subject_type=SubjectType.LEGAL_ENTITY,
        subject_code=SUBJECT,
        subject_code_checksum_ok=True,
        decision_date=date(2026, 11, 2),  # a Monday
        penalty_kinds=("罚款",),
        fine_wan_yuan=Decimal("0.2"),
        violation="超标排放大气污染物",
        content="罚款2000元",
    )


COLLECTED_ON_TIME = date(2026, 11, 6)  # 4 working days after the decision (limit 7)
COLLECTED_LATE = date(2026, 11, 20)  # 14 working days after


def bad_code(code: str) -> str:
    wrong = "0" if code[-1] != "0" else "1"
    return code[:-1] + wrong


# One record per defect: what is seeded, and the one check (or missing field) it must trip.
SEEDED: dict[str, tuple[RecordFacts, date]] = {
    "clean": (clean(1), COLLECTED_ON_TIME),
    "missing:subject_code": (replace(clean(2), subject_code=None, subject_code_checksum_ok=None), COLLECTED_ON_TIME),
    "missing:violation": (replace(clean(3), violation=None), COLLECTED_ON_TIME),
    "missing:fine_wan_yuan": (replace(clean(4), fine_wan_yuan=None, content="罚款"), COLLECTED_ON_TIME),
    Check.SUBJECT_CODE.value: (replace(clean(5), subject_code=bad_code(SUBJECT)), COLLECTED_ON_TIME),
    Check.DATE.value: (replace(clean(6), publication_date=date(2026, 10, 1)), COLLECTED_ON_TIME),
    Check.AMOUNT.value: (replace(clean(7), fine_wan_yuan=Decimal("2000")), COLLECTED_ON_TIME),  # yuan in 万元
    "late": (clean(8), COLLECTED_LATE),
}


def test_each_check_flags_its_seeded_defect_and_nothing_else() -> None:
    for name, (facts, collected) in SEEDED.items():
        judged = assess(facts, collected_on=collected, today=TODAY, calendar=CALENDAR)
        expected_missing = (name.removeprefix("missing:"),) if name.startswith("missing:") else ()
        expected_defects = (Check(name),) if name in {c.value for c in Check} else ()
        assert judged.missing == expected_missing, name
        assert judged.defects == expected_defects, name
        assert judged.timeliness is (Timeliness.LATE if name == "late" else Timeliness.ON_TIME), name


def test_accuracy_checks_of_codes_dates_and_listing_causes() -> None:
    facts = clean(9)
    assert assess(replace(facts, authority_code=bad_code(AUTHORITY_A)), collected_on=None, today=TODAY,
                  calendar=CALENDAR).defects == (Check.AUTHORITY_CODE,)  # fmt: skip
    future = replace(facts, decision_date=date(2027, 1, 4))
    assert Check.DATE in assess(future, collected_on=None, today=TODAY, calendar=CALENDAR).defects
    after_collection = assess(facts, collected_on=date(2026, 10, 30), today=TODAY, calendar=CALENDAR)
    assert after_collection.defects == (Check.DATE,) and after_collection.timeliness is Timeliness.UNKNOWN
    listing = RecordFacts(
        category=Category.ABNORMAL_OPERATIONS,
        authority_name="兰州市市场监督管理局",
        authority_code=AUTHORITY_A,
        document_number="兰市监异〔2026〕1号",
        authority_domain=AuthorityDomain.MARKET_REGULATION,
        subject_name="甘肃示例科技有限公司",
        subject_type=SubjectType.LEGAL_ENTITY,
        subject_code=SUBJECT,
        decision_date=date(2026, 11, 2),
        listing_cause="9",
    )
    judged = assess(listing, collected_on=date(2026, 11, 3), today=TODAY, calendar=CALENDAR)
    assert judged.defects == (Check.CODE_VALUE,) and judged.missing == ()
    assert judged.timeliness is Timeliness.ON_TIME  # GSXT: 20 working days
    assert assess(replace(listing, listing_cause="1"), collected_on=None, today=TODAY, calendar=CALENDAR).accurate
    assert assess(replace(listing, listing_cause=None), collected_on=None, today=TODAY,
                  calendar=CALENDAR).missing == ("listing_cause",)  # fmt: skip


def test_timeliness_counts_working_days_on_the_calendar() -> None:
    # 2026-09-30 (Wed) → 2026-10-09 (Fri): the National Day holiday (10-01 to 10-07) lies between, so
    # of the seven weekdays in (09-30, 10-09] only 10-08 and 10-09 are working days.
    facts = replace(clean(10), decision_date=date(2026, 9, 30))
    judged = assess(facts, collected_on=date(2026, 10, 9), today=TODAY, calendar=CALENDAR)
    assert judged.timeliness is Timeliness.ON_TIME and judged.lag_working_days == 2
    empty = assess(facts, collected_on=date(2026, 10, 9), today=TODAY, calendar=WorkdayCalendar())
    assert empty.estimated and empty.lag_working_days == 7  # Monday–Friday taken: flagged, not silent
    years_late = assess(replace(clean(11), decision_date=date(2020, 1, 6)), collected_on=COLLECTED_ON_TIME,
                        today=TODAY, calendar=CALENDAR)  # fmt: skip
    assert years_late.timeliness is Timeliness.LATE


async def _seed(db: Database, seeded: dict[str, tuple[RecordFacts, date]]) -> None:
    decided = datetime(2026, 11, 2, tzinfo=UTC)

    def work(tx: Tx) -> None:
        repo = Repo(tx)
        for facts, collected in seeded.values():
            record = CanonicalRecord(
                record_id=facts.record_id,
                facts=facts,
                state=PublicityState(target=PUBLISHED, version=1, decided_by="creditchina_gansu", decided_at=decided),
            )
            repo.lock_records([record.record_id])
            repo.insert_records([record], decided)
            tx.execute(
                "UPDATE records SET collected_at = ? WHERE record_id = ?",
                (datetime(collected.year, collected.month, collected.day, 2, tzinfo=UTC), record.record_id),
            )

    await db.run(work)


def _all_seeded() -> dict[str, tuple[RecordFacts, date]]:
    other = {f"b{i}": (clean(100 + i, AUTHORITY_B, "天水市应急管理局"), COLLECTED_ON_TIME) for i in range(3)}
    return {**SEEDED, **other}


async def test_report_sums_per_department_and_category(db: Database) -> None:
    await _seed(db, _all_seeded())
    now = datetime(2026, 12, 3, 4, tzinfo=UTC)
    report = await db.run(lambda tx: build_report(tx, calendar=CALENDAR, now=now), write=False)
    by_code = {d.authority_code: d for d in report.departments}
    a, b = by_code[AUTHORITY_A], by_code[AUTHORITY_B]
    assert (a.records, a.complete, a.accurate, a.on_time, a.late) == (8, 5, 5, 7, 1)
    assert a.missing == {"subject_code": 1, "violation": 1, "fine_wan_yuan": 1}
    assert a.defects == {Check.SUBJECT_CODE.value: 1, Check.DATE.value: 1, Check.AMOUNT.value: 1}
    assert (b.records, b.complete, b.accurate, b.on_time) == (3, 3, 3, 3)
    assert a.as_json()["completeness"] == 0.625

    rows = list(csv.reader(io.StringIO(to_csv(report).removeprefix(BOM))))
    assert to_csv(report).startswith(BOM)
    header, *body = rows
    assert header[:4] == ["认定部门统一社会信用代码", "认定部门", "类别", "记录数"]
    row_a = next(r for r in body if r[0] == AUTHORITY_A)
    assert row_a[1:7] == ["兰州市生态环境局", "行政处罚信息", "8", "62.5%", "62.5%", "87.5%"]

    scoped = await db.run(
        lambda tx: build_report(tx, calendar=CALENDAR, now=now, visible=([AUTHORITY_B], None)), write=False
    )
    assert [d.authority_code for d in scoped.departments] == [AUTHORITY_B]


async def test_api_serves_the_report_scoped_to_the_client(tmp_path: Path) -> None:
    async with open_harness(f"sqlite:///{tmp_path / 'api.db'}") as harness:
        await _seed(harness.runtime.db, _all_seeded())
        response = await harness.client.get("/v1/collection-quality")
        assert response.status == 200, await response.text()
        body = await response.json()
        assert {d["authority_code"] for d in body["departments"]} == {AUTHORITY_A, AUTHORITY_B}
        assert body["timeliness_limits"]["gsxt_gansu"]["working_days"] == 20
        # Metrics per category only, refreshed by a report over every record.
        assert COLLECTION_QUALITY.labels("admin_penalty", "completeness")._value.get() == pytest.approx(8 / 11)

        response = await harness.client.get("/v1/collection-quality?format=csv&category=admin_penalty")
        assert response.status == 200
        assert response.headers["Content-Type"].startswith("text/csv")
        raw = await response.read()
        assert raw.startswith(BOM.encode("utf-8"))
        assert len(raw.decode("utf-8").strip().splitlines()) == 3  # header + two departments

        department = await harness.as_client("dept-b", scopes=["read"], authorities=[AUTHORITY_B])
        body = await (await department.get("/v1/collection-quality")).json()
        assert [d["authority_code"] for d in body["departments"]] == [AUTHORITY_B]

        bad = await harness.client.get("/v1/collection-quality?format=xml")
        assert bad.status == 422 and (await bad.json())["field"] == "format"
        unsigned = await harness.client.session.get(harness.client.make_url("/v1/collection-quality"))
        assert unsigned.status == 401


def test_quality_command_prints_json_and_writes_csv(tmp_path: Path) -> None:
    env = {"CREDITGW_DATABASE_URL": f"sqlite:///{tmp_path / 'q.db'}"}
    result = creditgw("quality", cwd=tmp_path, env=env)
    assert result.returncode == 0, result.stderr[-2000:]
    assert json.loads(result.stdout)["departments"] == []
    result = creditgw("quality", "--format", "csv", "--output", str(tmp_path / "q.csv"), cwd=tmp_path, env=env)
    assert result.returncode == 0, result.stderr[-2000:]
    assert (tmp_path / "q.csv").read_bytes().startswith(BOM.encode())
    wrong = creditgw("quality", "--category", "nope", cwd=tmp_path, env=env)
    assert wrong.returncode == 2 and "Traceback" not in wrong.stderr and "--category" in wrong.stderr


async def test_the_nightly_refresh_publishes_per_category_gauges(db: Database) -> None:
    await _seed(db, _all_seeded())
    report = await refresh_quality(db, Settings(), datetime(2026, 12, 3, 4, tzinfo=UTC))
    assert sum(d.records for d in report.departments) == 11
    assert COLLECTION_DEFECTS.labels("admin_penalty", Check.AMOUNT.value)._value.get() == 1
    assert COLLECTION_DEFECTS.labels("admin_penalty", Check.CODE_VALUE.value)._value.get() == 0
    assert COLLECTION_QUALITY.labels("admin_penalty", "timeliness")._value.get() == pytest.approx(10 / 11)
