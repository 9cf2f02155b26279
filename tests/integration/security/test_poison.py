"""A message that kills the ingest process is dead-lettered as `poison` when redelivered."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from adapters.clock import SystemClock
from contract import DeviceId, MessageKind
from ingest_service.service import IngestService
from loopmeter.services import LocalServices
from tests.ingest_service.support import Publisher, ingest_settings, telemetry_rows
from tests.support.live import wait_for

pytestmark = pytest.mark.integration

# A worker whose decoder dies (as an out-of-memory kill would) on one message; the rest of
# the code is the real ingest service.
_WORKER = """
import os, sys, time
from pathlib import Path
from ingest_service import pipeline
from ingest_service.service import IngestService
from tests.ingest_service.support import ingest_settings

real = pipeline._decode
def dying(inbound, *rest):
    if b"KILL-ME" in inbound.payload:
        os._exit(137)
    return real(inbound, *rest)
pipeline._decode = dying

class Services:
    mqtt_url, influx_url = sys.argv[1], sys.argv[2]

settings = ingest_settings(Services, sys.argv[3], Path(sys.argv[4]), group=sys.argv[5],
                           site=sys.argv[6])
IngestService(settings).start()
print("started", flush=True)
time.sleep(120)
"""


def _message(seq: int, ts: int, note: str = "ok") -> bytes:
    return json.dumps({"v": 1, "device_type": "electricity_meter", "seq": seq, "samples": [
        {"ts": ts, "values": {"power_kw": float(seq), "x_note": note}}]}).encode()


def test_the_message_that_killed_the_worker_is_poison_when_it_comes_back(
        services: LocalServices, influx_db: str, unique_site: str, tmp_path: Path) -> None:
    settings = ingest_settings(services, influx_db, tmp_path, site=unique_site)
    worker = subprocess.Popen(
        [sys.executable, "-c", _WORKER, services.mqtt_url, services.influx_url, influx_db,
         str(tmp_path), settings.group, unique_site],
        env={**os.environ, "PYTHONPATH": str(Path.cwd())}, stdout=subprocess.PIPE, text=True)
    try:
        assert worker.stdout is not None and worker.stdout.readline().strip() == "started"
        topic = DeviceId(unique_site, "l1", "m1").topic(MessageKind.DATA)
        base = SystemClock().now_ms() - 60_000
        with Publisher(services.mqtt_url) as publisher:
            publisher.publish(topic, _message(0, base))
            publisher.publish(topic, _message(1, base + 1000, "KILL-ME"))
            publisher.publish(topic, _message(2, base + 2000))
            publisher.wait_published()
        assert worker.wait(30) == 137
    finally:
        worker.kill()
        worker.wait()
        if worker.stdout is not None:
            worker.stdout.close()
    with IngestService(settings) as service:
        wait_for(lambda: len(telemetry_rows(services.influx_url, influx_db, unique_site)) == 2,
                 30, "the messages around the poison")
        wait_for(lambda: service.stats.dead_letters == {"poison": 1}, 10, "the poison")
        assert service.failure is None
        (letter,) = [entry.letter for entry in service.dead_letters.entries()]
    assert b"KILL-ME" in letter.payload and letter.topic == topic
    stored = telemetry_rows(services.influx_url, influx_db, unique_site)
    assert sorted(power for _, _, power in stored) == [0.0, 2.0]
