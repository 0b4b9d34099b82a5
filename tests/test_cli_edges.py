"""Hard edges of `mine`: empty, odd and hostile input gets one clear line and the documented exit code.

Every test runs the real entry point (in-process, or as a real process where signals are involved) on
real temporary git repositories and files.
"""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from clirun import run_mine as run
from devices import device
from gitrepo import ADA, GitRepo
from isolation import Isolated

NOW = datetime.now(UTC).replace(microsecond=0)


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The temp dir as the working directory (conftest isolates the environment); returns it."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.fixture
def repo(env: Path) -> GitRepo:
    """Ada's repository with two commits of hers in the last fortnight."""
    repo = GitRepo.init(
        env / "api", remote="git@github.com:acme/api.git", user_email=ADA[1], home=env / "home"
    )
    repo.commit("SEARCH-1: add search", {"s.py": "a\n"}, author=ADA, when=NOW - timedelta(days=3))
    repo.commit("SEARCH-1: cache search", {"c.py": "b\n"}, author=ADA, when=NOW - timedelta(days=1))
    return repo


def one_line_error(err: str) -> str:
    """The single ``mine: error: …`` line of ``err`` (fails if there are more lines or a traceback)."""
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert lines[0].startswith("mine: error: "), err
    return lines[0]


# ---- empty values -----------------------------------------------------------------------------------


@pytest.mark.parametrize("command", [[], ["evidence"], ["review"]])
def test_an_empty_since_is_an_invalid_time_spec_not_the_default(
    capsys: pytest.CaptureFixture[str], repo: GitRepo, command: list[str]
) -> None:
    code, out, err = run(capsys, *command, "--since", "", "--repo", str(repo.path))
    assert code == 2
    assert "invalid time spec ''; accepted forms: Nd, Nw" in one_line_error(err)
    assert out == ""


def test_an_empty_since_for_the_team_batch_is_refused_too(
    capsys: pytest.CaptureFixture[str], env: Path
) -> None:
    roster = env / "team.csv"
    roster.write_text("name,emails\nAda Lovelace,ada@x.io\n")
    code, _, err = run(capsys, "team", str(roster), "--out", str(env / "reports"), "--since", "")
    assert code == 2
    assert "invalid time spec ''" in one_line_error(err)
    assert not (env / "reports").exists()


@pytest.mark.parametrize("author", ["", "  "])
def test_a_blank_author_is_refused_instead_of_adding_an_empty_identity(
    capsys: pytest.CaptureFixture[str], repo: GitRepo, author: str
) -> None:
    code, out, err = run(
        capsys, "--since", "2w", "--repo", str(repo.path), "--author", ADA[1], "--author", author
    )
    assert code == 2
    assert "--author is empty; give an email or a name" in one_line_error(err)
    assert out == ""


@pytest.mark.parametrize(
    "option", ["--tz", "--config", "--repo", "--model", "--api-base", "--framework", "--append"]
)
def test_other_empty_values_are_refused_instead_of_meaning_the_default(
    capsys: pytest.CaptureFixture[str], repo: GitRepo, option: str
) -> None:
    code, out, err = run(capsys, "--since", "2w", option, "")
    assert code == 2
    assert f"{option} is empty; give a value or leave the option out" in one_line_error(err)
    assert out == ""


# ---- click's own usage errors -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--bogus"], "mine: error: No such option '--bogus'"),
        (["--format", "yaml"], "mine: error: Invalid value for '--format': 'yaml' is not one of"),
        (["team"], "mine: error: Missing argument 'ROSTER'; see mine team --help"),
        (["journal", "edit"], "mine: error: Missing argument 'ID'; see mine journal edit --help"),
        (["evidence", "--jobs", "2"], "mine: error: No such option '--jobs'; see mine evidence --help"),
        (["--concurrency", "0"], "mine: error: Invalid value for '--concurrency'"),
    ],
)
def test_usage_errors_are_one_line_like_ours_and_exit_2(
    capsys: pytest.CaptureFixture[str], env: Path, args: list[str], message: str
) -> None:
    code, out, err = run(capsys, *args)
    assert code == 2
    line = one_line_error(err)
    assert line.startswith(message)
    assert line.endswith(" --help")
    assert "Usage:" not in err and out == ""


def test_help_is_untouched(capsys: pytest.CaptureFixture[str], env: Path) -> None:
    code, out, err = run(capsys, "--help")
    assert code == 0 and err == ""
    assert out.startswith("Usage: mine [OPTIONS] [COMMAND] [ARGS]...")
    assert "--since SPEC" in out


def test_json_report_still_works_with_every_option_given(
    capsys: pytest.CaptureFixture[str], repo: GitRepo, env: Path
) -> None:
    code, out, err = run(
        capsys, "--since", "2w", "--until", "today", "--repo", str(repo.path), "--author", ADA[1],
        "--tz", "UTC", "--format", "json",
    )  # fmt: skip
    assert code == 0, err
    assert len(json.loads(out)["evidence"]) == 2


