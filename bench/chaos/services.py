"""A run's own Kafka broker and MariaDB server, for the faults that restart them.

The shared broker (9092) and MariaDB (3306) serve every engineer and test: they are never
stopped. A run whose plan draws ``kafka-restart`` or ``mariadb-restart`` starts its own on free
ports with its data in the run folder (the jars ``scripts/kafka.sh`` fetched, the
``mariadbd`` ``scripts/mariadb.sh`` installed), uses it for everything (the cluster host's
workload and truth, the job, the oracle) and stops it by its pid at the end. Other runs pay
nothing for them.

A restart keeps the ports and the data: :meth:`Service.stop` (SIGTERM, a clean shutdown, or
SIGKILL, a crash) then :meth:`Service.start` again.
"""

from __future__ import annotations

import getpass
import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

__all__ = ["KafkaService", "MariaDBService", "Service", "free_ports"]

KAFKA_VERSION = "3.9.2"
#: the user the run's MariaDB gives tiundo (all privileges, from 127.0.0.1 only)
MARIADB_USER = "chaos"
MARIADB_PASSWORD = "soak-pw"  # not a word of any name: redaction stays readable


def free_ports(n: int) -> list[int]:
    """``n`` ports free on 127.0.0.1 right now."""
    socks = [socket.socket() for _ in range(n)]
    try:
        for s in socks:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def _port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


def _bin(*names: str) -> str:
    for name in names:
        found = shutil.which(name) or (
            f"/usr/sbin/{name}" if Path(f"/usr/sbin/{name}").exists() else None
        )
        if found:
            return found
    raise RuntimeError(f"none of {names} found (scripts/mariadb.sh installs mariadb-server)")


class Service:
    """A server process this run owns: started, stopped and restarted by its pid."""

    name = "service"

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.proc: subprocess.Popen[bytes] | None = None

    def _command(self) -> list[str]:
        raise NotImplementedError

    def _prepare(self) -> None:
        """First start only: create the data folder."""

    def ready(self) -> bool:
        """Whether it answers clients."""
        raise NotImplementedError

    def start(self) -> None:
        """Start the process (without waiting for it to answer)."""
        if self.proc is not None and self.proc.poll() is None:
            return
        self.folder.mkdir(parents=True, exist_ok=True)
        self._prepare()
        with (self.folder / f"{self.name}.log").open("ab") as out:
            self.proc = subprocess.Popen(
                self._command(), stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT
            )

    def wait_ready(self, timeout_s: float = 120.0) -> None:
        """Until it answers; RuntimeError naming the log if it exits or takes too long."""
        deadline = time.monotonic() + timeout_s
        while not self.ready():
            if self.proc is None or self.proc.poll() is not None:
                code = None if self.proc is None else self.proc.returncode
                raise RuntimeError(
                    f"the run's {self.name} exited ({code}); log {self.folder / self.name}.log"
                )
            if time.monotonic() > deadline:
                raise RuntimeError(f"the run's {self.name} did not answer within {timeout_s:g} s")
            time.sleep(0.3)

    def stop(self, sig: signal.Signals = signal.SIGTERM, timeout_s: float = 60.0) -> None:
        """Signal the process and wait for it to exit (SIGKILL after ``timeout_s``)."""
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(sig)
        try:
            proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

    @property
    def running(self) -> bool:
        """Whether the process is up (not whether it answers yet)."""
        return self.proc is not None and self.proc.poll() is None


