"""The few MQTT 5 packets a consumer needs, as bytes. No I/O.

Ingest receives thousands of messages a second and acknowledges them in batches; a general
client library spends more on each message than ingest spends on decoding it (several system
calls, a properties object, a message object, callbacks under locks). This codec parses
every whole packet in a received chunk in one loop and writes a batch of PUBACKs as one
buffer. It covers what a subscriber at QoS 0 and 1 meets (MQTT 5.0, OASIS standard):

    out  CONNECT, SUBSCRIBE, UNSUBSCRIBE, PUBLISH, PUBACK, PINGREQ, DISCONNECT
    in   CONNACK, SUBACK, UNSUBACK, PUBLISH, PUBACK, PINGRESP, DISCONNECT

Anything else, or a packet that breaks the rules, raises ProtocolError.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable
from dataclasses import dataclass
from enum import IntEnum

from adapters.mqtt.settings import Credentials


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

# Property identifiers (MQTT 5.0, 2.2.2.2) that this codec writes or reads.
_SESSION_EXPIRY = 0x11
_SERVER_KEEP_ALIVE = 0x13
_RECEIVE_MAXIMUM = 0x21
_REASON_STRING = 0x1F
_MAXIMUM_PACKET_SIZE = 0x27
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


def _string(text: str) -> bytes:
    encoded = text.encode()
    return struct.pack("!H", len(encoded)) + encoded


def _packet(first_byte: int, body: bytes) -> bytes:
    return bytes((first_byte,)) + varint(len(body)) + body


def connect(client_id: str, *, keepalive_s: int, clean_start: bool, session_expiry_s: int,
            receive_maximum: int | None = None, credentials: Credentials | None = None,
            maximum_packet_size: int | None = None) -> bytes:
    flags = 0x02 if clean_start else 0
    payload = _string(client_id)
    if credentials:
        flags |= 0x80
        payload += _string(credentials.username)
        if credentials.password is not None:
            flags |= 0x40
            payload += _string(credentials.password)
    properties = bytes((_SESSION_EXPIRY,)) + struct.pack("!I", session_expiry_s)
    if receive_maximum:
        properties += bytes((_RECEIVE_MAXIMUM,)) + struct.pack("!H", receive_maximum)
    if maximum_packet_size:  # the broker must not send a larger packet (3.1.2.11.4)
        properties += bytes((_MAXIMUM_PACKET_SIZE,)) + struct.pack("!I", maximum_packet_size)
    header = _string("MQTT") + bytes((5, flags)) + struct.pack("!H", keepalive_s)
    return _packet(0x10, header + varint(len(properties)) + properties + payload)


def subscribe(packet_id: int, topic_filter: str, qos: int = 1) -> bytes:
    return _packet(0x82, struct.pack("!H", packet_id) + b"\x00" + _string(topic_filter)
                   + bytes((qos,)))


def unsubscribe(packet_id: int, topic_filter: str) -> bytes:
    return _packet(0xA2, struct.pack("!H", packet_id) + b"\x00" + _string(topic_filter))


def publish(packet_id: int, topic: str, payload: bytes) -> bytes:
    """A PUBLISH at QoS 1, not retained, without properties."""
    return _packet(0x32, _string(topic) + struct.pack("!H", packet_id) + b"\x00" + payload)


def parse_puback(packet: Packet) -> tuple[int, int]:
    """The packet id and reason code of a PUBACK (reason 0 when the broker omits it)."""
    body = packet.body
    if len(body) < 2:
        raise ProtocolError("a PUBACK shorter than two bytes")
    return struct.unpack_from("!H", body)[0], body[2] if len(body) > 2 else 0


def pubacks(packet_ids: Iterable[int]) -> bytes:
    """PUBACKs with reason 0 (success), one after another, in the order given."""
    return b"".join(struct.pack("!BBH", 0x40, 2, packet_id) for packet_id in packet_ids)


@dataclass(frozen=True, slots=True)
class Packet:
    first_byte: int
    body: bytes

    @property
    def type(self) -> int:
        return self.first_byte >> 4


class PacketReader:
    """Whole packets out of a byte stream fed in chunks of any size.

    A packet larger than `max_packet` raises ProtocolError as soon as its header is read,
    before its body is buffered. The start of a packet not yet whole is kept in a bytearray
    that grows in place: a large packet arriving in many chunks is not re-copied each time.
    """

    def __init__(self, max_packet: int = MAX_REMAINING_LENGTH) -> None:
        self._rest = bytearray()
        self._max_packet = max_packet

    def feed(self, data: bytes) -> list[Packet]:
        if self._rest:
            self._rest += data
            buffer: bytes | bytearray = self._rest
        else:
            buffer = data
        packets = []
        offset, end = 0, len(buffer)
        while end - offset >= 2:
            length = _read_varint(buffer, offset + 1)
            if length is None:
                break
            size, start = length
            if start + size - offset > self._max_packet:
                raise ProtocolError(f"a packet of {start + size - offset} bytes exceeds the "
                                    f"maximum packet size of {self._max_packet}")
            if start + size > end:
                break
            packets.append(Packet(buffer[offset], bytes(buffer[start:start + size])))
            offset = start + size
        if buffer is self._rest:
            del self._rest[:offset]
        else:
            self._rest = bytearray(buffer[offset:])
        return packets

    @property
    def buffered(self) -> int:
        return len(self._rest)


@dataclass(frozen=True, slots=True)
class Publish:
    topic: str
    payload: bytes
    qos: int
    packet_id: int  # 0 at QoS 0
    dup: bool
    retain: bool


def parse_publish(packet: Packet) -> Publish:
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
    if properties is None or properties[0] + properties[1] > len(body) or not topic:
        raise ProtocolError("a malformed PUBLISH: bad properties or an empty topic "
                            "(topic aliases are never allowed by this client)")
    return Publish(topic, body[properties[0] + properties[1]:], qos, packet_id,
                   bool(first & 0x08), bool(first & 0x01))


@dataclass(frozen=True, slots=True)
class ConnAck:
    session_present: bool
    reason: int
    server_keepalive_s: int | None
    reason_string: str | None
    receive_maximum: int = DEFAULT_RECEIVE_MAXIMUM  # QoS 1 PUBLISHes the broker takes at once


def parse_connack(packet: Packet) -> ConnAck:
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


def parse_acknowledgement(packet: Packet) -> tuple[int, list[int]]:
    """The packet id and reason codes of a SUBACK or UNSUBACK."""
    body = packet.body
    if len(body) < 3:
        raise ProtocolError("a SUBACK or UNSUBACK shorter than three bytes")
    properties = _read_varint(body, 2)
    if properties is None:
        raise ProtocolError("a SUBACK or UNSUBACK with truncated properties")
    return struct.unpack_from("!H", body)[0], list(body[properties[0] + properties[1]:])


def disconnect_reason(packet: Packet) -> int:
    return packet.body[0] if packet.body else 0


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
