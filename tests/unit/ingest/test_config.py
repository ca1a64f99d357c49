"""IngestConfig: URL parsing, env vars, validate()."""

from __future__ import annotations

import pytest

from core.errors import ConfigError
from core.urls import parse_host_ports, parse_mysql_url
from ingest.config import IngestConfig


def valid(**kw: object) -> IngestConfig:
    base: dict[str, object] = {"tables": ("db.*",), "to_ts": 100}
    base.update(kw)
    return IngestConfig(**base)  # type: ignore[arg-type]


def test_urls_parse() -> None:
    assert parse_host_ports("pd://a:1,b:2", "pd") == ("a:1", "b:2")
    assert parse_host_ports("127.0.0.1:2379", "pd") == ("127.0.0.1:2379",)
    assert parse_host_ports("http://pd0:2379/", "pd") == ("pd0:2379",)
    t = parse_mysql_url("mysql://u:p%40ss@h:4000/d")
    assert (t.host, t.port, t.user, t.password, t.db) == ("h", 4000, "u", "p@ss", "d")
    assert "p@ss" not in str(t)
    assert valid(kafka="kafka://k1:9092,k2:9093").kafka_bootstrap == "k1:9092,k2:9093"
    assert valid(job="j1").topic == "j1.kv" and valid(job="j1").gc_service_id == "tiundo-j1"


@pytest.mark.parametrize("bad", ["pd://nohost", "mysql://x:1", "pd://h:0", "pd://h:99999"])
def test_bad_pd_urls(bad: str) -> None:
    with pytest.raises(ConfigError):
        parse_host_ports(bad, "pd")


def test_env_vars_then_overrides() -> None:
    env = {"TIUNDO_PD": "pd://p:1", "TIUNDO_JOB": "fromenv", "TIUNDO_PARTITIONS": "12"}
    cfg = IngestConfig.from_env(env, job="explicit", tables=("d.t",), to_ts=5)
    assert cfg.pd == "pd://p:1" and cfg.job == "explicit" and cfg.partitions == 12
    assert cfg.store_outage_s == 300
    assert IngestConfig.from_env({"TIUNDO_STORE_OUTAGE_S": "45"}).store_outage_s == 45
    assert cfg.pd_election_s == 30
    assert IngestConfig.from_env({"TIUNDO_PD_ELECTION_S": "5"}).pd_election_s == 5
    with pytest.raises(ConfigError, match="pd_election_s must be > 0"):
        IngestConfig.from_env({"TIUNDO_PD_ELECTION_S": "0"}, tables=("d.t",), to_ts=5).validate()
    with pytest.raises(ConfigError, match="TIUNDO_PARTITIONS"):
        IngestConfig.from_env({"TIUNDO_PARTITIONS": "many"})


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"tables": ()}, "no tables"),
        ({"tables": ("nodot",)}, "pattern"),
        ({"partitions": 0}, "partitions"),
        ({"to_ts": None, "downstream": ""}, "syncpoint"),
        ({"end_ts": 50}, "above"),
        ({"job": "bad job"}, "job name"),
        ({"ticdc_version": "v8.5.0"}, "semver"),
        ({"own_source": 300}, "txn source"),
        ({"batch_max_bytes": 8 << 20}, "max_request_bytes"),
        ({"store_outage_s": 0}, "store_outage_s"),
    ],
)
def test_validate_names_the_bad_setting(change: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        valid(**change).validate()


def test_valid_config_validates() -> None:
    cfg = valid(downstream="mysql://u@h/db", to_ts=None)
    assert cfg.validate() is cfg
