"""The local services, against the real Mosquitto, InfluxDB 1.6 and nginx."""

from __future__ import annotations

import queue
import shutil
import socket
import subprocess
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import paho.mqtt.client as mqtt
import pytest
from influxdb_client.client.influxdb_client import InfluxDBClient
from influxdb_client.client.write_api import SYNCHRONOUS
from influxdb_client.domain.write_precision import WritePrecision
from influxdb_client.rest import ApiException
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode
from typer.testing import CliRunner

from loopmeter.services import (
    Binaries,
    LocalServices,
    MqttAccount,
    ServiceError,
    ServicePorts,
    free_ports,
    port_open,
    render_nginx_conf,
)
from loopmeter.services_cli import app as services_app
from tests.servers import DYNSEC_ADMIN, DYNSEC_INGEST, influx_query

pytestmark = pytest.mark.integration

WAIT_S = 5.0


# ---------------------------------------------------------------- lifecycle


def test_up_is_idempotent_and_keeps_the_running_processes(services: LocalServices) -> None:
    before = services.status()
    services.up()
    after = services.status()
    assert [item.pid for item in after] == [item.pid for item in before]
    assert all(item.running and item.pid for item in after), after


def test_status_names_every_service_with_its_address(services: LocalServices) -> None:
    addresses = {item.name: item.address for item in services.status() if item.running}
    assert addresses == {
        "mosquitto": services.mqtt_url,
        "influxdb": services.influx_backend_url,
        "nginx": services.influx_url,
    }


def test_kill_and_start_bring_the_broker_back(services: LocalServices) -> None:
    old_pid = services.pid("mosquitto")
    services.kill_service("mosquitto")
    assert services.pid("mosquitto") is None
    assert not port_open(services.ports.mqtt)
    services.start_service("mosquitto")
    assert services.pid("mosquitto") not in (None, old_pid)
    with _mqtt(services, "after-kill") as session:
        assert not session.connected.is_failure


def test_a_port_taken_by_another_process_is_reported(tmp_path: Path) -> None:
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        port = squatter.getsockname()[1]
        local = LocalServices(tmp_path, ServicePorts(mqtt=port), services=["mosquitto"])
        with pytest.raises(ServiceError, match=f"port {port} is already in use") as raised:
            local.up()
    assert "--mqtt-port" in str(raised.value.hint)


def test_a_failed_up_stops_what_it_started(tmp_path: Path) -> None:
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        mqtt_port = squatter.getsockname()[1]
        backend, front = free_ports(2)
        local = LocalServices(tmp_path, ServicePorts(mqtt_port, front, backend),
                              services=["influxdb", "mosquitto"])
        with pytest.raises(ServiceError, match=f"port {mqtt_port}"):
            local.up()
    assert [s.name for s in local.status() if s.running or s.pid] == []
    assert not local.ports_file.exists()


def test_a_service_that_dies_at_start_shows_its_log(tmp_path: Path) -> None:
    fake = tmp_path / "fake-mosquitto"
    fake.write_text("#!/bin/sh\necho 'Error: cannot parse the configuration' >&2\nexit 3\n")
    fake.chmod(0o755)
    setsid = Path(shutil.which("setsid", path="/usr/bin:/bin") or "setsid")
    binaries = Binaries(fake, fake, fake, setsid, dynsec_plugin=None)
    local = LocalServices(tmp_path / "state", ServicePorts(*free_ports(3)),
                          services=["mosquitto"], binaries=binaries, timeout_s=10)
    with pytest.raises(ServiceError, match="exited during start-up") as raised:
        local.up()
    assert "cannot parse the configuration" in str(raised.value)


