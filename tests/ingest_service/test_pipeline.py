"""The ingest core with fakes: batching, acknowledgement order, dead letters, spool, reports."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from adapters.backoff import Backoff
from adapters.influx import InfluxError, Unavailable, WriteRejected
from contract import AgentInfo, BirthMessage, DeviceId, MessageKind, MetricDeclaration, encode
from ingest_service.pipeline import Delivery, Inbound, Pipeline
from ingest_service.poison import InFlight, InFlightMarker
from ingest_service.policy import WritePolicy
from ingest_service.quality import SequenceTracker
from ingest_service.settings import BatchSettings
from ingest_service.stats import Stats
from ingest_service.storage import DeadLetters, Spool, open_database
from ingest_service.store import DurableStore
from tests.ingest_service.fakes import FakeAcks, FakeConfirms, FakeDatabase
from tests.ingest_service.support import data_payload
from tests.support.clock import FakeClock

TOPIC = "loopmeter/v1/s1/l1/m1/data"
DEVICE = DeviceId("s1", "l1", "m1")


class Rig:
    """A pipeline on fakes, with a real SQLite spool and dead-letter store in tmp_path."""

    def __init__(self, tmp_path: Path, *, max_points: int = 1000, max_messages: int = 100,
                 spool_bytes: int = 1_000_000, in_flight: InFlight | None = None) -> None:
        self.clock = FakeClock()
        self.down = False
        self.db = FakeDatabase(lambda _lines: Unavailable("down") if self.down else None)
        self.acks = FakeAcks()
        # What was durable when each confirmation went out: the database's and spool's points.
        self.confirms = FakeConfirms(lambda: (len(self.db.points), self.spool.points))
        self.stats = Stats()
        connection = open_database(tmp_path / "w.sqlite")
        self.letters = DeadLetters(connection, 1000, 1000)
        self.spool = Spool(connection, spool_bytes)
        backoff = Backoff.exact(0.5, 2.0)
        self.store = DurableStore(WritePolicy(self.db, self.clock, backoff, 30.0), self.spool,
                                  self.letters, self.clock, database="db", patience_s=3.0,
                                  backoff=backoff, stats=self.stats)
        self.pipeline = Pipeline(self.store, self.letters, self.acks,
                                 SequenceTracker(late_after_ms=300_000), self.clock,
                                 BatchSettings(max_points=max_points, max_messages=max_messages,
                                               max_delay_s=0.5), self.stats, in_flight,
                                 confirms=self.confirms)
        self.mid = 0
        self.samples_of: dict[int, int] = {}
        self.next_ts = self.clock.now_ms() - 60_000

    def offer(self, payload: bytes, topic: str = TOPIC, redelivered: bool = False) -> Delivery:
        self.mid += 1
        delivery = Delivery(self.mid, 1, 1)
        self.pipeline.offer(Inbound(topic, payload, self.clock.now_ms(), self.clock.monotonic(),
                                    delivery, redelivered))
        return delivery

    def data(self, seq: int, samples: int = 1) -> Delivery:
        delivery = self.offer(data_payload(seq, self.next_ts, samples))
        self.next_ts += samples * 1000  # every sample of the rig has its own timestamp
        self.samples_of[delivery.mid] = samples
        return delivery


def test_acknowledges_in_received_order_only_after_the_write(tmp_path: Path) -> None:
    rig = Rig(tmp_path)
    deliveries = [rig.data(0), rig.offer(b"{not json"), rig.data(1),
                  rig.offer(b"{}", "loopmeter/v1/s1/l1/m1/nonsense"), rig.data(2)]
    assert rig.acks.acked == [] and rig.db.calls == []
    rig.pipeline.flush()
    assert rig.acks.acked == deliveries
    assert len(rig.db.points) == 3
    assert [(e.letter.reason, e.letter.topic) for e in rig.letters.entries()] == [
        ("invalid_json", TOPIC), ("bad_topic", "loopmeter/v1/s1/l1/m1/nonsense")]
    assert rig.letters.entries()[0].letter.payload == b"{not json"
    assert rig.stats.dead_letters == {"invalid_json": 1, "bad_topic": 1}
    assert (rig.stats.messages_in, rig.stats.points_written) == (5, 3)


def test_a_failure_anywhere_before_the_batch_hurts_only_its_message(tmp_path: Path) -> None:
    rig = Rig(tmp_path)
    observe = rig.pipeline._tracker.observe

    def exploding(device: DeviceId, seq: int, ts: Sequence[int], received_ms: int) -> None:
        if seq == 7:
            raise MemoryError
        observe(device, seq, ts, received_ms)

    rig.pipeline._tracker.observe = exploding  # type: ignore[method-assign]
    deliveries = [rig.data(6, samples=2), rig.data(7, samples=2), rig.data(8, samples=2)]
    rig.pipeline.flush()
    assert rig.acks.acked == deliveries
    assert len(rig.db.points) == 4
    assert [e.letter.reason for e in rig.letters.entries()] == ["internal_error"]


_CRASH = """
import sys
from pathlib import Path
from ingest_service.poison import InFlightMarker
InFlightMarker(Path(sys.argv[1])).begin(sys.argv[2], sys.argv[3].encode(), False)
import json
import os
os._exit(137)  # dies in the middle of the message, as an out-of-memory kill would
"""


def test_a_message_that_killed_the_worker_is_dead_lettered_when_redelivered(
        tmp_path: Path) -> None:
    path = tmp_path / "ingest-0.in-flight"
    killer = data_payload(3, 1_700_000_000_000)
    crashed = subprocess.run([sys.executable, "-c", _CRASH, str(path), TOPIC, killer.decode()],
                             env={**os.environ, "PYTHONPATH": str(Path.cwd())}, check=False)
    assert crashed.returncode == 137
    rig = Rig(tmp_path, in_flight=InFlightMarker(path))
    healthy = rig.data(0)
    poison = rig.offer(killer, redelivered=True)
    after = rig.data(1)
    rig.pipeline.flush()
    assert rig.acks.acked == [healthy, poison, after]
    assert [(e.letter.reason, e.letter.payload) for e in rig.letters.entries()] == [
        ("poison", killer)]
    assert len(rig.db.points) == 2


def test_only_a_redelivery_of_the_message_in_flight_is_poison(tmp_path: Path) -> None:
    path = tmp_path / "m"
    InFlightMarker(path).begin(TOPIC, b"{}", False)
    marker = InFlightMarker(path)
    assert marker.begin(TOPIC, b"{}", redelivered=False) is False  # sent again by the device
    marker.end()
    assert InFlightMarker(path).suspect is None  # processed: nothing left in flight
    marker.begin(TOPIC, b"{}", False)
    again = InFlightMarker(path)
    assert again.begin("loopmeter/v1/s1/l1/m1/status", b"{}", redelivered=True) is False
    assert again.begin(TOPIC, b"{}", redelivered=True) is True


def test_nothing_is_acknowledged_when_the_store_fails(tmp_path: Path) -> None:
    rig = Rig(tmp_path)
    rig.data(0)
    rig.db.fail = lambda _lines: RuntimeError("disk on fire")  # type: ignore[assignment,return-value]
    with pytest.raises(RuntimeError):
        rig.pipeline.flush()
    assert rig.acks.acked == []


@pytest.mark.parametrize(("limit", "messages", "samples"),
                         [("max_points", 3, 4), ("max_messages", 5, 1)])
def test_a_batch_is_due_at_its_size_bounds(tmp_path: Path, limit: str, messages: int,
                                           samples: int) -> None:
    rig = Rig(tmp_path, max_points=10, max_messages=5)
    for seq in range(messages - 1):
        rig.data(seq, samples)
        assert not rig.pipeline.due()
    rig.data(messages - 1, samples)
    assert rig.pipeline.due()


def test_a_batch_is_due_at_its_age_bound(tmp_path: Path) -> None:
    rig = Rig(tmp_path)
    assert rig.pipeline.seconds_until_due() is None
    rig.data(0)
    rig.clock.advance(0.2)
    assert rig.pipeline.seconds_until_due() == pytest.approx(0.3)
    rig.clock.advance(0.3)
    assert rig.pipeline.due()


def test_a_redelivered_message_rewrites_the_same_points(tmp_path: Path) -> None:
    rig = Rig(tmp_path)
    payload = data_payload(7, rig.clock.now_ms() - 10_000, samples=5)
    rig.offer(payload)
    rig.pipeline.flush()
    stored = dict(rig.db.points)
    rig.offer(payload)
    rig.pipeline.flush()
    assert rig.db.points == stored and len(stored) == 5
    rig.pipeline.report(worker=0)
    rig.pipeline.flush()
    quality = [line for line in rig.db.points.values() if line.startswith("ingest_quality")]
    assert quality and "duplicates=1i" in quality[0] and "messages=2i" in quality[0]


def test_points_influx_rejects_become_dead_letters_and_the_rest_is_kept(tmp_path: Path) -> None:
    rig = Rig(tmp_path)

    def reject_seq_1(lines: Sequence[str]) -> InfluxError | None:
        bad = [line for line in lines if "power_kw=1 " in line]
        return WriteRejected(400, "partial write: field type conflict") if bad else None

    rig.db.fail = reject_seq_1
    acked = [rig.data(0), rig.data(1), rig.data(2)]
    rig.pipeline.flush()
    assert rig.acks.acked == acked
    assert len(rig.db.points) == 2
    [entry] = rig.letters.entries()
    assert (entry.letter.kind, entry.letter.reason, entry.letter.topic) == (
        "point", "influx_rejected", TOPIC)
    assert "field type conflict" in entry.letter.detail
    assert b"power_kw=1 " in entry.letter.payload


def test_an_outage_spools_acknowledges_and_replays_in_order(tmp_path: Path) -> None:
    rig = Rig(tmp_path)
    rig.down = True
    first = rig.data(0)
    rig.pipeline.flush()
    assert rig.acks.acked == [first] and rig.spool.batches == 1
    assert sum(rig.clock.sleeps) <= 3.0
    rig.down = False
    rig.data(1)
    rig.pipeline.flush()  # the spool is not empty: the new batch queues behind it
    assert rig.spool.batches == 2 and rig.db.points == {}
    assert rig.store.drain(force=True)
    assert rig.spool.batches == 0 and rig.stats.spool_points == 0
    powers = [call[0].split("power_kw=")[1].split(" ")[0] for call in rig.db.calls if call]
    assert powers[-2:] == ["0", "1"]
    assert rig.stats.points_written == 2


def test_drain_waits_for_its_backoff_after_a_failure(tmp_path: Path) -> None:
    rig = Rig(tmp_path)
    rig.down = True
    rig.data(0)
    rig.pipeline.flush()
    assert not rig.store.drain()
    rig.down = False
    assert not rig.store.drain()  # too early: the backoff has not passed
    rig.clock.advance(2.0)
    assert rig.store.drain() and rig.spool.batches == 0


def test_a_full_spool_holds_the_batch_until_influx_returns(tmp_path: Path) -> None:
    rig = Rig(tmp_path, spool_bytes=10)
    rig.down = True
    rig.data(0)
    rig.pipeline.flush()
    rig.data(1)
    attempts = 0

    def recover_on_third_try(_lines: Sequence[str]) -> InfluxError | None:
        nonlocal attempts
        attempts += 1
        return Unavailable("down") if attempts < 3 else None

    rig.db.fail = recover_on_third_try
    rig.pipeline.flush()
    assert attempts >= 3 and len(rig.acks.acked) == 2
    assert rig.spool.batches == 1  # the first drained, the second spooled behind nothing


def test_reports_write_quality_health_and_dead_letter_counts(tmp_path: Path) -> None:
    rig = Rig(tmp_path)
    rig.data(0)
    rig.data(3)
    rig.offer(b"[]")
    rig.pipeline.flush()
    rig.pipeline.report(worker=2)
    rig.pipeline.flush()
    lines = sorted(rig.db.points.values())
    by_measurement = {line.split(",")[0]: line for line in lines}
    time_ms = rig.clock.now_ms() // 1000 * 1000 + 2
    assert by_measurement["ingest_quality"] == (
        "ingest_quality,device=m1,line=l1,site=s1 duplicates=0i,late_samples=0i,messages=2i,"
        f"reordered=0i,seq_gaps=2i {time_ms}")
    assert by_measurement["ingest_health"] == (
        "ingest_health,worker=2 dead_letters_total=1i,messages_in=3i,points_written=2i,"
        f"spool_depth=0i {time_ms}")
    assert by_measurement["dead_letters"] == (
        f"dead_letters,reason=schema,worker=2 count=1i {time_ms}")
    rig.offer(b"[]")
    rig.pipeline.flush()
    rig.pipeline.report(worker=2)  # within the same second: a second later, not over it
    rig.pipeline.flush()
    reports = sorted(line for line in rig.db.points.values() if line.startswith("dead_letters"))
    assert [line.rsplit(" ", 1)[1] for line in reports] == [str(time_ms), str(time_ms + 1000)]


def test_unacked_counts_sealed_batches_until_they_are_committed(tmp_path: Path) -> None:
    rig = Rig(tmp_path)
    assert rig.pipeline.unacked() == (0, 0.0)
    rig.data(0)
    rig.clock.advance(0.3)
    sealed = rig.pipeline.seal()
    rig.data(1)
    rig.clock.advance(0.2)
    assert rig.pipeline.unacked() == (2, pytest.approx(0.5))
    rig.pipeline.commit(sealed)
    assert rig.pipeline.unacked() == (1, pytest.approx(0.2))
    rig.pipeline.flush()
    assert rig.pipeline.unacked() == (0, 0.0)


def test_full_is_a_size_bound_only(tmp_path: Path) -> None:
    rig = Rig(tmp_path, max_messages=2)
    rig.data(0)
    rig.clock.advance(10)
    assert rig.pipeline.due() and not rig.pipeline.full()
    rig.data(1)
    assert rig.pipeline.full()


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(st.sampled_from(["valid", "invalid", "flush", "down", "up", "drain"]),
                          st.integers(0, 3)), max_size=40))
def test_every_message_is_acknowledged_once_in_order_after_it_is_durable(
        tmp_path_factory: pytest.TempPathFactory, steps: list[tuple[str, int]]) -> None:
    rig = Rig(tmp_path_factory.mktemp("law"), max_points=4)
    offered: list[Delivery] = []
    seq = 0
    for action, samples in steps:
        if action in ("down", "up"):
            rig.down = action == "down"
        elif action == "drain":
            rig.store.drain(force=True)
        elif action == "flush" or rig.pipeline.due():
            rig.pipeline.flush()
        if action == "valid":
            offered.append(rig.data(seq, samples + 1))
            seq += 1
        elif action == "invalid":
            offered.append(rig.offer(b"{"))
        # Acknowledged = a prefix of what was offered, each once, and all of it is durable.
        assert rig.acks.acked == offered[:len(rig.acks.acked)]
        stored = len([p for p in rig.db.points if p.startswith("telemetry")])
        assert stored + rig.spool.points >= _samples_in(rig, rig.acks.acked)
    rig.down = False
    rig.pipeline.flush()
    assert rig.store.drain(force=True)
    assert rig.acks.acked == offered and rig.spool.batches == 0
    assert len([p for p in rig.db.points if p.startswith("telemetry")]) == _samples_in(
        rig, offered)


def _samples_in(rig: Rig, deliveries: list[Delivery]) -> int:
    return sum(rig.samples_of.get(d.mid, 0) for d in deliveries)


@pytest.mark.parametrize("part", ["fast_data", "to_points"])
def test_a_message_that_breaks_the_decoder_is_dead_lettered_not_fatal(
        part: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    rig = Rig(tmp_path)

    def broken(*_args: object, **_kwargs: object) -> None:
        raise RecursionError("a decoder bug")

    if part == "to_points":  # the fast path declines, so the precise decoder runs
        monkeypatch.setattr("ingest_service.pipeline.fast_data", lambda *_a, **_k: None)
    monkeypatch.setattr(f"ingest_service.pipeline.{part}", broken)
    delivery = rig.data(0)
    rig.pipeline.flush()
    assert rig.acks.acked == [delivery]
    [entry] = rig.letters.entries()
    assert (entry.letter.reason, entry.letter.detail) == ("internal_error",
                                                          "RecursionError: a decoder bug")


@pytest.mark.parametrize("topic", [
    "loopmeter/v1/s1/l1/m1/data/extra", "loopmeter/v1/s1/l1/m1/data/", "loopmeter/v1/s1/l1/m1",
    "loopmeter/v1/s1/l1/m1/DATA", "loopmeter/v1/S1/l1/m1/data", "loopmeter/v1/", "loopmeter/x"])
def test_a_message_on_a_malformed_topic_is_dead_lettered_as_bad_topic(tmp_path: Path,
                                                                     topic: str) -> None:
    rig = Rig(tmp_path)
    delivery = rig.offer(data_payload(0, 1_700_000_000_000), topic)
    rig.pipeline.flush()
    assert rig.acks.acked == [delivery]
    assert [(e.letter.reason, e.letter.topic) for e in rig.letters.entries()] == [
        ("bad_topic", topic)]


def test_ingest_s_own_acknowledgements_are_acknowledged_and_not_stored(tmp_path: Path) -> None:
    rig = Rig(tmp_path)
    delivery = rig.offer(b'{"v":1}', "loopmeter/v1/s1/l1/m1/ack/durable")
    rig.pipeline.flush()
    assert rig.acks.acked == [delivery]
    assert rig.letters.entries() == [] and not rig.db.points
    assert rig.stats.own_acks == 1


def test_a_value_of_the_wrong_type_is_dead_lettered_alone(tmp_path: Path) -> None:
    rig = Rig(tmp_path)
    ts = rig.clock.now_ms() - 1000
    body = {"v": 1, "device_type": "electricity_meter", "seq": 0, "samples": [
        {"ts": ts, "values": {"power_kw": "high", "energy_kwh": 3.5, "x_mode": "auto"}},
        {"ts": ts + 1, "values": {"power_kw": True}},
        {"ts": ts + 2, "values": {"power_kw": 2.0, "x_bad\\\\": 1}}]}
    delivery = rig.offer(json.dumps(body).encode())
    rig.pipeline.flush()
    assert rig.acks.acked == [delivery]
    assert sorted(line.split(" ")[1] for line in rig.db.points.values()) == [
        "energy_kwh=3.5,x_mode.text=\"auto\"", "power_kw=2"]
    (letter,) = [entry.letter for entry in rig.letters.entries()]
    assert letter.reason == "schema" and "other values are stored" in letter.detail


def test_each_device_hears_which_data_messages_are_durable_only_after_they_are(
        tmp_path: Path) -> None:
    rig = Rig(tmp_path)
    rig.data(0, samples=3)
    rig.data(1)
    other = DeviceId("s1", "l1", "m2")
    rig.offer(data_payload(7, rig.next_ts), other.topic(MessageKind.DATA))
    rig.offer(b'{"v": 1, "ts": 1}', "loopmeter/v1/s1/l1/m1/status")  # no seq: nothing to confirm
    assert rig.confirms.confirmed == []
    rig.pipeline.flush()
    assert rig.confirms.confirmed == [{DEVICE: [0, 1], other: [7]}]
    assert rig.confirms.seen == [(5, 0)]  # every point already in the database


def test_spooled_and_dead_lettered_data_messages_are_confirmed_as_durable(
        tmp_path: Path) -> None:
    rig = Rig(tmp_path)
    rig.down = True
    rig.data(3)
    rig.offer(b'{"v": 1, "seq": 4, "device_type": "no_such_type", "samples": []}')
    rig.offer(b'{"v": 1, "seq": "five"}')  # names no seq it could be confirmed by
    rig.offer(b"{not json")
    rig.pipeline.flush()
    assert rig.spool.points == 1 and len(rig.letters.entries()) == 3
    assert rig.confirms.seqs(DEVICE) == [3, 4]
    assert rig.confirms.seen == [(0, 1)]  # confirmed once in the spool, not in the database


@given(st.lists(st.integers(min_value=0, max_value=50), min_size=1, max_size=40))
@settings(max_examples=30, deadline=None,  # SQLite on a shared machine: time varies
          suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_every_data_message_offered_is_confirmed_and_no_other(
        tmp_path_factory: pytest.TempPathFactory, seqs: list[int]) -> None:
    rig = Rig(tmp_path_factory.mktemp("confirm"), max_messages=7)
    for seq in seqs:
        rig.data(seq)
        if rig.pipeline.due():
            rig.pipeline.flush()
    rig.pipeline.flush()
    assert rig.confirms.seqs(DEVICE) == sorted(seqs)


def _birth(ts: int, *metrics: MetricDeclaration) -> bytes:
    return encode(BirthMessage(ts=ts, session=1, device_type="electricity_meter",
                               next_seq=0, agent=AgentInfo(name="a", version="1"),
                               metrics=list(metrics)))


def test_a_custom_value_of_another_type_than_declared_is_dead_lettered_alone(
        tmp_path: Path) -> None:
    rig = Rig(tmp_path)
    ts = rig.clock.now_ms() - 1000

    def data(seq: int, values: dict[str, object]) -> bytes:
        return json.dumps({"v": 1, "device_type": "electricity_meter", "seq": seq,
                           "samples": [{"ts": ts + seq, "values": values}]}).encode()

    # Before the birth this worker knows no declaration: a value's own type decides.
    rig.offer(data(0, {"x_door": 1, "x_temp": "hot"}))
    rig.offer(_birth(ts, MetricDeclaration(name="x_door", unit="", kind="state", period_s=1),
                     MetricDeclaration(name="x_temp", unit="C", kind="gauge", period_s=1)),
              "loopmeter/v1/s1/l1/m1/birth")
    rig.offer(data(1, {"x_door": 1, "x_temp": "hot", "power_kw": 4.0}))  # both misfit
    rig.offer(data(2, {"x_door": "open", "x_temp": 20.5}))  # both fit
    rig.offer(data(3, {"x_door": 0}))  # nothing left: the whole message
    rig.pipeline.flush()
    fields = sorted(line.split(" ")[1] for line in rig.db.points.values()
                    if line.startswith("telemetry"))
    assert fields == ['power_kw=4', 'x_door.text="open",x_temp=20.5',
                      'x_door=1,x_temp.text="hot"']
    letters = [entry.letter for entry in rig.letters.entries()]
    assert [letter.reason for letter in letters] == ["schema", "schema"]
    assert "declared in the birth as a state" in letters[0].detail
    assert "declared in the birth as a number" in letters[0].detail
    assert "other values are stored" in letters[0].detail
    assert "other values are stored" not in letters[1].detail
