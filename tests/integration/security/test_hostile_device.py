"""A hostile (or simply buggy) device against the real broker, ingest and InfluxDB.

Each numbered case of issue 13, and variants: a device that tries to take over another
client's session, read or write other devices' topics, plant retained messages, crash or
stall ingest with one message, flip another device's field types, flood ingest with topics,
or reuse a revoked identity. The broker runs with dynamic security exactly as
`loopmeter services` configures it; device logins are made by the gateway's own
`DynsecAdmin`, and ingest logs in with its service account.
"""

from __future__ import annotations

import json
import secrets
import socket
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from pydantic import SecretStr

from adapters.clock import SystemClock
from adapters.influx import InfluxQL, InfluxSettings
from adapters.mqtt import Credentials, MqttSettings, wire
from contract import DeviceId, EquipmentType, MessageKind
from gateway.broker import DynsecAdmin, MqttLink
from gateway.core.errors import Conflict
from gateway.devices import DeviceService
from gateway.registry import Registry
from ingest_service.service import IngestService
from ingest_service.source import MAX_PACKET_BYTES
from loopmeter.services import LocalServices
from tests.gateway.probe import Probe
from tests.ingest_service.support import data_payload, ingest_settings, telemetry_rows
from tests.servers import DYNSEC_ADMIN, DYNSEC_INGEST
from tests.support.live import wait_for

pytestmark = pytest.mark.integration

NOT_AUTHORIZED = 0x87
GRANTED = 1


@dataclass(frozen=True)
class Device:
    id: DeviceId
    password: str
    url: str

    def probe(self, client_id: str | None = None, *, clean_start: bool = True) -> Probe:
        return Probe(self.url, self.id.client_id, self.password,
                     client_id or self.id.client_id, clean_start=clean_start)

    def topic(self, kind: MessageKind = MessageKind.DATA) -> str:
        return self.id.topic(kind)


@pytest.fixture
def admin(dynsec_services: LocalServices) -> Iterator[DynsecAdmin]:
    settings = MqttSettings(url=dynsec_services.mqtt_url, username=DYNSEC_ADMIN.username,
                            password=SecretStr(DYNSEC_ADMIN.secret()))
    link = MqttLink(settings, 5.0)
    broker = DynsecAdmin(link, 5.0)
    link.open()
    yield broker
    link.close()


@pytest.fixture
def devices(admin: DynsecAdmin, dynsec_services: LocalServices,
            unique_site: str) -> dict[str, Device]:
    """Two provisioned devices of the test's site, `a` and `b`, as the gateway makes them."""
    made = {}
    for name in ("a", "b"):
        device = DeviceId(unique_site, "l1", name)
        password = secrets.token_urlsafe(16)
        admin.create_device(device.client_id, password, device.prefix,
                            client_id=device.client_id)
        made[name] = Device(device, password, dynsec_services.mqtt_url)
    return made


@pytest.fixture
def ingest(dynsec_services: LocalServices, services: LocalServices, influx_db: str,
           unique_site: str, tmp_path: Path) -> Iterator[IngestService]:
    """An ingest worker on the dynsec broker with its service account, writing to InfluxDB."""
    mqtt = MqttSettings(url=dynsec_services.mqtt_url, username=DYNSEC_INGEST.username,
                        password=SecretStr(DYNSEC_INGEST.secret()))
    settings = ingest_settings(services, influx_db, tmp_path, mqtt=mqtt, site=unique_site)
    with IngestService(settings) as service:
        wait_for(lambda: service.source.connected, 10, "ingest to connect")
        yield service
    assert service.failure is None


def _stored(services: LocalServices, database: str, site: str) -> list[tuple[str, int, float]]:
    return telemetry_rows(services.influx_url, database, site)


def _letters(service: IngestService) -> Counter[str]:
    return Counter(service.stats.dead_letters)


def _now_ms() -> int:
    return SystemClock().now_ms()


def _data(seq: int, ts: int) -> bytes:
    return json.dumps({"v": 1, "device_type": "electricity_meter", "seq": seq,
                       "samples": [{"ts": ts, "values": {"power_kw": 1.0}}]}).encode()


