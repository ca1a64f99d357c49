"""The one shape of every ``--json`` document (README "Exit codes and --json"), as a check."""

from __future__ import annotations

import re
from typing import Any

ENVELOPE = ("command", "job", "exit_code", "error")
_KEY = re.compile(r"^([a-z][a-z0-9]*(_[a-z0-9]+)*|\d+)$")
_DIGITS = re.compile(r"^-?\d+$")
EXIT_CODES = {0, 1, 2, 3, 4, 5, 130}


def _walk(value: Any, path: str) -> None:
    if isinstance(value, dict):
        for key, inner in value.items():
            assert isinstance(key, str) and _KEY.match(key), f"{path}: key {key!r} not snake_case"
            _walk(inner, f"{path}.{key}")
    elif isinstance(value, list):
        for i, inner in enumerate(value):
            _walk(inner, f"{path}[{i}]")
    elif isinstance(value, str):
        assert not _DIGITS.match(value), f"{path}: integer {value!r} written as a string"
    else:
        assert value is None or isinstance(value, bool | int | float), (path, value)


def check_document(doc: Any, command: str, exit_code: int | None = None) -> dict[str, Any]:
    """Assert ``doc`` has the shape; return it."""
    assert isinstance(doc, dict), doc
    assert tuple(doc)[:4] == ENVELOPE, tuple(doc)
    assert doc["command"] == command
    assert doc["job"] is None or (isinstance(doc["job"], str) and doc["job"])
    assert type(doc["exit_code"]) is int and doc["exit_code"] in EXIT_CODES
    if exit_code is not None:
        assert doc["exit_code"] == exit_code, doc
    error = doc["error"]
    assert error is None or (isinstance(error, str) and error and "\n" not in error)
    if doc["exit_code"] == 0:
        assert error is None, doc
    _walk(doc, "$")
    return doc