def test_the_rendered_nginx_conf_passes_nginx_t(tmp_path: Path) -> None:
    (tmp_path / "temp").mkdir()
    conf = tmp_path / "nginx.conf"
    conf.write_text(render_nginx_conf(tmp_path, ServicePorts(*free_ports(3))))
    nginx = shutil.which("nginx", path="/usr/sbin:/usr/bin") or "nginx"
    result = subprocess.run([nginx, "-t", "-p", str(tmp_path), "-c", str(conf)],
                            capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr


# ---------------------------------------------------------------- InfluxDB through nginx


def _write(services: LocalServices, bucket: str, records: list[str],
           precision: str = WritePrecision.MS) -> None:
    with InfluxDBClient(url=services.influx_url, token="x", org="-") as client:
        client.write_api(write_options=SYNCHRONOUS).write(
            bucket=bucket, record=records, write_precision=precision)


def _rows(services: LocalServices, db: str, query: str) -> list[list[object]]:
    series = influx_query(services, query, db=db)[0].get("series", [])
    return [row for serie in series for row in serie["values"]]


def test_influxdb_client_writes_round_trip_through_the_v2_route(
    services: LocalServices, influx_db: str,
) -> None:
    _write(services, influx_db, [
        "power,site=s1,device=crusher-1 kw=41.5,state=\"run\" 1700000000123",
        "power,site=s1,device=crusher-2 kw=12,state=\"idle\" 1700000000124",
        "power,site=s2,device=crusher-1 kw=0.25 1700000060000",
    ])
    rows = _rows(services, influx_db, "SELECT device, site, kw, state FROM power")
    assert rows == [
        [1700000000123, "crusher-1", "s1", 41.5, "run"],
        [1700000000124, "crusher-2", "s1", 12, "idle"],
        [1700000060000, "crusher-1", "s2", 0.25, None],
    ]


@pytest.mark.parametrize(("precision", "timestamp"), [
    (WritePrecision.NS, 1_700_000_000_123_000_000),
    (WritePrecision.US, 1_700_000_000_123_000),
    (WritePrecision.MS, 1_700_000_000_123),
    (WritePrecision.S, 1_700_000_000),
])
def test_each_v2_precision_is_mapped_to_its_v1_unit(
    services: LocalServices, influx_db: str, precision: str, timestamp: int,
) -> None:
    _write(services, influx_db, [f"m f=1 {timestamp}"], precision)
    expected_ms = 1_700_000_000_000 if precision == WritePrecision.S else 1_700_000_000_123
    assert _rows(services, influx_db, "SELECT f FROM m") == [[expected_ms, 1]]


def test_a_bad_line_is_a_400_with_influxdb_s_message(
    services: LocalServices, influx_db: str,
) -> None:
    with pytest.raises(ApiException) as raised:
        _write(services, influx_db, ["m,t=a f="])
    assert raised.value.status == 400
    assert "unable to parse 'm,t=a f='" in raised.value.body


def test_an_unknown_precision_is_refused_by_the_front(
    services: LocalServices, influx_db: str,
) -> None:
    response = httpx.post(f"{services.influx_url}/api/v2/write",
                          params={"bucket": influx_db, "precision": "fortnights"},
                          content=b"m f=1 1")
    assert response.status_code == 400
    assert response.json()["code"] == "invalid"


def test_an_influxdb_outage_is_a_502_and_then_heals(
    services: LocalServices, influx_db: str,
) -> None:
    url = f"{services.influx_url}/api/v2/write"
    params = {"bucket": influx_db, "precision": "s"}
    with services.stopped("influxdb"):
        down = httpx.post(url, params=params, content=b"m f=1 1")
        assert down.status_code == 502
        assert down.json()["code"] == "unavailable"
    assert httpx.post(url, params=params, content=b"m f=2 2").status_code == 204
    assert _rows(services, influx_db, "SELECT f FROM m") == [[2000, 2]]


# ---------------------------------------------------------------- MQTT


@dataclass
class _Session:
    client: mqtt.Client
    connected: ReasonCode
    session_present: bool
    messages: queue.Queue[mqtt.MQTTMessage] = field(default_factory=queue.Queue)

    def subscribe(self, topic: str, qos: int = 1) -> list[ReasonCode]:
        granted: queue.Queue[list[ReasonCode]] = queue.Queue()
        self.client.on_subscribe = lambda _c, _u, _mid, codes, _p: granted.put(codes)
        self.client.subscribe(topic, qos=qos)
        return granted.get(timeout=WAIT_S)

    def publish(self, topic: str, payload: bytes, qos: int = 1) -> None:
        self.client.publish(topic, payload, qos=qos).wait_for_publish(timeout=WAIT_S)

    def next_message(self) -> mqtt.MQTTMessage:
        return self.messages.get(timeout=WAIT_S)


@contextmanager
def _mqtt(services: LocalServices, client_id: str, *, clean_start: bool = True,
          session_expiry_s: int = 0, account: MqttAccount | None = None) -> Iterator[_Session]:
    """A connected MQTT v5 client; its CONNACK is in `connected`, failed or not."""
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id,
                         protocol=MQTTProtocolVersion.MQTTv5, reconnect_on_failure=False)
    if account:
        client.username_pw_set(account.username, account.secret())
    connacks: queue.Queue[tuple[ReasonCode, bool]] = queue.Queue()
    client.on_connect = lambda _c, _u, flags, code, _p: connacks.put((code, flags.session_present))
    messages: queue.Queue[mqtt.MQTTMessage] = queue.Queue()
    client.on_message = lambda _c, _u, message: messages.put(message)
    properties = Properties(PacketTypes.CONNECT)
    properties.SessionExpiryInterval = session_expiry_s
    client.connect("127.0.0.1", services.ports.mqtt, clean_start=clean_start,
                   properties=properties)
    client.loop_start()
    try:
        code, present = connacks.get(timeout=WAIT_S)
        yield _Session(client, code, present, messages)
    finally:
        client.disconnect()
        client.loop_stop()


