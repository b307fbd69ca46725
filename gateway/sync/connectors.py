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

from adapters.creditchina_gansu import CreditChinaGansuAdapter
from adapters.gsxt_gansu import GsxtGansuAdapter
from gateway.contract import NativeWrite, SystemAdapter, SystemMapping
from gateway.domain.model import CanonicalRecord
from gateway.settings import CreditChinaSettings, GsxtSettings, OperatorError, Settings
from gateway.store.repo import OutboxItem
from mappings import creditchina_gansu, gsxt_gansu

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
        ),
        ConnectorSpec(
            name="gsxt_gansu",
            settings_model=GsxtSettings,
            adapter=_gsxt,
            adapter_class=GsxtGansuAdapter,
            mapping=gsxt_gansu.GsxtGansuMapping(),
            kind_field=gsxt_gansu.KIND_FIELD,
            masked_fields=gsxt_gansu.PERSONAL_ID_FIELDS,
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
        adapter = spec.adapter(own, urls.get(system, own.url))
        connectors[system] = Connector(system, adapter, spec.mapping, own.page_size, spec.calls_in_flight)
    return connectors
