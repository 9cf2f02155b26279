"""Fault injection produces exactly the faults scheduled, and each does what it says."""

from __future__ import annotations

from collections import Counter

import pytest

from contract import ContractError, DeviceId, MessageKind, decode
from simulators import Fault, FaultKind, FaultLog, FaultSchedule, LinkFaults, Plant
from simulators.faults import GARBAGE
from simulators.feed import PlantFeed
from simulators.scenario import parse_scenario

T0 = 1_772_380_800_000  # 2026-03-02T00:00+08:00, the scenarios' start
MIN_MS = 60_000
A = DeviceId("site", "line", "a").topic(MessageKind.DATA)
B = DeviceId("site", "line", "b").topic(MessageKind.DATA)
TINY = """
name: tiny
description: a crusher, its meter and a furnace
site: s1
lines:
  - id: l1
    devices:
      - {id: crusher, type: crusher_station, params: {shift_start_h: 0, shift_end_h: 0}}
      - {id: meter, type: electricity_meter, measures: [crusher]}
      - {id: furnace, type: smelter_aluminium}
"""


def link(*faults: Fault) -> tuple[LinkFaults, FaultLog]:
    log = FaultLog()
    return LinkFaults(faults, log), log


def window(kind: FaultKind, start_min: int, end_min: int, device: str | None = None) -> Fault:
    return Fault(kind, T0 + start_min * MIN_MS, T0 + end_min * MIN_MS, device)


def test_a_drop_window_drops_only_inside_the_window() -> None:
    faults, log = link(window(FaultKind.NETWORK_DROP, 10, 20))
    sent = [faults.apply(T0 + minute * MIN_MS, A, b"%d" % minute) for minute in range(30)]
    assert [len(s) for s in sent] == [1] * 10 + [0] * 10 + [1] * 10
    assert log.count(FaultKind.NETWORK_DROP) == 10


def test_duplicates_are_sent_twice() -> None:
    faults, log = link(window(FaultKind.DUPLICATE, 0, 1))
    assert faults.apply(T0, A, b"x") == [(A, b"x"), (A, b"x")]
    assert faults.apply(T0 + MIN_MS, A, b"y") == [(A, b"y")]
    assert log.count(FaultKind.DUPLICATE) == 1


def test_a_reordered_message_comes_after_the_next_one_of_its_device() -> None:
    faults, log = link(window(FaultKind.REORDER, 0, 1, "line/a"))
    assert faults.apply(T0, A, b"1") == []
    assert faults.apply(T0 + 1, B, b"other") == [(B, b"other")]
    assert faults.apply(T0 + 2, A, b"2") == [(A, b"2"), (A, b"1")]
    assert faults.apply(T0 + 2 * MIN_MS, A, b"3") == [(A, b"3")]
    assert log.count(FaultKind.REORDER) == 1  # messages swap in pairs: only 1 was held


def test_flush_releases_what_is_held_back() -> None:
    faults, _ = link(window(FaultKind.REORDER, 0, 1))
    faults.apply(T0, A, b"1")
    assert faults.flush() == [(A, b"1")]
    assert faults.flush() == []


def test_a_malformed_burst_comes_once_and_fails_the_contract() -> None:
    burst = Fault(FaultKind.MALFORMED_BURST, T0 + MIN_MS, device="line/a",
                  params=(("count", 7),))
    faults, log = link(burst)
    assert faults.apply(T0, A, b"before") == [(A, b"before")]
    sent = faults.apply(T0 + MIN_MS, A, b"real")
    assert len(sent) == 8
    assert sent[-1] == (A, b"real")
    assert faults.apply(T0 + 2 * MIN_MS, A, b"later") == [(A, b"later")]
    for topic, payload in sent[:-1]:
        with pytest.raises(ContractError):
            decode(topic, payload, now_ms=T0)
    assert log.count(FaultKind.MALFORMED_BURST) == 1
    assert len(GARBAGE) == 5


def test_link_faults_for_one_device_leave_the_others_alone() -> None:
    faults, log = link(window(FaultKind.NETWORK_DROP, 0, 10, "line/a"))
    assert faults.apply(T0, B, b"x") == [(B, b"x")]
    assert faults.apply(T0, A, b"x") == []
    assert [r.device for r in log.records] == ["line/a"]


