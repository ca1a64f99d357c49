"""docker-compose.yml cannot run here (no Docker engine); check its shape instead."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]


def _compose() -> dict[str, Any]:
    data = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    assert isinstance(data, dict)
    return data


def test_compose_has_the_pipeline_services() -> None:
    services = _compose()["services"]
    assert {"kafka", "pd", "tikv", "tidb", "ingest", "worker"} <= set(services)


def test_tiundo_services_get_every_setting_by_url() -> None:
    services = _compose()["services"]
    for name in ("ingest", "worker"):
        env = services[name]["environment"]
        assert env["TIUNDO_PD"].startswith("pd://")
        assert env["TIUNDO_KAFKA"].startswith("kafka://")
        assert env["TIUNDO_DOWNSTREAM"].startswith("mysql://")
        assert env["TIUNDO_STATUS_API"].startswith("http://")
        assert env["TIUNDO_JOB"]
        assert env["TIUNDO_TABLES"], "tiundo ingest needs the tables to rewind"
        assert int(env["TIUNDO_PARTITIONS"]) >= services["worker"]["deploy"]["replicas"]


def test_kafka_is_single_node_kraft() -> None:
    env = _compose()["services"]["kafka"]["environment"]
    assert env["KAFKA_PROCESS_ROLES"] == "broker,controller"
    assert env["KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR"] == "1"


def test_workers_do_not_share_a_rocksdb_datadir() -> None:
    worker = _compose()["services"]["worker"]
    assert "TIUNDO_DATADIR" in worker["environment"]
    assert not worker.get("volumes"), "replicas sharing one datadir would fight over RocksDB LOCK"
