"""Configuration: environment variables with the CREDITGW_ prefix (nested with __), secrets as SecretStr."""

from __future__ import annotations

import os
import re
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlsplit, urlunsplit

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from gateway.domain.categories import Category, SubjectType
from gateway.domain.rules import ListOverride, RuleOverrides, apply_overrides
from gateway.domain.rules.data import RULEBOOK


class CreditChinaSettings(BaseModel):
    url: str = "http://127.0.0.1:8601"
    username: str = "creditgw"
    password: SecretStr = SecretStr("creditgw-secret")
    timeout_s: float = 10.0
    page_size: int = 200


class GsxtSettings(BaseModel):
    url: str = "http://127.0.0.1:8602"
    app_key: str = "creditgw"
    secret: SecretStr = SecretStr("gsxt-secret")
    timeout_s: float = 10.0
    page_size: int = 500


# --- the HTTP list authorities, which the gateway only reads (docs/protocols.md §6a, §7, §9) ---


class CourtSettings(BaseModel):
    """省法院 失信被执行人 (read only): JSON, bearer token from clientId/clientSecret."""

    url: str = "http://127.0.0.1:8604"
    client_id: str = "creditgw"
    client_secret: SecretStr = SecretStr("court-secret")
    timeout_s: float = 10.0
    page_size: int = Field(default=100, ge=1, le=100)  # the court's limit


class TaxSettings(BaseModel):
    """省税务局 重大税收违法失信主体 (read only): SOAP 1.1, WS-Security UsernameToken."""

    url: str = "http://127.0.0.1:8605"
    username: str = "creditgw"
    password: SecretStr = SecretStr("tax-secret")
    timeout_s: float = 10.0
    page_size: int = Field(default=200, ge=1, le=200)  # the bureau's limit (hs)


class EmergencySettings(BaseModel):
    """省应急厅 安全生产严重失信主体 (read only): JSON GET signed with HMAC-SHA256."""

    url: str = "http://127.0.0.1:8607"
    app_key: str = "creditgw"
    secret: SecretStr = SecretStr("yjt-secret")
    timeout_s: float = 10.0
    page_size: int = Field(default=200, ge=1, le=200)  # the department's limit


class FileDropSettings(BaseModel):
    """A department that drops full snapshots of its list in a directory (docs/protocols.md §10–§11,
    docs/adr/0027). The adapter keeps what it took in `<state_dir>/<system>.sqlite3`."""

    drop_dir: Path
    state_dir: Path = Path("var/filedrop")
    scan_interval_s: float = Field(default=60.0, ge=0)  # the directory is listed at most this often
    settle_s: float = Field(default=5.0, ge=0)  # a file modified more recently is left for the next scan
    hold_limit_s: float = Field(default=3600.0, gt=0)  # an incomplete file is given up (quarantined) after this
    page_size: int = Field(default=500, ge=1)

    @property
    def url(self) -> str:
        """Where the system is, for the connector registry: the drop directory as a file: URL."""
        return self.drop_dir.absolute().as_uri()


class StatisticsSettings(FileDropSettings):
    """省统计局 统计严重失信企业 (.xlsx)."""

    drop_dir: Path = Path("var/drop/statistics")


class CivilAffairsSettings(FileDropSettings):
    """省民政厅 社会组织严重违法失信名单 (GB18030 CSV)."""

    drop_dir: Path = Path("var/drop/civil_affairs")


class HrssSettings(BaseModel):
    """省人社厅's 前置库 (docs/protocols.md §8): a MariaDB database the department and the platform
    share. CREDITGW_HRSS__HOST, __PORT, __USER, __PASSWORD (or __PASSWORD_FILE), __DATABASE, __TABLE."""

    host: str = "127.0.0.1"
    port: Annotated[int, Field(ge=1, le=65535)] = 3306
    user: str = "creditgw"
    password: SecretStr = SecretStr("")
    database: Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_$]{0,63}$")] = "qzk_rs"
    table: Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_$]{0,63}$")] = "QZK_RS_NMGGZ_SXMD"
    # MariaDB's own limits on each statement (lock waits included): a locked table is a retryable
    # failure after this long, never a hung poller.
    statement_timeout_s: Annotated[float, Field(gt=0, le=600)] = 10.0
    connect_timeout_s: Annotated[float, Field(gt=0, le=600)] = 10.0
    pool_size: Annotated[int, Field(ge=1, le=32)] = 2
    page_size: Annotated[int, Field(ge=1, le=1000)] = 200


