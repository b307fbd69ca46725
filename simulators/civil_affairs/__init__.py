"""Simulated 社会组织严重违法失信名单 of the 甘肃省民政厅: a GB18030 CSV snapshot dropped on a schedule."""

from simulators.civil_affairs.app import SIMULATOR, CivilAffairsConfig, create_app

__all__ = ["SIMULATOR", "CivilAffairsConfig", "create_app"]
