"""The gateway on real servers: dynamic-security Mosquitto for devices, InfluxDB for metrics."""

from __future__ import annotations

import json
import queue
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from adapters.clock import SystemClock
from adapters.influx import InfluxQL, InfluxSettings, PointWriter
from adapters.mqtt import MqttSettings, Session
from carbon import register_increase
from carbon.counters import Reading
from carbon.influx_io import TelemetryReader
from carbon.ledger import Ledger, SQLiteStore
from carbon.lifecycle import DeviceState
from carbon.periods import Granularity, parse_period, sub_periods
from carbon.service import build
from carbon.settings import CarbonSettings
from contract import (
    CATALOGUE,
    AgentInfo,
    BirthMessage,
    DeviceId,
    EquipmentType,
    MessageKind,
    MetricDeclaration,
    Topic,
    decode_ack,
    to_points,
)
from contract.points import TELEMETRY, Point, device_tags
from gateway.core.config import CarbonReportSettings, GatewaySettings
from gateway.core.security import Role
from gateway.main import create_app
from gateway.registry import Registry
from gateway.tokens import create_token
from ingest_service.source import MqttSource
from loopmeter.services import LocalServices
from tests.carbon.plant import CRUSHER, DAY, HORIZON, MIN, TZ, Plant
from tests.gateway.carbon_day import LABEL, close_day
from tests.gateway.probe import Probe
from tests.servers import DYNSEC_ADMIN, DYNSEC_INGEST
from tests.support.clock import FakeClock
from tests.support.live import wait_for

pytestmark = pytest.mark.integration
NOT_AUTHORIZED = 0x87
QUARTER = 900_000


class Live:
    def __init__(self, client: TestClient, admin: dict[str, Any], mqtt_url: str) -> None:
        self.client = client
        self.admin = admin
        self.mqtt_url = mqtt_url

    def register(self, site: str, device: str = "d1") -> dict[str, Any]:
        body = {"site": site, "line": "l1", "device": device, "device_type": "belt_scale"}
        response = self.client.post("/v1/devices", json=body, headers=self.admin)
        assert response.status_code == 201, response.text
        bundle: dict[str, Any] = response.json()
        return bundle

    def probe(self, bundle: dict[str, Any], password: str | None = None,
              client_id: str | None = None) -> Probe:
        return Probe(self.mqtt_url, bundle["username"], password or bundle["password"],
                     client_id or bundle["client_id"])


@pytest.fixture
def live(tmp_path: Path, dynsec_services: LocalServices, services: LocalServices,
         influx_db: str) -> Iterator[Live]:
    settings = GatewaySettings(
        registry_path=tmp_path / "gateway.sqlite",
        mqtt=MqttSettings(url=dynsec_services.mqtt_url, username=DYNSEC_ADMIN.username,
                          password=SecretStr(DYNSEC_ADMIN.secret())),
        influx=InfluxSettings(url=services.influx_url, database=influx_db),
        carbon=CarbonReportSettings(ledger_path=tmp_path / "ledger.sqlite"))
    registry = Registry(settings.registry_path)
    _, token = create_token(registry, Role.ADMIN, "it", SystemClock())
    registry.close()
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        yield Live(client, {"Authorization": f"Bearer {token}"}, dynsec_services.mqtt_url)


def _data(seq: int) -> bytes:
    ts = SystemClock().now_ms()
    return json.dumps({"v": 1, "device_type": "belt_scale", "seq": seq,
                       "samples": [{"ts": ts, "values": {"rate_tph": 3.0}}]}).encode()


def test_device_publishes_only_under_its_own_prefix(live: Live, unique_site: str) -> None:
    mine, theirs = live.register(unique_site, "d1"), live.register(unique_site, "d2")
    with live.probe(mine) as device:
        assert device.accepted
        assert device.publish(f"{mine['topic_prefix']}/data", _data(1)) == 0
        assert device.publish(f"{theirs['topic_prefix']}/data", _data(1)) == NOT_AUTHORIZED
        assert device.publish("loopmeter/v1/other/l1/d1/data", _data(1)) == NOT_AUTHORIZED
    with live.probe(mine, password="wrong") as impostor:
        assert not impostor.accepted


def test_a_device_login_is_pinned_to_its_own_client_id(live: Live, unique_site: str) -> None:
    mine, theirs = live.register(unique_site, "d1"), live.register(unique_site, "d2")
    assert mine["client_id"] == mine["username"] == f"dev.{unique_site}.l1.d1"
    for other in (theirs["client_id"], "loopmeter-ingest-0", "anything"):
        with live.probe(mine, client_id=other) as hijack:
            assert not hijack.accepted, other


