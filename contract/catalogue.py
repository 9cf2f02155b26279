"""The metric catalogue: which metrics each equipment type sends, in which unit and range.

Counters are cumulative registers (kWh, Nm3, kg, tonnes through a belt scale, units) and
never per-interval deltas: a lost message then loses resolution, never energy.
Each metric also names its *role*, which tells the energy-carbon engine what it measures.
Metrics whose names start with `x_` are a maker's own; they are declared in the birth
message and checked for type only.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

CUSTOM_PREFIX = "x_"
REGISTER_MAX = 1e12


class MetricKind(StrEnum):
    COUNTER = "counter"
    GAUGE = "gauge"
    STATE = "state"


class Role(StrEnum):
    """What a metric measures, for the energy-carbon engine."""

    ELECTRICITY = "electricity"
    NATURAL_GAS = "natural_gas"
    DIESEL = "diesel"
    COKE_REDUCTANT = "coke_reductant"
    MASS_IN = "mass_in"
    MASS_PRODUCT = "mass_product"
    MASS_RESIDUE = "mass_residue"
    MASS_THROUGH = "mass_through"
    UNITS = "units"
    NONE = "none"


class EquipmentType(StrEnum):
    CRUSHER_STATION = "crusher_station"
    SMELTER_ALUMINIUM = "smelter_aluminium"
    SMELTER_LEAD = "smelter_lead"
    DISMANTLING_BATTERY = "dismantling_battery"
    DISMANTLING_APPLIANCE = "dismantling_appliance"
    ELECTRICITY_METER = "electricity_meter"
    GAS_METER = "gas_meter"
    BELT_SCALE = "belt_scale"


class Domain(StrEnum):
    """The recycling domains of Henan's solid-waste recycling action plan."""

    CONSTRUCTION_WASTE = "construction_waste"
    RECYCLED_METALS = "recycled_metals"
    WASTE_BATTERIES = "waste_batteries"
    WASTE_APPLIANCES = "waste_appliances"


@dataclass(frozen=True, slots=True)
class MetricSpec:
    name: str
    unit: str
    kind: MetricKind
    minimum: float = 0.0
    maximum: float = REGISTER_MAX
    role: Role = Role.NONE
    states: tuple[str, ...] = ()
    description: str = ""

    def check(self, value: float | str) -> str | None:
        """Return why `value` is not plausible for this metric, or None if it is."""
        if self.kind is MetricKind.STATE:
            if not isinstance(value, str):
                return f"expected one of the states {list(self.states)}, got {value!r}"
            if self.states and value not in self.states:
                return f"unknown state {value!r}; expected one of {list(self.states)}"
            return None
        if isinstance(value, str):
            return f"expected a number in {self.unit}, got a string"
        if value != value:
            return "NaN is not a measurement"
        if not self.minimum <= value <= self.maximum:
            return (f"{value:g} {self.unit} is outside the plausible range "
                    f"[{self.minimum:g}, {self.maximum:g}]")
        return None


@dataclass(frozen=True, slots=True)
class EquipmentSpec:
    type: EquipmentType
    description: str
    metrics: tuple[MetricSpec, ...]
    domain: Domain | None = None
    by_name: dict[str, MetricSpec] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "by_name", {m.name: m for m in self.metrics})


_RUN_STATES = ("running", "idle", "blocked", "fault", "off")
_FURNACE_STATES = ("charging", "melting", "holding", "tapping", "idle", "fault", "off")


def _counter(name: str, unit: str, role: Role, description: str) -> MetricSpec:
    return MetricSpec(name, unit, MetricKind.COUNTER, role=role, description=description)


def _gauge(name: str, unit: str, low: float, high: float, description: str) -> MetricSpec:
    return MetricSpec(name, unit, MetricKind.GAUGE, low, high, description=description)


def _state(states: tuple[str, ...], name: str = "state", description: str = "") -> MetricSpec:
    return MetricSpec(name, "", MetricKind.STATE, states=states,
                      description=description or "Operating state.")


def _power(high: float) -> tuple[MetricSpec, MetricSpec]:
    return (
        _gauge("power_kw", "kW", 0, high, "Active power drawn."),
        _counter("energy_kwh", "kWh", Role.ELECTRICITY, "Active energy import register."),
    )


def _tonnes(name: str, role: Role, description: str) -> MetricSpec:
    return _counter(name, "t", role, description)


