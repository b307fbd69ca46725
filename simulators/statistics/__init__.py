"""Simulated 统计严重失信企业 list of the 甘肃省统计局: a full .xlsx snapshot dropped on a schedule."""

from simulators.statistics.app import SIMULATOR, StatisticsConfig, create_app

__all__ = ["SIMULATOR", "StatisticsConfig", "create_app"]