# ---- config keys ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ("include_merge = true", "unknown key `sources.code.include_merge`; did you mean `include_merges`?"),
        ("enable = false", "unknown key `sources.code.enable`; did you mean `enabled`?"),
    ],
)
def test_a_misspelt_source_key_exits_2_before_anything_runs(
    capsys: pytest.CaptureFixture[str], repo: GitRepo, env: Path, table: str, message: str
) -> None:
    config = env / "config.toml"
    config.write_text(f'[sources.code]\ntype = "git"\npaths = ["{repo.path}"]\n{table}\n')
    code, out, err = run(capsys, "--since", "2w", "--config", str(config))
    assert code == 2
    assert one_line_error(err) == f"mine: error: config {config}: {message}"
    assert out == ""


def test_a_misspelt_team_limit_exits_2(capsys: pytest.CaptureFixture[str], env: Path) -> None:
    config = env / "config.toml"
    config.write_text("[team.limits.gh]\nconcurency = 2\n")
    roster = env / "team.csv"
    roster.write_text("name,emails\nAda Lovelace,ada@x.io\n")
    code, _, err = run(capsys, "team", str(roster), "--out", str(env / "out"), "--config", str(config))
    assert code == 2
    assert "unknown key `team.limits.gh.concurency`; did you mean `concurrency`?" in one_line_error(err)


def test_a_misspelt_roster_override_fails_that_person_only(
    capsys: pytest.CaptureFixture[str], repo: GitRepo, env: Path
) -> None:
    config = env / "config.toml"
    config.write_text(f'[sources.code]\ntype = "git"\npaths = ["{repo.path}"]\n')
    roster = env / "team.toml"
    roster.write_text(
        '[[people]]\nname = "Ada Lovelace"\nemails = ["ada@x.io"]\n'
        '[[people]]\nname = "Bob Builder"\nemails = ["bob@x.io"]\n[people.sources.code]\npahts = ["."]\n'
    )
    code, out, _ = run(capsys, "team", str(roster), "--out", str(env / "out"), "--config", str(config))
    assert code == 3
    bob = next(line for line in out.splitlines() if "Bob Builder" in line)
    assert "failed" in bob and "unknown key `sources.code.pahts`; did you mean `paths`?" in bob
    assert (env / "out" / "ada-lovelace.md").exists() and not (env / "out" / "bob-builder.md").exists()


# ---- outputs: symlinks, devices, a full disk --------------------------------------------------------


def test_out_through_a_symlink_updates_its_target(
    capsys: pytest.CaptureFixture[str], repo: GitRepo, env: Path
) -> None:
    target = env / "archive" / "2026-h2.md"
    target.parent.mkdir()
    target.write_text("old")
    link = env / "latest.md"
    link.symlink_to(target)
    code, _, err = run(capsys, "--since", "2w", "--repo", str(repo.path), "--out", str(link))
    assert code == 0, err
    assert link.is_symlink() and target.read_text().startswith("# Impact report")
    assert sorted(p.name for p in target.parent.iterdir()) == ["2026-h2.md"]


