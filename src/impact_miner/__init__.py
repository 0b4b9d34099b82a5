"""impact-miner: turn an engineer's shipped work into review-ready, verifiable impact statements."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("impact-miner")
except PackageNotFoundError:  # running from a source tree without installation
    __version__ = "0+unknown"