class SmsSettings(BaseModel):
    """The SMS service of the 全省信用修复协同系统 (reminders; docs/protocols.md §5)."""

    url: str = "http://127.0.0.1:8603"
    app_id: str = "creditgw"
    secret: SecretStr = SecretStr("sms-secret")
    timeout_s: float = 10.0


class ListRuleSettings(BaseModel):
    """A list authority's periods pinned by the operator; None keeps the rule data's value."""

    model_config = ConfigDict(extra="forbid")

    maximum_months: int | None = Field(None, ge=1, le=1200)
    early_removal_after_months: int | None = Field(None, ge=0, le=1200, description="0: no waiting time")


class RulesSettings(BaseModel):
    """Overrides of unverified rule values (gateway/domain/rules/data.py marks them R or I).

    e.g. CREDITGW_RULES__GSXT_LOW_FINE_BELOW_WAN_YUAN__LEGAL_ENTITY=3 (万元, 不含本数) or
    CREDITGW_RULES__LISTS__COURT_DISHONEST__MAXIMUM_MONTHS=24.
    """

    model_config = ConfigDict(extra="forbid")

    # 较低数额罚款 on GSXT, per subject type; the built-in Gansu default is UNVERIFIED (domain.md §9).
    gsxt_low_fine_below_wan_yuan: dict[SubjectType, Annotated[Decimal, Field(ge=0)]] = {}
    lists: dict[Category, ListRuleSettings] = {}

    def overrides(self) -> RuleOverrides:
        return RuleOverrides(
            gsxt_low_fine_below_wan_yuan=dict(self.gsxt_low_fine_below_wan_yuan),
            lists={
                category: ListOverride(
                    maximum_months=pinned.maximum_months,
                    early_removal_after_months=pinned.early_removal_after_months,
                )
                for category, pinned in self.lists.items()
            },
        )

    @model_validator(mode="after")
    def _applicable(self) -> RulesSettings:
        apply_overrides(RULEBOOK, self.overrides())  # ValueError (e.g. a category without a list) fails startup
        return self


class WorkdayYearSettings(BaseModel):
    """One year's holiday arrangement, as the State Council publishes it (replaces the package's year)."""

    model_config = ConfigDict(extra="forbid")

    holidays: list[date] = []  # days off
    workdays: list[date] = []  # make-up working days on weekends (调休)


PREFIX = "CREDITGW_"
FILE_SUFFIX = "_FILE"


