"""A connector pairs one system's adapter (transport) with its mapping (fields)."""

from __future__ import annotations

from dataclasses import dataclass

from gateway.contract import SystemAdapter, SystemMapping
from gateway.settings import Settings


@dataclass(frozen=True)
class Connector:
    system: str
    adapter: SystemAdapter
    mapping: SystemMapping
    page_size: int = 200


def build_connectors(settings: Settings, urls: dict[str, str] | None = None) -> dict[str, Connector]:
    """Connectors for every configured system; `urls` overrides base URLs (e.g. in-process simulators)."""
    from adapters.creditchina_gansu import CreditChinaGansuAdapter
    from adapters.gsxt_gansu import GsxtGansuAdapter
    from mappings.registry import MAPPINGS

    urls = urls or {}
    connectors: dict[str, Connector] = {}
    for system in settings.systems:
        if system == "creditchina_gansu":
            cc = settings.creditchina_gansu
            adapter: SystemAdapter = CreditChinaGansuAdapter(
                base_url=urls.get(system, cc.url),
                username=cc.username,
                password=cc.password.get_secret_value(),
                timeout=cc.timeout_s,
                page_size=cc.page_size,
            )
            page_size = cc.page_size
        elif system == "gsxt_gansu":
            gs = settings.gsxt_gansu
            adapter = GsxtGansuAdapter(
                base_url=urls.get(system, gs.url),
                app_key=gs.app_key,
                secret=gs.secret.get_secret_value(),
                timeout=gs.timeout_s,
                page_size=gs.page_size,
            )
            page_size = gs.page_size
        else:
            raise ValueError(f"no adapter for system {system!r} (known: creditchina_gansu, gsxt_gansu)")
        connectors[system] = Connector(system, adapter, MAPPINGS[system], page_size)
    return connectors
