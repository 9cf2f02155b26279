"""Plant overview: what every line is doing now and has done today."""

from __future__ import annotations

from grafana_foundation_sdk.models.dashboard import Dashboard

from contract.points import DEVICE_EVENT, TELEMETRY
from dashboards import panels
from dashboards.influxql import (
    INTERVAL,
    LINE_ALIAS,
    SITE,
    carbon,
    differs,
    per_line_sum,
    source,
    where,
)

UID = "loopmeter-plant-overview"
TODAY = "now/d"


def _today_per_line(expression: str) -> str:
    return f'SELECT {expression} {carbon("line", "15m", SITE)} GROUP BY "site", "line"'


def build() -> Dashboard:
    return (
        panels.dashboard(UID, "Loopmeter: plant overview",
                         "Throughput, power, energy, carbon, states and alarms of every line.",
                         "now-12h", [panels.tag_variable("site", "Site")])
        .with_panel(panels.time_series(
            "Throughput per line", panels.operating_view(
                "Mass fed in per hour, from the input_t counters (belt scales, weighing "
                "records), summed over the line's devices."),
            panels.TONNES_PER_HOUR,
            per_line_sum('non_negative_derivative(max("input_t"), 1h) AS "v"', SITE),
            alias=LINE_ALIAS))
        .with_panel(panels.time_series(
            "Power per line", "Mean active power of the line's equipment. Electricity meters "
            "are left out: they measure the same machines (plus auxiliaries), and adding them "
            "would count that power twice; see Line detail for the meters.", panels.KW,
            per_line_sum('mean("power_kw") AS "v"', SITE,
                         differs("device_type", "electricity_meter")),
            alias=LINE_ALIAS))
        .with_panel(panels.big_number(
            "Electricity today", "Electricity since midnight, from counter differences "
            "(energy-carbon engine, 15-minute periods).", panels.KWH,
            _today_per_line('sum("electricity_kwh")'), alias=LINE_ALIAS, time_from=TODAY))
        .with_panel(panels.big_number(
            "Specific electricity today", "Electricity per tonne fed in since midnight.",
            panels.KWH_PER_TONNE, _today_per_line('sum("electricity_kwh") / sum("input_t")'),
            alias=LINE_ALIAS, time_from=TODAY))
        .with_panel(panels.big_number(
            "Energy today", "Total energy since midnight in kilograms of coal equivalent "
            "(electricity, gas, diesel, coke).", panels.KGCE,
            _today_per_line('sum("energy_kgce")'), alias=LINE_ALIAS, time_from=TODAY))
        .with_panel(panels.big_number(
            "CO2 today", "Scope 1 and 2 emissions since midnight.", panels.KG,
            _today_per_line('sum("co2_total_kg")'), alias=LINE_ALIAS, time_from=TODAY))
        .with_panel(panels.states(
            "Equipment states", "Operating state of every machine, last value per interval.",
            f'SELECT last("state") {source(TELEMETRY)} {where(SITE)} '
            f'GROUP BY time({INTERVAL}), "site", "line", "device"',
            alias="$tag_line / $tag_device"))
        .with_panel(panels.table_of(
            "Alarms and device events", "The latest events the devices reported "
            "(alarms, faults, counter resets, meter replacements).", panels.NONE,
            'SELECT "site", "line", "device", "event", "metric", "detail" '
            f'{source(DEVICE_EVENT)} '
            f"{where(SITE)} ORDER BY time DESC LIMIT 100", span=24))
        .build()
    )
