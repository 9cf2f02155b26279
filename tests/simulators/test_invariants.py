"""The physical laws the simulators keep, as property tests over seeds and run lengths."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from contract import MetricKind
from simulators import Plant, SimDevice, load_scenario, parse_scenario
from simulators.truth import COLUMNS

seeds = st.integers(0, 2**32)
HOUR_MS = 3_600_000
SLOW = settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])
small_plants = st.sampled_from(["construction-waste", "secondary-aluminium", "battery-recycling"])


def build(name: str, seed: int, faults: bool = False) -> Plant:
    scenario = load_scenario(name)
    if not faults:
        scenario = scenario.model_copy(update={"faults": []})
    return Plant.from_scenario(scenario, seed)


@SLOW
@given(seeds, st.integers(1, 30), small_plants)
def test_power_integrates_to_the_energy_register(seed: int, hours: int, name: str) -> None:
    plant = build(name, seed)
    metered = [d for d in plant.devices if "energy_kwh" in d.registers]
    start = {d.key: d.registers["energy_kwh"].true_total for d in metered}
    integral = dict.fromkeys(start, 0.0)
    shown_before = {d.key: d.read()["energy_kwh"] for d in metered}
    step_h = plant.step_ms / HOUR_MS

    def integrate(p: Plant) -> None:
        for device in metered:
            integral[device.key] += float(device.read()["power_kw"]) * step_h

    plant.advance_to(plant.now_ms + hours * HOUR_MS, on_step=integrate)
    for device in metered:
        resolution = device.registers["energy_kwh"].config.resolution
        true_delta = device.registers["energy_kwh"].true_total - start[device.key]
        shown_delta = _unwrapped_delta(device, shown_before[device.key])
        # Gauges are rounded to 0.01 kW; the register truncates to its resolution.
        tolerance = 0.01 * hours + 2 * resolution + 1e-6 * true_delta
        assert integral[device.key] == pytest.approx(true_delta, abs=tolerance), device.key
        assert shown_delta == pytest.approx(true_delta, abs=tolerance), device.key


def _unwrapped_delta(device: SimDevice, before: float | str) -> float:
    register = device.registers["energy_kwh"]
    shown = float(device.read()["energy_kwh"])
    delta = shown - float(before)
    return delta + register.config.rollover_at if delta < 0 else delta


@SLOW
@given(seeds, st.integers(1, 48), small_plants)
def test_mass_in_equals_mass_out_plus_losses_plus_inventory(
    seed: int, hours: int, name: str
) -> None:
    plant = build(name, seed)
    plant.advance_to(plant.now_ms + hours * HOUR_MS)
    for device in plant.devices:
        t = device.totals
        out = t["output_t"] + t["residue_t"] + t["loss_t"] + device.model.inventory_t()
        assert t["input_t"] == pytest.approx(out, abs=1e-6), device.key
        assert device.model.inventory_t() >= -1e-9


@SLOW
@given(seeds, st.integers(1, 30), small_plants)
def test_registers_show_their_initial_value_plus_the_truth(
    seed: int, hours: int, name: str
) -> None:
    plant = build(name, seed)
    plant.advance_to(plant.now_ms + hours * HOUR_MS)
    for device in plant.devices:
        counters = [m for m in device.metrics if m.kind is MetricKind.COUNTER]
        for metric in counters:
            register = device.registers[metric.name]
            limit = register.config.rollover_at
            expected = (register.config.initial + register.true_total) % limit
            assert register.shown() == pytest.approx(expected, abs=register.config.resolution)


@SLOW
@given(seeds, st.lists(st.integers(1, 24 * 360), min_size=1, max_size=5))
def test_advancing_in_any_chunks_gives_the_same_plant(seed: int, cuts: list[int]) -> None:
    one, other = build("battery-recycling", seed, True), build("battery-recycling", seed, True)
    end = one.now_ms + 24 * HOUR_MS
    one.advance_to(end)
    for cut in sorted(cuts):
        other.advance_to(other.scenario.start_ms + cut * 10_000 + 3)
    other.advance_to(end)
    assert [d.read() for d in one.devices] == [d.read() for d in other.devices]
    assert [d.totals for d in one.devices] == [d.totals for d in other.devices]


def test_truth_columns_cover_every_flow() -> None:
    plant = build("industrial-park", 5)
    plant.advance_to(plant.now_ms + 20 * HOUR_MS)
    for device in plant.devices:
        assert set(device.totals) == set(COLUMNS)


def test_magnitudes_are_plausible_over_a_day() -> None:
    plant = build("industrial-park", 7)
    plant.advance_to(plant.now_ms + 24 * HOUR_MS)
    crusher = plant.device("cw-a/crusher").totals
    assert 1 <= crusher["electricity_kwh"] / crusher["input_t"] <= 5
    furnace = plant.device("al/furnace-1").totals
    metal = furnace["output_t"]
    assert 150 <= furnace["electricity_kwh"] / metal <= 300
    assert 100 <= furnace["natural_gas_nm3"] / metal <= 200
    lead = plant.device("pb/furnace-1").totals
    assert 20 <= lead["coke_kg"] / lead["input_t"] <= 100
    battery = plant.device("ev/line-1")
    black_mass = battery.registers["out_black_mass_t"].true_total
    assert 0.35 <= black_mass / battery.totals["input_t"] <= 0.40


@SLOW
@given(seeds, st.floats(10, 800), st.floats(0, 1500), st.booleans())
def test_readings_stay_in_the_catalogue_ranges_for_any_station(
    seed: int, capacity: float, idle_kw: float, mobile: bool
) -> None:
    text = ("name: x\ndescription: d\nsite: s\nlines:\n  - id: l\n    devices:\n"
            f"      - {{id: c, type: crusher_station, params: {{capacity_tph: {capacity}, "
            f"idle_kw: {idle_kw}, mobile: {str(mobile).lower()}, mean_between_blocks_h: 1}}}}\n"
            "      - {id: m, type: belt_scale, measures: [c]}\n")
    plant = Plant.from_scenario(parse_scenario(text), seed)
    for _ in range(36):
        plant.advance_to(plant.now_ms + 600_000)
        for device in plant.devices:
            for metric in device.metrics:
                assert metric.check(device.read()[metric.name]) is None, metric.name
