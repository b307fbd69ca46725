"""Configuration: environment variables with the CREDITGW_ prefix (nested with __), secrets as SecretStr."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class CreditChinaSettings(BaseModel):
    url: str = "http://127.0.0.1:8601"
    username: str = "creditgw"
    password: SecretStr = SecretStr("creditgw-secret")
    timeout_s: float = 10.0
    page_size: int = 200


class GsxtSettings(BaseModel):
    url: str = "http://127.0.0.1:8602"
    app_key: str = "creditgw"
    secret: SecretStr = SecretStr("gsxt-secret")
    timeout_s: float = 10.0
    page_size: int = 500


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CREDITGW_", env_nested_delimiter="__", extra="ignore")

    database_url: str = "sqlite:///var/creditgw.db"
    host: str = "127.0.0.1"
    port: int = 8600
    log_format: str = Field("console", pattern="^(json|console)$")
    log_level: str = "INFO"

    # Systems the gateway talks to; the others in the ownership table get no deliveries.
    systems: list[str] = ["creditchina_gansu", "gsxt_gansu"]
    creditchina_gansu: CreditChinaSettings = CreditChinaSettings()
    gsxt_gansu: GsxtSettings = GsxtSettings()
    # Systems allowed to act for a category's owner (e.g. {"admin_penalty": ["creditchina_gansu"]}).
    repair_windows: dict[str, list[str]] = {}
    # Owners that decide only inside their own system: GSXT takes no writes to its own penalties
    # and lists, so the API refuses decisions about them (they are made in GSXT, then propagated).
    self_deciding_owners: list[str] = ["gsxt_gansu"]

    # Dispatcher and outbox.
    dispatch_concurrency: int = 8
    dispatch_batch: int = 32
    dispatch_idle_s: float = 0.2
    lease_s: float = 60.0
    reaper_interval_s: float = 15.0
    max_attempts: int = 10
    retry_base_s: float = 2.0
    retry_max_s: float = 3600.0
    max_replays: int = 5  # loop guard: a dead letter replayed this often needs --force
    retention_days: float = 30.0  # finished deliveries and inbox keys are purged after this

    # Pollers.
    poll_interval_s: float = 2.0

    # API.
    max_body_bytes: int = 64 * 1024
    group_commit_max: int = 64
    group_commit_window_ms: float = 2.0

    def redacted(self) -> dict[str, Any]:
        """Effective settings for `check-config`: secrets shown as ********."""
        return self.model_dump(mode="json")
