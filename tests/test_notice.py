"""The 行政处罚信息信用修复告知书 (seed 附件2, 两书同达): built from the record and the rule engine,
rendered as text and HTML, served at GET /v1/records/{id}/notice (both databases), written by
`creditgw notice`."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from gateway.api.notice import negotiate
from gateway.domain.categories import AuthorityDomain, Category, SubjectType
from gateway.domain.model import PUBLISHED, RecordFacts
from gateway.domain.plan import Observation, Policy
from gateway.domain.rules import expires_on, minimum_ends_on
from gateway.notice import NoticeNotApplicable, build_notice, render_notice
from gateway.store.database import open_database
from gateway.store.migrate import migrate
from gateway.sync.ingest import apply_event
from tests.conftest import T0, penalty_facts
from tests.test_api_harness import Harness, error_of, open_harness

ROOT = Path(__file__).resolve().parent.parent
SEED_PARAGRAPH_2 = (  # 附件2 §二, word for word (domain.md: the Gansu seed)
    "行政处罚信息最短公示期为三个月，最长公示期为三年，其中涉及食品、药品、特种设备、安全生产、消防领域行政处罚信息"
    "最短公示期一年。最短公示期届满，方可按规定申请提前终止公示；最长公示期届满后，相关信息自动停止公示。完全履行行政"
    "处罚决定规定的义务、纠正违法行为，且行政处罚信息达到最短公示期限，可在"
)
SEED_PARAGRAPH_3 = (
    "三、开展信用修复不收取任何费用，如有社会相关中介机构、个人或政府工作人员等，以提出可以帮助加快修复时间、帮助填写"
    "提交修复材料等任何借口或理由收取费用或索要财物等均是行骗和违法违纪行为，可以通过电话、信函等方式向相关部门举报。"
)
HOSTILE = '<script>alert("x")</script>兰州市&生态环境局'


def order_58(**changes: object) -> RecordFacts:
    """A 信用中国-owned penalty decided 2025-11-30: Order 58, may apply from 2026-03-01."""
    values: dict[str, object] = {"decision_date": date(2025, 11, 30), **changes}
    return replace(penalty_facts(document_number="兰环罚〔2025〕12号"), **values)  # type: ignore[arg-type]


def samr_penalty(**changes: object) -> RecordFacts:
    facts = penalty_facts(
        document_number="兰市监罚〔2025〕88号",
        authority_name="兰州市市场监督管理局",
        domain=AuthorityDomain.MARKET_REGULATION,
    )
    values: dict[str, object] = {
        "decision_date": date(2025, 11, 20),
        "publication_date": date(2025, 12, 5),
        "fine_wan_yuan": Decimal("10"),
        "violation": "虚假宣传",  # its legal basis names no sector statute: 6 months on GSXT
        "legal_basis": "《中华人民共和国反不正当竞争法》第二十条第一款",
    }
    values.update(changes)
    return replace(facts, **values)  # type: ignore[arg-type]


def abnormal_listing() -> RecordFacts:
    return RecordFacts(
        category=Category.ABNORMAL_OPERATIONS,
        authority_name="兰州市市场监督管理局",
        authority_code="11620100MB0000001X",
        document_number="兰市监异入〔2025〕0007号",
        authority_domain=AuthorityDomain.MARKET_REGULATION,
        subject_name="甘肃示例科技有限公司",
        subject_type=SubjectType.LEGAL_ENTITY,
        subject_code="91620102MA72ABCD94",
        decision_date=date(2025, 6, 1),
        listing_cause="1",
    )


# ---- building and rendering (pure) --------------------------------------------------------------


def test_an_order_58_notice_states_the_engines_dates() -> None:
    facts = order_58()
    apply_from = minimum_ends_on(facts, facts.owner)
    stops_on = expires_on(facts, facts.owner)
    assert apply_from == date(2026, 3, 1) and stops_on == date(2028, 12, 1)  # fixed, and the engine agrees
    notice = build_notice(facts)
    assert notice.regime_id == "ndrc_order_58" and notice.minimum is not None and notice.maximum is not None
    assert notice.minimum.first_day_after == apply_from and notice.maximum.first_day_after == stops_on

    text = render_notice(notice, "text")
    assert text.startswith("行政处罚信息信用修复告知书\n")
    assert "甘肃示例科技有限公司（统一社会信用代码：91620102MA72ABCD94）：" in text
    assert "本单位于2025年11月30日对你单位作出行政处罚决定（行政处罚决定书文号：兰环罚〔2025〕12号）" in text
    assert "上报“信用中国”网站和国家企业信用信息公示系统" in text
    assert SEED_PARAGRAPH_2 in text  # the rule data reproduces 附件2's own sentence
    assert (
        "“信用中国（甘肃）”网站（credit.gansu.gov.cn）" in text and "“信用中国”网站（www.creditchina.gov.cn）" in text
    )
    assert "国家发展改革委令第58号" in text and "自作出行政处罚决定之日（2025年11月30日）起算" in text
    assert "最短公示期至2026年2月28日届满，自2026年3月1日起可按规定申请信用修复" in text
    assert "最长公示期至2028年11月30日届满，自2028年12月1日起相关信息自动停止公示" in text
    assert SEED_PARAGRAPH_3 in text
    assert text.rstrip().endswith("兰州市生态环境局\n2025年11月30日")  # 落款: the deciding authority

    html = render_notice(notice, "html")
    assert html.startswith("<!DOCTYPE html>") and '<meta charset="utf-8">' in html
    assert '<time class="may-apply-from" datetime="2026-03-01">2026年3月1日</time>' in html
    assert '<time class="stops-on" datetime="2028-12-01">2028年12月1日</time>' in html
    assert 'data-regime="ndrc_order_58"' in html and '<span class="authority">兰州市生态环境局</span>' in html


def test_a_market_regulation_penalty_counts_from_publication_on_gsxt() -> None:
    facts = samr_penalty()
    notice = build_notice(facts)
    text = render_notice(notice)
    apply_from = minimum_ends_on(facts, facts.owner)
    assert facts.owner.value == "gsxt_gansu" and apply_from == date(2026, 6, 6)  # 6 months from 2025-12-05
    assert notice.regime_id == "samr_order_45"
    assert "自在国家企业信用信息公示系统公示之日（2025年12月5日）起算" in text
    assert "自2026年6月6日起可按规定申请信用修复" in text
    assert "公示满六个月（涉及食品、药品、特种设备领域满一年）" in text
    assert "国家企业信用信息公示系统（甘肃）信用修复专栏" in text and "GSXT" not in text


def test_a_heavy_penalty_is_never_stopped_early_and_says_so() -> None:
    facts = samr_penalty(penalty_kinds=("罚款", "吊销许可证件"))
    assert minimum_ends_on(facts, facts.owner) is None
    text = render_notice(build_notice(facts))
    assert "属于较重行政处罚，不得提前停止公示" in text
    assert "起可按规定申请信用修复" not in text
    assert "最长公示期至2028年12月5日届满，自2028年12月6日起相关信息自动停止公示" in text


def test_a_warning_only_penalty_is_not_published_and_needs_no_repair() -> None:
    text = render_notice(build_notice(order_58(penalty_kinds=("警告",))))
    assert "本次行政处罚仅为警告，依规定不予公示，无需申请信用修复" in text
    assert "起可按规定申请信用修复" not in text and "自动停止公示。\n" not in text.split("二、")[1].split("三、")[0]


@pytest.mark.parametrize(
    ("facts", "code", "why"),
    [
        (order_58(decision_date=date(2026, 4, 1)), "severity_missing", "未载明本次处罚的分类"),
        (order_58(decision_date=None), "decision_date_missing", "未载明作出行政处罚决定的日期"),
        (samr_penalty(publication_date=None), "publication_date_missing", "未载明在国家企业信用信息公示系统公示的日期"),
        (samr_penalty(fine_wan_yuan=None), "fine_amount_missing", "未载明罚款金额"),
    ],
    ids=["order-36-without-tier", "no-decision-date", "no-publication-date", "no-fine-amount"],
)
def test_dates_that_cannot_be_computed_are_never_guessed(facts: RecordFacts, code: str, why: str) -> None:
    assert minimum_ends_on(facts, facts.owner) is None
    notice = build_notice(facts)
    assert not notice.evaluable and notice.minimum is None and notice.maximum is None
    for rendered in (render_notice(notice, "text"), render_notice(notice, "html")):
        assert "公示期限暂无法计算" in rendered and why in rendered and f"原因代码：{code}" in rendered
        assert "起可按规定申请信用修复" not in rendered and "届满，自" not in rendered


def test_an_order_36_notice_with_its_tier() -> None:
    from gateway.domain.model import Severity

    facts = order_58(decision_date=date(2026, 4, 10), severity=Severity.GENERAL)
    text = render_notice(build_notice(facts))
    assert "国家发展改革委令第36号" in text and "一般失信信息最短公示期为三个月，最长公示期为一年" in text
    assert f"自{_cn(minimum_ends_on(facts, facts.owner))}起可按规定申请信用修复" in text


def test_a_natural_person_is_addressed_as_such() -> None:
    facts = order_58(subject_type=SubjectType.NATURAL_PERSON, subject_code=None, subject_name="张**")
    text = render_notice(build_notice(facts))
    assert "张**：" in text and "统一社会信用代码" not in text
    assert "对你作出行政处罚决定" in text and "可能对你的生产生活" in text
    assert "上报“信用中国”网站。" in text  # GSXT shows no natural persons


def test_html_escapes_every_value() -> None:
    facts = order_58(authority_name=HOSTILE, subject_name="<b>甘肃示例</b>科技有限公司")
    html = render_notice(build_notice(facts), "html")
    assert "<script>" not in html and "<b>甘肃示例</b>" not in html
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;兰州市&amp;生态环境局" in html
    assert "&lt;b&gt;甘肃示例&lt;/b&gt;科技有限公司" in html
    text = render_notice(build_notice(facts), "text")
    assert HOSTILE in text  # plain text is shown as text: nothing to escape


def test_only_penalties_have_this_notice() -> None:
    with pytest.raises(NoticeNotApplicable):
        build_notice(abnormal_listing())
    with pytest.raises(ValueError):
        render_notice(build_notice(order_58()), "pdf")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("accept", "expected"),
    [
        (None, "text"),
        ("*/*", "text"),
        ("text/html", "html"),
        ("text/plain", "text"),
        ("text/html,application/xhtml+xml,*/*;q=0.8", "html"),
        ("text/plain;q=0.5, text/html", "html"),
        ("text/html;q=0.4, text/plain;q=0.9", "text"),
        ("text/html;q=0", "text"),
        ("application/json", "text"),
    ],
)
def test_content_negotiation(accept: str | None, expected: str) -> None:
    assert negotiate(accept) == expected


def _cn(day: date | None) -> str:
    assert day is not None
    return f"{day.year}年{day.month}月{day.day}日"


# ---- GET /v1/records/{id}/notice ------------------------------------------------------------------


async def _seed(harness: Harness, facts: RecordFacts, key: str) -> str:
    owner = facts.owner.value
    event = Observation(source=owner, facts=facts, target=PUBLISHED, changed_at=T0, source_version="000001")
    policy = Policy(enabled_systems=frozenset())
    await harness.runtime.db.run(lambda tx: apply_event(tx, event, source=owner, change_key=key, policy=policy, now=T0))
    return facts.record_id


@pytest.fixture
async def api(database_url: str) -> AsyncIterator[Harness]:
    async with open_harness(database_url) as harness:
        yield harness


async def test_the_notice_as_text_by_default_and_as_html_on_request(api: Harness) -> None:
    record_id = await _seed(api, order_58(), "n-1")
    url = f"/v1/records/{record_id}/notice"

    text = await api.client.get(url)
    assert text.status == 200 and text.content_type == "text/plain" and text.charset == "utf-8"
    assert text.headers["Vary"] == "Accept"
    body = await text.text()
    assert "自2026年3月1日起可按规定申请信用修复" in body and SEED_PARAGRAPH_3 in body

    for response in (
        await api.client.get(url, params={"format": "html"}),
        await api.client.get(url, headers={"Accept": "text/html"}),
    ):
        assert response.status == 200 and response.content_type == "text/html" and response.charset == "utf-8"
        assert '<time class="may-apply-from" datetime="2026-03-01">' in await response.text()

    forced = await api.client.get(url, params={"format": "text"}, headers={"Accept": "text/html"})
    assert forced.content_type == "text/plain"  # the query parameter wins


async def test_a_hostile_authority_name_is_escaped_in_the_served_html(api: Harness) -> None:
    record_id = await _seed(api, order_58(authority_name=HOSTILE), "n-2")
    response = await api.client.get(f"/v1/records/{record_id}/notice?format=html")
    html = await response.text()
    assert response.status == 200 and "<script>" not in html and "&lt;script&gt;" in html


async def test_a_penalty_without_computable_dates_still_gets_its_notice(api: Harness) -> None:
    record_id = await _seed(api, order_58(decision_date=date(2026, 4, 1)), "n-3")
    response = await api.client.get(f"/v1/records/{record_id}/notice")
    body = await response.text()
    assert response.status == 200 and "公示期限暂无法计算" in body and "severity_missing" in body


async def test_notice_errors(api: Harness) -> None:
    listing = await _seed(api, abnormal_listing(), "n-4")
    refused = await api.client.get(f"/v1/records/{listing}/notice")
    assert refused.status == 422
    error = await error_of(refused)
    assert (error["code"], error["field"]) == ("notice_not_applicable", "record")

    missing = await api.client.get("/v1/records/rec_000000000000000000000000/notice")
    assert missing.status == 404 and (await error_of(missing))["code"] == "record_not_found"
    malformed = await api.client.get("/v1/records/not-a-record/notice")
    assert malformed.status == 404 and (await error_of(malformed))["code"] == "record_not_found"

    penalty = await _seed(api, order_58(), "n-5")
    for query in ("format=pdf", "format=html&format=text", "style=x"):
        bad = await api.client.get(f"/v1/records/{penalty}/notice?{query}")
        assert bad.status == 422 and (await error_of(bad))["code"] == "invalid_parameter", query


# ---- creditgw notice ---------------------------------------------------------------------------


def _creditgw(*args: str, cwd: Path, url: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "CREDITGW_DATABASE_URL": url}
    return subprocess.run(
        [sys.executable, "-m", "gateway.cli", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


async def _seed_file(url: str, *facts: RecordFacts) -> None:
    db = open_database(url)
    await migrate(db)
    policy = Policy(enabled_systems=frozenset())
    try:
        for index, item in enumerate(facts):
            owner = item.owner.value
            event = Observation(source=owner, facts=item, target=PUBLISHED, changed_at=T0, source_version="1")
            await db.run(
                lambda tx, e=event, o=owner, k=f"c{index}": apply_event(
                    tx, e, source=o, change_key=k, policy=policy, now=T0
                )
            )
    finally:
        await db.close()


def test_the_cli_writes_the_notice(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'gw.db'}"
    penalty, listing = order_58(authority_name=HOSTILE), abnormal_listing()
    asyncio.run(_seed_file(url, penalty, listing))

    target = tmp_path / "notice.html"
    done = _creditgw("notice", penalty.record_id, "--format", "html", "--output", str(target), cwd=tmp_path, url=url)
    assert done.returncode == 0, done.stderr[-2000:]
    html = target.read_text("utf-8")
    assert html.startswith("<!DOCTYPE html>") and "2026年3月1日" in html and "&lt;script&gt;" in html

    printed = _creditgw("notice", penalty.record_id, cwd=tmp_path, url=url)
    assert printed.returncode == 0 and "自2026年3月1日起可按规定申请信用修复" in printed.stdout

    missing = _creditgw("notice", "rec_000000000000000000000000", cwd=tmp_path, url=url)
    assert missing.returncode == 1 and json.loads(missing.stdout)["code"] == "record_not_found"
    refused = _creditgw("notice", listing.record_id, cwd=tmp_path, url=url)
    assert refused.returncode == 1 and json.loads(refused.stdout)["code"] == "notice_not_applicable"


# ---- issue 10 item 17: no template renders an empty slot silently ------------------------------------


@pytest.mark.parametrize("fmt", ["text", "html"])
def test_a_gsxt_penalty_without_publication_date_still_states_its_rules(fmt: str) -> None:
    """The regression: §二 read `二、，且行政处罚信息达到最短公示期限的…` (no rule set, no conditions)."""
    notice = build_notice(samr_penalty(publication_date=None))
    rendered = render_notice(notice, fmt)  # type: ignore[arg-type]
    assert "二、，" not in rendered and "，，" not in rendered
    assert "二、市场监管部门行政处罚信息的公示期限自公示之日起计算" in rendered
    assert "已经自觉履行行政处罚决定中规定的义务" in rendered  # the SAMR conditions, not an empty slot
    assert "原因代码：publication_date_missing" in rendered


def test_a_penalty_without_decision_date_names_the_rule_sets_it_could_fall_under() -> None:
    text = render_notice(build_notice(order_58(decision_date=None)))
    section = text.split("二、")[1].split("三、")[0]
    assert section.startswith("行政处罚信息的公示期限按作出处罚决定的日期适用不同规则")
    assert "国家发展改革委令第58号" in section and "国家发展改革委令第36号" in section
    assert "本记录未载明该日期，适用的规则无法确定" in section and "二、，" not in text


@pytest.mark.parametrize("fmt", ["text", "html"])
@pytest.mark.parametrize("slot", ["general_rules", "conditions", "sites", "authority_name", "document_number"])
def test_an_empty_slot_fails_loudly(slot: str, fmt: str) -> None:
    from gateway.templating import EmptySlot

    notice = build_notice(samr_penalty())
    with pytest.raises(EmptySlot, match=slot):
        render_notice(replace(notice, **{slot: " "}), fmt)  # type: ignore[arg-type]


def test_an_empty_reminder_slot_fails_loudly() -> None:
    from gateway.templating import EmptySlot, text_environment

    template = text_environment().get_template("reminder_sms.txt.j2")
    values = {
        "subject_name": "甘肃示例科技有限公司",
        "addressee": "你单位",
        "category_label": "行政处罚信息",
        "authority_name": "兰州市生态环境局",
        "document_label": "处罚决定书文号：",
        "document_number": "兰环罚〔2025〕12号",
        "waiting_label": "最短公示期",
        "last_day": date(2026, 2, 28),
        "apply_from": date(2026, 3, 1),
        "site": "“信用中国（甘肃）”网站",
    }
    assert "自2026年3月1日起" in template.render(r=values)
    for slot in values:
        with pytest.raises(EmptySlot, match=slot):
            template.render(r={**values, slot: "" if isinstance(values[slot], str) else None})
