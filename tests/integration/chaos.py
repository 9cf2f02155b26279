"""A chaos run: agents -> Mosquitto -> ingest worker processes -> InfluxDB, while things die.

Agents run in this process (a thread each) with end-to-end acknowledgement on; ingest runs
as `python -m ingest_service run` processes (default shared subscription), so that it can be
killed with SIGKILL. Every sample a driver produced is recorded, and at the end the site's
rows in InfluxDB are compared with them by device and timestamp.

    result = run_chaos(services, database, site, tmp_path, plan)   # see ChaosPlan
    result.lost, result.duplicated, result.attempts
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from adapters.clock import SystemClock
from adapters.influx import InfluxQL, InfluxSettings
from adapters.mqtt import MqttSettings
from contract import EquipmentType, MetricDeclaration, Sample
from edge_agents.agent import Agent, AgentConfig, client_id
from edge_agents.driver import Reading, declare
from edge_agents.link import Acked, LinkEvent, PahoLink
from loopmeter.services import LocalServices, free_ports
from tests.edge_agents.fakes import ramp
from tests.support.live import wait_for

METER = EquipmentType.ELECTRICITY_METER
ROOT = Path(__file__).parents[2]


@dataclass(frozen=True, slots=True)
class ChaosPlan:
    agents: int = 5
    period_s: float = 0.05  # each agent samples this often
    produce_s: float = 40.0  # how long the agents sample
    workers: int = 2
    # Seconds into the run at which each fault strikes.
    broker_kills: Sequence[float] = (6.0, 28.0)
    ingest_kills: Sequence[float] = (14.0,)
    influx_outage: tuple[float, float] | None = (20.0, 5.0)  # start, duration
    confirm_timeout_s: float = 5.0
    confirm: bool = True  # False: delete on PUBACK, to show what the faults cost without
    drain_timeout_s: float = 120.0


@dataclass(slots=True)
class ChaosResult:
    produced: int
    stored: int
    lost: int
    duplicated: int
    attempts: int  # data messages the agents sent, re-sends included
    resent: int
    dropped: dict[str, int]
    kill_after_puback_ms: list[float] = field(default_factory=list)
    seconds: float = 0.0


class RecordingDriver:
    """A meter whose every reading is remembered; it reads only while `producing` is set."""

    def __init__(self, period_s: float) -> None:
        self.times: list[int] = []
        self.producing = threading.Event()
        self.producing.set()
        self._metrics = [declare(METER, "power_kw", period_s),
                         declare(METER, "energy_kwh", period_s)]

    def metrics(self) -> Sequence[MetricDeclaration]:
        return self._metrics

    def read(self, names: Sequence[str], now_ms: int) -> Reading:
        if not self.producing.is_set():
            return {}
        self.times.append(now_ms)
        return ramp(names, now_ms)


class TimedLink(PahoLink):
    """The agent's link, remembering when the last PUBACK arrived (to kill just after it)."""

    def __init__(self, settings: MqttSettings, client: str, on_ack: Callable[[], None]) -> None:
        super().__init__(settings, client)
        self._on_ack = on_ack
        self.sent = 0

    def poll(self) -> list[LinkEvent]:
        events = super().poll()
        if any(isinstance(event, Acked) for event in events):
            self._on_ack()
        return events

    def publish(self, topic: str, payload: bytes, retain: bool = False) -> int | None:
        mid = super().publish(topic, payload, retain)
        if mid is not None and topic.endswith("/data"):
            self.sent += 1
        return mid


