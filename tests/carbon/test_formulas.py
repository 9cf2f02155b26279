"""Hand-calculated reference cases for every formula, through the engine's own code path.

Factors come from the shipped registry (GB/T 2589-2020, MEE grid factors); the arithmetic is
written out next to each expected figure.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from carbon.activity import Activity, Measured
from carbon.figures import FactorSet, device_figures, finish, missing_factors
from carbon.formulas import enpi_index, fit_baseline, per_tonne
from carbon.registry import Factor, Registry, load_registry

D = Decimal
OCTOBER_2026 = date(2026, 10, 5)


def activity(**amounts: str) -> Activity:
    return Activity({k: Measured(D(v), 900_000, 900_000) for k, v in amounts.items()})


@pytest.fixture(scope="module")
def registry() -> Registry:
    return load_registry()


def test_comprehensive_energy_in_kgce(registry: Registry) -> None:
    # 1000 kWh x 0.1229 = 122.9; 500 Nm3 x 1.3300 = 665.0; 200 kg diesel x 1.4571 = 291.42;
    # 100 kg coke x 0.9714 = 97.14. Total 122.9 + 665 + 291.42 + 97.14 = 1176.46 kgce.
    factors = FactorSet.resolve(registry, OCTOBER_2026, "henan", "equivalent")
    figures = device_figures(activity(electricity_kwh="1000", natural_gas_nm3="500",
                                      diesel_kg="200", coke_kg="100"), None, factors)
    assert figures["energy_kgce"] == D("1176.46")


def test_equal_value_convention(registry: Registry) -> None:
    # 1000 kWh x 0.404 = 404 kgce under the equal-value convention.
    factors = FactorSet.resolve(registry, OCTOBER_2026, "henan", "equal_value")
    assert device_figures(activity(electricity_kwh="1000"), None, factors)["energy_kgce"] == 404


def test_combustion_co2(registry: Registry) -> None:
    # 500 Nm3 x 2.1622 = 1081.1 kg; 200 kg diesel x 3.0959 = 619.18 kg; sum 1700.28 kg.
    factors = FactorSet.resolve(registry, OCTOBER_2026, "henan", "equivalent")
    figures = device_figures(activity(natural_gas_nm3="500", diesel_kg="200"), None, factors)
    assert figures["co2_combustion_kg"] == D("1700.28")


def test_combustion_factor_follows_from_its_parameters() -> None:
    # Natural gas: 389.31 GJ/10^4 Nm3 = 0.038931 GJ/Nm3; x 15.3 t C/TJ = 0.000595644 t C/Nm3;
    # x 0.99 x 44/12 = 0.0021622 t CO2/Nm3 = 2.1622 kg (to 4 decimals).
    ef = D("0.038931") * D("15.3") / 1000 * D("0.99") * 44 / 12 * 1000
    assert ef.quantize(D("0.0001")) == D("2.1622")
    # Diesel: 42.652 GJ/t x 20.2 t C/TJ / 1000 x 0.98 x 44/12 = 3.0959 t CO2/t.
    assert (D("42.652") * D("20.2") / 1000 * D("0.98") * 44 / 12).quantize(D("0.0001")) == D(
        "3.0959")


def test_scope2_location_based_uses_henan(registry: Registry) -> None:
    # October 2026: newest Henan factor is data year 2023, 0.5897 [V-1]; 1000 kWh -> 589.7 kg.
    factors = FactorSet.resolve(registry, OCTOBER_2026, "henan", "equivalent")
    assert factors.grid is not None
    assert factors.grid.factor.id == "grid.henan.2023.mee-2025-47"
    assert not factors.grid.fell_back
    assert device_figures(activity(electricity_kwh="1000"), None,
                          factors)["co2_electricity_kg"] == D("589.7")


def test_scope2_falls_back_to_central_china_then_national(registry: Registry) -> None:
    # Without Henan rows: Central China 2023, 0.5271 -> 527.1 kg; without those, national
    # 2023, 0.5306 -> 530.6 kg. The choice records the regions tried.
    no_henan = Registry([f for f in registry.factors if f.subject != "henan"])
    factors = FactorSet.resolve(no_henan, OCTOBER_2026, "henan", "equivalent")
    assert factors.grid is not None
    assert factors.grid.tried == ("henan", "central_china")
    assert device_figures(activity(electricity_kwh="1000"), None,
                          factors)["co2_electricity_kg"] == D("527.1")
    national = Registry([f for f in no_henan.factors if f.subject != "central_china"])
    choice = national.grid("henan", OCTOBER_2026)
    assert choice is not None
    assert (choice.factor.value, choice.tried) == (D("0.5306"), ("henan", "central_china",
                                                                 "national"))


def test_grid_factor_follows_the_data_year(registry: Registry) -> None:
    # Domain rule: the period's own data year applies; without it, the region's most recent
    # earlier year, flagged stale (never Scope 2 = 0 for want of a factor).
    same_year = registry.grid("henan", date(2022, 6, 1))
    assert same_year is not None
    assert (same_year.factor.value, same_year.stale_year) == (D("0.6058"), None)
    later = registry.grid("henan", date(2025, 6, 1))
    assert later is not None
    assert (later.factor.value, later.stale_year, later.tried) == (D("0.5897"), 2023,
                                                                  ("henan",))
    # Before the first data year the region has: its earliest year, flagged stale.
    early = registry.grid("henan", date(2019, 1, 1))
    assert early is not None
    assert (early.factor.value, early.stale_year) == (D("0.6369"), 2021)


def test_an_older_regional_year_is_kept_over_the_next_region(registry: Registry) -> None:
    # Henan has only 2021 here; Central China has 2023: Henan 2021 is used, flagged stale.
    rows = [f for f in registry.factors if not (f.subject == "henan" and f.data_year != 2021)]
    choice = Registry(rows).grid("henan", date(2023, 6, 1))
    assert choice is not None
    assert (choice.factor.value, choice.stale_year, choice.tried) == (D("0.6369"), 2021,
                                                                     ("henan",))


def _grid(registry: Registry, day: date) -> Factor:
    choice = registry.grid("henan", day)
    assert choice is not None
    return choice.factor


def test_scopes_totals_and_intensity(registry: Registry) -> None:
    # Scope 1 = 1081.1 (gas) + 619.18 (diesel) = 1700.28; Scope 2 = 589.7;
    # total 2289.98 kg over 20 t input = 114.499 kg/t; SEC 1000 kWh / 20 t = 50 kWh/t.
    factors = FactorSet.resolve(registry, OCTOBER_2026, "henan", "equivalent")
    act = activity(electricity_kwh="1000", natural_gas_nm3="500", diesel_kg="200",
                   input_t="20", output_t="18")
    values = finish(device_figures(act, None, factors), act, "input")
    assert (values["co2_scope1_kg"], values["co2_scope2_kg"]) == (D("1700.28"), D("589.7"))
    assert values["co2_total_kg"] == D("2289.98")
    assert values["intensity_kg_per_t"] == D("114.499")
    assert values["sec_kwh_per_t"] == 50
    # Per output tonne instead: 2289.98 / 18 = 127.2211...
    by_output = finish(device_figures(act, None, factors), act, "output")
    assert by_output["intensity_kg_per_t"] == D("2289.98") / 18


def test_avoided_emissions_are_separate(registry: Registry) -> None:
    # 2 t of recycled metal x 1000 kg/t x 8.1 kg CO2/kg = 16,200 kg avoided; the inventory
    # total stays the 589.7 kg of electricity.
    factors = FactorSet.resolve(registry, OCTOBER_2026, "henan", "equivalent")
    act = activity(electricity_kwh="1000", output_t="2")
    values = finish(device_figures(act, "recycled_metals", factors), act, "input")
    assert values["avoided_co2_kg"] == 16200
    assert values["co2_total_kg"] == D("589.7")
    assert device_figures(act, "construction_waste", factors)["avoided_co2_kg"] == 0


def test_per_tonne_without_tonnes_is_none() -> None:
    assert per_tonne(D(5), D(0)) is None


def test_enpi_ratio_and_regression() -> None:
    # Baseline days (t, kWh): (10, 600), (20, 1100), (30, 1600): kWh = 100 + 50 t exactly,
    # so 100 kWh fixed (idling) and 50 kWh/t variable, R^2 = 1.
    baseline = fit_baseline([(D(10), D(600)), (D(20), D(1100)), (D(30), D(1600))])
    assert baseline is not None
    assert (baseline.fixed, baseline.variable, baseline.r_squared) == (D(100), D(50), D(1))
    # Reporting day: 25 t expects 100 + 50 x 25 = 1350 kWh; 1296 kWh used -> 0.96.
    assert enpi_index(D(1296), baseline.expected(D(25))) == D("0.96")
    # Simple ratio EnPI: 1296 kWh / 25 t = 51.84 kWh/t.
    assert per_tonne(D(1296), D(25)) == D("51.84")


def test_regression_needs_varying_tonnes() -> None:
    assert fit_baseline([(D(10), D(600)), (D(10), D(650))]) is None
    assert fit_baseline([(D(10), D(600))]) is None


def test_coke_without_a_process_factor_is_flagged_not_invented(registry: Registry) -> None:
    # The reference gives coke's kgce (0.9714) but no CO2 factor: 100 kg -> 97.14 kgce,
    # process CO2 stays 0 and the row says why.
    factors = FactorSet.resolve(registry, OCTOBER_2026, "henan", "equivalent")
    act = activity(coke_kg="100")
    figures = device_figures(act, "recycled_metals", factors)
    assert (figures["energy_kgce"], figures["co2_process_kg"]) == (D("97.14"), D(0))
    assert missing_factors(act, "recycled_metals", factors) == ["no_factor:co2:coke_kg"]