@pytest.mark.parametrize(("fault", "error"), [
    (lambda: Fault(FaultKind.STUCK, T0, None, "l/d", "power_kw"), "window"),
    (lambda: Fault(FaultKind.COUNTER_RESET, T0, T0 + 1, "l/d", "energy_kwh"), "window"),
    (lambda: Fault(FaultKind.NETWORK_DROP, T0, T0), "after"),
    (lambda: Fault(FaultKind.COUNTER_RESET, T0, device="l/d"), "metric"),
    (lambda: Fault(FaultKind.CLOCK_SKEW, T0), "device"),
    (lambda: Fault(FaultKind.COUNTER_ROLLOVER, T0, device="l/d"), "rollover_at"),
])
def test_impossible_faults_are_refused(fault: object, error: str) -> None:
    with pytest.raises(ValueError, match=error):
        fault()  # type: ignore[operator]


def tiny_plant(*faults: Fault) -> Plant:
    return Plant.from_scenario(parse_scenario(TINY), seed=4, faults=FaultSchedule(faults))


def at(minutes: float) -> int:
    return T0 + round(minutes * MIN_MS)


def test_a_stuck_sensor_shows_one_value_for_its_window() -> None:
    plant = tiny_plant(Fault(FaultKind.STUCK, at(60), at(90), "l1/furnace", "melt_temp_c"))
    furnace = plant.device("l1/furnace")
    seen = []
    for minute in range(60, 100):
        plant.advance_to(at(minute))
        seen.append(furnace.read()["melt_temp_c"])
    assert len(set(seen[:30])) == 1
    assert len(set(seen[30:])) > 1


def test_a_spike_is_large_but_within_the_catalogue_range() -> None:
    plant = tiny_plant(Fault(FaultKind.SPIKE, at(60), at(62), "l1/furnace", "power_kw",
                             params=(("factor", 1000.0),)))
    furnace = plant.device("l1/furnace")
    plant.advance_to(at(61))
    assert furnace.read()["power_kw"] == 5000.0
    plant.advance_to(at(62))
    assert float(furnace.read()["power_kw"]) < 1000


def test_spikes_need_a_gauge() -> None:
    plant = tiny_plant(Fault(FaultKind.SPIKE, at(1), at(2), "l1/meter", "energy_kwh"))
    with pytest.raises(ValueError, match="gauge"):
        plant.advance_to(at(2))


def test_a_counter_reset_restarts_the_register_and_says_so() -> None:
    plant = tiny_plant(Fault(FaultKind.COUNTER_RESET, at(120), device="l1/meter",
                             metric="energy_kwh"))
    meter = plant.device("l1/meter")
    plant.advance_to(at(119))
    before = meter.read()["energy_kwh"]
    meter.drain_events()
    plant.advance_to(at(120))
    assert float(meter.read()["energy_kwh"]) < 0.1 * float(before)
    events = meter.drain_events()
    assert [(e.event, e.metric) for e in events] == [("counter_reset", "energy_kwh")]
    assert events[0].values["old_final"] >= float(before)


def test_a_meter_replacement_starts_at_the_new_meter_reading() -> None:
    plant = tiny_plant(Fault(FaultKind.METER_REPLACED, at(60), device="l1/meter",
                             metric="energy_kwh", params=(("initial", 500.0),)))
    meter = plant.device("l1/meter")
    plant.advance_to(at(60))
    truth = meter.registers["energy_kwh"].true_total
    (event,) = [e for e in meter.drain_events() if e.event == "meter_replaced"]
    assert event.values["new_initial"] == 500.0
    assert event.values["old_final"] == pytest.approx(truth, abs=0.01)
    plant.advance_to(at(120))
    shown = float(meter.read()["energy_kwh"])
    assert shown - 500 == pytest.approx(meter.registers["energy_kwh"].true_total - truth,
                                        abs=0.01)


