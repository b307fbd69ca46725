"""The SMS adapter against the simulated SMS service over loopback HTTP (STYLE.md §8): signing
(the adapter's own implementation against the simulator's), messageId idempotency, in-call retries,
failure classes, and that no recipient data reaches the logs."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import pytest
import structlog

from adapters.http import FieldRejected, InCallRetry
from adapters.sms import RecipientUnreachable, SmsAdapter, SmsMessage
from gateway.domain.retry import FailureKind, PermanentError, RateLimitedError, RetryableError
from simulators.runner import start_simulators
from simulators.sms import create_app

SUBJECT = "91620102MA72ABCD94"
FAST = InCallRetry(attempts=8, multiplier=0.01, max_wait=0.05, jitter=0.0, retry_after_cap=2.0)


@dataclass
class Service:
    url: str
    http: aiohttp.ClientSession

    async def admin(self, method: str, path: str, **kwargs: Any) -> Any:
        async with self.http.request(method, f"{self.url}{path}", **kwargs) as response:
            return await response.json()

    async def messages(self) -> list[dict[str, Any]]:
        return list((await self.admin("GET", "/admin/messages"))["messages"])

    def adapter(self, **kwargs: Any) -> SmsAdapter:
        options: dict[str, Any] = {"base_url": self.url, "app_id": "creditgw", "secret": "sms-secret", "retry": FAST}
        options.update(kwargs)
        return SmsAdapter(**options)


@pytest.fixture
async def service() -> AsyncIterator[Service]:
    async with start_simulators(systems={"sms": create_app}) as sims, aiohttp.ClientSession() as http:
        found = Service(sims.urls["sms"], http)
        await found.admin("POST", "/admin/contacts", json={"contacts": [{"uscc": SUBJECT, "mobile": "17012345678"}]})
        yield found


def message(message_id: str = "rem_1", uscc: str = SUBJECT, **kwargs: Any) -> SmsMessage:
    if "template_code" not in kwargs:
        kwargs.setdefault("content", "【信用甘肃】甘肃示例科技有限公司：测试提醒。")
    return SmsMessage(message_id=message_id, uscc=uscc, **kwargs)


async def test_send_signs_and_the_service_accepts(service: Service) -> None:
    sms = service.adapter()
    try:
        receipt = await sms.send(message())
    finally:
        await sms.close()
    [shown] = await service.messages()
    assert shown["msgId"] == receipt.msg_id and receipt.segments == 1
    assert shown["messageId"] == "rem_1" and shown["uscc"] == SUBJECT
    assert shown["content"] == "【信用甘肃】甘肃示例科技有限公司：测试提醒。"


async def test_a_template_message(service: Service) -> None:
    params = {
        "subjectName": "甘肃示例科技有限公司",
        "recordLabel": "行政处罚信息",
        "authority": "兰州市生态环境局",
        "documentNumber": "兰环罚〔2025〕12号",
        "lastDay": "2026年2月28日",
        "applyFrom": "2026年3月1日",
        "site": "信用中国（甘肃）",
    }
    sms = service.adapter()
    try:
        await sms.send(message(template_code="CREDIT_REPAIR_REMINDER", params=params))
    finally:
        await sms.close()
    [shown] = await service.messages()
    assert shown["templateCode"] == "CREDIT_REPAIR_REMINDER" and "兰环罚〔2025〕12号" in shown["content"]


async def test_a_resend_with_the_same_message_id_texts_nobody_again(service: Service) -> None:
    sms = service.adapter()
    try:
        first = await sms.send(message("rem_same"))
        second = await sms.send(message("rem_same"))
    finally:
        await sms.close()
    assert first == second
    assert len(await service.messages()) == 1
    assert (await service.admin("GET", "/admin/stats"))["requests"]["sms/send"] == {"0": 1, "replay": 1}


async def test_transient_faults_are_retried_in_the_call(service: Service) -> None:
    await service.admin(
        "POST",
        "/admin/faults",
        json={"error_rate": 0.4, "error_status": 503, "rate_limit_rate": 0.3, "retry_after_s": 0, "busy_rate": 0.2},
    )
    sms = service.adapter()
    try:
        receipts = [await sms.send(message(f"rem_{i}")) for i in range(6)]
    finally:
        await sms.close()
    faults = (await service.admin("GET", "/admin/stats"))["faults_injected"]
    assert sum(faults.values()) > 0, "no fault was injected: the test proves nothing"
    assert len({r.msg_id for r in receipts}) == 6
    assert len(await service.messages()) == 6  # one text per message, however many attempts


async def test_a_short_retry_after_is_waited_out(service: Service) -> None:
    await service.admin("POST", "/admin/faults", json={"rate_limit_rate": 0.5, "retry_after_s": 1, "seed": 3})
    sms = service.adapter()
    try:
        await sms.send(message())
    finally:
        await sms.close()
    assert len(await service.messages()) == 1


async def test_a_long_retry_after_goes_back_to_the_caller(service: Service) -> None:
    await service.admin("POST", "/admin/faults", json={"rate_limit_rate": 1.0, "retry_after_s": 60})
    sms = service.adapter()
    try:
        with pytest.raises(RateLimitedError) as caught:
            await sms.send(message())
    finally:
        await sms.close()
    assert caught.value.retry_after == 60 and caught.value.status == 429


async def test_an_unavailable_service_is_retryable(service: Service) -> None:
    await service.admin("POST", "/admin/faults", json={"error_rate": 1.0, "error_status": 503})
    sms = service.adapter(retry=InCallRetry(attempts=2, multiplier=0.01, max_wait=0.01, jitter=0.0))
    try:
        with pytest.raises(RetryableError) as caught:
            await sms.send(message())
    finally:
        await sms.close()
    assert caught.value.kind is FailureKind.RETRYABLE and caught.value.status == 503


async def test_busy_is_retryable(service: Service) -> None:
    await service.admin("POST", "/admin/faults", json={"busy_rate": 1.0})
    sms = service.adapter(retry=InCallRetry(attempts=2, multiplier=0.01, max_wait=0.01, jitter=0.0))
    try:
        with pytest.raises(RetryableError) as caught:
            await sms.send(message())
    finally:
        await sms.close()
    assert caught.value.code == "5001"


async def test_a_wrong_secret_is_permanent(service: Service) -> None:
    sms = service.adapter(secret="not-the-secret")
    try:
        with pytest.raises(PermanentError) as caught:
            await sms.send(message())
    finally:
        await sms.close()
    assert caught.value.code == "1001" and caught.value.status == 401
    assert "not-the-secret" not in str(caught.value.context())


async def test_our_clock_off_is_retryable(service: Service) -> None:
    sms = service.adapter(clock=lambda: datetime.now(UTC) - timedelta(hours=1))
    try:
        with pytest.raises(RetryableError) as caught:
            await sms.send(message())
    finally:
        await sms.close()
    assert caught.value.code == "1002"


async def test_unreachable_recipients_are_permanent(service: Service) -> None:
    await service.admin(
        "POST",
        "/admin/contacts",
        json={"contacts": [{"uscc": "91620100MA7ABCDE6X", "mobile": "17000000009", "optedOut": True}]},
    )
    sms = service.adapter()
    try:
        with pytest.raises(RecipientUnreachable) as no_contact:
            await sms.send(message(uscc="91620100MA7ABCDE60"))
        with pytest.raises(RecipientUnreachable) as opted_out:
            await sms.send(message("rem_2", uscc="91620100MA7ABCDE6X"))
    finally:
        await sms.close()
    assert no_contact.value.code == "3001" and opted_out.value.code == "3002"
    assert no_contact.value.kind is FailureKind.PERMANENT
    assert await service.messages() == []


async def test_a_refused_field_is_named(service: Service) -> None:
    sms = service.adapter()
    try:
        with pytest.raises(FieldRejected) as caught:
            await sms.send(message(content="x" * 501))
    finally:
        await sms.close()
    assert caught.value.field == "content" and caught.value.code == "2001"


async def test_no_recipient_data_in_logs_or_excerpts(service: Service) -> None:
    await service.admin("POST", "/admin/faults", json={"error_rate": 0.5, "error_status": 500, "seed": 1})
    sms = service.adapter()
    try:
        with structlog.testing.capture_logs() as logs:
            await sms.send(message("rem_log"))
            with pytest.raises(RecipientUnreachable) as caught:
                await sms.send(message("rem_log2", uscc="91620100MA7ABCDE60"))
    finally:
        await sms.close()
    assert any(entry["event"] == "sms_accepted" for entry in logs)
    shown = repr(logs) + repr(caught.value.context())
    assert SUBJECT not in shown and "91620100MA7ABCDE60" not in shown
    assert "测试提醒" not in shown and "sms-secret" not in shown
    scrubbed = sms._excerpt(b'{"code": "2001", "recipient": {"uscc": "91620102MA72ABCD94"}, "content": "hi"}')
    assert SUBJECT not in scrubbed and '"content": "***"' in scrubbed


def test_a_message_has_content_or_a_template_and_a_plain_id() -> None:
    with pytest.raises(ValueError):
        SmsMessage(message_id="rem_1", uscc=SUBJECT)
    with pytest.raises(ValueError):
        SmsMessage(message_id="rem_1", uscc=SUBJECT, content="x", template_code="T")
    with pytest.raises(ValueError):
        SmsMessage(message_id="rem 1", uscc=SUBJECT, content="x")
