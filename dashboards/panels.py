"""Panel and variable factories shared by every Loopmeter dashboard.

Each factory takes InfluxQL statements (refIds A, B, ... in order) and the few choices a
dashboard makes; everything else (data source, state colours, legend, layout defaults)
is decided once, here.
"""

from __future__ import annotations

from collections.abc import Sequence
from string import ascii_uppercase
from typing import Protocol, Self, TypeVar

from grafana_foundation_sdk.builders import (
    bargauge,
    common,
    stat,
    statetimeline,
    table,
    timeseries,
)
from grafana_foundation_sdk.builders import dashboard as builders
from grafana_foundation_sdk.cog import builder, variants
from grafana_foundation_sdk.models import common as common_models
from grafana_foundation_sdk.models import dashboard as models

from contract.points import TELEMETRY
from dashboards.benchmarks import Benchmark
from dashboards.influxql import InfluxQLQuery, InfluxQLTarget, ResultFormat, source

TAG = "loopmeter"
DATASOURCE_UID = "loopmeter-influxdb"
DATASOURCE = models.DataSourceRef(type_val="influxdb", uid=DATASOURCE_UID)

# Grafana unit ids; custom ones use Grafana's `suffix:` notation.
KW = "kwatt"
KWH = "kwatth"
KG = "masskg"
PERCENT = "percentunit"
TONNES = "suffix: t"
TONNES_PER_HOUR = "suffix: t/h"
KWH_PER_TONNE = "suffix: kWh/t"
KGCE = "suffix: kgce"
KGCE_PER_TONNE = "suffix: kgce/t"
KG_CO2_PER_TONNE = "suffix: kg CO2/t"
NM3_PER_HOUR = "suffix: Nm³/h"
CELSIUS = "celsius"
SECONDS = "s"
MILLISECONDS = "ms"
COUNT = "short"
NONE = "none"

RAW_COUNTERS = (
    "Operating view: computed inside InfluxDB from the raw counters, so the energy-carbon "
    "engine's counter rules and meter hierarchy do not apply (a register rollover, a meter "
    "restart or a reading stepped back can show as a false spike or a missing amount). "
    "Figures of record: the engine's (Energy and carbon dashboard).")
"""Ends the description of every panel that reads counters from `telemetry` (issue 15)."""


def operating_view(description: str) -> str:
    """The description of a panel on raw counters, saying what it does not apply."""
    return f"{description} {RAW_COUNTERS}"


_STATE_COLOURS = {
    "running": "green", "melting": "green", "charging": "blue", "holding": "light-blue",
    "tapping": "purple", "idle": "yellow", "blocked": "orange", "fault": "red",
    "off": "text",
}


class _Panel(Protocol):
    """What every SDK panel builder offers; the factories configure it through this."""

    def title(self, title: str) -> Self: ...
    def description(self, description: str) -> Self: ...
    def datasource(self, datasource: models.DataSourceRef) -> Self: ...
    def with_target(self, target: builder.Builder[variants.Dataquery]) -> Self: ...
    def unit(self, unit: str) -> Self: ...
    def span(self, w: int) -> Self: ...
    def height(self, h: int) -> Self: ...
    def time_from(self, time_from: str) -> Self: ...


P = TypeVar("P", bound=_Panel)


def _configured(panel: P, title: str, description: str, unit: str, queries: Sequence[str],
                result_format: ResultFormat = "time_series", span: int = 12,
                height: int = 8, alias: str = "", time_from: str | None = None) -> P:
    """`time_from` gives the panel its own range, e.g. `now/d` for today so far."""
    panel = (panel.title(title).description(description).datasource(DATASOURCE).unit(unit)
             .span(span).height(height))
    for index, query in enumerate(queries):
        target = InfluxQLQuery(ascii_uppercase[index], query, result_format, alias)
        panel = panel.with_target(InfluxQLTarget(target))
    return panel.time_from(time_from) if time_from else panel


def dashboard(uid: str, title: str, description: str, default_range: str,
              variables: Sequence[builders.QueryVariable] = ()) -> builders.Dashboard:
    """An empty Loopmeter dashboard: tagged, linked to the others, refreshed every minute."""
    board = (builders.Dashboard(title).uid(uid).description(description).tags([TAG])
             .time(default_range, "now").timezone("browser").refresh("1m").readonly()
             .link(builders.DashboardLink("Loopmeter").type(models.DashboardLinkType.DASHBOARDS)
                   .tags([TAG]).as_dropdown(True).include_vars(True).keep_time(True)))
    for variable in variables:
        board = board.with_variable(variable)
    return board


