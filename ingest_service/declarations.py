"""What each device declared its custom metrics to be, from the births this worker saw.

A custom (`x_`) metric is declared in the device's birth as a state (its values are strings)
or a counter or gauge (numbers). The contract checks a value's type against the catalogue
only; for a custom metric the declaration decides, when this worker has seen it: a value of
the other type is dead-lettered alone, and the rest of its message stored. Births arrive on
every connect; with several workers on one shared subscription a worker may not have seen a
device's birth, and then a custom value's own type decides (its field key carries that type,
`contract.points.TEXT_SUFFIX`, so no conflict can follow either way). Pure, bounded.
"""

from __future__ import annotations

from collections import OrderedDict

from contract import CUSTOM_PREFIX, BirthMessage, DataMessage, FieldError, MetricKind, Sample
from contract.topics import DeviceId, MessageKind


class Declarations:
    """Custom metrics' declared kinds per device, for at most `max_devices` devices (the
    least recently declared is forgotten first)."""

    def __init__(self, max_devices: int = 100_000) -> None:
        self._max_devices = max_devices
        # By data topic (what a data message arrives on): custom metric -> declared a state.
        self._states: OrderedDict[str, dict[str, bool]] = OrderedDict()

    def learn(self, device: DeviceId, birth: BirthMessage) -> None:
        topic = device.topic(MessageKind.DATA)
        self._states.pop(topic, None)
        declared = {metric.name: metric.kind is MetricKind.STATE for metric in birth.metrics
                    if metric.name.startswith(CUSTOM_PREFIX)}
        if not declared:
            return
        if len(self._states) >= self._max_devices:
            self._states.popitem(last=False)
        self._states[topic] = declared

    def precise(self, topic: str) -> bool:
        """Whether a data message on `topic` must be decoded the precise way to be checked:
        the fast path takes numbers for custom metrics, which a state declaration refuses."""
        declared = self._states.get(topic)
        return declared is not None and any(declared.values())

    def misfits(self, topic: str, message: DataMessage) -> tuple[DataMessage | None,
                                                                 list[FieldError]]:
        """The message without its custom values of an undeclared type (None if nothing is
        left), and where they were; the message itself when all fit."""
        declared = self._states.get(topic)
        if not declared:
            return message, []
        errors: list[FieldError] = []
        samples = []
        for index, sample in enumerate(message.samples):
            kept = {}
            for name, value in sample.values.items():
                state = declared.get(name)
                if state is None or isinstance(value, str) == state:
                    kept[name] = value
                else:
                    kind = "a state (a string)" if state else "a number"
                    errors.append(FieldError(f"samples[{index}].values.{name}",
                                             f"declared in the birth as {kind}, got {value!r}"))
            if kept:
                samples.append(sample if len(kept) == len(sample.values)
                               else Sample(ts=sample.ts, values=kept))
        if not errors:
            return message, []
        return (message.model_copy(update={"samples": samples}) if samples else None), errors
