"""Shared client plumbing: failure classes, Retry-After, excerpts without secrets."""

from __future__ import annotations

import aiohttp
import pytest

from adapters.http import (
    EXCERPT_LIMIT,
    FieldRejected,
    exception_class,
    excerpt,
    retry_after_seconds,
    status_class,
)
from gateway.domain.retry import PermanentError, RateLimitedError, RetryableError
from mappings.creditchina_gansu import PERSONAL_ID_FIELDS


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        (500, RetryableError),
        (502, RetryableError),
        (503, RetryableError),
        (599, RetryableError),
        (408, RetryableError),
        (429, RateLimitedError),
        (400, PermanentError),
        (404, PermanentError),
        (422, PermanentError),
        (418, PermanentError),
        (302, PermanentError),
    ],
)
def test_status_table(status: int, expected: type) -> None:
    assert status_class(status) is expected


@pytest.mark.parametrize(
    ("exc", "expected"),
    [
        (TimeoutError(), RetryableError),
        (aiohttp.ServerTimeoutError(), RetryableError),
        (aiohttp.ServerDisconnectedError(), RetryableError),
        (aiohttp.ClientOSError(104, "Connection reset by peer"), RetryableError),
        (aiohttp.ClientPayloadError(), RetryableError),
        (aiohttp.InvalidURL("nope"), PermanentError),
    ],
)
def test_exception_table(exc: BaseException, expected: type) -> None:
    assert exception_class(exc) is expected


def test_retry_after_in_seconds_or_as_a_date() -> None:
    assert retry_after_seconds("7") == 7.0
    assert retry_after_seconds(None) is None
    assert retry_after_seconds("soon") is None
    assert retry_after_seconds("Wed, 21 Oct 2015 07:28:10 GMT", now=1445412480.0) == 10.0


def test_excerpts_lose_secrets_and_id_numbers() -> None:
    body = (
        "<result><code>03</code><TOKEN>abc123</TOKEN><password>pw</password></result>"
        "&lt;CF_XDR_ZJHM&gt;620102199001011234&lt;/CF_XDR_ZJHM&gt;"
        '{"appKey": "k", "sign": "0cc175b9c0f1b6a831c399e269772661", "secret": "s\\"x"} token=t0k&x=1'
    )
    text = excerpt(body, secrets=("my-literal-secret",), names=PERSONAL_ID_FIELDS)
    for secret in (
        "abc123",
        ">pw<",
        "620102199001011234",
        "0cc175b9c0f1b6a831c399e269772661",
        "t0k",
        's\\"x',
    ):
        assert secret not in text
    assert "<code>03</code>" in text and '"appKey": "k"' in text
    assert excerpt("x my-literal-secret y", secrets=("my-literal-secret",)) == "x *** y"
    # Row columns are the connector's knowledge: without them the transport scrubs credentials only.
    assert "620102199001011234" in excerpt(body)


def test_excerpts_are_cut() -> None:
    text = excerpt("é" * 2000)
    assert len(text) == EXCERPT_LIMIT + 1 and text.endswith("…")


def test_field_rejections_carry_field_and_line() -> None:
    error = FieldRejected("bad", field="CF_JDRQ", line=2, code="03")
    assert error.context() | {"field": "CF_JDRQ", "line": 2, "kind": "permanent"} == error.context()
