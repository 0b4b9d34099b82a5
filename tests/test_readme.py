"""The README documents every command and every option ``mine`` has, and its library example runs."""

from __future__ import annotations

import contextlib
import io
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import click
import pytest

from gitrepo import GitRepo
from impact_miner.cli import cli

README = Path(__file__).resolve().parents[1] / "README.md"


def commands(
    command: click.Command, path: tuple[str, ...] = ("mine",)
) -> Iterator[tuple[str, click.Command]]:
    """Every command of ``mine`` with its full name (``mine journal edit``), read through click."""
    yield " ".join(path), command
    if isinstance(command, click.Group):
        for name, sub in sorted(command.commands.items()):
            yield from commands(sub, (*path, name))


def test_commands_are_found() -> None:
    names = [name for name, _ in commands(cli)]
    assert {"mine", "mine evidence", "mine cache clear", "mine journal edit", "mine team"} <= set(names)


def test_the_readme_names_every_command_and_every_long_option() -> None:
    text = README.read_text(encoding="utf-8")
    missing = []
    for name, command in commands(cli):
        if name not in text:
            missing.append(name)
        for param in command.params:
            if not isinstance(param, click.Option):
                continue
            for option in [*param.opts, *param.secondary_opts]:
                if option.startswith("--") and not re.search(re.escape(option) + r"(?![\w-])", text):
                    missing.append(f"{name} {option}")
    assert missing == [], f"README.md does not mention: {', '.join(missing)}"


def library_example() -> str:
    text = README.read_text(encoding="utf-8")
    section = text[text.index("## Use as a library") :]
    section = section[: section.index("\n## ", 1)]
    [code] = re.findall(r"```python\n(.*?)```", section, re.S)
    return code


def test_the_readme_library_example_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    repo = GitRepo.init(tmp_path / "api")
    ada, when = ("Ada Lovelace", "ada@example.com"), datetime.now(UTC) - timedelta(days=2)
    repo.commit("Add search filters", {"search.py": "x = 1\n"}, author=ada, when=when)
    monkeypatch.chdir(repo.path)
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        exec(compile(library_example(), str(README), "exec"), {"__name__": "readme_example"})
    lines = printed.getvalue().splitlines()
    assert any(line.startswith("Add search filters: Added search filters") for line in lines), lines
    assert any(line.startswith("Ran the search on-call handover: ") for line in lines), lines
    assert all(line.endswith("(verified: True)") for line in lines[:2]), lines
    assert "notes:1 https://wiki.example.com/notes/1" in lines
