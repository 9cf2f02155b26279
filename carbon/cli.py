"""`loopmeter carbon ...`: the factor registry, closing periods, the ledger and reports."""

from __future__ import annotations

import json
import logging
import signal
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path
from typing import Annotated, cast

import typer

from adapters.cli_errors import HandledGroup
from adapters.clock import Clock, SystemClock
from adapters.errors import InvalidInput, LoopmeterError, Unreachable
from adapters.pdf import PdfFailed
from adapters.progress import progress_bar
from carbon.closing import describe
from carbon.document import FORMATS, Reports
from carbon.document import Format as DocumentFormat
from carbon.document.span import Span, is_span, parse_span
from carbon.engine import Closed
from carbon.ledger import Checkpoint, Ledger, PublicKeys, SQLiteStore
from carbon.periods import (
    Granularity,
    Period,
    parse_period,
    sub_periods,
    with_sub_periods,
)
from carbon.registry import Registry, RegistryError, load_registry
from carbon.report import enpi_section
from carbon.service import Parts, Runner, build
from carbon.settings import CarbonSettings
from carbon.signing import KeyProblem, SiteKeys, load_public
from contract.site_profile import ProfileError

app = typer.Typer(help="Energy and carbon: factors, period closing, audit ledger, reports.",
                  no_args_is_help=True, cls=HandledGroup, pretty_exceptions_show_locals=False)

Site = Annotated[str, typer.Option(help="Site id, as in the MQTT topic.")]
PeriodLabel = Annotated[str, typer.Option(help="2026-10, 2026-10-05, 2026-10-05T13 or "
                                                  "2026-10-05T13:15 (site local time).")]
ReportLabel = Annotated[str, typer.Option(
    "--period", help="A period as above, or a span summed from closed records: a year "
    "(2026), months (2026-01..2026-03) or days (2026-10-03..2026-10-05).")]


key_app = typer.Typer(help="Site keys that sign closed records (Ed25519).",
                      no_args_is_help=True, cls=HandledGroup)
checkpoint_app = typer.Typer(help="The ledger head, kept outside the ledger.",
                             no_args_is_help=True, cls=HandledGroup)
app.add_typer(key_app, name="key")
app.add_typer(checkpoint_app, name="checkpoint")


class Refused(LoopmeterError):
    """An operator slip or an untrusted record: nothing is written."""


INFLUX_URL_VARIABLE = "LOOPMETER_CARBON_INFLUX__URL"


@contextmanager
def _engine(settings: CarbonSettings, clock: Clock) -> Iterator[Parts]:
    """The engine's parts; an InfluxDB that does not answer is named with its setting."""
    try:
        with build(settings, clock) as parts:
            yield parts
    except Unreachable as error:
        raise Unreachable(str(error), "is it running? `loopmeter services up` starts the local "
                          f"one; for another, set {INFLUX_URL_VARIABLE}") from error


def _period(label: str, settings: CarbonSettings) -> Period:
    try:
        return parse_period(label, settings.zone())
    except ValueError as error:
        raise typer.BadParameter(str(error), param_hint="--period") from error


def _registry(settings: CarbonSettings) -> Registry:
    """The factor registry, or a one-line error naming the file."""
    try:
        return load_registry(settings.factors_path)
    except (RegistryError, OSError, UnicodeDecodeError) as error:
        raise InvalidInput(f"cannot read the factor registry {settings.factors_path}: {error}",
                           "fix LOOPMETER_CARBON_FACTORS_PATH or the file") from error


def _existing_ledger(settings: CarbonSettings) -> Ledger:
    """The ledger, never created here: a misspelt path must not verify as an empty ledger."""
    try:
        return Ledger(SQLiteStore(settings.ledger_path, create=False))
    except FileNotFoundError as error:
        raise InvalidInput(f"no ledger at {settings.ledger_path}",
                           "check LOOPMETER_CARBON_LEDGER_PATH; `carbon close` creates the "
                           "ledger") from error


def _keys(settings: CarbonSettings, public_key: Path | None, site: str | None) -> PublicKeys:
    """Public keys by site: the one given for `site`, else the key directory's."""
    directory = SiteKeys(settings.keys_dir)
    if public_key is None:
        return directory.public
    if site is None:
        raise typer.BadParameter("--public-key needs --site", param_hint="--site")
    try:
        given = load_public(public_key.read_bytes(), str(public_key))
    except (OSError, KeyProblem) as error:
        raise InvalidInput(str(error)) from error
    return lambda s: given if s == site else directory.public(s)


def _check_known(site: str, known: list[str]) -> None:
    if site not in known:
        raise Refused(f"unknown site {site!r}: no telemetry for it",
                      f"sites with telemetry: {', '.join(known) or 'none'}")


