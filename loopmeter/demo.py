"""`loopmeter demo`: one plant-day through the whole chain, on this machine.

Local Mosquitto and InfluxDB start (or are reused); a simulated plant runs yesterday's
day in about a minute, one edge agent per device publishing over MQTT; the ingest service
writes what arrives to InfluxDB; the energy-carbon engine closes the day (quarters, hours,
the day) into the audit ledger; the figures are printed beside the simulator's ground truth.
The services keep running afterwards so that the gateway and Grafana can look at the data.
"""

from __future__ import annotations

import dataclasses
import shutil
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

from rich import box
from rich.console import Console
from rich.table import Table

from adapters.clock import SystemClock
from adapters.influx import InfluxQL, InfluxSettings, Series
from adapters.mqtt import MqttSettings
from carbon.document import Reports
from carbon.figures import Row
from carbon.ledger import Ledger, SQLiteStore
from carbon.periods import parse_period, with_sub_periods
from carbon.registry import load_registry
from carbon.service import build
from carbon.settings import CarbonSettings
from contract.points import TELEMETRY
from ingest_service.service import IngestService
from ingest_service.settings import IngestSettings
from loopmeter.demo_chart import chart_svg
from loopmeter.services import (
    PORTS_FILE,
    LocalServices,
    ServicePorts,
    chosen_ports,
    free_ports,
    port_open,
)
from loopmeter.units import significant
from simulators.clock import SimulatedClock
from simulators.faults import FaultRecord
from simulators.plant import Plant
from simulators.province import province, write_profiles
from simulators.runs import RunSpec, run_agents
from simulators.scenario import Scenario, load_scenario
from simulators.truth import TruthRow, TruthWriter

DAY_MS = 86_400_000
# Readings after midnight close the day's last gap; the day must end this long before now,
# because devices may not send samples from the future.
AFTER_DAY_MS = 10 * 60_000
METERS = frozenset({"electricity_meter", "gas_meter", "belt_scale"})  # they measure others
TRUTH_COLUMNS = ("electricity_kwh", "diesel_kg", "natural_gas_nm3", "input_t", "output_t")
QUIET_S = 2.0  # the ingest service is done when nothing new arrived for this long


@dataclass(frozen=True, slots=True)
class DemoOptions:
    scenario: str = "construction-waste"
    speed: float = 1440.0
    state_dir: Path = Path("var")
    database: str = "loopmeter"
    seed: int = 1
    batch_s: float = 300.0
    mqtt_port: int | None = None  # None: the saved port, else the default if free
    influx_port: int | None = None
    influx_backend_port: int | None = None


@dataclass(frozen=True, slots=True)
class DeviceData:
    """What reached InfluxDB from one device during the run."""

    line: str
    device: str
    device_type: str
    samples: int
    first_ms: int
    last_ms: int


@dataclass(frozen=True, slots=True)
class DemoResult:
    site: str
    day: str
    utc_offset_h: float
    devices: list[DeviceData]
    lines: Mapping[str, Mapping[str, Decimal | None]]
    truth: Mapping[str, Mapping[str, Decimal]]
    ledger_ok: bool
    chart: Path
    ledger: Path
    report: Path


def demo_day(now_ms: int, utc_offset_h: float) -> datetime:
    """Midnight (site time) starting the last full day that ended `AFTER_DAY_MS` before now."""
    zone = timezone(timedelta(hours=utc_offset_h))
    latest_end = datetime.fromtimestamp((now_ms - AFTER_DAY_MS) / 1000, zone)
    today = latest_end.replace(hour=0, minute=0, second=0, microsecond=0)
    return today - timedelta(days=1)


def scenario_for_day(scenario: Scenario, midnight: datetime) -> Scenario:
    return scenario.overridden(start=midnight.isoformat())


def truth_by_line(rows: Iterable[TruthRow], day_end_ms: int) -> dict[str, dict[str, Decimal]]:
    """True quantities per line over the day; meters are left out, they measure devices."""
    lines: dict[str, dict[str, Decimal]] = defaultdict(lambda: defaultdict(Decimal))
    for row in rows:
        if row.device_type not in METERS and row.end_ms <= day_end_ms:
            for column in TRUTH_COLUMNS:
                lines[row.line][column] += Decimal(str(getattr(row, column)))
    return {line: dict(values) for line, values in lines.items()}


def relative_error(measured: Decimal | None, true: Decimal) -> Decimal | None:
    if measured is None or true == 0:
        return None
    return abs(measured - true) / true


