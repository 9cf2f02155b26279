"""Packet codec micro-benchmark: the hand-written MQTT 5 codec against mqtt5, in one run.

    python -m bench.codec [--messages 2000] [--samples 20] [--repeat 15]

Decoding: the stream `bench.ingest` measures (data messages of 20 samples), as QoS 1
PUBLISHes fed in the chunks ingest reads (256 KiB), through `adapters.mqtt.wire` with each
codec: framing and parsing into `wire.Publish`, per message. Both must read the same
messages. Encoding: a batch of 500 PUBACKs and one confirmation PUBLISH, as ingest writes
them (hand-written) and as mqtt5 would. Best of `repeat` runs each, the codecs alternating, so
that both see the same machine; the load average is printed with the figures.

This is the one place besides `adapters.mqtt.wire` that imports mqtt5: to time the encoders
that wire.py does not use.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path
from typing import Any

import mqtt5

from adapters.mqtt import wire
from bench.ingest import stream
from contract import DeviceId

CHUNK_BYTES = 262_144  # what ingest's source reads at once (ingest_service/source.py)
PUBACK_BATCH = 500


def publishes(messages: int, samples: int, devices: int) -> bytes:
    """The stream as the broker sends it to a subscriber: QoS 1 PUBLISHes, ids cycling."""
    return b"".join(wire.publish(i % 65_535 + 1, topic, payload)
                    for i, (topic, payload) in enumerate(stream("bench", messages, samples,
                                                                devices)))


def decode(chunks: Sequence[bytes], codec: wire.Codec) -> list[wire.Publish]:
    reader = wire.PacketReader(codec=codec)
    return [wire.parse_publish(packet) for chunk in chunks for packet in reader.feed(chunk)]


def best_of(repeat: int, runs: dict[str, Callable[[], object]]) -> dict[str, float]:
    """The fastest of `repeat` runs of each, in seconds; the runs alternate."""
    best = dict.fromkeys(runs, float("inf"))
    for _ in range(repeat):
        for name, run in runs.items():
            start = time.perf_counter()
            run()
            best[name] = min(best[name], time.perf_counter() - start)
    return best


def measure(args: argparse.Namespace) -> dict[str, Any]:
    data = publishes(args.messages, args.samples, args.devices)
    chunks = [data[i:i + CHUNK_BYTES] for i in range(0, len(data), CHUNK_BYTES)]
    read = {codec: decode(chunks, codec) for codec in wire.CODECS}
    if read["mqtt5"] != read["hand-written"] or len(read["mqtt5"]) != args.messages:
        raise AssertionError("the two codecs read the stream differently")
    load_before = os.getloadavg()[0]
    decoding = best_of(args.repeat, {codec: partial(decode, chunks, codec)
                                     for codec in wire.CODECS})
    ids = list(range(1, PUBACK_BATCH + 1))
    topic = DeviceId("bench", "l1", "m1").ack_topic
    confirmation = b'{"v":1,"durable_seq":123456}'
    encoding = best_of(args.repeat, {
        "pubacks hand-written": lambda: [wire.pubacks(ids) for _ in range(10)],
        "pubacks mqtt5": lambda: [b"".join([mqtt5.PubAckPacket(i).write() for i in ids])
                                  for _ in range(10)],
        "publish hand-written": lambda: [wire.publish(7, topic, confirmation)
                                         for _ in range(5000)],
        "publish mqtt5": lambda: [mqtt5.PublishPacket(topic, confirmation, packet_id=7,
                                                      qos=mqtt5.QoS.AT_LEAST_ONCE).write()
                                  for _ in range(5000)]})
    load = (load_before + os.getloadavg()[0]) / 2
    per_message = {codec: seconds / args.messages * 1e6 for codec, seconds in decoding.items()}
    per_ack = {name.split()[1]: encoding[name] / (10 * PUBACK_BATCH) * 1e6
               for name in ("pubacks hand-written", "pubacks mqtt5")}
    per_publish = {name.split()[1]: encoding[name] / 5000 * 1e6
                   for name in ("publish hand-written", "publish mqtt5")}
    print(f"codec: {args.messages} PUBLISHes of {args.samples} samples "
          f"({len(data) / args.messages:,.0f} bytes each) in {len(chunks)} chunks of "
          f"{CHUNK_BYTES // 1024} KiB; best of {args.repeat}; load average {load:.2f} on "
          f"{os.cpu_count()} cores")
    print(f"decode (frame + parse) per message: hand-written {per_message['hand-written']:.2f}"
          f" us, mqtt5 {per_message['mqtt5']:.2f} us; mqtt5 takes "
          f"{per_message['mqtt5'] / per_message['hand-written']:.0%} of the time")
    print(f"encode a PUBACK (batches of {PUBACK_BATCH}): hand-written "
          f"{per_ack['hand-written']:.3f} us, mqtt5 {per_ack['mqtt5']:.3f} us; a confirmation "
          f"PUBLISH: hand-written {per_publish['hand-written']:.2f} us, mqtt5 "
          f"{per_publish['mqtt5']:.2f} us")
    return {"messages": args.messages, "load_average": load,
            "decode_us_hand_written": per_message["hand-written"],
            "decode_us_mqtt5": per_message["mqtt5"],
            "decode_mqtt5_vs_hand_written": per_message["mqtt5"] / per_message["hand-written"],
            "puback_us_hand_written": per_ack["hand-written"], "puback_us_mqtt5": per_ack["mqtt5"],
            "publish_us_hand_written": per_publish["hand-written"],
            "publish_us_mqtt5": per_publish["mqtt5"]}


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.codec", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--samples", type=int, default=20, help="samples per message")
    parser.add_argument("--devices", type=int, default=50)
    parser.add_argument("--repeat", type=int, default=15, help="runs per figure; the best counts")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args(argv)
    figures = measure(args)
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2, sort_keys=True) + "\n")


if __name__ == "__main__":
    main()
