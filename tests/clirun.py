"""Run `mine` in-process as a user would, for tests: the real entry point, its exit code and output."""

from __future__ import annotations

import pytest

from impact_miner.cli import main


def run_mine(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """`mine ARGS` through :func:`impact_miner.cli.main`; returns (exit code, stdout, stderr)."""
    with pytest.raises(SystemExit) as exited:
        main(list(args))
    out, err = capsys.readouterr()
    code = exited.value.code
    return (code if isinstance(code, int) else 1 if code else 0), out, err
