from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class RowChange(_message.Message):
    __slots__ = ("key", "start_ts", "commit_ts", "op_type", "value", "old_value", "txn_source", "region_id", "versions", "last_start_ts", "last_commit_ts", "last_op_type")
    class OpType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        OP_TYPE_UNSPECIFIED: _ClassVar[RowChange.OpType]
        PUT: _ClassVar[RowChange.OpType]
        DELETE: _ClassVar[RowChange.OpType]
    OP_TYPE_UNSPECIFIED: RowChange.OpType
    PUT: RowChange.OpType
    DELETE: RowChange.OpType
    KEY_FIELD_NUMBER: _ClassVar[int]
    START_TS_FIELD_NUMBER: _ClassVar[int]
    COMMIT_TS_FIELD_NUMBER: _ClassVar[int]
    OP_TYPE_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    OLD_VALUE_FIELD_NUMBER: _ClassVar[int]
    TXN_SOURCE_FIELD_NUMBER: _ClassVar[int]
    REGION_ID_FIELD_NUMBER: _ClassVar[int]
    VERSIONS_FIELD_NUMBER: _ClassVar[int]
    LAST_START_TS_FIELD_NUMBER: _ClassVar[int]
    LAST_COMMIT_TS_FIELD_NUMBER: _ClassVar[int]
    LAST_OP_TYPE_FIELD_NUMBER: _ClassVar[int]
    key: bytes
    start_ts: int
    commit_ts: int
    op_type: RowChange.OpType
    value: bytes
    old_value: bytes
    txn_source: int
    region_id: int
    versions: int
    last_start_ts: int
    last_commit_ts: int
    last_op_type: RowChange.OpType
    def __init__(self, key: _Optional[bytes] = ..., start_ts: _Optional[int] = ..., commit_ts: _Optional[int] = ..., op_type: _Optional[_Union[RowChange.OpType, str]] = ..., value: _Optional[bytes] = ..., old_value: _Optional[bytes] = ..., txn_source: _Optional[int] = ..., region_id: _Optional[int] = ..., versions: _Optional[int] = ..., last_start_ts: _Optional[int] = ..., last_commit_ts: _Optional[int] = ..., last_op_type: _Optional[_Union[RowChange.OpType, str]] = ...) -> None: ...

class ChangeBatch(_message.Message):
    __slots__ = ("job_id", "table_id", "seq", "changes", "instance_id", "attempt")
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    TABLE_ID_FIELD_NUMBER: _ClassVar[int]
    SEQ_FIELD_NUMBER: _ClassVar[int]
    CHANGES_FIELD_NUMBER: _ClassVar[int]
    INSTANCE_ID_FIELD_NUMBER: _ClassVar[int]
    ATTEMPT_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    table_id: int
    seq: int
    changes: _containers.RepeatedCompositeFieldContainer[RowChange]
    instance_id: str
    attempt: int
    def __init__(self, job_id: _Optional[str] = ..., table_id: _Optional[int] = ..., seq: _Optional[int] = ..., changes: _Optional[_Iterable[_Union[RowChange, _Mapping]]] = ..., instance_id: _Optional[str] = ..., attempt: _Optional[int] = ...) -> None: ...

class Watermark(_message.Message):
    __slots__ = ("job_id", "resolved_ts", "instance_id", "attempt")
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    RESOLVED_TS_FIELD_NUMBER: _ClassVar[int]
    INSTANCE_ID_FIELD_NUMBER: _ClassVar[int]
    ATTEMPT_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    resolved_ts: int
    instance_id: str
    attempt: int
    def __init__(self, job_id: _Optional[str] = ..., resolved_ts: _Optional[int] = ..., instance_id: _Optional[str] = ..., attempt: _Optional[int] = ...) -> None: ...

class End(_message.Message):
    __slots__ = ("job_id", "end_ts", "target_ts", "total_changes", "batches", "instance_id", "attempt", "transactions")
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    END_TS_FIELD_NUMBER: _ClassVar[int]
    TARGET_TS_FIELD_NUMBER: _ClassVar[int]
    TOTAL_CHANGES_FIELD_NUMBER: _ClassVar[int]
    BATCHES_FIELD_NUMBER: _ClassVar[int]
    INSTANCE_ID_FIELD_NUMBER: _ClassVar[int]
    ATTEMPT_FIELD_NUMBER: _ClassVar[int]
    TRANSACTIONS_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    end_ts: int
    target_ts: int
    total_changes: int
    batches: int
    instance_id: str
    attempt: int
    transactions: int
    def __init__(self, job_id: _Optional[str] = ..., end_ts: _Optional[int] = ..., target_ts: _Optional[int] = ..., total_changes: _Optional[int] = ..., batches: _Optional[int] = ..., instance_id: _Optional[str] = ..., attempt: _Optional[int] = ..., transactions: _Optional[int] = ...) -> None: ...

