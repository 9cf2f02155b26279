"""MQTT over TLS against a real Mosquitto with a TLS listener and a CA made for the test.

Covers both ways Loopmeter speaks MQTT: ingest's own consumer and the paho clients that
`adapters.mqtt.new_client` builds (edge agents, gateway, simulators).
"""

from __future__ import annotations

import getpass
import queue
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from adapters.clock import SystemClock
from adapters.mqtt import ConnectFailed, MqttSettings, Session, TlsSettings
from ingest_service.pipeline import Inbound
from ingest_service.source import MqttSource
from loopmeter.services import find_binaries, free_ports, port_open
from tests.ingest_service.support import Publisher, assert_nothing_held, take_inbound, wait_for

pytestmark = pytest.mark.integration


@dataclass(frozen=True)
class TlsBroker:
    url: str
    ca_file: Path


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


def _certificates(folder: Path) -> None:
    """A CA, and a server certificate it signed for 127.0.0.1."""
    _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out",
             "ca.pem", "-days", "2", "-subj", "/CN=Loopmeter test CA", cwd=folder)
    _openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "server.key", "-out",
             "server.csr", "-subj", "/CN=127.0.0.1", cwd=folder)
    (folder / "san.ext").write_text("subjectAltName=IP:127.0.0.1\n")
    _openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
             "-CAcreateserial", "-out", "server.pem", "-days", "2", "-extfile", "san.ext",
             cwd=folder)


@pytest.fixture
def tls_broker(tmp_path: Path) -> Iterator[TlsBroker]:
    _certificates(tmp_path)
    [port] = free_ports(1)
    conf = tmp_path / "mosquitto.conf"
    conf.write_text("\n".join([
        f"listener {port} 127.0.0.1", f"cafile {tmp_path / 'ca.pem'}",
        f"certfile {tmp_path / 'server.pem'}", f"keyfile {tmp_path / 'server.key'}",
        "allow_anonymous true", f"user {getpass.getuser()}", "log_dest stderr"]) + "\n")
    log = tmp_path / "mosquitto.log"
    with log.open("wb") as output:
        broker = subprocess.Popen([str(find_binaries().mosquitto), "-c", str(conf)],
                                  stderr=output)
    try:
        wait_for(lambda: port_open(port) or broker.poll() is not None, 10, "the TLS broker")
        assert broker.poll() is None, log.read_text()
        yield TlsBroker(f"mqtts://127.0.0.1:{port}", tmp_path / "ca.pem")
    finally:
        broker.terminate()
        broker.wait(10)


def _source(settings: MqttSettings, client_id: str,
            inbox: queue.Queue[list[Inbound]]) -> MqttSource:
    session = Session(client_id, clean_start=False, expiry_s=300, receive_maximum=1000)
    return MqttSource(settings, session, "loopmeter/v1/#", SystemClock(), inbox)


def test_messages_arrive_and_are_acknowledged_over_tls(tls_broker: TlsBroker) -> None:
    settings = MqttSettings(url=tls_broker.url, tls=TlsSettings(ca_file=tls_broker.ca_file))
    client_id, inbox = f"tls-{uuid.uuid4().hex[:8]}", queue.Queue[list[Inbound]]()
    payloads = [f"{i:05d}".encode() * 400 for i in range(500)]  # 1 MB: many TLS records
    source = _source(settings, client_id, inbox)
    source.start(timeout_s=10)
    assert source.connected
    with Publisher(tls_broker.url, settings.tls) as publisher:
        for payload in payloads:
            publisher.publish("loopmeter/v1/s/l1/m1/data", payload)
        publisher.wait_published()
    received = take_inbound(inbox, len(payloads))
    assert [m.payload for m in received] == payloads
    source.ack([m.delivery for m in received])
    source.stop()

    again = _source(settings, client_id, inbox)
    again.start(timeout_s=10)
    try:
        assert again.connected
        # Every PUBACK reached the broker: it holds nothing for the session.
        assert_nothing_held(inbox, tls_broker.url, "loopmeter/v1/s/l1/m1/data", settings.tls)
    finally:
        again.stop()


def test_a_broker_the_ca_does_not_vouch_for_is_refused(tls_broker: TlsBroker) -> None:
    settings = MqttSettings(url=tls_broker.url)  # the system CA store knows no test CA
    with pytest.raises(ConnectFailed, match="certificate verify failed"):
        _source(settings, f"tls-{uuid.uuid4().hex[:8]}", queue.Queue()).start(timeout_s=5)
