"""Simulated 信用中国（甘肃） (SOAP-style intake, token login, timestamp pull)."""

from simulators.creditchina_gansu.app import SIMULATOR, CreditChinaConfig, CreditChinaSimulator, create_app

__all__ = ["SIMULATOR", "CreditChinaConfig", "CreditChinaSimulator", "create_app"]
