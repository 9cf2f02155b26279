"""The few MQTT 5 packets a consumer needs, as bytes. No I/O.

Ingest receives thousands of messages a second and acknowledges them in batches; a general
client library spends more on each message than ingest spends on decoding it (several system
calls, a properties object, a message object, callbacks under locks). This module frames and
decodes every whole packet of a received chunk in one loop and writes a batch of PUBACKs as
one buffer. It covers what a subscriber at QoS 0 and 1 meets (MQTT 5.0, OASIS standard):

    out  CONNECT, SUBSCRIBE, UNSUBSCRIBE, PUBLISH, PUBACK, PINGREQ, DISCONNECT
    in   CONNACK, SUBACK, UNSUBACK, PUBLISH, PUBACK, PINGRESP, DISCONNECT

Two codecs share the work, each where it is correct and measured faster (docs/ingest.md,
`python -m bench.codec`):

* `mqtt5` (PyPI, sans-IO MQTT 5 in Rust) writes CONNECT, SUBSCRIBE and UNSUBSCRIBE: the same
  bytes as the hand-written layout, in a fifth to three fifths of the time.
* The hand-written code below writes batches of PUBACKs (twice as fast as one mqtt5 object
  per acknowledgement) and PUBLISH (mqtt5 refuses to write a topic with a wildcard, which
  the round-trip property test sends), and reads every inbound packet. mqtt5 0.8.0 reads
  a PUBLISH in about 60 % of the time but is not correct on a malformed one: it builds every
  string with `from_utf8_unchecked` (undefined behaviour in Rust on bytes that are not
  UTF-8), then panics; pyo3 raises that as PanicException, a BaseException that
  `except Exception` lets through, and reports the UnicodeDecodeError as "Exception
  ignored". A reader built with `codec="mqtt5"` uses it all the same (to be measured
  against, and for when it is fixed): it translates IndexError (not all there yet) into
  "wait for more bytes", and ValueError (malformed), the panic or anything else it raises
  into a ProtocolError when the packet is parsed, once, here. This module is the only one
  that imports mqtt5 (import-linter).

Anything that breaks the rules, or a packet type a subscriber never receives, raises
ProtocolError.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from enum import IntEnum
from typing import Literal, NamedTuple, TypeVar

import mqtt5

from adapters.mqtt.settings import Credentials

Codec = Literal["mqtt5", "hand-written"]
CODECS: tuple[Codec, ...] = ("mqtt5", "hand-written")


class ProtocolError(Exception):
    """The peer sent bytes that are not the MQTT 5 this codec speaks."""


class PacketType(IntEnum):
    CONNECT = 1
    CONNACK = 2
    PUBLISH = 3
    PUBACK = 4
    SUBSCRIBE = 8
    SUBACK = 9
    UNSUBSCRIBE = 10
    UNSUBACK = 11
    PINGREQ = 12
    PINGRESP = 13
    DISCONNECT = 14


MAX_REMAINING_LENGTH = 268_435_455  # four bytes of variable-length integer
PINGREQ = b"\xc0\x00"
DISCONNECT = b"\xe0\x00"  # reason 0, normal disconnection: the session is kept

# Property identifiers (MQTT 5.0, 2.2.2.2) that the hand-written decoder reads.
_SERVER_KEEP_ALIVE = 0x13
_RECEIVE_MAXIMUM = 0x21
_REASON_STRING = 0x1F
DEFAULT_RECEIVE_MAXIMUM = 65_535  # what a CONNACK without the property means (3.2.2.3.3)
SESSION_TAKEN_OVER = 0x8E  # DISCONNECT reason: another connection took this client id


def varint(value: int) -> bytes:
    """A variable byte integer (MQTT 5.0, 1.5.5)."""
    if not 0 <= value <= MAX_REMAINING_LENGTH:
        raise ValueError(f"{value} does not fit a variable byte integer")
    out = bytearray()
    while True:
        value, digit = divmod(value, 128)
        out.append(digit | (0x80 if value else 0))
        if not value:
            return bytes(out)


def _read_varint(data: bytes | bytearray, offset: int) -> tuple[int, int] | None:
    """The integer at `offset` and the offset after it; None if its bytes are not all there."""
    value, shift = 0, 0
    for index in range(offset, min(offset + 4, len(data))):
        digit = data[index]
        value |= (digit & 0x7F) << shift
        if not digit & 0x80:
            return value, index + 1
        shift += 7
    if len(data) - offset >= 4:
        raise ProtocolError("a variable byte integer longer than four bytes")
    return None


# ---------------------------------------------------------------- outbound


def connect(client_id: str, *, keepalive_s: int, clean_start: bool, session_expiry_s: int,
            receive_maximum: int | None = None, credentials: Credentials | None = None,
            maximum_packet_size: int | None = None) -> bytes:
    """CONNECT; `maximum_packet_size`: the broker must not send a larger packet (3.1.2.11.4)."""
    password = credentials.password if credentials else None
    return mqtt5.ConnectPacket(
        client_id, username=credentials.username if credentials else None,
        password=password.encode() if password is not None else None,
        clean_start=clean_start, keep_alive=keepalive_s, session_expiry_interval=session_expiry_s,
        receive_max=receive_maximum or DEFAULT_RECEIVE_MAXIMUM,
        max_packet_size=maximum_packet_size).write()


def subscribe(packet_id: int, topic_filter: str, qos: int = 1) -> bytes:
    """SUBSCRIBE to one filter; its options byte is just the maximum QoS."""
    return mqtt5.SubscribePacket(packet_id, [mqtt5.TopicFilter(
        topic_filter, max_qos=mqtt5.QoS(qos), retain_as_published=False)]).write()


def unsubscribe(packet_id: int, topic_filter: str) -> bytes:
    return mqtt5.UnsubscribePacket(packet_id, [topic_filter]).write()


def publish(packet_id: int, topic: str, payload: bytes) -> bytes:
    """A PUBLISH at QoS 1, not retained, without properties. Hand-written: mqtt5 refuses to
    write a topic with a wildcard, which this codec's round-trip property test sends."""
    body = _string(topic) + struct.pack("!H", packet_id) + b"\x00" + payload
    return b"\x32" + varint(len(body)) + body


