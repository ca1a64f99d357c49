"""Files and folders only their owner can read: recordings, dry-run SQL, job folders.

They hold row images (customer data) of the tables being undone, so they are created ``0600``
(files) and ``0700`` (folders) whatever the umask, and a file that must not be overwritten
(a recording) is created exclusively.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import IO, Any

__all__ = ["FILE_MODE", "FOLDER_MODE", "open_private", "private_folder"]

FILE_MODE = 0o600
FOLDER_MODE = 0o700


def private_folder(path: Path | str) -> Path:
    """Create ``path`` (and missing parents) as ``0700``; an existing folder is narrowed to it."""
    folder = Path(path)
    folder.mkdir(mode=FOLDER_MODE, parents=True, exist_ok=True)
    os.chmod(folder, FOLDER_MODE)
    return folder


def open_private(
    path: Path | str, mode: str = "w", *, exclusive: bool = False, **kw: Any
) -> IO[Any]:
    """``open(path, mode)`` for writing, creating the file ``0600``.

    ``exclusive``: fail with :class:`FileExistsError` rather than overwrite an existing file.
    """
    if not any(m in mode for m in "wa") or "+" in mode:
        raise ValueError(f"open_private writes new content: mode {mode!r}")
    flags = os.O_WRONLY | os.O_CREAT | (os.O_APPEND if "a" in mode else os.O_TRUNC)
    if exclusive:
        flags |= os.O_EXCL
    fd = os.open(path, flags, FILE_MODE)
    try:
        os.fchmod(fd, FILE_MODE)  # an existing file keeps its mode through os.open
        return os.fdopen(fd, mode, **kw)
    except BaseException:
        os.close(fd)
        raise