class FileSecretsSource(PydanticBaseSettingsSource):
    """`CREDITGW_X__Y_FILE=/run/secrets/y` sets `x.y` to the file's content (trailing new line
    dropped): container secrets stay out of the environment and out of `ps`."""

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False  # everything is done in __call__

    def __call__(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name, path in os.environ.items():
            if not (name.upper().startswith(PREFIX) and name.upper().endswith(FILE_SUFFIX)):
                continue
            if name[len(PREFIX) :].lower() in self.settings_cls.model_fields:
                continue  # a path setting of its own (CREDITGW_TLS_CERT_FILE, …), not a secret's file
            parts = name[len(PREFIX) : -len(FILE_SUFFIX)].lower().split("__")
            try:
                value = Path(path).read_text("utf-8").rstrip("\r\n")
            except OSError as exc:
                raise ValueError(f"{name}: cannot read {path}: {exc.strerror}") from None
            node = out
            for part in parts[:-1]:
                node = node.setdefault(part, {})
            node[parts[-1]] = value
        return out


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix=PREFIX, env_nested_delimiter="__", extra="ignore")

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # Earlier wins: arguments, then *_FILE secrets, then plain variables.
        return init_settings, FileSecretsSource(settings_cls), env_settings, dotenv_settings, file_secret_settings

    database_url: str = "sqlite:///var/creditgw.db"
    host: str = "127.0.0.1"
    port: int = 8600
    log_format: str = Field("console", pattern="^(json|console)$")
    log_level: str = "INFO"

    # Systems the gateway talks to; the others in the ownership table get no deliveries.
    systems: list[str] = ["creditchina_gansu", "gsxt_gansu"]
    creditchina_gansu: CreditChinaSettings = CreditChinaSettings()
    gsxt_gansu: GsxtSettings = GsxtSettings()
    # List authorities read by the gateway (enable them in CREDITGW_SYSTEMS).
    court: CourtSettings = CourtSettings()
    tax: TaxSettings = TaxSettings()
    emergency: EmergencySettings = EmergencySettings()
    # File-drop list departments (CREDITGW_STATISTICS__DROP_DIR, CREDITGW_CIVIL_AFFAIRS__STATE_DIR, …).
    statistics: StatisticsSettings = StatisticsSettings()
    civil_affairs: CivilAffairsSettings = CivilAffairsSettings()
    hrss: HrssSettings = HrssSettings()  # 前置库 (MariaDB); in CREDITGW_SYSTEMS only where the gateway reads it
    # Systems allowed to act for a category's owner (e.g. {"admin_penalty": ["creditchina_gansu"]}).
    repair_windows: dict[str, list[str]] = {}
    # Owners that decide only inside their own system: GSXT takes no writes to its own penalties
    # and lists, so the API refuses decisions about them (they are made in GSXT, then propagated).
    self_deciding_owners: list[str] = ["gsxt_gansu"]

    # Dispatcher and outbox. Each target system has its own lane (claim loop) and its own limit of
    # calls in flight: `dispatch_concurrency`, or its entry in `dispatch_target_concurrency`
    # (e.g. CREDITGW_DISPATCH_TARGET_CONCURRENCY='{"creditchina_gansu": 4}').
    dispatch_concurrency: int = Field(8, ge=1)
    dispatch_target_concurrency: dict[str, Annotated[int, Field(ge=1)]] = {}
    # Deliveries claimed per cycle. Large enough that 信用中国's intake gets full batches (100 rows
    # a call) and a backlog drains: measured, 32 drained a 10,000-repair backlog at 125/s, 200 at
    # 205/s (bench/README.md). A claimed delivery waits for its lease (lease_s) if the worker dies.
    dispatch_batch: int = 200
    dispatch_idle_s: float = 0.2
    lease_s: float = 60.0
    reaper_interval_s: float = 15.0
    max_attempts: int = 10
    retry_base_s: float = 2.0
    retry_max_s: float = 3600.0
    max_replays: int = 5  # loop guard: a dead letter replayed this often needs --force
    retention_days: float = 30.0  # finished deliveries and inbox keys are purged after this
    # Stored answers to idempotent POSTs are purged after this; the key is then unknown and a
    # request sent again with it is a new request (Stripe keeps keys 24 h; a week covers a client's
    # retries over a long holiday). Refusals (4xx) are never stored.
    idempotency_retention_days: float = Field(7.0, gt=0)

    # Pollers.
    poll_interval_s: float = 2.0
    # One replica reads each feed (docs/adr/0030): its lease, renewed every page, lets another
    # replica take the feed over this long after the reader died. A restart after a crash waits it
    # out too (a shutdown hands the feed over at once).
    feed_lease_s: float = Field(15.0, gt=0)
    # SIGTERM to `serve` (README "Operating it"): /readyz turns 503 and /v1/ writes are refused at
    # once; for shutdown_delay_s the listener stays open (load balancers see the 503), then
    # in-flight requests and deliveries get what is left of shutdown_grace_s to finish; work still
    # running then is cancelled and its deliveries' leases are released. The whole drain takes at
    # most shutdown_grace_s.
    shutdown_grace_s: float = Field(20.0, ge=0)
    shutdown_delay_s: float = Field(2.0, ge=0)

    # Overload (README "Operating it"): /v1/ writes are shed with 503 `overloaded` + Retry-After
    # while more deliveries are pending than overload_outbox_pending (read every
    # pressure_interval_s), or more units wait for a commit than overload_commit_queue; 0: no bound.
    overload_outbox_pending: int = Field(50_000, ge=0)
    overload_commit_queue: int = Field(2_000, ge=0)
    overload_retry_after_s: int = Field(2, ge=1)
    pressure_interval_s: float = Field(1.0, gt=0)
    # PostgreSQL: how long a statement waits for a connection before the caller hears 503
    # `database_unavailable` (a lost database answers within seconds, not the pool's 30 s).
    database_wait_s: float = Field(5.0, gt=0)

    # Expiry sweep (gateway/sync/sweep.py): stops publicity when the owner's maximum period ends.
    # `serve` runs it every sweep_interval_s; `creditgw sweep` runs it once (for cron).
    sweep_enabled: bool = True  # scheduled in `serve`; `creditgw sweep` works either way
    sweep_interval_s: float = Field(3600.0, gt=0)
    sweep_batch: int = Field(500, ge=1, le=10_000)  # published records read per page (keyset)
    # Sync SLA (gateway/domain/sla.py): every target of a repair is due this many working days after
    # the decision day (Beijing time) on the working-day calendar below (domain.md §5.5, §10).
    sync_deadline_working_days: int = Field(3, ge=0, le=60)

    # API.
    max_body_bytes: int = 64 * 1024
    # Signed calls (docs/signing.md). The secrets key (32 bytes, base64) seals client secrets at rest
    # (docs/adr/0017-client-secrets-sealed-at-rest.md); `creditgw clients key` makes one.
    secrets_key: SecretStr | None = None
    require_signature: bool = True  # off only behind mTLS or for measurements (bench/ingest.py)
    signature_window_s: int = Field(300, ge=1, le=3600)  # accepted |now − timestamp|
    client_cache_s: float = Field(5.0, ge=0)  # how long a replica trusts what it read of a client
    rate_per_s: int = Field(200, ge=1)  # per client (token bucket), unless the client has its own
    rate_burst: int = Field(400, ge=1)
    # Optional TLS and mTLS on `serve`: with tls_client_ca_file, a client certificate signed by that
    # CA is required and its subject (RFC 4514 string) names the client (clients.cert_subject).
    tls_cert_file: str | None = None
    tls_key_file: str | None = None
    tls_client_ca_file: str | None = None
    group_commit_max: int = 64
    group_commit_window_ms: float = 2.0
    group_commit_parallel: int = 4  # batches in flight at once on PostgreSQL (SQLite: always 1)

    # Repair rules (gateway/domain/rules): operator overrides of unverified values.
    rules: RulesSettings = RulesSettings()
    # Working-day calendar (gateway/calendar_data.py): the chinese_calendar package's years, replaced
    # per year by a JSON file ({"2027": {"holidays": [...], "workdays": [...]}}) and then by
    # CREDITGW_WORKDAY_CALENDAR__2027__HOLIDAYS='["2027-01-01", ...]' / __WORKDAYS='[...]'.
    workday_calendar: dict[int, WorkdayYearSettings] = {}
    workday_calendar_file: str | None = None

    # Repair reminders by SMS (gateway/reminders.py): one per record and milestone, sent to subjects
    # whose minimum period ends within `reminder_lead_days` (seed §(六)).
    sms: SmsSettings = SmsSettings()
    reminders_enabled: bool = True  # scheduled in `serve`; `creditgw remind` works either way
    reminder_interval_s: float = Field(86400.0, gt=0)  # daily
    reminder_lead_days: int = Field(7, ge=0, le=366)
    reminder_max_attempts: int = Field(5, ge=1)  # failed sends (runs) before a reminder is dead
    reminder_batch: int = Field(200, ge=1, le=10000)  # records read per transaction

    # Reconciliation (gateway/reconcile/, docs/adr/0022): `serve` runs it once a night across all
    # replicas at `reconcile_at` (HH:MM, Beijing time; "off" turns it off); `creditgw reconcile`
    # runs it on demand. `reconcile_heal`: the nightly run heals what it may (else it only reports).
    reconcile_at: str = "02:30"
    reconcile_heal: bool = False
    reconcile_page_size: int = Field(500, ge=1, le=10_000)  # rows per listing call
    reconcile_batch: int = Field(200, ge=1, le=10_000)  # findings per transaction (one checkpoint each)
    reconcile_lease_s: float = Field(120.0, gt=0)  # an unfinished run not renewed this long is taken over
    reconcile_heal_wait_s: float = Field(120.0, ge=0)  # `reconcile --heal`: wait for its deliveries, then re-check
    # A replica starting this long after the night's time still runs a night nobody ran (a claimed,
    # unfinished night is resumed whenever it is seen).
    reconcile_catch_up_s: float = Field(60.0, ge=0)

    @field_validator("reconcile_at")
    @classmethod
    def _daily_time(cls, value: str) -> str:
        text = value.strip().lower()
        if text in ("off", ""):
            return "off"
        from gateway.schedule import parse_daily_time

        parse_daily_time(text)  # ValueError names the form
        return text

    @field_validator("database_url")
    @classmethod
    def _supported_database(cls, value: str) -> str:
        scheme = value.split("://", 1)[0] if "://" in value else ""
        if scheme not in ("sqlite", "postgresql", "postgres"):
            raise ValueError(f"unsupported scheme {scheme!r}: use sqlite:///path/to/file.db or postgresql://…")
        if scheme == "sqlite" and (not value.startswith("sqlite:///") or value == "sqlite:///"):
            raise ValueError("a sqlite URL needs a file path: sqlite:///relative.db or sqlite:////absolute.db")
        return value

    @field_validator("workday_calendar")
    @classmethod
    def _dates_in_their_year(cls, value: dict[int, WorkdayYearSettings]) -> dict[int, WorkdayYearSettings]:
        for year, arrangement in value.items():
            for day in (*arrangement.holidays, *arrangement.workdays):
                if day.year != year:
                    raise ValueError(f"workday_calendar.{year} lists {day.isoformat()}, a date of another year")
            if set(arrangement.holidays) & set(arrangement.workdays):
                raise ValueError(f"workday_calendar.{year} lists a date both as holiday and as working day")
        return value

    @model_validator(mode="after")
    def _tls_pairs(self) -> Settings:
        if (self.tls_cert_file is None) != (self.tls_key_file is None):
            raise ValueError("tls_cert_file and tls_key_file go together")
        if self.tls_client_ca_file is not None and self.tls_cert_file is None:
            raise ValueError("tls_client_ca_file (mTLS) needs tls_cert_file and tls_key_file")
        return self

    def redacted(self) -> dict[str, Any]:
        """Effective settings for `check-config`: secrets shown as **********, including passwords
        inside URLs (the database URL) and any value under a secret-sounding name."""
        redacted = _redact(self.model_dump(mode="json"))
        assert isinstance(redacted, dict)
        return redacted


