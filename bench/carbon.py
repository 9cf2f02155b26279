"""Carbon benchmark: close a 50-device plant-day from InfluxDB into the ledger.

    python -m bench.carbon [--devices 50] [--interval-s 60] [--repeat 2]

Starts its own InfluxDB (with Mosquitto and nginx, `loopmeter.services`) on free ports in a
temporary folder, writes one synthetic plant-day (every counter, power gauge and operating
state of each device, one row per `--interval-s`, from 10 minutes before the day to 10
minutes after it, and each device's birth before the day, with its declared maxima, as
ingest stores them), then times `close --period <day>` as the CLI runs it: one read of the
day, then 96 quarters, 24 hours and the day computed, written to `energy_carbon` and
appended to the ledger (121 records). The best of `--repeat` runs counts, each into a fresh ledger.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from collections.abc import Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from adapters.clock import SystemClock
from adapters.influx import InfluxQL, InfluxSettings, PointWriter
from carbon.periods import parse_period, with_sub_periods
from carbon.service import build
from carbon.settings import CarbonSettings
from contract.catalogue import CATALOGUE, EquipmentType, MetricKind
from contract.messages import AgentInfo, BirthMessage, MetricDeclaration
from contract.points import TELEMETRY, Point, to_points
from contract.topics import DeviceId, MessageKind, Topic
from loopmeter.services import LocalServices, ServicePorts, free_ports

SITE = "bench-site"
DAY = "2026-10-05"
ZONE = ZoneInfo("Asia/Shanghai")
# A plant's mix: production devices (counted) and line meters (redundant).
MIX = (EquipmentType.CRUSHER_STATION, EquipmentType.SMELTER_ALUMINIUM,
       EquipmentType.SMELTER_LEAD, EquipmentType.DISMANTLING_BATTERY,
       EquipmentType.ELECTRICITY_METER)


def plant_points(devices: int, interval_s: int) -> list[Point]:
    """Every counter rising at a steady rate and every kW gauge constant, per device."""
    day = parse_period(DAY, ZONE)
    step = interval_s * 1000
    times = range(day.start_ms - 600_000, day.end_ms + 600_000 + 1, step)
    points = []
    for index in range(devices):
        kind = MIX[index % len(MIX)]
        line, device = f"line-{index // len(MIX)}", f"{kind.value}-{index}"
        tags = (("device", device), ("device_type", kind.value), ("line", line),
                ("site", SITE))
        counters = [m.name for m in CATALOGUE[kind].metrics if m.kind is MetricKind.COUNTER]
        for n, ts in enumerate(times):
            fields: dict[str, float | int | str | bool] = {
                name: 1000.0 + (k + 1) * 0.01 * n * interval_s for k, name in
                enumerate(counters)}
            if any(m.name == "power_kw" for m in CATALOGUE[kind].metrics):
                fields["power_kw"] = 36.0
            if any(m.name == "state" for m in CATALOGUE[kind].metrics):
                fields["state"] = "running" if "running" in _states(kind) else "melting"
            points.append(Point(TELEMETRY, tags, fields, ts))
        points += to_points(Topic(DeviceId(SITE, line, device), MessageKind.BIRTH),
                            _birth(kind, times[0] - 60_000), times[0])
    return points


def _states(kind: EquipmentType) -> tuple[str, ...]:
    return next((m.states for m in CATALOGUE[kind].metrics if m.name == "state"), ())


def _birth(kind: EquipmentType, ts: int) -> BirthMessage:
    """What an agent declares on connect: every catalogue metric with its range."""
    return BirthMessage(v=1, ts=ts, session=1, device_type=kind, next_seq=0,
                        agent=AgentInfo(name="bench", version="1"),
                        metrics=[MetricDeclaration.of(m, 60) for m in CATALOGUE[kind].metrics])


def measure(services: LocalServices, root: Path, args: argparse.Namespace) -> dict[str, Any]:
    influx = InfluxSettings(url=services.influx_url, database="bench_carbon", timeout_s=120.0)
    ql = InfluxQL(influx)
    ql.create_database(influx.database)
    ql.close()
    points = plant_points(args.devices, args.interval_s)
    started = time.perf_counter()
    with PointWriter(influx) as writer:
        for first in range(0, len(points), 5000):
            writer.write(points[first:first + 5000])
    written_s = time.perf_counter() - started
    runs = []
    for attempt in range(args.repeat):
        settings = CarbonSettings(influx=influx, ledger_path=root / f"ledger-{attempt}.sqlite",
                                  keys_dir=root / "keys")
        period = parse_period(DAY, settings.zone())
        with build(settings, SystemClock()) as parts:
            started = time.perf_counter()
            closed = parts.engine.close_all(SITE, with_sub_periods(period, settings.zone()))
            runs.append(time.perf_counter() - started)
        assert len(closed) == 121 and all(c.outcome == "closed" for c in closed)
    day_limits = closed[-1].record.data()["method"]["limits"]
    assert day_limits and all(used[-1]["source"] == "birth" for used in day_limits.values()), \
        "every bounded register is judged by its device's birth"
    site = next(r for r in closed[-1].computation.rows if r.level == "site")
    figures = {"devices": args.devices, "interval_s": args.interval_s, "points": len(points),
               "write_s": round(written_s, 2), "close_day_s": round(min(runs), 2),
               "runs_s": [round(r, 2) for r in runs], "records": len(closed),
               "site_kwh": str(site.values["electricity_kwh"] or Decimal(0))}
    print(f"carbon close of a {args.devices}-device plant-day ({len(points)} rows, one per "
          f"{args.interval_s} s): {figures['close_day_s']} s for 121 records "
          f"(runs {figures['runs_s']}); writing the day took {figures['write_s']} s")
    return figures


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.carbon", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--devices", type=int, default=50)
    parser.add_argument("--interval-s", type=int, default=60)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bench-carbon-") as folder:
        root = Path(folder)
        services = LocalServices(root / "services", ServicePorts(*free_ports(3)))
        services.up()
        try:
            figures = measure(services, root, args)
        finally:
            services.down()
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2, sort_keys=True) + "\n")


if __name__ == "__main__":
    main()
