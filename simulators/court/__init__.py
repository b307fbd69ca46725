"""Simulated 失信被执行人 list of the 甘肃省高级人民法院 (token JSON API, versioned change feed)."""

from simulators.court.app import SIMULATOR, CourtConfig, CourtSimulator, create_app

__all__ = ["SIMULATOR", "CourtConfig", "CourtSimulator", "create_app"]
