"""TiDB time values: DATE/DATETIME/TIMESTAMP (packed u64 and JSON CoreTime) and TIME.

Two bit layouts exist and must not be confused:

- **Packed u64** (``Time.ToPackedUint``), used in rows (v1/v2), index keys and common handles::

      0 | 17 bits year*13+month | 5 day | 5 hour | 6 minute | 6 second | 24 microsecond

  Zero (``0000-00-00 00:00:00``) packs to 0. The column's fsp is not stored.
- **CoreTime** (TiDB's in-memory ``CoreTime``), stored on disk only inside binary JSON::

      year 14 bits @50 | month 4 @46 | day 5 @41 | hour 5 @36 | minute 6 @30 | second 6 @24
      | microsecond 20 @4 | 4 low bits (fsp/type in memory, masked to 0 on disk)

TIMESTAMP values are stored in UTC; :func:`timestamp_from_utc` / :func:`timestamp_to_utc` move
them between UTC and a session time zone. DATE and DATETIME are never converted.

TIME is a signed int64 of nanoseconds (range ±838:59:59); here it is a ``datetime.timedelta``.
"""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass

from core.codec.errors import CorruptValueError

__all__ = [
    "MAX_TIME_NS",
    "TYPE_DATE",
    "TYPE_DATETIME",
    "TYPE_TIMESTAMP",
    "BadTimeError",
    "MyTime",
    "core_time_to_mytime",
    "duration_from_ns",
    "duration_to_ns",
    "format_duration",
    "mytime_to_core_time",
    "pack_time",
    "timestamp_from_utc",
    "timestamp_to_utc",
    "unpack_time",
]

TYPE_TIMESTAMP = 7  # mysql.TypeTimestamp
TYPE_DATE = 10  # mysql.TypeDate
TYPE_DATETIME = 12  # mysql.TypeDatetime
_TIME_TYPES = frozenset((TYPE_TIMESTAMP, TYPE_DATE, TYPE_DATETIME))

MAX_TIME_NS = (838 * 3600 + 59 * 60 + 59) * 1_000_000_000  # types.MaxTime
_NS_PER_US = 1000
_US_PER_SEC = 1_000_000
_U64_MAX = (1 << 64) - 1
_UTC = _dt.UTC


class BadTimeError(CorruptValueError, ValueError):
    """A time value no TiDB could have stored (hour 25, TIME beyond 838 hours, ...).

    Both a :class:`CorruptValueError` (bytes being decoded) and a ``ValueError`` (conversions of
    a value that cannot exist), so callers of either kind catch it.
    """


@dataclass(frozen=True, slots=True)
class MyTime:
    """A MySQL DATE/DATETIME/TIMESTAMP value, zero dates and zero-in-date parts included.

    ``tp`` is the MySQL type code (10 DATE, 12 DATETIME, 7 TIMESTAMP); ``fsp`` (0..6) is the
    column's fractional-second precision, which only affects rendering: ``microsecond`` is kept
    as stored.
    """

    year: int
    month: int
    day: int
    hour: int = 0
    minute: int = 0
    second: int = 0
    microsecond: int = 0
    tp: int = TYPE_DATETIME
    fsp: int = 0

    def __str__(self) -> str:
        """Render as MySQL prints the value: ``2020-01-02 03:04:05.120`` for DATETIME(3)."""
        date = f"{self.year:04d}-{self.month:02d}-{self.day:02d}"
        if self.tp == TYPE_DATE:
            return date
        text = f"{date} {self.hour:02d}:{self.minute:02d}:{self.second:02d}"
        if self.fsp > 0:
            text += "." + f"{self.microsecond:06d}"[: self.fsp]
        return text

    def is_zero(self) -> bool:
        """True for ``0000-00-00 00:00:00`` (all fields 0)."""
        return not (
            self.year
            or self.month
            or self.day
            or self.hour
            or self.minute
            or self.second
            or self.microsecond
        )

    def to_python(self) -> _dt.date | _dt.datetime:
        """Return a ``date`` (DATE) or naive ``datetime``; ValueError for zero or invalid dates."""
        if self.month == 0 or self.day == 0:
            raise ValueError(f"{self} has a zero date part; Python dates cannot hold it")
        if self.tp == TYPE_DATE:
            return _dt.date(self.year, self.month, self.day)
        return _dt.datetime(  # noqa: DTZ001 - MySQL datetimes are naive by definition
            self.year,
            self.month,
            self.day,
            self.hour,
            self.minute,
            self.second,
            self.microsecond,
        )

    @classmethod
    def from_python(
        cls, value: _dt.date | _dt.datetime, tp: int | None = None, fsp: int | None = None
    ) -> MyTime:
        """Build from a ``date`` or naive ``datetime``.

        ``tp`` defaults to DATE for a ``date`` and DATETIME for a ``datetime``; ``fsp`` defaults
        to 6 when there are microseconds, else 0. With an explicit ``fsp`` below 6 the
        microseconds are rounded half up like TiDB does when storing into a DATETIME(fsp).
        """
        if isinstance(value, _dt.datetime):
            if value.tzinfo is not None:
                raise ValueError("aware datetime: convert it to naive local or UTC time first")
            if tp is None:
                tp = TYPE_DATETIME
            if fsp is None:
                fsp = 6 if value.microsecond else 0
            _check_tp_fsp(tp, fsp)
            if tp == TYPE_DATE:
                return cls(value.year, value.month, value.day, tp=tp, fsp=0)
            micro = value.microsecond
            if fsp < 6:
                unit = 10 ** (6 - fsp)
                quot, rem = divmod(micro, unit)
                if rem * 2 >= unit:
                    quot += 1
                micro = quot * unit
                if micro == _US_PER_SEC:
                    value = value.replace(microsecond=0) + _dt.timedelta(seconds=1)
                    micro = 0
            return cls(
                value.year,
                value.month,
                value.day,
                value.hour,
                value.minute,
                value.second,
                micro,
                tp,
                fsp,
            )
        if isinstance(value, _dt.date):
            if tp is None:
                tp = TYPE_DATE
            if fsp is None:
                fsp = 0
            _check_tp_fsp(tp, fsp)
            return cls(value.year, value.month, value.day, tp=tp, fsp=fsp)
        raise TypeError(f"expected date or datetime, got {type(value).__name__}")


