"""Private device nodes for tests that write to devices, so no test risks the machine's own ones."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest


def device(path: Path, major: int, minor: int, *, block: bool = False) -> Path:
    """A private device node (``/dev/full`` is 1,7, ``/dev/null`` 1,3), so no test risks the real ones.

    Skips unless this is root on a file system that allows device nodes.
    """
    if os.geteuid() != 0:
        pytest.skip("creating a device node needs root (the tests run as root in CI)")
    try:
        os.mknod(path, (stat.S_IFBLK if block else stat.S_IFCHR) | 0o666, os.makedev(major, minor))
        if not block:
            os.close(os.open(path, os.O_WRONLY))
    except OSError as exc:
        pytest.skip(f"cannot make and open a device node in {path.parent}: {exc.strerror}")
    return path
