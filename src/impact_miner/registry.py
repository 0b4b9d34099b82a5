"""The connector interface and the one way connectors are found: the entry-point group
``impact_miner.connectors``. Built-in connectors register there exactly like third-party ones.

Entry points are loaded once per process. A third-party one that fails to load, or is not a
:class:`Connector`, is skipped so that one broken package does not fail every run: it is issued once as a
:class:`~impact_miner.errors.ConnectorWarning` and listed by :func:`skipped_connectors` (``mine`` prints
each as one warning line). A broken built-in one is a bug and raises.
"""

from __future__ import annotations

import re
import threading
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache
from importlib.metadata import EntryPoint, entry_points
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from impact_miner.config import unknown_key_message
from impact_miner.errors import Cancelled, ConfigError, ConnectorWarning
from impact_miner.model import FetchResult, Person, SourceSection, TimeRange

if TYPE_CHECKING:
    from impact_miner.cache import Cache

ENTRY_POINT_GROUP = "impact_miner.connectors"
BUILTIN_DISTRIBUTION = "impact-miner"


class Throttle(Protocol):
    """Request pacing shared by every worker of a batch (``mine team``), per source name.

    A connector that makes HTTP requests calls ``wait(section.name)`` before each one, and
    ``hold(section.name, seconds)`` when the service says to back off (429, ``Retry-After``), so that
    every worker backs off, not just the one that was told.
    """

    def wait(self, source: str) -> None: ...

    def hold(self, source: str, seconds: float) -> None: ...


@dataclass
class FetchContext:
    """What a fetch may use besides its section: the clock, the shared cache, a sleep to inject, progress.

    ``now`` decides which windows had already ended (and may be cached); ``cache`` is ``None`` when
    caching is off; ``sleep`` is replaced in tests so rate-limit waits take no time.

    ``cancel`` is set when the run is interrupted (Ctrl-C, SIGTERM, another worker of a batch): a
    connector checks it between requests (:meth:`check_cancelled`) and stops, and the default
    ``sleep`` wakes up as soon as it is set, so a retry or rate-limit wait never holds up the exit.
    """

    now: datetime
    cache: Cache | None = None
    sleep: Callable[[float], None] = field(default=time.sleep)
    progress: Callable[[str], None] | None = None
    throttle: Throttle | None = None
    cancel: threading.Event = field(default_factory=threading.Event)

    def __post_init__(self) -> None:
        if self.sleep is time.sleep:
            self.sleep = self._sleep_until_cancelled

    def _sleep_until_cancelled(self, seconds: float) -> None:
        self.cancel.wait(seconds)

    def check_cancelled(self) -> None:
        """Raise :class:`~impact_miner.errors.Cancelled` if the run was interrupted."""
        if self.cancel.is_set():
            raise Cancelled()


FetchFunction = Callable[[Person, TimeRange, SourceSection, FetchContext], FetchResult]


@dataclass(frozen=True)
class Connector:
    """A source type.

    ``fetch`` returns the person's evidence in the range plus a SourceReport, and may raise: the
    pipeline then marks the source failed and keeps going. ``check`` validates a section before any
    fetch and raises :class:`~impact_miner.errors.MineError` for bad input (exit 2); ``check_person``
    does the same for what the section needs to know about the person (git: an identity to match).
    ``implicit`` is the section used when the config names no source of this type (``None``: the
    type is off unless configured). ``options`` are the keys a ``[sources.NAME]`` table of this type
    accepts (``type`` and ``enabled`` always are); any other key is refused before anything is
    fetched, naming the closest known one. ``None``: keys are not checked (a third-party connector
    that does not declare them).
    """

    type: str
    summary: str
    fetch: FetchFunction
    check: Callable[[SourceSection], None] | None = None
    implicit: Callable[[], SourceSection | None] | None = None
    check_person: Callable[[SourceSection, Person], None] | None = None
    options: frozenset[str] | None = None


COMMON_OPTIONS = frozenset({"type", "enabled"})


def check_options(connector: Connector, section: SourceSection, config_file: Path | None = None) -> None:
    """Refuse a key of ``section`` that ``connector`` does not declare (see :attr:`Connector.options`)."""
    if connector.options is None:
        return
    known = connector.options | COMMON_OPTIONS
    for key in section.options:
        if key not in known:
            raise ConfigError(unknown_key_message(key, known, f"sources.{section.name}", config_file))


def available() -> dict[str, Connector]:
    """Every usable connector registered under the entry-point group, by type name."""
    return dict(_load()[0])


def skipped_connectors() -> list[str]:
    """One line for each third-party connector :func:`available` skipped as broken, saying which package
    to fix or uninstall (each was also issued once as a :class:`~impact_miner.errors.ConnectorWarning`)."""
    return list(_load()[1])


@cache
def _load() -> tuple[dict[str, Connector], tuple[str, ...]]:
    found: dict[str, Connector] = {}
    skipped: list[str] = []
    for entry in connector_entry_points():
        try:
            connector = entry.load()
        except Exception as exc:
            if is_builtin(entry):
                raise
            skipped.append(_skip(entry, f"it fails to load ({type(exc).__name__}: {exc})"))
            continue
        if not isinstance(connector, Connector):
            if is_builtin(entry):
                raise ConfigError(f"entry point {entry.name!r} in {ENTRY_POINT_GROUP} is not a Connector")
            skipped.append(_skip(entry, "it is not an impact_miner Connector"))
            continue
        found[connector.type] = connector
    return found, tuple(skipped)


def connector_entry_points() -> list[EntryPoint]:
    """The entry points of :data:`ENTRY_POINT_GROUP` of every installed distribution."""
    return list(entry_points(group=ENTRY_POINT_GROUP))


def is_builtin(entry: EntryPoint) -> bool:
    """Whether ``entry`` is one of impact-miner's own connectors (not a third-party package's)."""
    return entry.dist is not None and re.sub(r"[-_.]+", "-", entry.dist.name).lower() == BUILTIN_DISTRIBUTION


def _skip(entry: EntryPoint, why: str) -> str:
    package = f"the package {entry.dist.name!r}" if entry.dist is not None else "the package that provides it"
    message = f"skipped the {entry.name!r} connector ({entry.value}): {why}; fix or uninstall {package}"
    warnings.warn(message, ConnectorWarning, stacklevel=3)
    return message


def lookup(type_name: str, connectors: dict[str, Connector]) -> Connector:
    try:
        return connectors[type_name]
    except KeyError:
        known = ", ".join(sorted(connectors)) or "none"
        raise ConfigError(
            f"unknown source type {type_name!r}; installed types: {known} (see `mine sources`)"
        ) from None
