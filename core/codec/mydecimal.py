"""TiDB ``MyDecimal`` binary form ("bin", MySQL ``decimal2bin``), decode and encode.

Layout for a column DECIMAL(precision, frac), with ``intg = precision - frac``:

    [leading int piece: intg % 9 digits in dig2bytes[intg % 9] bytes]
    [intg // 9 full int words: 9 digits in 4 bytes each]
    [frac // 9 full frac words: 9 digits in 4 bytes each]
    [trailing frac piece: frac % 9 digits in dig2bytes[frac % 9] bytes]

All pieces are big-endian unsigned numbers. A negative value has every byte inverted, then the
top bit of byte 0 is flipped for every value, so the bytes sort like the numbers. Zero is always
written as positive (TiDB's ``FromString`` clears the sign of an all-zero value).

The whole buffer is read as one big integer and the pieces are cut off with shifts: that is one
``int.from_bytes`` per value instead of one per word, which matters because this runs once per
DECIMAL column per row. The piece layout of each (precision, frac) is computed once and cached.
"""

from __future__ import annotations

import decimal
from decimal import Decimal
from functools import cache

from core.codec.errors import CorruptValueError

__all__ = [
    "MAX_BIN_PRECISION",
    "MAX_FRAC",
    "MAX_PRECISION",
    "DecimalParamError",
    "decimal_bin_size",
    "decode_decimal_bin",
    "encode_decimal_bin",
]

MAX_PRECISION = 65  # mysql.MaxDecimalWidth: the widest DECIMAL column
MAX_BIN_PRECISION = 81  # 9 words x 9 digits: the widest bin form TiDB's ToBin/FromBin accept
MAX_FRAC = 30  # mysql.MaxDecimalScale
_DIGITS_PER_WORD = 9
_WORD_MAX = 999_999_999
_DIG2BYTES = (0, 1, 1, 2, 2, 3, 3, 4, 4, 4)
# Enough digits for any DECIMAL(65, 30) intermediate, so quantize never rounds on its own.
_CTX = decimal.Context(prec=200, rounding=decimal.ROUND_HALF_UP, Emax=10_000, Emin=-10_000)


class DecimalParamError(CorruptValueError, ValueError):
    """(precision, frac) no DECIMAL can have.

    Both a :class:`CorruptValueError` (they usually come from the bytes being decoded) and a
    ``ValueError`` (for encoders passing a bad column definition).
    """


@cache
def _layout(precision: int, frac: int) -> tuple[int, tuple[tuple[int, int, int], ...]]:
    """Return (byte size, pieces) for DECIMAL(precision, frac).

    Each piece is ``(bit_width, digit_count, max_value)`` in storage order (most significant
    first); digit_count is how many decimal digits the piece contributes to the scaled integer.
    """
    intg = precision - frac
    wi, li = divmod(intg, _DIGITS_PER_WORD)
    wf, tf = divmod(frac, _DIGITS_PER_WORD)
    pieces: list[tuple[int, int, int]] = []
    if li:
        pieces.append((_DIG2BYTES[li] * 8, li, 10**li - 1))
    pieces.extend((32, 9, _WORD_MAX) for _ in range(wi + wf))
    if tf:
        pieces.append((_DIG2BYTES[tf] * 8, tf, 10**tf - 1))
    size = wi * 4 + _DIG2BYTES[li] + wf * 4 + _DIG2BYTES[tf]
    return size, tuple(pieces)


@cache
def _decode_plan(
    precision: int, frac: int
) -> tuple[int, int, int, tuple[tuple[int, int, int, int], ...]]:
    """Return (size, sign bit, all-ones mask, pieces) with pieces least significant first.

    Each piece is ``(bit_width, bit_mask, max_value, decimal_multiplier)``, so decoding is one
    loop of mask, check, multiply-add and shift per piece.
    """
    size, pieces = _layout(precision, frac)
    plan: list[tuple[int, int, int, int]] = []
    mult = 1
    for width, digits, limit in reversed(pieces):
        plan.append((width, (1 << width) - 1, limit, mult))
        mult *= 10**digits
    nbits = size * 8
    return size, 1 << (nbits - 1), (1 << nbits) - 1, tuple(plan)


