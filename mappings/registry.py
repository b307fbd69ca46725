"""Mapping instances by system name. Mappings hold no state, so one instance per system serves all."""

from __future__ import annotations

from gateway.contract import SystemMapping
from mappings.creditchina_gansu import CreditChinaGansuMapping
from mappings.gsxt_gansu import GsxtGansuMapping

MAPPINGS: dict[str, SystemMapping] = {
    CreditChinaGansuMapping.system: CreditChinaGansuMapping(),
    GsxtGansuMapping.system: GsxtGansuMapping(),
}
