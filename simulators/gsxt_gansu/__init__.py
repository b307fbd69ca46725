"""Simulated GSXT（甘肃） 国家企业信用信息公示系统 (signed JSON API, audit gate, change feed)."""

from simulators.gsxt_gansu.app import SIMULATOR, GsxtConfig, GsxtSimulator, create_app

__all__ = ["SIMULATOR", "GsxtConfig", "GsxtSimulator", "create_app"]
