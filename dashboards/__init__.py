"""Grafana dashboards as code: InfluxQL panels generated into committed JSON, and pushed.

`python -m dashboards build` (or `loopmeter dashboards build`) regenerates
`dashboards/generated/*.json`; Grafana provisions them from there, or `push` uploads them.
"""

from dashboards.build import (
    BUILDERS,
    GENERATED,
    dashboards,
    generate,
    render,
    stale,
    to_dict,
    write,
)

__all__ = [
    "BUILDERS", "GENERATED", "dashboards", "generate", "render", "stale", "to_dict", "write"]