class IngestWorkers:
    """Ingest worker processes; each can be killed (SIGKILL) and started again."""

    def __init__(self, services: LocalServices, database: str, site: str, state: Path,
                 workers: int) -> None:
        self._http = free_ports(1)[0] if workers == 1 else _consecutive_ports(workers)
        self._env = {
            **os.environ, "PYTHONPATH": str(ROOT),
            "LOOPMETER_INGEST_MQTT__URL": services.mqtt_url,
            "LOOPMETER_INGEST_INFLUX__URL": services.influx_url,
            "LOOPMETER_INGEST_INFLUX__DATABASE": database,
            "LOOPMETER_INGEST_INFLUX__TIMEOUT_S": "5",
            "LOOPMETER_INGEST_GROUP": f"chaos-{site}", "LOOPMETER_INGEST_SITE": site,
            "LOOPMETER_INGEST_STATE_DIR": str(state),
            "LOOPMETER_INGEST_HTTP_PORT": str(self._http),
            "LOOPMETER_INGEST_BATCH__MAX_DELAY_S": "0.1",
            "LOOPMETER_INGEST_RETRY__SPOOL_AFTER_S": "1",
            "LOOPMETER_INGEST_QUALITY_INTERVAL_S": "5",
            "LOOPMETER_INGEST_LOG_LEVEL": "WARNING",
        }
        self._logs = state / "logs"
        self._logs.mkdir(parents=True, exist_ok=True)
        self.processes: list[subprocess.Popen[bytes] | None] = [None] * workers

    def start(self, worker: int) -> None:
        log = (self._logs / f"worker-{worker}.log").open("ab")
        self.processes[worker] = subprocess.Popen(
            [sys.executable, "-m", "ingest_service", "run", "--worker", str(worker)],
            env=self._env, stdout=log, stderr=log, cwd=ROOT)
        log.close()
        wait_for(lambda: self.healthy(worker), 30, f"ingest worker {worker} to subscribe")

    def healthy(self, worker: int) -> bool:
        try:
            response = httpx.get(f"http://127.0.0.1:{self._http + worker}/healthz", timeout=1)
        except httpx.HTTPError:
            return False
        return response.status_code == 200

    def kill(self, worker: int) -> None:
        process = self.processes[worker]
        if process is not None:
            process.send_signal(signal.SIGKILL)
            process.wait()

    def stop_all(self) -> None:
        for process in self.processes:
            if process is not None and process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in self.processes:
            if process is not None:
                try:
                    process.wait(30)
                except subprocess.TimeoutExpired:
                    process.kill()


def _consecutive_ports(count: int) -> int:
    """A base port such that base .. base + count - 1 were free (worker i uses base + i)."""
    for _ in range(50):
        base = free_ports(1)[0]
        if base + count < 65_535 and all(_free(base + i) for i in range(1, count)):
            return base
    raise RuntimeError("no run of free ports")


def _free(port: int) -> bool:
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def stored_rows(services: LocalServices, database: str, site: str) -> list[tuple[str, int]]:
    reader = InfluxQL(InfluxSettings(url=services.influx_url, database=database))
    try:
        series = reader.query('SELECT "power_kw" FROM "telemetry" WHERE "site" = $site '
                              'GROUP BY "device"', {"site": site})
    finally:
        reader.close()
    return [(s.tags["device"], row[0]) for s in series for row in s.values]


def run_chaos(services: LocalServices, database: str, site: str, state: Path,
              plan: ChaosPlan) -> ChaosResult:
    started = time.monotonic()
    last_ack = [0.0]
    lock = threading.Lock()

    def acked() -> None:
        with lock:
            last_ack[0] = time.monotonic()

    workers = IngestWorkers(services, database, site, state / "ingest", plan.workers)
    for worker in range(plan.workers):
        workers.start(worker)
    mqtt = MqttSettings(url=services.mqtt_url)
    drivers, links, agents = [], [], []
    for index in range(plan.agents):
        config = AgentConfig.model_validate({
            "site": site, "line": "l1", "device": f"m{index}", "device_type": METER,
            "batch_s": 0.2, "tick_s": 0.02, "status_period_s": 5,
            "backoff": {"initial_s": 0.2, "max_s": 1.0},
            "confirm": {"enabled": plan.confirm, "timeout_s": plan.confirm_timeout_s}})
        driver = RecordingDriver(plan.period_s)
        link = TimedLink(mqtt, client_id(config.device_id), acked)
        agent = Agent(config, driver, mqtt, SystemClock(), state / f"agent-{index}", link=link)
        drivers.append(driver)
        links.append(link)
        agents.append(agent)
    kills_after_ack: list[float] = []
    try:
        for agent in agents:
            agent.start()
        _inflict(services, workers, plan, started, last_ack, lock, kills_after_ack)
        for driver in drivers:
            driver.producing.clear()  # what is pending is sealed within batch_s
        wait_for(lambda: all(a.idle for a in agents), plan.drain_timeout_s,
                 "every sample confirmed durable")
        dropped: dict[str, int] = {}
        for agent in agents:
            for reason, count in agent.store.dropped.items():
                dropped[reason] = dropped.get(reason, 0) + count
    finally:
        for agent in agents:
            agent.stop()
        workers.stop_all()
    produced = {(f"m{i}", ts) for i, d in enumerate(drivers) for ts in d.times}
    rows = stored_rows(services, database, site)
    return ChaosResult(
        produced=len(produced), stored=len(set(rows)), lost=len(produced - set(rows)),
        duplicated=len(rows) - len(set(rows)), attempts=sum(link.sent for link in links),
        resent=sum(a.stats.resent for a in agents), dropped=dropped,
        kill_after_puback_ms=kills_after_ack, seconds=time.monotonic() - started)


