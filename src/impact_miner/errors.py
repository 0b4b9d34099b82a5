"""Errors a user can act on. The CLI prints their message as one line and exits with ``exit_code``."""

from __future__ import annotations


class MineError(Exception):
    """A problem with the user's input or environment; the message says what is wrong and how to fix it."""

    exit_code = 2


class UsageError(MineError):
    """Bad command-line input (exit 2)."""


class ConfigError(MineError):
    """A config file or section that cannot be used (exit 2)."""


class SourceError(MineError):
    """A source that cannot be read; connectors raise it so coverage shows the message verbatim."""
