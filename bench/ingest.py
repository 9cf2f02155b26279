"""Ingest benchmark: two ceilings, the pipeline, a naive baseline, latency and scaling.

    python -m bench.ingest [--messages 20000] [--samples 20] [--devices 50]

Starts its own Mosquitto, InfluxDB and nginx (`loopmeter.services`) on free ports in a
temporary folder, so every figure comes from one run on one machine:

    ceiling A   pre-serialised line protocol posted to InfluxDB in batches of 5,000
    ceiling B   a bare paho subscriber that only receives and acknowledges the stream
    pipeline    ingest workers (subprocesses): stream published, then drained until every
                sample is written and acknowledged; 1 and 2 workers; peak RSS of one;
                1 worker with each packet decoder (`codec`, see bench.codec)
    naive       paho callback -> one synchronous influxdb-client write per message
    latency     the pipeline at half its measured rate, publish -> acknowledgement

Throughput runs preload the stream into the consumers' persistent sessions, then time the
drain, so the load generator does not share the cores with the consumer while it is timed.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from influxdb_client.client.influxdb_client import InfluxDBClient
from influxdb_client.client.write_api import SYNCHRONOUS
from paho.mqtt.client import Client, MQTTMessage

from adapters.clock import SystemClock
from adapters.influx import InfluxQL, InfluxSettings, PointWriter
from adapters.mqtt import MqttSettings, Session, connect, new_client, parse_broker_url
from adapters.mqtt.wire import CODECS, Codec
from contract import (
    DataMessage,
    DeviceId,
    EquipmentType,
    MessageKind,
    Sample,
    decode_ack,
    encode,
    line_protocol,
    shared_subscription,
    to_points,
)
from contract import decode as contract_decode
from edge_agents.agent import Agent, AgentConfig
from edge_agents.agent import client_id as agent_client_id
from edge_agents.driver import CallableDriver, declare
from edge_agents.link import LinkEvent, PahoLink, Received
from ingest_service.service import IngestService
from ingest_service.settings import IngestSettings
from loopmeter.services import LocalServices, ServicePorts, free_ports, wait_until

RECEIVE_MAXIMUM = 1000
DEFAULT_CODEC: Codec = IngestSettings.model_fields["codec"].default
# The packet decoder that ingest does not use by default: one more 1-worker run with it.
OTHER_CODEC: Codec = next(codec for codec in CODECS if codec != DEFAULT_CODEC)
CEILING_BATCH = 5000

Message = tuple[str, bytes]


# ---------------------------------------------------------------- the stream


def payload(seq: int, newest_ms: int, samples: int) -> bytes:
    """An electricity meter's data message; its newest sample is stamped `newest_ms`."""
    first = newest_ms - (samples - 1) * 1000
    return encode(DataMessage(device_type=EquipmentType.ELECTRICITY_METER, seq=seq, samples=[
        Sample(ts=first + i * 1000, values={"power_kw": 100.0 + i, "energy_kwh": 5000.0 + seq,
                                            "voltage_v": 10_000.0, "current_a": 42.5 + i})
        for i in range(samples)]))


class LivePayloads:
    """`payload()` at a tenth of its cost, for the latency run's publisher: its CPU is taken
    from the machine it measures, so the bytes are formatted from one template."""

    def __init__(self, samples: int) -> None:
        self._samples = samples
        # Built by payload() itself with distinct placeholders, then made a %-format.
        template = payload(0, (samples - 1) * 1000, samples).decode()
        template = template.replace('"seq":0,', '"seq":%d,')
        template = template.replace('"energy_kwh":5000.0', '"energy_kwh":%r')
        for i in range(samples):
            template = template.replace(f'"ts":{i * 1000},', '"ts":%d,', 1)
        self._template = template
        for seq, newest in ((0, 1_795_000_000_000), (7, 1_795_000_123_000)):
            if self.make(seq, newest) != payload(seq, newest, samples):
                raise AssertionError("LivePayloads no longer matches payload()")

    def make(self, seq: int, newest_ms: int) -> bytes:
        first = newest_ms - (self._samples - 1) * 1000
        values: list[int | float] = [seq]
        for i in range(self._samples):
            values += [first + i * 1000, 5000.0 + seq]
        return (self._template % tuple(values)).encode()