def time_series(title: str, description: str, unit: str, *queries: str, alias: str = "",
                stacked: bool = False, bars: bool = False, span: int = 12,
                time_from: str | None = None) -> timeseries.Panel:
    """A time series; `bars` for per-period figures (daily kgce), `stacked` for shares.

    `alias` names each series, e.g. `$tag_line` or `$col`, as the InfluxDB data source does.
    """
    panel = _configured(timeseries.Panel(), title, description, unit, queries, span=span,
                        alias=alias, time_from=time_from)
    panel = panel.legend(common.VizLegendOptions().display_mode(
        common_models.LegendDisplayMode.TABLE).placement(
        common_models.LegendPlacement.BOTTOM).show_legend(True))
    if bars:
        panel = panel.draw_style(common_models.GraphDrawStyle.BARS).fill_opacity(80)
    if stacked:
        panel = panel.stacking(common.StackingConfig().mode(common_models.StackingMode.NORMAL))
    return panel


def big_number(title: str, description: str, unit: str, *queries: str, alias: str = "",
               time_from: str | None = None, span: int = 6) -> stat.Panel:
    """One big number per series (per line, per site), e.g. energy today."""
    panel = _configured(stat.Panel(), title, description, unit, queries, span=span, height=6,
                        alias=alias, time_from=time_from)
    return panel.graph_mode(common_models.BigValueGraphMode.NONE)


def bars(title: str, description: str, unit: str, *queries: str, alias: str = "",
         benchmarks: Sequence[tuple[Benchmark, str]] = (), below: str = "green",
         span: int = 12) -> bargauge.Panel:
    """One horizontal bar per series, coloured by benchmark thresholds when given."""
    panel = _configured(bargauge.Panel(), title, description, unit, queries, span=span,
                        alias=alias)
    panel = panel.orientation(common_models.VizOrientation.HORIZONTAL).min(0)
    if benchmarks:
        panel = panel.thresholds(benchmark_thresholds(benchmarks, below))
    return panel


def table_of(title: str, description: str, unit: str, *queries: str,
             span: int = 12) -> table.Panel:
    """Rows as the queries return them (InfluxQL table format)."""
    panel = _configured(table.Panel(), title, description, unit, queries, "table", span=span)
    return panel.show_header(True)


def states(title: str, description: str, query: str, alias: str = "",
           span: int = 24) -> statetimeline.Panel:
    """Equipment states over time, one row per device, coloured like the catalogue's states."""
    panel = _configured(statetimeline.Panel(), title, description, NONE, [query], span=span,
                        alias=alias)
    panel = panel.merge_values(True).show_value(common_models.VisibilityMode.AUTO)
    return panel.mappings([state_colours()])


def state_colours() -> models.ValueMap:
    return models.ValueMap({
        state: models.ValueMappingResult(text=state, color=colour, index=index)
        for index, (state, colour) in enumerate(_STATE_COLOURS.items())})


def benchmark_thresholds(benchmarks: Sequence[tuple[Benchmark, str]],
                         below: str) -> builders.ThresholdsConfig:
    """Colour `below` under the first benchmark, then each benchmark's colour from its value up."""
    steps = [models.Threshold(value=None, color=below)]
    steps += [models.Threshold(value=b.value, color=colour) for b, colour in benchmarks]
    return builders.ThresholdsConfig().mode(models.ThresholdsMode.ABSOLUTE).steps(steps)


def tag_variable(tag: str, label: str, *conditions: str,
                 multi: bool = True) -> builders.QueryVariable:
    """A variable listing the values of a telemetry tag, narrowed by earlier variables."""
    clause = f" WHERE {' AND '.join(conditions)}" if conditions else ""
    query = f'SHOW TAG VALUES {source(TELEMETRY)} WITH KEY = "{tag}"{clause}'
    return (builders.QueryVariable(tag).label(label).datasource(DATASOURCE).query(query)
            .refresh(models.VariableRefresh.ON_TIME_RANGE_CHANGED).multi(multi)
            .include_all(multi).sort(models.VariableSort.ALPHABETICAL_ASC))