def _check_tp_fsp(tp: int, fsp: int) -> None:
    if tp not in _TIME_TYPES:
        raise ValueError(f"time type code {tp} is not DATE(10)/DATETIME(12)/TIMESTAMP(7)")
    if not 0 <= fsp <= 6:
        raise ValueError(f"fsp {fsp} outside 0..6")


def _check_fields(t: MyTime) -> None:
    if not (
        0 <= t.year <= 9999
        and 0 <= t.month <= 12
        and 0 <= t.day <= 31
        and 0 <= t.hour <= 23
        and 0 <= t.minute <= 59
        and 0 <= t.second <= 59
        and 0 <= t.microsecond <= 999_999
    ):
        raise BadTimeError(f"time fields out of range: {t!r}")


def unpack_time(packed: int, tp: int, fsp: int) -> MyTime:
    """Decode TiDB's packed u64 (``FromPackedUint``) into a :class:`MyTime` of type ``tp``.

    Raises :class:`CorruptValueError` for values no TiDB could have written (hour > 23,
    minute/second > 59, microsecond > 999999, year > 9999, outside u64).
    """
    if packed == 0:
        return MyTime(0, 0, 0, 0, 0, 0, 0, tp, fsp)
    if not 0 < packed <= _U64_MAX:
        raise BadTimeError(f"packed time {packed} outside u64")
    micro = packed & 0xFFFFFF
    ymdhms = packed >> 24
    hms = ymdhms & 0x1FFFF
    ymd = ymdhms >> 17
    year, month = divmod(ymd >> 5, 13)
    hour = hms >> 12
    minute = (hms >> 6) & 63
    second = hms & 63
    if micro > 999_999 or second > 59 or minute > 59 or hour > 23 or year > 9999:
        raise BadTimeError(f"impossible packed time {packed:#018x}")
    return MyTime(year, month, ymd & 31, hour, minute, second, micro, tp, fsp)


def pack_time(t: MyTime) -> int:
    """Encode to TiDB's packed u64 (``ToPackedUint``); a zero time packs to 0.

    Fields outside what the layout can hold raise ``ValueError`` instead of spilling into
    neighbouring bits.
    """
    _check_fields(t)
    ymd = ((t.year * 13 + t.month) << 5) | t.day
    hms = (t.hour << 12) | (t.minute << 6) | t.second
    return (((ymd << 17) | hms) << 24) | t.microsecond


