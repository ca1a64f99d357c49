"""The downstream's new_collation_enabled, read as pkg/session loadCollationParameter does."""

from __future__ import annotations

import pytest

from app.config import UndoConfig
from app.sink.collation import parse_flag, resolve
from core.errors import ConfigError, UnsafeToUndoError


@pytest.mark.parametrize(
    ("rows", "on"),
    [((("True",),), True), (((b"True",),), True), ((("False",),), False), ((("yes",),), False)],
)
def test_only_true_means_on(rows: object, on: bool) -> None:
    assert parse_flag(rows, "tidb") is on


def test_no_row_is_refused_not_guessed() -> None:
    with pytest.raises(UnsafeToUndoError, match="TIUNDO_NEW_COLLATION=on or off"):
        parse_flag((), "mysql://root@tidb:4000/")


def test_resolve_takes_the_setting_or_the_downstream() -> None:
    assert resolve("on", False) is True
    assert resolve("off", True) is False
    assert resolve("auto", False) is False
    with pytest.raises(ValueError):
        resolve("auto", None)


def test_setting_is_validated() -> None:
    with pytest.raises(ConfigError, match="TIUNDO_NEW_COLLATION must be auto, on or off"):
        UndoConfig(job="j", new_collation="yes").validate()
    assert (
        UndoConfig.from_env({"TIUNDO_JOB": "j", "TIUNDO_NEW_COLLATION": "off"}).new_collation
        == "off"
    )
