"""Row decode ("mount") and encode, v1 and v2, with per-table precompiled plans.

``decode_row(value, table_info, handle, tz)`` returns ``{column name: value}`` for the table's
public columns (value types: see the package docstring), or ``None`` for an empty value (no row
image). Columns missing from the value are filled as TiDB/TiCDC do (facts §3.6): the int handle
or the clustered-PK datum from the key, else the origin default, else NULL if nullable, else
the type's zero value; virtual generated columns read as ``None``.

``encode_row(table_info, row, tz=UTC, version=2)`` writes what TiDB writes for the same row:
skippable columns left out (int handle PK, clustered PK columns that need no restored data,
NULLs without any default, virtual generated columns), smallest int widths, DECIMAL with the
column's (M, D), large-row promotion, TIMESTAMP converted from ``tz`` to UTC.

Both take ``new_collation``: the cluster's ``new_collation_enabled`` (``mysql.tidb``; off for
ever on clusters bootstrapped before v6.0 without ``new_collations_enabled_on_first_bootstrap``).
It decides which clustered string PK columns the row value holds (pingcap/tidb
``pkg/types.NeedRestoredData`` starts with ``CollationEnabled()``; ``pkg/table/tables.CanSkip``
leaves a clustered PK column out of the value unless it is a prefix or needs restored data):

- on: a non-binary string PK column is in the value unless it is a ``CHAR`` with a ``*_bin``
  collation (or ``utf8mb4_0900_bin``); the key holds only its sort key then;
- off: no PK column is in the value; every collation keys as binary (``collate.GetCollator``
  returns ``binCollator``), so the key holds the value itself, and decoding takes it from
  there, as ``tablecodec.DecodeHandleToDatumMap`` (TiCDC's mounter, pingcap/tiflow
  ``cdc/entry/mounter.go``) does.

A plan (per table and zone) holds for each column its id, name, decode function and fill rule,
so the hot loop does no schema lookups.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, tzinfo
from typing import Any, Final

from core.codec import mysqldef as m
from core.codec import number, rowcodec_v1, rowcodec_v2
from core.codec.coltypes import ColumnCodec, EncodeError, column_codec, origin_default_value
from core.codec.errors import CorruptValueError
from core.codec.keys import CommonHandle, decode_common_handle
from core.codec.tableinfo import ColumnInfo, HandleKind, TableInfo

__all__ = ["decode_row", "encode_row", "need_restored_data", "skippable"]

_FILL: Final = 0  # missing → constant
_INT_HANDLE: Final = 1  # missing → the int handle
_COMMON: Final = 2  # missing → datum j of the common handle
_IN_VALUE: Final = 3  # missing → corrupt: the key holds only the column's sort key

_LOW_EXC = (ValueError, IndexError, KeyError, OverflowError, ArithmeticError)


def need_restored_data(col: ColumnInfo, new_collation: bool = True) -> bool:
    """TiDB's ``NeedRestoredData``: the key copy is not the value (never with new collation off)."""
    if not new_collation:
        return False
    ft = col.type
    if ft.tp not in m.STRING_TYPES or ft.charset.lower() == m.CHARSET_BINARY:
        return False
    coll = ft.collate.lower()
    if coll == "utf8mb4_0900_bin":
        return False
    is_bin = coll == "binary" or coll.endswith("_bin")
    return not is_bin or ft.tp == m.TYPE_VARCHAR


def _common_handle_skippable(info: TableInfo, new_collation: bool) -> set[int]:
    cols = info.common_handle_columns()
    return {c.id for c, prefix in cols if prefix <= 0 and not need_restored_data(c, new_collation)}


def skippable(col: ColumnInfo, value: Any, info: TableInfo, new_collation: bool = True) -> bool:
    """TiDB's ``tables.CanSkip``: the column is not written into the row value."""
    if info.pk_is_handle:
        hc = info.int_handle_column()
        if hc is not None and hc.id == col.id:
            return True
    if info.is_common_handle and col.id in _common_handle_skippable(info, new_collation):
        return True
    if col.is_virtual_generated:
        return True
    return value is None and col.default is None and not col.has_origin_default