def core_time_to_mytime(u64: int, tp: int) -> MyTime:
    """Decode a JSON-embedded CoreTime; fsp is 6 for DATETIME/TIMESTAMP (as TiDB prints JSON)."""
    if not 0 <= u64 <= _U64_MAX:
        raise BadTimeError(f"core time {u64} outside u64")
    month = (u64 >> 46) & 0xF
    hour = (u64 >> 36) & 0x1F
    minute = (u64 >> 30) & 0x3F
    second = (u64 >> 24) & 0x3F
    micro = (u64 >> 4) & 0xFFFFF
    year = u64 >> 50
    if year > 9999 or month > 12 or hour > 23 or minute > 59 or second > 59 or micro > 999_999:
        raise BadTimeError(f"impossible core time {u64:#018x}")
    return MyTime(
        year,
        month,
        (u64 >> 41) & 0x1F,
        hour,
        minute,
        second,
        micro,
        tp,
        0 if tp == TYPE_DATE else 6,
    )


def mytime_to_core_time(t: MyTime) -> int:
    """Encode as the CoreTime TiDB stores inside binary JSON (low 4 bits zero)."""
    _check_fields(t)
    return (
        (t.year << 50)
        | (t.month << 46)
        | (t.day << 41)
        | (t.hour << 36)
        | (t.minute << 30)
        | (t.second << 24)
        | (t.microsecond << 4)
    )


def _as_aware(t: MyTime, tz: _dt.tzinfo) -> _dt.datetime:
    if t.month == 0 or t.day == 0:
        raise BadTimeError(f"TIMESTAMP {t} has a zero date part")
    try:
        return _dt.datetime(
            t.year, t.month, t.day, t.hour, t.minute, t.second, t.microsecond, tzinfo=tz
        )
    except ValueError as exc:
        raise BadTimeError(f"TIMESTAMP {t} is not a valid time: {exc}") from exc


def _from_aware(value: _dt.datetime, like: MyTime) -> MyTime:
    return MyTime(
        value.year,
        value.month,
        value.day,
        value.hour,
        value.minute,
        value.second,
        value.microsecond,
        like.tp,
        like.fsp,
    )


def timestamp_from_utc(t: MyTime, tz: _dt.tzinfo) -> MyTime:
    """Convert a stored (UTC) TIMESTAMP to wall-clock time in ``tz``; zero stays zero."""
    if t.is_zero():
        return t
    try:
        return _from_aware(_as_aware(t, _UTC).astimezone(tz), t)
    except OverflowError as exc:  # 9999-12-31 23:00 UTC shifted east of UTC
        raise BadTimeError(f"TIMESTAMP {t} leaves the datetime range in {tz}") from exc


def timestamp_to_utc(t: MyTime, tz: _dt.tzinfo) -> MyTime:
    """Convert a wall-clock TIMESTAMP in ``tz`` to UTC for storage; zero stays zero.

    An ambiguous wall time (DST fall-back) is taken as its first occurrence (``fold=0``), as
    TiDB's ``goTimeDSTBeforeTransition`` does.
    """
    if t.is_zero():
        return t
    try:
        return _from_aware(_as_aware(t, tz).astimezone(_UTC), t)
    except OverflowError as exc:
        raise BadTimeError(f"TIMESTAMP {t} leaves the datetime range in UTC") from exc


def duration_from_ns(ns: int) -> _dt.timedelta:
    """TIME from its stored int64 nanoseconds (sub-microsecond digits truncated toward 0)."""
    if not -MAX_TIME_NS <= ns <= MAX_TIME_NS:
        raise BadTimeError(f"TIME of {ns} ns is outside ±838:59:59")
    micros = -((-ns) // _NS_PER_US) if ns < 0 else ns // _NS_PER_US
    return _dt.timedelta(microseconds=micros)


def duration_to_ns(td: _dt.timedelta) -> int:
    """TIME as stored: int64 nanoseconds."""
    return ((td.days * 86_400 + td.seconds) * _US_PER_SEC + td.microseconds) * _NS_PER_US


def format_duration(td: _dt.timedelta, fsp: int) -> str:
    """Render a TIME like MySQL: ``-838:59:59.000000`` (fsp digits, truncated, no rounding)."""
    micros = (td.days * 86_400 + td.seconds) * _US_PER_SEC + td.microseconds
    sign = "-" if micros < 0 else ""
    secs, frac = divmod(abs(micros), _US_PER_SEC)
    mins, sec = divmod(secs, 60)
    hours, minute = divmod(mins, 60)
    text = f"{sign}{hours:02d}:{minute:02d}:{sec:02d}"
    if fsp > 0:
        text += "." + f"{frac:06d}"[:fsp]
    return text
