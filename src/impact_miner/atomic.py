"""Atomic multi-file writes: every output of a run, or none.

All files of a batch go to temporary files beside their targets first (``.NAME.XXXXXXXX.tmp``); only when
every one is written are they renamed into place, so a failure leaves the old files untouched. A
symlink is written through to its target; a FIFO or character device (``/dev/stdout``, a named pipe)
is written to directly; anything else that is not a regular file is refused before anything is fetched
(:func:`output_target`). Every failure is one :class:`~impact_miner.errors.UsageError` line that says
which files, if any, were already written.
"""

from __future__ import annotations

import errno
import os
import re
import secrets
import stat
from collections.abc import Sequence
from pathlib import Path

from impact_miner.errors import UsageError


def write_files(files: Sequence[tuple[Path, bytes]]) -> None:
    """Write every file or none: all go to temporary files first, then each is renamed into place.

    A new file gets the usual permissions (0666 less the umask); a replaced file keeps its mode. A
    symlink is written through: its target is replaced (atomically, in the target's directory) and
    the link stays. A FIFO or a character device (``/dev/stdout``, ``/dev/null``, a named pipe) is
    written to directly, after every regular file is staged and before any is renamed, since it
    cannot be replaced; anything else that is not a regular file is refused (:func:`output_target`).
    Any failure, a full disk included, removes the temporary files and raises :class:`UsageError`
    saying which files, if any, were already written; an interrupt removes them too.
    """
    plans = [(path, *output_target(path), data) for path, data in files]
    staged: list[tuple[Path, Path, Path]] = []
    replaced: list[Path] = []
    current: Path | None = None
    try:
        for path, target, stream, data in plans:
            current = path
            if not stream:
                staged.append((_stage(target, data), target, path))
        for path, target, stream, data in plans:
            current = path
            if stream:
                _write_stream(target, data)
        for temp, target, path in staged:
            current = path
            os.replace(temp, target)
            replaced.append(path)
    except BaseException as exc:
        for temp, _, _ in staged:
            temp.unlink(missing_ok=True)
        if isinstance(exc, OSError):
            raise UsageError(_write_error(current, exc, replaced)) from None
        raise


def output_target(path: Path) -> tuple[Path, bool]:
    """Where writing ``path`` really goes, and whether it is a stream written in place.

    A FIFO or character device, also behind a symlink (``/dev/stdout``, ``/dev/fd/63`` of a process
    substitution), is a stream (``True``), opened by its own name. A missing or regular file is
    replaced atomically (``False``), a symlink's (possibly not yet existing) target rather than the
    link. A directory, a block device or a socket is refused with a :class:`UsageError`.
    """
    try:
        mode: int | None = path.stat().st_mode  # follows symlinks, /proc's "pipe:[…]" links included
    except FileNotFoundError:
        mode = None
    except OSError as exc:
        raise UsageError(_write_error(path, exc, [])) from None
    if mode is not None and (stat.S_ISFIFO(mode) or stat.S_ISCHR(mode)):
        return path, True
    if mode is None or stat.S_ISREG(mode):
        return (Path(os.path.realpath(path)) if path.is_symlink() else path), False
    kind = "a directory" if stat.S_ISDIR(mode) else "a block device" if stat.S_ISBLK(mode) else "a socket"
    raise UsageError(
        f"cannot write {path}: it is {kind}, not a file; give a file path (a named pipe or a character "
        "device such as /dev/stdout is written to directly)"
    )


def _write_error(path: Path | None, exc: OSError, replaced: Sequence[Path]) -> str:
    """One line for a failed write: what, why, what to do, and which files were already written."""
    done = f"already written: {', '.join(map(str, replaced))}" if replaced else "no file was changed"
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return f"cannot write {path}: no space left on the device; free some space and run again ({done})"
    if exc.errno == errno.EPIPE:
        return f"cannot write {path}: nothing reads from it any more (broken pipe) ({done})"
    return (
        f"cannot write {path}: {exc.strerror or exc}; check the directory exists and is writable ({done})"
    )


TEMP_NAME = re.compile(r"\..+\.[0-9a-f]{8}\.tmp")


def _stage(path: Path, data: bytes) -> Path:
    """``data`` in a new temporary file beside ``path`` (named ``.NAME.XXXXXXXX.tmp``), flushed to disk."""
    directory = path.parent if str(path.parent) else Path(".")
    temp = directory / f".{path.name}.{secrets.token_hex(4)}.tmp"
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        if path.exists():
            os.chmod(temp, stat.S_IMODE(path.stat().st_mode))
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    return temp


def _write_stream(path: Path, data: bytes) -> None:
    """Write ``data`` to an existing FIFO or character device (never creating or truncating a file)."""
    fd = os.open(path, os.O_WRONLY)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)


def remove_stale_temps(directory: Path) -> list[Path]:
    """Delete the temporary files :func:`write_files` leaves when killed (``.NAME.XXXXXXXX.tmp``).

    Only for a directory this process has to itself (``mine team`` holds its lock): a temporary file of a
    write still running elsewhere would otherwise be removed.
    """
    removed = []
    for entry in directory.iterdir() if directory.is_dir() else ():
        if TEMP_NAME.fullmatch(entry.name) and entry.is_file() and not entry.is_symlink():
            entry.unlink(missing_ok=True)
            removed.append(entry)
    return removed
