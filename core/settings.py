"""The one reader of ``TIUNDO_*`` environment variables, declared next to each setting.

A stage's config is a frozen dataclass. A field the environment may set is declared with
:func:`setting` (variable, default, parser) or, when it has no default in code, with
``field(metadata=env_var(...))``; the variable's name, default and parser then live in one place.
:func:`from_env` builds the config from a mapping, :func:`to_env` writes the variables that
rebuild it (settings handed to worker subprocesses), :func:`env_name` and :func:`default_of` let
the CLI's flags reuse the declarations instead of repeating them. An unset or empty variable
means the field's default. Pure: nothing is read but the mapping passed in (``os.environ`` by
default).
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final, TypeVar

from core.errors import ConfigError

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

__all__ = [
    "EnvVar",
    "default_of",
    "env_name",
    "env_var",
    "env_vars",
    "from_env",
    "setting",
    "to_env",
]

T = TypeVar("T")
C = TypeVar("C", bound="DataclassInstance")

#: key of the :class:`EnvVar` in a field's metadata
_KEY: Final = "tiundo.env"
#: builtin parsers and what a good value for them is; a default of one of these types needs no
#: explicit ``parse`` (``bool`` is deliberately absent: ``bool("0")`` is ``True``)
_EXPECTED: Final[Mapping[Callable[[str], Any], str]] = {
    str: "text",
    int: "an integer",
    float: "a number",
}


class _Unset:
    """Marker: an unset variable leaves the field to its dataclass default."""

    def __repr__(self) -> str:
        return "<unset>"


_NO_VALUE: Final = _Unset()


@dataclass(frozen=True, slots=True)
class EnvVar:
    """How one field is read from the environment."""

    name: str
    parse: Callable[[str], Any]
    #: what a good value is, for the error message (``an integer``)
    expected: str
    #: value of an unset variable for a field without a default (so ``validate()`` can name it)
    unset: Any = _NO_VALUE

    def read(self, raw: str) -> Any:
        """``raw`` parsed; a one-line :class:`ConfigError` naming the variable if it does not."""
        try:
            return self.parse(raw)
        except ValueError as exc:
            raise ConfigError(f"{self.name} must be {self.expected}, got {raw!r}") from exc


def _parser_for(default: object) -> Callable[[str], Any]:
    kind = type(default)
    if kind not in _EXPECTED:
        raise TypeError(f"no parser for a {kind.__name__} setting: pass parse=")
    return kind


def env_var(
    name: str,
    parse: Callable[[str], Any] = str,
    *,
    expected: str | None = None,
    unset: Any = _NO_VALUE,
) -> dict[str, EnvVar]:
    """Field metadata: the field is read from ``name`` (for ``dataclasses.field(metadata=…)``).

    ``expected`` describes a good value in errors (known for ``str``, ``int``, ``float``);
    ``unset`` is what an unset variable gives a field that has no default.
    """
    what = expected or _EXPECTED.get(parse, "valid")
    return {_KEY: EnvVar(name, parse, what, unset)}


def setting(
    name: str,
    default: T,
    *,
    parse: Callable[[str], T] | None = None,
    expected: str | None = None,
) -> T:
    """A dataclass field whose default ``name`` overrides; ``parse`` from the default's type."""
    if parse is None:
        parse = _parser_for(default)
    return dataclasses.field(default=default, metadata=env_var(name, parse, expected=expected))


def _declared(cls: type[DataclassInstance]) -> dict[str, EnvVar]:
    return {f.name: f.metadata[_KEY] for f in dataclasses.fields(cls) if _KEY in f.metadata}


def env_vars(cls: type[DataclassInstance]) -> dict[str, str]:
    """Field name → environment variable, for every declared field of ``cls``."""
    return {name: var.name for name, var in _declared(cls).items()}


def env_name(cls: type[DataclassInstance], field: str) -> str:
    """The variable ``cls.field`` is read from (``KeyError`` if it has none)."""
    try:
        return _declared(cls)[field].name
    except KeyError:
        raise KeyError(f"{cls.__name__}.{field} has no environment variable") from None


def default_of(cls: type[DataclassInstance], field: str) -> Any:
    """The default of ``cls.field`` (``KeyError`` if it has none)."""
    for f in dataclasses.fields(cls):
        if f.name == field and f.default is not dataclasses.MISSING:
            return f.default
    raise KeyError(f"{cls.__name__}.{field} has no default")


def from_env(cls: type[C], env: Mapping[str, str] | None = None, **overrides: Any) -> C:
    """``cls`` from its defaults, then ``env`` (unset or empty = default), then ``overrides``.

    ``None`` overrides are ignored, so optional flags can be passed through as they are.
    """
    source = os.environ if env is None else env
    values: dict[str, Any] = {}
    for name, var in _declared(cls).items():
        raw = source.get(var.name, "")
        if raw:
            values[name] = var.read(raw)
        elif var.unset is not _NO_VALUE:
            values[name] = var.unset
    values.update({k: v for k, v in overrides.items() if v is not None})
    build: Callable[..., C] = cls
    return build(**values)


def to_env(config: DataclassInstance) -> dict[str, str]:
    """The variables :func:`from_env` rebuilds ``config`` from (``None`` = empty = default)."""
    out: dict[str, str] = {}
    for name, var in _declared(type(config)).items():
        value = getattr(config, name)
        out[var.name] = "" if value is None else str(value)
    return out