# ---- decode ----------------------------------------------------------------------------------
class _Plan:
    __slots__ = ("cols", "handle_kind", "small_ok")

    def __init__(self, info: TableInfo, tz: tzinfo | None, new_collation: bool) -> None:
        self.handle_kind = info.handle_kind
        hc = info.int_handle_column()
        pk = info.common_handle_columns()
        common = {c.id: j for j, (c, _) in enumerate(pk)}
        common_skip = _common_handle_skippable(info, new_collation)
        whole = {c.id for c, prefix in pk if prefix <= 0}
        cols = []
        small_ok = []
        for col in info.public_columns():
            codec = column_codec(col.type, tz)
            kind, arg = _FILL, _fill_value(col, codec)
            if hc is not None and col.id == hc.id:
                kind, arg = _INT_HANDLE, col.type.unsigned
            elif col.id in common and col.id in common_skip:
                kind, arg = _COMMON, common[col.id]
            elif col.id in whole:  # needs restored data: TiDB always writes it in the value
                kind, arg = _IN_VALUE, col.name
            cols.append((col.id, col.name, codec.v2, codec.raw, kind, arg))
            small_ok.append(0 < col.id <= 255)
        self.cols = tuple(cols)
        self.small_ok = tuple(small_ok)


def _fill_value(col: ColumnInfo, codec: ColumnCodec) -> Any:
    if col.is_virtual_generated:
        return None
    if col.has_origin_default:
        return origin_default_value(col, codec)
    if not col.type.not_null:
        return None
    return codec.zero


def _plan(info: TableInfo, tz: tzinfo | None, new_collation: bool) -> _Plan:
    key = ("decode", tz, new_collation)
    plan = info.cache.get(key)
    if plan is None:
        plan = _Plan(info, tz, new_collation)
        info.cache[key] = plan
    return plan


def _missing(kind: int, arg: Any, handle: Any, raw_fn: Any) -> Any:
    if kind == _FILL:
        return arg
    if kind == _INT_HANDLE:
        if not isinstance(handle, int):
            raise CorruptValueError("int-handle table without an int handle")
        return handle & number.U64_MASK if arg else handle
    if kind == _IN_VALUE:
        raise CorruptValueError(
            f"clustered PK column {arg!r} is missing from the row value, and the key holds only "
            "its collation sort key (was the cluster's new collation off? TIUNDO_NEW_COLLATION)"
        )
    if not isinstance(handle, CommonHandle):
        raise CorruptValueError("clustered table without a common handle")
    if arg >= len(handle.datums):
        raise CorruptValueError("common handle has fewer datums than the primary key")
    flag, raw = handle.datums[arg]
    return raw_fn(flag, raw)


def decode_row(
    value: bytes,
    table_info: TableInfo,
    handle: int | CommonHandle | bytes | None = None,
    tz: tzinfo | None = UTC,
    new_collation: bool = True,
) -> dict[str, Any] | None:
    """Decode one row image; see the module docstring. ``None`` for an empty value.

    ``handle`` comes from the key (``decode_key(key).handle``): an int, a :class:`CommonHandle`
    or the raw common-handle bytes. Any malformed input raises :class:`CorruptValueError`
    naming the table id, the handle and the byte offset.
    """
    if not value:
        return None
    plan = _plan(table_info, tz, new_collation)
    offset = 0
    try:
        if isinstance(handle, bytes | bytearray):
            handle = CommonHandle(bytes(handle), decode_common_handle(bytes(handle)))
        if value[0] == rowcodec_v2.CODEC_VER:
            return _decode_v2(value, plan, handle)
        return _decode_v1(value, plan, handle)
    except CorruptValueError as exc:
        raise exc.with_context(table_id=table_info.id, handle=_h(handle)) from exc
    except _LOW_EXC as exc:
        raise CorruptValueError(
            f"corrupt row: {type(exc).__name__}: {exc}",
            table_id=table_info.id,
            handle=_h(handle),
            offset=offset,
        ) from exc


