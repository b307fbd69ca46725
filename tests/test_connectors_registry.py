"""The connector registry (gateway/sync/connectors.py): one spec per system, read by build_connectors."""

from __future__ import annotations

from dataclasses import replace

import pytest

from gateway.runtime import Runtime
from gateway.settings import OperatorError, Settings
from gateway.store.database import Database
from gateway.sync.connectors import MAPPINGS, SPECS, build_connectors


def test_every_spec_agrees_with_its_adapter_mapping_and_settings() -> None:
    assert set(SPECS) == {
        "creditchina_gansu", "gsxt_gansu", "court", "tax", "emergency", "statistics", "civil_affairs", "hrss"
    }  # fmt: skip
    for name, spec in SPECS.items():
        assert spec.name == name == spec.adapter_class.system == spec.mapping.system
        # The settings model is the one Settings declares under the system's name (CREDITGW_<NAME>__…).
        assert Settings.model_fields[name].annotation is spec.settings_model
        assert MAPPINGS[name] is spec.mapping
    assert SPECS["creditchina_gansu"].rows_per_write == 100  # the intake's protocol limit
    assert SPECS["gsxt_gansu"].rows_per_write == 1
    # The list authorities decide in their own systems: the gateway only reads them.
    assert [SPECS[name].takes_writes for name in ("court", "tax", "emergency")] == [False, False, False]
    assert not SPECS["statistics"].takes_writes and not SPECS["civil_affairs"].takes_writes
    assert not SPECS["hrss"].takes_writes


async def test_build_connectors_reads_the_registry_and_the_systems_settings() -> None:
    settings = Settings(systems=["gsxt_gansu", "creditchina_gansu"], gsxt_gansu={"page_size": 77})
    connectors = build_connectors(settings, {"creditchina_gansu": "http://127.0.0.1:1"})
    try:
        assert list(connectors) == ["gsxt_gansu", "creditchina_gansu"]
        for name, connector in connectors.items():
            assert isinstance(connector.adapter, SPECS[name].adapter_class)
            assert connector.mapping is SPECS[name].mapping
        assert connectors["gsxt_gansu"].page_size == 77
    finally:
        for connector in connectors.values():
            await connector.adapter.close()


def test_an_unknown_system_is_one_clear_operator_error() -> None:
    with pytest.raises(
        OperatorError, match=r"no connector for system 'nonesuch'.*known: civil_affairs, court, creditchina_gansu"
    ):
        build_connectors(Settings(systems=["nonesuch"]))


async def test_a_connectors_calls_in_flight_is_its_lane_limit_unless_the_operator_sets_one(db: Database) -> None:
    settings = Settings(dispatch_concurrency=8, dispatch_target_concurrency={"gsxt_gansu": 2})
    built = build_connectors(settings)
    connectors = {name: replace(c, calls_in_flight=3) for name, c in built.items()}
    runtime = Runtime(settings, db, connectors)
    try:
        slots = runtime.dispatcher._slots  # the lanes' semaphores
        assert slots["creditchina_gansu"]._value == 3  # the connector's own limit
        assert slots["gsxt_gansu"]._value == 2  # the operator's setting wins
    finally:
        await runtime.committer.close()  # the database is the fixture's to close
        for connector in connectors.values():
            await connector.adapter.close()
        await runtime.sms.close()