def _check_ended(periods: list[Period], settings: CarbonSettings, now_ms: int) -> None:
    lateness = settings.allowed_lateness_s * 1000
    open_ = [p for p in periods if p.end_ms + lateness > now_ms]
    if open_:
        raise Refused(f"{open_[-1].label} is still open (it closes {lateness // 1000} s after "
                      "its end, for late data): nothing written",
                      "close it after it ends; `carbon close` without --period closes what "
                      "is due")


@app.command("factors")
def factors() -> None:
    """List every factor in the registry with its status and source."""
    registry = _registry(CarbonSettings())
    for f in registry.factors:
        typer.echo(f"{f.id}\t{f.value} {f.unit}\t[{f.status.value}]\t{f.use_class}\t"
                   f"{f.document}")


@app.command("close")
def close(site: Site, period: Annotated[str | None, typer.Option(
        help="Close this period and every shorter one inside it; default: all due now.")]
        = None) -> None:
    """Compute and close periods (and recalculate those whose inputs, factors or method
    changed). Refuses an unknown site and a period that has not ended.

    Prints one line per period as it is closed, then a one-line summary on stderr; a
    progress bar shows meanwhile on a terminal."""
    settings, clock = CarbonSettings(), SystemClock()
    _registry(settings)
    chosen = _period(period, settings) if period is not None else None
    periods = with_sub_periods(chosen, settings.zone()) if chosen else []
    _check_ended(periods, settings, clock.now_ms())  # before anything is reached or opened
    started = time.monotonic()
    with _engine(settings, clock) as parts:
        now = clock.now_ms()
        _check_known(site, parts.source.sites())
        runner = Runner(parts, settings, clock)
        total = len(periods) if chosen else len(runner.due(site, now))
        with progress_bar(f"closing {site}", total) as advance:
            def show(item: Closed) -> None:
                _print_closed(site, item)
                advance()

            closed = (runner.close_site(site, now, show) if chosen is None
                      else parts.engine.close_all(site, periods, show))
    typer.echo(_summary(site, closed, time.monotonic() - started), err=True)


def _print_closed(site: str, item: Closed) -> None:
    typer.echo(f"{item.outcome}\t{site}\t{item.period.label}\t{item.record.hash}")
    reason = item.record.data().get("recalculation", {}).get("reason")
    if item.outcome == "recalculated" and reason:
        typer.echo(f"\treason: {reason}")


def _summary(site: str, closed: list[Closed], seconds: float) -> str:
    outcomes = Counter(item.outcome for item in closed)
    by_outcome = ", ".join(f"{count} {outcome}" for outcome, count in sorted(outcomes.items()))
    return (f"{site}: {len(closed)} periods in {seconds:.1f} s"
            + (f" ({by_outcome})" if by_outcome else ""))


@app.command("run")
def run() -> None:
    """Keep closing periods as data arrives; serve /metrics and /healthz.

    Logs a line per pass that closed something; on a terminal, a bar counts the periods
    closed since the start (the first pass may close weeks of them)."""
    settings = CarbonSettings()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with progress_bar("carbon run: periods closed", None) as advance:
        # Configured inside the bar, so that log lines print above it, not through it.
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s",
                            stream=sys.stderr)
        with build(settings, SystemClock()) as parts:
            try:
                Runner(parts, settings, SystemClock()).serve(stop, lambda _: advance())
            except KeyboardInterrupt:
                stop.set()


PublicKeyOption = Annotated[Path | None, typer.Option(
    "--public-key", help="A site's exported public key (with --site); default: the key "
    "directory's.")]


@app.command("verify")
def verify(checkpoint: Annotated[Path | None, typer.Option(
               help="A checkpoint from `carbon checkpoint export`: detect rewrite, truncation "
               "and forged appends since it.")] = None,
           public_key: PublicKeyOption = None,
           site: Annotated[str | None, typer.Option(help="The site --public-key is of.")]
           = None) -> None:
    """Check every hash, link and signature of the ledger; exit 1 at the first broken one.

    A record of a site with a key must carry a valid signature of that key."""
    settings = CarbonSettings()
    keys = _keys(settings, public_key, site)
    mark = _checkpoint(checkpoint) if checkpoint is not None else None
    result = _existing_ledger(settings).verify(keys, mark)
    counts = result.signature_counts()
    signed = ", ".join(f"{n} {state}" for state, n in counts.items() if n)
    if result.broken:
        typer.echo(f"BROKEN at record {result.broken.seq}: {result.broken.reason} "
                   f"({result.records - 1} records before it verified)")
        raise typer.Exit(1)
    against = f"; checkpoint {mark.seq} holds" if mark else ""
    typer.echo(f"ok: {result.records} records, head {result.head}; signatures: "
               f"{signed or 'none'}{against}")


