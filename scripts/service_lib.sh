# shellcheck shell=bash
# Shared plumbing of scripts/kafka.sh and scripts/mariadb.sh: messages, pid-file ownership,
# stop and status. A script sets, before sourcing this file:
#   SERVICE       short name used in messages ("kafka")
#   PIDFILE, LOG  its pid file and log file
#   PROC_RE       grep pattern its process's command line must match (so a recycled pid that
#                 now belongs to someone else is never signalled)
#   STOP_WAIT_S   seconds between SIGTERM and SIGKILL
#   PORT, TIMEOUT its client port and how long start waits for it
# and defines start(), describe() and wait_ready PID (0 once the service answers) (extra words for `status`); then ends with
#   service_main "$@"

say() { printf '%s: %s\n' "$SERVICE" "$*"; }
die() {
    printf '%s: error: %s\n' "$SERVICE" "$*" >&2
    exit 1
}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# Pid from the pid file if that process is alive and really is our service, else nothing.
running_pid() {
    [[ -f $PIDFILE ]] || return 0
    local pid
    pid=$(<"$PIDFILE")
    [[ $pid =~ ^[0-9]+$ ]] || return 0
    if kill -0 "$pid" 2>/dev/null && tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null |
        grep -q "$PROC_RE"; then
        echo "$pid"
    fi
}

log_tail() {
    if [[ -f $LOG ]]; then
        printf -- '--- last lines of %s ---\n' "$LOG" >&2
        tail -n 40 "$LOG" >&2
    fi
}

# After launching the server as $1: record its pid, wait until wait_ready "$1" succeeds, and on
# failure say whether it died or is just slow (with the log tail). $2 names it in messages.
await_started() {
    local pid=$1 what=$2 rc=0
    echo "$pid" >"$PIDFILE"
    say "started pid $pid, waiting up to ${TIMEOUT}s for 127.0.0.1:$PORT (log: $LOG)"
    wait_ready "$pid" || rc=$?
    if ((rc != 0)); then
        if ! kill -0 "$pid" 2>/dev/null; then
            rm -f "$PIDFILE"
            log_tail
            die "$what died during start-up"
        fi
        log_tail
        die "$what (pid $pid) did not answer within ${TIMEOUT}s; still running, '$0 stop' ends it"
    fi
}

# Seconds since $1 (from date +%s%N), as 1.234s.
elapsed() {
    local ms=$((($(date +%s%N) - $1) / 1000000))
    printf '%d.%03ds' $((ms / 1000)) $((ms % 1000))
}

stop() {
    local pid
    pid=$(running_pid)
    if [[ -z $pid ]]; then
        rm -f "$PIDFILE"
        say "not running"
        return 0
    fi
    say "stopping pid $pid"
    kill -TERM "$pid" 2>/dev/null || true
    local i
    for ((i = 0; i < STOP_WAIT_S * 2; i++)); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.5
    done
    if kill -0 "$pid" 2>/dev/null; then
        say "pid $pid still alive after ${STOP_WAIT_S}s, sending SIGKILL"
        kill -KILL "$pid" 2>/dev/null || true
        sleep 0.5
    fi
    rm -f "$PIDFILE"
    say "stopped"
}

status() {
    local pid
    pid=$(running_pid)
    if [[ -n $pid ]] && port_open "$PORT"; then
        say "running (pid $pid) on 127.0.0.1:$PORT, $(describe)"
        return 0
    fi
    if [[ -n $pid ]]; then
        say "pid $pid alive but 127.0.0.1:$PORT not answering"
        return 1
    fi
    say "not running"
    return 3
}

service_main() {
    case ${1:-} in
    start) start ;;
    stop) stop ;;
    status) status ;;
    restart) stop && start ;;
    *)
        echo "usage: $0 start|stop|status|restart" >&2
        exit 2
        ;;
    esac
}