def _check_params(precision: int, frac: int, offset: int | None = None) -> None:
    if not 1 <= precision <= MAX_BIN_PRECISION:
        raise DecimalParamError(
            f"decimal precision {precision} outside 1..{MAX_BIN_PRECISION}", offset=offset
        )
    if not 0 <= frac <= MAX_FRAC or frac > precision:
        raise DecimalParamError(
            f"decimal frac {frac} invalid for precision {precision}", offset=offset
        )


def decimal_bin_size(precision: int, frac: int) -> int:
    """Byte length of the bin form of DECIMAL(precision, frac) (TiDB ``DecimalBinSize``).

    Raises :class:`DecimalParamError` (a ``CorruptValueError`` and a ``ValueError``) for a
    precision outside 1..81 or a frac outside 0..min(30, precision).
    """
    _check_params(precision, frac)
    return _layout(precision, frac)[0]


def decode_decimal_bin(buf: bytes, pos: int, precision: int, frac: int) -> tuple[Decimal, int]:
    """Decode the bin form at ``buf[pos:]``; return the value and the offset just after it.

    The value keeps exactly ``frac`` digits after the point (DECIMAL(10,4) 11.99 decodes to
    ``Decimal('11.9900')``). A negative zero on disk decodes to a negative-signed zero.
    """
    _check_params(precision, frac, pos)
    size, sign_bit, ones, plan = _decode_plan(precision, frac)
    end = pos + size
    if pos < 0 or end > len(buf):
        raise CorruptValueError(
            f"decimal({precision},{frac}) needs {size} bytes, {max(len(buf) - pos, 0)} left",
            offset=pos,
        )
    raw = int.from_bytes(buf[pos:end], "big") ^ sign_bit
    negative = raw & sign_bit
    if negative:
        raw ^= ones
    scaled = 0
    for width, mask, limit, mult in plan:
        piece = raw & mask
        if piece > limit:
            raise CorruptValueError(f"bad decimal word {piece} (max {limit})", offset=pos)
        scaled += piece * mult
        raw >>= width
    return Decimal(f"-{scaled}e-{frac}" if negative else f"{scaled}e-{frac}"), end


def encode_decimal_bin(value: Decimal, precision: int, frac: int) -> bytes:
    """Encode ``value`` as TiDB stores it in a DECIMAL(precision, frac) column.

    The value is first rounded half-up (away from zero) to ``frac`` digits, as TiDB's
    ``convertToMysqlDecimal`` does on insert; extra fraction digits are rounded, missing ones are
    zero-filled. A value whose integer part needs more than ``precision - frac`` digits, or a NaN
    or infinity, raises ``ValueError``.
    """
    _check_params(precision, frac)
    if not isinstance(value, Decimal):
        raise TypeError(f"expected decimal.Decimal, got {type(value).__name__}")
    if not value.is_finite():
        raise ValueError(f"cannot store {value} in DECIMAL({precision},{frac})")
    rounded = value.quantize(Decimal(1).scaleb(-frac, _CTX), context=_CTX)
    sign, digits, _exp = rounded.as_tuple()
    scaled = int("".join(map(str, digits))) if digits else 0
    if scaled >= 10**precision:
        raise ValueError(f"{value} does not fit DECIMAL({precision},{frac})")
    size, pieces = _layout(precision, frac)
    out = 0
    rest = scaled
    shift = 0
    for width, ndigits, _limit in reversed(pieces):
        rest, piece = divmod(rest, 10**ndigits)
        out |= piece << shift
        shift += width
    nbits = size * 8
    if sign and scaled:
        out ^= (1 << nbits) - 1
    out ^= 1 << (nbits - 1)
    return out.to_bytes(size, "big")
