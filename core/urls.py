"""Addresses of the external systems, parsed once for every stage (STYLE.md §9).

Each system is named by a URL: ``pd://h:p[,h:p]`` (PD), ``kafka://h:p[,h:p]``,
``mysql://user:password@host:port[/db][?ssl-mode=…&ssl-ca=…]`` (the downstream's SQL layer) and
``http://h:p`` (the TiDB status API). Bare ``host:port`` lists are accepted where the scheme is
implied; PD also takes ``https://`` (TLS). Errors name the setting and show the URL with any
password replaced by ``***``.

The downstream's TLS options are named as the ``mysql`` client and TiCDC's sink URI name them:
``ssl-ca``, ``ssl-cert``, ``ssl-key`` and ``ssl-mode`` (:data:`SSL_MODES`). Without ``ssl-mode``,
``ssl-ca`` means ``VERIFY_CA`` (as the mysql client), a client certificate alone ``REQUIRED``,
and no option at all ``DISABLED`` (tiundo's behaviour before TLS; the mysql client would try
``PREFERRED``, which falls back to plaintext without telling).
"""

from __future__ import annotations

import re
import ssl
from dataclasses import dataclass
from typing import Final
from urllib.parse import parse_qsl, unquote, urlsplit

from core.errors import ConfigError
from core.tls import TlsFiles, client_context

__all__ = [
    "SSL_MODES",
    "MySQLTarget",
    "parse_host_ports",
    "parse_http_url",
    "parse_mysql_url",
    "pd_scheme",
    "redact",
]

#: ``ssl-mode`` values, weakest first (the mysql client's names)
SSL_MODES: Final = ("DISABLED", "PREFERRED", "REQUIRED", "VERIFY_CA", "VERIFY_IDENTITY")
#: the URL query keys of the downstream's TLS options
_SSL_KEYS: Final = ("ssl-mode", "ssl-ca", "ssl-cert", "ssl-key")


@dataclass(frozen=True, slots=True)
class MySQLTarget:
    """Where the downstream's SQL layer is (a parsed ``mysql://`` URL)."""

    host: str
    port: int
    user: str
    password: str
    db: str
    #: one of :data:`SSL_MODES`
    ssl_mode: str = "DISABLED"
    ssl_ca: str = ""
    ssl_cert: str = ""
    ssl_key: str = ""

    def __str__(self) -> str:
        # never print the password in logs or errors
        return f"mysql://{self.user}@{self.host}:{self.port}/{self.db}"

    @property
    def tls_required(self) -> bool:
        """Whether a connection without TLS must be refused (``REQUIRED`` and stronger)."""
        return SSL_MODES.index(self.ssl_mode) >= SSL_MODES.index("REQUIRED")

    def ssl_context(self) -> ssl.SSLContext | None:
        """What aiomysql's ``ssl=`` takes: ``None`` for ``DISABLED``.

        ``PREFERRED`` and ``REQUIRED`` encrypt without checking the server; ``VERIFY_CA``
        checks the chain against ``ssl-ca`` (or the system roots); ``VERIFY_IDENTITY`` the host
        name too.
        """
        if self.ssl_mode == "DISABLED":
            return None
        files = TlsFiles(
            self.ssl_ca, self.ssl_cert, self.ssl_key, ("ssl-ca", "ssl-cert", "ssl-key")
        )
        verify = SSL_MODES.index(self.ssl_mode) >= SSL_MODES.index("VERIFY_CA")
        return client_context(
            files, verify_ca=verify, verify_host=self.ssl_mode == "VERIFY_IDENTITY"
        )


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


def _ssl_options(query: str, setting: str) -> dict[str, str]:
    """The ``ssl-*`` options of a downstream URL's query, checked; the mode resolved."""
    try:
        pairs = parse_qsl(query, keep_blank_values=True, strict_parsing=bool(query))
    except ValueError:
        raise ConfigError(f"{setting}: cannot parse the options after '?'") from None
    opts: dict[str, str] = {}
    for key, value in pairs:
        if key not in _SSL_KEYS:
            raise ConfigError(f"{setting}: unknown option {key!r} (known: {', '.join(_SSL_KEYS)})")
        if key in opts:
            raise ConfigError(f"{setting}: option {key!r} given twice")
        opts[key] = value
    mode = opts.get("ssl-mode", "").upper()
    if mode and mode not in SSL_MODES:
        raise ConfigError(
            f"{setting}: ssl-mode must be one of {', '.join(SSL_MODES)}, got {mode!r}"
        )
    if bool(opts.get("ssl-cert")) != bool(opts.get("ssl-key")):
        raise ConfigError(f"{setting}: ssl-cert and ssl-key go together")
    if not mode:
        mode = "VERIFY_CA" if opts.get("ssl-ca") else "REQUIRED" if opts.get("ssl-cert") else ""
    mode = mode or "DISABLED"
    if mode == "DISABLED" and any(opts.get(k) for k in ("ssl-ca", "ssl-cert", "ssl-key")):
        raise ConfigError(f"{setting}: ssl-mode=DISABLED with ssl-ca/ssl-cert/ssl-key: drop one")
    opts["ssl-mode"] = mode
    return opts


def parse_mysql_url(
    url: str,
    *,
    default_db: str = "",
    setting: str = "TIUNDO_DOWNSTREAM",
) -> MySQLTarget:
    """``mysql://user:pw@host:port[/db][?ssl-…]``; user defaults to root, port to 3306."""
    parts = urlsplit(url)
    if parts.scheme != "mysql" or not parts.hostname:
        raise ConfigError(
            f"{setting} must be mysql://user:password@host:port[/db], got {redact(url)!r}"
        )
    try:
        port = parts.port or 3306
    except ValueError as exc:
        raise ConfigError(f"{setting} has a bad port: {redact(url)!r}") from exc
    ssl_opts = _ssl_options(parts.query, setting)
    return MySQLTarget(
        host=parts.hostname,
        port=port,
        user=unquote(parts.username or "root"),
        password=unquote(parts.password or ""),
        db=parts.path.strip("/") or default_db,
        ssl_mode=ssl_opts["ssl-mode"],
        ssl_ca=ssl_opts.get("ssl-ca", ""),
        ssl_cert=ssl_opts.get("ssl-cert", ""),
        ssl_key=ssl_opts.get("ssl-key", ""),
    )


def pd_scheme(url: str) -> str:
    """``https``, ``http`` or ``pd`` (also for a bare list): what the PD URL asks for."""
    text = url.strip()
    for scheme in ("https", "http", "pd"):
        if text.startswith(f"{scheme}://"):
            return scheme
    return "pd"


def parse_host_ports(url: str, scheme: str) -> tuple[str, ...]:
    """``scheme://h1:p1,h2:p2`` or bare ``h1:p1,h2:p2`` → ``("h1:p1", "h2:p2")``.

    ``http://`` (and ``https://``, meaning TLS: :func:`pd_scheme`) are accepted for PD too,
    since PD member URLs are written that way.
    """
    text = url.strip()
    prefixes = (f"{scheme}://", "http://", *(("https://",) if scheme == "pd" else ()))
    for prefix in prefixes:
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
