"""Addresses of the external systems, parsed once for every stage (STYLE.md §9).

Each system is named by a URL: ``pd://h:p[,h:p]`` (PD), ``kafka://h:p[,h:p]``,
``mysql://user:password@host:port[/db]`` (the downstream's SQL layer) and ``http://h:p`` (the TiDB
status API). Bare ``host:port`` lists are accepted where the scheme is implied. Errors name the
setting and show the URL as given (a password in it is the user's own input).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

from core.errors import ConfigError

__all__ = ["MySQLTarget", "parse_host_ports", "parse_http_url", "parse_mysql_url", "redact"]


@dataclass(frozen=True, slots=True)
class MySQLTarget:
    """Where the downstream's SQL layer is (a parsed ``mysql://`` URL)."""

    host: str
    port: int
    user: str
    password: str
    db: str

    def __str__(self) -> str:
        # never print the password in logs or errors
        return f"mysql://{self.user}@{self.host}:{self.port}/{self.db}"


_SCHEME_PREFIX = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")


def redact(url: str) -> str:
    """``url`` fit for a message: any password in its user part replaced by ``***``.

    Built for typos too (``mysql//u:pw@h``, ``mysql:/u:pw@h``, ``u:pw@h``, an unescaped ``@``
    in the password): everything between the first ``:`` after a well-formed ``scheme://`` (or
    from the start) and the last ``@`` goes. A typo may hide more than the password (the user
    too), never less, so a password never reaches an error, a log line or a report.
    """
    at = url.rfind("@")
    if at < 0:
        return url
    prefix = _SCHEME_PREFIX.match(url)
    start = prefix.end() if prefix else 0
    colon = url.find(":", start, at)
    if colon < 0:
        return url
    return f"{url[: colon + 1]}***{url[at:]}"


def parse_mysql_url(
    url: str, *, default_db: str = "", setting: str = "TIUNDO_DOWNSTREAM"
) -> MySQLTarget:
    """``mysql://user:pw@host:port[/db]``; user defaults to root, port to 3306."""
    parts = urlsplit(url)
    if parts.scheme != "mysql" or not parts.hostname:
        raise ConfigError(
            f"{setting} must be mysql://user:password@host:port[/db], got {redact(url)!r}"
        )
    try:
        port = parts.port or 3306
    except ValueError as exc:
        raise ConfigError(f"{setting} has a bad port: {redact(url)!r}") from exc
    return MySQLTarget(
        host=parts.hostname,
        port=port,
        user=unquote(parts.username or "root"),
        password=unquote(parts.password or ""),
        db=parts.path.strip("/") or default_db,
    )


def parse_host_ports(url: str, scheme: str) -> tuple[str, ...]:
    """``scheme://h1:p1,h2:p2`` or bare ``h1:p1,h2:p2`` → ``("h1:p1", "h2:p2")``.

    ``http://`` is accepted for PD too, since PD member URLs are written that way.
    """
    text = url.strip()
    for prefix in (f"{scheme}://", "http://"):
        if text.startswith(prefix):
            text = text[len(prefix) :]
            break
    if "://" in text:
        raise ConfigError(f"expected {scheme}://host:port, got {redact(url)!r}")
    out = []
    for part in text.rstrip("/").split(","):
        host, sep, port = part.strip().rpartition(":")
        if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ConfigError(f"expected {scheme}://host:port[,host:port], got {redact(url)!r}")
        out.append(f"{host}:{int(port)}")
    return tuple(out)


def parse_http_url(url: str) -> str:
    """``http://host:port`` (or bare ``host:port``) → ``http://host:port`` without a slash."""
    text = url.strip().rstrip("/")
    if "://" not in text:
        text = "http://" + text
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(f"expected http://host:port for the TiDB status API, got {redact(url)!r}")
    return text
