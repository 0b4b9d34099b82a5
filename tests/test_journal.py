"""The journal: saves, schema migrations, edits, a save killed half way, and `mine journal`."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import stat
import subprocess
import sys
import textwrap
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from impact_miner.cli import main
from impact_miner.errors import ConfigError
from impact_miner.journal import (
    MIGRATIONS,
    SCHEMA_VERSION,
    Journal,
    JournalError,
    edit_buffer,
    journal_path,
    parse_statement_id,
    read_edit_buffer,
    same_person,
)
from impact_miner.model import Evidence, Person, Project, Report, SourceReport, TimeRange, Writer

T0 = datetime(2026, 9, 1, tzinfo=UTC)
ADA = Person(name="Ada Lovelace", emails=["ada@x.io"])


def item(n: int, title: str = "", day: int = 0, refs: tuple[str, ...] = ()) -> Evidence:
    return Evidence(
        id=f"git:acme/api@{n:040x}",
        source="git",
        kind="commit",
        title=title or f"Change {n}",
        url=f"https://github.com/acme/api/commit/{n:040x}",
        completed_at=T0 + timedelta(days=day),
        repo="acme/api",
        refs=list(refs),
    )


def report(items: list[Evidence], since_day: int = 0, days: int = 14, spec: str = "2w") -> Report:
    """A report with one project per item, as a real run would hand to the journal."""
    projects = [Project(f"p{i.id[-4:]}", i.title, [i.id], statement=f"Delivered {i.title}.") for i in items]
    evidence = [
        Evidence.from_dict({**i.to_dict(), "project_id": p.id}) for i, p in zip(items, projects, strict=True)
    ]
    period = TimeRange(T0 + timedelta(days=since_day), T0 + timedelta(days=since_day + days), spec)
    coverage = [SourceReport("git", "ok", len(items), "", "git")]
    return Report(ADA, period, Writer(), coverage, projects, evidence)


def test_save_and_list_round_trip(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "data" / "journal.sqlite3")
    run_id = journal.save(report([item(1), item(2, day=3)]), created_at=T0 + timedelta(days=14))
    assert run_id == 1
    assert stat.S_IMODE(journal.path.stat().st_mode) == 0o600
    [run] = journal.runs()
    assert (run.id, run.person.name, run.range.spec, run.evidence_count) == (1, "Ada Lovelace", "2w", 2)
    assert run.range.since == T0 and run.writer.name == "offline"
    assert [s.id for s in run.statements] == ["1.1", "1.2"]
    assert run.statements[0].text == "Delivered Change 1." and not run.statements[0].edited
    assert run.coverage[0].status == "ok"


def test_evidence_is_stored_once_across_runs_latest_version_kept(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "journal.sqlite3")
    journal.save(report([item(1, "Old title"), item(2, day=3)]), created_at=T0)
    journal.save(report([item(1, "New title"), item(3)], since_day=14), created_at=T0 + timedelta(days=14))
    with sqlite3.connect(journal.path) as db:
        assert db.execute("SELECT COUNT(*) FROM evidence").fetchone()[0] == 3
        assert db.execute("SELECT COUNT(*) FROM run_evidence").fetchone()[0] == 4
    found = journal.evidence([1, 2])
    assert [e.title for e in found if e.id == item(1).id] == ["New title"]
    assert len(found) == 3
    assert all(e.project_id is None for e in found)
    assert [e.id for e in journal.evidence([1], TimeRange(T0, T0 + timedelta(days=1)))] == [item(1).id]


def test_edits_survive_later_runs(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "journal.sqlite3")
    journal.save(report([item(1)]), created_at=T0)
    edited = journal.edit("1.1", "Shipped change 1 to every customer.", edited_at=T0 + timedelta(hours=1))
    assert edited.edited and edited.text == "Shipped change 1 to every customer."
    assert edited.generated == "Delivered Change 1."
    journal.save(report([item(1)]), created_at=T0 + timedelta(days=1))  # the same period, saved again
    runs = journal.runs()
    assert runs[0].statements[0].text == "Shipped change 1 to every customer."
    assert runs[1].statements[0].text == "Delivered Change 1."
    assert [s.id for s in journal.edited_statements([1, 2])] == ["1.1"]
    assert journal.edited_statements([2]) == []


def test_bad_statement_ids_say_how_to_find_one(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "journal.sqlite3")
    journal.save(report([item(1)]), created_at=T0)
    with pytest.raises(JournalError, match=r"not of the form RUN.N"):
        journal.statement("banana")
    with pytest.raises(JournalError, match=r"no statement 1.9 .*mine journal list"):
        journal.statement("1.9")
    with pytest.raises(JournalError, match="cannot be empty"):
        journal.edit("1.1", "   ", edited_at=T0)
    assert parse_statement_id("#3.2") == (3, 2)


def test_migrations_are_versioned_and_upgrade_an_older_journal(tmp_path: Path) -> None:
    path = tmp_path / "journal.sqlite3"
    with sqlite3.connect(path) as db:  # a journal written by a version that knew only the first migration
        for statement in MIGRATIONS[0]:
            db.execute(statement)
        db.execute("PRAGMA user_version = 1")
        db.execute(
            "INSERT INTO runs VALUES (7, '2026-01-01T00:00:00+00:00', 'Ada', ?, '2w', "
            "'2026-01-01T00:00:00+00:00', '2026-01-15T00:00:00+00:00', 'a', 'b', ?, '[]')",
            (
                json.dumps({"name": "Ada", "emails": [], "names": [], "logins": {}}),
                json.dumps({"name": "offline"}),
            ),
        )
    journal = Journal(path)
    assert [r.id for r in journal.runs()] == [7]
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == len(MIGRATIONS)
        indexes = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'index'")}
    assert "run_evidence_by_evidence" in indexes


def test_a_newer_journal_is_refused_with_a_clear_message(tmp_path: Path) -> None:
    path = tmp_path / "journal.sqlite3"
    with sqlite3.connect(path) as db:
        db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 5}")
    with pytest.raises(JournalError, match=r"newer than this impact-miner knows.*upgrade"):
        Journal(path).runs()


def test_not_a_database_is_refused_with_a_clear_message(tmp_path: Path) -> None:
    path = tmp_path / "journal.sqlite3"
    path.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(JournalError, match=r"cannot be opened.*IMPACT_MINER_JOURNAL"):
        Journal(path).runs()


SLOW_SAVE = """
import os, sys, time
from datetime import UTC, datetime
sys.path.insert(0, {tests!r})
from test_journal import item, report
from impact_miner.journal import Journal

