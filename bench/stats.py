"""Percentiles and latency summaries."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0–100) by linear interpolation between closest ranks; NaN when empty."""
    if not 0 <= q <= 100:
        raise ValueError(f"percentile must be within 0..100, not {q}")
    if not values:
        return math.nan
    ordered = sorted(values)
    if len(ordered) == 1:
        return ordered[0]
    rank = (len(ordered) - 1) * q / 100
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


@dataclass(frozen=True, kw_only=True)
class Summary:
    """Latencies in seconds."""

    count: int
    p50: float
    p90: float
    p99: float
    max: float

    @classmethod
    def of(cls, values: Sequence[float]) -> Summary:
        return cls(
            count=len(values),
            p50=percentile(values, 50),
            p90=percentile(values, 90),
            p99=percentile(values, 99),
            max=max(values) if values else math.nan,
        )

    def as_json(self, unit: str = "ms") -> dict[str, float | int | None]:
        scale = 1000.0 if unit == "ms" else 1.0
        return {
            "count": self.count,
            f"p50_{unit}": rounded(self.p50 * scale),
            f"p90_{unit}": rounded(self.p90 * scale),
            f"p99_{unit}": rounded(self.p99 * scale),
            f"max_{unit}": rounded(self.max * scale),
        }


def ratio(numerator: float, denominator: float) -> float:
    return numerator / denominator if denominator > 0 else math.nan


def rounded(value: float, digits: int = 3) -> float | None:
    """JSON has no NaN: missing figures become null."""
    return None if math.isnan(value) or math.isinf(value) else round(value, digits)
