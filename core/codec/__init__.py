"""TiDB key and row codec ("mounter"), decode and encode, byte-exact with TiDB.

Pure code: stdlib and sibling modules only (no asyncio, faust, grpc, aiokafka, aiomysql).
Importing the package is cheap; import the entry points from their modules:

- ``keys.decode_key(raw) -> RecordKey | IndexKey | MetaKey`` (callers skip index/meta keys);
  ``RecordKey.handle`` is an ``int`` (PK value or ``_tidb_rowid``) or a ``CommonHandle``.
- ``keys.encode_record_key(table_id, handle) -> bytes``
- ``keys.record_span(table_id) -> (encoded_start, encoded_end)``: memcomparable, for PD/EventFeed.
- ``keys.encode_common_handle(values, table_info, tz=UTC) -> bytes``: clustered PK keys.
- ``row.decode_row(value, table_info, handle, tz) -> {column name: value} | None`` (None: empty
  value, no row image). Columns missing from the value are filled (handle, origin default,
  NULL, zero value — facts §3.6).
- ``row.encode_row(table_info, row, tz=UTC, version=2) -> bytes``: what TiDB writes.
- ``tableinfo.TableInfo.from_json(obj)`` / ``.to_json()``: the status API's TableInfo JSON;
  ``handle_kind``, ``unique_keys()``, ``sql_columns()``, ``physical_ids()``;
  ``tableinfo.physical_table_map(tables)``: physical id → (logical table, partition).

Decoded values (each has one unambiguous MySQL parameter form):

=====================================  ===================================================
column type                            Python value
=====================================  ===================================================
TINYINT..BIGINT (signed/unsigned)      ``int``
FLOAT / DOUBLE                         ``float`` (FLOAT rounded to float32)
DECIMAL                                ``decimal.Decimal`` with the column's scale
CHAR/VARCHAR/TEXT (text charset)       ``str``
BINARY/VARBINARY/BLOB (binary)         ``bytes``
DATE / DATETIME / TIMESTAMP            ``mytime.MyTime`` (zero dates kept; ``str()`` is the
                                       MySQL literal); TIMESTAMP shown in ``tz``
TIME                                   ``datetime.timedelta``
YEAR                                   ``int``
ENUM                                   ``str`` element name (index 0 → ``''``)
SET                                    ``str`` comma-joined names in element order
BIT                                    ``int``
JSON                                   ``jsonbin.JsonValue`` (``json_to_text`` for SQL)
VECTOR(FLOAT32)                        ``tuple[float, ...]``
NULL                                   ``None``
=====================================  ===================================================

Errors: every malformed key or value raises ``errors.CorruptValueError`` (a
``core.errors.DecodeError``) naming the table id, handle and byte offset. Encoder misuse
(a value that does not fit its column) raises ``coltypes.EncodeError`` (a ``ValueError``).

Modules: ``number``, ``bytescodec``, ``datum`` (primitives and flagged datums), ``keys``,
``mysqldef`` and ``tableinfo`` (schema), ``coltypes`` (per-type codecs), ``rowcodec_v1`` and
``rowcodec_v2`` (framing), ``row`` (decode/encode with per-table plans); leaf type codecs
``mydecimal``, ``mytime``, ``jsonbin``.
"""
