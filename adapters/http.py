"""Client plumbing shared by the adapters: one session per adapter, in-call retries, failure classes.

Short retries happen here, inside the call (a few attempts within seconds); anything longer is the
outbox's business (`next_attempt_at`, gateway.domain.retry), so a restart loses nothing (STYLE.md
§9). Every transport failure leaves this module as a `DeliveryError` whose type says what happens
next (STYLE.md §5), with the cause chained and a body excerpt from which secrets are removed.
"""

from __future__ import annotations

import re
import time
from collections import deque
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from functools import lru_cache
from typing import Any, TypeVar
from urllib.parse import quote

import aiohttp
import structlog
from multidict import CIMultiDict
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception, stop_after_attempt
from tenacity.wait import wait_exponential_jitter

from gateway.domain.retry import DeliveryError, PermanentError, RateLimitedError, RetryableError

T = TypeVar("T")

log = structlog.get_logger(__name__)


@dataclass(frozen=True, kw_only=True)
class InCallRetry:
    """How hard one call tries before it hands the failure to the outbox."""

    attempts: int = 3
    multiplier: float = 0.2  # seconds: waits of about 0.2, 0.4, … plus jitter
    max_wait: float = 2.0
    jitter: float = 0.2
    # A Retry-After up to this many seconds is waited out in the call; a longer one goes straight
    # back to the caller as RateLimitedError(retry_after=…): holding a worker for it wastes it.
    retry_after_cap: float = 5.0


class FieldRejected(PermanentError):
    """The system refused one field of the row (validation). Correct the content, then resend."""

    def __init__(
        self,
        message: str,
        *,
        field: str | None,
        line: int | None = None,
        status: int | None = None,
        code: str | None = None,
        body_excerpt: str | None = None,
    ) -> None:
        super().__init__(message, status=status, code=code, body_excerpt=body_excerpt)
        self.field = field
        self.line = line

    def context(self) -> dict[str, object]:
        return {**super().context(), "field": self.field, "line": self.line}


# HTTP status → failure class, the default every adapter starts from. Statuses not listed fall back
# on their family: 5xx retryable, other 4xx (and unexpected 1xx/3xx) permanent.
STATUS_CLASSES: Mapping[int, type[DeliveryError]] = {
    400: PermanentError,
    401: PermanentError,
    403: PermanentError,
    404: PermanentError,
    405: PermanentError,
    408: RetryableError,  # request timeout: the server gave up waiting for us
    409: RetryableError,  # conflict with a write in flight; the next attempt sees it settled
    410: PermanentError,
    413: PermanentError,
    415: PermanentError,
    422: PermanentError,
    425: RetryableError,
    429: RateLimitedError,
    500: RetryableError,
    502: RetryableError,
    503: RetryableError,
    504: RetryableError,
}

# Exceptions → failure class, first match wins (order matters: subclasses first).
EXCEPTION_CLASSES: tuple[tuple[type[BaseException], type[DeliveryError]], ...] = (
    (aiohttp.InvalidURL, PermanentError),  # configuration: no attempt can succeed
    (TimeoutError, RetryableError),  # no answer in time (aiohttp.ServerTimeoutError included)
    (aiohttp.ClientConnectionError, RetryableError),  # refused, reset, disconnected mid-answer
    (aiohttp.ClientPayloadError, RetryableError),  # truncated body
    (aiohttp.ClientError, RetryableError),
)


def status_class(status: int, table: Mapping[int, type[DeliveryError]] = STATUS_CLASSES) -> type[DeliveryError]:
    if status in table:
        return table[status]
    return RetryableError if 500 <= status <= 599 else PermanentError


def exception_class(exc: BaseException) -> type[DeliveryError]:
    for exc_type, error_class in EXCEPTION_CLASSES:
        if isinstance(exc, exc_type):
            return error_class
    return RetryableError


def retry_after_seconds(value: str | None, *, now: float | None = None) -> float | None:
    """Retry-After as seconds: either delta-seconds or an HTTP-date (RFC 9110 §10.2.3)."""
    if value is None or not value.strip():
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, moment.timestamp() - (time.time() if now is None else now))