# ---------------------------------------------------------------- 1. identity


def test_a_device_cannot_take_over_ingest_s_session_nor_another_device_s(
        devices: dict[str, Device], ingest: IngestService, services: LocalServices,
        influx_db: str, unique_site: str) -> None:
    a, b = devices["a"], devices["b"]
    with b.probe() as victim:
        assert victim.accepted
        for stolen in (ingest.settings.client_id, b.id.client_id, "loopmeter-gateway",
                       "anything-else"):
            for clean_start in (False, True):
                with a.probe(stolen, clean_start=clean_start) as hijack:
                    assert not hijack.accepted, (stolen, clean_start)
        assert not victim.disconnected.is_set(), "another login kicked the device off"
        assert victim.publish(b.topic(), data_payload(0, _now_ms() - 1000)) == 0
    wait_for(lambda: len(_stored(services, influx_db, unique_site)) == 1, 20,
             "the victim's data to reach InfluxDB")
    assert ingest.source.connected and ingest.source.connections == 1
    with a.probe(clean_start=False) as own:  # its own id, persistent session: fine
        assert own.accepted


def test_a_device_subscribes_to_nothing_but_its_own_subtree(
        devices: dict[str, Device], ingest: IngestService) -> None:
    a, b = devices["a"], devices["b"]
    with a.probe() as spy, b.probe() as other:
        for topic_filter in ("#", "loopmeter/#", "loopmeter/v1/+/+/+/data",
                             f"$share/g/{a.id.prefix}/#", "$share/g/loopmeter/#",
                             f"$share/{ingest.settings.group}/loopmeter/#",
                             f"{b.id.prefix}/#", f"{b.id.prefix}/data", "$SYS/#",
                             "$CONTROL/dynamic-security/#", "+/#"):
            assert spy.subscribe(topic_filter) == NOT_AUTHORIZED, topic_filter
        assert spy.subscribe(f"{a.id.prefix}/#") == GRANTED
        assert other.publish(b.topic(), data_payload(0, _now_ms() - 1000)) == 0
        barrier = b"own status, after the other device's message"
        assert spy.publish(a.topic(MessageKind.STATUS), barrier) == 0
        assert spy.next_message().payload == barrier  # nothing of b's came first


def test_a_device_publishes_nowhere_but_under_its_own_prefix(
        devices: dict[str, Device], ingest: IngestService) -> None:
    a, b = devices["a"], devices["b"]
    payload = data_payload(0, _now_ms() - 1000)
    with a.probe() as forger:
        for topic in (b.topic(), f"{b.id.prefix}/birth", f"loopmeter/v1/{a.id.site}/l2/a/data",
                      "loopmeter/v1/other/l1/a/data", "elsewhere/x", "$SYS/x",
                      f"{a.id.prefix}/ack/durable", "$CONTROL/dynamic-security/v1"):
            for retain in (False, True):
                assert forger.publish(topic, payload, retain=retain) == NOT_AUTHORIZED, topic
    with b.probe() as victim:
        assert victim.subscribe(f"{b.id.prefix}/#") == GRANTED
        barrier = b"barrier"
        assert victim.publish(b.topic(MessageKind.STATUS), barrier) == 0
        assert victim.next_message().payload == barrier  # no retained message was planted
    wait_for(lambda: sum(_letters(ingest).values()) == 1, 10, "the barrier's dead letter")
    assert ingest.stats.messages_in == 1  # the barrier: nothing the forger sent arrived


def _raw_session(device: Device) -> socket.socket:
    """A bare MQTT 5 connection as `device`, to send what a well-behaved library refuses."""
    host, port = device.url.removeprefix("mqtt://").split(":")
    sock = socket.create_connection((host, int(port)), timeout=10)
    sock.sendall(wire.connect(device.id.client_id, keepalive_s=30, clean_start=True,
                              session_expiry_s=0, receive_maximum=None,
                              credentials=Credentials(device.id.client_id, device.password)))
    (connack,) = wire.PacketReader().feed(sock.recv(4096))
    assert wire.parse_connack(connack).reason == 0
    return sock


