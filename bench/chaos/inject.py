"""Fault injectors: processes killed, downstream sessions killed, cluster faults asked for.

Only processes this soak started are signalled: ``tiundo run`` (a child of the runner) and its
workers (children of that ``run``, checked in ``/proc`` before any signal is sent). Downstream
sessions are killed only when they use the run's own database (``<db>_cdc``, the path of
``TIUNDO_DOWNSTREAM``), so other users of a shared MariaDB are never touched.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
from pathlib import Path
from typing import Any

import pymysql

__all__ = ["children", "control", "kill_downstream_sessions", "kill_tree", "signal_child"]


def _ppid(pid: int) -> int | None:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return int(text.rsplit(")", 1)[1].split()[1])


def children(pid: int) -> list[int]:
    """Direct children of ``pid`` (from /proc)."""
    out = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[1]) == pid:
            out.append(int(stat.parent.name))
    return out


def signal_child(parent: int, pid: int, sig: signal.Signals) -> bool:
    """Send ``sig`` to ``pid`` if it is (still) a child of ``parent``; whether it was sent."""
    if _ppid(pid) != parent:
        return False
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        return False
    return True


def kill_tree(pid: int) -> None:
    """kill -9 of ``pid`` and its children (the machine running ``tiundo run`` is lost)."""
    doomed = [pid, *children(pid)]
    for p in doomed:
        with contextlib.suppress(ProcessLookupError):
            os.kill(p, signal.SIGKILL)


def kill_downstream_sessions(mysql: dict[str, Any], db: str) -> int:
    """``KILL`` every other session whose current database is ``db``; how many."""
    conn = pymysql.connect(**mysql, autocommit=True)
    killed = 0
    try:
        with conn.cursor() as cur:
            cur.execute(
                "SELECT ID FROM information_schema.PROCESSLIST "
                "WHERE DB = %s AND ID <> CONNECTION_ID()",
                (db,),
            )
            for (sid,) in cur.fetchall():
                try:
                    cur.execute("KILL %s", (int(sid),))
                    killed += 1
                except pymysql.err.OperationalError:
                    pass  # it ended meanwhile
    finally:
        conn.close()
    return killed


def control(port: int, command: str, timeout_s: float = 30.0) -> str:
    """One command to the run's cluster host (:mod:`bench.chaos.cluster_host`); its answer."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout_s) as s:
        s.sendall(command.encode() + b"\n")
        data = b""
        while not data.endswith(b"\n"):
            chunk = s.recv(4096)
            if not chunk:
                break
            data += chunk
    return data.decode().strip()
