"""The conformance clauses over crafted traffic: a conformant device passes, each defect fails
exactly the clause that names it."""

from __future__ import annotations

from dataclasses import replace

import pytest
from hypothesis import given
from hypothesis import strategies as st
from typer.testing import CliRunner

from contract import (
    AgentInfo,
    BirthMessage,
    DataMessage,
    DeathMessage,
    DeviceId,
    EquipmentType,
    EventMessage,
    Message,
    MessageKind,
    MetricDeclaration,
    MetricKind,
    Sample,
    StatusMessage,
    ack_messages,
    encode,
    encode_ack,
)
from edge_agents.conformance import CheckSettings, Observation, Verdict, check_all
from edge_agents.conformance.cli import app
from edge_agents.conformance.report import Report

DEVICE = DeviceId("site-a", "line-1", "meter-1")
T0 = 1_795_000_000_000
DEFAULTS = CheckSettings()
METER = EquipmentType.ELECTRICITY_METER
METRICS = [
    MetricDeclaration(name="power_kw", unit="kW", kind=MetricKind.GAUGE, period_s=1.0),
    MetricDeclaration(name="energy_kwh", unit="kWh", kind=MetricKind.COUNTER, period_s=1.0),
]


def _obs(message: Message, at: int, *, qos: int = 1, retain: bool = False) -> Observation:
    kind = {BirthMessage: MessageKind.BIRTH, DataMessage: MessageKind.DATA,
            DeathMessage: MessageKind.DEATH, StatusMessage: MessageKind.STATUS,
            EventMessage: MessageKind.EVENT}[type(message)]
    return Observation(DEVICE.topic(kind), encode(message), qos, retain, at)


def _birth(session: int = 1, next_seq: int = 0,
           metrics: list[MetricDeclaration] = METRICS, ts: int = T0) -> BirthMessage:
    return BirthMessage(ts=ts, session=session, device_type=METER, next_seq=next_seq,
                        agent=AgentInfo(name="ref", version="1"), metrics=metrics)


def _data(seq: int, start_s: int, *, energy: float | None = None, historical: bool = False,
          power: float = 10.0) -> DataMessage:
    samples = [Sample(ts=T0 + (start_s + i) * 1000,
                      values={"power_kw": power,
                              "energy_kwh": (energy if energy is not None else 100.0)
                              + start_s + i})
               for i in range(5)]
    return DataMessage(device_type=METER, seq=seq, samples=samples, historical=historical)


def _conformant() -> list[Observation]:
    traffic = [_obs(_birth(), T0, retain=True)]
    for seq in range(6):
        traffic.append(_obs(_data(seq, seq * 5), T0 + (seq * 5 + 5) * 1000))
    status = StatusMessage(ts=T0 + 30_000, session=1, queue_depth=0, agent_version="1")
    return [*traffic, _obs(status, T0 + 30_050)]


def _verdicts(traffic: list[Observation],
              settings: CheckSettings = DEFAULTS) -> dict[str, Verdict]:
    results = check_all(DEVICE, traffic, settings)
    return {r.clause: r.verdict for r in results}


def _failed(traffic: list[Observation],
            settings: CheckSettings = DEFAULTS) -> set[str]:
    return {c for c, v in _verdicts(traffic, settings).items() if v is Verdict.FAIL}


def test_a_conformant_device_passes_every_observable_clause() -> None:
    verdicts = _verdicts(_conformant())
    assert {c for c, v in verdicts.items() if v is Verdict.PASS} == {
        "messages.valid", "birth", "seq", "counters", "units", "ranges", "clock", "rates", "qos"}
    assert verdicts["will"] is Verdict.NOT_OBSERVED
    assert verdicts["acknowledgement"] is Verdict.NOT_OBSERVED


def test_no_traffic_is_not_observed_rather_than_passed() -> None:
    assert set(_verdicts([]).values()) == {Verdict.NOT_OBSERVED, Verdict.PASS}
    assert _verdicts([])["birth"] is Verdict.NOT_OBSERVED


def test_missing_birth_fails_birth() -> None:
    assert _failed(_conformant()[1:]) >= {"birth"}


def test_birth_without_retain_or_after_data_fails_birth() -> None:
    traffic = _conformant()
    assert _failed([replace(traffic[0], retain=False), *traffic[1:]]) == {"birth"}
    late_birth = _obs(_birth(next_seq=1), T0 + 5_500, retain=True)
    assert _failed([traffic[1], late_birth, *traffic[2:]]) == {"birth"}


