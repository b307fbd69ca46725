"""Simulated 安全生产严重失信主体 list of the 甘肃省应急管理厅 (HMAC-signed GET JSON API, status flips)."""

from simulators.emergency.app import SIMULATOR, EmergencyConfig, EmergencySimulator, create_app

__all__ = ["SIMULATOR", "EmergencyConfig", "EmergencySimulator", "create_app"]
