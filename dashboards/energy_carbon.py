"""Energy and carbon: daily and monthly kgce, CO2 by scope and source, intensity, coverage."""

from __future__ import annotations

from grafana_foundation_sdk.builders import dashboard as builders
from grafana_foundation_sdk.models.dashboard import Dashboard

from dashboards import benchmarks, panels
from dashboards.influxql import LINE_ALIAS, SITE, carbon, equals

UID = "loopmeter-energy-carbon"
SITE_ALIAS = "$tag_site: $col"


def _site_daily(select: str) -> str:
    return f'SELECT {select} {carbon("site", "1d", SITE)} GROUP BY "site"'


def _per_line(select: str, *conditions: str) -> str:
    return f'SELECT {select} {carbon("line", "1d", SITE, *conditions)} GROUP BY "site", "line"'


def _intensity_panels(board: builders.Dashboard) -> builders.Dashboard:
    metals = ((benchmarks.LEAD_NEW, "yellow"), (benchmarks.LEAD_EXISTING, "orange"),
              (benchmarks.ALUMINIUM_REMELTING, "red"))
    crushing = ((benchmarks.CRUSHING_LOW, "green"), (benchmarks.CRUSHING_HIGH, "orange"))
    return (
        board.with_panel(panels.bars(
            "Recycled metals: energy per tonne of product",
            "kgce per tonne of metal produced (output_t), per line. Lead and aluminium "
            "benchmarks differ: compare each line with its own process.\n\n"
            + benchmarks.describe(benchmarks.METALS), panels.KGCE_PER_TONNE,
            _per_line('sum("energy_kgce") / sum("output_t")',
                      equals("domain", "recycled_metals")),
            alias=LINE_ALIAS, benchmarks=metals))
        .with_panel(panels.bars(
            "Construction waste: electricity per tonne crushed",
            "kWh per tonne fed in, per line; blue is below the quoted range (check the "
            "meters).\n\n" + benchmarks.describe(benchmarks.CRUSHING), panels.KWH_PER_TONNE,
            _per_line('sum("electricity_kwh") / sum("input_t")',
                      equals("domain", "construction_waste")),
            alias=LINE_ALIAS, benchmarks=crushing, below="blue"))
        .with_panel(panels.bars(
            "Carbon intensity per line", "Scope 1 and 2 CO2 per tonne fed in.",
            panels.KG_CO2_PER_TONNE, _per_line('sum("co2_total_kg") / sum("input_t")'),
            alias=LINE_ALIAS))
    )


def build() -> Dashboard:
    board = (
        panels.dashboard(UID, "Loopmeter: energy and carbon",
                         "Comprehensive energy (kgce) and CO2 by scope and source, per site and "
                         "line, with intensities against published benchmarks.", "now-30d",
                         [panels.tag_variable("site", "Site")])
        .with_panel(panels.time_series("Energy per day", "Comprehensive energy per site and day.",
                                       panels.KGCE, _site_daily('"energy_kgce"'),
                                       alias="$tag_site", bars=True))
        .with_panel(panels.time_series(
            "Energy per month", "Comprehensive energy per site and calendar month, over the "
            "last year.", panels.KGCE,
            f'SELECT "energy_kgce" {carbon("site", "1mo", SITE)} GROUP BY "site"',
            alias="$tag_site", bars=True, time_from="1y"))
        .with_panel(panels.time_series(
            "CO2 per day by scope", "Scope 1 (combustion and process) and scope 2 "
            "(purchased electricity and heat).", panels.KG,
            _site_daily('"co2_scope1_kg" AS "scope 1", "co2_scope2_kg" AS "scope 2"'),
            alias=SITE_ALIAS, bars=True, stacked=True))
        .with_panel(panels.time_series(
            "CO2 per day by source", "Fuel combustion, process (reductant), purchased "
            "electricity and purchased heat.", panels.KG,
            _site_daily('"co2_combustion_kg" AS "combustion", "co2_process_kg" AS "process", '
                        '"co2_electricity_kg" AS "electricity", "co2_heat_kg" AS "heat"'),
            alias=SITE_ALIAS, bars=True, stacked=True))
    )
    return (
        _intensity_panels(board)
        .with_panel(panels.table_of(
            "Coverage of the figures", "Worst day per line: the share of each period "
            "covered by readings, and the share filled by documented substitution.",
            panels.PERCENT,
            _per_line('min("coverage") AS "coverage", max("substituted_share") AS "substituted"')))
        .with_panel(panels.bars(
            "Avoided CO2 (reported separately)", "Recycled versus primary production; never "
            "netted against the scope 1 and 2 inventory.", panels.KG,
            f'SELECT sum("avoided_co2_kg") {carbon("site", "1d", SITE)} GROUP BY "site"',
            alias="$tag_site"))
        .build()
    )
