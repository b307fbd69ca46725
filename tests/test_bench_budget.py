"""The CPU budget the benchmarks print: a target rate as CPU per unit of work, against what was spent."""

from __future__ import annotations

import math

import pytest

from bench.budget import CpuBudget, per_unit_ms


def test_budget_turns_a_target_rate_into_cpu_per_unit() -> None:
    budget = CpuBudget(target_per_s=2000.0, cores=2, spent_ms={"server": 1.0, "client": 0.25})
    assert budget.machine_ms == pytest.approx(1.0)  # 2 cores, 2000/s: 1 ms of CPU per unit in all
    assert budget.process_ms == pytest.approx(0.5)  # one process: at most one core
    assert budget.total_ms == pytest.approx(1.25)
    assert budget.over == pytest.approx(1.25)
    assert budget.process_over("server") == pytest.approx(2.0)
    figures = budget.as_json()
    assert figures["over"] == 1.25 and figures["spent_ms"] == {"server": 1.0, "client": 0.25}
    line = budget.describe("request")
    assert "server 1.00, client 0.25; 1.25 ms in all" in line and "×1.2" in line


def test_a_budget_within_the_machine_is_below_one() -> None:
    assert CpuBudget(target_per_s=100.0, cores=2, spent_ms={"serve": 5.0}).over == pytest.approx(0.25)


def test_nothing_measured_is_null_not_nan_in_json() -> None:
    budget = CpuBudget(target_per_s=0.0, cores=2, spent_ms={"serve": per_unit_ms(None, 10)})
    assert math.isnan(budget.machine_ms) and math.isnan(budget.over)
    assert budget.as_json()["over"] is None and budget.as_json()["spent_ms"] == {"serve": None}
    assert per_unit_ms(0.5, 0) != per_unit_ms(0.5, 0)  # NaN: no unit of work done
    assert per_unit_ms(0.5, 250) == pytest.approx(2.0)


def test_usable_cores_are_those_this_process_may_run_on() -> None:
    import os

    from bench.budget import usable_cores

    assert usable_cores() == len(os.sched_getaffinity(0))
    assert 1 <= usable_cores() <= (os.cpu_count() or 1)


def test_cpu_meter_measures_each_process_and_nan_for_one_that_exited() -> None:
    from bench.processes import CpuMeter

    clock = iter([1.0, 4.5])

    def gone() -> float:
        raise FileNotFoundError("/proc/12345/stat")

    meter = CpuMeter({"server": lambda: next(clock), "exited": gone})
    meter.start()
    spent = meter.stop()
    assert spent["server"] == pytest.approx(3.5) and math.isnan(spent["exited"])
