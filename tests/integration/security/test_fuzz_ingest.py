"""20,000 payloads, most of them hostile, through MQTT into a running ingest worker.

Hypothesis drives a seeded generator (one example: the run is long, and shrinking would
replay it against the same worker): valid data messages of five devices interleaved with
random bytes, random JSON, valid messages with one part replaced by something nasty
(`true`, `1.0`, `"yes"`, NaN, Infinity, 1e400, 400-digit integers, seq 2**50, control
characters, lone surrogates, unsafe custom names), deep nesting, oversized payloads and
malformed topics. Ingest must not fail, must account for every payload (stored, or
dead-lettered with the reason the contract gives), and must store every sample of the
valid interleaved stream.
"""

from __future__ import annotations

import json
import random
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from adapters.clock import SystemClock
from contract import ContractError, DeviceId, MessageKind, decode
from contract.codec import without_bad_values
from ingest_service.service import IngestService
from loopmeter.services import LocalServices
from tests.ingest_service.support import Publisher, ingest_settings, telemetry_rows
from tests.support.live import wait_for

pytestmark = pytest.mark.integration

PAYLOADS = 20_000
VALID_DEVICES = 5
NASTY: list[Any] = [
    True, False, None, 1.0, 0, -1, "yes", "", "a\nb", "\x00", "\u2028", "é" * 2000,
    2**50, 2**63, -(2**63) - 1, 10**400, 1e308, -1e308, 1e-320, [], {}, [1], {"a": 1}]
NASTY_LITERALS = [b"NaN", b"Infinity", b"-Infinity", b"1e400", b"1" + b"0" * 400,
                  b'"\\ud800"', b'"\\u0000"', b"-0", b"1E+2", b"0.1e-400"]
SUFFIXES = ["data/extra", "data/", "DATA", "Data", "nonsense", "birth/x", ""]


class Generator:
    """Payloads from a seeded Random: valid interleaved data, and everything else."""

    def __init__(self, rnd: random.Random, site: str, now_ms: int) -> None:
        self.rnd = rnd
        self.site = site
        self.base = now_ms - 6 * 3_600_000  # the valid stream ends hours before now
        self.valid = [DeviceId(site, "ok", f"v{i}") for i in range(VALID_DEVICES)]
        self.junk = [DeviceId(site, "junk", f"j{i}") for i in range(5)]
        self.seq = dict.fromkeys(self.valid, 0)
        self.samples: Counter[DeviceId] = Counter()
        self.large = 0

    def valid_message(self) -> tuple[str, bytes]:
        device = self.rnd.choice(self.valid)
        seq = self.seq[device]
        self.seq[device] += 1
        count = self.rnd.randint(1, 5)
        first = self.base + seq * 5 * 1000  # every sample of a device: its own timestamp
        samples = [{"ts": first + i * 1000, "values": self._values()} for i in range(count)]
        self.samples[device] += count
        return device.topic(MessageKind.DATA), json.dumps({
            "v": 1, "device_type": "electricity_meter", "seq": seq,
            "historical": self.rnd.random() < 0.1, "samples": samples}).encode()

    def _values(self) -> dict[str, Any]:
        values: dict[str, Any] = {"power_kw": round(self.rnd.uniform(0, 1000), 3)}
        if self.rnd.random() < 0.5:
            values["energy_kwh"] = self.rnd.randint(0, 10**9)
        if self.rnd.random() < 0.3:
            values["x_mode"] = self.rnd.choice(["auto", "manual", 3, 4.5])
        return values

    def hostile(self) -> tuple[str, bytes]:
        device = self.rnd.choice(self.junk)
        topic = device.topic(MessageKind.DATA)
        kind = self.rnd.random()
        if kind < 0.15:
            return topic, self.rnd.randbytes(self.rnd.randint(0, 200))
        if kind < 0.25:
            return topic, json.dumps(self._random_json(3)).encode()
        if kind < 0.35:
            suffix = self.rnd.choice(SUFFIXES)
            topic = f"{device.prefix}/{suffix}" if suffix else device.prefix
            return topic, self._template()
        if kind < 0.40:
            depth = self.rnd.randint(100, 20_000)
            return topic, b"[" * depth + b"]" * depth
        if kind < 0.41 and self.large < 3:
            self.large += 1
            return topic, b'{"v":1,"pad":"' + b"x" * 1_100_000 + b'"}'
        if kind < 0.55:
            return topic, self._literal_mutation()
        return topic, self._mutation()

    def _template(self) -> bytes:
        ts = self.base + self.rnd.randint(0, 3_000_000)
        return json.dumps({"v": 1, "device_type": "electricity_meter", "seq": 1,
                           "samples": [{"ts": ts, "values": self._values()}]}).encode()

    def _random_json(self, depth: int) -> Any:
        roll = self.rnd.random()
        if depth == 0 or roll < 0.4:
            return self.rnd.choice(NASTY)
        if roll < 0.7:
            return [self._random_json(depth - 1) for _ in range(self.rnd.randint(0, 3))]
        return {self.rnd.choice(["v", "seq", "samples", "ts", "values", "x_a", "k"]):
                self._random_json(depth - 1) for _ in range(self.rnd.randint(0, 3))}

    def _mutation(self) -> bytes:
        body = json.loads(self._template())
        sample = body["samples"][0]
        target = self.rnd.choice([body, sample, sample["values"]])
        key = self.rnd.choice([*target, "x_" + self.rnd.choice(["a\\", "a b", "A", "a.b",
                                                                   "a" * 70, "é", "ok"]),
                               "extra", "historical"])
        if self.rnd.random() < 0.2:
            target.pop(key, None)
        else:
            target[key] = self.rnd.choice(NASTY)
        if self.rnd.random() < 0.1 and isinstance(body.get("samples"), list):
            body["samples"].append(dict(sample))  # a duplicate timestamp
        return json.dumps(body).encode()

    def _literal_mutation(self) -> bytes:
        """A value JSON can spell but Python's json would not write."""
        literal = self.rnd.choice(NASTY_LITERALS)
        field = self.rnd.choice([b'"power_kw":', b'"x_a":', b'"seq":', b'"v":', b'"ts":'])
        template = self._template()
        if field in template:
            start = template.index(field) + len(field)
            end = min(i for i in (template.find(b",", start), template.find(b"}", start))
                      if i >= 0)
            return template[:start] + literal + template[end:]
        return template[:-1] + b"," + field + literal + b"}"


