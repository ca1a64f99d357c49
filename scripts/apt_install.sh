# shellcheck shell=bash
# Sourced by scripts/kafka.sh and scripts/mariadb.sh: install Debian packages non-interactively.
#
#   apt_install LOGFILE PACKAGE...
#
# Works as root, or through sudo when available. Package maintainer scripts may try to start
# system-wide services (mariadb-server would start one on port 3306); unless the machine already
# has a policy-rc.d, a temporary one that refuses service starts (the Docker convention) is put in
# place for the install and removed afterwards. Stale or missing package lists on a fresh machine
# are handled by one `apt-get update` and a retry. Returns non-zero (log tail on stderr) on failure.

apt_install() {
    local log=$1
    shift
    local sudo=()
    if [[ $(id -u) -ne 0 ]]; then
        if ! command -v sudo >/dev/null 2>&1; then
            echo "apt_install: not root and no sudo: install $* yourself" >&2
            return 1
        fi
        sudo=(sudo)
    fi
    if ! command -v apt-get >/dev/null 2>&1; then
        echo "apt_install: no apt-get on this machine: install $* yourself" >&2
        return 1
    fi
    local policy=/usr/sbin/policy-rc.d added=0 rc=0
    if [[ ! -e $policy ]]; then
        printf '#!/bin/sh\n# temporary, from tiundo scripts/apt_install.sh\nexit 101\n' |
            "${sudo[@]}" tee "$policy" >/dev/null
        "${sudo[@]}" chmod 755 "$policy"
        added=1
    fi
    local apt=("${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get -y -q
        -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold
        install --no-install-recommends "$@")
    "${apt[@]}" >"$log" 2>&1 ||
        { "${sudo[@]}" apt-get update -q >>"$log" 2>&1 && "${apt[@]}" >>"$log" 2>&1; } ||
        rc=$?
    if ((added)); then
        "${sudo[@]}" rm -f "$policy"
    fi
    if ((rc != 0)); then
        tail -n 30 "$log" >&2
        echo "apt_install: apt-get install $* failed (full log: $log)" >&2
    fi
    return "$rc"
}
