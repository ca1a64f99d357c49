"""TiDB key and row codec ("mounter"), decode and encode, byte-exact with TiDB.

Pure code: imports only the stdlib and sibling pure modules (no asyncio, faust, grpc,
aiokafka, aiomysql). Importing this package is cheap; the entry points live in submodules:

- ``app.codec.keys.decode_key(raw) -> RecordKey | IndexKey | MetaKey``
- ``app.codec.keys.encode_record_key(table_id, handle) -> bytes``
- ``app.codec.keys.record_span(table_id) -> (encoded_start, encoded_end)``
- ``app.codec.keys.encode_common_handle(values, table_info) -> bytes``
- ``app.codec.row.decode_row(value, table_info, handle, tz) -> {column name: value} | None``
- ``app.codec.row.encode_row(table_info, row) -> bytes``
- ``app.codec.tableinfo.TableInfo.from_json(obj)`` / ``TableInfo.to_json()``

Errors: every malformed input raises :class:`app.codec.errors.CorruptValueError`.

(Work in progress: the list above is the agreed contract.)
"""
