"""Hypothesis strategies that build valid v1 messages from the catalogue."""

from __future__ import annotations

from hypothesis import strategies as st

from contract import (
    CATALOGUE,
    AgentInfo,
    BirthMessage,
    DataMessage,
    DeathMessage,
    DeviceId,
    EquipmentType,
    EventMessage,
    MetricDeclaration,
    MetricKind,
    MetricSpec,
    Sample,
    StatusMessage,
)

NOW_MS = 1_795_000_000_000
identifiers = st.from_regex(r"[a-z0-9][a-z0-9_-]{0,12}", fullmatch=True)
device_ids = st.builds(DeviceId, identifiers, identifiers, identifiers)
timestamps = st.integers(min_value=1_600_000_000_000, max_value=NOW_MS)


def metric_values(spec: MetricSpec) -> st.SearchStrategy[float | str]:
    if spec.kind is MetricKind.STATE:
        return st.sampled_from(spec.states)
    return st.floats(spec.minimum, spec.maximum, allow_nan=False, allow_infinity=False)


@st.composite
def data_messages(draw: st.DrawFn) -> DataMessage:
    equipment = draw(st.sampled_from(list(EquipmentType)))
    specs = draw(st.lists(st.sampled_from(CATALOGUE[equipment].metrics), min_size=1,
                          unique_by=lambda s: s.name))
    stamps = draw(st.lists(timestamps, min_size=1, max_size=20, unique=True))
    samples = [Sample(ts=ts, values={s.name: draw(metric_values(s)) for s in specs})
               for ts in stamps]
    return DataMessage(device_type=equipment, seq=draw(st.integers(0, 2**53)), samples=samples,
                       historical=draw(st.booleans()))


@st.composite
def birth_messages(draw: st.DrawFn) -> BirthMessage:
    equipment = draw(st.sampled_from(list(EquipmentType)))
    specs = draw(st.lists(st.sampled_from(CATALOGUE[equipment].metrics), min_size=1,
                          unique_by=lambda s: s.name))
    declared = [MetricDeclaration(name=s.name, unit=s.unit, kind=s.kind,
                                  period_s=draw(st.sampled_from([0.5, 1.0, 10.0, 60.0])),
                                  maximum=draw(st.none() | st.floats(0, 1e6)))
                for s in specs]
    return BirthMessage(ts=draw(timestamps), session=draw(st.integers(0, 10**6)),
                        device_type=equipment, next_seq=draw(st.integers(0, 10**9)),
                        agent=AgentInfo(name="ref", version="1.0.0", firmware="fw"),
                        metrics=declared, meta=draw(st.dictionaries(identifiers, identifiers)))


status_messages = st.builds(
    StatusMessage, ts=timestamps, session=st.integers(0, 1000), queue_depth=st.integers(0, 10**7),
    oldest_queued_ts=st.none() | timestamps,
    dropped=st.dictionaries(st.sampled_from(["queue_full", "too_old"]), st.integers(0, 10**6)),
    clock_offset_ms=st.none() | st.integers(-10**6, 10**6), agent_version=st.just("1.2.3"))
death_messages = st.builds(DeathMessage, ts=timestamps, session=st.integers(0, 1000))
event_messages = st.builds(
    EventMessage, ts=timestamps,
    event=st.sampled_from(["counter_reset", "meter_replaced", "fault", "repair"]),
    metric=st.none() | st.just("energy_kwh"), detail=st.text(max_size=30).filter(
        lambda text: text.isprintable()),
    values=st.dictionaries(st.sampled_from(["old_final", "new_initial"]),
                           st.floats(0, 1e9, allow_nan=False)))