def _publish_qos0(topic: str, payload: bytes) -> bytes:
    encoded = topic.encode()
    body = len(encoded).to_bytes(2, "big") + encoded + b"\x00" + payload  # no properties
    length, remaining = bytearray(), len(body)
    while True:
        remaining, digit = divmod(remaining, 128)
        length.append(digit | (0x80 if remaining else 0))
        if not remaining:
            return bytes((0x30, *length)) + body


@pytest.mark.parametrize("topic", ["loopmeter/v1/{site}/l1/+/data", "loopmeter/v1/{site}/#"])
def test_a_wildcard_publish_ends_the_connection_and_reaches_nobody(
        devices: dict[str, Device], ingest: IngestService, topic: str) -> None:
    a = devices["a"]
    with _raw_session(a) as sock:
        sock.sendall(_publish_qos0(topic.format(site=a.id.site), b"{}"))
        reply = sock.recv(4096)  # the broker's DISCONNECT, or the socket closed
        assert reply == b"" or reply[0] >> 4 == wire.PacketType.DISCONNECT
    with a.probe() as again:  # the device itself is not locked out by its mistake
        assert again.publish(a.topic(MessageKind.STATUS), b"{}") == 0
    wait_for(lambda: sum(_letters(ingest).values()) == 1, 10, "the status message")
    assert _letters(ingest) == {"unknown_version": 1} and ingest.stats.messages_in == 1


# ---------------------------------------------------------------- 2. one message hurts itself


def test_seq_0_then_2_to_the_50_neither_crashes_nor_stalls_ingest(
        devices: dict[str, Device], ingest: IngestService, services: LocalServices,
        influx_db: str, unique_site: str) -> None:
    a, b = devices["a"], devices["b"]
    base = _now_ms() - 60_000
    with a.probe() as hostile, b.probe() as healthy:
        for index, seq in enumerate((0, 2**50, 2**62, 1)):
            assert hostile.publish(a.topic(), _data(seq, base + index)) == 0
        for seq in range(20):
            assert healthy.publish(b.topic(), data_payload(seq, base + seq * 1000)) == 0
    wait_for(lambda: len(_stored(services, influx_db, unique_site)) == 24, 30,
             "every sample of both devices")
    assert ingest.failure is None and ingest.stats.messages_in == 24
    assert not ingest.stats.dead_letters


def test_an_oversized_payload_is_refused_or_dead_lettered_and_the_stream_goes_on(
        devices: dict[str, Device], ingest: IngestService, services: LocalServices,
        influx_db: str, unique_site: str) -> None:
    a = devices["a"]
    with a.probe() as device:  # over the broker's packet limit: refused at the door
        device.client.publish(a.topic(), b"x" * (MAX_PACKET_BYTES + 1), qos=1)
        assert device.disconnected.wait(10), "the broker took a packet over its limit"
    with a.probe() as device:  # over the contract's limit, within the broker's
        assert device.publish(a.topic(), b"[" + b"1," * 530_000 + b"1]") == 0
        assert device.publish(a.topic(), data_payload(0, _now_ms() - 1000)) == 0
    wait_for(lambda: len(_stored(services, influx_db, unique_site)) == 1, 20, "the sample")
    wait_for(lambda: sum(_letters(ingest).values()) == 1, 10, "the dead letter")
    assert _letters(ingest) == {"too_large": 1} and ingest.stats.messages_in == 2


def test_very_many_topics_are_each_dead_lettered_and_cost_nothing_else(
        devices: dict[str, Device], ingest: IngestService, services: LocalServices,
        influx_db: str, unique_site: str) -> None:
    a, b = devices["a"], devices["b"]
    base = _now_ms() - 60_000
    with a.probe() as flood, b.probe() as healthy:
        for index in range(2000):
            assert flood.publish(f"{a.id.prefix}/x{index}/data", b"{}") == 0
        for seq in range(10):
            assert healthy.publish(b.topic(), data_payload(seq, base + seq * 1000)) == 0
    wait_for(lambda: ingest.stats.messages_in == 2010, 60, "every message")
    wait_for(lambda: len(_stored(services, influx_db, unique_site)) == 10, 20, "b's samples")
    assert _letters(ingest) == {"bad_topic": 2000}


