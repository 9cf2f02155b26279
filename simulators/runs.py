"""Running a plant to the broker in simulated time: through the edge-agent fleet (one real
agent per device), or directly through the simulator's minimal publisher (`PlantFeed`),
with a live progress display either way and ground truth written as the run goes.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from tempfile import TemporaryDirectory

from rich.progress import BarColumn, Progress, TaskID, TextColumn, TimeElapsedColumn

from adapters.mqtt import MqttSettings
from simulators.clock import SimulatedClock
from simulators.faults import FaultKind
from simulators.feed import PlantFeed
from simulators.mqtt_publisher import MqttPublisher
from simulators.plant import Plant
from simulators.truth import TruthWriter

TICK_S = 60.0  # simulated seconds between two looks at the clock (direct runs)
# Link faults the agent fleet applies; the others need a direct run.
FLEET_LINK_FAULTS = frozenset({FaultKind.NETWORK_DROP})


@dataclass(frozen=True, slots=True)
class RunSpec:
    plant: Plant
    mqtt: MqttSettings
    clock: SimulatedClock
    end_ms: int
    batch_s: float
    writer: TruthWriter | None
    confirm: bool = True  # agents keep data until ingest confirms it (end-to-end ack)


@dataclass(frozen=True, slots=True)
class RunResult:
    messages: int
    delivered: bool


class ProgressView:
    """One progress bar: plant time (site local), samples, messages, faults."""

    def __init__(self, progress: Progress, task: TaskID, spec: RunSpec) -> None:
        self._progress = progress
        self._task = task
        self._spec = spec
        self._start_ms = spec.plant.now_ms

    def update(self, now_ms: int, samples: int, messages: int) -> None:
        plant, writer = self._spec.plant, self._spec.writer
        if writer:
            writer.write(plant.truth.drain(), plant.fault_log.drain())
        self._progress.update(self._task, completed=(now_ms - self._start_ms) / 1000,
                              at=_local(now_ms, plant.scenario.utc_offset_h), samples=samples,
                              messages=messages, faults=len(plant.fault_log.records))


@contextmanager
def progress_view(spec: RunSpec) -> Iterator[ProgressView]:
    # A short bar and thousands separators: the line fits an 80-column terminal.
    columns = (TextColumn("[bold]{task.description}"), BarColumn(bar_width=6),
               TextColumn("{task.fields[at]}  {task.fields[samples]:,} samples  "
                          "{task.fields[messages]:,} msgs  {task.fields[faults]} faults"),
               TimeElapsedColumn())
    with Progress(*columns) as progress:
        task = progress.add_task(spec.plant.site, total=(spec.end_ms - spec.plant.now_ms) / 1000,
                                 at="", samples=0, messages=0, faults=0)
        yield ProgressView(progress, task, spec)


def run_direct(spec: RunSpec) -> RunResult:
    """Publish with `PlantFeed`: every link fault kind applies; no store-and-forward."""
    plant, clock = spec.plant, spec.clock
    with MqttPublisher(spec.mqtt) as publisher, progress_view(spec) as view:
        feed = PlantFeed(plant, publisher, plant.link_faults(), spec.batch_s)
        feed.births()
        while plant.now_ms + plant.step_ms <= spec.end_ms:
            feed.advance_to(min(spec.end_ms, clock.now_ms()))
            view.update(plant.now_ms, feed.stats.samples, feed.stats.messages)
            clock.sleep(TICK_S)
        feed.finish()
    return RunResult(publisher.published, True)


def run_agents(spec: RunSpec, state_dir: Path | None) -> RunResult:
    """Run one edge agent per device (`simulators.fleet.run_fleet`) on the plant's clock."""
    # Imported here so that `sim list`, `truth` and `--direct` do not need the agent package.
    from simulators.fleet import FleetProgress, run_fleet

    plant = spec.plant
    duration_s = (spec.end_ms - spec.clock.start_ms) / 1000  # the fleet restarts the clock
    with progress_view(spec) as view, _state(state_dir) as folder:
        def show(progress: FleetProgress) -> None:
            samples = sum(device.samples for device in progress.devices)
            view.update(progress.now_ms, samples, progress.messages)

        result = run_fleet(plant, spec.mqtt, spec.clock, duration_s, folder, show,
                           link_faults=plant.faults.link(), batch_s=spec.batch_s,
                           ready=spec.clock.restart, confirm=spec.confirm)
    _log_outages(plant, spec.end_ms)
    return RunResult(result.progress.acked_messages, result.drained)


def unapplied_by_fleet(plant: Plant) -> list[str]:
    """Scheduled link faults that an agent run does not inject (a direct run does)."""
    return sorted({f.kind.value for f in plant.faults.link() if f.kind not in FLEET_LINK_FAULTS})


def _log_outages(plant: Plant, end_ms: int) -> None:
    """Network drops are connection outages in the fleet: one record per device and window."""
    for fault in plant.faults.link():
        if fault.kind is FaultKind.NETWORK_DROP and fault.at_ms < end_ms:
            for device in plant.devices:
                if fault.targets(device.key):
                    plant.fault_log.add(fault.at_ms, fault.kind, device.key,
                                        f"connection cut until {fault.until_ms}")


@contextmanager
def _state(folder: Path | None) -> Iterator[Path]:
    if folder is not None:
        folder.mkdir(parents=True, exist_ok=True)
        yield folder
        return
    with TemporaryDirectory(prefix="loopmeter-sim-") as temporary:
        yield Path(temporary)


def _local(t_ms: int, utc_offset_h: float) -> str:
    zone = timezone(timedelta(hours=utc_offset_h))
    return datetime.fromtimestamp(t_ms / 1000, zone).strftime("%m-%d %H:%M")
