from __future__ import annotations

import datetime as dt

import pytest

from app.config import UndoConfig, parse_tz
from core.errors import ConfigError
from core.urls import parse_mysql_url


def test_defaults_and_names() -> None:
    cfg = UndoConfig.from_env({"TIUNDO_JOB": "j1"}).validate()
    assert cfg.partitions == 8 and cfg.batch_rows == 1000 and cfg.dialect == "tidb"
    # well under TiDB's txn-total-size-limit (100 MB); its txn-entry-size-limit (6 MiB)
    assert (cfg.txn_max_bytes, cfg.txn_entry_max_bytes) == (64 << 20, 6 << 20)
    assert cfg.kafka_bootstrap == "127.0.0.1:9092"
    assert (cfg.app_id, cfg.kv_topic, cfg.dead_topic) == ("tiundo-j1", "j1.kv", "j1.dead")
    assert (cfg.progress_topic, cfg.status_topic) == ("j1.progress", "j1.status")


def test_env_round_trip() -> None:
    env = {
        "TIUNDO_JOB": "job-2",
        "TIUNDO_KAFKA": "kafka://k:1",
        "TIUNDO_DOWNSTREAM": "mysql://u:p%40ss@h:3307/db",
        "TIUNDO_PARTITIONS": "3",
        "TIUNDO_BATCH_ROWS": "7",
        "TIUNDO_DIALECT": "mysql",
        "TIUNDO_TZ": "-05:30",
        "TIUNDO_DRY_RUN": "/tmp/x",
        "TIUNDO_RETRY_BACKOFF_S": "0.5",
        "TIUNDO_SESSION_TIMEOUT_S": "6",
    }
    cfg = UndoConfig.from_env(env).validate()
    assert cfg.partitions == 3 and cfg.batch_rows == 7 and cfg.retry_backoff_s == 0.5
    assert UndoConfig.from_env(cfg.to_env()) == cfg
    url = parse_mysql_url(cfg.downstream)
    assert (url.host, url.port, url.user, url.password, url.db) == ("h", 3307, "u", "p@ss", "db")


@pytest.mark.parametrize(
    ("env", "needle"),
    [
        ({}, "TIUNDO_JOB"),
        ({"TIUNDO_JOB": "a b"}, "TIUNDO_JOB"),
        ({"TIUNDO_JOB": "j", "TIUNDO_KAFKA": "127.0.0.1:9092"}, "TIUNDO_KAFKA"),
        ({"TIUNDO_JOB": "j", "TIUNDO_DOWNSTREAM": "postgres://x"}, "TIUNDO_DOWNSTREAM"),
        ({"TIUNDO_JOB": "j", "TIUNDO_PARTITIONS": "0"}, "TIUNDO_PARTITIONS"),
        ({"TIUNDO_JOB": "j", "TIUNDO_PARTITIONS": "x"}, "TIUNDO_PARTITIONS"),
        ({"TIUNDO_JOB": "j", "TIUNDO_DIALECT": "pg"}, "TIUNDO_DIALECT"),
        ({"TIUNDO_JOB": "j", "TIUNDO_TXN_MAX_BYTES": "0"}, "TIUNDO_TXN_MAX_BYTES"),
        ({"TIUNDO_JOB": "j", "TIUNDO_TXN_ENTRY_MAX_BYTES": "-1"}, "TIUNDO_TXN_ENTRY_MAX_BYTES"),
        ({"TIUNDO_JOB": "j", "TIUNDO_TZ": "UTC"}, "TIUNDO_TZ"),
        ({"TIUNDO_JOB": "j", "TIUNDO_TXN_SOURCE": "16"}, "TIUNDO_TXN_SOURCE"),
        ({"TIUNDO_JOB": "j", "TIUNDO_SESSION_TIMEOUT_S": "2"}, "TIUNDO_SESSION_TIMEOUT_S"),
        ({"TIUNDO_JOB": "j", "TIUNDO_STATUS_API": "tidb:10080"}, "TIUNDO_STATUS_API"),
        ({"TIUNDO_JOB": "j", "TIUNDO_SCHEMA_VERSIONS": "70"}, "TIUNDO_SCHEMA_VERSIONS"),
        ({"TIUNDO_JOB": "j", "TIUNDO_SCHEMA_VERSIONS": "70=x"}, "TIUNDO_SCHEMA_VERSIONS"),
        ({"TIUNDO_JOB": "j", "TIUNDO_COMPACT_BUFFER_CHANGES": "0"}, "TIUNDO_COMPACT_BUFFER"),
        ({"TIUNDO_JOB": "j", "TIUNDO_COMPACT_FLUSH_S": "0"}, "TIUNDO_COMPACT_FLUSH_S"),
        ({"TIUNDO_JOB": "j", "TIUNDO_COMPACT_MAX_DELAY_S": "-1"}, "TIUNDO_COMPACT_MAX_DELAY"),
        ({"TIUNDO_JOB": "j", "TIUNDO_STATE_WRITE_BUFFER_MB": "0"}, "TIUNDO_STATE_WRITE_BUFFER_MB"),
        ({"TIUNDO_JOB": "j", "TIUNDO_STATE_BLOCK_CACHE_MB": "0"}, "TIUNDO_STATE_BLOCK_CACHE_MB"),
    ],
)
def test_validate_names_the_bad_setting(env: dict[str, str], needle: str) -> None:
    with pytest.raises(ConfigError, match=needle):
        UndoConfig.from_env(env).validate()