class OperatorError(Exception):
    """A mistake an operator can fix: the message is one line naming the setting and what to do."""


def load_settings(**overrides: Any) -> Settings:
    """Settings from the environment (and `overrides`); an invalid value is an OperatorError naming
    its environment variable, not a pydantic traceback."""
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        error = exc.errors()[0]
        loc = [str(part) for part in error["loc"]]
        variable = "CREDITGW_" + "__".join(loc).upper()
        given = error.get("input")
        shown = ""
        if isinstance(given, str | int | float) and not _SECRET_NAMES.search(loc[-1] if loc else ""):
            shown = f" (is {redact_url(str(given))!r})"
        message = str(error["msg"]).removeprefix("Value error, ")
        more = f"; and {exc.error_count() - 1} more" if exc.error_count() > 1 else ""
        fix = f"fix the environment variable{more}"
        raise OperatorError(f"invalid setting {variable}{shown}: {message}; {fix}") from None
    except ValueError as exc:  # a *_FILE secret that cannot be read (FileSecretsSource)
        raise OperatorError(f"invalid setting {exc}; fix the environment variable") from None


REDACTED = "**********"  # as pydantic shows a SecretStr
# Names whose values are secrets even when declared as plain strings (an operator's own extras).
_SECRET_NAMES = re.compile(r"(password|passwd|secret|token|api_key|private_key|credential)", re.IGNORECASE)


def redact_url(url: str) -> str:
    """The URL with the password of its user info replaced (`postgresql://u:**********@h/db`)."""
    try:
        parts = urlsplit(url)
        password = parts.password
    except ValueError:
        return url
    if not password:
        return url
    userinfo, _, hostinfo = parts.netloc.rpartition("@")
    user = userinfo.split(":", 1)[0]
    return urlunsplit(parts._replace(netloc=f"{user}:{REDACTED}@{hostinfo}"))


def _redact(value: Any, name: str = "") -> Any:
    if isinstance(value, dict):
        return {key: _redact(item, str(key)) for key, item in value.items()}
    if isinstance(value, list):
        return [_redact(item, name) for item in value]
    if isinstance(value, str):
        if _SECRET_NAMES.search(name) and value:
            return REDACTED
        return redact_url(value) if "://" in value else value
    return value
