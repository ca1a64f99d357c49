"""Dry run: undo statements as a reviewable SQL file for the mysql client, nothing applied.

Each partition writes one file per phase, ``<dir>/p<partition>.phase<k>.sql``, one statement
per row key, each preceded by a comment naming the table, the handle and the key's first/last
commit_ts in ``(T, E]``. :func:`assemble` joins the parts into ``<dir>/<job>.sql``: the
session settings, every partition's phase 0, then every partition's phase 1 — the order that
keeps the ``_tidb_rowid`` barrier (all phase-1 deletes before any phase-2 insert) when the file
is piped into ``mysql``. Each partition rewrites its parts whole on every run, so a restarted
worker leaves no duplicate lines.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path
from typing import IO

from app.undo.sqlgen import Statement, render_for_dry_run
from core.private import open_private, private_folder

__all__ = ["PartWriter", "assemble", "comment_for", "part_path"]


def part_path(directory: str | Path, partition: int, phase: int) -> Path:
    """File of one partition's phase."""
    return Path(directory) / f"p{partition:04d}.phase{phase}.sql"


def comment_for(db: str, table: str, handle: str, st: Statement) -> str:
    """``-- db.table kind handle=… commit_ts first..last`` (newlines in names flattened)."""
    ts = f"{st.first_commit_ts}..{st.last_commit_ts}"
    text = f"-- {db}.{table} {st.kind} handle={handle} commit_ts {ts}"
    return text.replace("\n", " ").replace("\r", " ")


class PartWriter:
    """Streams one partition's dry-run statements into its phase files (atomic on close)."""

    def __init__(self, directory: str | Path, partition: int, phases: int = 2) -> None:
        self._final = [part_path(directory, partition, k) for k in range(phases)]
        self._tmp = [p.with_suffix(f".tmp{os.getpid()}") for p in self._final]
        private_folder(directory)
        self._files: list[IO[str]] = [open_private(t, encoding="utf-8") for t in self._tmp]
        self.count = 0

    def add(self, phase: int, comment: str, st: Statement) -> None:
        """Append one statement (rendered with literals) and its comment to ``phase``'s file."""
        self._files[phase].write(comment + "\n" + render_for_dry_run(st.sql, st.params) + "\n")
        self.count += 1

    def close(self) -> None:
        """Flush and move the files into place (replacing an earlier run's)."""
        for f in self._files:
            f.close()
        for tmp, final in zip(self._tmp, self._final, strict=True):
            tmp.replace(final)


def assemble(directory: str | Path, job: str, partitions: int, session: Iterable[str]) -> Path:
    """Join every partition's parts into ``<dir>/<job>.sql`` in an applicable order."""
    d = Path(directory)
    out = d / f"{job}.sql"
    tmp = out.with_suffix(f".tmp{os.getpid()}")
    with open_private(tmp, encoding="utf-8") as f:
        f.write(f"-- tiundo undo of job {job}: review, then apply with the mysql client\n")
        for s in session:
            f.write(s + ";\n")
        f.write("BEGIN;\n")
        for phase in (0, 1):
            f.write(f"-- phase {phase}\n")
            for p in range(partitions):
                part = part_path(d, p, phase)
                if part.exists():
                    f.write(part.read_text(encoding="utf-8"))
        f.write("COMMIT;\n")
    tmp.replace(out)
    return out
