"""TiDB keys and row values of the benchmark's images, with the per-column work done once.

:func:`core.codec.row.encode_row` looks up every column's codec and skip rule for every row
(~29 µs a row here); seeding 10 M changes spends minutes in it. :class:`RowEncoder` resolves
them once per table and then only runs the column codecs, producing the same bytes (a unit
test compares it with ``encode_row`` on a whole generated history). Pure (codec only).
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Callable
from typing import Any

from app.undo.model import Handle
from bench.rto.history import Row
from core.codec import rowcodec_v2
from core.codec.coltypes import column_codec
from core.codec.keys import encode_common_handle, encode_record_key
from core.codec.row import skippable
from core.codec.tableinfo import TableInfo
from simulator.tabledef import TableDef

__all__ = ["RowEncoder"]

_ANY = object()  # a non-NULL value: what ``skippable`` says regardless of the value


class RowEncoder:
    """Record keys and v2 row values of one table's images (tuples in column order)."""

    def __init__(self, tdef: TableDef, info: TableInfo) -> None:
        self.table_id = info.id
        self.info = info
        self.names = tuple(c.name for c in tdef.columns)
        self.common = tdef.is_common_handle
        where = {name: i for i, name in enumerate(self.names)}
        # (index in the image, column id, v2 payload encoder, NULL left out)
        self.cols: list[tuple[int, int, Callable[[Any], bytes], bool]] = []
        for col in info.public_columns():
            if skippable(col, _ANY, info):
                continue  # the handle, clustered PK columns, virtual columns
            null_skipped = col.default is None and not col.has_origin_default
            codec = column_codec(col.type, _dt.UTC)
            self.cols.append((where[col.name], col.id, codec.enc_v2, null_skipped))

    def key(self, handle: Handle, image: Row) -> bytes:
        """The record key of the row ``image`` with ``handle``."""
        if self.common:
            row = dict(zip(self.names, image, strict=True))
            return encode_record_key(self.table_id, encode_common_handle(row, self.info))
        assert isinstance(handle, int)
        return encode_record_key(self.table_id, handle)

    def value(self, image: Row) -> bytes:
        """The row format v2 value of ``image``, byte for byte what ``encode_row`` gives."""
        not_null: list[tuple[int, bytes]] = []
        nulls: list[int] = []
        for i, col_id, enc, null_skipped in self.cols:
            v = image[i]
            if v is None:
                if not null_skipped:
                    nulls.append(col_id)
            else:
                not_null.append((col_id, enc(v)))
        return rowcodec_v2.encode(not_null, nulls)
