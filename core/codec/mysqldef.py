"""MySQL type codes and column flags as TiDB numbers them (``pkg/parser/mysql/type.go``).

``FieldType.Tp`` in TiDB's TableInfo JSON holds these codes; ``Flag`` holds the bit flags.
"""

from __future__ import annotations

from typing import Final

TYPE_DECIMAL: Final = 0  # old DECIMAL, unused by TiDB
TYPE_TINY: Final = 1
TYPE_SHORT: Final = 2
TYPE_LONG: Final = 3
TYPE_FLOAT: Final = 4
TYPE_DOUBLE: Final = 5
TYPE_NULL: Final = 6
TYPE_TIMESTAMP: Final = 7
TYPE_LONGLONG: Final = 8
TYPE_INT24: Final = 9
TYPE_DATE: Final = 10
TYPE_DURATION: Final = 11
TYPE_DATETIME: Final = 12
TYPE_YEAR: Final = 13
TYPE_NEWDATE: Final = 14
TYPE_VARCHAR: Final = 15
TYPE_BIT: Final = 16
TYPE_VECTOR_FLOAT32: Final = 0xE1
TYPE_JSON: Final = 0xF5
TYPE_NEWDECIMAL: Final = 0xF6
TYPE_ENUM: Final = 0xF7
TYPE_SET: Final = 0xF8
TYPE_TINY_BLOB: Final = 0xF9
TYPE_MEDIUM_BLOB: Final = 0xFA
TYPE_LONG_BLOB: Final = 0xFB
TYPE_BLOB: Final = 0xFC
TYPE_VAR_STRING: Final = 0xFD
TYPE_STRING: Final = 0xFE
TYPE_GEOMETRY: Final = 0xFF

INT_TYPES: Final = frozenset({TYPE_TINY, TYPE_SHORT, TYPE_INT24, TYPE_LONG, TYPE_LONGLONG})
FLOAT_TYPES: Final = frozenset({TYPE_FLOAT, TYPE_DOUBLE})
TIME_TYPES: Final = frozenset({TYPE_DATE, TYPE_DATETIME, TYPE_TIMESTAMP, TYPE_NEWDATE})
STRING_TYPES: Final = frozenset(
    {
        TYPE_VARCHAR,
        TYPE_VAR_STRING,
        TYPE_STRING,
        TYPE_TINY_BLOB,
        TYPE_MEDIUM_BLOB,
        TYPE_LONG_BLOB,
        TYPE_BLOB,
        TYPE_GEOMETRY,
    }
)

# Column flags (FieldType.Flag).
NOT_NULL_FLAG: Final = 1
PRI_KEY_FLAG: Final = 2
UNIQUE_KEY_FLAG: Final = 4
MULTIPLE_KEY_FLAG: Final = 8
BLOB_FLAG: Final = 16
UNSIGNED_FLAG: Final = 32
ZEROFILL_FLAG: Final = 64
BINARY_FLAG: Final = 128
ENUM_FLAG: Final = 256
AUTO_INCREMENT_FLAG: Final = 512
TIMESTAMP_FLAG: Final = 1024
SET_FLAG: Final = 2048
NO_DEFAULT_VALUE_FLAG: Final = 4096
ON_UPDATE_NOW_FLAG: Final = 8192

# Schema states (model.SchemaState).
STATE_NONE: Final = 0
STATE_DELETE_ONLY: Final = 1
STATE_WRITE_ONLY: Final = 2
STATE_WRITE_REORGANIZATION: Final = 3
STATE_DELETE_REORGANIZATION: Final = 4
STATE_PUBLIC: Final = 5

# Column id of the hidden row id (model.ExtraHandleID).
EXTRA_HANDLE_ID: Final = -1
EXTRA_HANDLE_NAME: Final = "_tidb_rowid"

# Python codec names for MySQL charsets whose bytes TiDB stores as-is.
CHARSET_BINARY: Final = "binary"


def python_encoding(charset: str) -> str | None:
    """Python codec for a MySQL charset, ``None`` for binary (keep bytes).

    TiDB keeps every non-binary string column as UTF-8 internally (it transcodes GBK and
    latin1 at the protocol boundary), so stored bytes of utf8, utf8mb4, ascii, latin1 and gbk
    columns are all UTF-8.
    """
    cs = charset.lower()
    if cs == CHARSET_BINARY:
        return None
    return "utf-8"