def test_clock_skew_and_drift_move_the_device_clock() -> None:
    plant = tiny_plant(
        Fault(FaultKind.CLOCK_SKEW, at(10), device="l1/crusher", params=(("offset_ms", 5000),)),
        Fault(FaultKind.CLOCK_DRIFT, at(20), device="l1/crusher", params=(("ppm", 1000),)))
    crusher = plant.device("l1/crusher")
    plant.advance_to(at(10))
    assert crusher.now_ms() - plant.now_ms == 5000
    plant.advance_to(at(20) + 1000 * MIN_MS)
    assert crusher.now_ms() - plant.now_ms == 5000 + 60_000  # 1000 ppm of 1000 min
    assert plant.device("l1/meter").now_ms() == plant.now_ms


def test_a_scheduled_breakdown_stops_the_furnace_then_it_resumes() -> None:
    plant = tiny_plant(Fault(FaultKind.EQUIPMENT_FAULT, at(30), at(90), "l1/furnace"))
    furnace = plant.device("l1/furnace")
    plant.advance_to(at(31))
    assert furnace.read()["state"] == "fault"
    assert furnace.read()["gas_flow_nm3h"] == 0.0
    plant.advance_to(at(91))
    assert furnace.read()["state"] != "fault"
    assert [e.event for e in furnace.drain_events()][-2:] == ["fault", "repair"]


class Collect:
    def __init__(self) -> None:
        self.sent: list[tuple[str, bytes]] = []

    def publish(self, topic: str, payload: bytes, retain: bool = False) -> None:
        self.sent.append((topic, payload))


def test_the_park_injects_exactly_its_scheduled_faults() -> None:
    from simulators import load_scenario

    scenario = load_scenario("industrial-park")
    plant = Plant.from_scenario(scenario, seed=9)
    out = Collect()
    feed = PlantFeed(plant, out, plant.link_faults(), batch_s=300)
    feed.advance_to(scenario.start_ms + 24 * 3_600_000)
    feed.finish()
    schedule = scenario.fault_schedule().faults
    records = plant.fault_log.records
    for fault in schedule:
        mine = [r for r in records if r.kind is fault.kind
                and (fault.device is None or r.device == fault.device)]
        assert mine, f"{fault.kind} for {fault.device} never happened"
        for record in mine:
            end = fault.until_ms if fault.until_ms is not None else None
            assert record.t_ms >= fault.at_ms
            assert end is None or record.t_ms < end
        if fault.until_ms is None and fault.kind is not FaultKind.MALFORMED_BURST:
            assert [r.t_ms for r in mine] == [fault.at_ms]
    scheduled = Counter(f.kind for f in schedule)
    logged_kinds = set(Counter(r.kind for r in records)) - {FaultKind.COUNTER_ROLLOVER}
    assert logged_kinds == set(scheduled)
    assert plant.fault_log.count(FaultKind.MALFORMED_BURST) == 1
    assert plant.fault_log.count(FaultKind.COUNTER_ROLLOVER) == 1  # the substation register
    garbage = [p for _, p in out.sent if p in GARBAGE]
    assert len(garbage) == 4


def test_faults_can_be_triggered_during_a_run() -> None:
    plant = tiny_plant()
    plant.advance_to(at(30))
    plant.inject(Fault(FaultKind.COUNTER_RESET, at(30), device="l1/meter", metric="energy_kwh"))
    assert plant.device("l1/meter").read()["energy_kwh"] == 0.0
    plant.inject(Fault(FaultKind.STUCK, at(40), at(50), "l1/furnace", "melt_temp_c"))
    assert [r.kind for r in plant.fault_log.records] == [FaultKind.COUNTER_RESET]
    plant.advance_to(at(40))
    assert plant.fault_log.count(FaultKind.STUCK) == 1
    with pytest.raises(ValueError, match="link fault"):
        plant.inject(window(FaultKind.NETWORK_DROP, 50, 60))
    with pytest.raises(ValueError, match="unknown device"):
        plant.inject(Fault(FaultKind.CLOCK_SKEW, at(50), device="l1/nothing"))


def test_link_faults_can_be_added_during_a_run() -> None:
    faults, _ = link()
    assert faults.apply(T0, A, b"x") == [(A, b"x")]
    faults.add(window(FaultKind.NETWORK_DROP, 0, 1))
    assert faults.apply(T0, A, b"x") == []
    with pytest.raises(ValueError, match="device fault"):
        faults.add(Fault(FaultKind.CLOCK_SKEW, T0, device="line/a"))