def _string(text: str) -> bytes:
    encoded = text.encode()
    return struct.pack("!H", len(encoded)) + encoded


def pubacks(packet_ids: Iterable[int]) -> bytes:
    """PUBACKs with reason 0 (success), one after another, in the order given."""
    return b"".join(struct.pack("!BBH", 0x40, 2, packet_id) for packet_id in packet_ids)


# ---------------------------------------------------------------- inbound: framing


class Packet(NamedTuple):
    """A whole packet as bytes: framed by the hand-written codec, or refused by mqtt5
    (`refusal` says why; parsing it raises ProtocolError)."""

    first_byte: int
    body: bytes
    refusal: str | None = None

    @property
    def type(self) -> int:
        return self.first_byte >> 4


class Decoded:
    """A whole packet as mqtt5 decoded it."""

    __slots__ = ("packet", "type")

    def __init__(self, packet: mqtt5.Packet) -> None:
        self.type = _TYPES[type(packet)]
        self.packet = packet


Frame = Packet | Decoded

_TYPES: dict[type[mqtt5.Packet], int] = {
    mqtt5.ConnectPacket: 1, mqtt5.ConnAckPacket: 2, mqtt5.PublishPacket: 3,
    mqtt5.PubAckPacket: 4, mqtt5.PubRecPacket: 5, mqtt5.PubRelPacket: 6, mqtt5.PubCompPacket: 7,
    mqtt5.SubscribePacket: 8, mqtt5.SubAckPacket: 9, mqtt5.UnsubscribePacket: 10,
    mqtt5.UnsubAckPacket: 11, mqtt5.PingReqPacket: 12, mqtt5.PingRespPacket: 13,
    mqtt5.DisconnectPacket: 14, mqtt5.AuthPacket: 15}


