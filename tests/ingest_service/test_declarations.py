"""Custom metrics' declared kinds: what fits is kept, what does not is named, bounded memory."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from contract import (
    AgentInfo,
    BirthMessage,
    DataMessage,
    DeviceId,
    EquipmentType,
    MessageKind,
    MetricDeclaration,
    MetricKind,
    Sample,
)
from ingest_service.declarations import Declarations

DEVICE = DeviceId("s1", "l1", "m1")
TOPIC = DEVICE.topic(MessageKind.DATA)
NAMES = ["x_a", "x_b", "x_c", "power_kw"]


def birth(kinds: dict[str, MetricKind]) -> BirthMessage:
    return BirthMessage(ts=0, session=0, device_type=EquipmentType.ELECTRICITY_METER,
                        next_seq=0, agent=AgentInfo(name="a", version="1"), metrics=[
                            MetricDeclaration(name=name, unit="", kind=kind, period_s=1)
                            for name, kind in kinds.items()])


values = st.dictionaries(st.sampled_from(NAMES), st.floats(0, 9) | st.sampled_from(["on", "x"]),
                         min_size=1)


@given(st.dictionaries(st.sampled_from(NAMES[:3]), st.sampled_from(list(MetricKind)),
                       min_size=1), st.lists(values, min_size=1, max_size=4))
def test_what_fits_is_kept_and_what_does_not_is_named(kinds: dict[str, MetricKind],
                                                      samples: list[dict[str, float | str]]
                                                      ) -> None:
    declarations = Declarations()
    declarations.learn(DEVICE, birth(kinds))
    message = DataMessage(device_type=EquipmentType.ELECTRICITY_METER, seq=0, samples=[
        Sample(ts=i, values=v) for i, v in enumerate(samples)])
    fitting, errors = declarations.misfits(TOPIC, message)

    def fits(name: str, value: float | str) -> bool:
        kind = kinds.get(name)
        return kind is None or isinstance(value, str) == (kind is MetricKind.STATE)

    kept = [{k: v for k, v in s.items() if fits(k, v)} for s in samples]
    assert [s.values for s in (fitting.samples if fitting else [])] == [k for k in kept if k]
    assert len(errors) == sum(not fits(k, v) for s in samples for k, v in s.items())
    assert declarations.precise(TOPIC) == (MetricKind.STATE in kinds.values())


def test_devices_remembered_are_bounded_and_an_undeclared_device_is_left_alone() -> None:
    declarations = Declarations(max_devices=1)
    other = DeviceId("s1", "l1", "m2")
    declarations.learn(DEVICE, birth({"x_a": MetricKind.STATE}))
    declarations.learn(other, birth({"x_a": MetricKind.STATE}))
    assert not declarations.precise(TOPIC) and declarations.precise(other.topic(MessageKind.DATA))
    message = DataMessage(device_type=EquipmentType.ELECTRICITY_METER, seq=0,
                          samples=[Sample(ts=0, values={"x_a": 1.0})])
    assert declarations.misfits(TOPIC, message) == (message, [])