@pytest.mark.parametrize("suffix", ["data/extra", "data/", "", "DATA", "nonsense",
                                    "birth/ack"])
def test_a_malformed_topic_under_the_prefix_is_dead_lettered_never_lost(
        devices: dict[str, Device], ingest: IngestService, suffix: str) -> None:
    a = devices["a"]
    topic = f"{a.id.prefix}/{suffix}" if suffix else a.id.prefix
    with a.probe() as device:
        assert device.publish(topic, data_payload(0, _now_ms() - 1000)) == 0
    wait_for(lambda: sum(ingest.stats.dead_letters.values()) == 1, 20, "the dead letter")
    (entry,) = ingest.dead_letters.entries()
    assert (entry.letter.reason, entry.letter.topic) == ("bad_topic", topic)


# ---------------------------------------------------------------- 3. types per declaration


def test_one_device_s_custom_string_cannot_make_another_device_s_numbers_refused(
        devices: dict[str, Device], ingest: IngestService, services: LocalServices,
        influx_db: str, unique_site: str) -> None:
    a, b = devices["a"], devices["b"]
    ts = _now_ms() - 1000

    def message(value: object) -> bytes:
        return json.dumps({"v": 1, "device_type": "electricity_meter", "seq": 0, "samples": [
            {"ts": ts, "values": {"x_mode": value, "power_kw": 5.0, "energy_kwh": 9.0}}]}).encode()

    with a.probe() as first:
        assert first.publish(a.topic(), message("auto")) == 0
    wait_for(lambda: len(_stored(services, influx_db, unique_site)) == 1, 20, "a's sample")
    with b.probe() as second:
        assert second.publish(b.topic(), message(3)) == 0
        assert second.publish(b.topic(), json.dumps({  # and a wrong type, alone
            "v": 1, "device_type": "electricity_meter", "seq": 1, "samples": [
                {"ts": ts + 1, "values": {"power_kw": "high", "energy_kwh": 9.5}}]}).encode()) == 0
    wait_for(lambda: ingest.stats.messages_in == 3, 20, "b's messages")
    reader = InfluxQL(InfluxSettings(url=services.influx_url, database=influx_db))

    def rows() -> list[list[object]]:
        found = reader.query('SELECT "x_mode", "x_mode.text", "energy_kwh" FROM "telemetry" '
                             'WHERE "site" = $site', {"site": unique_site})
        return [row[1:] for series in found for row in series.values]

    try:
        wait_for(lambda: len(rows()) == 3, 20, "every sample")
        stored = rows()
    finally:
        reader.close()
    assert {tuple(row) for row in stored} == {
        (None, "auto", 9.0), (3.0, None, 9.0), (None, None, 9.5)}
    assert _letters(ingest) == {"schema": 1}


# ---------------------------------------------------------------- 4. identity takeover


def test_a_revoked_device_id_is_never_registered_again(admin: DynsecAdmin, tmp_path: Path,
                                                       dynsec_services: LocalServices,
                                                       unique_site: str) -> None:
    with Registry(tmp_path / "gateway.sqlite") as registry:
        service = DeviceService(registry, admin, SystemClock())
        device = DeviceId(unique_site, "l1", "victim")
        record, credentials = service.register(device, EquipmentType.BELT_SCALE, {}, "tok_a")
        service.revoke(record)
        for owner in ("tok_a", "tok_b"):
            with pytest.raises(Conflict, match="never reused"):
                service.register(device, EquipmentType.BELT_SCALE, {}, owner)
    revoked = Device(device, credentials.password, dynsec_services.mqtt_url)
    with revoked.probe() as old:
        assert not old.accepted
