"""The simulated SMS service (docs/protocols.md §5) spoken to directly: signatures, nonces, messageId
idempotency, templates, recipients, faults and the admin API. Bodies are signed here with the
simulator's own signing module; tests/test_sms_adapter.py proves the adapter's signing agrees."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

import aiohttp
import pytest

from simulators.clock import BEIJING, ManualClock
from simulators.runner import start_simulators
from simulators.sms import SIMULATOR, SmsConfig, create_app, signing
from simulators.sms.contacts import seed_contacts

SECRET = "sms-secret"
SUBJECT = "91620102MA72ABCD94"  # synthetic Gansu code (domain.md §6), registered by the fixture below
START = datetime(2026, 11, 26, 9, 0, tzinfo=BEIJING)
_nonces = itertools.count(1)


class Sms:
    def __init__(self, http: aiohttp.ClientSession, url: str, clock: ManualClock) -> None:
        self.http = http
        self.url = url
        self.clock = clock

    def signed(
        self, business: dict[str, Any], *, app_id: str = "creditgw", secret: str = SECRET, **auth: str
    ) -> dict[str, Any]:
        timestamp = auth.get("timestamp", str(int(self.clock.now().timestamp() * 1000)))
        nonce = auth.get("nonce", f"nonce-{next(_nonces):08d}")
        signature = signing.sign(app_id, secret, timestamp, nonce, signing.digest(business))
        return {"appId": app_id, "timestamp": timestamp, "nonce": nonce, "signature": signature, **business}

    async def post(self, body: Any) -> tuple[int, dict[str, Any]]:
        async with self.http.post(f"{self.url}/api/sms/send", json=body) as response:
            return response.status, await response.json()

    async def send(self, business: dict[str, Any], **kwargs: Any) -> tuple[int, dict[str, Any]]:
        return await self.post(self.signed(business, **kwargs))

    async def admin(self, method: str, path: str, **kwargs: Any) -> Any:
        async with self.http.request(method, f"{self.url}{path}", **kwargs) as response:
            assert response.status < 500
            return await response.json()

    async def messages(self, uscc: str | None = None) -> list[dict[str, Any]]:
        params = {"uscc": uscc} if uscc else {}
        return list((await self.admin("GET", "/admin/messages", params=params))["messages"])


def text_message(message_id: str, uscc: str = SUBJECT, content: str = "【信用甘肃】测试短信") -> dict[str, Any]:
    return {"messageId": message_id, "recipient": {"uscc": uscc}, "content": content}


@pytest.fixture
async def sms() -> AsyncIterator[Sms]:
    clock = ManualClock(START)
    sims_starting = start_simulators(systems={"sms": create_app}, configs={"sms": SmsConfig(clock=clock)})
    async with sims_starting as sims, aiohttp.ClientSession() as http:
        client = Sms(http, sims.urls["sms"], clock)
        contact = {"uscc": SUBJECT, "mobile": "17012345678", "name": "甘肃示例科技有限公司"}
        await client.admin("POST", "/admin/contacts", json={"contacts": [contact]})
        yield client


async def test_a_signed_message_is_accepted_and_shown_masked(sms: Sms) -> None:
    status, body = await sms.send(text_message("m-1"))
    assert status == 200 and body["code"] == "0" and body["msgId"].startswith("SMS")
    [shown] = await sms.messages(SUBJECT)
    assert shown["msgId"] == body["msgId"] and shown["messageId"] == "m-1"
    assert shown["content"] == "【信用甘肃】测试短信" and shown["segments"] == 1
    assert shown["mobile"] == "170****5678"  # the admin API never shows a whole number
    assert shown["receivedAt"] == "2026-11-26 09:00:00"


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ({"secret": "wrong-secret"}, "1001"),
        ({"app_id": "someone-else"}, "1001"),
        ({"timestamp": "1764100000000"}, "1002"),  # 2025-11-25: far outside the 300 s window
        ({"timestamp": "2026-11-26"}, "1002"),
        ({"nonce": "short"}, "1001"),
    ],
)
async def test_bad_signatures_are_refused_and_send_nothing(sms: Sms, change: dict[str, str], code: str) -> None:
    status, body = await sms.send(text_message("m-1"), **change)
    assert (status, body["code"]) == (401, code)
    assert await sms.messages() == []


async def test_a_tampered_body_fails_the_digest(sms: Sms) -> None:
    body = sms.signed(text_message("m-1"))
    body["content"] = "【信用甘肃】改过的短信"
    status, answer = await sms.post(body)
    assert (status, answer["code"]) == (401, "1001")


async def test_a_nonce_is_accepted_once(sms: Sms) -> None:
    assert (await sms.send(text_message("m-1"), nonce="nonce-fixed-1"))[1]["code"] == "0"
    status, body = await sms.send(text_message("m-2"), nonce="nonce-fixed-1")
    assert (status, body["code"]) == (401, "1003")
    sms.clock.advance(601)  # past twice the signature window: the nonce is forgotten
    assert (await sms.send(text_message("m-3"), nonce="nonce-fixed-1"))[1]["code"] == "0"


async def test_the_same_message_id_gets_the_first_answer_and_no_second_message(sms: Sms) -> None:
    first = await sms.send(text_message("rem_abc"))
    again = await sms.send(text_message("rem_abc", content="【信用甘肃】另一条"))  # the body is not looked at
    assert first == again and first[1]["code"] == "0"
    assert len(await sms.messages(SUBJECT)) == 1
    stats = await sms.admin("GET", "/admin/stats")
    assert stats["requests"]["sms/send"] == {"0": 1, "replay": 1}
    assert stats["writes"] == {f"uscc:{SUBJECT}": 1}


async def test_a_refused_message_is_not_remembered(sms: Sms) -> None:
    stranger = "91620100MA7ABCDE6X"  # well formed, never registered
    status, body = await sms.send(text_message("m-9", uscc=stranger))
    assert (status, body["code"], body["field"]) == (200, "3001", "recipient.uscc")
    await sms.admin("POST", "/admin/contacts", json={"contacts": [{"uscc": stranger, "mobile": "17000000001"}]})
    status, body = await sms.send(text_message("m-9", uscc=stranger))  # the same messageId, now deliverable
    assert (status, body["code"]) == (200, "0")
    assert len(await sms.messages(stranger)) == 1


async def test_an_opted_out_subject_is_not_texted(sms: Sms) -> None:
    await sms.admin("POST", "/admin/contacts", json={"contacts": [{"uscc": SUBJECT, "optedOut": True}]})
    status, body = await sms.send(text_message("m-1"))
    assert (status, body["code"]) == (200, "3002")
    assert await sms.messages() == []


async def test_templates_are_rendered_from_params(sms: Sms) -> None:
    params = {
        "subjectName": "甘肃示例科技有限公司",
        "recordLabel": "行政处罚信息",
        "authority": "兰州市生态环境局",
        "documentNumber": "兰环罚〔2025〕12号",
        "lastDay": "2026年2月28日",
        "applyFrom": "2026年3月1日",
        "site": "“信用中国（甘肃）”网站（credit.gansu.gov.cn）",
    }
    business = {"messageId": "t-1", "recipient": {"uscc": SUBJECT.lower()}, "templateCode": "CREDIT_REPAIR_REMINDER"}
    status, body = await sms.send({**business, "params": params})
    assert (status, body["code"]) == (200, "0") and body["segments"] > 1
    [shown] = await sms.messages(SUBJECT)  # the recipient is matched case-insensitively
    assert shown["templateCode"] == "CREDIT_REPAIR_REMINDER"
    assert "兰环罚〔2025〕12号" in shown["content"] and "自2026年3月1日起" in shown["content"]
    missing = {k: v for k, v in params.items() if k != "site"}
    status, body = await sms.send({**business, "messageId": "t-2", "params": missing})
    assert (status, body["code"], body["field"]) == (400, "2001", "params.site")
    status, body = await sms.send({**business, "messageId": "t-3", "params": {**params, "extra": "x"}})
    assert (status, body["field"]) == (400, "params.extra")


@pytest.mark.parametrize(
    ("business", "field"),
    [
        ({"messageId": "bad id!", "recipient": {"uscc": SUBJECT}, "content": "x"}, "messageId"),
        ({"messageId": "m", "recipient": {"uscc": "123"}, "content": "x"}, "recipient.uscc"),
        ({"messageId": "m", "recipient": {"mobile": "17012345678"}, "content": "x"}, "recipient"),
        ({"messageId": "m", "recipient": {"uscc": SUBJECT}}, "content"),
        ({"messageId": "m", "recipient": {"uscc": SUBJECT}, "content": "x", "templateCode": "T"}, "content"),
        ({"messageId": "m", "recipient": {"uscc": SUBJECT}, "content": "x" * 501}, "content"),
        ({"messageId": "m", "recipient": {"uscc": SUBJECT}, "templateCode": "NOPE", "params": {}}, "templateCode"),
        ({"messageId": "m", "recipient": {"uscc": SUBJECT}, "content": "x", "priority": "high"}, "priority"),
    ],
)
async def test_invalid_requests_name_the_field(sms: Sms, business: dict[str, Any], field: str) -> None:
    status, body = await sms.send(business)
    assert (status, body["code"], body["field"]) == (400, "2001", field)


async def test_a_body_that_is_not_json_is_refused(sms: Sms) -> None:
    async with sms.http.post(f"{sms.url}/api/sms/send", data=b"not json") as response:
        assert response.status == 400 and (await response.json())["field"] == "body"


async def test_faults_on_the_api_but_never_on_admin(sms: Sms) -> None:
    await sms.admin("POST", "/admin/faults", json={"error_rate": 1.0, "error_status": 502})
    async with sms.http.post(f"{sms.url}/api/sms/send", json=sms.signed(text_message("f-1"))) as response:
        assert response.status == 502
    await sms.admin("POST", "/admin/faults", json={"rate_limit_rate": 1.0, "retry_after_s": 7})
    async with sms.http.post(f"{sms.url}/api/sms/send", json=sms.signed(text_message("f-2"))) as response:
        assert response.status == 429 and response.headers["Retry-After"] == "7"
    await sms.admin("POST", "/admin/faults", json={"busy_rate": 1.0})
    assert await sms.send(text_message("f-3")) == (200, {"code": "5001", "msg": "system busy, retry later"})
    assert await sms.messages() == []  # admin answers while everything else fails
    stats = await sms.admin("GET", "/admin/stats")
    assert stats["faults_injected"] == {"busy": 1, "http_429": 1, "http_502": 1}
    await sms.admin("DELETE", "/admin/faults")
    assert (await sms.send(text_message("f-1")))[1]["code"] == "0"


async def test_admin_records_contacts_and_reset(sms: Sms) -> None:
    seeded = seed_contacts()
    records = (await sms.admin("GET", "/admin/records"))["records"]
    assert len(records) == len(seeded) + 1  # plus the subject the fixture registered
    assert all("****" in r["mobile"] for r in records)
    reachable = (await sms.admin("GET", "/admin/records", params={"published": "1"}))["records"]
    assert len(reachable) == len(records) - sum(c.opted_out for c in seeded.values())
    refused = await sms.admin("POST", "/admin/contacts", json={"contacts": [{"uscc": SUBJECT, "mobile": "123"}]})
    assert refused["code"] == "invalid_contact" and refused["field"] == "mobile"
    await sms.send(text_message("m-1"))
    assert await sms.admin("POST", "/admin/reset") == {"reset": True, "records": len(seeded)}
    assert await sms.messages() == []
    assert (await sms.send(text_message("m-1")))[1]["code"] == "3001"  # the fixture's contact is gone too


async def test_the_seed_registry_is_deterministic_and_has_gaps() -> None:
    first, second = seed_contacts(), seed_contacts()
    assert first.keys() == second.keys() and len(first) > 10
    assert sum(c.opted_out for c in first.values()) == 1
    app = create_app()
    assert app[SIMULATOR].contacts.keys() == first.keys()
