"""Interrupts: SIGTERM handled like Ctrl-C, for ``mine`` and any other entry point that mines."""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from impact_miner.errors import Terminated


@contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """While mining, SIGTERM raises :class:`Terminated` (a KeyboardInterrupt) in the main thread, so a
    ``kill`` cleans up exactly like Ctrl-C: fetches stop, temporary files go, finished files stay."""

    def terminate(signum: int, _frame: object) -> None:
        raise Terminated(signum)

    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, terminate)
    try:
        yield
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
