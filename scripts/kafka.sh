#!/usr/bin/env bash
# Single-node Apache Kafka (KRaft, broker+controller) on 127.0.0.1 for tiundo's tests, without
# Docker: jars come from Maven Central through scripts/kafka/pom.xml, state lives under .run/.
#
#   scripts/kafka.sh start|stop|status|restart
#
# Environment (defaults in brackets):
#   TIUNDO_KAFKA_VERSION   broker version [3.9.2]
#   TIUNDO_KAFKA           host:port the tests use; its port is the default below [127.0.0.1:9092]
#   TIUNDO_KAFKA_PORT      client port [port of TIUNDO_KAFKA, else 9092]; controller: port+1
#   TIUNDO_CACHE           downloads (jars and their Maven repository) [$HOME/.cache/tiundo]
#   TIUNDO_RUN             run state: config, data, pid, log [<repo>/.run]
#   TIUNDO_KAFKA_HEAP      JVM heap options [-Xms256m -Xmx512m]
#   TIUNDO_KAFKA_TIMEOUT   seconds to wait for the broker to answer a client [90]
#
# `start` is idempotent (a running broker is left alone); `stop` signals only the process named
# in the pid file. Topic auto-creation is off: tests and faust create the topics they use.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=scripts/apt_install.sh
source "$ROOT/scripts/apt_install.sh"
# shellcheck source=scripts/service_lib.sh
source "$ROOT/scripts/service_lib.sh"
VERSION=${TIUNDO_KAFKA_VERSION:-3.9.2}
BOOTSTRAP=${TIUNDO_KAFKA:-127.0.0.1:9092}
BOOTSTRAP=${BOOTSTRAP#kafka://}
BOOTSTRAP=${BOOTSTRAP%%,*}
PORT=${TIUNDO_KAFKA_PORT:-${BOOTSTRAP##*:}}
[[ $PORT =~ ^[0-9]+$ ]] || PORT=9092
CPORT=$((PORT + 1))
CACHE=${TIUNDO_CACHE:-$HOME/.cache/tiundo}
KDIR=$CACHE/kafka-$VERSION
LIBS=$KDIR/libs
RUN=${TIUNDO_RUN:-$ROOT/.run}/kafka
DATA=$RUN/data
PIDFILE=$RUN/kafka.pid
LOG=$RUN/kafka.log
SERVICE=kafka
PROC_RE='kafka\.Kafka'
STOP_WAIT_S=30
describe() { echo "version $VERSION, data $DATA"; }
HEAP=${TIUNDO_KAFKA_HEAP:--Xms256m -Xmx512m}
TIMEOUT=${TIUNDO_KAFKA_TIMEOUT:-90}

# A python that has aiokafka (the project venv), for the readiness probe; empty if none.
probe_python() {
    local py
    for py in "${TIUNDO_PYTHON:-}" "$ROOT/.venv/bin/python" python3; do
        [[ -n $py ]] || continue
        if "$py" -c 'import aiokafka' >/dev/null 2>&1; then
            echo "$py"
            return
        fi
    done
}

# Java and Maven come with this project's machines; a bare Debian gets them from apt.
ensure_tools() {
    local missing=()
    command -v java >/dev/null 2>&1 || missing+=(openjdk-17-jre-headless)
    command -v mvn >/dev/null 2>&1 || [[ -f $LIBS/.complete ]] || missing+=(maven)
    ((${#missing[@]})) || return 0
    say "installing ${missing[*]} with apt-get"
    mkdir -p "$RUN"
    apt_install "$RUN/apt.log" "${missing[@]}" ||
        die "java/mvn missing and apt-get could not install ${missing[*]}"
}

check_java() {
    command -v java >/dev/null 2>&1 ||
        die "java not found: install a JDK 11+ (Debian: apt-get install -y openjdk-17-jre-headless)"
    local major
    major=$(java -XshowSettings:properties -version 2>&1 |
        sed -n 's/^ *java\.specification\.version = \([0-9.]*\).*/\1/p')
    major=${major#1.}
    major=${major%%.*}
    [[ -n $major && $major -ge 11 ]] || die "Kafka $VERSION needs Java 11+, found '${major:-?}'"
}

# Resolve the broker's runtime jars once; a .complete marker makes later starts skip Maven.
fetch_jars() {
    if [[ -f $LIBS/.complete ]]; then
        return
    fi
    command -v mvn >/dev/null 2>&1 ||
        die "mvn not found: install Maven (Debian: apt-get install -y maven)"
    say "resolving Kafka $VERSION jars from Maven Central into $LIBS"
    local tmp=$KDIR/libs.tmp.$$
    rm -rf "$tmp"
    mkdir -p "$tmp"
    if ! mvn -B -q -f "$ROOT/scripts/kafka/pom.xml" \
        -Dmaven.repo.local="$CACHE/m2" -Dkafka.version="$VERSION" \
        dependency:copy-dependencies -DincludeScope=runtime -DoutputDirectory="$tmp" \
        >"$KDIR/mvn.log" 2>&1; then
        rm -rf "$tmp"
        tail -n 30 "$KDIR/mvn.log" >&2
        die "mvn could not resolve org.apache.kafka:kafka_2.13:$VERSION (full log: $KDIR/mvn.log)"
    fi
    [[ -f $tmp/kafka_2.13-$VERSION.jar ]] || die "kafka_2.13-$VERSION.jar missing after mvn"
    echo "$VERSION" >"$tmp/.complete"
    rm -rf "$LIBS"
    mv "$tmp" "$LIBS"
    say "$(find "$LIBS" -name '*.jar' | wc -l) jars in $LIBS"
}

write_config() {
    mkdir -p "$RUN" "$DATA"
    cat >"$RUN/server.properties" <<EOF
# written by scripts/kafka.sh; edits are overwritten at the next start
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$CPORT
listeners=PLAINTEXT://127.0.0.1:$PORT,CONTROLLER://127.0.0.1:$CPORT
advertised.listeners=PLAINTEXT://127.0.0.1:$PORT
inter.broker.listener.name=PLAINTEXT
controller.listener.names=CONTROLLER
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
log.dirs=$DATA

# one node: every internal topic has one replica
offsets.topic.replication.factor=1
offsets.topic.num.partitions=4
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=4
default.replication.factor=1
min.insync.replicas=1

# a light, quick test broker
group.initial.rebalance.delay.ms=0
num.network.threads=2
num.io.threads=2
num.recovery.threads.per.data.dir=1
log.cleaner.dedupe.buffer.size=33554432

# mistakes show up: whoever uses a topic creates it with the partitions it needs
auto.create.topics.enable=false
num.partitions=1
delete.topic.enable=true
EOF
    cat >"$RUN/log4j.properties" <<'EOF'
# written by scripts/kafka.sh
log4j.rootLogger=WARN, stdout
log4j.appender.stdout=org.apache.log4j.ConsoleAppender
log4j.appender.stdout.layout=org.apache.log4j.PatternLayout
log4j.appender.stdout.layout.ConversionPattern=[%d] %p %m (%c)%n
log4j.logger.kafka.server.KafkaRaftServer=INFO
log4j.logger.kafka.Kafka=INFO
EOF
}

# Format the KRaft storage once, with a cluster id kept beside the data so restarts agree.
format_storage() {
    if [[ -f $DATA/meta.properties ]]; then
        return
    fi
    local id
    if [[ -s $RUN/cluster.id ]]; then
        id=$(<"$RUN/cluster.id")
    else
        id=$(java -cp "$LIBS/*" kafka.tools.StorageTool random-uuid 2>/dev/null | tail -n 1)
        [[ ${#id} -eq 22 ]] || die "StorageTool random-uuid gave '$id'"
        echo "$id" >"$RUN/cluster.id"
    fi
    say "formatting KRaft storage in $DATA (cluster id $id)"
    java -cp "$LIBS/*" -Dlog4j.configuration="file:$RUN/log4j.properties" \
        kafka.tools.StorageTool format -t "$id" -c "$RUN/server.properties" \
        >"$RUN/format.log" 2>&1 || {
        cat "$RUN/format.log" >&2
        die "kafka-storage format failed"
    }
}

# Wait until a real client gets metadata from the broker; give up if the process dies.
wait_ready() {
    local pid=$1 py
    py=$(probe_python)
    if [[ -n $py ]]; then
        "$py" "$ROOT/scripts/kafka_ready.py" --bootstrap "127.0.0.1:$PORT" \
            --pid "$pid" --timeout "$TIMEOUT"
        return
    fi
    # no aiokafka yet (venv not built): settle for the listener accepting TCP
    local deadline=$((SECONDS + TIMEOUT))
    while ((SECONDS < deadline)); do
        kill -0 "$pid" 2>/dev/null || return 2
        port_open "$PORT" && return 0
        sleep 0.5
    done
    return 1
}

start() {
    local pid
    pid=$(running_pid)
    if [[ -n $pid ]]; then
        if port_open "$PORT"; then
            say "already running (pid $pid) on 127.0.0.1:$PORT; nothing to do"
            return 0
        fi
        die "pid $pid from $PIDFILE is alive but 127.0.0.1:$PORT does not answer; run '$0 stop'"
    fi
    rm -f "$PIDFILE"
    for p in "$PORT" "$CPORT"; do
        if port_open "$p"; then
            die "127.0.0.1:$p is taken by another process (not ours: no live pid in $PIDFILE);" \
                "stop it or set TIUNDO_KAFKA_PORT"
        fi
    done
    local start_ns
    start_ns=$(date +%s%N)
    ensure_tools
    check_java
    fetch_jars
    write_config
    format_storage
    [[ -f $LOG ]] && mv -f "$LOG" "$LOG.1"
    # setsid: the broker must outlive the shell (and process group) that started it
    # shellcheck disable=SC2086
    setsid java $HEAP -XX:+UseG1GC -Djava.awt.headless=true \
        -Dlog4j.configuration="file:$RUN/log4j.properties" \
        -cp "$LIBS/*" kafka.Kafka "$RUN/server.properties" \
        </dev/null >>"$LOG" 2>&1 &
    pid=$!
    await_started "$pid" broker
    say "ready on 127.0.0.1:$PORT (pid $pid) in $(elapsed "$start_ns")"
}

service_main "$@"