class DeadLetter(_message.Message):
    __slots__ = ("job_id", "stage", "error", "key", "value", "old_value", "table_id", "handle", "commit_ts", "start_ts", "region_id", "instance_id", "attempt")
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    STAGE_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    KEY_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    OLD_VALUE_FIELD_NUMBER: _ClassVar[int]
    TABLE_ID_FIELD_NUMBER: _ClassVar[int]
    HANDLE_FIELD_NUMBER: _ClassVar[int]
    COMMIT_TS_FIELD_NUMBER: _ClassVar[int]
    START_TS_FIELD_NUMBER: _ClassVar[int]
    REGION_ID_FIELD_NUMBER: _ClassVar[int]
    INSTANCE_ID_FIELD_NUMBER: _ClassVar[int]
    ATTEMPT_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    stage: str
    error: str
    key: bytes
    value: bytes
    old_value: bytes
    table_id: int
    handle: str
    commit_ts: int
    start_ts: int
    region_id: int
    instance_id: str
    attempt: int
    def __init__(self, job_id: _Optional[str] = ..., stage: _Optional[str] = ..., error: _Optional[str] = ..., key: _Optional[bytes] = ..., value: _Optional[bytes] = ..., old_value: _Optional[bytes] = ..., table_id: _Optional[int] = ..., handle: _Optional[str] = ..., commit_ts: _Optional[int] = ..., start_ts: _Optional[int] = ..., region_id: _Optional[int] = ..., instance_id: _Optional[str] = ..., attempt: _Optional[int] = ...) -> None: ...

class Envelope(_message.Message):
    __slots__ = ("change_batch", "watermark", "end", "dead_letter")
    CHANGE_BATCH_FIELD_NUMBER: _ClassVar[int]
    WATERMARK_FIELD_NUMBER: _ClassVar[int]
    END_FIELD_NUMBER: _ClassVar[int]
    DEAD_LETTER_FIELD_NUMBER: _ClassVar[int]
    change_batch: ChangeBatch
    watermark: Watermark
    end: End
    dead_letter: DeadLetter
    def __init__(self, change_batch: _Optional[_Union[ChangeBatch, _Mapping]] = ..., watermark: _Optional[_Union[Watermark, _Mapping]] = ..., end: _Optional[_Union[End, _Mapping]] = ..., dead_letter: _Optional[_Union[DeadLetter, _Mapping]] = ...) -> None: ...

class TableCounters(_message.Message):
    __slots__ = ("table_id", "db_name", "table_name", "restored", "deleted", "skipped", "dead_letters", "foreign_writes")
    TABLE_ID_FIELD_NUMBER: _ClassVar[int]
    DB_NAME_FIELD_NUMBER: _ClassVar[int]
    TABLE_NAME_FIELD_NUMBER: _ClassVar[int]
    RESTORED_FIELD_NUMBER: _ClassVar[int]
    DELETED_FIELD_NUMBER: _ClassVar[int]
    SKIPPED_FIELD_NUMBER: _ClassVar[int]
    DEAD_LETTERS_FIELD_NUMBER: _ClassVar[int]
    FOREIGN_WRITES_FIELD_NUMBER: _ClassVar[int]
    table_id: int
    db_name: str
    table_name: str
    restored: int
    deleted: int
    skipped: int
    dead_letters: int
    foreign_writes: int
    def __init__(self, table_id: _Optional[int] = ..., db_name: _Optional[str] = ..., table_name: _Optional[str] = ..., restored: _Optional[int] = ..., deleted: _Optional[int] = ..., skipped: _Optional[int] = ..., dead_letters: _Optional[int] = ..., foreign_writes: _Optional[int] = ...) -> None: ...

