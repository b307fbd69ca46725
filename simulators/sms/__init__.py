"""Simulated SMS service of the 全省信用修复协同系统 (signed JSON, idempotent by messageId)."""

from simulators.sms.app import SIMULATOR, SmsConfig, SmsSimulator, create_app

__all__ = ["SIMULATOR", "SmsConfig", "SmsSimulator", "create_app"]