def run_demo(options: DemoOptions, console: Console,
             services: LocalServices | None = None) -> DemoResult:
    """Run the demo on `services`, or on those of `state_dir`, started if need be."""
    base = load_scenario(options.scenario)  # a misspelt name fails before anything starts
    work = options.state_dir / "demo"
    shutil.rmtree(work, ignore_errors=True)  # a fresh agent queue, ingest state and ledger
    work.mkdir(parents=True)
    services = services or _services(options, console)
    midnight = demo_day(SystemClock().now_ms(), base.utc_offset_h)
    scenario = scenario_for_day(base, midnight)
    day_end = scenario.start_ms + DAY_MS
    influx = InfluxSettings(url=services.influx_url, database=options.database)
    _fresh_database(influx)
    plant = Plant.from_scenario(scenario, options.seed)
    console.rule(f"[bold]{scenario.site}[/bold]: {len(plant.devices)} devices, plant-day "
                 f"{midnight.date()} at ×{options.speed:g}")
    with IngestService(_ingest_settings(services, influx, work, scenario.site)) as ingest:
        truth_writer = KeepingTruthWriter(work / "ground-truth.csv")
        spec = RunSpec(plant, MqttSettings(url=services.mqtt_url),
                       SimulatedClock(scenario.start_ms, options.speed), day_end + AFTER_DAY_MS,
                       options.batch_s, truth_writer)
        run = run_agents(spec, work / "agents")
        truth_writer.write(plant.truth.drain(), plant.fault_log.drain())
        _wait_quiet(ingest, console)
        console.print(f"agents delivered {run.messages:,} messages; ingest wrote "
                      f"{ingest.stats.points_written:,} points, dead letters "
                      f"{sum(ingest.stats.dead_letters.values()):,}")
    ledger = work / "ledger.sqlite"
    rows, ledger_ok, report = _close_day(scenario.site, midnight.date().isoformat(), influx,
                                         ledger, console)
    lines = {r.line: r.values for r in rows if r.level == "line" and r.line}
    truth = truth_by_line(truth_writer.rows, day_end)
    devices = stored_devices(influx, scenario.site)
    result = DemoResult(scenario.site, midnight.date().isoformat(), scenario.utc_offset_h,
                        devices, lines, truth, ledger_ok, work / "chart.svg", ledger, report)
    write_chart(result, result.chart)
    return result


def stored_devices(influx: InfluxSettings, site: str) -> list[DeviceData]:
    """Samples per device in InfluxDB (the count of its most frequent field), first and last."""
    by_device = "WHERE site = $site GROUP BY line, device, device_type"
    with InfluxQL(influx) as ql:
        counts = ql.query(f"SELECT COUNT(*) FROM {TELEMETRY} {by_device}", {"site": site})
        first, last = ({_key(s): s.records()[0]["time"] for s in ql.query(
            f"SELECT * FROM {TELEMETRY} {by_device} ORDER BY time {order} LIMIT 1",
            {"site": site})} for order in ("ASC", "DESC"))
    devices = [DeviceData(*_key(s), max(v for k, v in s.records()[0].items()
                                        if k.startswith("count_") and v),
                          first[_key(s)], last[_key(s)]) for s in counts]
    return sorted(devices, key=lambda d: (d.line, d.device))


def _key(series: Series) -> tuple[str, str, str]:
    return series.tags["line"], series.tags["device"], series.tags["device_type"]


def _fresh_database(influx: InfluxSettings) -> None:
    """Every run writes into an empty database, so that every run shows the same figures."""
    with InfluxQL(influx) as ql:
        ql.drop_database(influx.database)
        ql.create_database(influx.database)


def _services(options: DemoOptions, console: Console) -> LocalServices:
    state_dir = options.state_dir / "services"
    services = LocalServices(state_dir, _ports(options, state_dir, console))
    with console.status("starting Mosquitto, InfluxDB and nginx on loopback"):
        services.up()
    console.print(f"services: MQTT {services.mqtt_url}, InfluxDB {services.influx_url}")
    return services


def _ports(options: DemoOptions, state_dir: Path, console: Console) -> ServicePorts:
    """The ports asked for, else those saved by the last `up`, else the defaults if free.

    If the defaults are taken by other programs, free ports are chosen; `services up` saves
    them, and every other command's defaults follow (docs/cli.md).
    """
    asked = (options.mqtt_port, options.influx_port, options.influx_backend_port)
    ports = chosen_ports(state_dir, *asked)
    if any(asked) or ServicePorts.load(state_dir / PORTS_FILE) is not None:
        return ports
    taken = [port for port in dataclasses.astuple(ports) if port_open(port)]
    if not taken:
        return ports
    free = ServicePorts(*free_ports(3))
    console.print(f"ports {', '.join(map(str, taken))} are taken by other programs; using "
                  f"MQTT {free.mqtt}, InfluxDB {free.influx} (and {free.influx_backend} "
                  f"behind it), saved in {state_dir / PORTS_FILE}")
    return free


def _ingest_settings(services: LocalServices, influx: InfluxSettings, work: Path,
                     site: str) -> IngestSettings:
    """Only the demo's site: what other runs left retained on the broker stays out."""
    return IngestSettings(mqtt=MqttSettings(url=services.mqtt_url), influx=influx, site=site,
                          group="loopmeter-demo", state_dir=work / "ingest", http_port=None,
                          subscription="exclusive", session_expiry_s=0, quality_interval_s=5.0)


