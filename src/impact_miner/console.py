"""What ``mine`` prints: colours only on a terminal and never with ``NO_COLOR``, untrusted text without its
control characters (:mod:`impact_miner.terminal`), and a standard output that cannot be written turned
into one clear line."""

from __future__ import annotations

import errno
import os
import sys
from collections.abc import Sequence

import click

from impact_miner.errors import UsageError
from impact_miner.terminal import terminal_text


def style(text: str, colour: str) -> str:
    """``text`` in ``colour`` when stderr is a terminal and ``NO_COLOR`` is not set."""
    return text if os.environ.get("NO_COLOR") or not sys.stderr.isatty() else click.style(text, fg=colour)


def echo(text: str) -> None:
    """Print a line that holds untrusted text (titles, names, reasons) without its control characters."""
    click.echo(terminal_text(text))


def warn(message: str) -> None:
    click.echo(style(terminal_text(f"mine: warning: {message}"), "yellow"), err=True)


def error(message: str) -> None:
    click.echo(style(terminal_text(f"mine: error: {message}"), "red"), err=True)


def click_message(exc: click.ClickException) -> str:
    """click's error as one line like ours: ``No such option '--x'; see mine --help`` (no usage block)."""
    message = " ".join(exc.format_message().split())
    if isinstance(exc, click.UsageError):
        where = exc.ctx.command_path if exc.ctx is not None else "mine"
        return f"{message.rstrip('.')}; see {where} --help"
    return message


def progress(message: str) -> None:
    click.echo(style(f"… {message}", "bright_black"), err=True)


def print_stdout(chunks: Sequence[bytes], *, binary: bool = False) -> None:
    """Print what goes to standard output (text without control characters, or ``binary`` bytes); a
    stdout that cannot take it is a :class:`UsageError` (a closed pipe stays a BrokenPipeError)."""
    for data in chunks:
        try:
            if binary:
                sys.stdout.flush()
                sys.stdout.buffer.write(data)
                sys.stdout.buffer.flush()
            else:
                click.echo(terminal_text(data.decode("utf-8")), nl=False)
        except OSError as exc:
            if exc.errno == errno.EPIPE:
                raise
            _detach_stdout()
            full = exc.errno in (errno.ENOSPC, errno.EDQUOT)
            reason = "no space left on the device; free some space" if full else f"{exc.strerror or exc};"
            raise UsageError(f"cannot write to standard output: {reason} or use --out FILE") from None


def _detach_stdout() -> None:
    """Point stdout at the null device, so the unwritten rest is not retried (and fails again) at exit."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):  # no real stdout (a test's capture): nothing to detach
        pass