def test_sequence_reuse_fails_seq() -> None:
    traffic = _conformant()
    reused = _obs(_data(3, 40), T0 + 46_000)
    assert _failed([*traffic, reused]) == {"seq"}


def test_a_redelivery_with_identical_bytes_is_not_reuse() -> None:
    traffic = _conformant()
    assert _failed([*traffic, traffic[3]]) == set()


@given(st.lists(st.integers(min_value=1, max_value=7), max_size=10))
def test_redelivering_any_messages_never_fails_a_clause(redelivered: list[int]) -> None:
    """QoS 1 may deliver any message again; a redelivery is harmless by contract."""
    traffic = _conformant()
    assert _failed([*traffic, *(traffic[i] for i in redelivered)]) == set()


def test_a_gap_fails_seq_unless_replayed_later() -> None:
    traffic = _conformant()
    gap = [t for t in traffic if t is not traffic[3]]
    assert _failed(gap) == {"seq"}
    # Arriving late without the historical flag is reordering; flagged, it is a replay.
    assert _failed([*gap, traffic[3]]) == {"seq"}
    assert _failed([*gap, _obs(_data(2, 10, historical=True), T0 + 60_000)]) == set()


def test_a_gap_is_explained_while_the_last_status_reports_a_backlog() -> None:
    traffic = _conformant()
    gap = [*traffic[:3], *traffic[4:]]
    replaying = StatusMessage(ts=T0 + 31_000, session=1, queue_depth=5, agent_version="1")
    assert _failed(gap) == {"seq"}
    assert _failed([*gap, _obs(replaying, T0 + 31_000)]) == set()
    drained = replaying.model_copy(update={"ts": T0 + 32_000, "queue_depth": 0})
    assert _failed([*gap, _obs(replaying, T0 + 31_000), _obs(drained, T0 + 32_000)]) == {"seq"}


def test_a_birth_announcing_a_used_seq_fails_seq() -> None:
    traffic = _conformant()
    rebirth = _obs(_birth(session=2, next_seq=3, ts=T0 + 31_000), T0 + 31_000, retain=True)
    assert _failed([*traffic, rebirth]) == {"seq"}


def test_a_counter_going_backwards_fails_counters() -> None:
    traffic = _conformant()
    backwards = _obs(_data(6, 30, energy=0.0), T0 + 36_000)
    assert _failed([*traffic, backwards]) == {"counters"}


@pytest.mark.parametrize("event", ["counter_reset", "meter_replaced", "counter_rollover"])
def test_a_declared_reset_explains_a_counter_going_backwards(event: str) -> None:
    traffic = _conformant()
    reset = EventMessage(ts=T0 + 29_500, event=event, metric="energy_kwh")
    backwards = _obs(_data(6, 30, energy=0.0), T0 + 36_000)
    assert _failed([*traffic, _obs(reset, T0 + 29_600), backwards]) == set()


def test_an_unrelated_event_does_not_explain_a_counter_going_backwards() -> None:
    fault = EventMessage(ts=T0 + 29_500, event="fault", metric="energy_kwh")
    backwards = _obs(_data(6, 30, energy=0.0), T0 + 36_000)
    assert _failed([*_conformant(), _obs(fault, T0 + 29_600), backwards]) == {"counters"}


def test_wrong_units_fail_units() -> None:
    wrong = [METRICS[0].model_copy(update={"unit": "W"}), METRICS[1]]
    traffic = _conformant()
    failed = _failed([_obs(_birth(metrics=wrong), T0, retain=True), *traffic[1:]])
    assert "units" in failed
    assert failed <= {"units", "rates", "ranges"}


def test_a_value_out_of_the_catalogue_range_fails_ranges() -> None:
    traffic = _conformant()
    assert _failed([*traffic, _obs(_data(6, 30, power=-5.0), T0 + 36_000)]) == {"ranges"}


def test_a_value_out_of_the_declared_range_or_undeclared_fails_ranges() -> None:
    narrow = [METRICS[0].model_copy(update={"maximum": 5.0}), METRICS[1]]
    traffic = _conformant()
    assert _failed([_obs(_birth(metrics=narrow), T0, retain=True), *traffic[1:]]) == {"ranges"}
    assert _failed([_obs(_birth(metrics=METRICS[1:]), T0, retain=True),
                    *traffic[1:]]) == {"ranges"}


