"""One exception tree for the whole project.

::

    TiundoError                      base; never raised itself
    ├── ConfigError                  bad flags/URLs/settings            not retriable
    ├── DecodeError                  bytes that do not decode           not retriable (dead letter)
    ├── UnsafeToUndoError            GC safepoint passed, DDL after T,  not retriable
    │                                changefeed still writing
    └── TransientError               network blips, region errors,      retriable with backoff
                                     deadlocks, lock wait timeouts

``retriable`` is a class attribute, so one supervisor can decide between retry-with-backoff
and failing the job without knowing every subclass.
"""

from __future__ import annotations


class TiundoError(Exception):
    """Base of every error tiundo raises on purpose."""

    retriable: bool = False


class ConfigError(TiundoError):
    """The user's input (flags, URLs, settings) cannot work; the message says which part."""


class DecodeError(TiundoError):
    """Raw bytes from TiKV that do not decode; the event goes to the dead-letter topic."""


class UnsafeToUndoError(TiundoError):
    """The undo would not restore a consistent state (GC passed T, DDL after T, live writer)."""


class TransientError(TiundoError):
    """A failure that may pass on its own; callers retry with backoff."""

    retriable = True
