"""impact-miner: turn an engineer's shipped work into review-ready, verifiable impact statements.

The library API, which ``mine`` itself is a thin layer over (see the README's "Use as a library"):

- :func:`build_report` runs the pipeline on a :class:`RunSpec` (who, when, which sources) and returns
  a :class:`Report`; :func:`gather_evidence` stops before the statements.
- :class:`Evidence`, :class:`Project`, :class:`Person`, :class:`TimeRange`, :class:`SourceSection`,
  :class:`SourceReport`, :class:`FetchResult`: the plain data that flows through it.
- :class:`Connector` and :class:`FetchContext`: a source type; :func:`available` and :func:`lookup`:
  the registry of installed connectors (entry-point group ``impact_miner.connectors``).
- :class:`RunOptions`, :func:`read_config` and :func:`resolve_run`: a RunSpec from ``mine``'s options
  and config; :mod:`impact_miner.usecases` holds ``mine``'s commands as functions.

The names are imported on first use, so ``import impact_miner`` (and ``mine --help``) stays fast.
"""

from __future__ import annotations

from importlib import import_module
from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING

try:
    __version__ = version("impact-miner")
except PackageNotFoundError:  # running from a source tree without installation
    __version__ = "0+unknown"

if TYPE_CHECKING:
    from impact_miner.model import (
        Evidence,
        FetchResult,
        Person,
        Project,
        Report,
        SourceReport,
        SourceSection,
        TimeRange,
    )
    from impact_miner.pipeline import build_report, gather_evidence
    from impact_miner.registry import Connector, FetchContext, available, lookup
    from impact_miner.runspec import RunOptions, RunSpec, read_config, resolve_run

_EXPORTS = {
    "build_report": "impact_miner.pipeline",
    "gather_evidence": "impact_miner.pipeline",
    "Evidence": "impact_miner.model",
    "FetchResult": "impact_miner.model",
    "Person": "impact_miner.model",
    "Project": "impact_miner.model",
    "Report": "impact_miner.model",
    "SourceReport": "impact_miner.model",
    "SourceSection": "impact_miner.model",
    "TimeRange": "impact_miner.model",
    "Connector": "impact_miner.registry",
    "FetchContext": "impact_miner.registry",
    "available": "impact_miner.registry",
    "lookup": "impact_miner.registry",
    "RunOptions": "impact_miner.runspec",
    "RunSpec": "impact_miner.runspec",
    "read_config": "impact_miner.runspec",
    "resolve_run": "impact_miner.runspec",
}
__all__ = [
    "Connector", "Evidence", "FetchContext", "FetchResult", "Person", "Project", "Report", "RunOptions",
    "RunSpec", "SourceReport", "SourceSection", "TimeRange", "__version__", "available", "build_report",
    "gather_evidence", "lookup", "read_config", "resolve_run",
]  # fmt: skip  (the names of _EXPORTS, and the version)


def __getattr__(name: str) -> object:
    """The public names, imported from their modules on first use (PEP 562)."""
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'impact_miner' has no attribute {name!r}")
    value = getattr(import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_EXPORTS})
