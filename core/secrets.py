"""Passwords given by value or by file, never on the command line and never printed.

A password may sit in its URL (``mysql://u:pw@h``, percent-encoded), in a variable
(``TIUNDO_DOWNSTREAM_PASSWORD``) or in a file (``--password-file``,
``TIUNDO_DOWNSTREAM_PASSWORD_FILE``); two of them at once is an error rather than a guess. The
file's content never reaches a message: errors name the file. Pure: stdlib only.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote, urlsplit, urlunsplit

from core.errors import ConfigError
from core.settings import setting
from core.tls import read_file

__all__ = ["DownstreamPassword", "read_secret", "resolve_secret", "with_password"]


def read_secret(path: str, what: str) -> str:
    """The secret kept in file ``path`` (one trailing newline dropped); errors name the path."""
    try:
        text = read_file(path, what).decode()
    except UnicodeDecodeError:
        raise ConfigError(f"{what}: {path!r} is not UTF-8 text") from None
    return text.removesuffix("\n").removesuffix("\r")


def resolve_secret(value: str, path: str, names: tuple[str, str]) -> str | None:
    """``value``, or the content of ``path``, or ``None``; both given is a :class:`ConfigError`."""
    if value and path:
        raise ConfigError(f"{names[0]} and {names[1]} both give a password: keep one")
    if path:
        return read_secret(path, names[1])
    return value or None


def with_password(url: str, password: str | None, setting_name: str) -> str:
    """``url`` with ``password`` (percent-encoded) in its user part; unchanged for ``None``.

    An empty ``url`` stays empty (commands that need no downstream ignore the password).

    A URL that holds a password already is refused: which one wins would be a guess.
    """
    if password is None or not url:
        return url
    parts = urlsplit(url)
    if parts.password is not None:
        raise ConfigError(
            f"{setting_name} holds a password and one is given by file or variable too: keep one"
        )
    if not parts.hostname:
        raise ConfigError(f"{setting_name}: expected scheme://user@host:port to add a password to")
    user, _, host = parts.netloc.rpartition("@")
    netloc = f"{user or 'root'}:{quote(password, safe='')}@{host}"
    return urlunsplit(parts._replace(netloc=netloc))


@dataclass(frozen=True, slots=True)
class DownstreamPassword:
    """The downstream's password when it is not in ``TIUNDO_DOWNSTREAM``."""

    #: the password itself (a variable, not a flag: ``ps`` would show a flag)
    password: str = setting("TIUNDO_DOWNSTREAM_PASSWORD", "")
    #: a file holding it (``--password-file``)
    password_file: str = setting("TIUNDO_DOWNSTREAM_PASSWORD_FILE", "")

    def resolve(self) -> str | None:
        """The password, or ``None`` when neither is set."""
        return resolve_secret(
            self.password,
            self.password_file,
            ("TIUNDO_DOWNSTREAM_PASSWORD", "--password-file/TIUNDO_DOWNSTREAM_PASSWORD_FILE"),
        )
