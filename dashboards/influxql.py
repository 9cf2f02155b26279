"""A typed InfluxQL target for the Grafana Foundation SDK, which ships no InfluxDB query type.

Every query is raw InfluxQL, so the dashboards read InfluxDB 1.8+, 2.7+ (through a DBRP
mapping) and 3.x alike. Grafana replaces `$timeFilter`, `$__interval` and `$variable`
before sending a query; the helpers below build those fragments so that no dashboard
spells them by hand.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from grafana_foundation_sdk.cog import builder, variants

from contract.points import ENERGY_CARBON, TELEMETRY

ResultFormat = Literal["time_series", "table"]
TIME_FILTER = "$timeFilter"
INTERVAL = "$__interval"


@dataclass(frozen=True, slots=True)
class InfluxQLQuery(variants.Dataquery):
    """One raw InfluxQL statement of a panel, as the InfluxDB data source stores it."""

    ref_id: str
    query: str
    result_format: ResultFormat = "time_series"
    alias: str = ""

    def to_json(self) -> dict[str, object]:
        target: dict[str, object] = {"query": self.query, "rawQuery": True,
                                     "refId": self.ref_id, "resultFormat": self.result_format}
        if self.alias:
            target["alias"] = self.alias
        return target


class InfluxQLTarget(builder.Builder[variants.Dataquery]):
    """Adapts an `InfluxQLQuery` to the SDK's `with_target`."""

    def __init__(self, query: InfluxQLQuery) -> None:
        self._query = query

    def build(self) -> variants.Dataquery:
        return self._query


def matches(tag: str) -> str:
    """A condition selecting the values of the dashboard variable named like `tag`."""
    return f'"{tag}" =~ /^${tag}$/'


SITE = matches("site")  # the site variable every dashboard has
LINE_ALIAS = "$tag_site / $tag_line"  # the legend of a series per line


def equals(tag: str, value: str) -> str:
    """A condition on a fixed tag value chosen by the dashboard author, never by a user."""
    return f"\"{tag}\" = '{value}'"


def differs(tag: str, value: str) -> str:
    """The negation of `equals`."""
    return f"\"{tag}\" != '{value}'"


def source(measurement: str) -> str:
    """The FROM clause of one measurement; take its name from `contract.points`."""
    return f'FROM "{measurement}"'


def where(*conditions: str) -> str:
    """A WHERE clause that always includes the dashboard's time range."""
    return "WHERE " + " AND ".join((*conditions, TIME_FILTER))


def carbon(level: str, period: str, *conditions: str) -> str:
    """FROM and WHERE for the energy-carbon engine's figures at one level and period."""
    return (f'{source(ENERGY_CARBON)} '
            f'{where(equals("level", level), equals("period", period), *conditions)}')


def per_line_sum(inner_select: str, *conditions: str) -> str:
    """Sum a per-device series over each line: `inner_select` must alias its value `v`.

    InfluxQL cannot aggregate across series in one step, so the device series are built
    in a subquery, bucketed by the dashboard interval, and summed per line outside it.
    """
    grouping = f"GROUP BY time({INTERVAL})"
    inner = (f'SELECT {inner_select} {source(TELEMETRY)} {where(*conditions)} '
             f'{grouping}, "site", "line", "device"')
    return f'SELECT sum("v") FROM ({inner}) {where()} {grouping}, "site", "line"'
