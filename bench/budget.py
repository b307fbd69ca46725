"""What a throughput target leaves each unit of work in CPU time, against what a run measured.

A ratio target (ingest ≥ 0.5× the bare handler, end to end ≥ 0.25×) is a rate once the baseline is
measured, and a rate is a CPU budget per unit of work: the machine's cores give `cores / rate`
seconds per unit to everything that runs on it (the load client, the gateway, the simulators, the
database server), and one Python process, one GIL, gets at most `1 / rate`. Comparing that budget
with the CPU each process measurably spent per unit tells, in the same run, whether a target is a
matter of tuning or out of reach on this machine at this cost per unit. Pure arithmetic, but for
`usable_cores`, which asks the kernel.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from bench.stats import rounded


@dataclass(frozen=True, kw_only=True)
class CpuBudget:
    target_per_s: float  # the rate the target asks for
    cores: int
    spent_ms: Mapping[str, float]  # measured CPU per unit of work, by process

    @property
    def machine_ms(self) -> float:
        """CPU per unit that all the machine's cores give at the target rate."""
        return self.cores * 1000 / self.target_per_s if self.target_per_s > 0 else math.nan

    @property
    def process_ms(self) -> float:
        """CPU per unit that one Python process (one core at most) gives at the target rate."""
        return 1000 / self.target_per_s if self.target_per_s > 0 else math.nan

    @property
    def total_ms(self) -> float:
        return sum(self.spent_ms.values())

    @property
    def over(self) -> float:
        """Measured CPU per unit / what the machine gives: above 1, the target cannot be met at this
        cost per unit, however the work were spread over the cores."""
        return self.total_ms / self.machine_ms if self.machine_ms > 0 else math.nan

    def process_over(self, name: str) -> float:
        """One process's CPU per unit / what one process can spend: above 1, that process alone
        cannot keep up with the target rate."""
        return self.spent_ms[name] / self.process_ms if self.process_ms > 0 else math.nan

    def describe(self, unit: str) -> str:
        parts = ", ".join(f"{name} {ms:.2f}" for name, ms in self.spent_ms.items())
        return (
            f"CPU per {unit}: {parts}; {self.total_ms:.2f} ms in all. At the target {self.target_per_s:,.0f}"
            f" {unit}s/s the {self.cores} cores give {self.machine_ms:.2f} ms per {unit} to all of it, one"
            f" process at most {self.process_ms:.2f}: the measured cost is ×{self.over:.1f} what the machine has"
        )

    def as_json(self) -> dict[str, Any]:
        return {
            "target_per_s": rounded(self.target_per_s, 1),
            "cores": self.cores,
            "spent_ms": {name: rounded(ms, 3) for name, ms in self.spent_ms.items()},
            "total_ms": rounded(self.total_ms, 3),
            "machine_ms": rounded(self.machine_ms, 3),
            "process_ms": rounded(self.process_ms, 3),
            "over": rounded(self.over, 2),
        }


def usable_cores() -> int:
    """The cores this process may run on (its affinity mask, which `taskset` or a container's
    cpuset narrow), not every core the kernel knows of."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def per_unit_ms(cpu_s: float | None, units: int) -> float:
    """CPU seconds over a window → milliseconds per unit of work done in it."""
    return cpu_s * 1000 / units if cpu_s is not None and units > 0 else math.nan
