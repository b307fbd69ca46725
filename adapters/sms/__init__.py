"""SMS service of the 全省信用修复协同系统: signed JSON, idempotent by messageId (docs/protocols.md §5).

- Every body carries `appId`, `timestamp` (Unix milliseconds), a fresh `nonce` and
  `signature = hmac_sha256_hex(secret, appId|timestamp|nonce|digest)`, where `digest` is the SHA-256
  of the canonical JSON of the other members. Each attempt is signed afresh (new timestamp, new
  nonce): the service refuses a nonce it has seen.
- `messageId` is the caller's idempotency key: the service answers a repeated messageId with its
  first answer and sends nothing, so a resend after a crash can never text a subject twice.
- The recipient is named by its 统一社会信用代码 only; the service resolves the registered number
  itself, so no phone number ever passes through the gateway.

Privacy: the USCC and the text are personal data of the recipient. They are never logged here, and
body excerpts (for logs and error context) have them removed.

Answer codes → failure class (STYLE.md §5):

| code | meaning | class |
|---|---|---|
| `0` | accepted | — |
| `1001` | unknown appId or bad signature | permanent (configuration) |
| `1002` | timestamp outside the window | retryable (our clock: an operator fixes NTP) |
| `1003` | nonce reused | retryable (the next attempt signs with a new nonce) |
| `2001` | invalid request (`field`) | permanent (`FieldRejected`) |
| `3001` | no registered contact for the recipient | permanent (`RecipientUnreachable`) |
| `3002` | the recipient opted out | permanent (`RecipientUnreachable`) |
| `5001` | busy | retryable |

HTTP 429 (Retry-After), 5xx and transport failures follow `adapters.http`.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import structlog

from adapters.http import FieldRejected, HttpClient, HttpResponse, InCallRetry, log_context
from gateway.domain.retry import DeliveryError, PermanentError, RetryableError

SEND_PATH = "/api/sms/send"
JSON_CONTENT_TYPE = "application/json"
AUTH_MEMBERS = ("appId", "timestamp", "nonce", "signature")
MESSAGE_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")

OK = "0"
BAD_SIGNATURE = "1001"
BAD_TIMESTAMP = "1002"
NONCE_REUSED = "1003"
INVALID = "2001"
NO_CONTACT = "3001"
OPTED_OUT = "3002"
BUSY = "5001"


class RecipientUnreachable(PermanentError):
    """The service cannot text this subject (no registered number, or it opted out): sending again
    cannot help until the subject registers."""


CODE_CLASSES: Mapping[str, type[DeliveryError]] = {
    BAD_SIGNATURE: PermanentError,
    BAD_TIMESTAMP: RetryableError,
    NONCE_REUSED: RetryableError,
    INVALID: FieldRejected,
    NO_CONTACT: RecipientUnreachable,
    OPTED_OUT: RecipientUnreachable,
    BUSY: RetryableError,
}

# Members never to show in an excerpt: the recipient and the text are the subject's personal data.
_PERSONAL = re.compile(r'"(uscc|mobile|content|params)"\s*:\s*("(?:[^"\\]|\\.)*"|\{[^{}]*\})', re.IGNORECASE)

log = structlog.get_logger(__name__)


@dataclass(frozen=True, kw_only=True)
class SmsMessage:
    """One text to one subject: a registered template with its params, or the caller's own content."""

    message_id: str  # the caller's idempotency key (deterministic per reminder)
    uscc: str  # the recipient's 统一社会信用代码; the service resolves the number
    content: str | None = None
    template_code: str | None = None
    params: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not MESSAGE_ID.match(self.message_id):
            raise ValueError("message_id must be 1-64 characters of A-Z a-z 0-9 _ -")
        if (self.content is None) == (self.template_code is None):
            raise ValueError("a message has either content or a template_code")

    def business(self) -> dict[str, Any]:
        """The members of the request besides the signature, in the service's field names."""
        body: dict[str, Any] = {"messageId": self.message_id, "recipient": {"uscc": self.uscc}}
        if self.content is not None:
            body["content"] = self.content
        else:
            body["templateCode"] = self.template_code
            body["params"] = dict(self.params)
        return body


@dataclass(frozen=True, kw_only=True)
class SmsReceipt:
    msg_id: str  # the service's id of the message (the same for a replayed messageId)
    segments: int | None = None


def canonical(value: Any) -> bytes:
    """Keys sorted, no whitespace, non-ASCII as itself, UTF-8 (docs/protocols.md §5)."""
    return json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode("utf-8")