class PacketReader:
    """Whole packets out of a byte stream fed in chunks of any size.

    A packet larger than `max_packet` raises ProtocolError as soon as its header is read,
    before its body is buffered. The start of a packet not yet whole is kept in a bytearray
    that grows in place: a large packet arriving in many chunks is not re-copied each time.
    `codec` chooses who decodes (see the module's docstring); framing rules are the same.
    """

    def __init__(self, max_packet: int = MAX_REMAINING_LENGTH,
                 codec: Codec = "hand-written") -> None:
        self._rest = bytearray()
        self._max_packet = max_packet
        self._frames = self._read_mqtt5 if codec == "mqtt5" else self._read_by_hand

    def feed(self, data: bytes) -> list[Frame]:
        if self._rest:
            self._rest += data
            buffer: bytes | bytearray = self._rest
        else:
            buffer = data
        frames, offset = self._frames(buffer)
        if buffer is self._rest:
            del self._rest[:offset]
        else:
            self._rest = bytearray(buffer[offset:])
        return frames

    @property
    def buffered(self) -> int:
        return len(self._rest)

    def _read_mqtt5(self, buffer: bytes | bytearray) -> tuple[list[Frame], int]:
        """mqtt5 frames and decodes; a packet it refuses is framed by hand and marked."""
        frames: list[Frame] = []
        offset, end, read = 0, len(buffer), mqtt5.read
        with memoryview(buffer) as view:
            while offset < end:
                try:
                    packet, size = read(view[offset:])
                except IndexError:  # not all there, by mqtt5's reading
                    refusal = "mqtt5 read past the packet's end"
                except Exception as error:  # ValueError: malformed; anything else is a bug
                    refusal = f"{error}"
                except BaseException as error:
                    if type(error).__name__ != "PanicException":  # pyo3's, on bad UTF-8
                        raise
                    refusal = "mqtt5 panicked (a string that is not UTF-8?)"
                else:
                    if size > self._max_packet:
                        self._refuse_size(size)
                    frames.append(Decoded(packet))
                    offset += size
                    continue
                # Framed by its header: if it is whole, mqtt5 refused it; else wait for more.
                framed = self._frame(buffer, offset)
                if framed is None:
                    break
                raw, offset = framed
                frames.append(raw._replace(refusal=refusal))
        return frames, offset

    def _read_by_hand(self, buffer: bytes | bytearray) -> tuple[list[Frame], int]:
        frames: list[Frame] = []
        offset = 0
        while (framed := self._frame(buffer, offset)) is not None:
            packet, offset = framed
            frames.append(packet)
        return frames, offset

    def _frame(self, buffer: bytes | bytearray, offset: int) -> tuple[Packet, int] | None:
        """The packet at `offset` and the offset after it; None while it is not whole."""
        if len(buffer) - offset < 2:
            return None
        length = _read_varint(buffer, offset + 1)
        if length is None:
            return None
        size, start = length
        if start + size - offset > self._max_packet:
            self._refuse_size(start + size - offset)
        if start + size > len(buffer):
            return None
        return Packet(buffer[offset], bytes(buffer[start:start + size])), start + size

    def _refuse_size(self, size: int) -> None:
        raise ProtocolError(f"a packet of {size} bytes exceeds the maximum packet size of "
                            f"{self._max_packet}")


# ---------------------------------------------------------------- inbound: parsing

_Parsed = TypeVar("_Parsed")


def _decoded(frame: Frame, kind: type[_Parsed], name: str) -> _Parsed | None:
    """mqtt5's packet of `kind` in `frame`; None when the frame is raw bytes."""
    if type(frame) is not Decoded:
        return None
    if type(frame.packet) is not kind:
        raise ProtocolError(f"a {type(frame.packet).__name__} where a {name} was expected")
    return frame.packet


def _by_hand(frame: Frame, parse: Callable[[Packet], _Parsed], name: str) -> _Parsed:
    """The hand-written reading of a raw frame; when mqtt5 refused the frame, its refusal
    (after the hand-written parser's own, more precise, complaint if it has one)."""
    assert type(frame) is Packet
    parsed = parse(frame)
    if frame.refusal is not None:
        raise ProtocolError(f"a malformed {name}: {frame.refusal}")
    return parsed


