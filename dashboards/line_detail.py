"""Line detail: one line's devices, machine by machine."""

from __future__ import annotations

from grafana_foundation_sdk.builders.dashboard import QueryVariable
from grafana_foundation_sdk.models.dashboard import Dashboard

from contract.points import AGENT_STATUS, DEVICE_EVENT, TELEMETRY
from dashboards import panels
from dashboards.influxql import INTERVAL, carbon, matches, source, where

UID = "loopmeter-line-detail"
SELECTED = (matches("site"), matches("line"), matches("device"))
DEVICE_ALIAS = "$tag_device"


def _per_device(select: str, measurement: str = TELEMETRY) -> str:
    return (f'SELECT {select} {source(measurement)} {where(*SELECTED)} '
            f'GROUP BY time({INTERVAL}), "device"')


def _variables() -> list[QueryVariable]:
    return [
        panels.tag_variable("site", "Site", multi=False),
        panels.tag_variable("line", "Line", matches("site"), multi=False),
        panels.tag_variable("device", "Device", matches("site"), matches("line")),
    ]


def build() -> Dashboard:
    return (
        panels.dashboard(UID, "Loopmeter: line detail",
                         "States, power, throughput, energy and outputs per device of one line.",
                         "now-6h", _variables())
        .with_panel(panels.states("States", "Operating state per device.",
                                  _per_device('last("state")'), alias=DEVICE_ALIAS))
        .with_panel(panels.time_series("Power", "Mean active power per device.", panels.KW,
                                       _per_device('mean("power_kw")'), alias=DEVICE_ALIAS))
        .with_panel(panels.time_series(
            "Throughput", panels.operating_view(
                "Mass fed in per hour, from the input_t counter."),
            panels.TONNES_PER_HOUR, _per_device('non_negative_derivative(max("input_t"), 1h)'),
            alias=DEVICE_ALIAS))
        .with_panel(panels.time_series(
            "Electricity per 15 minutes", "Counter differences per device, as the "
            "energy-carbon engine computed them.", panels.KWH,
            f'SELECT "electricity_kwh" {carbon("device", "15m", *SELECTED)} GROUP BY "device"',
            alias=DEVICE_ALIAS, bars=True))
        .with_panel(panels.time_series("Gas flow", "Natural gas flow to the burners (furnaces).",
                                       panels.NM3_PER_HOUR, _per_device('mean("gas_flow_nm3h")'),
                                       alias=DEVICE_ALIAS))
        .with_panel(panels.time_series("Melt temperature", "Furnace melt temperature.",
                                       panels.CELSIUS, _per_device('mean("melt_temp_c")'),
                                       alias=DEVICE_ALIAS))
        .with_panel(panels.bars(
            "Tonnes in and out in the time range", "Tonnes fed in and produced per device, as "
            "the energy-carbon engine computed them (15-minute periods: counter rules "
            "applied; residues are not products).", panels.TONNES,
            f'SELECT sum("input_t") AS "in", sum("output_t") AS "out" '
            f'{carbon("device", "15m", *SELECTED)} GROUP BY "device"',
            alias=f"{DEVICE_ALIAS} $col"))
        .with_panel(panels.bars(
            "Output fractions in the time range", panels.operating_view(
                "Tonnes per output fraction and residue, from the out_*_t counters "
                "(max - min in the range)."), panels.TONNES,
            f'SELECT spread(/^out_.+_t$/) {source(TELEMETRY)} {where(*SELECTED)} '
            'GROUP BY "device"',
            alias=DEVICE_ALIAS))
        .with_panel(panels.bars(
            "Specific electricity in the time range", "Electricity per tonne fed in, per device.",
            panels.KWH_PER_TONNE,
            f'SELECT sum("electricity_kwh") / sum("input_t") '
            f'{carbon("device", "15m", *SELECTED)} GROUP BY "device"', alias=DEVICE_ALIAS))
        .with_panel(panels.time_series(
            "Agent queue", "Samples waiting in the edge agent's store-and-forward queue.",
            panels.COUNT, _per_device('max("queue_depth")', AGENT_STATUS), alias=DEVICE_ALIAS))
        .with_panel(panels.table_of(
            "Device events", "Events of the selected devices, newest first.", panels.NONE,
            f'SELECT "device", "event", "metric", "detail" {source(DEVICE_EVENT)} '
            f"{where(*SELECTED)} ORDER BY time DESC LIMIT 100"))
        .build()
    )