class JobStatus(_message.Message):
    __slots__ = ("job_id", "state", "target_ts", "end_ts", "primary_ts", "tables", "dead_letters", "foreign_writes", "started_unix_ms", "finished_unix_ms", "message", "instance_id", "attempt", "changes_undone", "transactions_undone")
    class State(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        STATE_UNSPECIFIED: _ClassVar[JobStatus.State]
        RUNNING: _ClassVar[JobStatus.State]
        SUCCEEDED: _ClassVar[JobStatus.State]
        FAILED: _ClassVar[JobStatus.State]
        INCOMPLETE: _ClassVar[JobStatus.State]
    STATE_UNSPECIFIED: JobStatus.State
    RUNNING: JobStatus.State
    SUCCEEDED: JobStatus.State
    FAILED: JobStatus.State
    INCOMPLETE: JobStatus.State
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    TARGET_TS_FIELD_NUMBER: _ClassVar[int]
    END_TS_FIELD_NUMBER: _ClassVar[int]
    PRIMARY_TS_FIELD_NUMBER: _ClassVar[int]
    TABLES_FIELD_NUMBER: _ClassVar[int]
    DEAD_LETTERS_FIELD_NUMBER: _ClassVar[int]
    FOREIGN_WRITES_FIELD_NUMBER: _ClassVar[int]
    STARTED_UNIX_MS_FIELD_NUMBER: _ClassVar[int]
    FINISHED_UNIX_MS_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    INSTANCE_ID_FIELD_NUMBER: _ClassVar[int]
    ATTEMPT_FIELD_NUMBER: _ClassVar[int]
    CHANGES_UNDONE_FIELD_NUMBER: _ClassVar[int]
    TRANSACTIONS_UNDONE_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    state: JobStatus.State
    target_ts: int
    end_ts: int
    primary_ts: int
    tables: _containers.RepeatedCompositeFieldContainer[TableCounters]
    dead_letters: int
    foreign_writes: int
    started_unix_ms: int
    finished_unix_ms: int
    message: str
    instance_id: str
    attempt: int
    changes_undone: int
    transactions_undone: int
    def __init__(self, job_id: _Optional[str] = ..., state: _Optional[_Union[JobStatus.State, str]] = ..., target_ts: _Optional[int] = ..., end_ts: _Optional[int] = ..., primary_ts: _Optional[int] = ..., tables: _Optional[_Iterable[_Union[TableCounters, _Mapping]]] = ..., dead_letters: _Optional[int] = ..., foreign_writes: _Optional[int] = ..., started_unix_ms: _Optional[int] = ..., finished_unix_ms: _Optional[int] = ..., message: _Optional[str] = ..., instance_id: _Optional[str] = ..., attempt: _Optional[int] = ..., changes_undone: _Optional[int] = ..., transactions_undone: _Optional[int] = ...) -> None: ...

class JobTable(_message.Message):
    __slots__ = ("db_name", "table_name", "table_id", "physical_ids", "schema_version")
    DB_NAME_FIELD_NUMBER: _ClassVar[int]
    TABLE_NAME_FIELD_NUMBER: _ClassVar[int]
    TABLE_ID_FIELD_NUMBER: _ClassVar[int]
    PHYSICAL_IDS_FIELD_NUMBER: _ClassVar[int]
    SCHEMA_VERSION_FIELD_NUMBER: _ClassVar[int]
    db_name: str
    table_name: str
    table_id: int
    physical_ids: _containers.RepeatedScalarFieldContainer[int]
    schema_version: int
    def __init__(self, db_name: _Optional[str] = ..., table_name: _Optional[str] = ..., table_id: _Optional[int] = ..., physical_ids: _Optional[_Iterable[int]] = ..., schema_version: _Optional[int] = ...) -> None: ...

class JobRecord(_message.Message):
    __slots__ = ("job_id", "instance_id", "target_ts", "end_ts", "primary_ts", "changefeed", "tables", "checks_passed", "partitions", "dialect", "txn_source", "batch_rows", "txn_statements", "tz", "progress_db", "dry_run_dir", "created_unix_ms", "mount_chunk", "attempt", "spread_tables", "downstream", "new_collation", "txn_max_bytes", "txn_entry_max_bytes", "topic_prefix", "replication_factor", "min_insync_replicas", "topic_retention_ms", "state_format")
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    INSTANCE_ID_FIELD_NUMBER: _ClassVar[int]
    TARGET_TS_FIELD_NUMBER: _ClassVar[int]
    END_TS_FIELD_NUMBER: _ClassVar[int]
    PRIMARY_TS_FIELD_NUMBER: _ClassVar[int]
    CHANGEFEED_FIELD_NUMBER: _ClassVar[int]
    TABLES_FIELD_NUMBER: _ClassVar[int]
    CHECKS_PASSED_FIELD_NUMBER: _ClassVar[int]
    PARTITIONS_FIELD_NUMBER: _ClassVar[int]
    DIALECT_FIELD_NUMBER: _ClassVar[int]
    TXN_SOURCE_FIELD_NUMBER: _ClassVar[int]
    BATCH_ROWS_FIELD_NUMBER: _ClassVar[int]
    TXN_STATEMENTS_FIELD_NUMBER: _ClassVar[int]
    TZ_FIELD_NUMBER: _ClassVar[int]
    PROGRESS_DB_FIELD_NUMBER: _ClassVar[int]
    DRY_RUN_DIR_FIELD_NUMBER: _ClassVar[int]
    CREATED_UNIX_MS_FIELD_NUMBER: _ClassVar[int]
    MOUNT_CHUNK_FIELD_NUMBER: _ClassVar[int]
    ATTEMPT_FIELD_NUMBER: _ClassVar[int]
    SPREAD_TABLES_FIELD_NUMBER: _ClassVar[int]
    DOWNSTREAM_FIELD_NUMBER: _ClassVar[int]
    NEW_COLLATION_FIELD_NUMBER: _ClassVar[int]
    TXN_MAX_BYTES_FIELD_NUMBER: _ClassVar[int]
    TXN_ENTRY_MAX_BYTES_FIELD_NUMBER: _ClassVar[int]
    TOPIC_PREFIX_FIELD_NUMBER: _ClassVar[int]
    REPLICATION_FACTOR_FIELD_NUMBER: _ClassVar[int]
    MIN_INSYNC_REPLICAS_FIELD_NUMBER: _ClassVar[int]
    TOPIC_RETENTION_MS_FIELD_NUMBER: _ClassVar[int]
    STATE_FORMAT_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    instance_id: str
    target_ts: int
    end_ts: int
    primary_ts: int
    changefeed: str
    tables: _containers.RepeatedCompositeFieldContainer[JobTable]
    checks_passed: _containers.RepeatedScalarFieldContainer[str]
    partitions: int
    dialect: str
    txn_source: int
    batch_rows: int
    txn_statements: int
    tz: str
    progress_db: str
    dry_run_dir: str
    created_unix_ms: int
    mount_chunk: int
    attempt: int
    spread_tables: _containers.RepeatedScalarFieldContainer[str]
    downstream: str
    new_collation: str
    txn_max_bytes: int
    txn_entry_max_bytes: int
    topic_prefix: str
    replication_factor: int
    min_insync_replicas: int
    topic_retention_ms: int
    state_format: int
    def __init__(self, job_id: _Optional[str] = ..., instance_id: _Optional[str] = ..., target_ts: _Optional[int] = ..., end_ts: _Optional[int] = ..., primary_ts: _Optional[int] = ..., changefeed: _Optional[str] = ..., tables: _Optional[_Iterable[_Union[JobTable, _Mapping]]] = ..., checks_passed: _Optional[_Iterable[str]] = ..., partitions: _Optional[int] = ..., dialect: _Optional[str] = ..., txn_source: _Optional[int] = ..., batch_rows: _Optional[int] = ..., txn_statements: _Optional[int] = ..., tz: _Optional[str] = ..., progress_db: _Optional[str] = ..., dry_run_dir: _Optional[str] = ..., created_unix_ms: _Optional[int] = ..., mount_chunk: _Optional[int] = ..., attempt: _Optional[int] = ..., spread_tables: _Optional[_Iterable[str]] = ..., downstream: _Optional[str] = ..., new_collation: _Optional[str] = ..., txn_max_bytes: _Optional[int] = ..., txn_entry_max_bytes: _Optional[int] = ..., topic_prefix: _Optional[str] = ..., replication_factor: _Optional[int] = ..., min_insync_replicas: _Optional[int] = ..., topic_retention_ms: _Optional[int] = ..., state_format: _Optional[int] = ...) -> None: ...