class KafkaService(Service):
    """A one-node KRaft broker (broker + controller) on two free ports."""

    name = "kafka"

    def __init__(self, folder: Path) -> None:
        super().__init__(folder)
        self.port, self.controller_port = free_ports(2)
        cache = Path(os.environ.get("TIUNDO_CACHE", Path.home() / ".cache" / "tiundo"))
        self.libs = cache / f"kafka-{KAFKA_VERSION}" / "libs"

    @property
    def bootstrap(self) -> str:
        """``127.0.0.1:port`` for clients."""
        return f"127.0.0.1:{self.port}"

    def _java(self) -> list[str]:
        return ["java", f"-Dlog4j.configuration=file:{self.folder / 'log4j.properties'}",
                "-cp", f"{self.libs}/*"]  # fmt: skip

    def _prepare(self) -> None:
        props = self.folder / "server.properties"
        if props.exists():
            return  # a restart: same ports, same data
        if not (self.libs / f"kafka_2.13-{KAFKA_VERSION}.jar").exists():
            raise RuntimeError(f"no Kafka jars in {self.libs}: run scripts/kafka.sh start once")
        p, c = self.port, self.controller_port
        props.write_text(
            f"process.roles=broker,controller\nnode.id=1\n"
            f"controller.quorum.voters=1@127.0.0.1:{c}\n"
            f"listeners=PLAINTEXT://127.0.0.1:{p},CONTROLLER://127.0.0.1:{c}\n"
            f"advertised.listeners=PLAINTEXT://127.0.0.1:{p}\n"
            "inter.broker.listener.name=PLAINTEXT\ncontroller.listener.names=CONTROLLER\n"
            "listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT\n"
            f"log.dirs={self.folder / 'data'}\n"
            "offsets.topic.replication.factor=1\noffsets.topic.num.partitions=1\n"
            "transaction.state.log.replication.factor=1\ntransaction.state.log.min.isr=1\n"
            "transaction.state.log.num.partitions=1\n"
            "default.replication.factor=1\nmin.insync.replicas=1\n"
            "group.initial.rebalance.delay.ms=0\nnum.network.threads=1\nnum.io.threads=2\n"
            "num.recovery.threads.per.data.dir=1\nlog.cleaner.dedupe.buffer.size=16777216\n"
            "auto.create.topics.enable=false\nnum.partitions=1\ndelete.topic.enable=true\n"
        )
        (self.folder / "log4j.properties").write_text(
            "log4j.rootLogger=WARN, stdout\n"
            "log4j.appender.stdout=org.apache.log4j.ConsoleAppender\n"
            "log4j.appender.stdout.layout=org.apache.log4j.PatternLayout\n"
            "log4j.appender.stdout.layout.ConversionPattern=[%d] %p %m (%c)%n\n"
        )
        subprocess.run(
            [*self._java(), "kafka.tools.StorageTool", "format", "-t", "Y2hhb3NfcnVuX2thZmthMQ",
             "-c", str(props)],
            check=True, capture_output=True, timeout=120,
        )  # fmt: skip

    def _command(self) -> list[str]:
        java = self._java()
        return [java[0], "-Xms128m", "-Xmx384m", "-XX:+UseG1GC", *java[1:], "kafka.Kafka",
                str(self.folder / "server.properties")]  # fmt: skip

    def ready(self) -> bool:
        """The client port accepts connections (clients ride out the rest)."""
        return self.running and _port_open(self.port)


class MariaDBService(Service):
    """A ``mariadbd`` on a free port, with user :data:`MARIADB_USER` over TCP."""

    name = "mariadbd"

    def __init__(self, folder: Path) -> None:
        super().__init__(folder)
        self.port = free_ports(1)[0]
        self.socket = folder / "mariadbd.sock"
        self._cnf = folder / "my.cnf"
        self._user_made = False

    @property
    def url(self) -> str:
        """The admin URL (no database) tiundo and the oracle use."""
        return f"mysql://{MARIADB_USER}:{MARIADB_PASSWORD}@127.0.0.1:{self.port}/"

    def _prepare(self) -> None:
        if self._cnf.exists():
            return
        user = getpass.getuser()
        self._cnf.write_text(
            "[mariadbd]\n"
            f"datadir={self.folder / 'data'}\nsocket={self.socket}\nport={self.port}\n"
            f"bind-address=127.0.0.1\npid-file={self.folder / 'mariadbd.pid'}\n"
            f"log-error={self.folder / 'mariadbd.err'}\nuser={user}\nskip-name-resolve\n"
            "skip-log-bin\ninnodb_buffer_pool_size=32M\ninnodb_log_file_size=16M\n"
            "max_connections=200\n"
        )
        subprocess.run(
            [_bin("mariadb-install-db", "mysql_install_db"), f"--defaults-file={self._cnf}",
             f"--user={user}", "--skip-test-db"],
            check=True, capture_output=True, timeout=180,
        )  # fmt: skip

    def _command(self) -> list[str]:
        return [_bin("mariadbd", "mysqld"), f"--defaults-file={self._cnf}"]

    def _client(self, sql: str) -> bool:
        try:
            subprocess.run(
                [_bin("mariadb", "mysql"), f"--socket={self.socket}", "-u", getpass.getuser(),
                 "-N", "-e", sql],
                check=True, capture_output=True, timeout=30,
            )  # fmt: skip
        except (subprocess.CalledProcessError, subprocess.TimeoutExpired):
            return False
        return True

    def ready(self) -> bool:
        """It answers over its socket (the user is created on the first answer)."""
        if not self.running or not self._client("SELECT 1"):
            return False
        if not self._user_made:
            u, pw = MARIADB_USER, MARIADB_PASSWORD
            self._user_made = self._client(
                f"CREATE USER IF NOT EXISTS '{u}'@'127.0.0.1' IDENTIFIED BY '{pw}';"
                f"GRANT ALL PRIVILEGES ON *.* TO '{u}'@'127.0.0.1' WITH GRANT OPTION;"
            )
        return self._user_made