_INPUT = _tonnes("input_t", Role.MASS_IN, "Mass fed in, from the weighing record or belt scale.")
_NATURAL_GAS = (
    _counter("gas_nm3", "Nm3", Role.NATURAL_GAS, "Natural gas burnt, totaliser register."),
    _gauge("gas_flow_nm3h", "Nm3/h", 0, 5000, "Natural gas flow to the burners."),
)
_MELT_TEMPERATURE = _gauge("melt_temp_c", "°C", -20, 1400, "Melt temperature.")
_UNITS = _counter("units", "units", Role.UNITS, "Units dismantled.")


def _fractions(*names: str, residue: str) -> tuple[MetricSpec, ...]:
    products = tuple(
        _tonnes(f"out_{name}_t", Role.MASS_PRODUCT, f"Output fraction: {name.replace('_', ' ')}.")
        for name in names
    )
    return (*products, _tonnes(f"out_{residue}_t", Role.MASS_RESIDUE, f"Residue: {residue}."))


CATALOGUE: dict[EquipmentType, EquipmentSpec] = {
    spec.type: spec
    for spec in (
        EquipmentSpec(
            EquipmentType.CRUSHER_STATION,
            "Construction-waste crushing and screening station (fixed or mobile).",
            (
                _state(_RUN_STATES),
                _state(("concrete", "brick", "mixed"), "material", "Material being fed."),
                *_power(2000),
                _INPUT,
                _gauge("feed_rate_tph", "t/h", 0, 1000, "Feed rate on the infeed belt scale."),
                *_fractions("aggregate_coarse", "aggregate_medium", "aggregate_fine",
                            residue="residue"),
                _counter("diesel_kg", "kg", Role.DIESEL, "Diesel burnt (mobile stations)."),
            ),
            Domain.CONSTRUCTION_WASTE,
        ),
        EquipmentSpec(
            EquipmentType.SMELTER_ALUMINIUM,
            "Secondary aluminium melting furnace.",
            (_state(_FURNACE_STATES), *_power(5000), _INPUT, *_NATURAL_GAS, _MELT_TEMPERATURE,
             *_fractions("metal", residue="dross")),
            Domain.RECYCLED_METALS,
        ),
        EquipmentSpec(
            EquipmentType.SMELTER_LEAD,
            "Secondary lead smelting furnace (battery paste and grids).",
            (_state(_FURNACE_STATES), *_power(5000), _INPUT, *_NATURAL_GAS,
             _counter("coke_kg", "kg", Role.COKE_REDUCTANT, "Coke charged as reductant."),
             _MELT_TEMPERATURE, *_fractions("metal", residue="slag")),
            Domain.RECYCLED_METALS,
        ),
        EquipmentSpec(
            EquipmentType.DISMANTLING_BATTERY,
            "EV battery dismantling and black-mass line.",
            (_state(_RUN_STATES), *_power(2000), _INPUT, _UNITS,
             *_fractions("black_mass", "copper", "aluminium", "steel", residue="plastics")),
            Domain.WASTE_BATTERIES,
        ),
        EquipmentSpec(
            EquipmentType.DISMANTLING_APPLIANCE,
            "Waste electrical appliance dismantling line.",
            (_state(_RUN_STATES), *_power(2000), _INPUT, _UNITS,
             *_fractions("copper", "aluminium", "steel", "plastics", residue="residue")),
            Domain.WASTE_APPLIANCES,
        ),
        EquipmentSpec(
            EquipmentType.ELECTRICITY_METER,
            "Three-phase electricity meter.",
            (*_power(100_000),
             _gauge("voltage_v", "V", 0, 40_000, "Line-to-line voltage."),
             _gauge("current_a", "A", 0, 100_000, "Mean phase current."),
             _gauge("power_factor", "", 0, 1, "Total power factor.")),
        ),
        EquipmentSpec(
            EquipmentType.GAS_METER,
            "Natural gas meter with a volume totaliser corrected to normal conditions.",
            _NATURAL_GAS,
        ),
        EquipmentSpec(
            EquipmentType.BELT_SCALE,
            "Belt scale with a mass totaliser.",
            (_tonnes("mass_t", Role.MASS_THROUGH, "Mass over the belt, totaliser."),
             _gauge("rate_tph", "t/h", 0, 2000, "Mass rate over the belt.")),
        ),
    )
}


def metric_spec(equipment: EquipmentType, name: str) -> MetricSpec | None:
    return CATALOGUE[equipment].by_name.get(name)