def _h(handle: Any) -> Any:
    if isinstance(handle, CommonHandle):
        return handle.encoded.hex()
    return handle


def _decode_v2(value: bytes, plan: _Plan, handle: Any) -> dict[str, Any]:
    fr = rowcodec_v2.parse(value)
    ids, offsets, base = fr.ids, fr.offsets, fr.data_start
    out: dict[str, Any] = {}
    nulls: Any = None
    if fr.large:
        pos_of: Any = {cid: i for i, cid in enumerate(ids)}
        find = pos_of.get
        small_ok = None
    else:
        find = ids.find  # type: ignore[union-attr]
        small_ok = plan.small_ok
    k = -1
    for cid, name, v2, raw_fn, kind, arg in plan.cols:
        k += 1
        if small_ok is not None:
            i = find(cid) if small_ok[k] else -1
        else:
            got = find(cid)
            i = -1 if got is None else got
        if i >= 0:
            s = base + (offsets[i - 1] if i else 0)
            e = base + offsets[i]
            if s > e:
                raise CorruptValueError(f"column {cid}: offsets go backwards", offset=s)
            try:
                out[name] = v2(value[s:e])
            except CorruptValueError as exc:
                raise exc.with_context(base_offset=s) from exc
            except _LOW_EXC as exc:
                raise CorruptValueError(
                    f"column {cid}: {type(exc).__name__}: {exc}", offset=s
                ) from exc
            continue
        if nulls is None:
            nulls = set(fr.null_ids)
        if cid in nulls:
            out[name] = None
        else:
            out[name] = _missing(kind, arg, handle, raw_fn)
    return out


def _decode_v1(value: bytes, plan: _Plan, handle: Any) -> dict[str, Any]:
    cols = rowcodec_v1.parse(value)
    out: dict[str, Any] = {}
    for cid, name, _v2, raw_fn, kind, arg in plan.cols:
        got = cols.get(cid)
        if got is None:
            out[name] = _missing(kind, arg, handle, raw_fn)
            continue
        flag, raw = got
        if raw is None:
            out[name] = None
            continue
        try:
            out[name] = raw_fn(flag, raw)
        except CorruptValueError as exc:
            raise exc.with_context() from exc
    return out


# ---- encode ----------------------------------------------------------------------------------
def encode_row(
    table_info: TableInfo,
    row: Mapping[str, Any],
    tz: tzinfo = UTC,
    version: int = 2,
    new_collation: bool = True,
) -> bytes:
    """Encode a row ({column name: value}) as TiDB would; see the module docstring.

    Columns absent from ``row`` are written as NULL (or left out when skippable). Values
    that do not fit their column raise :class:`EncodeError`.
    """
    if version not in (1, 2):
        raise EncodeError(f"row format version {version}")
    not_null: list[tuple[int, bytes]] = []
    nulls: list[int] = []
    v1cols: list[tuple[int, bytes]] = []
    for col in table_info.public_columns():
        v = row.get(col.name)
        if skippable(col, v, table_info, new_collation):
            continue
        if v is None:
            if version == 2:
                nulls.append(col.id)
            else:
                v1cols.append((col.id, b"\x00"))
            continue
        codec = column_codec(col.type, tz)
        try:
            if version == 2:
                not_null.append((col.id, codec.enc_v2(v)))
            else:
                v1cols.append((col.id, codec.enc_v1(v)))
        except (ValueError, TypeError) as exc:
            raise EncodeError(f"column {col.name!r}: {exc}") from exc
    if version == 2:
        return rowcodec_v2.encode(not_null, nulls)
    return rowcodec_v1.encode(v1cols)


def row_handle(table_info: TableInfo, row: Mapping[str, Any]) -> int | None:
    """The int handle of a row of an int-PK table (``None`` for other tables)."""
    if table_info.handle_kind is not HandleKind.INT:
        return None
    hc = table_info.int_handle_column()
    assert hc is not None
    v = row[hc.name]
    if not isinstance(v, int):
        raise EncodeError(f"PK column {hc.name!r} needs an int, got {v!r}")
    return number.to_signed64(v)