def device_topics(site: str, devices: int) -> list[str]:
    return [DeviceId(site, "l1", f"m{d}").topic(MessageKind.DATA) for d in range(devices)]


def stream(site: str, messages: int, samples: int, devices: int) -> list[Message]:
    """`messages` messages spread over `devices`, each with distinct sample timestamps."""
    topics = device_topics(site, devices)
    per_device = -(-messages // devices)
    # The newest sample lies a minute in the past, however long the stream.
    base = int(time.time() * 1000) - (per_device * samples + 60) * 1000
    return [(topics[i % devices], payload(i // devices, base + (i // devices + 1) * samples * 1000,
                                          samples)) for i in range(messages)]


def lines_of(messages: Sequence[Message]) -> list[str]:
    lines: list[str] = []
    for topic, body in messages:
        envelope = contract_decode(topic, body, now_ms=int(time.time() * 1000))
        lines.extend(line_protocol(p) for p in to_points(envelope.topic, envelope.message, 0))
    return lines


# ---------------------------------------------------------------- MQTT helpers


class Consumer:
    """A paho client on a persistent session; `handle` runs for every message."""

    def __init__(self, mqtt_url: str, client_id: str, topic_filter: str,
                 handle: Callable[[Client, MQTTMessage], object], manual_ack: bool) -> None:
        self.settings = MqttSettings(url=mqtt_url)
        self.session = Session(client_id, clean_start=False, expiry_s=3600,
                               receive_maximum=RECEIVE_MAXIMUM, manual_ack=manual_ack)
        self.client = new_client(self.settings, self.session)
        self._filter = topic_filter
        self._subscribed = threading.Event()
        self.client.on_connect = lambda c, *_: c.subscribe(self._filter, qos=1)
        self.client.on_subscribe = lambda *_: self._subscribed.set()
        self._handle = handle
        self.client.on_message = self._on_message

    def _on_message(self, client: Client, _userdata: object, message: MQTTMessage) -> None:
        self._handle(client, message)

    def __enter__(self) -> Consumer:
        connect(self.client, self.settings, self.session)
        self.client.loop_start()
        if not self._subscribed.wait(10):
            raise RuntimeError("consumer did not subscribe")
        return self

    def __exit__(self, *_: object) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def publish(mqtt_url: str, messages: Sequence[Message]) -> None:
    """Publish at QoS 1 as fast as the broker acknowledges; return when all are acknowledged."""
    settings = MqttSettings(url=mqtt_url)
    session = Session(f"load-{uuid.uuid4().hex[:6]}")
    client = new_client(settings, session)
    client.max_inflight_messages_set(500)
    done = threading.Semaphore(0)
    client.on_publish = lambda *_: done.release()
    connect(client, settings, session)
    client.loop_start()
    for topic, body in messages:
        client.publish(topic, body, qos=1)
    for _ in messages:
        if not done.acquire(timeout=120):
            raise RuntimeError("the broker stopped acknowledging")
    client.disconnect()
    client.loop_stop()


def register(mqtt_url: str, client_ids: Sequence[str], topic_filter: str) -> None:
    """Create the consumers' sessions and subscriptions, so that the broker queues for them."""
    for client_id in client_ids:
        with Consumer(mqtt_url, client_id, topic_filter, lambda *_: None, manual_ack=True):
            pass


def forget(mqtt_url: str, client_ids: Sequence[str]) -> None:
    """End the consumers' sessions, so that later runs do not queue messages for them."""
    settings = MqttSettings(url=mqtt_url)
    for client_id in client_ids:
        session = Session(client_id, clean_start=True, expiry_s=0)
        client = new_client(settings, session)
        connected = threading.Event()
        client.on_connect = lambda *_, done=connected: done.set()
        connect(client, settings, session)
        client.loop_start()
        connected.wait(10)
        client.disconnect()
        client.loop_stop()


# ---------------------------------------------------------------- measurements


@dataclass(frozen=True, slots=True)
class Rate:
    count: int
    seconds: float

    @property
    def per_s(self) -> float:
        return self.count / self.seconds if self.seconds > 0 else float("nan")


def ceiling_database(influx: InfluxSettings, lines: list[str], writers: int) -> Rate:
    """Line protocol in batches of 5,000, from `writers` concurrent connections."""
    batches = [lines[i:i + CEILING_BATCH] for i in range(0, len(lines), CEILING_BATCH)]

    def write(share: list[list[str]]) -> None:
        with PointWriter(influx) as writer:
            for batch in share:
                writer.write_lines(batch)

    threads = [threading.Thread(target=write, args=(batches[i::writers],))
               for i in range(writers)]
    start = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return Rate(len(lines), time.perf_counter() - start)


def _drain(mqtt_url: str, client_id: str, topic_filter: str, total: int,
           handle: Callable[[Client, MQTTMessage], object], manual_ack: bool) -> float:
    """Seconds from the first to the last of `total` queued messages handled."""
    first: list[float] = []
    seen = 0
    finished = threading.Event()

    def timed(client: Client, message: MQTTMessage) -> None:
        nonlocal seen
        if not first:
            first.append(time.perf_counter())
        handle(client, message)
        seen += 1
        if seen == total:
            finished.set()

    with Consumer(mqtt_url, client_id, topic_filter, timed, manual_ack):
        if not finished.wait(600):
            raise RuntimeError(f"drained only {seen} of {total} messages")
        return time.perf_counter() - first[0]


def ceiling_broker(mqtt_url: str, messages: list[Message]) -> Rate:
    client_id = f"bare-{uuid.uuid4().hex[:6]}"
    topic_filter = shared_subscription(client_id)  # a group of its own: no earlier members
    register(mqtt_url, [client_id], topic_filter)
    publish(mqtt_url, messages)
    seconds = _drain(mqtt_url, client_id, topic_filter, len(messages),
                     lambda c, m: c.ack(m.mid, m.qos), manual_ack=True)
    forget(mqtt_url, [client_id])
    return Rate(len(messages), seconds)


def ceiling_c_client(mqtt_url: str, messages: list[Message]) -> Rate:
    """Mosquitto's own C subscriber (mosquitto_sub, QoS 1, output to /dev/null) draining the
    queued stream: what the broker can deliver on this machine, whatever Python costs."""
    client_id = f"csub-{uuid.uuid4().hex[:6]}"
    topic_filter = shared_subscription(client_id)
    register(mqtt_url, [client_id], topic_filter)
    publish(mqtt_url, messages)
    address = parse_broker_url(mqtt_url)
    start = time.perf_counter()
    subprocess.run(["mosquitto_sub", "-h", address.host, "-p", str(address.port), "-V", "mqttv5",
                    "-i", client_id, "-c", "-x", "3600", "-q", "1", "-t", topic_filter,
                    "-D", "connect", "receive-maximum", str(RECEIVE_MAXIMUM),
                    "-C", str(len(messages))], stdout=subprocess.DEVNULL, check=True, timeout=600)
    seconds = time.perf_counter() - start  # includes one connect: a few milliseconds
    forget(mqtt_url, [client_id])
    return Rate(len(messages), seconds)


def naive(mqtt_url: str, influx: InfluxSettings, messages: list[Message]) -> Rate:
    """The tutorial way: auto-ack, parse JSON, one synchronous write per message."""
    client_id, topic_filter = f"naive-{uuid.uuid4().hex[:6]}", "loopmeter/v1/+/+/+/data"
    reader = InfluxQL(influx)
    reader.create_database(influx.database)
    reader.close()
    register(mqtt_url, [client_id], topic_filter)
    publish(mqtt_url, messages)
    with InfluxDBClient(url=influx.url, token="-", org=influx.org) as client:
        write_api = client.write_api(write_options=SYNCHRONOUS)

        def handle(_client: Client, message: MQTTMessage) -> None:
            _, _, site, line, device, _ = message.topic.split("/")
            body = json.loads(message.payload)
            points = [{"measurement": "telemetry", "time": sample["ts"],
                       "tags": {"site": site, "line": line, "device": device},
                       "fields": {k: float(v) for k, v in sample["values"].items()}}
                      for sample in body["samples"]]
            write_api.write(bucket=influx.database, record=points, write_precision="ms")

        seconds = _drain(mqtt_url, client_id, topic_filter, len(messages), handle,
                         manual_ack=False)
    forget(mqtt_url, [client_id])
    return Rate(len(messages), seconds)


# ---------------------------------------------------------------- the pipeline


def _worker_env(services: LocalServices, database: str, state_dir: Path, group: str,
                http_port: int, confirm: bool, codec: Codec) -> dict[str, str]:
    return {**os.environ, "LOOPMETER_INGEST_MQTT__URL": services.mqtt_url,
            "LOOPMETER_INGEST_CONFIRM": str(confirm).lower(), "LOOPMETER_INGEST_CODEC": codec,
            "LOOPMETER_INGEST_INFLUX__URL": services.influx_url,
            "LOOPMETER_INGEST_INFLUX__DATABASE": database, "LOOPMETER_INGEST_GROUP": group,
            "LOOPMETER_INGEST_STATE_DIR": str(state_dir),
            "LOOPMETER_INGEST_HTTP_PORT": str(http_port),
            "LOOPMETER_INGEST_RECEIVE_MAXIMUM": str(RECEIVE_MAXIMUM),
            "LOOPMETER_INGEST_LOG_LEVEL": "WARNING"}


_METRIC = re.compile(r'^(ingest_points_written_total|ingest_messages_total)\{worker="\d+"\} (\S+)$',
                     re.MULTILINE)


def _counters(port: int) -> dict[str, float]:
    try:
        text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=2).text
    except httpx.HTTPError:
        return {}
    return {name: float(value) for name, value in _METRIC.findall(text)}


