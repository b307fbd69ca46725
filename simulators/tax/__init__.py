"""Simulated 重大税收违法失信主体 list of 国家税务总局甘肃省税务局 (SOAP with WS-Security, XML rows)."""

from simulators.tax.app import SIMULATOR, TaxConfig, TaxSimulator, create_app

__all__ = ["SIMULATOR", "TaxConfig", "TaxSimulator", "create_app"]