class Publish(NamedTuple):  # a tuple: built once per message, and cheaper than a dataclass
    topic: str
    payload: bytes
    qos: int
    packet_id: int  # 0 at QoS 0
    dup: bool
    retain: bool


def parse_publish(frame: Frame) -> Publish:
    if (decoded := _decoded(frame, mqtt5.PublishPacket, "PUBLISH")) is None:
        return _by_hand(frame, _parse_publish, "PUBLISH")
    return _checked(Publish(decoded.topic, decoded.payload, int(decoded.qos),
                            decoded.packet_id or 0,
                            decoded.duplicate, decoded.retain))


def _checked(publish: Publish) -> Publish:
    if publish.qos > 1:
        raise ProtocolError(f"a PUBLISH at QoS {publish.qos} on a subscription at QoS 1")
    if not publish.topic:
        raise ProtocolError("a malformed PUBLISH: an empty topic "
                            "(topic aliases are never allowed by this client)")
    return publish


def _parse_publish(packet: Packet) -> Publish:
    body, first = packet.body, packet.first_byte
    qos = (first >> 1) & 0x03
    if qos > 1:
        raise ProtocolError(f"a PUBLISH at QoS {qos} on a subscription at QoS 1")
    try:
        (topic_length,) = struct.unpack_from("!H", body)
        offset = 2 + topic_length
        topic = body[2:offset].decode()
        packet_id = 0
        if qos:
            (packet_id,) = struct.unpack_from("!H", body, offset)
            offset += 2
    except (struct.error, UnicodeDecodeError) as error:
        raise ProtocolError(f"a malformed PUBLISH: {error}") from None
    properties = _read_varint(body, offset)
    if properties is None or properties[0] + properties[1] > len(body):
        raise ProtocolError("a malformed PUBLISH: bad properties")
    return _checked(Publish(topic, body[properties[0] + properties[1]:], qos, packet_id,
                            bool(first & 0x08), bool(first & 0x01)))


def parse_puback(frame: Frame) -> tuple[int, int]:
    """The packet id and reason code of a PUBACK (reason 0 when the broker omits it)."""
    if (decoded := _decoded(frame, mqtt5.PubAckPacket, "PUBACK")) is None:
        return _by_hand(frame, _parse_puback, "PUBACK")
    return decoded.packet_id, int(decoded.reason_code)


def _parse_puback(packet: Packet) -> tuple[int, int]:
    body = packet.body
    if len(body) < 2:
        raise ProtocolError("a PUBACK shorter than two bytes")
    return struct.unpack_from("!H", body)[0], body[2] if len(body) > 2 else 0


@dataclass(frozen=True, slots=True)
class ConnAck:
    session_present: bool
    reason: int
    server_keepalive_s: int | None
    reason_string: str | None
    receive_maximum: int = DEFAULT_RECEIVE_MAXIMUM  # QoS 1 PUBLISHes the broker takes at once


def parse_connack(frame: Frame) -> ConnAck:
    if (decoded := _decoded(frame, mqtt5.ConnAckPacket, "CONNACK")) is None:
        return _by_hand(frame, _parse_connack, "CONNACK")
    return ConnAck(decoded.session_present, int(decoded.reason_code), decoded.server_keep_alive,
                   decoded.reason_str, decoded.receive_max)


def _parse_connack(packet: Packet) -> ConnAck:
    body = packet.body
    if len(body) < 2:
        raise ProtocolError("a CONNACK shorter than two bytes")
    properties = _properties(body, 2)
    keepalive = properties.get(_SERVER_KEEP_ALIVE)
    reason_string = properties.get(_REASON_STRING)
    receive_maximum = properties.get(_RECEIVE_MAXIMUM)
    return ConnAck(bool(body[0] & 0x01), body[1],
                   struct.unpack("!H", keepalive)[0] if keepalive else None,
                   reason_string.decode(errors="replace") if reason_string else None,
                   struct.unpack("!H", receive_maximum)[0] if receive_maximum
                   else DEFAULT_RECEIVE_MAXIMUM)