def test_revoked_device_is_kicked_and_cannot_reconnect(live: Live, unique_site: str) -> None:
    bundle = live.register(unique_site)
    with live.probe(bundle) as device:
        assert device.accepted
        revoked = live.client.delete(f"/v1/devices/{bundle['device']['id']}",
                                     headers=live.admin)
        assert revoked.status_code == 200
        assert device.disconnected.wait(10), "the revoked device stayed connected"
    with live.probe(bundle) as again:
        assert not again.accepted


def test_rotation_retires_the_old_password(live: Live, unique_site: str) -> None:
    bundle = live.register(unique_site)
    device_id = bundle["device"]["id"]
    rotated = live.client.post(f"/v1/devices/{device_id}/rotate", headers=live.admin).json()
    with live.probe(bundle) as old:
        assert not old.accepted
    with live.probe(rotated) as new:
        assert new.accepted
        assert new.publish(f"{rotated['topic_prefix']}/data", _data(1)) == 0


def test_a_refused_dynsec_command_is_503(live: Live, unique_site: str) -> None:
    bundle = live.register(unique_site)
    gateway = live.client.app.state.gateway  # type: ignore[attr-defined]
    gateway.adapters.broker.delete_device(bundle["username"])  # gone behind the gateway's back
    rotated = live.client.post(f"/v1/devices/{bundle['device']['id']}/rotate",
                               headers=live.admin)
    assert rotated.status_code == 503
    assert "Client not found" in rotated.json()["detail"]


def test_http_ingest_goes_through_the_broker(live: Live, unique_site: str) -> None:
    bundle = live.register(unique_site)
    device_id = bundle["device"]["id"]
    body = _data(5)
    with Probe(live.mqtt_url, DYNSEC_INGEST.username, DYNSEC_INGEST.secret()) as ingest:
        ingest.subscribe(f"{bundle['topic_prefix']}/#")
        response = live.client.post(f"/v1/devices/{device_id}/data", content=body,
                                    headers={"Authorization": f"Bearer {bundle['ingest_token']}"})
        assert response.status_code == 202, response.text
        message = ingest.next_message()
    assert (message.topic, message.payload) == (f"{bundle['topic_prefix']}/data", body)
    # The gateway's own subscription saw it too: liveness reflects the message.
    device = live.client.get(f"/v1/devices/{device_id}", headers=live.admin).json()
    assert device["liveness"]["last_seq"] == 5


def test_metrics_come_from_influxdb(live: Live, services: LocalServices, influx_db: str,
                                    unique_site: str) -> None:
    now = SystemClock().now_ms() // 60_000 * 60_000 - 600_000
    tags = (("device", "d1"), ("device_type", "belt_scale"), ("line", "l1"),
            ("site", unique_site))
    other = (("device", "d2"), ("device_type", "belt_scale"), ("line", "l1"),
             ("site", unique_site))
    points = [Point(TELEMETRY, tags, {"rate_tph": 10.0, "mass_t": 100.0}, now),
              Point(TELEMETRY, tags, {"rate_tph": 20.0, "mass_t": 103.0}, now + 60_000),
              Point(TELEMETRY, other, {"rate_tph": 6.0, "mass_t": 50.0}, now),
              Point(TELEMETRY, other, {"rate_tph": 6.0, "mass_t": 51.0}, now + 60_000)]
    with PointWriter(InfluxSettings(url=services.influx_url, database=influx_db)) as writer:
        writer.write(points)
    params = {"site": unique_site, "metric": "mass_t", "aggregate": "spread"}
    body = live.client.get("/v1/metrics/aggregate", params=params, headers=live.admin).json()
    assert {d["device"]: d["value"] for d in body["devices"]} == {"d1": 3.0, "d2": 1.0}
    assert body["total"] == 4.0
    params = {"site": unique_site, "line": "l1", "device": "d1", "metric": "rate_tph",
              "every": "1m"}
    series = live.client.get("/v1/metrics/series", params=params, headers=live.admin).json()
    assert [p["value"] for p in series["series"][0]["points"]] == [10.0, 20.0]
    # A quote in a value is data, not syntax: it matches nothing.
    params = {"site": unique_site, "metric": "rate_tph", "line": "l1"}
    hostile = {**params, "line": "l1' OR site =~ /.*/"}
    assert live.client.get("/v1/metrics/aggregate", params=hostile,
                           headers=live.admin).status_code == 422


