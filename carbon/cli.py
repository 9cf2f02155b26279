"""`loopmeter carbon ...`: the factor registry, closing periods, the ledger and reports."""

from __future__ import annotations

import logging
import signal
import sys
import threading
from decimal import Decimal
from pathlib import Path
from typing import Annotated, cast

import typer

from adapters.cli_errors import HandledGroup
from adapters.clock import SystemClock
from adapters.pdf import PdfFailed
from carbon.document import FORMATS, Reports
from carbon.document import Format as DocumentFormat
from carbon.ledger import Ledger, SQLiteStore
from carbon.periods import (
    Granularity,
    Period,
    parse_period,
    sub_periods,
    with_sub_periods,
)
from carbon.registry import load_registry
from carbon.report import enpi_section
from carbon.service import Runner, build
from carbon.settings import CarbonSettings
from contract.site_profile import ProfileError

app = typer.Typer(help="Energy and carbon: factors, period closing, audit ledger, reports.",
                  no_args_is_help=True, cls=HandledGroup, pretty_exceptions_show_locals=False)

Site = Annotated[str, typer.Option(help="Site id, as in the MQTT topic.")]
PeriodLabel = Annotated[str, typer.Option(help="2026-10, 2026-10-05, 2026-10-05T13 or "
                                                  "2026-10-05T13:15 (site local time).")]


def _period(label: str, settings: CarbonSettings) -> Period:
    try:
        return parse_period(label, settings.zone())
    except ValueError as error:
        raise typer.BadParameter(str(error), param_hint="--period") from error


@app.command("factors")
def factors() -> None:
    """List every factor in the registry with its status and source."""
    registry = load_registry(CarbonSettings().factors_path)
    for f in registry.factors:
        typer.echo(f"{f.id}\t{f.value} {f.unit}\t[{f.status.value}]\t{f.use_class}\t"
                   f"{f.document}")


@app.command("close")
def close(site: Site, period: Annotated[str | None, typer.Option(
        help="Close this period and every shorter one inside it; default: all due now.")]
        = None) -> None:
    """Compute and close periods (and recalculate those whose inputs changed)."""
    settings, clock = CarbonSettings(), SystemClock()
    with build(settings, clock) as parts:
        if period is None:
            closed = Runner(parts, settings, clock).close_site(site, clock.now_ms())
        else:
            chosen = _period(period, settings)
            closed = parts.engine.close_all(site, with_sub_periods(chosen, settings.zone()))
    for item in closed:
        typer.echo(f"{item.outcome}\t{site}\t{item.period.label}\t{item.record.hash}")


@app.command("run")
def run() -> None:
    """Keep closing periods as data arrives; serve /metrics and /healthz."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    settings = CarbonSettings()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with build(settings, SystemClock()) as parts:
        try:
            Runner(parts, settings, SystemClock()).serve(stop)
        except KeyboardInterrupt:
            stop.set()


@app.command("verify")
def verify() -> None:
    """Check every hash and link of the ledger; exit 1 at the first broken one."""
    result = Ledger(SQLiteStore(CarbonSettings().ledger_path)).verify()
    if result.broken:
        typer.echo(f"BROKEN at record {result.broken.seq}: {result.broken.reason} "
                   f"({result.records - 1} records before it verified)")
        raise typer.Exit(1)
    typer.echo(f"ok: {result.records} records, head {result.head}")


@app.command("recompute")
def recompute(site: Site, period: PeriodLabel) -> None:
    """Recompute a closed period from raw data; exit 1 unless byte-identical."""
    settings = CarbonSettings()
    with build(settings, SystemClock()) as parts:
        try:
            result = parts.engine.recompute(site, _period(period, settings))
        except LookupError as error:
            typer.echo(str(error))
            raise typer.Exit(2) from error
    status = "identical" if result.identical and result.inputs_identical else "DIFFERENT"
    typer.echo(f"{status}: record {result.record.seq} {result.record.hash}; inputs "
               f"{'same' if result.inputs_identical else 'changed'}")
    if status != "identical":
        raise typer.Exit(1)


@app.command("report")
def report(site: Site, period: PeriodLabel,
           format: Annotated[str, typer.Option(
               "--format", help="json, csv (UTF-8 with BOM), html or pdf.")] = "json",
           output: Annotated[Path | None, typer.Option(help="Write here, not stdout.")] = None,
           baseline: Annotated[str | None, typer.Option(
               help="EnPI baseline period (e.g. 2026-09): its closed days fit the model.")]
           = None) -> None:
    """Render a closed period's report from its newest ledger record."""
    if format not in FORMATS:
        raise typer.BadParameter("use json, csv, html or pdf", param_hint="--format")
    settings = CarbonSettings()
    chosen = _period(period, settings)
    ledger = Ledger(SQLiteStore(settings.ledger_path))
    reports = Reports(ledger, load_registry(settings.factors_path), settings.zone(),
                      settings.profiles_path, settings.pdf)
    try:
        content = reports.content(site, chosen)
        if baseline is not None:
            content["enpi"] = _enpi(ledger, site, chosen, _period(baseline, settings), settings)
        data = reports.render(site, chosen, cast(DocumentFormat, format), content)
    except LookupError as error:
        typer.echo(f"{error}: run `loopmeter carbon close` first")
        raise typer.Exit(2) from error
    except (ProfileError, PdfFailed) as error:
        typer.echo(str(error))
        raise typer.Exit(2) from error
    if output is None:
        sys.stdout.buffer.write(data)
        sys.stdout.flush()
    else:
        output.write_bytes(data)
        typer.echo(f"wrote {output}")


def _enpi(ledger: Ledger, site: str, period: Period, baseline: Period,
          settings: CarbonSettings) -> dict[str, object]:
    values = [_site_values(ledger, site, p.label) for p in
              (period, *sub_periods(baseline, Granularity.DAY, settings.zone()))]
    current, *days = values
    if current is None:
        raise typer.BadParameter(f"{period.label} is not closed", param_hint="--period")
    length_days = Decimal(period.end_ms - period.start_ms) / 86_400_000
    return enpi_section(current, length_days, [d for d in days if d is not None],
                        baseline.label, settings.intensity_basis)


def _site_values(ledger: Ledger, site: str, label: str) -> dict[str, object] | None:
    record = ledger.latest(site, label)
    if record is None:
        return None
    rows = record.data()["results"]["rows"]
    values: dict[str, object] = next(r for r in rows if r["level"] == "site")["values"]
    return values