def _wait_quiet(ingest: IngestService, console: Console, timeout_s: float = 120.0) -> None:
    with console.status("ingest: writing the last batches"):
        if not ingest.wait_idle(QUIET_S, timeout_s):
            raise RuntimeError(f"ingest did not settle within {timeout_s:.0f} s: "
                               f"{ingest.failure or 'messages still arriving'}")


def _demo_profile(folder: Path, site: str) -> Path:
    """A fictitious reporting entity for the demo's site (the simulated province's first
    plant), unless the folder already has the operator's own."""
    if not (folder / f"{site}.yaml").is_file():
        write_profiles([province(1)[0].model_copy(update={"site": site})], folder)
    return folder


def _close_day(site: str, day_label: str, influx: InfluxSettings, ledger: Path,
               console: Console) -> tuple[list[Row], bool, Path]:
    settings = CarbonSettings(influx=influx, ledger_path=ledger,
                              profiles_path=_demo_profile(ledger.parent / "sites", site))
    day = parse_period(day_label, settings.zone())
    periods = with_sub_periods(day, settings.zone())
    with build(settings, SystemClock()) as parts:
        with console.status(f"energy-carbon engine: closing {len(periods)} periods of "
                            f"{day_label}"):
            closed = parts.engine.close_all(site, periods)
        verified = parts.ledger.verify()
    report = ledger.parent / f"report-{site}-{day_label}.html"
    reports = Reports(Ledger(SQLiteStore(ledger)), load_registry(settings.factors_path),
                      settings.zone(), settings.profiles_path, settings.pdf)
    report.write_bytes(reports.render(site, day, "html"))
    console.print(f"ledger: {verified.records} records, chain "
                  f"{'verified' if verified.ok else 'BROKEN'}, head {verified.head[:19]}…")
    day_rows = next(c.computation.rows for c in closed if c.period == day)
    return list(day_rows), verified.ok, report



class KeepingTruthWriter(TruthWriter):
    """Writes the ground truth to its file and keeps the rows for the comparison."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.rows: list[TruthRow] = []

    def write(self, rows: Iterable[TruthRow], faults: Iterable[FaultRecord]) -> None:
        kept = list(rows)
        self.rows += kept
        super().write(kept, faults)


FIGURES: tuple[tuple[str, str], ...] = (
    ("electricity_kwh", "kWh"),
    ("diesel_kg", "diesel kg"),
    ("input_t", "in t"),
    ("output_t", "out t"),
    ("sec_kwh_per_t", "kWh/t"),
    ("energy_kgce", "kgce"),
    ("co2_total_kg", "CO₂ kg"),
    ("intensity_kg_per_t", "kg CO₂/t"),
)
CHARTED = tuple((key, title) for key, title in FIGURES if key in TRUTH_COLUMNS)
TABLE_WIDTH = 80  # the demo's tables fit a classic terminal


def result_table(result: DemoResult) -> Table:
    table = Table("line", *(title for _, title in FIGURES), box=box.SIMPLE_HEAD,
                  padding=(0, 1, 0, 0), pad_edge=False,
                  title=f"{result.site}, {result.day}, per line",
                  caption="Δ truth: the worst deviation from the simulator's ground truth")
    table.add_column("Δ truth", no_wrap=True, min_width=7)
    for column in table.columns[1:]:
        column.justify = "right"
    for line in sorted(result.lines):
        values = result.lines[line]
        cells = ["—" if (v := values.get(key)) is None else significant(v) for key, _ in FIGURES]
        table.add_row(line, *cells, _worst_error(values, result.truth.get(line, {})))
    return table


def device_table(result: DemoResult) -> Table:
    zone = timezone(timedelta(hours=result.utc_offset_h))
    table = Table("line", "device", "type", "samples", "first", "last", box=box.SIMPLE_HEAD,
                  padding=(0, 1, 0, 0), pad_edge=False,
                  title=f"{result.site}: what reached InfluxDB, per device")
    table.columns[3].justify = "right"
    for d in result.devices:
        table.add_row(d.line, d.device, d.device_type, f"{d.samples:,}",
                      *(datetime.fromtimestamp(t / 1000, zone).strftime("%m-%d %H:%M")
                        for t in (d.first_ms, d.last_ms)))
    return table


def write_chart(result: DemoResult, path: Path) -> Path:
    """SVG of computed vs ground truth per line (`loopmeter.demo_chart`)."""
    title = f"{result.site}, {result.day}: computed vs ground truth"
    path.write_text(chart_svg(title, CHARTED, result.lines, result.truth), encoding="utf-8")
    return path


def _worst_error(values: Mapping[str, Decimal | None], truth: Mapping[str, Decimal]) -> str:
    errors = [e for column in TRUTH_COLUMNS
              if (e := relative_error(values.get(column), truth.get(column, Decimal(0))))
              is not None]
    return f"{significant(max(errors) * 100, 2)} %" if errors else "—"