def test_counter_series_and_aggregate_agree_with_the_engine(
        live: Live, services: LocalServices, influx_db: str, unique_site: str) -> None:
    """Through real InfluxDB: a main meter's rollover, a crusher's reading stepped back and a
    smelter's undeclared meter restart, per 5-minute bucket and over a quarter-hour: each
    step counts in each bucket in proportion to its time there."""
    base = SystemClock().now_ms() // QUARTER * QUARTER - 2 * QUARTER
    registers = {
        ("main-meter", "electricity_meter"): [(3, 99_999_990.0), (6, 12.0), (12, 20.0)],
        ("crusher", "crusher_station"): [(0, 500.0), (1, 515.0), (4, 514.0), (6, 530.0),
                                         (11, 531.0)],
        ("smelter", "smelter_aluminium"): [(0, 800.0), (2, 810.0), (6, 5.0), (7, 9.0),
                                           (11, 20.0)]}
    points = [Point(TELEMETRY, (("device", device), ("device_type", kind), ("line", "l1"),
                                ("site", unique_site)),
                    {"energy_kwh": value}, base + minute * 60_000)
              for (device, kind), readings in registers.items() for minute, value in readings]
    with PointWriter(InfluxSettings(url=services.influx_url, database=influx_db)) as writer:
        writer.write(points)
    window = {"site": unique_site, "metric": "energy_kwh", "aggregate": "spread",
              "start": _iso(base), "end": _iso(base + 900_000)}
    series = live.client.get("/v1/metrics/series", params={**window, "every": "5m"},
                             headers=live.admin).json()["series"]
    buckets = {s["device"]: [p["value"] for p in s["points"]] for s in series}
    # The meter: 22 kWh from minute 3 to 6, 8 from 6 to 12. The crusher: 15 from 0 to 1,
    # 15 from 1 to 6 (514 at minute 4 is skipped), 1 from 6 to 11. The smelter: 10 from 0
    # to 2, nothing known from 2 to 6 (a restart), 4 from 6 to 7, 11 from 7 to 11.
    assert buckets == {"main-meter": pytest.approx([22 * 2 / 3, 22 / 3 + 8 * 4 / 6, 8 * 2 / 6]),
                       "crusher": pytest.approx([15 + 12, 3 + 0.8, 0.2]),
                       "smelter": pytest.approx([10, 4 + 11 * 3 / 4, 11 / 4])}
    assert {s["device"]: [p["time"] for p in s["points"]] for s in series}["crusher"] == [
        _iso(base + k * 300_000) for k in range(3)]
    body = live.client.get("/v1/metrics/aggregate", params=window, headers=live.admin).json()
    assert {d["device"]: d["value"] for d in body["devices"]} == pytest.approx({
        device: sum(values) for device, values in buckets.items()})
    assert body["total"] == pytest.approx(56.0)  # the crusher and the smelter, not the meter
    assert {d["device"]: d["coverage"] for d in body["devices"]} == pytest.approx(
        {"main-meter": 9 / 15, "crusher": 11 / 15, "smelter": 7 / 15})


def test_counter_spreads_are_bounded_by_the_maximum_a_device_declared_in_its_birth(
        live: Live, services: LocalServices, influx_db: str, unique_site: str) -> None:
    """Through real InfluxDB: three crushers' kWh registers drop from 999,995 to 20 in 5
    minutes (25 kWh: the catalogue's 2,000 kW allows a rollover over the 10-minute rate
    window, 500 kWh; a 50 kW declaration, 12.5 kWh, does not). The crusher was born inside
    the window declaring 50 kW, the mill before it (its last birth 50 kW, an older one
    none), the breaker never: only the breaker's drop is a rollover, on /aggregate and
    /series alike, and the gateway reads the births as the engine's reader does."""
    base = SystemClock().now_ms() // QUARTER * QUARTER - 2 * QUARTER
    readings = [(0, 999_990.0), (3, 999_995.0), (8, 20.0), (13, 30.0)]
    births = {"crusher": [(2, 50.0)], "mill": [(-120, None), (-60, 50.0)], "breaker": []}
    with PointWriter(InfluxSettings(url=services.influx_url, database=influx_db)) as writer:
        writer.write([*(Point(TELEMETRY, _crusher_tags(unique_site, device), {
            "energy_kwh": value}, base + minute * 60_000)
            for device in births for minute, value in readings),
            *(_birth(unique_site, device, base + minute * 60_000, kw)
              for device, declared in births.items() for minute, kw in declared)])
    window = {"site": unique_site, "line": "l1", "metric": "energy_kwh",
              "aggregate": "spread", "start": _iso(base), "end": _iso(base + 900_000)}
    body = live.client.get("/v1/metrics/aggregate", params=window, headers=live.admin).json()
    spreads = {d["device"]: d["value"] for d in body["devices"]}
    # 5 kWh, then across the drop 25 (a rollover) or nothing (a restart), then 10.
    assert spreads == {"crusher": 15.0, "mill": 15.0, "breaker": 40.0}
    series = live.client.get("/v1/metrics/series", params={**window, "every": "5m"},
                             headers=live.admin).json()["series"]
    buckets = {s["device"]: [p["value"] for p in s["points"]] for s in series}
    # Steps count in proportion to their time in each bucket (minute 3 to 8, 8 to 13).
    assert buckets == {"crusher": [5.0, 4.0, 6.0], "mill": [5.0, 4.0, 6.0],
                       "breaker": [15.0, 19.0, 6.0]}
    assert {device: sum(values) for device, values in buckets.items()} == spreads
    # The engine's reader, over the same database and quarter, reads the same births and
    # makes the same figure of it.
    with InfluxQL(InfluxSettings(url=services.influx_url, database=influx_db)) as ql:
        inputs = TelemetryReader(ql, 86_400_000).read(unique_site, base, base + QUARTER)
    engine = {r.device.device: float(register_increase(
        r.device.type, r.metric, r.readings,
        births=inputs.devices.get(r.device.key, DeviceState()).births,
        bounds=(base, base + QUARTER)).amount)
        for r in inputs.registers}
    assert engine == spreads


