"""A private Kafka broker with SSL, SASL_SSL and SASL_PLAINTEXT listeners, for the security tests.

The shared broker must not be restarted or reconfigured, so each test module that needs a
secured Kafka starts its own KRaft node (the jars ``scripts/kafka.sh`` fetched) on free ports
and stops it by its pid. Listeners: ``SASL_SSL`` (PLAIN, SCRAM-SHA-256 and SCRAM-SHA-512 for
:data:`USER`/:data:`PASSWORD`), ``SASL_PLAINTEXT`` (the same mechanisms, no TLS), ``SSL`` with
client certificates required (mutual TLS), ``SSL`` with the server's certificate only (listener
``SSLSERVER``: the client sends none), and a plaintext one for the broker's own use. Keystores
are PEM (``ssl.keystore.type=PEM``, Kafka 3.9).
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from tests.tls_certs import Pki

__all__ = ["PASSWORD", "USER", "TlsKafka", "tls_kafka"]

USER = "tiundo"
PASSWORD = "k@fka:s3cret%"
START_TIMEOUT_S = 120
VERSION = "3.9.2"


def _libs() -> Path:
    cache = Path(os.environ.get("TIUNDO_CACHE", Path.home() / ".cache" / "tiundo"))
    libs = cache / f"kafka-{VERSION}" / "libs"
    if not (libs / f"kafka_2.13-{VERSION}.jar").exists():
        raise RuntimeError(f"no Kafka jars in {libs}: run scripts/kafka.sh start once")
    return libs


def _free_ports(n: int) -> list[int]:
    socks = [socket.socket() for _ in range(n)]
    try:
        for s in socks:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


@dataclass(frozen=True)
class TlsKafka:
    """The private broker's bootstrap addresses, one per listener."""

    sasl_ssl: str
    ssl: str
    plaintext: str
    sasl_plaintext: str
    #: SSL, server authentication only (no client certificate asked)
    ssl_server: str


def _port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


@contextlib.contextmanager
def tls_kafka(folder: Path, pki: Pki) -> Iterator[TlsKafka]:
    """Format, start, yield, stop (by pid) a one-node broker under ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    libs = _libs()
    keystore = folder / "server.pem"  # PKCS#8 key then the certificate: Kafka's PEM keystore
    keystore.write_bytes(pki.server.key_pem + pki.server.cert_pem)
    plain, sasl, tls, controller, sasl_plain, tls_server = _free_ports(6)
    jaas_scram = "org.apache.kafka.common.security.scram.ScramLoginModule required;"
    props = folder / "server.properties"
    props.write_text(
        f"""process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:{controller}
listeners=PLAINTEXT://127.0.0.1:{plain},SASL_SSL://127.0.0.1:{sasl},SSL://127.0.0.1:{tls},SASL_PLAINTEXT://127.0.0.1:{sasl_plain},SSLSERVER://127.0.0.1:{tls_server},CONTROLLER://127.0.0.1:{controller}
advertised.listeners=PLAINTEXT://127.0.0.1:{plain},SASL_SSL://127.0.0.1:{sasl},SSL://127.0.0.1:{tls},SASL_PLAINTEXT://127.0.0.1:{sasl_plain},SSLSERVER://127.0.0.1:{tls_server}
inter.broker.listener.name=PLAINTEXT
controller.listener.names=CONTROLLER
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT,SASL_SSL:SASL_SSL,SSL:SSL,SASL_PLAINTEXT:SASL_PLAINTEXT,SSLSERVER:SSL
log.dirs={folder / "data"}
offsets.topic.replication.factor=1
offsets.topic.num.partitions=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
default.replication.factor=1
min.insync.replicas=1
group.initial.rebalance.delay.ms=0
num.network.threads=1
num.io.threads=2
auto.create.topics.enable=false
delete.topic.enable=true
# the cleaner's default 128 MiB dedupe buffer does not always fit the 256 MiB heap
log.cleaner.dedupe.buffer.size=33554432
ssl.keystore.type=PEM
ssl.keystore.location={keystore}
ssl.truststore.type=PEM
ssl.truststore.location={pki.ca}
listener.name.ssl.ssl.client.auth=required
listener.name.sslserver.ssl.client.auth=none
sasl.enabled.mechanisms=PLAIN,SCRAM-SHA-256,SCRAM-SHA-512
listener.name.sasl_ssl.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required user_{USER}="{PASSWORD}";
listener.name.sasl_ssl.scram-sha-256.sasl.jaas.config={jaas_scram}
listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config={jaas_scram}
listener.name.sasl_plaintext.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required user_{USER}="{PASSWORD}";
listener.name.sasl_plaintext.scram-sha-256.sasl.jaas.config={jaas_scram}
listener.name.sasl_plaintext.scram-sha-512.sasl.jaas.config={jaas_scram}
"""  # noqa: E501
    )
    log4j = folder / "log4j.properties"
    log4j.write_text(
        "log4j.rootLogger=WARN, stdout\n"
        "log4j.appender.stdout=org.apache.log4j.ConsoleAppender\n"
        "log4j.appender.stdout.layout=org.apache.log4j.PatternLayout\n"
        "log4j.appender.stdout.layout.ConversionPattern=[%d] %p %m (%c)%n\n"
    )
    java = ["java", f"-Dlog4j.configuration=file:{log4j}", "-cp", f"{libs}/*"]
    scram = [
        arg
        for mech in ("SCRAM-SHA-256", "SCRAM-SHA-512")
        for arg in ("--add-scram", f"{mech}=[name={USER},password={PASSWORD}]")
    ]
    subprocess.run(
        [*java, "kafka.tools.StorageTool", "format", "-t", "MkU3OEVBNTcwNTJENDM2Qg", "-c",
         str(props), *scram],
        check=True, capture_output=True, timeout=120,
    )  # fmt: skip
    log = folder / "kafka.log"
    with log.open("ab") as out:
        broker = subprocess.Popen(
            ["java", "-Xms128m", "-Xmx256m", *java[1:], "kafka.Kafka", str(props)],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while not all(_port_open(p) for p in (plain, sasl, tls, sasl_plain, tls_server)):
            if broker.poll() is not None:
                tail = log.read_text(errors="replace")[-3000:]
                raise RuntimeError(f"the test broker exited with {broker.returncode}: {tail}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"the test broker did not listen within {START_TIMEOUT_S} s")
            time.sleep(0.5)
        yield TlsKafka(
            f"127.0.0.1:{sasl}",
            f"127.0.0.1:{tls}",
            f"127.0.0.1:{plain}",
            f"127.0.0.1:{sasl_plain}",
            f"127.0.0.1:{tls_server}",
        )
    finally:
        broker.terminate()
        try:
            broker.wait(timeout=60)
        except subprocess.TimeoutExpired:
            broker.kill()
            broker.wait()
