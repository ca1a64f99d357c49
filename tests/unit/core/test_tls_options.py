"""TLS options and passwords: the downstream URL's ssl-* options, secrets by file, PD's rules."""

from __future__ import annotations

import ssl
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.errors import ConfigError
from core.secrets import DownstreamPassword, resolve_secret, with_password
from core.settings import from_env
from core.tls import TlsFiles, client_context
from core.urls import SSL_MODES, parse_host_ports, parse_mysql_url, pd_scheme, redact
from ingest.config import IngestConfig
from tests.tls_certs import make_pki

BASE = "mysql://u@db:4000/d"


def pem_files(tmp_path: Path) -> tuple[str, str, str]:
    """A self-signed CA and a client pair, made with ``cryptography`` (no key committed)."""
    pki = make_pki(tmp_path / "pki")
    return str(pki.ca), str(pki.client.cert), str(pki.client.key)


def test_no_ssl_option_is_disabled_and_has_no_context() -> None:
    target = parse_mysql_url(BASE)
    assert target.ssl_mode == "DISABLED" and not target.tls_required
    assert target.ssl_context() is None


@pytest.mark.parametrize(
    ("query", "mode"),
    [
        ("ssl-ca=/c", "VERIFY_CA"),  # the mysql client's implication
        ("ssl-cert=/c&ssl-key=/k", "REQUIRED"),
        ("ssl-mode=preferred", "PREFERRED"),
        ("ssl-mode=VERIFY_IDENTITY&ssl-ca=/c", "VERIFY_IDENTITY"),
        ("ssl-mode=REQUIRED&ssl-ca=/c", "REQUIRED"),
    ],
)
def test_the_mode_follows_the_mysql_client(query: str, mode: str) -> None:
    target = parse_mysql_url(f"{BASE}?{query}")
    assert target.ssl_mode == mode
    assert target.tls_required == (SSL_MODES.index(mode) >= SSL_MODES.index("REQUIRED"))
    assert str(target) == BASE  # the options never change how the server is named


@pytest.mark.parametrize(
    ("query", "error"),
    [
        ("ssl-mode=SOMETIMES", "ssl-mode must be one of"),
        ("sslmode=REQUIRED", "unknown option 'sslmode'"),
        ("ssl-ca=/a&ssl-ca=/b", "given twice"),
        ("ssl-mode=DISABLED&ssl-ca=/c", "DISABLED with"),
        ("ssl-cert=/c", "go together"),
        ("ssl-key=/k", "go together"),
    ],
)
def test_bad_ssl_options_are_one_line_errors(query: str, error: str) -> None:
    with pytest.raises(ConfigError, match=error) as err:
        parse_mysql_url(f"mysql://u:SECRET@db:4000/d?{query}")
    assert "SECRET" not in str(err.value) and "\n" not in str(err.value)


def test_contexts_per_mode(tmp_path: Path) -> None:
    ca, cert, key = pem_files(tmp_path)

    def ctx(mode: str) -> ssl.SSLContext:
        got = parse_mysql_url(f"{BASE}?ssl-mode={mode}&ssl-ca={ca}&ssl-cert={cert}&ssl-key={key}")
        context = got.ssl_context()
        assert context is not None
        return context

    assert ctx("PREFERRED").verify_mode == ssl.CERT_NONE
    assert ctx("REQUIRED").verify_mode == ssl.CERT_NONE
    assert ctx("VERIFY_CA").verify_mode == ssl.CERT_REQUIRED
    assert not ctx("VERIFY_CA").check_hostname
    assert ctx("VERIFY_IDENTITY").check_hostname


def test_a_missing_or_bad_file_names_the_option(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"ssl-ca: cannot read ./nowhere/ca\.pem."):
        parse_mysql_url(f"{BASE}?ssl-ca=/nowhere/ca.pem").ssl_context()
    junk = tmp_path / "junk.pem"
    junk.write_text("not a certificate\n")
    with pytest.raises(ConfigError, match="not usable PEM"):
        client_context(TlsFiles(ca=str(junk)))
    with pytest.raises(ConfigError, match="--cert and --key go together"):
        TlsFiles(cert=str(junk)).validate()


def test_secrets_from_a_file_or_a_variable(tmp_path: Path) -> None:
    f = tmp_path / "pw"
    f.write_text("from-file\n")
    names = ("V", "F")
    assert resolve_secret("", str(f), names) == "from-file"
    assert resolve_secret("v", "", names) == "v"
    assert resolve_secret("", "", names) is None
    with pytest.raises(ConfigError, match="keep one") as err:
        resolve_secret("v", str(f), names)
    assert "from-file" not in str(err.value)
    with pytest.raises(ConfigError, match="F: cannot read"):
        resolve_secret("", str(tmp_path / "none"), names)
    env = {"TIUNDO_DOWNSTREAM_PASSWORD_FILE": str(f)}
    assert from_env(DownstreamPassword, env).resolve() == "from-file"


@given(st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), min_size=1))
def test_a_password_round_trips_through_the_url(password: str) -> None:
    url = with_password("mysql://u@db:4000/d?ssl-mode=REQUIRED", password, "TIUNDO_DOWNSTREAM")
    target = parse_mysql_url(url)
    assert target.password == password
    assert (target.user, target.host, target.port, target.db) == ("u", "db", 4000, "d")
    assert target.ssl_mode == "REQUIRED"
    assert str(target) == "mysql://u@db:4000/d"
    assert redact(url).startswith("mysql://u:***@db:4000")


def test_a_password_twice_is_refused() -> None:
    with pytest.raises(ConfigError, match="keep one") as err:
        with_password("mysql://u:first@db", "second", "TIUNDO_DOWNSTREAM")
    assert "first" not in str(err.value) and "second" not in str(err.value)
    assert with_password("", "x", "TIUNDO_DOWNSTREAM") == ""  # no downstream: nothing to add


def test_pd_scheme_and_https_endpoints() -> None:
    assert pd_scheme("https://h:1,h:2") == "https"
    assert pd_scheme("http://h:1") == "http"
    assert pd_scheme("pd://h:1") == pd_scheme("h:1") == "pd"
    assert parse_host_ports("https://a:1,b:2", "pd") == ("a:1", "b:2")
    with pytest.raises(ConfigError):
        parse_host_ports("https://k:9092", "kafka")


def config(**kw: str) -> IngestConfig:
    return IngestConfig(tables=("d.t",), to_ts=1, **kw)  # type: ignore[arg-type]


def test_pd_tls_rules(tmp_path: Path) -> None:
    ca, cert, key = pem_files(tmp_path)
    assert config(pd="pd://h:1").cluster_tls is None
    assert config(pd="http://h:1").cluster_tls is None
    assert config(pd="https://h:1").cluster_tls == TlsFiles()  # system roots, still TLS
    assert config(pd="h:1", ca=ca).cluster_tls == TlsFiles(ca)
    assert config(pd="pd://h:1", ca=ca, cert=cert, key=key).validate().cluster_tls == TlsFiles(
        ca, cert, key
    )
    with pytest.raises(ConfigError, match=r"http://.*plaintext.*https://"):
        config(pd="http://h:1", ca=ca).validate()
    with pytest.raises(ConfigError, match="--cert and --key"):
        config(pd="h:1", cert=cert).validate()
    with pytest.raises(ConfigError, match="--ca: cannot read"):
        config(pd="h:1", ca=str(tmp_path / "missing.pem")).validate()