def parse_acknowledgement(frame: Frame) -> tuple[int, list[int]]:
    """The packet id and reason codes of a SUBACK or UNSUBACK."""
    if type(frame) is Decoded and type(frame.packet) is mqtt5.UnsubAckPacket:
        unsuback = frame.packet
        return unsuback.packet_id, [int(reason) for reason in unsuback.reason_codes]
    if (suback := _decoded(frame, mqtt5.SubAckPacket, "SUBACK or UNSUBACK")) is None:
        return _by_hand(frame, _parse_acknowledgement, "SUBACK or UNSUBACK")
    return suback.packet_id, [int(reason) for reason in suback.reason_codes]


def _parse_acknowledgement(packet: Packet) -> tuple[int, list[int]]:
    body = packet.body
    if len(body) < 3:
        raise ProtocolError("a SUBACK or UNSUBACK shorter than three bytes")
    properties = _read_varint(body, 2)
    if properties is None:
        raise ProtocolError("a SUBACK or UNSUBACK with truncated properties")
    return struct.unpack_from("!H", body)[0], list(body[properties[0] + properties[1]:])


def disconnect_reason(frame: Frame) -> int:
    if (decoded := _decoded(frame, mqtt5.DisconnectPacket, "DISCONNECT")) is None:
        return _by_hand(frame, lambda packet: packet.body[0] if packet.body else 0, "DISCONNECT")
    return int(decoded.reason_code)


def parse_pingresp(frame: Frame) -> None:
    """Nothing to read in a PINGRESP; only whether it is one, and well formed."""
    if _decoded(frame, mqtt5.PingRespPacket, "PINGRESP") is None:
        _by_hand(frame, _parse_pingresp, "PINGRESP")


def _parse_pingresp(packet: Packet) -> None:
    if packet.body:
        raise ProtocolError("a PINGRESP with a body")


# Wire sizes of the properties CONNACK may carry (MQTT 5.0, 2.2.2.2): a fixed width in bytes,
# or -1 for a two-byte length and data, -2 for a pair of those, 0 for a variable integer.
_PROPERTY_WIDTHS = {0x01: 1, 0x02: 4, 0x03: -1, 0x08: -1, 0x09: -1, 0x0B: 0, 0x11: 4, 0x12: -1,
                    0x13: 2, 0x15: -1, 0x16: -1, 0x17: 1, 0x18: 4, 0x19: 1, 0x1A: -1, 0x1C: -1,
                    0x1F: -1, 0x21: 2, 0x22: 2, 0x23: 2, 0x24: 1, 0x25: 1, 0x26: -2, 0x27: 4,
                    0x28: 1, 0x29: 1, 0x2A: 1}


def _properties(body: bytes, offset: int) -> dict[int, bytes]:
    """The properties at `offset`: identifier -> raw value (user properties are skipped)."""
    header = _read_varint(body, offset)
    if header is None or header[0] + header[1] > len(body):
        raise ProtocolError("truncated properties")
    position, end = header[1], header[1] + header[0]
    found: dict[int, bytes] = {}
    try:
        while position < end:
            position = _property(body, position, found)
    except (IndexError, struct.error):
        raise ProtocolError("a truncated property") from None
    if position > end:
        raise ProtocolError("a property beyond the properties' length")
    return found


def _property(body: bytes, position: int, found: dict[int, bytes]) -> int:
    """Read the property at `position` into `found`; the position after it."""
    identifier, position = body[position], position + 1
    width = _PROPERTY_WIDTHS.get(identifier)
    if width is None:
        raise ProtocolError(f"an unknown property 0x{identifier:02x}")
    start = position
    if width > 0:
        position += width
    elif width == 0:
        number = _read_varint(body, position)
        if number is None:
            raise ProtocolError("a truncated property")
        position = number[1]
    else:
        for _ in range(-width):
            position += 2 + struct.unpack_from("!H", body, position)[0]
    if width != -2:
        found[identifier] = body[start + (2 if width == -1 else 0):position]
    return position