def test_out_dev_stdout_writes_into_the_pipe_behind_it(repo: GitRepo, env: Path) -> None:
    """/dev/stdout is a symlink to /proc/self/fd/1, here a pipe: it is written to, never replaced."""
    args = ["--since", "2w", "--repo", str(repo.path), "--out", "/dev/stdout", "--format", "json"]
    done = subprocess.run(
        [sys.executable, "-m", "impact_miner", *args], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    assert len(json.loads(done.stdout)["evidence"]) == 2


def test_out_to_a_full_device_is_one_line_and_exit_2(
    capsys: pytest.CaptureFixture[str], repo: GitRepo, env: Path
) -> None:
    full = device(env / "full.md", 1, 7)
    kept = env / "r.json"
    kept.write_text("{}")
    code, out, err = run(
        capsys, "--since", "2w", "--repo", str(repo.path), "--out", str(full), "--out", str(kept)
    )
    assert code == 2 and out == ""
    assert one_line_error(err) == (
        f"mine: error: cannot write {full}: no space left on the device; free some space and run again "
        "(no file was changed)"
    )
    assert kept.read_text() == "{}" and full.is_char_device()


def test_stdout_on_a_full_disk_is_one_line_and_exit_2(repo: GitRepo, env: Path) -> None:
    if not Path("/dev/full").is_char_device():
        pytest.skip("needs /dev/full (Linux)")
    with open("/dev/full", "w") as full:
        done = subprocess.run(
            [sys.executable, "-m", "impact_miner", "--since", "2w", "--repo", str(repo.path)],
            stdout=full,
            stderr=subprocess.PIPE,
            text=True,
            timeout=60,
        )
    assert done.returncode == 2
    assert one_line_error(done.stderr) == (
        "mine: error: cannot write to standard output: no space left on the device; free some space or use "
        "--out FILE"
    )


# ---- terminal escape sequences in untrusted text ----------------------------------------------------

HOSTILE = "Fix search \x1bc\x1b[2J\x1b]0;pwned\x07 \x9b31m quickly"
CONTROLS = ("\x1b", "\x07", "\x9b")


@pytest.fixture
def hostile(env: Path) -> GitRepo:
    """A repository whose commit subject tries to reset the screen, clear it and set the window title."""
    repo = GitRepo.init(env / "web", user_email=ADA[1], home=env / "home")
    repo.commit(HOSTILE, {"s.py": "a\n"}, author=ADA, when=NOW - timedelta(days=2))
    return repo


@pytest.mark.parametrize(
    "args",
    [[], ["--format", "csv"], ["--format", "html"], ["evidence"], ["evidence", "--format", "csv"]],
    ids=["markdown", "csv", "html", "evidence-table", "evidence-csv"],
)
def test_no_control_character_reaches_stdout(
    capsys: pytest.CaptureFixture[str], hostile: GitRepo, args: list[str]
) -> None:
    code, out, err = run(capsys, *args, "--since", "2w", "--repo", str(hostile.path))
    assert code == 0, err
    assert "Fix search" in out and "quickly" in out
    assert not any(c in out for c in CONTROLS), repr(out)


def test_json_keeps_the_text_escaped_and_files_keep_what_their_format_can_carry(
    capsys: pytest.CaptureFixture[str], hostile: GitRepo, env: Path
) -> None:
    code, out, _ = run(capsys, "--since", "2w", "--repo", str(hostile.path), "--format", "json")
    assert code == 0
    assert not any(c in out for c in CONTROLS) and "\\u001b" in out and "\\u009b" in out
    assert json.loads(out)["evidence"][0]["title"] == HOSTILE  # lossless
    outs = ["--out", str(env / "r.md"), "--out", str(env / "r.csv"), "--out", str(env / "r.json")]
    code, _, _ = run(capsys, "--since", "2w", "--repo", str(hostile.path), *outs, "--evidence")
    assert code == 0
    assert not any(c in (env / "r.md").read_text() for c in CONTROLS)  # Markdown is read in terminals
    assert HOSTILE in (env / "r.evidence.csv").read_text()  # a CSV cell carries it, quoted
    assert json.loads((env / "r.json").read_text())["evidence"][0]["title"] == HOSTILE


def test_errors_on_stderr_carry_no_control_characters(
    capsys: pytest.CaptureFixture[str], repo: GitRepo, env: Path
) -> None:
    config = env / "config.toml"
    command = "printf 'no token\\\\033]0;pwned\\\\007 here' >&2; exit 1"  # printf sees \033
    config.write_text(f'[sources.code]\ntype = "git"\npaths = ["{repo.path}"]\nweb_url = "cmd:{command}"\n')
    code, _, err = run(capsys, "--since", "2w", "--config", str(config))
    assert code == 2
    assert one_line_error(err).endswith("failed: no token]0;pwned here")
    assert not any(c in err for c in CONTROLS), repr(err)


# ---- a journal that cannot take the run ---------------------------------------------------------------


def test_a_full_journal_keeps_the_report_and_earlier_runs_and_exits_2(
    capsys: pytest.CaptureFixture[str], repo: GitRepo, isolated: Isolated, monkeypatch: pytest.MonkeyPatch
) -> None:
    import sqlite3

    from impact_miner.journal import Journal

    journal = Journal(isolated.journal)
    code, _, err = run(capsys, "--since", "2w", "--repo", str(repo.path), "--save")
    assert code == 0, err
    before = [(r.id, [s.text for s in r.statements]) for r in journal.runs()]
    repo.commit("SEARCH-1: long notes\n\n" + "why " * 3000, {"n.py": "c\n"}, when=NOW - timedelta(hours=5))
    connect = Journal._connect

    def full(self: Journal) -> sqlite3.Connection:  # SQLite's own "disk is full": no page may be added
        db = connect(self)
        db.execute(f"PRAGMA max_page_count = {db.execute('PRAGMA page_count').fetchone()[0]}")
        return db

    monkeypatch.setattr(Journal, "_connect", full)
    code, out, err = run(capsys, "--since", "2w", "--repo", str(repo.path), "--save", "--format", "json")
    assert code == 2
    assert len(json.loads(out)["evidence"]) == 3  # the report is still delivered
    assert one_line_error(err) == (
        f"mine: error: journal {journal.path}: the run was not saved (database or disk is full); free some "
        "space or set IMPACT_MINER_JOURNAL to a writable place, then save again (earlier runs are intact)"
    )
    monkeypatch.setattr(Journal, "_connect", connect)
    assert [(r.id, [s.text for s in r.statements]) for r in journal.runs()] == before
