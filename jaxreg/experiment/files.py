"""Writing result folders safely: whole-file replacement through a temporary file with a
unique name, appending whole lines, and an advisory lock that lets one process at a time
write a folder. Used by ``jaxreg run`` (:mod:`jaxreg.experiment.run_folder`) and ``jaxreg
sweep`` (:mod:`jaxreg.experiment.results`)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from jaxreg.errors import UsageError

__all__ = ["replace_with", "replace_text", "append_line", "open_append", "write_line", "lock_folder"]


def replace_with(path, write, suffix=".tmp"):
    """Call ``write(tmp_path)`` on a fresh temporary file beside ``path``, then rename it over
    ``path``: a reader sees the old file or the new one, never half of one. The temporary
    name is unique (``mkstemp``), so two writers never rename each other's file; it is
    removed when ``write`` fails."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix, dir=path.parent)
    os.close(fd)
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def replace_text(path, text: str, sync=True):
    """Write ``text`` to ``path`` whole (:func:`replace_with`), fsync-ed unless ``sync`` is false."""

    def write(tmp):
        with open(tmp, "w", newline="") as f:
            f.write(text)
            if sync:
                f.flush()
                os.fsync(f.fileno())

    return replace_with(path, write)


def append_line(path, line: str, sync=True):
    """Append one complete line with a single ``write`` on an ``O_APPEND`` descriptor (a
    crash leaves the whole line or, at worst, a torn last line), fsync-ed unless ``sync`` is
    false (then it survives a crash of this process, not of the machine)."""
    fd = open_append(path)
    try:
        write_line(fd, line, sync)
    finally:
        os.close(fd)


def open_append(path) -> int:
    """An ``O_APPEND`` descriptor on ``path`` (created if missing), for :func:`write_line`."""
    return os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)


def write_line(fd: int, line: str, sync=True):
    """One complete line with a single ``write`` on an ``O_APPEND`` descriptor (see
    :func:`append_line`; a writer of many lines keeps its descriptor open)."""
    data = line.encode()
    written = os.write(fd, data)
    while written < len(data):  # a short write (rare); the tail follows at once
        written += os.write(fd, data[written:])
    if sync:
        os.fsync(fd)


def lock_folder(folder, name, what):
    """An exclusive advisory lock on ``folder/name``, held until the returned handle is closed
    or the process ends (a killed process leaves no stale lock).

    Raises
    ------
    UsageError
        Another process holds it: ``another {what} is writing to {folder}; ...``.
    """
    import fcntl

    folder = Path(folder)
    handle = open(folder / name, "w")  # noqa: SIM115 - closed by the caller
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        raise UsageError(f"another {what} is writing to {folder}; wait for it or use another --out") from None
    return handle
