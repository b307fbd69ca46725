"""Simulated 拖欠农民工工资失信联合惩戒对象名单 of the 甘肃省人社厅: a 前置库 table on MariaDB."""

from simulators.hrss.app import SIMULATOR, HrssConfig, HrssSimulator, create_app

__all__ = ["SIMULATOR", "HrssConfig", "HrssSimulator", "create_app"]
