"""Simulated recycling plants: deterministic equipment models, meters, faults and ground truth.

`Plant.from_scenario(load_scenario("construction-waste"), seed=1)` builds a plant;
`plant.advance_to(t_ms)` integrates it; `plant.devices` are what edge agents read.
"""

from simulators.clock import SimulatedClock
from simulators.device import SimDevice
from simulators.faults import Fault, FaultKind, FaultLog, FaultRecord, FaultSchedule, LinkFaults
from simulators.plant import Plant
from simulators.scenario import Scenario, load_scenario, parse_scenario, shipped_scenarios
from simulators.truth import GroundTruthRecorder, TruthRow, TruthWriter

__all__ = [
    "Fault", "FaultKind", "FaultLog", "FaultRecord", "FaultSchedule",
    "GroundTruthRecorder", "LinkFaults", "Plant", "Scenario", "SimDevice", "SimulatedClock",
    "TruthRow", "TruthWriter", "load_scenario", "parse_scenario", "shipped_scenarios",
]