def test_parse_tz() -> None:
    assert parse_tz("+00:00").utcoffset(None) == dt.timedelta(0)
    assert parse_tz("-05:30").utcoffset(None) == -dt.timedelta(hours=5, minutes=30)
    assert parse_tz("+08:00").utcoffset(None) == dt.timedelta(hours=8)
    for bad in ("08:00", "+8:00", "+15:00", "+01:60", ""):
        with pytest.raises(ConfigError):
            parse_tz(bad)


def test_job_topics_are_exact_names_that_never_reach_another_job() -> None:
    from app.config import job_topics

    mine = job_topics("a")
    assert "a.kv" in mine and "a.job" in mine and "tiundo-a-compact-changelog" in mine
    assert "tiundo-a-__assignor-__leader" in mine
    # job "a-b" (a legal name) shares the prefix "tiundo-a-" but none of "a"'s topics
    assert not set(mine) & set(job_topics("a-b"))
    assert all(not t.startswith("tiundo-a-b-") for t in mine)
    kept = job_topics("a", keep_record=True)
    assert "a.job" not in kept and set(kept) < set(mine)


def test_pinned_schema_versions_round_trip_through_the_environment() -> None:
    cfg = UndoConfig(job="j", schema_versions="70=5,71=470911245635584002").validate()
    back = UndoConfig.from_env(cfg.to_env()).validate()
    assert back.pinned_schemas() == {70: 5, 71: 470911245635584002}
    assert UndoConfig(job="j").pinned_schemas() == {}


def test_state_options_bound_each_partition_db_instead_of_fausts_defaults() -> None:
    from faust.stores.rocksdb import RocksDBOptions

    cfg = UndoConfig.from_env({"TIUNDO_JOB": "j"}).validate()
    assert cfg.state_options() == {
        "write_buffer_size": 8 << 20,
        "max_write_buffer_number": 2,
        "block_cache_size": 16 << 20,
    }
    faust_default = RocksDBOptions()
    opts = RocksDBOptions(**cfg.state_options())
    assert opts.write_buffer_size * opts.max_write_buffer_number < (
        faust_default.write_buffer_size * faust_default.max_write_buffer_number
    )
    assert opts.block_cache_size < faust_default.block_cache_size
    cfg = UndoConfig.from_env(
        {"TIUNDO_JOB": "j", "TIUNDO_STATE_WRITE_BUFFER_MB": "2", "TIUNDO_STATE_BLOCK_CACHE_MB": "3"}
    ).validate()
    assert (cfg.state_options()["write_buffer_size"], cfg.state_options()["block_cache_size"]) == (
        2 << 20, 3 << 20,
    )  # fmt: skip