# Values never to show in an excerpt: credentials, signatures and tokens. Element and JSON-member
# names, case-insensitive. A connector adds the columns of its rows that hold personal ID numbers
# (an answer may echo a row): that is its mapping's knowledge, given to the client as data.
SECRET_NAMES = (
    "token",
    "password",
    "passwd",
    "secret",
    "sign",
    "appSecret",
)
EXCERPT_LIMIT = 500


@lru_cache(maxsize=32)
def _scrubbers(names: tuple[str, ...]) -> tuple[tuple[re.Pattern[str], str], ...]:
    alternatives = "|".join(re.escape(name) for name in (*SECRET_NAMES, *names))
    return (
        (re.compile(rf"<({alternatives})>.*?</\1>", re.IGNORECASE | re.DOTALL), r"<\1>***</\1>"),
        (
            re.compile(rf"&lt;({alternatives})&gt;.*?&lt;/\1&gt;", re.IGNORECASE | re.DOTALL),
            r"&lt;\1&gt;***&lt;/\1&gt;",
        ),
        (re.compile(rf'"({alternatives})"\s*:\s*"(?:[^"\\]|\\.)*"', re.IGNORECASE), r'"\1": "***"'),
        (re.compile(rf"\b({alternatives})=[^&\s]*", re.IGNORECASE), r"\1=***"),
    )


def excerpt(
    body: bytes | str, *, secrets: tuple[str, ...] = (), names: tuple[str, ...] = (), limit: int = EXCERPT_LIMIT
) -> str:
    """A body for logs and dead letters: secrets (and the values of `names`, besides SECRET_NAMES)
    removed, then cut to `limit` characters."""
    text = body.decode("utf-8", errors="replace") if isinstance(body, bytes) else body
    for pattern, replacement in _scrubbers(names):
        text = pattern.sub(replacement, text)
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return text if len(text) <= limit else text[:limit] + "…"


def log_context(exc: DeliveryError) -> dict[str, object]:
    """A failure's context as log fields (`error_kind`, `error_status`, …); excerpts are scrubbed."""
    context = exc.context()
    context.pop("message", None)
    return {f"error_{key}": value for key, value in context.items()}


@dataclass(frozen=True, kw_only=True)
class HttpResponse:
    status: int
    headers: Mapping[str, str]
    body: bytes

    @property
    def ok(self) -> bool:
        return 200 <= self.status <= 299