def test_a_skewed_clock_fails_clock() -> None:
    skew = 600_000
    traffic = [replace(t, received_ms=t.received_ms - skew) for t in _conformant()]
    assert _failed(traffic) == {"clock"}
    assert _failed(traffic, CheckSettings(max_skew_ms=skew + 1000)) == set()


def test_a_reported_machine_clock_offset_beyond_the_bound_fails_clock() -> None:
    status = StatusMessage(ts=T0 + 31_000, session=1, queue_depth=0, agent_version="1",
                           clock_offset_ms=-60_000)
    assert _failed([*_conformant(), _obs(status, T0 + 31_000)]) == {"clock"}
    fine = status.model_copy(update={"clock_offset_ms": -250})
    assert _failed([*_conformant(), _obs(fine, T0 + 31_000)]) == set()


def test_data_sampled_slower_than_declared_fails_rates() -> None:
    slow = [METRICS[0].model_copy(update={"period_s": 0.1}), METRICS[1]]
    traffic = _conformant()
    assert _failed([_obs(_birth(metrics=slow), T0, retain=True), *traffic[1:]]) == {"rates"}


def test_qos_0_or_retained_data_fails_qos() -> None:
    traffic = _conformant()
    assert _failed([*traffic[:2], replace(traffic[2], qos=0), *traffic[3:]]) == {"qos"}
    assert _failed([*traffic[:2], replace(traffic[2], retain=True), *traffic[3:]]) == {"qos"}


def test_the_will_is_checked_when_a_disconnect_is_expected() -> None:
    traffic = _conformant()
    assert _failed(traffic, CheckSettings(expect_death=True)) == {"will"}
    death = _obs(DeathMessage(ts=T0, session=1), T0 + 40_000)
    assert _verdicts([*traffic, death], CheckSettings(expect_death=True))["will"] is Verdict.PASS
    stranger = _obs(DeathMessage(ts=T0, session=9), T0 + 40_000)
    assert _failed([*traffic, stranger]) == {"will"}


def test_undecodable_payload_fails_messages_valid() -> None:
    junk = Observation(DEVICE.topic(MessageKind.DATA), b"{not json", 1, False, T0 + 40_000)
    assert _failed([*_conformant(), junk]) == {"messages.valid"}


def test_the_report_fails_with_the_failed_clauses_named() -> None:
    results = check_all(DEVICE, _conformant()[1:])
    report = Report(DEVICE, "mqtt://x", 5.0, 7, tuple(results))
    assert not report.passed
    assert report.failed() == ["birth"]
    assert '"failed": [\n    "birth"\n  ]' in report.to_json()


def test_the_cli_rejects_a_malformed_device_id_with_exit_code_2() -> None:
    result = CliRunner().invoke(app, ["--device", "site-a/meter-1", "--duration", "1"])
    assert result.exit_code == 2
    assert "SITE/LINE/DEVICE" in result.output


def test_traffic_of_other_devices_is_ignored() -> None:
    other = DeviceId("site-a", "line-1", "meter-10")
    stray = Observation(other.topic(MessageKind.DATA), b"junk", 0, True, T0)
    assert _failed([*_conformant(), stray]) == set()


def _ack(seqs: list[int], at: int) -> Observation:
    payload = encode_ack(ack_messages(seqs, at)[0])
    return Observation(DEVICE.ack_topic, payload, 1, False, at)


def test_acknowledgements_are_not_the_devices_messages_and_a_device_that_heeds_them_passes(
        ) -> None:
    traffic = _conformant()
    # seq 2 re-sent before its confirmation crossed it: fine; seqs 0-5 confirmed, none after.
    acked = [*traffic[:4], _ack([0, 1], T0 + 11_000), traffic[3], *traffic[4:],
             _ack([2, 3, 4, 5], T0 + 31_000)]
    verdicts = _verdicts(acked)
    assert verdicts["acknowledgement"] is Verdict.PASS and verdicts["messages.valid"] is \
        Verdict.PASS
    assert _failed(acked) == set()


def test_a_device_that_sends_again_what_was_confirmed_fails_acknowledgement() -> None:
    traffic = _conformant()
    confirmed = _ack([0, 1, 2], T0 + 16_000)
    again = replace(traffic[2], received_ms=T0 + 16_000 + DEFAULTS.ack_grace_ms + 1)
    assert _failed([*traffic, confirmed, again]) == {"acknowledgement"}
    within_grace = replace(traffic[2], received_ms=T0 + 16_000 + DEFAULTS.ack_grace_ms)
    assert _failed([*traffic, confirmed, within_grace]) == set()