def _inflict(services: LocalServices, workers: IngestWorkers, plan: ChaosPlan, started: float,
             last_ack: list[float], lock: threading.Lock, kills_after_ack: list[float]) -> None:
    """Strike every fault of the plan at its time, then wait for the end of production."""
    faults: list[tuple[float, str]] = [(t, "broker") for t in plan.broker_kills]
    faults += [(t, f"ingest-{i % plan.workers}") for i, t in enumerate(plan.ingest_kills)]
    if plan.influx_outage:
        faults.append((plan.influx_outage[0], "influx"))
    for at, fault in sorted(faults):
        _sleep_until(started + at)
        if fault == "broker":
            kills_after_ack.append(_kill_broker_after_a_puback(services, last_ack, lock))
        elif fault == "influx" and plan.influx_outage:
            with services.stopped("influxdb"):
                time.sleep(plan.influx_outage[1])
        else:
            worker = int(fault.split("-")[1])
            workers.kill(worker)
            workers.start(worker)
    _sleep_until(started + plan.produce_s)


def _kill_broker_after_a_puback(services: LocalServices, last_ack: list[float],
                                lock: threading.Lock) -> float:
    """SIGKILL Mosquitto as soon as a PUBACK has just arrived; ms between the two."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with lock:
            since = time.monotonic() - last_ack[0]
        if since < 0.005:
            break
        time.sleep(0.001)
    with lock:
        gap = time.monotonic() - last_ack[0]
    services.kill_service("mosquitto")
    services.start_service("mosquitto")
    return gap * 1000


def _sleep_until(moment: float) -> None:
    delay = moment - time.monotonic()
    if delay > 0:
        time.sleep(delay)


def run_burst(services: LocalServices, database: str, site: str, state: Path, *, agents: int,
              backlog_s: int, hz: int, timeout_s: float) -> ChaosResult:
    """`agents` agents that were offline for `backlog_s` (sampling at `hz`) all reconnect at
    once with default limits, into two ingest workers; what reaches InfluxDB."""
    started = time.monotonic()
    now_ms = int(time.time() * 1000)
    offline = MqttSettings(url="mqtt://127.0.0.1:1")  # nothing listens on port 1
    produced: set[tuple[str, int]] = set()
    configs = []
    for index in range(agents):
        config = AgentConfig.model_validate({
            "site": site, "line": "l1", "device": f"b{index}", "device_type": METER,
            "batch_s": 1.0, "tick_s": 0.02, "status_period_s": 5,
            "max_samples_per_message": 100})
        configs.append(config)
        queue = Agent(config, RecordingDriver(1.0 / hz), offline, SystemClock(),
                      state / f"burst-{index}")
        for i in range(backlog_s * hz):
            ts = now_ms - backlog_s * 1000 + i * 1000 // hz
            queue.store.add_sample(Sample(ts=ts, values=ramp(["power_kw", "energy_kwh"], ts)))
            produced.add((f"b{index}", ts))
        queue.flush()  # sealed while offline: historical, replayed at the configured rate
        queue.store.close()
    workers = IngestWorkers(services, database, site, state / "ingest", 2)
    for worker in range(2):
        workers.start(worker)
    mqtt = MqttSettings(url=services.mqtt_url)
    fleet = []
    for index, config in enumerate(configs):
        driver = RecordingDriver(1.0 / hz)
        driver.producing.clear()  # the burst is the backlog alone
        fleet.append(Agent(config, driver, mqtt, SystemClock(), state / f"burst-{index}"))
    try:
        for agent in fleet:
            agent.start()
        wait_for(lambda: all(a.idle for a in fleet), timeout_s, "the backlog confirmed")
        dropped: dict[str, int] = {}
        for agent in fleet:
            for reason, count in agent.store.dropped.items():
                dropped[reason] = dropped.get(reason, 0) + count
    finally:
        for agent in fleet:
            agent.stop()
        workers.stop_all()
    rows = stored_rows(services, database, site)
    return ChaosResult(
        produced=len(produced), stored=len(set(rows)), lost=len(produced - set(rows)),
        duplicated=len(rows) - len(set(rows)), attempts=0,
        resent=sum(a.stats.resent for a in fleet), dropped=dropped,
        seconds=time.monotonic() - started)
