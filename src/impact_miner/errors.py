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


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised in the main thread so that it takes Ctrl-C's path: fetches stop, temporary files
    are removed, and ``mine`` exits with 128 + the signal number (143)."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


class Cancelled(BaseException):
    """The run was interrupted: a fetch saw :attr:`FetchContext.cancel` set and stopped early.

    A BaseException so that a source's ``except Exception`` does not report it as a failed source.
    """


class ConnectorWarning(UserWarning):
    """An installed third-party connector that cannot be used (its entry point fails to load or is not a
    :class:`~impact_miner.registry.Connector`): it is skipped, and the run goes on without it."""