def _checkpoint(path: Path) -> Checkpoint:
    try:
        return Checkpoint.parse(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise InvalidInput(f"cannot read the checkpoint {path}: {error}") from error


@checkpoint_app.command("export")
def checkpoint_export(output: Annotated[Path | None, typer.Option(
        help="Write here (then archive it away from the ledger), not stdout.")] = None) -> None:
    """The ledger head (seq and hash) as JSON, to keep outside the ledger."""
    ledger = _existing_ledger(CarbonSettings())
    result = ledger.verify()
    if result.broken:
        raise Refused(f"the ledger is broken at record {result.broken.seq}: "
                      f"{result.broken.reason}; no checkpoint of a broken chain")
    text = json.dumps(Checkpoint(result.records, result.head).payload(), sort_keys=True) + "\n"
    if output is None:
        typer.echo(text, nl=False)
        return
    output.write_text(text, encoding="utf-8")
    typer.echo(f"wrote {output}: record {result.records}, {result.head}")


@key_app.command("create")
def key_create(site: Site) -> None:
    """Create the site's signing key; prints where its public half is."""
    settings = CarbonSettings()
    try:
        public = SiteKeys(settings.keys_dir).create(site)
    except KeyProblem as error:
        raise InvalidInput(str(error)) from error
    typer.echo(f"created the key of {site}; public key {public} "
               "(give it to the regulator: `loopmeter carbon key export`)")


@key_app.command("export")
def key_export(site: Site, output: Annotated[Path | None, typer.Option(
        help="Write here, not stdout.")] = None) -> None:
    """The site's public key (PEM), for whoever verifies the ledger."""
    try:
        pem = SiteKeys(CarbonSettings().keys_dir).public_pem(site)
    except KeyProblem as error:
        raise InvalidInput(str(error)) from error
    if output is None:
        typer.echo(pem, nl=False)
    else:
        output.write_text(pem, encoding="ascii")
        typer.echo(f"wrote {output}")


@app.command("recompute")
def recompute(site: Site, period: PeriodLabel) -> None:
    """Recompute a closed period from raw data; exit 1 unless byte-identical, naming each
    difference (inputs, factor values, method parameters, results)."""
    settings = CarbonSettings()
    _existing_ledger(settings)
    _registry(settings)
    with _engine(settings, SystemClock()) as parts:
        try:
            result = parts.engine.recompute(site, _period(period, settings))
        except LookupError as error:
            typer.echo(str(error))
            raise typer.Exit(2) from error
    same = result.identical and not result.changes
    status = "identical" if same else "DIFFERENT"
    typer.echo(f"{status}: record {result.record.seq} {result.record.hash}; inputs "
               f"{'same' if result.inputs_identical else 'changed'}")
    for change in result.changes:
        typer.echo(f"  {describe([change])}")
    if not same:
        raise typer.Exit(1)


@app.command("report")
def report(site: Site, period: ReportLabel,
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
    span = _span(period, settings, baseline) if is_span(period) else None
    chosen = _period(period, settings) if span is None else span.parts[0]
    ledger = _existing_ledger(settings)
    reports = Reports(ledger, _registry(settings), settings.zone(),
                      settings.profiles_path, settings.pdf, _keys(settings, None, None))
    fmt = cast(DocumentFormat, format)
    try:
        if span is not None:
            summed = reports.span_content(site, span)
            _refuse_untrusted(summed[0]["verification"], site, Period(
                span.start_ms, span.end_ms, span.step, span.label))
            data = reports.render_span(site, span, fmt, summed)
        else:
            content = reports.content(site, chosen)
            _refuse_untrusted(content["verification"], site, chosen)
            if baseline is not None:
                content["enpi"] = _enpi(ledger, site, chosen, _period(baseline, settings),
                                        settings)
            data = reports.render(site, chosen, fmt, content)
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


def _span(label: str, settings: CarbonSettings, baseline: str | None) -> Span:
    if baseline is not None:
        raise typer.BadParameter("an EnPI baseline applies to a single period, not a span",
                                 param_hint="--baseline")
    try:
        return parse_span(label, settings.zone())
    except ValueError as error:
        raise typer.BadParameter(str(error), param_hint="--period") from error


def _refuse_untrusted(verification: dict[str, object], site: str, period: Period) -> None:
    """A record whose chain or signature does not verify is never rendered as a report."""
    if verification["chain"] != "ok" or verification["signature"] == "invalid":
        raise Refused(f"{site} {period.label}: record {verification['seq']} does not verify "
                      f"(chain {verification['chain']}, signature {verification['signature']})"
                      "; refusing to report it", "run `loopmeter carbon verify` to see where")


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