@dataclass(frozen=True, slots=True)
class PipelineRun:
    rate: Rate
    peak_rss_mb: float
    worker_cores: float  # CPU seconds of one worker per second of the drain
    machine_busy: float  # share of all cores busy during the drain


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _machine_ticks() -> tuple[int, int]:
    """Busy and total jiffies of all cores since boot."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = values[3] + values[4]
    return sum(values) - idle, sum(values)


class Workers:
    """`count` ingest worker subprocesses of one group; started and stopped as a set."""

    def __init__(self, services: LocalServices, database: str, state_dir: Path,
                 count: int, base_port: int, confirm: bool, codec: Codec) -> None:
        self._group = f"bench{uuid.uuid4().hex[:6]}"
        self._env = _worker_env(services, database, state_dir, self._group, base_port, confirm,
                                codec)
        self.ports = [base_port + i for i in range(count)]
        self._processes: list[subprocess.Popen[bytes]] = []

    def start(self) -> None:
        self._processes = [subprocess.Popen(
            [sys.executable, "-m", "ingest_service", "run", "--worker", str(i)], env=self._env)
            for i in range(len(self.ports))]
        _until(lambda: all(_counters(p) for p in self.ports), 60, "the workers to start")

    def stop(self) -> list[float]:
        """Stop gracefully; the peak RSS of each worker, in MB."""
        peaks = [_peak_rss_mb(p.pid) for p in self._processes]
        for process in self._processes:
            process.send_signal(signal.SIGTERM)
        for process in self._processes:
            process.wait(60)
        return peaks

    @property
    def client_ids(self) -> list[str]:
        return [f"{self._group}-{i}" for i in range(len(self.ports))]

    def cpu_seconds(self) -> list[float]:
        return [_cpu_seconds(p.pid) for p in self._processes]

    def totals(self) -> tuple[float, float]:
        counters = [_counters(p) for p in self.ports]
        return (sum(c.get("ingest_messages_total", 0) for c in counters),
                sum(c.get("ingest_points_written_total", 0) for c in counters))


def _peak_rss_mb(pid: int) -> float:
    status = Path(f"/proc/{pid}/status").read_text()
    match = re.search(r"VmHWM:\s+(\d+) kB", status)
    return int(match.group(1)) / 1024 if match else float("nan")


def _until(condition: Callable[[], bool], timeout_s: float, what: str) -> None:
    # Polled often: the end of a drain is known only to within one poll.
    if not wait_until(condition, timeout_s, poll_s=0.02):
        raise RuntimeError(f"timed out waiting for {what}")


def pipeline(services: LocalServices, database: str, state_dir: Path, messages: list[Message],
             samples: int, workers: int, base_port: int, confirm: bool = True,
             codec: Codec = DEFAULT_CODEC) -> PipelineRun:
    group = Workers(services, database, state_dir, workers, base_port, confirm,
                    codec)  # create it
    group.start()
    group.stop()  # the sessions now exist: the broker queues the stream for them
    publish(services.mqtt_url, messages)
    group.start()
    total = len(messages) * samples
    _until(lambda: group.totals()[0] > 0, 60, "the first message")
    start, cpu, ticks = time.perf_counter(), group.cpu_seconds(), _machine_ticks()
    # Points written include the workers' own health points: wait for the samples' count.
    _until(lambda: group.totals()[1] >= total, 600, "every sample written")
    seconds = time.perf_counter() - start
    worker_cpu = max(b - a for a, b in zip(cpu, group.cpu_seconds(), strict=True))
    busy, all_ticks = (b - a for a, b in zip(ticks, _machine_ticks(), strict=True))
    peaks = group.stop()
    forget(services.mqtt_url, group.client_ids)
    return PipelineRun(Rate(total, seconds), max(peaks), worker_cpu / seconds,
                       busy / all_ticks if all_ticks else float("nan"))


# ---------------------------------------------------------------- latency


def latency(services: LocalServices, database: str, state_dir: Path, rate_msgs: float,
            samples: int, seconds: float) -> list[float]:
    """End-to-end delays (s) at `rate_msgs` messages/s: publish -> stored and acknowledged."""
    settings = IngestSettings(
        mqtt=MqttSettings(url=services.mqtt_url),
        influx=InfluxSettings(url=services.influx_url, database=database),
        group=f"lat{uuid.uuid4().hex[:6]}", state_dir=state_dir, http_port=None,
        receive_maximum=RECEIVE_MAXIMUM)
    with IngestService(settings) as service:
        # Every delay, not the last 10,000 the service keeps: those are the end of the run,
        # where a queue that grows all along is longest, and would hide the growth.
        service.stats.recent_delays = deque(maxlen=None)
        publisher = subprocess.Popen([
            sys.executable, "-m", "bench.ingest", "paced", "--mqtt-url", services.mqtt_url,
            "--rate", str(rate_msgs), "--seconds", str(seconds), "--samples", str(samples)])
        if publisher.wait(seconds + 120) != 0:
            raise RuntimeError("the paced publisher failed")
        expected = int(rate_msgs * seconds)
        _until(lambda: service.stats.messages_in >= expected and service.stats.unacked == 0,
               120, "the paced stream")
        return list(service.stats.recent_delays)


def paced(mqtt_url: str, rate: float, seconds: float, samples: int) -> None:
    """Publish live messages (newest sample = now) at `rate` per second for `seconds`."""
    settings = MqttSettings(url=mqtt_url)
    session = Session(f"paced-{uuid.uuid4().hex[:6]}")
    client = new_client(settings, session)
    client.max_inflight_messages_set(1000)
    connect(client, settings, session)
    client.loop_start()
    topics = device_topics(f"lat-{uuid.uuid4().hex[:6]}", 50)
    payloads = LivePayloads(samples)
    count = int(rate * seconds)
    start = time.monotonic()
    infos = []
    for i in range(count):
        delay = start + i / rate - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        infos.append(client.publish(topics[i % len(topics)],
                                    payloads.make(i // len(topics), int(time.time() * 1000)),
                                    qos=1))
    for info in infos:
        info.wait_for_publish(60)
    client.disconnect()
    client.loop_stop()


class _ConfirmationClock(PahoLink):
    """An agent's link that times each sample from its reading to ingest's confirmation."""

    def __init__(self, settings: MqttSettings, client: str, delays: list[float]) -> None:
        super().__init__(settings, client)
        self._sent: dict[int, list[int]] = {}  # seq: the sample timestamps of its message
        self._delays = delays

    def publish(self, topic: str, payload: bytes, retain: bool = False) -> int | None:
        if topic.endswith("/data"):
            message = DataMessage.model_validate_json(payload)
            self._sent[message.seq] = [sample.ts for sample in message.samples]
        return super().publish(topic, payload, retain)

    def poll(self) -> list[LinkEvent]:
        events = super().poll()
        now_ms = int(time.time() * 1000)
        for event in events:
            if isinstance(event, Received) and event.topic.endswith("/ack/durable"):
                for first, last in decode_ack(event.payload).seqs:
                    for seq in range(first, last + 1):
                        for ts in self._sent.pop(seq, ()):
                            self._delays.append((now_ms - ts) / 1000)
        return events


def confirmation_latency(services: LocalServices, database: str, state_dir: Path,
                         agents: int, seconds: float) -> list[float]:
    """Seconds from an agent's reading of a sample to ingest's confirmation that it is
    durable: agents (1 Hz, 1 s batches) -> Mosquitto -> one ingest worker -> InfluxDB."""
    settings = IngestSettings(
        mqtt=MqttSettings(url=services.mqtt_url),
        influx=InfluxSettings(url=services.influx_url, database=database),
        group=f"conf{uuid.uuid4().hex[:6]}", state_dir=state_dir / "ingest", http_port=None,
        receive_maximum=RECEIVE_MAXIMUM)
    mqtt = MqttSettings(url=services.mqtt_url)
    delays: list[float] = []
    site = f"conf-{uuid.uuid4().hex[:6]}"
    with IngestService(settings):
        fleet = []
        for index in range(agents):
            config = AgentConfig.model_validate({
                "site": site, "line": "l1", "device": f"m{index}",
                "device_type": EquipmentType.ELECTRICITY_METER, "batch_s": 1.0,
                "tick_s": 0.02})
            link = _ConfirmationClock(mqtt, agent_client_id(config.device_id), delays)
            driver = CallableDriver([declare(EquipmentType.ELECTRICITY_METER, name, 1.0)
                                     for name in ("power_kw", "energy_kwh")], _meter)
            fleet.append(Agent(config, driver, mqtt, SystemClock(), state_dir / f"a{index}",
                               link=link))
        for agent in fleet:
            agent.start()
        time.sleep(seconds)
        for agent in fleet:
            agent.stop()
    return delays


def _meter(names: Sequence[str], now_ms: int) -> dict[str, float | int | str]:
    return {name: float(now_ms // 1000 % 100) for name in names}


# ---------------------------------------------------------------- the report


def percentile(values: Sequence[float], q: int) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1] if len(values) > 1 \
        else float("nan")


def run(args: argparse.Namespace) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="bench-ingest-") as folder:
        root = Path(folder)
        ports = ServicePorts(*free_ports(3))
        services = LocalServices(root / "services", ports)
        services.up()
        try:
            return _measure(services, root, args)
        finally:
            services.down()


def _best(runs: list[PipelineRun]) -> PipelineRun:
    return max(runs, key=lambda run: run.rate.per_s)


def _ceilings(services: LocalServices, messages: list[Message], lines: list[str],
              repeat: int) -> tuple[Rate, Rate, Rate]:
    reader = InfluxQL(InfluxSettings(url=services.influx_url))
    databases = [f"ceiling{i}" for i in range(2 * repeat)]
    for name in databases:
        reader.create_database(name)
    reader.close()
    a = max((ceiling_database(InfluxSettings(url=services.influx_url, database=db), lines,
                              1 + i % 2) for i, db in enumerate(databases)),
            key=lambda rate: rate.per_s)
    b = max((ceiling_broker(services.mqtt_url, messages) for _ in range(repeat)),
            key=lambda rate: rate.per_s)
    c = max((ceiling_c_client(services.mqtt_url, messages) for _ in range(repeat)),
            key=lambda rate: rate.per_s)
    return a, b, c


def _pipelines(services: LocalServices, root: Path, messages: list[Message],
               args: argparse.Namespace) -> tuple[PipelineRun, PipelineRun, PipelineRun,
                                                  PipelineRun]:
    """Best of `repeat` runs with one and with two workers, one worker without end-to-end
    confirmations and one worker with the other packet decoder, interleaved so that each
    sees the same machine."""
    runs: dict[tuple[int, bool, Codec], list[PipelineRun]] = {
        (1, True, DEFAULT_CODEC): [], (2, True, DEFAULT_CODEC): [],
        (1, False, DEFAULT_CODEC): [], (1, True, OTHER_CODEC): []}
    for attempt in range(args.repeat):
        # Each run writes into InfluxDB, which compacts for a while after: alternate the
        # order, so that no configuration always runs in the wake of the same one.
        for workers, confirm, codec in list(runs)[::1 if attempt % 2 == 0 else -1]:
            name = f"pipeline{workers}{'c' if confirm else 'n'}{codec[0]}_{attempt}"
            runs[workers, confirm, codec].append(pipeline(
                services, name, root / f"state-{name}", messages, args.samples, workers,
                args.port, confirm, codec))
    return (_best(runs[1, True, DEFAULT_CODEC]), _best(runs[2, True, DEFAULT_CODEC]),
            _best(runs[1, False, DEFAULT_CODEC]), _best(runs[1, True, OTHER_CODEC]))


def _measure(services: LocalServices, root: Path, args: argparse.Namespace) -> dict[str, Any]:
    load_at_start = os.getloadavg()[0]
    messages = stream("bench", args.messages, args.samples, args.devices)
    print(f"stream: {args.messages} messages x {args.samples} samples, {args.devices} devices;"
          f" best of {args.repeat} runs per throughput figure")
    a, b, c = _ceilings(services, messages, lines_of(messages), args.repeat)
    b_samples, c_samples = b.per_s * args.samples, c.per_s * args.samples
    print(f"ceiling A (InfluxDB, batches of 5000): {a.per_s:,.0f} points/s")
    print(f"ceiling B (bare paho subscriber): {b.per_s:,.0f} messages/s = "
          f"{b_samples:,.0f} samples/s")
    print(f"ceiling C (mosquitto_sub, C, QoS 1, to /dev/null): {c.per_s:,.0f} messages/s = "
          f"{c_samples:,.0f} samples/s; paho reaches {b.per_s / c.per_s:.0%} of it")
    one, two, unconfirmed, other_codec = _pipelines(services, root, messages, args)
    naive_rate = naive(services.mqtt_url, InfluxSettings(url=services.influx_url,
                                                         database="naive"),
                       messages[:args.naive_messages]).per_s * args.samples
    lower = min(a.per_s, c_samples)
    for name, run in (("1 worker", one), ("2 workers", two),
                      ("1 worker, confirmations off", unconfirmed),
                      (f"1 worker, {OTHER_CODEC} decoder", other_codec)):
        print(f"pipeline, {name}: {run.rate.per_s:,.0f} samples/s = "
              f"{run.rate.per_s / lower:.0%} of the lower ceiling (A or C), "
              f"{run.rate.per_s / c_samples:.0%} of the broker's (C), "
              f"x{run.rate.per_s / naive_rate:.1f} the naive baseline; "
              f"peak RSS {run.peak_rss_mb:.0f} MB per worker; a worker used "
              f"{run.worker_cores:.0%} of a core, the machine was {run.machine_busy:.0%} busy")
    print(f"naive baseline ({args.naive_messages} messages): {naive_rate:,.0f} samples/s")
    print(f"scaling, 2 workers / 1 worker: x{two.rate.per_s / one.rate.per_s:.2f}")
    print(f"end-to-end confirmations on / off (1 worker): "
          f"{one.rate.per_s / unconfirmed.rate.per_s:.0%}")
    print(f"packet decoder {OTHER_CODEC} / {DEFAULT_CODEC} (1 worker): "
          f"x{other_codec.rate.per_s / one.rate.per_s:.3f}; load average "
          f"{os.getloadavg()[0]:.2f} (at the start {load_at_start:.2f}) on {os.cpu_count()} cores")
    quiet = _settle(services)
    half = one.rate.per_s / 2 / args.samples
    delays = latency(services, "latency", root / "state-latency", half, args.samples,
                     args.latency_seconds)
    p50, p99 = percentile(delays, 50), percentile(delays, 99)
    tenth = max(1, len(delays) // 10)
    first, last = statistics.median(delays[:tenth]), statistics.median(delays[-tenth:])
    print(f"latency, 1 worker at half its rate ({half * args.samples:,.0f} samples/s, "
          f"{len(delays)} messages): p50 {p50 * 1000:.0f} ms, p99 {p99 * 1000:.0f} ms; "
          f"median of the first tenth {first * 1000:.0f} ms, of the last {last * 1000:.0f} ms"
          f"{' (growing: the machine did not keep up)' if last > max(2 * first, 1.0) else ''}"
          f"; the machine was {quiet:.0%} busy before it")
    confirmed = confirmation_latency(services, "confirm", root / "state-confirm",
                                     args.agents, args.latency_seconds)
    c50, c99 = percentile(confirmed, 50), percentile(confirmed, 99)
    print(f"agent reading -> ingest's confirmation ({args.agents} agents, 1 s batches, "
          f"{len(confirmed)} samples): p50 {c50 * 1000:.0f} ms, p99 {c99 * 1000:.0f} ms")
    return {"messages": args.messages, "samples_per_message": args.samples,
            "devices": args.devices, "ceiling_a_points_per_s": a.per_s,
            "ceiling_b_messages_per_s": b.per_s, "ceiling_b_samples_per_s": b_samples,
            "ceiling_c_messages_per_s": c.per_s, "ceiling_c_samples_per_s": c_samples,
            "paho_vs_c_ceiling": b.per_s / c.per_s,
            "pipeline_vs_c_ceiling": one.rate.per_s / c_samples,
            "two_workers_vs_c_ceiling": two.rate.per_s / c_samples,
            "unconfirmed_samples_per_s": unconfirmed.rate.per_s,
            "confirmed_vs_unconfirmed": one.rate.per_s / unconfirmed.rate.per_s,
            "codec": DEFAULT_CODEC, "other_codec": OTHER_CODEC,
            "other_codec_samples_per_s": other_codec.rate.per_s,
            "other_codec_vs_c_ceiling": other_codec.rate.per_s / c_samples,
            "other_codec_vs_codec": other_codec.rate.per_s / one.rate.per_s,
            "load_average_start": load_at_start, "load_average_end": os.getloadavg()[0],
            "confirmation_p50_s": c50, "confirmation_p99_s": c99,
            "pipeline_samples_per_s": one.rate.per_s, "pipeline_peak_rss_mb": one.peak_rss_mb,
            "pipeline_vs_lower_ceiling": one.rate.per_s / lower,
            "two_workers_samples_per_s": two.rate.per_s,
            "two_workers_vs_lower_ceiling": two.rate.per_s / lower,
            "pipeline_worker_cores": one.worker_cores, "pipeline_machine_busy": one.machine_busy,
            "two_workers_worker_cores": two.worker_cores,
            "two_workers_machine_busy": two.machine_busy,
            "scaling_two_vs_one": two.rate.per_s / one.rate.per_s,
            "naive_samples_per_s": naive_rate, "pipeline_vs_naive": one.rate.per_s / naive_rate,
            "two_workers_vs_naive": two.rate.per_s / naive_rate,
            "latency_rate_samples_per_s": half * args.samples, "latency_p50_s": p50,
            "latency_p99_s": p99, "latency_messages": len(delays),
            "latency_first_tenth_median_s": first, "latency_last_tenth_median_s": last,
            "latency_machine_busy_before": quiet}


def _settle(services: LocalServices, timeout_s: float = 60.0) -> float:
    """Drop the throughput runs' databases and wait until the machine is quiet (InfluxDB
    compacts what was written for a while), so that latency is not measured against that;
    the share of the cores still busy when it starts."""
    reader = InfluxQL(InfluxSettings(url=services.influx_url))
    try:
        for series in reader.query("SHOW DATABASES"):
            for (name,) in series.values:
                if name != "_internal":
                    reader.drop_database(name)
    finally:
        reader.close()
    deadline = time.monotonic() + timeout_s
    while True:
        before = _machine_ticks()
        time.sleep(1.0)
        busy, total = (b - a for a, b in zip(before, _machine_ticks(), strict=True))
        if busy < 0.15 * total or time.monotonic() > deadline:
            return busy / total if total else float("nan")


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.ingest", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command")
    bench = commands.add_parser("run", help="the whole benchmark (the default)")
    for command in (parser, bench):
        command.add_argument("--messages", type=int, default=20_000)
        command.add_argument("--samples", type=int, default=20, help="samples per message")
        command.add_argument("--devices", type=int, default=50)
        command.add_argument("--naive-messages", type=int, default=1000)
        command.add_argument("--latency-seconds", type=float, default=20.0)
        command.add_argument("--agents", type=int, default=10,
                             help="agents of the confirmation-latency run")
        command.add_argument("--repeat", type=int, default=2,
                             help="throughput runs per figure; the best counts")
        command.add_argument("--port", type=int, default=19190, help="first worker HTTP port")
        command.add_argument("--json", type=Path, help="also write the figures here")
    pace = commands.add_parser("paced", help="(internal) the latency run's publisher")
    pace.add_argument("--mqtt-url", required=True)
    pace.add_argument("--rate", type=float, required=True)
    pace.add_argument("--seconds", type=float, required=True)
    pace.add_argument("--samples", type=int, required=True)
    args = parser.parse_args(argv)
    if args.command == "paced":
        paced(args.mqtt_url, args.rate, args.seconds, args.samples)
        return
    figures = run(args)
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2, sort_keys=True) + "\n")


if __name__ == "__main__":
    main()