def test_a_quarters_counter_spread_is_what_the_engine_closes_for_it(
        live: Live, services: LocalServices, influx_db: str, unique_site: str,
        tmp_path: Path) -> None:
    """Through real InfluxDB, the engine's close and the HTTP API: the synthetic plant's
    crusher reads its kWh register every 2 to 4 minutes, off the quarter-hours (so steps
    straddle every bound), rolls it over at 10^5 at 03:25, steps back once at 03:44 and
    declares a reset to zero at 03:52 (a `device_event`).
    For each quarter of that hour and for the hour, the gateway's spread of each production
    device is the electricity the engine closes for it (no substitution: every quarter is
    covered), to float rounding."""
    roll = DAY.start_ms + 205 * MIN + 10_000
    times = [DAY.start_ms - 20 * MIN + k * 170_000 + k % 4 * 23_000 for k in range(560)]
    values = {t: (100_000 + Decimal(t - roll) * 5 / MIN) % 100_000 for t in times}
    # Skipped, the reading leaves a step of 294 s: no gap (the engine's max_gap_s is 300).
    stepped = next(t for k, t in enumerate(times) if t >= DAY.start_ms + 224 * MIN and k % 4 == 0)
    values[stepped] = values[max(t for t in times if t < stepped)] - 3  # a clock set back
    plant = Plant.day(unique_site)
    plant.readings[CRUSHER, "energy_kwh"] = [Reading(t, v.quantize(Decimal("0.001")))
                                             for t, v in sorted(values.items())]
    plant.reset(CRUSHER, "energy_kwh", next(t for t in times if t >= DAY.start_ms + 232 * MIN))
    influx = InfluxSettings(url=services.influx_url, database=influx_db)
    with PointWriter(influx) as writer:
        points = plant.points()
        for start in range(0, len(points), 5000):
            writer.write(points[start:start + 5000])
    hour = parse_period("2026-10-05T03", TZ)
    periods = [*sub_periods(hour, Granularity.QUARTER, TZ), hour]
    settings = CarbonSettings(influx=influx, ledger_path=tmp_path / "engine.sqlite",
                              keys_dir=tmp_path / "keys")
    with build(settings, FakeClock(DAY.end_ms + HORIZON)) as parts:
        closed = parts.engine.close_all(unique_site, periods)
    assert [c.outcome for c in closed] == ["closed"] * 5
    assert sorted(c.period for c in closed) == sorted(periods)
    for done in sorted(closed, key=lambda c: c.period.end_ms - c.period.start_ms):
        period = done.period
        rows = {r["device"]: r for r in done.computation.content["results"]["rows"]
                if r["level"] == "device"}
        energy = {device: row["quality"]["electricity_kwh"] for device, row in rows.items()}
        assert all(Decimal(str(e["substituted"])) == 0 and e["covered_ms"] == e["duration_ms"]
                   for e in energy.values()), energy
        # Lines of the synthetic plant are upper case, which the gateway's scope refuses:
        # the site's spread, per device.
        params = {"site": unique_site, "metric": "energy_kwh", "aggregate": "spread",
                  "start": _iso(period.start_ms), "end": _iso(period.end_ms)}
        response = live.client.get("/v1/metrics/aggregate", params=params, headers=live.admin)
        assert response.status_code == 200, response.text
        devices = {d["device"]: d for d in response.json()["devices"]}
        assert {device: devices[device]["value"] for device in energy} == pytest.approx(
            {device: float(Decimal(str(e["amount"]))) for device, e in energy.items()},
            rel=1e-12), period.label
        assert all(devices[device]["coverage"] == 1.0 for device in energy)
    # The hour's: the engine and the gateway saw the rollover, the step back and the reset.
    crusher = {"rollover_inferred", "counter_backwards", "reset"}
    assert crusher <= set(rows[CRUSHER.device]["flags"])
    assert crusher <= set(devices[CRUSHER.device]["flags"])


