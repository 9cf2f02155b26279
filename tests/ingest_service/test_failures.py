"""What the issue promises under failure, against real Mosquitto and InfluxDB.

Each test checks the same thing at the end: every sample published is in InfluxDB exactly
once, with its value.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from adapters.influx import InfluxQL, InfluxSettings
from ingest_service.poison import POISON
from ingest_service.service import IngestService
from ingest_service.storage import DeadLetters, open_database, worker_database
from loopmeter.services import free_ports
from tests.ingest_service.support import (
    Paced,
    Publisher,
    ingest_settings,
    stream,
    telemetry_rows,
    wait_for,
)
from tests.support.live import recording

pytestmark = pytest.mark.integration


def assert_exactly_once(services, database: str, site: str, devices: int, messages: int,
                        samples: int = 1, state_dir: Path | None = None) -> None:
    """Sample i of message seq of every device has power_kw = seq * samples + i.

    With `state_dir` (a worker was killed): a message that was being decoded when the kill
    came is, by design, dead-lettered as `poison` on redelivery (ingest_service.poison
    cannot tell a kill from outside from a message that kills); durable in the dead-letter
    store, it counts once, there instead of in InfluxDB."""
    expected = [(f"m{d}", v) for d in range(devices) for v in range(messages * samples)]

    def stored() -> list[tuple[str, int]]:
        rows = telemetry_rows(services.influx_url, database, site)
        return ([(device, int(power)) for device, _, power in rows]
                + (_poisoned(state_dir) if state_dir else []))

    wait_for(lambda: len(stored()) >= len(expected), 60, f"{len(expected)} points")
    assert sorted(stored()) == sorted(expected)


def _poisoned(state_dir: Path) -> list[tuple[str, int]]:
    """(device, power_kw) of every sample that worker 0 dead-lettered as poison."""
    connection = open_database(worker_database(state_dir, 0))
    try:
        letters = [entry.letter for entry in
                   DeadLetters(connection, 100_000, 65_536).iterate()
                   if entry.letter.reason == POISON]
    finally:
        connection.close()
    return [(letter.topic.split("/")[4], int(sample["values"]["power_kw"]))
            for letter in letters for sample in json.loads(letter.payload)["samples"]]


def _ingest_process(services, database: str, tmp_path: Path, group: str, port: int,
                    *args: str, site: str) -> subprocess.Popen[bytes]:
    env = {**os.environ, "LOOPMETER_INGEST_MQTT__URL": services.mqtt_url,
           "LOOPMETER_INGEST_SITE": site,
           "LOOPMETER_INGEST_INFLUX__URL": services.influx_url,
           "LOOPMETER_INGEST_INFLUX__DATABASE": database, "LOOPMETER_INGEST_GROUP": group,
           "LOOPMETER_INGEST_STATE_DIR": str(tmp_path), "LOOPMETER_INGEST_HTTP_PORT": str(port),
           "LOOPMETER_INGEST_BATCH__MAX_DELAY_S": "0.1"}
    with (tmp_path / "ingest.log").open("ab") as log:
        return subprocess.Popen([sys.executable, "-m", "ingest_service", "run", *args],
                                env=env, stderr=log)


def _sums(services, database: str, query: str, tag: str,
          params: dict[str, str] | None = None) -> dict[str, int]:
    reader = InfluxQL(InfluxSettings(url=services.influx_url, database=database))
    try:
        return {s.tags[tag]: int(s.values[0][1]) for s in reader.query(query, params)}
    finally:
        reader.close()


@contextmanager
def _explained_by(state_dir: Path, *ports: int) -> Iterator[None]:
    """On failure, add what the worker processes logged and counted to the message."""
    try:
        yield
    except AssertionError as failure:
        log = (state_dir / "ingest.log").read_text(errors="replace")[-4000:]
        metrics = []
        for port in ports:
            try:
                text = httpx.get(f"http://127.0.0.1:{port}/metrics").text
            except httpx.HTTPError as error:
                text = f"unreachable: {error}"
            metrics.append(f"-- :{port}\n" + "\n".join(
                line for line in text.splitlines() if not line.startswith("#")))
        raise AssertionError(f"{failure}\n-- ingest.log (tail)\n{log}\n"
                             + "\n".join(metrics)) from failure


def _two_free_ports() -> int:
    """A port p such that p and p + 1 are free (worker i listens on p + i)."""
    for _ in range(50):
        [port] = free_ports(1)
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port + 1))
            except OSError:
                continue
        return port
    raise AssertionError("no two consecutive free ports")


def _healthy(port: int) -> bool:
    try:
        return httpx.get(f"http://127.0.0.1:{port}/healthz").status_code == 200
    except httpx.HTTPError:
        return False


def test_kill_9_mid_stream_then_restart_loses_and_duplicates_nothing(
        services, influx_db: str, unique_site: str, tmp_path: Path) -> None:
    [port] = free_ports(1)
    group = f"k{unique_site[2:]}"
    messages = list(stream(unique_site, devices=5, messages=400, samples=5))
    worker = _ingest_process(services, influx_db, tmp_path, group, port, site=unique_site)
    try:
        wait_for(lambda: _healthy(port), 20, "the worker's /healthz")
        with Publisher(services.mqtt_url) as publisher, \
                Paced(publisher, messages, rate_per_s=800) as paced:
            wait_for(lambda: paced.sent > 600, 10, "the stream to flow")
            worker.send_signal(signal.SIGKILL)
            worker.wait()
            wait_for(lambda: paced.sent > 1200, 10, "more messages for the dead worker")
            worker = _ingest_process(services, influx_db, tmp_path, group, port, site=unique_site)
        assert_exactly_once(services, influx_db, unique_site, devices=5, messages=400,
                            samples=5, state_dir=tmp_path)
        metrics = httpx.get(f"http://127.0.0.1:{port}/metrics").text
        assert 'ingest_messages_total{worker="0"}' in metrics
    finally:
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(30) == 0


def test_influxdb_down_for_30_s_is_spooled_then_drained(
        services, influx_db: str, unique_site: str, tmp_path: Path) -> None:
    settings = ingest_settings(services, influx_db, tmp_path, site=unique_site)
    messages = list(stream(unique_site, devices=5, messages=80, samples=5))
    with IngestService(settings) as service, Publisher(services.mqtt_url) as publisher:
        with Paced(publisher, messages, rate_per_s=12) as paced:
            wait_for(lambda: service.stats.points_written > 0, 10, "the first writes")
            with services.stopped("influxdb"):
                sent_before = paced.sent
                wait_for(lambda: service.stats.spool_points > 0, 10, "spooling")
                wait_for(lambda: service.health()["ok"], 1, "health while spooling")
                time.sleep(30)  # the outage the issue asks for
                assert paced.sent > sent_before + 250, "the stream kept flowing"
                assert service.stats.unacked < settings.receive_maximum
        wait_for(lambda: service.stats.spool_points == 0, 30, "the spool to drain")
        assert service.stats.points_spooled > 0 and service.spool.batches == 0
    assert_exactly_once(services, influx_db, unique_site, devices=5, messages=80, samples=5)


def test_broker_restart_mid_stream_loses_nothing(services, influx_db: str, unique_site: str,
                                                 tmp_path: Path) -> None:
    # Exclusive: Mosquitto 2.0.11 restores ordinary subscriptions after a restart, but not
    # shared ones (see the next test).
    settings = ingest_settings(services, influx_db, tmp_path, site=unique_site,
                               subscription="exclusive")
    messages = list(stream(unique_site, devices=5, messages=300))
    with IngestService(settings) as service, Publisher(services.mqtt_url) as publisher:
        with Paced(publisher, messages, rate_per_s=500) as paced:
            wait_for(lambda: service.stats.points_written > 100, 20, "the first writes")
            connections, sent_before = publisher.connections, paced.sent
            services.restart_service("mosquitto")
            publisher.wait_reconnected(connections)
            assert sent_before < len(messages) / 2, "the restart was not mid-stream"
        assert_exactly_once(services, influx_db, unique_site, devices=5, messages=300)
        wait_for(lambda: service.health()["connected"], 20, "the reconnection")


def test_mosquitto_forgets_shared_subscriptions_when_it_restarts(services,
                                                                unique_site: str) -> None:
    """Why `subscription=exclusive` exists: pins the broker behaviour docs/ingest.md describes.

    If this fails, the broker now restores shared subscriptions: drop the caveat and the
    exclusive mode's reason.
    """
    topic = f"loopmeter/v1/{unique_site}/l1/m0/data"
    received = {}
    for mode, topic_filter in (("ordinary", f"loopmeter/v1/{unique_site}/#"),
                               ("shared", f"$share/g/loopmeter/v1/{unique_site}/#")):
        with recording(services.mqtt_url, topic_filter) as subscriber:
            client_id = subscriber.client_id
        services.restart_service("mosquitto")
        with Publisher(services.mqtt_url) as publisher:
            publisher.publish(topic, mode.encode())
            publisher.wait_published()
        with recording(services.mqtt_url, None, client_id) as subscriber:
            received[mode] = [m.payload for m in subscriber.settled()]
    assert received == {"ordinary": [b"ordinary"], "shared": []}


def test_ten_thousand_malformed_messages_are_dead_lettered_and_valid_data_stored(
        services, influx_db: str, unique_site: str, tmp_path: Path) -> None:
    settings = ingest_settings(services, influx_db, tmp_path, site=unique_site)
    valid = list(stream(unique_site, devices=4, messages=250))
    topic = valid[0][0]
    kinds = {
        "invalid_json": (topic, b"{this is not json"),
        "schema": (topic, json.dumps({"v": 1, "device_type": "electricity_meter",
                                      "seq": -1, "samples": []}).encode()),
        "unknown_version": (topic, json.dumps({"v": 9}).encode()),
        "bad_topic": (topic.replace("/data", "/nonsense"), b"{}"),
        "unknown_metric": (topic, valid[0][1].replace(b"power_kw", b"power_xx")),
    }
    malformed = [kinds[name] for _ in range(2000) for name in kinds]
    # One valid message after every ten malformed ones.
    mixed = [m for index, bad in enumerate(malformed)
             for m in ([bad, valid[index // 10]] if index % 10 == 9 else [bad])]
    with IngestService(settings) as service, Publisher(services.mqtt_url) as publisher:
        publisher.publish_all(mixed)
        publisher.wait_published(120)
        wait_for(lambda: service.stats.messages_in >= len(mixed), 60, "every message")
        wait_for(lambda: service.stats.unacked == 0, 10, "the last batch")
        assert service.health()["ok"]
        assert service.stats.dead_letters == dict.fromkeys(kinds, 2000)
    assert_exactly_once(services, influx_db, unique_site, devices=4, messages=250)
    # The per-interval counts in InfluxDB add up to the totals.
    letters = _sums(services, influx_db, 'SELECT sum("count") FROM "dead_letters" '
                    'GROUP BY "reason"', "reason")
    assert letters == dict.fromkeys(kinds, 2000)
    quality = _sums(services, influx_db, 'SELECT sum("messages") FROM "ingest_quality" '
                    'WHERE "site" = $site GROUP BY "device"', "device", {"site": unique_site})
    assert quality == {f"m{d}": 250 for d in range(4)}  # valid data messages only
    store = DeadLetters(open_database(worker_database(tmp_path, 0)), 100_000, 65_536)
    assert store.counts() == dict.fromkeys(kinds, 2000)
    assert Counter(e.letter.reason for e in store.iterate()) == dict.fromkeys(kinds, 2000)
    [sample] = store.entries("invalid_json", limit=1)
    assert (sample.letter.topic, sample.letter.payload) == kinds["invalid_json"]


def test_two_workers_on_one_shared_subscription_store_every_message_once(
        services, influx_db: str, unique_site: str, tmp_path: Path) -> None:
    settings = ingest_settings(services, influx_db, tmp_path, site=unique_site)
    with IngestService(settings) as first, IngestService(settings.for_worker(1)) as second, \
            Publisher(services.mqtt_url) as publisher:
        publisher.publish_all(stream(unique_site, devices=5, messages=200))
        publisher.wait_published()
        assert_exactly_once(services, influx_db, unique_site, devices=5, messages=200)
        wait_for(lambda: first.stats.messages_in + second.stats.messages_in >= 1000, 10,
                 "both workers' counts")
    assert first.stats.messages_in + second.stats.messages_in == 1000
    assert first.stats.messages_in > 100 and second.stats.messages_in > 100


def test_run_workers_2_starts_two_processes_that_share_the_stream(
        services, influx_db: str, unique_site: str, tmp_path: Path) -> None:
    port = _two_free_ports()
    parent = _ingest_process(services, influx_db, tmp_path, f"w{unique_site[2:]}", port,
                             "--workers", "2", site=unique_site)
    try:
        wait_for(lambda: _healthy(port) and _healthy(port + 1), 30, "both workers")
        with Publisher(services.mqtt_url) as publisher:
            publisher.publish_all(stream(unique_site, devices=5, messages=100))
            publisher.wait_published()
        with _explained_by(tmp_path, port, port + 1):
            assert_exactly_once(services, influx_db, unique_site, devices=5, messages=100)
        counts = [httpx.get(f"http://127.0.0.1:{p}/metrics").text for p in (port, port + 1)]
        assert all('ingest_messages_total{worker="' in text for text in counts)
    finally:
        parent.send_signal(signal.SIGTERM)
        assert parent.wait(30) == 0
    assert sorted(path.name for path in tmp_path.glob("*.sqlite")) == [
        "ingest-0.sqlite", "ingest-1.sqlite"]
