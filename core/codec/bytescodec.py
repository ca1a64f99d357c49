"""Byte-string codecs of TiDB's ``pkg/util/codec/bytes.go``.

Memcomparable bytes (groups of 8 data bytes + 1 marker) appear in key-mode datums and in the
memcomparable form of whole keys that PD regions and EventFeed requests use; compact bytes
(zigzag varint length + data) appear in v1 row values.
"""

from __future__ import annotations

from core.codec.errors import CorruptValueError
from core.codec.number import decode_varint, encode_varint

_GROUP = 8
_MARKER = 0xFF
_PAD = b"\x00" * _GROUP


def encode_bytes(data: bytes) -> bytes:
    """Memcomparable encoding; always ends with a group whose marker says how much is padding."""
    out = bytearray()
    n = len(data)
    for i in range(0, n + 1, _GROUP):
        chunk = data[i : i + _GROUP]
        pad = _GROUP - len(chunk)
        out += chunk
        if pad:
            out += _PAD[:pad]
        out.append(_MARKER - pad)
    return bytes(out)


def decode_bytes(buf: bytes, pos: int = 0) -> tuple[bytes, int]:
    """Inverse of :func:`encode_bytes`; checks marker range and zero padding."""
    out = bytearray()
    n = len(buf)
    while True:
        if n - pos < _GROUP + 1:
            raise CorruptValueError("truncated memcomparable bytes", offset=pos)
        marker = buf[pos + _GROUP]
        pad = _MARKER - marker
        if pad > _GROUP:
            raise CorruptValueError(f"invalid memcomparable marker {marker:#x}", offset=pos)
        real = _GROUP - pad
        out += buf[pos : pos + real]
        if pad:
            if buf[pos + real : pos + _GROUP] != _PAD[:pad]:
                raise CorruptValueError("memcomparable padding is not zero", offset=pos)
            return bytes(out), pos + _GROUP + 1
        pos += _GROUP + 1


def encode_bytes_desc(data: bytes) -> bytes:
    """Descending memcomparable encoding: every byte of the ascending form inverted."""
    return bytes(b ^ 0xFF for b in encode_bytes(data))


def decode_bytes_desc(buf: bytes, pos: int = 0) -> tuple[bytes, int]:
    """Inverse of :func:`encode_bytes_desc`."""
    # Find the end (first group whose inverted marker shows padding), then decode inverted.
    end = pos
    n = len(buf)
    while True:
        if n - end < _GROUP + 1:
            raise CorruptValueError("truncated memcomparable bytes", offset=end)
        marker = buf[end + _GROUP] ^ 0xFF
        end += _GROUP + 1
        if marker != _MARKER:
            break
    inverted = bytes(b ^ 0xFF for b in buf[pos:end])
    data, used = decode_bytes(inverted, 0)
    return data, pos + used


def bytes_encoded_len(buf: bytes, pos: int = 0) -> int:
    """Length of the memcomparable bytes starting at ``pos`` (for datum peeking)."""
    start = pos
    n = len(buf)
    while True:
        if n - pos < _GROUP + 1:
            raise CorruptValueError("truncated memcomparable bytes", offset=pos)
        marker = buf[pos + _GROUP]
        pos += _GROUP + 1
        if marker != _MARKER:
            if _MARKER - marker > _GROUP:
                raise CorruptValueError(f"invalid memcomparable marker {marker:#x}", offset=pos - 1)
            return pos - start


def encode_compact_bytes(data: bytes) -> bytes:
    """Zigzag varint length, then the data (so length 3 is written as ``06``)."""
    return encode_varint(len(data)) + data


def decode_compact_bytes(buf: bytes, pos: int = 0) -> tuple[bytes, int]:
    """Inverse of :func:`encode_compact_bytes`."""
    start = pos
    n, pos = decode_varint(buf, pos)
    if n < 0 or len(buf) - pos < n:
        raise CorruptValueError(f"compact bytes length {n} past the end", offset=start)
    return bytes(buf[pos : pos + n]), pos + n