def _crusher_tags(site: str, device: str) -> tuple[tuple[str, str], ...]:
    return device_tags(DeviceId(site, "l1", device), EquipmentType.CRUSHER_STATION.value)


def _birth(site: str, device: str, ts: int, power_kw: float | None) -> Point:
    """A crusher's birth as ingest stores it (`contract.to_points`), declaring `power_kw`."""
    metrics = [MetricDeclaration(name=m.name, unit=m.unit, kind=m.kind, period_s=60,
                                 maximum=power_kw if m.name == "power_kw" else None)
               for m in CATALOGUE[EquipmentType.CRUSHER_STATION].metrics]
    message = BirthMessage(ts=ts, session=1, device_type=EquipmentType.CRUSHER_STATION,
                           next_seq=0, agent=AgentInfo(name="it", version="1"),
                           metrics=metrics)
    [point] = to_points(Topic(DeviceId(site, "l1", device), MessageKind.BIRTH), message, ts)
    return point


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat().replace("+00:00", "Z")


def test_reports_come_from_the_carbon_ledger_file(live: Live, tmp_path: Path) -> None:
    record = close_day(Ledger(SQLiteStore(tmp_path / "ledger.sqlite")), "zz")
    report = live.client.get(f"/v1/reports/carbon/zz/{LABEL}", headers=live.admin).json()
    assert report["ledger"]["record_hash"] == record.hash
    assert live.client.get("/v1/ledger/verify", headers=live.admin).json()["records"] == 1


def test_health_checks_the_real_servers(live: Live) -> None:
    response = live.client.get("/health")
    assert response.json() == {"status": "ok", "checks": {"registry": True, "broker": True,
                                                          "influxdb": True}}


def test_the_gateway_starts_while_the_broker_is_down_and_connects_later(
        services: LocalServices, tmp_path: Path) -> None:
    settings = GatewaySettings(registry_path=tmp_path / "gateway.sqlite",
                               mqtt=MqttSettings(url=services.mqtt_url),
                               influx=InfluxSettings(url=services.influx_url),
                               carbon=CarbonReportSettings(ledger_path=tmp_path / "ledger.sqlite"))
    with services.stopped("mosquitto"), TestClient(create_app(settings)) as client:
        early = client.get("/healthz")
        assert early.status_code == 503
        assert early.json()["checks"]["broker"] is False
    with TestClient(create_app(settings)) as client:
        assert client.get("/health").json()["checks"]["broker"] is True
    with services.stopped("mosquitto"):
        client = TestClient(create_app(settings)).__enter__()
    try:
        wait_for(lambda: client.get("/health").status_code == 200, 60, "the gateway to connect")
    finally:
        client.__exit__(None, None, None)


def test_ingest_confirms_to_a_device_on_a_topic_only_that_device_may_read(
        live: Live, unique_site: str) -> None:
    mine, theirs = live.register(unique_site, "d1"), live.register(unique_site, "d2")
    device = DeviceId(unique_site, "l1", "d1")
    assert device.ack_topic.startswith(mine["topic_prefix"] + "/")
    ingest = MqttSource(
        MqttSettings(url=live.mqtt_url, username=DYNSEC_INGEST.username,
                     password=SecretStr(DYNSEC_INGEST.secret())),
        Session(f"ack-{unique_site}", manual_ack=True), f"loopmeter/v1/{unique_site}/#",
        SystemClock(), queue.Queue())
    with live.probe(mine) as owner, live.probe(theirs) as other:
        assert owner.subscribe(device.ack_topic) == 1
        assert other.subscribe(device.ack_topic) == NOT_AUTHORIZED
        assert owner.publish(device.ack_topic, b"forged") == NOT_AUTHORIZED  # only ingest
        ingest.start(timeout_s=10)
        try:
            ingest.confirm({device: [4, 5, 6]})
            message = owner.next_message()
        finally:
            ingest.stop()
    assert decode_ack(message.payload).seqs == [(4, 6)]
    assert ingest.stats.confirms_refused == 0
