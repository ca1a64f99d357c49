"""Topics and tables of the undo app (agents import these; this module imports no agent).

Topics (names from :class:`app.config.UndoConfig`):

- ``<job>.kv``: Envelope records from the ingest worker, raw protobuf bytes, keyed and
  partitioned by table. Pre-created by the ingest worker; this app never creates it and checks
  its partition count at start (:mod:`app.stages.board`).
- ``<job>.dead``, ``<job>.progress`` (compacted), ``<job>.status`` (compacted): written with
  our own producer, created at start when missing.

Tables (RocksDB, one DB per partition, changelog ``tiundo-<job>-<table>-changelog``; table
partitions == ``<job>.kv`` partitions, so a table write lands in the partition of its event):

- ``compact``: row key (raw bytes) → :func:`app.undo.merge.encode_state` value (layout
  documented in :mod:`app.undo.merge`). Written a flush chunk at a time (one changelog record
  per chunk, :mod:`app.undo.chunk`), which its store (:mod:`app.chunked_store`) expands.
- ``progress``: per-partition bookkeeping, ASCII keys → ASCII values:
  ``seq/<seq:020d>`` → changes in that ChangeBatch (completeness check against End);
  ``wm`` → last watermark resolved_ts; ``dead`` → dead letters sent by the compact stage;
  ``txn/<table_id>/<phase>`` → transactions of that phase committed downstream (resume point).
"""

from __future__ import annotations

from app.chunked_store import chunked_table, register
from app.main import get_app, get_config

__all__ = ["app", "compact_table", "config", "kv_topic", "progress_table"]

config = get_config()
app = get_app()
register()

kv_topic = app.topic(
    config.kv_topic,
    key_type=bytes,
    value_type=bytes,
    key_serializer="raw",
    value_serializer="raw",
    partitions=config.partitions,
)

compact_table = app.Table(
    "compact",
    key_type=bytes,
    value_type=bytes,
    partitions=config.partitions,
    **chunked_table("compact"),
    options=config.state_options(),
    help="row key -> KeyState (first/last image of the key in (T, E])",
)

progress_table = app.Table(
    "progress",
    key_type=bytes,
    value_type=bytes,
    partitions=config.partitions,
    options=config.state_options(),
    help="per-partition bookkeeping: batch seqs, watermark, dead letters, committed txns",
)