def test_a_qos1_message_goes_round_the_broker(
    services: LocalServices, topic_prefix: str,
) -> None:
    topic = f"{topic_prefix}/line-1/meter-1/data"
    with _mqtt(services, f"sub-{uuid.uuid4().hex[:8]}") as subscriber, \
            _mqtt(services, f"pub-{uuid.uuid4().hex[:8]}") as publisher:
        assert [code.value for code in subscriber.subscribe(f"{topic_prefix}/#")] == [1]
        publisher.publish(topic, b'{"kwh": 1}')
        message = subscriber.next_message()
    assert (message.topic, message.payload, message.qos) == (topic, b'{"kwh": 1}', 1)


def test_a_broker_restart_keeps_a_persistent_session_s_queued_message(
    services: LocalServices, topic_prefix: str,
) -> None:
    subscriber_id = f"ingest-{uuid.uuid4().hex[:8]}"
    with _mqtt(services, subscriber_id, clean_start=False, session_expiry_s=600) as subscriber:
        subscriber.subscribe(f"{topic_prefix}/#")
    with _mqtt(services, f"pub-{uuid.uuid4().hex[:8]}") as publisher:
        publisher.publish(f"{topic_prefix}/l/d/data", b"queued while away")

    services.restart_service("mosquitto")

    with _mqtt(services, subscriber_id, clean_start=False, session_expiry_s=600) as subscriber:
        assert subscriber.session_present
        message = subscriber.next_message()
    assert (message.payload, message.qos) == (b"queued while away", 1)


# ---------------------------------------------------------------- dynamic security


def test_dynsec_refuses_anonymous_clients(dynsec_services: LocalServices) -> None:
    with _mqtt(dynsec_services, "anonymous") as session:
        assert session.connected.is_failure
        assert session.connected.getName() == "Not authorized"


def test_dynsec_refuses_a_wrong_password(dynsec_services: LocalServices) -> None:
    intruder = MqttAccount(DYNSEC_ADMIN.username, "guess")
    with _mqtt(dynsec_services, "guesser", account=intruder) as session:
        assert session.connected.is_failure


def test_dynsec_admin_publishes_and_a_service_account_reads_a_shared_subscription(
    dynsec_services: LocalServices, topic_prefix: str,
) -> None:
    with _mqtt(dynsec_services, "ingest-1", account=DYNSEC_INGEST) as ingest, \
            _mqtt(dynsec_services, "admin-1", account=DYNSEC_ADMIN) as admin:
        assert not admin.connected.is_failure
        granted = ingest.subscribe(f"$share/ingest/{topic_prefix}/#")
        assert [code.value for code in granted] == [1]
        refused = ingest.subscribe("$CONTROL/dynamic-security/#")
        assert refused[0].is_failure
        admin.publish(f"{topic_prefix}/l/d/data", b"hello")
        assert ingest.next_message().payload == b"hello"


# ---------------------------------------------------------------- CLI


def test_the_cli_brings_services_up_reports_them_and_takes_them_down(tmp_path: Path) -> None:
    runner = CliRunner()
    state = ["--state-dir", str(tmp_path)]
    mqtt_port, influx_port, backend_port = free_ports(3)
    ports = ["--mqtt-port", str(mqtt_port), "--influx-port", str(influx_port),
             "--influx-backend-port", str(backend_port)]
    try:
        started = runner.invoke(services_app, ["up", *state, *ports])
        assert started.exit_code == 0, started.output
        # Without port options, `status` finds the ports that `up` saved.
        shown = runner.invoke(services_app, ["status", *state])
        assert shown.output.count("running") == 3, shown.output
        assert f"mqtt://127.0.0.1:{mqtt_port}" in shown.output
    finally:
        stopped = runner.invoke(services_app, ["down", *state])
    assert stopped.exit_code == 0, stopped.output
    assert stopped.output.count("stopped") == 3, stopped.output
