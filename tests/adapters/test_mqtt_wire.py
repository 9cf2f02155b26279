"""The MQTT 5 codec of ingest's consumer: packets as the standard lays them out, byte by byte."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from adapters.mqtt import wire


def _string(text: str) -> bytes:
    return struct.pack("!H", len(text.encode())) + text.encode()


def _publish(topic: str, payload: bytes, *, qos: int = 1, packet_id: int = 7,
             properties: bytes = b"", dup: bool = False, retain: bool = False) -> bytes:
    body = _string(topic) + (struct.pack("!H", packet_id) if qos else b"")
    body += wire.varint(len(properties)) + properties + payload
    first = 0x30 | (qos << 1) | (0x08 if dup else 0) | (0x01 if retain else 0)
    return bytes((first,)) + wire.varint(len(body)) + body


@pytest.mark.parametrize(("value", "encoded"), [
    (0, b"\x00"), (127, b"\x7f"), (128, b"\x80\x01"), (16_383, b"\xff\x7f"),
    (16_384, b"\x80\x80\x01"), (2_097_151, b"\xff\xff\x7f"), (2_097_152, b"\x80\x80\x80\x01"),
    (268_435_455, b"\xff\xff\xff\x7f")])
def test_variable_byte_integers_match_the_standards_table(value: int, encoded: bytes) -> None:
    assert wire.varint(value) == encoded


@pytest.mark.parametrize("value", [-1, 268_435_456])
def test_a_length_outside_four_bytes_is_refused(value: int) -> None:
    with pytest.raises(ValueError, match="variable byte integer"):
        wire.varint(value)


def test_connect_lays_out_name_level_flags_keepalive_properties_and_payload() -> None:
    packet = wire.connect("ingest-0", keepalive_s=30, clean_start=False, session_expiry_s=86_400,
                          receive_maximum=1000,
                          credentials=wire.Credentials("user", "secret"))
    properties = b"\x11" + struct.pack("!I", 86_400) + b"\x21" + struct.pack("!H", 1000)
    body = (_string("MQTT") + b"\x05" + bytes((0x80 | 0x40,)) + struct.pack("!H", 30)
            + wire.varint(len(properties)) + properties
            + _string("ingest-0") + _string("user") + _string("secret"))
    assert packet == b"\x10" + wire.varint(len(body)) + body


def test_connect_flags_follow_clean_start_and_credentials() -> None:
    def flags(**options: object) -> int:
        packet = wire.connect("c", keepalive_s=5, session_expiry_s=0, **options)  # type: ignore[arg-type]
        return packet[2 + 7]  # after the fixed header (2 bytes), the name (6) and level (1)

    assert flags(clean_start=True) == 0x02
    assert flags(clean_start=False, credentials=wire.Credentials("u")) == 0x80
    assert flags(clean_start=True, credentials=wire.Credentials("u", "")) == 0xC2


def test_subscribe_unsubscribe_and_pubacks() -> None:
    assert wire.subscribe(3, "$share/g/a/+") == (
        b"\x82" + wire.varint(2 + 1 + 14 + 1) + b"\x00\x03\x00" + _string("$share/g/a/+") + b"\x01")
    assert wire.unsubscribe(65_535, "x") == b"\xa2\x06\xff\xff\x00" + _string("x")
    assert wire.pubacks([1, 2, 65_535]) == b"\x40\x02\x00\x01\x40\x02\x00\x02\x40\x02\xff\xff"
    assert wire.pubacks([]) == b""


def test_a_publish_yields_topic_payload_qos_id_and_flags() -> None:
    properties = b"\x01\x01" + b"\x03" + _string("application/json")  # format, content type
    [packet] = wire.PacketReader().feed(_publish("a/b", b'{"v":1}', properties=properties,
                                                 dup=True, retain=True))
    assert wire.parse_publish(packet) == wire.Publish("a/b", b'{"v":1}', 1, 7, True, True)


def test_a_qos_0_publish_has_no_packet_id() -> None:
    [packet] = wire.PacketReader().feed(_publish("t", b"x", qos=0))
    assert wire.parse_publish(packet) == wire.Publish("t", b"x", 0, 0, False, False)


@pytest.mark.parametrize(("raw", "problem"), [
    (_publish("t", b"x", qos=2), "QoS 2"),
    (_publish("", b"x"), "empty topic"),
    (b"\x32\x03\x00\x05a", "malformed"),
    (b"\x32\x05\x00\x01\xff\x00\x01", "malformed"),  # a topic that is not UTF-8
    (b"\x32\x06\x00\x01t\x00\x01\x09", "properties"),  # properties longer than the packet
])
def test_a_broken_publish_is_a_protocol_error(raw: bytes, problem: str) -> None:
    [packet] = wire.PacketReader().feed(raw)
    with pytest.raises(wire.ProtocolError, match=problem):
        wire.parse_publish(packet)


Message = tuple[str, bytes, int]
MESSAGES = st.lists(st.tuples(st.text(min_size=1, max_size=20), st.binary(max_size=300),
                              st.integers(0, 1)), min_size=1, max_size=8)


def _chunks(messages: list[Message], data: st.DataObject) -> list[bytes]:
    """The PUBLISH packets of `messages` as one stream, cut at places hypothesis draws."""
    stream = b"".join(_publish(topic, payload, qos=qos, packet_id=i + 1)
                      for i, (topic, payload, qos) in enumerate(messages))
    cuts = sorted(data.draw(st.lists(st.integers(0, len(stream)), max_size=10)))
    return [stream[start:end] for start, end in zip([0, *cuts], [*cuts, len(stream)],
                                                    strict=True)]


@given(MESSAGES, st.data())
def test_packets_come_out_whole_however_the_stream_is_cut(messages, data) -> None:
    reader = wire.PacketReader()
    packets = [packet for chunk in _chunks(messages, data) for packet in reader.feed(chunk)]
    assert reader.buffered == 0
    assert [(p.topic, p.payload, p.qos, p.packet_id) for p in map(wire.parse_publish, packets)] \
        == [(t, b, q, i + 1 if q else 0) for i, (t, b, q) in enumerate(messages)]


def test_a_length_of_more_than_four_bytes_is_a_protocol_error() -> None:
    with pytest.raises(wire.ProtocolError, match="longer than four bytes"):
        wire.PacketReader().feed(b"\x30\xff\xff\xff\xff\x01")


def test_connack_gives_session_present_reason_and_the_servers_keepalive() -> None:
    properties = b"\x13\x00\x3c" + b"\x21\x00\x14" + b"\x26" + _string("k") + _string("v")
    raw = b"\x20" + wire.varint(2 + 1 + len(properties)) + b"\x01\x00" \
        + wire.varint(len(properties)) + properties
    [packet] = wire.PacketReader().feed(raw)
    assert wire.parse_connack(packet) == wire.ConnAck(True, 0, 60, None, receive_maximum=20)


def test_a_connack_without_receive_maximum_means_the_standards_default() -> None:
    [packet] = wire.PacketReader().feed(b"\x20\x03\x00\x00\x00")
    assert wire.parse_connack(packet).receive_maximum == 65_535


def test_a_refused_connack_carries_its_reason_string() -> None:
    properties = b"\x1f" + _string("not authorised")
    raw = b"\x20" + wire.varint(3 + len(properties)) + b"\x00\x87" \
        + wire.varint(len(properties)) + properties
    [packet] = wire.PacketReader().feed(raw)
    assert wire.parse_connack(packet) == wire.ConnAck(False, 0x87, None, "not authorised")


@pytest.mark.parametrize("raw", [
    b"\x20\x01\x00",  # too short
    b"\x20\x04\x00\x00\x05\x13",  # properties longer than the packet
    b"\x20\x04\x00\x00\x01\x7f",  # an unknown property
    b"\x20\x05\x00\x00\x02\x13\x00",  # a two-byte property cut short
])
def test_a_broken_connack_is_a_protocol_error(raw: bytes) -> None:
    [packet] = wire.PacketReader().feed(raw)
    with pytest.raises(wire.ProtocolError):
        wire.parse_connack(packet)


def test_suback_and_unsuback_give_their_id_and_reasons() -> None:
    [suback, unsuback] = wire.PacketReader().feed(b"\x90\x04\x00\x03\x00\x01"
                                                  b"\xb0\x05\x01\x00\x00\x00\x11")
    assert wire.parse_acknowledgement(suback) == (3, [1])
    assert wire.parse_acknowledgement(unsuback) == (256, [0, 0x11])


def test_disconnect_reason_defaults_to_normal() -> None:
    [empty, taken_over] = wire.PacketReader().feed(b"\xe0\x00\xe0\x02\x8e\x00")
    assert wire.disconnect_reason(empty) == 0 and wire.disconnect_reason(taken_over) == 0x8E


@given(st.binary(max_size=64))
def test_arbitrary_bytes_raise_nothing_but_protocol_errors(raw: bytes) -> None:
    try:
        for packet in wire.PacketReader().feed(raw):
            parse = {wire.PacketType.PUBLISH: wire.parse_publish,
                     wire.PacketType.CONNACK: wire.parse_connack,
                     wire.PacketType.SUBACK: wire.parse_acknowledgement,
                     wire.PacketType.UNSUBACK: wire.parse_acknowledgement}.get(packet.type)
            if parse:
                parse(packet)
    except wire.ProtocolError:
        pass


def test_connect_carries_the_maximum_packet_size_when_asked() -> None:
    plain = wire.connect("c", keepalive_s=5, clean_start=True, session_expiry_s=0)
    sized = wire.connect("c", keepalive_s=5, clean_start=True, session_expiry_s=0,
                         maximum_packet_size=1_114_112)
    assert b"\x27" + struct.pack("!I", 1_114_112) in sized
    assert len(sized) == len(plain) + 5


@given(st.text(min_size=1, max_size=40).filter(lambda t: "\x00" not in t),
       st.binary(max_size=2000), st.integers(min_value=1, max_value=65_535))
def test_a_published_packet_reads_back_as_sent(topic: str, payload: bytes, packet_id: int) -> None:
    [packet] = wire.PacketReader().feed(wire.publish(packet_id, topic, payload))
    parsed = wire.parse_publish(packet)
    assert (parsed.topic, parsed.payload, parsed.qos, parsed.packet_id, parsed.retain) == (
        topic, payload, 1, packet_id, False)


def test_a_puback_gives_its_packet_id_and_reason() -> None:
    short, refused = wire.PacketReader().feed(b"\x40\x02\x01\x02" + b"\x40\x03\x00\x07\x87")
    assert wire.parse_puback(short) == (0x0102, 0)
    assert wire.parse_puback(refused) == (7, 0x87)


def test_a_packet_over_the_maximum_is_refused_before_its_body_is_buffered() -> None:
    reader = wire.PacketReader(max_packet=1000)
    header = _publish("t", b"x" * 2000)[:10]  # only the start of it has arrived
    with pytest.raises(wire.ProtocolError, match="exceeds the maximum packet size"):
        reader.feed(header)
    assert wire.PacketReader(max_packet=1000).feed(_publish("t", b"x" * 900))


# ---------------------------------------------------------------- the mqtt5 decoder
# A reader built with codec="mqtt5" must read every packet above as the hand-written one does.

_INBOUND = [  # (raw packet, its parser): the standard's layouts of the tests above
    (_publish("a/b", b'{"v":1}', properties=b"\x01\x01\x03" + _string("application/json"),
              dup=True, retain=True), wire.parse_publish),
    (_publish("t", b"x", qos=0), wire.parse_publish),
    (_publish("t", b"x" * 300, packet_id=65_535), wire.parse_publish),  # a two-byte length
    (b"\x20\x10\x01\x00\x0d\x13\x00\x3c\x21\x00\x14\x26" + _string("k") + _string("v"),
     wire.parse_connack),
    (b"\x20\x03\x00\x00\x00", wire.parse_connack),
    (b"\x20\x14\x00\x87\x11\x1f" + _string("not authorised"), wire.parse_connack),
    (b"\x90\x04\x00\x03\x00\x01", wire.parse_acknowledgement),
    (b"\x90\x04\x00\x03\x00\x87", wire.parse_acknowledgement),
    (b"\xb0\x05\x01\x00\x00\x00\x11", wire.parse_acknowledgement),
    (b"\x40\x02\x01\x02", wire.parse_puback),
    (b"\x40\x03\x00\x07\x87", wire.parse_puback),
    (b"\xe0\x00", wire.disconnect_reason),
    (b"\xe0\x02\x8e\x00", wire.disconnect_reason),
    (b"\xd0\x00", wire.parse_pingresp),
]


@pytest.mark.parametrize(("raw", "parse"), _INBOUND)
def test_mqtt5_reads_every_inbound_packet_as_the_hand_written_codec(raw: bytes, parse) -> None:
    [by_hand] = wire.PacketReader().feed(raw)
    [decoded] = wire.PacketReader(codec="mqtt5").feed(raw)
    assert isinstance(decoded, wire.Decoded) and decoded.type == by_hand.type
    assert parse(decoded) == parse(by_hand)


@given(MESSAGES, st.data())
def test_both_codecs_read_a_stream_cut_anywhere_alike(messages, data) -> None:
    chunks = _chunks(messages, data)
    read: dict[wire.Codec, list[wire.Publish]] = {}
    for codec in wire.CODECS:
        reader = wire.PacketReader(codec=codec)
        read[codec] = [wire.parse_publish(packet) for chunk in chunks
                       for packet in reader.feed(chunk)]
        assert reader.buffered == 0
    assert read["mqtt5"] == read["hand-written"] and len(read["mqtt5"]) == len(messages)


@pytest.mark.parametrize(("raw", "problem"), [
    (_publish("t", b"x", qos=2), "QoS 2"),
    (_publish("", b"x"), "empty topic"),
    (b"\x32\x03\x00\x05a", "malformed"),
    (b"\x32\x06\x00\x01t\x00\x01\x09", "properties"),
    (b"\x32\x07\x00\x01t\x00\x01\x01\x7f", "Invalid PropertyType"),  # only mqtt5 reads them
    (b"\x20\x03\x00\x01\x00", "ConnAckReasonCode"),  # a reason the standard does not define
    (b"\xd0\x01\x00", "PINGRESP"),
])
def test_mqtt5s_refusals_are_protocol_errors_when_parsed(raw: bytes, problem: str) -> None:
    [packet] = wire.PacketReader(codec="mqtt5").feed(raw)
    parse = {3: wire.parse_publish, 2: wire.parse_connack, 13: wire.parse_pingresp}[packet.type]
    with pytest.raises(wire.ProtocolError, match=problem):
        parse(packet)


# mqtt5 0.8.0 panics on a string that is not UTF-8; pyo3 reports the UnicodeDecodeError as
# "Exception ignored" (an unraisable exception, which pytest would turn into an error).
_PANICS = pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")


@_PANICS
@pytest.mark.parametrize("raw", [
    b"\x32\x05\x00\x01\xff\x00\x01",  # the topic
    b"\x20\x07\x00\x87\x04\x1f\x00\x01\xff",  # a CONNACK's reason string
])
def test_mqtt5s_panic_on_a_string_that_is_not_utf8_is_a_protocol_error(raw: bytes) -> None:
    [packet] = wire.PacketReader(codec="mqtt5").feed(raw)
    parse = {3: wire.parse_publish, 2: wire.parse_connack}[packet.type]
    with pytest.raises(wire.ProtocolError, match="malformed"):
        parse(packet)


@_PANICS
@given(st.binary(max_size=64))
def test_arbitrary_bytes_raise_nothing_but_protocol_errors_with_mqtt5(raw: bytes) -> None:
    parsers = {3: wire.parse_publish, 2: wire.parse_connack, 9: wire.parse_acknowledgement,
               11: wire.parse_acknowledgement, 4: wire.parse_puback, 14: wire.disconnect_reason,
               13: wire.parse_pingresp}
    try:
        for packet in wire.PacketReader(codec="mqtt5").feed(raw):
            if packet.type in parsers:
                parsers[packet.type](packet)
    except wire.ProtocolError:
        pass


def test_mqtt5_too_refuses_a_packet_over_the_maximum_before_it_is_whole() -> None:
    reader = wire.PacketReader(max_packet=1000, codec="mqtt5")
    with pytest.raises(wire.ProtocolError, match="exceeds the maximum packet size"):
        reader.feed(_publish("t", b"x" * 2000)[:10])
    with pytest.raises(wire.ProtocolError, match="exceeds the maximum packet size"):
        wire.PacketReader(max_packet=1000, codec="mqtt5").feed(_publish("t", b"x" * 2000))
    assert wire.PacketReader(max_packet=1000, codec="mqtt5").feed(_publish("t", b"x" * 900))


def test_mqtt5_too_refuses_a_length_of_more_than_four_bytes() -> None:
    with pytest.raises(wire.ProtocolError, match="longer than four bytes"):
        wire.PacketReader(codec="mqtt5").feed(b"\x30\xff\xff\xff\xff\x01")


def test_a_packet_of_the_wrong_type_is_a_protocol_error() -> None:
    [puback] = wire.PacketReader(codec="mqtt5").feed(b"\x40\x02\x00\x01")
    with pytest.raises(wire.ProtocolError, match="PubAckPacket where a PUBLISH"):
        wire.parse_publish(puback)
