"""``--json``: one JSON object on stdout per command, of one shape, for scripts.

Every ``--json`` document (and the JSON that ``ingest`` and ``replay`` always print) is an object
with the same four keys, then the command's own fields:

- ``command`` — ``plan``, ``run``, ``status``, ``report``, ``verify``, ``cleanup``, ``ingest``,
  ``replay``;
- ``job`` — the job name, or ``null`` (``verify``);
- ``exit_code`` — the process's exit status (the README's table), an integer;
- ``error`` — ``null``, or the one-line error that ended the command (also on stderr).

Keys are snake_case at every depth, integers (timestamps, counts) are JSON numbers, never
strings (protobuf's JSON mapping writes 64-bit integers as strings: :func:`proto_fields` does
not), enums are their names, seconds are numbers. A command that fails after ``--json`` was
given still prints its document, with ``error`` set (:func:`json_errors`, used by
:func:`app.cli.common.fail`); click's own usage errors (exit 2) print none.
"""

from __future__ import annotations

import json
from typing import Any, Final

import click
from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message

__all__ = ["ENVELOPE", "document", "emit", "failed", "json_errors", "proto_fields"]

#: the keys every document starts with
ENVELOPE: Final = ("command", "job", "exit_code", "error")

#: the command whose failure is printed as a document too (set by :func:`json_errors`)
_pending: dict[str, str | None] = {}


def document(command: str, job: str | None, exit_code: int, **fields: Any) -> dict[str, Any]:
    """The command's document: the envelope (``error`` null), then ``fields``."""
    clash = set(fields) & set(ENVELOPE)
    if clash:
        raise ValueError(f"--json fields {sorted(clash)} would hide the envelope")
    return {"command": command, "job": job or None, "exit_code": exit_code, "error": None, **fields}


def emit(doc: dict[str, Any]) -> None:
    """Print ``doc`` as one line on stdout; the command's failures are no longer printed."""
    _pending.clear()
    click.echo(json.dumps(doc, sort_keys=False, ensure_ascii=False))


def json_errors(command: str, job: str | None) -> None:
    """From now on, a failure of this command also prints its document with ``error``."""
    _pending.clear()
    _pending["command"], _pending["job"] = command, job


def failed(message: str, code: int) -> None:
    """Called by :func:`app.cli.common.fail`: the error document, when ``--json`` was given."""
    if "command" not in _pending:
        return
    command, job = str(_pending["command"]), _pending["job"]
    doc = document(command, job, code)
    doc["error"] = message
    emit(doc)


def _value(field: Any, value: Any) -> Any:
    if field.type == FieldDescriptor.TYPE_MESSAGE:
        return proto_fields(value)
    if field.type == FieldDescriptor.TYPE_ENUM:
        return str(field.enum_type.values_by_number[value].name)
    if field.type == FieldDescriptor.TYPE_BYTES:
        return value.hex()
    return value


def proto_fields(message: Message) -> dict[str, Any]:
    """Every field of ``message`` by its proto (snake_case) name, defaults included."""
    out: dict[str, Any] = {}
    for field in message.DESCRIPTOR.fields:
        value = getattr(message, field.name)
        if field.is_repeated:
            out[field.name] = [_value(field, v) for v in value]
        else:
            out[field.name] = _value(field, value)
    return out
