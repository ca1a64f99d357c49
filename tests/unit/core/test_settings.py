"""core.settings: declarations, the one env reader, its errors, and what the CLI reuses."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import pytest

from app.config import UndoConfig
from core.errors import ConfigError
from core.settings import default_of, env_name, env_var, env_vars, from_env, setting, to_env
from ingest.config import IngestConfig


def _parse_flag(raw: str) -> bool:
    if raw not in ("True", "False"):
        raise ValueError(raw)
    return raw == "True"


@dataclass(frozen=True, slots=True)
class Sample:
    name: str = dataclasses.field(metadata=env_var("T_NAME", unset=""))
    count: int = setting("T_COUNT", 3)
    ratio: float = setting("T_RATIO", 0.5)
    url: str = setting("T_URL", "x://default")
    flag: bool = setting("T_FLAG", False, parse=_parse_flag, expected="True or False")
    note: str = "not from the environment"


def test_defaults_when_unset_or_empty() -> None:
    assert from_env(Sample, {}) == Sample(name="")
    assert from_env(Sample, {"T_COUNT": "", "T_URL": "", "T_NAME": ""}) == Sample(name="")


def test_values_are_parsed() -> None:
    env = {"T_NAME": "n", "T_COUNT": "-7", "T_RATIO": "1e-3", "T_URL": "y://", "T_FLAG": "True"}
    assert from_env(Sample, env) == Sample("n", -7, 0.001, "y://", True)


def test_undeclared_fields_and_foreign_variables_are_ignored() -> None:
    cfg = from_env(Sample, {"T_NOTE": "nope", "OTHER": "1"})
    assert cfg.note == "not from the environment"


def test_overrides_win_and_none_is_not_given() -> None:
    cfg = from_env(Sample, {"T_COUNT": "4"}, count=9, url=None, note="given")
    assert (cfg.count, cfg.url, cfg.note) == (9, "x://default", "given")


@pytest.mark.parametrize(
    ("var", "raw", "message"),
    [
        ("T_COUNT", "many", "T_COUNT must be an integer, got 'many'"),
        ("T_COUNT", "1.5", "T_COUNT must be an integer, got '1.5'"),
        ("T_RATIO", "half", "T_RATIO must be a number, got 'half'"),
        ("T_FLAG", "yes", "T_FLAG must be True or False, got 'yes'"),
    ],
)
def test_bad_value_is_one_line_naming_variable_and_value(var: str, raw: str, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        from_env(Sample, {var: raw})
    assert str(info.value) == message
    assert "\n" not in str(info.value)


def test_bad_value_fails_even_if_overridden() -> None:
    with pytest.raises(ConfigError, match="T_COUNT"):
        from_env(Sample, {"T_COUNT": "x"}, count=1)


def test_to_env_writes_every_declared_variable() -> None:
    cfg = Sample("n", 2, 0.25, "z://", True, note="stays in code")
    env = to_env(cfg)
    assert env == {
        "T_NAME": "n",
        "T_COUNT": "2",
        "T_RATIO": "0.25",
        "T_URL": "z://",
        "T_FLAG": "True",
    }
    assert from_env(Sample, env, note="stays in code") == cfg


def test_names_and_defaults_for_the_cli() -> None:
    assert env_vars(Sample) == {
        "name": "T_NAME",
        "count": "T_COUNT",
        "ratio": "T_RATIO",
        "url": "T_URL",
        "flag": "T_FLAG",
    }
    assert env_name(Sample, "count") == "T_COUNT"
    assert default_of(Sample, "count") == 3 and default_of(Sample, "note").startswith("not")
    with pytest.raises(KeyError, match="note"):
        env_name(Sample, "note")
    with pytest.raises(KeyError, match="name"):
        default_of(Sample, "name")


def test_a_default_without_a_known_parser_needs_one() -> None:
    with pytest.raises(TypeError, match="bool"):
        setting("T_X", True)


def test_stage_configs_keep_their_variables() -> None:
    assert env_vars(IngestConfig) == {
        "pd": "TIUNDO_PD",
        "kafka": "TIUNDO_KAFKA",
        "downstream": "TIUNDO_DOWNSTREAM",
        "status_api": "TIUNDO_STATUS_API",
        "ca": "TIUNDO_CA",
        "cert": "TIUNDO_CERT",
        "key": "TIUNDO_KEY",
        "job": "TIUNDO_JOB",
        "partitions": "TIUNDO_PARTITIONS",
        "topic_prefix": "TIUNDO_TOPIC_PREFIX",
        "replication_factor": "TIUNDO_REPLICATION_FACTOR",
        "min_insync_replicas": "TIUNDO_MIN_INSYNC_REPLICAS",
        "topic_retention_ms": "TIUNDO_TOPIC_RETENTION_MS",
        "kafka_outage_s": "TIUNDO_KAFKA_OUTAGE_S",
        "lock_stall_s": "TIUNDO_LOCK_STALL_S",
        "store_outage_s": "TIUNDO_STORE_OUTAGE_S",
        "pd_election_s": "TIUNDO_PD_ELECTION_S",
    }
    undo = env_vars(UndoConfig)
    assert set(undo) == {f.name for f in dataclasses.fields(UndoConfig)}
    assert all(var == "TIUNDO_" + name.upper() for name, var in undo.items())
