"""Regulator view: totals and intensity per site and per recycling domain of the province."""

from __future__ import annotations

from grafana_foundation_sdk.models.dashboard import Dashboard

from dashboards import panels
from dashboards.influxql import SITE, carbon, differs

UID = "loopmeter-regulator"
TOTALS = ('sum("energy_kgce") AS "energy kgce", sum("co2_scope1_kg") AS "scope 1 kg CO2", '
          'sum("co2_scope2_kg") AS "scope 2 kg CO2", sum("co2_total_kg") AS "total kg CO2", '
          'sum("input_t") AS "input t", sum("output_t") AS "output t", '
          'sum("energy_kgce") / sum("input_t") AS "kgce per t input", '
          'sum("co2_total_kg") / sum("input_t") AS "kg CO2 per t input"')


FIT = differs("verdict", "not_fit")  # a field: the engine's quality verdict of the period
VERDICT_COUNTS = ('sum("verdict_complete") AS "complete", sum("verdict_estimated") AS '
                  '"estimated", sum("verdict_not_fit") AS "not fit"')


def _by_domain(select: str) -> str:
    # Line-level figures: a multi-domain site is tagged `mixed` at site level only.
    return f'SELECT {select} {carbon("line", "1d", SITE)} GROUP BY "domain"'


def build() -> Dashboard:
    return (
        panels.dashboard(UID, "Loopmeter: regulator view",
                         "Energy and CO2 totals and intensities per site and per recycling "
                         "domain, from the auditable daily figures.", "now-30d",
                         [panels.tag_variable("site", "Site")])
        .with_panel(panels.table_of(
            "Totals per site", "Daily figures summed over the time range.", panels.NONE,
            f'SELECT {TOTALS} {carbon("site", "1d", SITE)} GROUP BY "site", "domain"', span=24))
        .with_panel(panels.table_of(
            "Totals per recycling domain", "Construction waste, recycled metals, waste "
            "batteries, waste appliances: line figures summed by domain.", panels.NONE,
            _by_domain(TOTALS), span=24))
        .with_panel(panels.table_of(
            "Roll-up by recycling domain and region", "Every site (the site filter does not "
            "apply): daily line figures of the periods fit for reporting, summed per domain "
            "and city (the site profile's `region`). "
            "Not-fit site-days are counted below and left out here; the gateway's "
            "/v1/regulator/rollup names them.", panels.NONE,
            f'SELECT {TOTALS} {carbon("line", "1d", FIT)} GROUP BY "domain", "region"',
            span=24))
        .with_panel(panels.table_of(
            "Site-days by quality verdict, per domain and region", "Every site: how many "
            "closed days were complete, estimated within limits, or not fit for reporting.",
            panels.NONE,
            f'SELECT {VERDICT_COUNTS} {carbon("site", "1d")} GROUP BY "domain", "region"'))
        .with_panel(panels.table_of(
            "Latest verdict per site", "Every site's newest closed day: quality verdict and "
            "data coverage, with its domain and region.", panels.NONE,
            'SELECT last("verdict") AS "verdict", last("coverage") AS "coverage" '
            f'{carbon("site", "1d")} GROUP BY "site", "domain", "region"'))
        .with_panel(panels.time_series(
            "CO2 per day by domain", "Scope 1 and 2 CO2 per recycling domain.", panels.KG,
            f'SELECT sum("co2_total_kg") {carbon("line", "1d", SITE)} '
            'GROUP BY time(1d), "domain"', alias="$tag_domain", bars=True, stacked=True))
        .with_panel(panels.bars(
            "Carbon intensity by domain", "Scope 1 and 2 CO2 per tonne fed in.",
            panels.KG_CO2_PER_TONNE, _by_domain('sum("co2_total_kg") / sum("input_t")'),
            alias="$tag_domain"))
        .with_panel(panels.bars(
            "Energy intensity by domain", "kgce per tonne fed in.", panels.KGCE_PER_TONNE,
            _by_domain('sum("energy_kgce") / sum("input_t")'), alias="$tag_domain"))
        .with_panel(panels.bars(
            "Avoided CO2 by domain (reported separately)", "Recycled versus primary "
            "production; never netted against the inventory.", panels.KG,
            _by_domain('sum("avoided_co2_kg")'), alias="$tag_domain"))
        .with_panel(panels.bars(
            "Data coverage by site", "Worst daily coverage per site; below 1 means some "
            "periods were estimated.", panels.PERCENT,
            f'SELECT min("coverage") {carbon("site", "1d", SITE)} GROUP BY "site"',
            alias="$tag_site"))
        .build()
    )
