"""Adapter classes by system name (the names used in configuration and in `links`)."""

from __future__ import annotations

from adapters.base import SystemAdapter
from adapters.creditchina_gansu import CreditChinaGansuAdapter
from adapters.gsxt_gansu import GsxtGansuAdapter

ADAPTERS: dict[str, type[SystemAdapter]] = {
    CreditChinaGansuAdapter.system: CreditChinaGansuAdapter,
    GsxtGansuAdapter.system: GsxtGansuAdapter,
}
