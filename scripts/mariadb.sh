#!/usr/bin/env bash
# A private MariaDB on 127.0.0.1 standing in for TiDB's SQL layer in tiundo's tests, without
# Docker or systemd: Debian's mariadb-server, our own my.cnf and data under .run/mariadb/.
#
#   scripts/mariadb.sh start|stop|status|restart
#
# Environment (defaults in brackets):
#   TIUNDO_MYSQL        mysql://user:password@127.0.0.1:port/db; supplies the defaults below
#                       [mysql://tiundo:tiundo@127.0.0.1:3306/tiundo_test]
#   TIUNDO_MYSQL_PORT   TCP port [port of TIUNDO_MYSQL, else 3306]
#   TIUNDO_RUN          run state: my.cnf, data, socket, pid, logs [<repo>/.run]
#   TIUNDO_MYSQL_TIMEOUT  seconds to wait for the server to answer [60]
#
# `start` installs mariadb-server with apt-get when mariadbd is missing, initialises the data
# directory once, starts mariadbd, and creates the test database and user (idempotent SQL).
# A running server is left alone; `stop` signals only the process named in the pid file.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=scripts/apt_install.sh
source "$ROOT/scripts/apt_install.sh"
# shellcheck source=scripts/service_lib.sh
source "$ROOT/scripts/service_lib.sh"
URL=${TIUNDO_MYSQL:-mysql://tiundo:tiundo@127.0.0.1:3306/tiundo_test}
URL_RE='^mysql://([^:@/]+):([^@/]*)@([^:/]+)(:([0-9]+))?/([A-Za-z0-9_]+)$'
[[ $URL =~ $URL_RE ]] || {
    echo "mariadb: error: TIUNDO_MYSQL='$URL' is not mysql://user:password@host:port/db" >&2
    exit 1
}
DB_USER=${BASH_REMATCH[1]}
DB_PASS=${BASH_REMATCH[2]}
DB_NAME=${BASH_REMATCH[6]}
PORT=${TIUNDO_MYSQL_PORT:-${BASH_REMATCH[5]:-3306}}
RUN=${TIUNDO_RUN:-$ROOT/.run}/mariadb
DATA=$RUN/data
CNF=$RUN/my.cnf
SOCK=$RUN/mariadbd.sock
PIDFILE=$RUN/mariadb.pid
LOG=$RUN/mariadbd.log
SERVICE=mariadb
PROC_RE='mariadbd\|mysqld'
STOP_WAIT_S=60
describe() { echo "data $DATA"; }
TIMEOUT=${TIUNDO_MYSQL_TIMEOUT:-60}
ME=$(id -un)

find_bin() {
    local name
    for name in "$@"; do
        if command -v "$name" >/dev/null 2>&1; then
            command -v "$name"
            return
        fi
        if [[ -x /usr/sbin/$name ]]; then
            echo "/usr/sbin/$name"
            return
        fi
    done
}

# Debian's mariadb-server, non-interactively (see scripts/apt_install.sh).
install_server() {
    say "mariadbd not found: installing Debian mariadb-server with apt-get"
    apt_install "$RUN/apt.log" mariadb-server mariadb-client ||
        die "could not install mariadb-server; install MariaDB 10.6+ yourself"
}

write_config() {
    mkdir -p "$RUN" "$RUN/binlog"
    cat >"$CNF" <<EOF
# written by scripts/mariadb.sh; edits are overwritten at the next start
[client]
socket=$SOCK
port=$PORT
default-character-set=utf8mb4

[mariadbd]
datadir=$DATA
socket=$SOCK
port=$PORT
bind-address=127.0.0.1
pid-file=$RUN/mariadbd.pid
log-error=$LOG
user=$ME
skip-name-resolve
character-set-server=utf8mb4
collation-server=utf8mb4_general_ci
default-time-zone='+00:00'
max_allowed_packet=256M
max_connections=500
# row binlog with full images: the binlog2sql baseline of the benchmarks reads it
log-bin=$RUN/binlog/mariadb-bin
binlog_format=ROW
binlog_row_image=FULL
server-id=1
expire_logs_days=1
# test and benchmark speed over durability
innodb_flush_log_at_trx_commit=2
sync_binlog=0
innodb_buffer_pool_size=256M
innodb_log_file_size=128M
EOF
}

init_datadir() {
    if [[ -d $DATA/mysql ]]; then
        return
    fi
    local install_db
    install_db=$(find_bin mariadb-install-db mysql_install_db)
    [[ -n $install_db ]] || die "mariadb-install-db not found (is mariadb-server installed?)"
    say "initialising $DATA"
    rm -rf "$DATA"
    "$install_db" --defaults-file="$CNF" --user="$ME" --skip-test-db \
        >"$RUN/install-db.log" 2>&1 || {
        tail -n 30 "$RUN/install-db.log" >&2
        die "mariadb-install-db failed (full log: $RUN/install-db.log)"
    }
}

client() { "$CLIENT" --defaults-file="$CNF" -u "$ME" "$@"; }

wait_ready() {
    local pid=$1 deadline=$((SECONDS + TIMEOUT))
    while ((SECONDS < deadline)); do
        kill -0 "$pid" 2>/dev/null || return 2
        if client -N -e 'SELECT 1' >/dev/null 2>&1 && port_open "$PORT"; then
            return 0
        fi
        sleep 0.3
    done
    return 1
}

# Database and TCP user for the tests; safe to run on every start.
provision() {
    client <<EOF
CREATE DATABASE IF NOT EXISTS \`$DB_NAME\` CHARACTER SET utf8mb4;
CREATE USER IF NOT EXISTS '$DB_USER'@'127.0.0.1' IDENTIFIED BY '$DB_PASS';
CREATE USER IF NOT EXISTS '$DB_USER'@'localhost' IDENTIFIED BY '$DB_PASS';
ALTER USER '$DB_USER'@'127.0.0.1' IDENTIFIED BY '$DB_PASS';
ALTER USER '$DB_USER'@'localhost' IDENTIFIED BY '$DB_PASS';
GRANT ALL PRIVILEGES ON *.* TO '$DB_USER'@'127.0.0.1' WITH GRANT OPTION;
GRANT ALL PRIVILEGES ON *.* TO '$DB_USER'@'localhost' WITH GRANT OPTION;
FLUSH PRIVILEGES;
EOF
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
    if port_open "$PORT"; then
        die "127.0.0.1:$PORT is taken by another process (not ours: no live pid in $PIDFILE);" \
            "stop it or set TIUNDO_MYSQL_PORT"
    fi
    local start_ns
    start_ns=$(date +%s%N)
    mkdir -p "$RUN"
    local server
    server=$(find_bin mariadbd)
    if [[ -z $server ]]; then
        install_server
        server=$(find_bin mariadbd)
        [[ -n $server ]] || die "mariadbd still missing after installing mariadb-server"
    fi
    CLIENT=$(find_bin mariadb mysql)
    [[ -n $CLIENT ]] || die "mariadb client not found (apt-get install -y mariadb-client)"
    write_config
    init_datadir
    [[ -f $LOG ]] && mv -f "$LOG" "$LOG.1"
    # setsid: the server must outlive the shell (and process group) that started it
    setsid "$server" --defaults-file="$CNF" </dev/null >>"$RUN/mariadbd.out" 2>&1 &
    pid=$!
    await_started "$pid" mariadbd
    provision || die "could not create database $DB_NAME / user $DB_USER"
    say "ready on 127.0.0.1:$PORT (pid $pid) in $(elapsed "$start_ns");" \
        "mysql://$DB_USER:***@127.0.0.1:$PORT/$DB_NAME"
}

service_main "$@"
