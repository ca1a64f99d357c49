"""A private MariaDB with TLS on its own port, for the downstream TLS tests.

The shared MariaDB of the test run has no TLS and may not be restarted, so each test module that
needs TLS starts its own ``mariadbd`` (the binary ``scripts/mariadb.sh`` uses) on a free port with
``ssl-ca``/``ssl-cert``/``ssl-key`` from :mod:`tests.tls_certs`, and stops it by its
pid. Users: ``tls_user`` (``REQUIRE SSL``) and ``x509_user`` (``REQUIRE X509``: a client
certificate the CA signed), both with the password :data:`PASSWORD`.
"""

from __future__ import annotations

import contextlib
import getpass
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from tests.tls_certs import Pki

__all__ = ["PASSWORD", "TlsMariaDB", "tls_mariadb"]

#: holds characters a URL must percent-encode (``@``, ``:``, ``/``, ``%``)
PASSWORD = "p@ss:w/rd%1"
START_TIMEOUT_S = 60


def _bin(*names: str) -> str:
    for name in names:
        found = shutil.which(name) or (
            f"/usr/sbin/{name}" if Path(f"/usr/sbin/{name}").exists() else None
        )
        if found:
            return found
    raise RuntimeError(f"none of {names} found (scripts/mariadb.sh installs mariadb-server)")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@dataclass(frozen=True)
class TlsMariaDB:
    """Where the private server listens."""

    port: int
    socket: Path

    def client(self, sql: str) -> str:
        """Run ``sql`` as the OS user over the unix socket (no TLS needed there)."""
        out = subprocess.run(
            [_bin("mariadb", "mysql"), f"--socket={self.socket}", "-u", getpass.getuser(), "-N",
             "-e", sql],
            check=True, capture_output=True, text=True, timeout=30,
        )  # fmt: skip
        return out.stdout


@contextlib.contextmanager
def tls_mariadb(folder: Path, pki: Pki) -> Iterator[TlsMariaDB]:
    """Start the server, create its users, yield it, stop it (by pid) and keep nothing."""
    folder.mkdir(parents=True, exist_ok=True)
    port = _free_port()
    sock = folder / "mariadbd.sock"
    cnf = folder / "my.cnf"
    cnf.write_text(
        "[mariadbd]\n"
        f"datadir={folder / 'data'}\nsocket={sock}\nport={port}\nbind-address=127.0.0.1\n"
        f"pid-file={folder / 'mariadbd.pid'}\nlog-error={folder / 'mariadbd.log'}\n"
        f"user={getpass.getuser()}\nskip-name-resolve\nskip-log-bin\n"
        "innodb_buffer_pool_size=32M\ninnodb_log_file_size=16M\n"
        f"ssl-ca={pki.ca}\nssl-cert={pki.server.cert}\nssl-key={pki.server.key}\n"
    )
    subprocess.run(
        [_bin("mariadb-install-db", "mysql_install_db"), f"--defaults-file={cnf}",
         f"--user={getpass.getuser()}", "--skip-test-db"],
        check=True, capture_output=True, timeout=120,
    )  # fmt: skip
    server = subprocess.Popen(
        [_bin("mariadbd", "mysqld"), f"--defaults-file={cnf}"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    db = TlsMariaDB(port, sock)
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            if server.poll() is not None:
                log = (folder / "mariadbd.log").read_text(errors="replace")[-2000:]
                raise RuntimeError(f"mariadbd exited with {server.returncode}: {log}")
            try:
                db.client("SELECT 1")
                break
            except subprocess.CalledProcessError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.3)
        pw = PASSWORD.replace("'", "''")
        db.client(
            f"CREATE USER 'tls_user'@'127.0.0.1' IDENTIFIED BY '{pw}' REQUIRE SSL;"
            f"CREATE USER 'x509_user'@'127.0.0.1' IDENTIFIED BY '{pw}' REQUIRE X509;"
            "GRANT ALL PRIVILEGES ON *.* TO 'tls_user'@'127.0.0.1';"
            "GRANT ALL PRIVILEGES ON *.* TO 'x509_user'@'127.0.0.1';"
            "CREATE DATABASE tls_test;"
        )
        yield db
    finally:
        server.terminate()
        try:
            server.wait(timeout=60)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