class HttpClient:
    """One aiohttp session for one adapter (created on first use, closed by close()).

    It performs single exchanges and turns transport failures into DeliveryErrors; `with_retries`
    wraps a whole adapter operation (exchange + reading the system's own result codes) in the
    in-call retry policy, so a "busy" answer is retried like a 503.
    """

    def __init__(
        self,
        *,
        system: str,
        base_url: str,
        timeout: float,
        retry: InCallRetry | None = None,
        status_classes: Mapping[int, type[DeliveryError]] = STATUS_CLASSES,
        secret_fields: Sequence[str] = (),
    ) -> None:
        self.system = system
        self._secret_fields = tuple(secret_fields)
        self.base_url = base_url.rstrip("/")
        self.retry = retry or InCallRetry()
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._status_classes = status_classes
        self._session: aiohttp.ClientSession | None = None
        # Secrets to blank out of excerpts verbatim (password, app secret, recent tokens).
        self._secrets: deque[str] = deque(maxlen=8)
        self._log = log.bind(system=system)

    def add_secret(self, value: str) -> None:
        if value and value not in self._secrets:
            self._secrets.append(value)

    def excerpt(self, body: bytes | str) -> str:
        return excerpt(body, secrets=tuple(self._secrets), names=self._secret_fields)

    def _get_session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(timeout=self._timeout)
        return self._session

    async def close(self) -> None:
        if self._session is not None and not self._session.closed:
            await self._session.close()
        self._session = None

    async def post(
        self, path: str, *, data: bytes, content_type: str, headers: Mapping[str, str] | None = None
    ) -> HttpResponse:
        """One POST; any status comes back as a response, transport failures as DeliveryErrors."""
        session = self._get_session()
        request_headers = {"Content-Type": content_type, **(headers or {})}
        try:
            async with session.post(
                self.base_url + path, data=data, headers=request_headers, allow_redirects=False
            ) as response:
                body = await response.read()
                # Header names are case-insensitive (RFC 9110 §5.1): keep a case-insensitive copy.
                headers = CIMultiDict(response.headers)
                return HttpResponse(status=response.status, headers=headers, body=body)
        except (TimeoutError, aiohttp.ClientError) as exc:
            detail = f": {exc}" if str(exc) else ""
            raise exception_class(exc)(f"{self.system} {path}: {type(exc).__name__}{detail}") from exc

    async def get(
        self, path: str, *, params: Sequence[tuple[str, str]] = (), headers: Mapping[str, str] | None = None
    ) -> HttpResponse:
        """One GET with a query string (values sent as given, in the given order); like `post`,
        any status comes back as a response. The query is never part of an error: it may carry a
        signature."""
        session = self._get_session()
        query = "&".join(f"{name}={quote(value, safe='')}" for name, value in params)
        url = self.base_url + path + (f"?{query}" if query else "")
        try:
            async with session.get(url, headers=dict(headers or {}), allow_redirects=False) as response:
                body = await response.read()
                return HttpResponse(status=response.status, headers=CIMultiDict(response.headers), body=body)
        except (TimeoutError, aiohttp.ClientError) as exc:
            detail = f": {exc}" if str(exc) and query not in str(exc) else ""
            raise exception_class(exc)(f"{self.system} {path}: {type(exc).__name__}{detail}") from exc

    def error_for(self, response: HttpResponse, *, path: str) -> DeliveryError:
        """The failure a non-2xx answer stands for (Retry-After kept for 429)."""
        error_class = status_class(response.status, self._status_classes)
        retry_after = None
        if error_class is RateLimitedError:
            retry_after = retry_after_seconds(response.headers.get("Retry-After"))
        return error_class(
            f"{self.system} {path}: HTTP {response.status}",
            status=response.status,
            body_excerpt=self.excerpt(response.body),
            retry_after=retry_after,
        )

    async def with_retries(
        self, operation: Callable[[], Awaitable[T]], *, name: str, context: Mapping[str, object] | None = None
    ) -> T:
        """Run `operation`, retrying transient failures in the call; the last failure is raised.
        `context` (e.g. the business key) is bound to the retry log events."""
        bound = self._log.bind(operation=name, **(context or {}))
        retrying = AsyncRetrying(
            stop=stop_after_attempt(self.retry.attempts),
            wait=self._wait,
            retry=retry_if_exception(self._retry_in_call),
            before_sleep=lambda state: _log_retry(bound, state),
            reraise=True,
        )
        result: T = await retrying(operation)
        return result

    def _retry_in_call(self, exc: BaseException) -> bool:
        if isinstance(exc, RateLimitedError):
            return exc.retry_after is None or exc.retry_after <= self.retry.retry_after_cap
        return isinstance(exc, RetryableError)

    def _wait(self, state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome is not None else None
        if isinstance(exc, RateLimitedError) and exc.retry_after is not None:
            return exc.retry_after  # the server said how long; _retry_in_call bounded it
        backoff = wait_exponential_jitter(
            multiplier=self.retry.multiplier, max=self.retry.max_wait, jitter=self.retry.jitter
        )
        return float(backoff(state))


def _log_retry(bound: Any, state: RetryCallState) -> None:
    exc = state.outcome.exception() if state.outcome is not None else None
    wait = state.next_action.sleep if state.next_action is not None else None
    bound.info(
        "in_call_retry_scheduled",
        attempt=state.attempt_number,
        wait_s=round(wait, 3) if wait is not None else None,
        failure=exc.kind.value if isinstance(exc, DeliveryError) else type(exc).__name__,
        status=exc.status if isinstance(exc, DeliveryError) else None,
        code=exc.code if isinstance(exc, DeliveryError) else None,
    )