def signature(secret: str, app_id: str, timestamp: str, nonce: str, business: Mapping[str, Any]) -> str:
    digest = hashlib.sha256(canonical(business)).hexdigest()
    message = f"{app_id}|{timestamp}|{nonce}|{digest}".encode()
    return hmac.new(secret.encode("utf-8"), message, hashlib.sha256).hexdigest()


def _utc_now() -> datetime:
    return datetime.now(UTC)


def _nonce() -> str:
    return secrets.token_hex(16)


class SmsAdapter:
    """Client of the SMS service. Not a record-sync `SystemAdapter`: it has no change feed and no
    mapping, so the runtime keeps it apart from the connectors (`runtime.sms`)."""

    system = "sms"

    def __init__(
        self,
        *,
        base_url: str,
        app_id: str,
        secret: str,
        timeout: float = 10.0,
        clock: Callable[[], datetime] | None = None,
        nonce: Callable[[], str] | None = None,
        retry: InCallRetry | None = None,
    ) -> None:
        self._app_id = app_id
        self._secret = secret
        self._clock = clock or _utc_now
        self._nonce = nonce or _nonce
        self._http = HttpClient(system=self.system, base_url=base_url, timeout=timeout, retry=retry)
        self._http.add_secret(secret)
        self._log = log.bind(system=self.system)

    async def close(self) -> None:
        await self._http.close()

    def signed_body(self, message: SmsMessage) -> bytes:
        business = message.business()
        timestamp = str(int(self._clock().timestamp() * 1000))
        nonce = self._nonce()
        auth = {
            "appId": self._app_id,
            "timestamp": timestamp,
            "nonce": nonce,
            "signature": signature(self._secret, self._app_id, timestamp, nonce, business),
        }
        return json.dumps({**auth, **business}, ensure_ascii=False).encode("utf-8")

    async def send(self, message: SmsMessage) -> SmsReceipt:
        """Send one message (retried in the call on transient failures); a DeliveryError says what
        happens next. A messageId the service already accepted returns the first receipt."""

        async def attempt() -> SmsReceipt:
            response = await self._http.post(SEND_PATH, data=self.signed_body(message), content_type=JSON_CONTENT_TYPE)
            return self._receipt(response)

        context = {"message_id": message.message_id}
        try:
            receipt = await self._http.with_retries(attempt, name=SEND_PATH, context=context)
        except DeliveryError as exc:
            self._log.warning("sms_failed", message_id=message.message_id, **log_context(exc))
            raise
        self._log.info("sms_accepted", message_id=message.message_id, msg_id=receipt.msg_id)
        return receipt

    def _excerpt(self, body: bytes) -> str:
        text = body.decode("utf-8", errors="replace")
        return self._http.excerpt(_PERSONAL.sub(r'"\1": "***"', text))

    def _receipt(self, response: HttpResponse) -> SmsReceipt:
        payload = _json(response.body)
        code = str(payload.get("code", "")) if isinstance(payload, Mapping) else ""
        if code == OK and response.ok:
            msg_id = payload.get("msgId") if isinstance(payload, Mapping) else None
            if not isinstance(msg_id, str) or not msg_id:
                raise RetryableError(
                    f"{self.system} {SEND_PATH}: accepted without a msgId",
                    status=response.status,
                    code="bad_answer",
                    body_excerpt=self._excerpt(response.body),
                )
            segments = payload.get("segments") if isinstance(payload, Mapping) else None
            return SmsReceipt(msg_id=msg_id, segments=segments if isinstance(segments, int) else None)
        error_class = CODE_CLASSES.get(code)
        if error_class is None:
            if not response.ok:
                error = self._http.error_for(response, path=SEND_PATH)
                error.body_excerpt = self._excerpt(response.body)
                raise error
            # HTTP 200 with an unknown code (or no JSON): the service's own defect; try again later.
            raise RetryableError(
                f"{self.system} {SEND_PATH}: unexpected answer (code {code or '?'})",
                status=response.status,
                code=code or None,
                body_excerpt=self._excerpt(response.body),
            )
        message = f"{self.system} {SEND_PATH}: code {code}: {payload.get('msg', '')}"
        excerpt = self._excerpt(response.body)
        if error_class is FieldRejected:
            field_name = payload.get("field")
            raise FieldRejected(
                f"{message} (field {field_name or '?'})",
                field=str(field_name) if field_name else None,
                status=response.status,
                code=code,
                body_excerpt=excerpt,
            )
        raise error_class(message, status=response.status, code=code, body_excerpt=excerpt)


def _json(body: bytes) -> Any:
    try:
        return json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError):
        return None


__all__ = ["RecipientUnreachable", "SmsAdapter", "SmsMessage", "SmsReceipt", "canonical", "signature"]
