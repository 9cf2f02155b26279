"""`loopmeter carbon run`: keep closing periods as data arrives; /metrics and /healthz.

Each pass, for every site: the periods whose end (plus the allowed lateness) has passed and
that are not in the ledger are closed; those closed within `recheck_s` are computed again and
recalculated if their inputs changed (late data). A month is closed once when it ends, and
again whenever one of its days is recalculated.
"""

from __future__ import annotations

import logging
import threading
from collections import Counter as Tally
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from zoneinfo import ZoneInfo

from prometheus_client import CollectorRegistry, Counter, Gauge

from adapters.clock import Clock
from adapters.influx import InfluxError, InfluxQL, PointWriter
from adapters.ops_http import OpsServer
from carbon.closing import Accounting, code_version
from carbon.engine import Closed, Engine, Source
from carbon.influx_io import UNKNOWN_REGION, TelemetryReader
from carbon.ledger import Ledger, SQLiteStore
from carbon.periods import Granularity, Period, period_containing, periods_between
from carbon.registry import load_registry
from carbon.settings import CarbonSettings
from carbon.signing import SiteKeys
from contract.site_profile import ProfileError, load_profiles

log = logging.getLogger(__name__)


@dataclass(slots=True)
class Parts:
    """Everything `build` wires from settings; `with build(...) as parts:` closes it."""

    engine: Engine
    ledger: Ledger
    source: Source
    writer: PointWriter
    ql: InfluxQL

    def close(self) -> None:
        self.writer.close()
        self.ql.close()

    def __enter__(self) -> Parts:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


def build(settings: CarbonSettings, clock: Clock) -> Parts:
    ql = InfluxQL(settings.influx)
    writer = PointWriter(settings.influx)
    source = TelemetryReader(ql, settings.horizon_s * 1000)
    ledger = Ledger(SQLiteStore(settings.ledger_path))
    accounting = Accounting(settings.params(), settings.grid_region,
                            settings.electricity_convention, settings.intensity_basis,
                            settings.config_hash(), code_version())
    engine = Engine(source, writer, ledger, load_registry(settings.factors_path), accounting,
                    settings.zone(), settings.horizon_s * 1000, clock, SiteKeys(settings.keys_dir),
                    regions=ProfileRegions(settings.profiles_path))
    return Parts(engine, ledger, source, writer, ql)


class ProfileRegions:
    """A site's region (its profile's city) for the `energy_carbon` points' `region` tag.

    The folder is read on each call, so a profile the operator adds applies from the next
    close. A broken profile file must not stop periods from closing: it is logged and the
    site's points say `unknown` until the file is fixed.
    """

    def __init__(self, folder: Path) -> None:
        self._folder = folder

    def __call__(self, site: str) -> str:
        try:
            profile = load_profiles(self._folder).get(site)
        except ProfileError as error:
            log.warning("site profiles unreadable, region unknown: %s", error)
            return UNKNOWN_REGION
        return profile.city_en if profile else UNKNOWN_REGION


@dataclass(slots=True)
class Health:
    last_ok_ms: int | None = None
    last_error: str = ""
    registry: CollectorRegistry = field(default_factory=CollectorRegistry)


class Runner:
    def __init__(self, parts: Parts, settings: CarbonSettings, clock: Clock) -> None:
        self._parts = parts
        self._settings = settings
        self._clock = clock
        self.health = Health()
        registry = self.health.registry
        self._closed = Counter("carbon_periods_total", "Periods handled, by outcome.",
                               ["outcome"], registry=registry)
        self._errors = Counter("carbon_errors_total", "Passes that failed, by error type.",
                               ["error"], registry=registry)
        self._last = Gauge("carbon_last_pass_timestamp_seconds", "End of the last good pass.",
                           registry=registry)

    def due(self, site: str, now_ms: int) -> list[Period]:
        """Periods to close or to check again for late data."""
        watermark = now_ms - self._settings.allowed_lateness_s * 1000
        since = now_ms - max(self._settings.backfill_s, self._settings.recheck_s) * 1000
        recheck_after = now_ms - self._settings.recheck_s * 1000
        tz = self._settings.zone()
        candidates = [p for g in (Granularity.QUARTER, Granularity.HOUR, Granularity.DAY)
                      for p in _ending_between(since, watermark, g, tz)]
        closed = self._parts.ledger.closed_periods(site)  # one query, not one per candidate
        months = [p for g in (Granularity.MONTH, Granularity.YEAR)
                  for p in _ending_between(since, watermark, g, tz) if p.label not in closed]
        return [p for p in candidates if p.end_ms > recheck_after
                or p.label not in closed] + months

    def run_once(self, on_closed: Callable[[Closed], object] | None = None) -> list[Closed]:
        now = self._clock.now_ms()
        done: list[Closed] = []
        try:
            for site in self._parts.source.sites():
                done += self.close_site(site, now, on_closed)
        except InfluxError as error:
            self._errors.labels(type(error).__name__).inc()
            self.health.last_error = str(error)
            log.warning("carbon pass failed: %s; next pass in %g s, /healthz not ready until "
                        "then", error, self._settings.tick_s)
            return done
        self.health.last_ok_ms, self.health.last_error = now, ""
        self._last.set(now / 1000)
        if done:  # one summary line per pass that closed something, not one per period
            outcomes = Tally(item.outcome for item in done)
            log.info("carbon pass closed %d periods (%s)", len(done),
                     ", ".join(f"{n} {outcome}" for outcome, n in sorted(outcomes.items())))
        return done

    def close_site(self, site: str, now: int,
                   on_closed: Callable[[Closed], object] | None = None) -> list[Closed]:
        closed = self._parts.engine.close_all(site, self.due(site, now), on_closed)
        # A recalculated day changes its month and year, if those are closed already.
        longer = {period_containing(c.period.start_ms, g, self._settings.zone())
                  for c in closed if c.outcome == "recalculated"
                  for g in (Granularity.MONTH, Granularity.YEAR)}
        reopened = [p for p in sorted(longer)
                    if self._parts.ledger.latest(site, p.label) is not None]
        closed += self._parts.engine.close_all(site, reopened, on_closed)
        for item in closed:
            self._closed.labels(item.outcome).inc()
        return closed

    def healthz(self) -> dict[str, object]:
        limit = 3 * self._settings.tick_s * 1000
        last = self.health.last_ok_ms
        ok = last is not None and self._clock.now_ms() - last <= limit
        return {"ok": ok, "last_ok_ms": last, "last_error": self.health.last_error}

    def serve(self, stop: threading.Event,
              on_closed: Callable[[Closed], object] | None = None) -> None:
        """Passes every `tick_s` until `stop` is set, with the HTTP endpoints up."""
        server = OpsServer("127.0.0.1", self._settings.http_port, self.health.registry,
                           self.healthz, name="carbon-http",
                           setting="LOOPMETER_CARBON_HTTP_PORT")
        server.start()
        try:
            while not stop.is_set():
                self.run_once(on_closed)
                stop.wait(self._settings.tick_s)
        finally:
            server.stop()


def _ending_between(since: int, until: int, granularity: Granularity,
                    tz: ZoneInfo) -> list[Period]:
    """Periods whose end lies in (since, until]."""
    first = period_containing(since, granularity, tz).start_ms
    return [p for p in periods_between(first, until, granularity, tz) if p.end_ms > since]