def verdict(topic: str, payload: bytes, now_ms: int) -> tuple[bool, str | None]:
    """What the contract says ingest must do: store (some of) it, and the dead letter's
    reason, if any."""
    try:
        decode(topic, payload, now_ms=now_ms)
    except ContractError as error:
        stored = without_bad_values(topic, payload, error, now_ms=now_ms) is not None
        return stored, error.reason.value
    return True, None


@settings(max_examples=1, deadline=None, database=None, phases=[Phase.generate],
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(seed=st.integers(0, 2**64 - 1))
def test_twenty_thousand_payloads_crash_nothing_and_each_is_accounted_for(
        seed: int, services: LocalServices, influx_db: str, unique_site: str,
        tmp_path: Path) -> None:
    rnd = random.Random(seed)  # a failure prints the seed: the same 20,000 payloads again
    now_ms = SystemClock().now_ms()
    generator = Generator(rnd, unique_site, now_ms)
    messages = [generator.valid_message() if rnd.random() < 0.4 else generator.hostile()
                for _ in range(PAYLOADS)]
    expected = Counter(reason for topic, payload in messages
                       if (reason := verdict(topic, payload, now_ms)[1]) is not None)
    settings_ = ingest_settings(services, influx_db, tmp_path / "state", site=unique_site,
                                quality_interval_s=60.0)
    with IngestService(settings_) as service, Publisher(services.mqtt_url) as publisher:
        publisher.publish_all(messages)
        publisher.wait_published(120)
        wait_for(lambda: service.stats.messages_in >= PAYLOADS and service.stats.unacked == 0,
                 180, "every payload to be processed and acknowledged")
        assert service.failure is None and service.health()["ok"]
        assert service.stats.messages_in == PAYLOADS
        assert Counter(service.stats.dead_letters) == expected
        assert sum(service.dead_letters.counts().values()) == sum(expected.values())
    stored = Counter(device for device, _, _ in telemetry_rows(services.influx_url, influx_db,
                                                             unique_site)
                     if device.startswith("v"))
    assert stored == Counter({device.device: count
                              for device, count in generator.samples.items()})
