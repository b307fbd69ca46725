"""Connectors: one `ConnectorSpec` per external system, registered here and nowhere else.

A connector pairs one system's adapter (transport) with its mapping (fields). Its spec names the
system, its settings model (`Settings.<name>`, i.e. `CREDITGW_<NAME>__…`; docs/adr/0020), how to
build its adapter, its mapping, and its transport limits. `build_connectors` reads `SPECS`; adding
a system is one spec here plus its settings field (docs/connectors.md).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel

from adapters import court as court_adapter
from adapters import emergency as emergency_adapter
from adapters import tax as tax_adapter
from adapters.civil_affairs import CivilAffairsAdapter
from adapters.court import CourtAdapter
from adapters.creditchina_gansu import CreditChinaGansuAdapter
from adapters.emergency import EmergencyAdapter
from adapters.frontdb import FrontDbAddress, FrontDbLimits
from adapters.gsxt_gansu import GsxtGansuAdapter
from adapters.hrss import HrssAdapter
from adapters.statistics import StatisticsAdapter
from adapters.tax import TaxAdapter
from gateway.contract import NativeWrite, SystemAdapter, SystemMapping
from gateway.domain.categories import Category
from gateway.domain.model import CanonicalRecord
from gateway.settings import (
    CivilAffairsSettings,
    CourtSettings,
    CreditChinaSettings,
    EmergencySettings,
    FileDropSettings,
    GsxtSettings,
    HrssSettings,
    OperatorError,
    Settings,
    StatisticsSettings,
    TaxSettings,
)
from gateway.store.repo import OutboxItem
from mappings import civil_affairs, court, creditchina_gansu, emergency, gsxt_gansu, hrss, statistics, tax

# The categories 信用中国 holds as list rows (MD): every list but the 经营异常名录, which has its own (YC).
LIST_ROW_CATEGORIES = tuple(c for c in Category if c not in (Category.ADMIN_PENALTY, Category.ABNORMAL_OPERATIONS))

# (the system's settings, its base URL) → a new adapter
AdapterFactory = Callable[[Any, str], SystemAdapter]


@dataclass(frozen=True, kw_only=True)
class ConnectorSpec:
    name: str  # the system's name in configuration, links, the outbox and metrics
    settings_model: type[BaseModel]  # the type of Settings.<name>
    adapter: AdapterFactory
    adapter_class: type[SystemAdapter]
    mapping: SystemMapping
    kind_field: str  # the row member naming a row's kind in the simulator's admin listing
    # Transport limits. Rows per write call is the protocol's (the adapter's `max_rows_per_write`);
    # calls_in_flight is the default of dispatch_target_concurrency for this system (None: the
    # dispatcher's general limit). Rate limiting is the system's own answer (429, Retry-After).
    calls_in_flight: int | None = None
    masked_fields: tuple[str, ...] = field(default=())  # row columns holding personal ID numbers
    # The row kinds (`list_all(kind, …)`) holding each category's records on this system: what the
    # reconciliation lists (gateway/reconcile/). A category missing here is not reconciled on it.
    listings: Mapping[Category, tuple[str, ...]] = field(default_factory=dict)

    @property
    def rows_per_write(self) -> int:
        return self.adapter_class.max_rows_per_write

    @property
    def takes_writes(self) -> bool:
        return self.adapter_class.takes_writes

    def settings_of(self, settings: Settings) -> Any:
        return getattr(settings, self.name)


def _creditchina(cc: CreditChinaSettings, url: str) -> SystemAdapter:
    return CreditChinaGansuAdapter(
        base_url=url,
        username=cc.username,
        password=cc.password.get_secret_value(),
        timeout=cc.timeout_s,
        page_size=cc.page_size,
        secret_fields=creditchina_gansu.PERSONAL_ID_FIELDS,
    )


def _gsxt(gs: GsxtSettings, url: str) -> SystemAdapter:
    return GsxtGansuAdapter(
        base_url=url,
        app_key=gs.app_key,
        secret=gs.secret.get_secret_value(),
        timeout=gs.timeout_s,
        page_size=gs.page_size,
        native_id_fields=gsxt_gansu.NATIVE_ID_FIELDS,
    )


# --- the HTTP list authorities, which the gateway only reads (docs/protocols.md §6a, §7, §9) ---


def _court(settings: CourtSettings, url: str) -> SystemAdapter:
    return CourtAdapter(
        base_url=url,
        client_id=settings.client_id,
        client_secret=settings.client_secret.get_secret_value(),
        timeout=settings.timeout_s,
        page_size=settings.page_size,
        secret_fields=court.PERSONAL_ID_FIELDS,
    )


def _tax(settings: TaxSettings, url: str) -> SystemAdapter:
    return TaxAdapter(
        base_url=url,
        username=settings.username,
        password=settings.password.get_secret_value(),
        key_fields=tax.KEY_FIELDS,
        timeout=settings.timeout_s,
        page_size=settings.page_size,
        secret_fields=tax.PERSONAL_ID_FIELDS,
    )


def _emergency(settings: EmergencySettings, url: str) -> SystemAdapter:
    return EmergencyAdapter(
        base_url=url,
        app_key=settings.app_key,
        secret=settings.secret.get_secret_value(),
        timeout=settings.timeout_s,
        page_size=settings.page_size,
        secret_fields=emergency.PERSONAL_ID_FIELDS,
    )


HTTP_LIST_SPECS = (
    ConnectorSpec(
        name="court",
        settings_model=CourtSettings,
        adapter=_court,
        adapter_class=CourtAdapter,
        mapping=court.CourtMapping(),
        kind_field=court.KIND_FIELD,
        masked_fields=court.PERSONAL_ID_FIELDS,
        listings={Category.COURT_DISHONEST: (court_adapter.KIND,)},
    ),
    ConnectorSpec(
        name="tax",
        settings_model=TaxSettings,
        adapter=_tax,
        adapter_class=TaxAdapter,
        mapping=tax.TaxMapping(),
        kind_field=tax.KIND_FIELD,
        masked_fields=tax.PERSONAL_ID_FIELDS,
        listings={Category.TAX_MAJOR_VIOLATION: (tax_adapter.KIND,)},
    ),
    ConnectorSpec(
        name="emergency",
        settings_model=EmergencySettings,
        adapter=_emergency,
        adapter_class=EmergencyAdapter,
        mapping=emergency.EmergencyMapping(),
        kind_field=emergency.KIND_FIELD,
        masked_fields=emergency.PERSONAL_ID_FIELDS,
        listings={Category.WORK_SAFETY: (emergency_adapter.KIND,)},
    ),
)


# File-drop departments (docs/adr/0027): the "URL" is ignored. The drop directory is a setting, and
# the sandbox starts the simulators on that same directory (gateway/cli.py `serve --simulate`).
def _file_drop_options(fd: FileDropSettings) -> dict[str, Any]:
    return {
        "drop_dir": fd.drop_dir,
        "state_dir": fd.state_dir,
        "scan_interval_s": fd.scan_interval_s,
        "settle_s": fd.settle_s,
        "hold_limit_s": fd.hold_limit_s,
    }


def _statistics(st: StatisticsSettings, _url: str) -> SystemAdapter:
    return StatisticsAdapter(
        key_fields=statistics.KEY_FIELDS, default_kind=statistics.LIST_KIND, **_file_drop_options(st)
    )


def _civil_affairs(ca: CivilAffairsSettings, _url: str) -> SystemAdapter:
    return CivilAffairsAdapter(
        key_fields=civil_affairs.KEY_FIELDS, kind_field=civil_affairs.KIND_FIELD, **_file_drop_options(ca)
    )


def _hrss(settings: HrssSettings, _url: str) -> SystemAdapter:
    """The 前置库 is reached by SQL at host/port/database, not by a URL (the simulator's URL serves
    only its admin API)."""
    return HrssAdapter(
        address=FrontDbAddress(
            host=settings.host,
            port=settings.port,
            user=settings.user,
            password=settings.password.get_secret_value(),
            database=settings.database,
        ),
        table=settings.table,
        limits=FrontDbLimits(
            statement_timeout_s=settings.statement_timeout_s,
            connect_timeout_s=settings.connect_timeout_s,
            pool_size=settings.pool_size,
        ),
        page_size=settings.page_size,
        kind=hrss.KIND,
    )


SPECS: Mapping[str, ConnectorSpec] = {
    spec.name: spec
    for spec in (
        ConnectorSpec(
            name="creditchina_gansu",
            settings_model=CreditChinaSettings,
            adapter=_creditchina,
            adapter_class=CreditChinaGansuAdapter,
            mapping=creditchina_gansu.CreditChinaGansuMapping(),
            kind_field=creditchina_gansu.KIND_FIELD,
            masked_fields=creditchina_gansu.PERSONAL_ID_FIELDS,
            listings={
                Category.ADMIN_PENALTY: (creditchina_gansu.ROWTYPE_PENALTY,),
                Category.ABNORMAL_OPERATIONS: (creditchina_gansu.ROWTYPE_ABNORMAL,),
                # Every list mirrored from its owner is a list row (ROWTYPE MD), whatever the list.
                **{category: (creditchina_gansu.ROWTYPE_LIST,) for category in LIST_ROW_CATEGORIES},
            },
        ),
        ConnectorSpec(
            name="gsxt_gansu",
            settings_model=GsxtSettings,
            adapter=_gsxt,
            adapter_class=GsxtGansuAdapter,
            mapping=gsxt_gansu.GsxtGansuMapping(),
            kind_field=gsxt_gansu.KIND_FIELD,
            masked_fields=gsxt_gansu.PERSONAL_ID_FIELDS,
            listings={
                Category.ADMIN_PENALTY: (gsxt_gansu.TABLE_PUNISH, gsxt_gansu.TABLE_OTHERPUNISH),
                Category.ABNORMAL_OPERATIONS: (gsxt_gansu.TABLE_OPANOMALY,),
                Category.SAMR_SERIOUS: (gsxt_gansu.TABLE_SERIOUS,),
                Category.WORK_SAFETY: (gsxt_gansu.TABLE_COLLECTED,),
            },
        ),
        *HTTP_LIST_SPECS,
        ConnectorSpec(
            name="statistics",
            settings_model=StatisticsSettings,
            adapter=_statistics,
            adapter_class=StatisticsAdapter,
            mapping=statistics.StatisticsMapping(),
            kind_field=statistics.KIND_FIELD,
            masked_fields=statistics.PERSONAL_ID_FIELDS,
            listings={Category.STATISTICS_SERIOUS: (statistics.LIST_KIND,)},
        ),
        ConnectorSpec(
            name="civil_affairs",
            settings_model=CivilAffairsSettings,
            adapter=_civil_affairs,
            adapter_class=CivilAffairsAdapter,
            mapping=civil_affairs.CivilAffairsMapping(),
            kind_field=civil_affairs.KIND_FIELD,
            masked_fields=civil_affairs.PERSONAL_ID_FIELDS,
            listings={Category.SOCIAL_ORG_SERIOUS: (civil_affairs.SERIOUS_LIST,)},
        ),
        ConnectorSpec(
            name="hrss",
            settings_model=HrssSettings,
            adapter=_hrss,
            adapter_class=HrssAdapter,
            mapping=hrss.HrssMapping(),
            kind_field=hrss.KIND_FIELD,
            masked_fields=hrss.PERSONAL_ID_FIELDS,
            listings={Category.WAGE_ARREARS: (hrss.KIND,)},
        ),
    )
}
# Mappings hold no state, so one instance per system serves all.
MAPPINGS: Mapping[str, SystemMapping] = {name: spec.mapping for name, spec in SPECS.items()}


@dataclass(frozen=True)
class Connector:
    system: str
    adapter: SystemAdapter
    mapping: SystemMapping
    page_size: int = 200
    calls_in_flight: int | None = None
    # Builds a delivery's write from its outbox row and record, for a target that is no record
    # system (SMS reminders, gateway/reminders.py: no mapping, no feed). Raise a DeliveryError.
    build_write: Callable[[OutboxItem, CanonicalRecord], NativeWrite] | None = None


def build_connectors(settings: Settings, urls: dict[str, str] | None = None) -> dict[str, Connector]:
    """Connectors for every configured system; `urls` overrides base URLs (e.g. in-process simulators)."""
    urls = urls or {}
    connectors: dict[str, Connector] = {}
    for system in settings.systems:
        spec = SPECS.get(system)
        if spec is None:
            raise OperatorError(
                f"invalid setting CREDITGW_SYSTEMS: no connector for system {system!r}"
                f" (known: {', '.join(sorted(SPECS))}); fix the environment variable"
            )
        own = spec.settings_of(settings)
        adapter = spec.adapter(own, urls.get(system, getattr(own, "url", "")))  # a 前置库 has no URL
        connectors[system] = Connector(system, adapter, spec.mapping, own.page_size, spec.calls_in_flight)
    return connectors
