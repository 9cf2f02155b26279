"""Published benchmarks that the intensity panels compare against, with source and status.

Copied from the project's domain reference (energy and carbon), which marks each figure
[V] confirmed, [V-1] one secondary source, or [U] unverified; the status travels with the
figure into every panel description, so an operator sees how firm a line on a chart is.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Benchmark:
    label: str
    value: float
    unit: str
    source: str
    status: str

    def describe(self) -> str:
        return f"{self.label}: {self.value:g} {self.unit} ({self.source}) [{self.status}]"


LEAD_NEW = Benchmark(
    "Secondary lead smelting, new plants, at most", 130, "kgce/t",
    "lead industry entry conditions 2012; now GB 25323-2023, current limits not retrieved", "V")
LEAD_EXISTING = Benchmark(
    "Secondary lead smelting, existing plants, at most", 185, "kgce/t",
    "lead industry entry conditions 2012; now GB 25323-2023, current limits not retrieved", "V")
ALUMINIUM_REMELTING = Benchmark(
    "Secondary aluminium remelting, about", 222, "kgce/t",
    "about 225 kWh and 5.7 GJ of gas per tonne of ingot", "V-1")
CRUSHING_LOW = Benchmark(
    "Construction-waste crushing and screening, low end", 1, "kWh/t", "often quoted 1-5 kWh/t",
    "U")
CRUSHING_HIGH = Benchmark(
    "Construction-waste crushing and screening, high end", 5, "kWh/t", "often quoted 1-5 kWh/t",
    "U")

METALS = (LEAD_NEW, LEAD_EXISTING, ALUMINIUM_REMELTING)
CRUSHING = (CRUSHING_LOW, CRUSHING_HIGH)


def describe(benchmarks: Sequence[Benchmark]) -> str:
    """Markdown lines listing `benchmarks`, for a panel description."""
    lines = "\n".join(f"- {b.describe()}" for b in benchmarks)
    return ("Benchmarks (status V confirmed, V-1 one secondary source, U unverified):\n"
            f"{lines}")
