"""The downstream over TLS: a private MariaDB with TLS (``--ssl-ca/--ssl-cert/--ssl-key``).

Every path that opens a downstream connection is exercised: the bounded connection
(:func:`app.sink.connect.connect`), the sink's pool (:class:`app.sink.mysql.MySQLSink`) and the
ingest's syncpoint read (:func:`ingest.window.read_syncpoints`). The users on that server
``REQUIRE SSL``/``REQUIRE X509``, so a connection that quietly went plaintext would be refused by
the server itself. The shared MariaDB (no TLS) shows ``ssl-mode=REQUIRED`` refusing a server
without TLS, which aiomysql alone would have used in plaintext.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

import pytest

from app.cli.common import Settings
from app.sink.connect import connect
from app.sink.mysql import MySQLSink
from app.undo.sqlgen import Dialect, Statement
from core.errors import ConfigError, TransientError, UnsafeToUndoError
from core.urls import SSL_MODES, parse_mysql_url
from ingest.window import read_syncpoints
from tests.tls_certs import Pki, make_pki

from .tls_mariadb import PASSWORD, TlsMariaDB, tls_mariadb

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]

TIMEOUT_S = 10.0


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, pki: Pki) -> Iterator[TlsMariaDB]:
    with tls_mariadb(tmp_path_factory.mktemp("mariadb"), pki) as db:
        yield db


def url(server: TlsMariaDB, user: str = "tls_user", *, password: bool = True, **opts: str) -> str:
    auth = f"{user}:{quote(PASSWORD, safe='')}" if password else user
    query = urlencode({k.replace("_", "-"): v for k, v in opts.items()})
    return f"mysql://{auth}@127.0.0.1:{server.port}/tls_test" + (f"?{query}" if query else "")


async def cipher(conn: Any) -> str:
    async with conn.cursor() as cur:
        await cur.execute("SHOW SESSION STATUS LIKE 'Ssl_cipher'")
        row = await cur.fetchone()
    return str(row[1]) if row else ""


async def test_every_mode_but_disabled_encrypts(server: TlsMariaDB, pki: Pki) -> None:
    for mode in SSL_MODES[1:]:
        target = parse_mysql_url(url(server, ssl_mode=mode, ssl_ca=str(pki.ca)))
        conn = await connect(target, timeout_s=TIMEOUT_S)
        try:
            assert await cipher(conn), mode
        finally:
            conn.close()
    # ssl-ca alone means VERIFY_CA, as with the mysql client
    target = parse_mysql_url(url(server, ssl_ca=str(pki.ca)))
    assert target.ssl_mode == "VERIFY_CA"
    conn = await connect(target, timeout_s=TIMEOUT_S)
    try:
        assert await cipher(conn)
    finally:
        conn.close()


async def test_disabled_is_plaintext_and_the_server_refuses_it(server: TlsMariaDB) -> None:
    with pytest.raises(TransientError, match="Access denied"):
        conn = await connect(parse_mysql_url(url(server)), timeout_s=TIMEOUT_S)
        conn.close()


async def test_mutual_tls_with_a_client_certificate(server: TlsMariaDB, pki: Pki) -> None:
    cert = {"ssl_cert": str(pki.client.cert), "ssl_key": str(pki.client.key)}
    target = parse_mysql_url(url(server, "x509_user", ssl_ca=str(pki.ca), **cert))
    conn = await connect(target, timeout_s=TIMEOUT_S)
    try:
        assert await cipher(conn)
    finally:
        conn.close()
    without = parse_mysql_url(url(server, "x509_user", ssl_ca=str(pki.ca)))
    with pytest.raises(TransientError, match="Access denied"):
        conn = await connect(without, timeout_s=TIMEOUT_S)
        conn.close()


async def test_a_wrong_ca_fails_in_one_line_naming_the_server_not_the_password(
    server: TlsMariaDB, pki: Pki
) -> None:
    for mode in ("VERIFY_CA", "VERIFY_IDENTITY"):
        target = parse_mysql_url(url(server, ssl_mode=mode, ssl_ca=str(pki.other_ca)))
        with pytest.raises(ConfigError) as err:
            await connect(target, timeout_s=TIMEOUT_S)
        message = str(err.value)
        assert f"mysql://tls_user@127.0.0.1:{server.port}/tls_test" in message
        assert "certificate verify failed" in message or "unable to get local issuer" in message
        assert PASSWORD not in message and quote(PASSWORD, safe="") not in message
        assert "\n" not in message


async def test_required_refuses_a_server_without_tls(mysql_db: Any) -> None:
    plain = f"mysql://{mysql_db.user}:{quote(mysql_db.password, safe='')}@{mysql_db.host}:"
    plain += f"{mysql_db.port}/{mysql_db.db}"
    with pytest.raises(ConfigError, match=r"offers no TLS.*ssl-mode=REQUIRED"):
        await connect(parse_mysql_url(plain + "?ssl-mode=REQUIRED"), timeout_s=TIMEOUT_S)
    # PREFERRED goes on in plaintext, as the mysql client does
    conn = await connect(parse_mysql_url(plain + "?ssl-mode=PREFERRED"), timeout_s=TIMEOUT_S)
    try:
        assert await cipher(conn) == ""
    finally:
        conn.close()


async def test_the_sink_pool_writes_over_tls(server: TlsMariaDB, pki: Pki) -> None:
    target = parse_mysql_url(url(server, ssl_mode="VERIFY_IDENTITY", ssl_ca=str(pki.ca)))
    server.client("CREATE TABLE IF NOT EXISTS tls_test.seen (id INT PRIMARY KEY, c VARCHAR(200))")
    sink = MySQLSink(target, dialect=Dialect.MYSQL, retries=2, backoff_s=0.05, progress_db="")
    try:
        sql = (
            "REPLACE INTO `tls_test`.`seen` SELECT %s, VARIABLE_VALUE FROM "
            "information_schema.SESSION_STATUS WHERE VARIABLE_NAME = 'Ssl_cipher'"
        )
        assert await sink.apply([Statement(sql, (1,), "replace", 1, 1, 2)])
    finally:
        await sink.close()
    assert server.client("SELECT c FROM tls_test.seen WHERE id = 1").strip()


async def test_the_sink_pool_refuses_a_wrong_ca(server: TlsMariaDB, pki: Pki) -> None:
    target = parse_mysql_url(url(server, ssl_mode="VERIFY_CA", ssl_ca=str(pki.other_ca)))
    sink = MySQLSink(target, dialect=Dialect.MYSQL, retries=5, backoff_s=0.05, progress_db="")
    try:
        with pytest.raises(Exception, match="TLS with the downstream") as err:
            await sink.apply([Statement("SELECT 1", (), "replace", 1, 1, 2)])
        assert PASSWORD not in str(err.value)
        assert sink.retried == 0  # a bad certificate is not retried
    finally:
        await sink.close()


async def test_the_syncpoint_read_goes_over_tls(server: TlsMariaDB, pki: Pki) -> None:
    target = parse_mysql_url(url(server, ssl_ca=str(pki.ca)))
    # connected (the user requires TLS): the table is missing, which is a finding, not an outage
    with pytest.raises(UnsafeToUndoError, match="syncpoint_v1"):
        await read_syncpoints(target, db="tls_test")
    wrong = parse_mysql_url(url(server, ssl_ca=str(pki.other_ca)))
    with pytest.raises(ConfigError, match="TLS with the downstream"):
        await read_syncpoints(wrong, db="tls_test")


async def test_password_file_and_percent_encoding(
    server: TlsMariaDB, pki: Pki, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    secret = tmp_path / "pw"
    secret.write_text(PASSWORD + "\n")
    bare = url(server, password=False, ssl_ca=str(pki.ca))
    s = Settings.from_params({"downstream": bare, "password_file": str(secret)})
    conn = await connect(parse_mysql_url(s.downstream), timeout_s=TIMEOUT_S)
    try:
        assert await cipher(conn)
    finally:
        conn.close()
    monkeypatch.setenv("TIUNDO_DOWNSTREAM_PASSWORD", PASSWORD)
    s = Settings.from_params({"downstream": bare})
    conn = await connect(parse_mysql_url(s.downstream), timeout_s=TIMEOUT_S)
    conn.close()
    with pytest.raises(ConfigError, match="keep one"):
        Settings.from_params({"downstream": bare, "password_file": str(secret)})
