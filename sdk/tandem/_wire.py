"""A minimal protobuf wire codec for the few gRPC streaming messages the SDK uses.

Hand-rolled (varints and length-delimited fields only) so the streaming calls need grpcio
alone, without generated stubs that would clash with other copies of Dapr's protos loaded in
the same process. Field numbers are Dapr's (``dapr.proto.runtime.v1``).
"""

from __future__ import annotations

from collections.abc import Mapping

__all__ = ["Fields", "decode", "field_bytes", "field_map", "field_varint"]

Fields = dict[int, list[bytes | int]]


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte = n & 0x7F
        n >>= 7
        if n:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def field_bytes(number: int, value: bytes | str) -> bytes:
    """A length-delimited field (string, bytes or embedded message)."""
    data = value.encode() if isinstance(value, str) else value
    return _varint(number << 3 | 2) + _varint(len(data)) + data


def field_varint(number: int, value: int) -> bytes:
    return _varint(number << 3) + _varint(value)


def field_map(number: int, items: Mapping[str, str]) -> bytes:
    """A ``map<string, string>`` field: one entry message (key 1, value 2) per item."""
    return b"".join(
        field_bytes(number, field_bytes(1, k) + field_bytes(2, v)) for k, v in items.items()
    )


def decode(data: bytes) -> Fields:
    """Every field of a message by number: ints for varints, bytes for length-delimited."""
    out: Fields = {}
    pos = 0
    while pos < len(data):
        key, pos = _read_varint(data, pos)
        number, kind = key >> 3, key & 7
        value: bytes | int
        if kind == 0:
            value, pos = _read_varint(data, pos)
        elif kind == 2:
            size, pos = _read_varint(data, pos)
            value, pos = data[pos : pos + size], pos + size
        elif kind == 1:
            value, pos = data[pos : pos + 8], pos + 8
        elif kind == 5:
            value, pos = data[pos : pos + 4], pos + 4
        else:
            raise ValueError(f"unsupported wire type {kind}")
        out.setdefault(number, []).append(value)
    return out


def _read_varint(data: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7