def pause(stage):
    if stage == {stage!r}:
        open({marker!r}, "w").close()
        time.sleep(60)

Journal(__import__("pathlib").Path({path!r})).save(
    report([item(1, "Rewritten title"), item(50), item(51)], since_day=28), created_at=datetime.now(UTC),
    checkpoint=pause,
)
"""


@pytest.mark.parametrize("stage", ["run", "evidence", "projects"])
def test_a_save_killed_half_way_leaves_the_journal_consistent(tmp_path: Path, stage: str) -> None:
    path = tmp_path / "journal.sqlite3"
    journal = Journal(path)
    journal.save(report([item(1), item(2)]), created_at=T0)
    journal.save(report([item(3)], since_day=14), created_at=T0 + timedelta(days=14))
    journal.edit("2.1", "Kept.", edited_at=T0 + timedelta(days=15))
    before = journal.runs()
    marker = tmp_path / "paused"
    script = SLOW_SAVE.format(
        tests=str(Path(__file__).parent), stage=stage, marker=str(marker), path=str(path)
    )
    child = subprocess.Popen([sys.executable, "-c", textwrap.dedent(script)], stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 30
        while not marker.exists():
            assert child.poll() is None, child.stderr.read() if child.stderr else ""
            assert time.monotonic() < deadline, "the save never reached its pause"
            time.sleep(0.01)
        os.kill(child.pid, signal.SIGKILL)
    finally:
        child.wait()
        if child.stderr:
            child.stderr.close()
    assert child.returncode == -signal.SIGKILL
    assert journal.integrity() == "ok"
    assert journal.runs() == before
    assert [e.title for e in journal.evidence([1]) if e.id == item(1).id] == ["Change 1"]
    assert journal.save(report([item(4)], since_day=28), created_at=T0 + timedelta(days=28)) == 3


def test_journal_path_precedence(tmp_path: Path) -> None:
    config = tmp_path / "cfg" / "config.toml"
    config.parent.mkdir()
    config.write_text('[journal]\npath = "j/journal.db"\n')
    assert journal_path({"IMPACT_MINER_JOURNAL": str(tmp_path / "env.db")}, config) == tmp_path / "env.db"
    assert journal_path({}, config) == tmp_path / "cfg" / "j" / "journal.db"
    assert journal_path({}, tmp_path / "missing.toml").name == "journal.sqlite3"
    config.write_text("[journal]\npath = 3\n")
    with pytest.raises(ConfigError, match=r"journal.path"):
        journal_path({}, config)
    config.write_text('journal = "x"\n')
    with pytest.raises(ConfigError, match=r"must be a table"):
        journal_path({}, config)
    config.write_text('[journal]\npaht = "j/journal.db"\n')  # would silently use the default journal
    with pytest.raises(ConfigError, match=r"unknown key `journal.paht`; did you mean `path`\?"):
        journal_path({}, config)


def test_same_person_matches_names_else_identities() -> None:
    assert same_person(ADA, Person(name="ada lovelace"))
    assert not same_person(ADA, Person(name="Bob", emails=["ada@x.io"]))
    assert same_person(Person(emails=["ADA@x.io"]), ADA)
    assert same_person(Person(logins={"github": "ada"}), Person(name="Ada", logins={"github": "Ada"}))
    assert not same_person(Person(emails=["bob@x.io"]), ADA)


def test_edit_buffer_round_trip(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "journal.sqlite3")
    journal.save(report([item(1)]), created_at=T0)
    statement = journal.statement("1.1")
    buffer = edit_buffer(statement, journal.runs()[0])
    assert buffer.startswith("Delivered Change 1.\n")
    assert item(1).id in buffer
    assert read_edit_buffer(buffer) == "Delivered Change 1."
    assert read_edit_buffer("New text\n#1 fixed\n" + buffer.split("\n", 1)[1]) == "New text\n#1 fixed"


EDITOR = """
import sys
path = sys.argv[1]
text = open(path, encoding="utf-8").read()
open(path, "w", encoding="utf-8").write("Cut checkout latency for every customer." + text[text.index("\\n"):])
"""


def test_cli_journal_list_and_edit_with_editor(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("IMPACT_MINER_JOURNAL", str(tmp_path / "journal.sqlite3"))
    editor = tmp_path / "editor.py"
    editor.write_text(EDITOR)
    monkeypatch.setenv("EDITOR", f"{sys.executable} {editor}")
    Journal(tmp_path / "journal.sqlite3").save(report([item(1), item(2)]), created_at=T0)

    def run(*args: str) -> tuple[int, str, str]:
        with pytest.raises(SystemExit) as exited:
            main(list(args))
        out, err = capsys.readouterr()
        return int(exited.value.code or 0), out, err

    code, out, _ = run("journal", "list")
    assert code == 0
    assert "#1  saved" in out and "2026-09-01 00:00 → 2026-09-15 00:00 (2w)" in out
    assert "    1.2     Change 2" in out
    code, out, _ = run("journal", "edit", "1.2")
    assert code == 0 and "Kept your edit of statement 1.2" in out
    assert (
        Journal(tmp_path / "journal.sqlite3").statement("1.2").text
        == "Cut checkout latency for every customer."
    )
    code, out, _ = run("journal", "list")
    assert "1.2     Change 2  (edited)" in out
    code, out, _ = run("journal", "edit", "1.2")  # the editor writes the same text again
    assert code == 0 and "unchanged" in out
    code, _, err = run("journal", "edit", "9.9")
    assert code == 2 and err.startswith("mine: error: no statement 9.9") and "Traceback" not in err


@pytest.mark.parametrize(
    ("editor", "message"),
    [
        ("false", "the editor 'false' exited with an error or could not start (false: Editing failed); "),
        (
            "/nonexistent/bin/editor --wait",
            "the editor '/nonexistent/bin/editor --wait' (from $VISUAL or $EDITOR) is not installed; ",
        ),
        ("{bad_utf8}", "the edited text is not UTF-8 (byte 0xff at offset 0); "),
        ("{killed}", "the editor '"),
    ],
    ids=["false", "missing", "invalid-utf8", "killed"],
)
def test_a_failing_editor_exits_2_and_keeps_the_saved_run(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    editor: str,
    message: str,
) -> None:
    path = tmp_path / "journal.sqlite3"
    monkeypatch.setenv("IMPACT_MINER_JOURNAL", str(path))
    scripts = {
        "bad_utf8": "printf '\\377\\376 not text' > \"$1\"",
        "killed": "printf 'half' > \"$1\"; kill -9 $$",
    }
    for name, body in scripts.items():
        script = tmp_path / f"{name}.sh"
        script.write_text(f"#!/bin/sh\n{body}\n")
        script.chmod(0o755)
    monkeypatch.setenv("EDITOR", editor.format(**{name: tmp_path / f"{name}.sh" for name in scripts}))
    Journal(path).save(report([item(1), item(2)]), created_at=T0)
    before = [(s.id, s.text, s.edited) for run in Journal(path).runs() for s in run.statements]
    with pytest.raises(SystemExit) as exited:
        main(["journal", "edit", "1.2"])
    _, err = capsys.readouterr()
    assert exited.value.code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"mine: error: {message}"), err
    assert "statement 1.2 is unchanged" in lines[0]
    assert [(s.id, s.text, s.edited) for run in Journal(path).runs() for s in run.statements] == before
