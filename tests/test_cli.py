"""The `mine` command end to end, on real temporary git repositories.

The CLI reads the real clock, so commits are dated relative to now; everything else is fixed.
"""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from clirun import run_mine as run
from gitrepo import ADA, BOB, DEPENDABOT, GitRepo

NOW = datetime.now(UTC).replace(microsecond=0)




@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The temp dir as the working directory (conftest isolates the environment); returns it."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.fixture
def repo(env: Path) -> tuple[GitRepo, dict[str, str]]:
    """A repository whose user.email is Ada's, with work by Ada, Bob, a bot and a merge."""
    repo = GitRepo.init(
        env / "api", remote="git@github.com:acme/api.git", user_email=ADA[1], home=env / "home"
    )
    shas = {
        "old": repo.commit("Old work", {"a.txt": "1\n"}, author=ADA, when=NOW - timedelta(days=40)),
        "search": repo.commit(
            "SEARCH-88: move index merges off the request path (#41)",
            {"search/index.py": "a\nb\nc\n"},
            author=ADA,
            when=NOW - timedelta(days=3),
        ),
        "bob": repo.commit("Bob's change", {"b.txt": "b\n"}, author=BOB, when=NOW - timedelta(days=2)),
        "bot": repo.commit(
            "Bump requests from 2.31 to 2.32",
            {"req.txt": "r\n"},
            author=DEPENDABOT,
            when=NOW - timedelta(days=2),
        ),
        "cache": repo.commit(
            "SEARCH-88: cache merged segments",
            {"search/cache.py": "x\ny\n"},
            author=ADA,
            when=NOW - timedelta(days=1),
        ),
    }
    return repo, shas


def test_report_json_lists_exactly_the_authors_commits_in_range(
    capsys: pytest.CaptureFixture[str], repo: tuple[GitRepo, dict[str, str]]
) -> None:
    git_repo, shas = repo
    code, out, err = run(capsys, "--since", "2w", "--repo", str(git_repo.path), "--format", "json")
    assert code == 0, err
    report = json.loads(out)
    assert report["schema"] == "impact-miner/report@1"
    assert {e["id"] for e in report["evidence"]} == {
        f"git:acme/api@{shas['search']}",
        f"git:acme/api@{shas['cache']}",
    }
    assert report["person"]["identities"] == {"git": [ADA[1]]}
    assert report["range"]["spec"] == "2w"
    assert [p["verified"] for p in report["projects"]] == [True]
    assert report["projects"][0]["title"].startswith("SEARCH-88: ")
    assert report["coverage"][0]["status"] == "ok"


def test_markdown_report_names_and_links_the_commit(
    capsys: pytest.CaptureFixture[str], repo: tuple[GitRepo, dict[str, str]]
) -> None:
    git_repo, shas = repo
    code, out, _ = run(capsys, "--since", "2w", "--repo", str(git_repo.path))
    assert code == 0
    assert "SEARCH-88: move index merges off the request path (#41)" in out.replace("\\", "")
    assert f"(https://github.com/acme/api/commit/{shas['search']})" in out
    assert "## Coverage" in out


def test_runs_on_the_current_repository_by_default(
    capsys: pytest.CaptureFixture[str], repo: tuple[GitRepo, dict[str, str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    git_repo, _ = repo
    monkeypatch.chdir(git_repo.path / "search")
    code, out, _ = run(capsys, "--since", "2w", "--format", "json")
    assert code == 0
    assert len(json.loads(out)["evidence"]) == 2


def test_author_option_overrides_the_identity(
    capsys: pytest.CaptureFixture[str], repo: tuple[GitRepo, dict[str, str]]
) -> None:
    git_repo, shas = repo
    code, out, _ = run(
        capsys, "--since", "2w", "--repo", str(git_repo.path), "--author", BOB[1], "--format", "json"
    )
    assert code == 0
    assert [e["id"] for e in json.loads(out)["evidence"]] == [f"git:acme/api@{shas['bob']}"]


def test_evidence_command_and_dry_run(
    capsys: pytest.CaptureFixture[str], repo: tuple[GitRepo, dict[str, str]]
) -> None:
    git_repo, shas = repo
    code, out, _ = run(capsys, "evidence", "--since", "2w", "--repo", str(git_repo.path), "--format", "csv")
    assert code == 0
    rows = list(csv.DictReader(io.StringIO(out)))
    assert {r["id"] for r in rows} == {f"git:acme/api@{shas['search']}", f"git:acme/api@{shas['cache']}"}
    assert all(r["project_id"] and r["url"].startswith("https://github.com/acme/api/commit/") for r in rows)
    code, out, _ = run(capsys, "--dry-run", "--since", "2w", "--repo", str(git_repo.path))
    assert code == 0
    assert "cache merged segments" in out and "Verified" not in out
    code, out, _ = run(capsys, "--since", "2w", "--repo", str(git_repo.path), "evidence", "--format", "json")
    assert code == 0
    assert {row["id"] for row in json.loads(out)} == {
        f"git:acme/api@{shas['search']}",
        f"git:acme/api@{shas['cache']}",
    }


def test_out_writes_the_file_and_infers_json(
    capsys: pytest.CaptureFixture[str], repo: tuple[GitRepo, dict[str, str]], env: Path
) -> None:
    git_repo, _ = repo
    target = env / "report.json"
    code, out, _ = run(capsys, "--since", "2w", "--repo", str(git_repo.path), "--out", str(target))
    assert code == 0 and out == ""
    assert json.loads(target.read_text())["schema"] == "impact-miner/report@1"


def test_failing_source_still_renders_and_exits_3(
    capsys: pytest.CaptureFixture[str], repo: tuple[GitRepo, dict[str, str]], env: Path
) -> None:
    git_repo, _ = repo
    config = env / "config.toml"
    config.write_text(
        f'[sources.good]\ntype = "git"\npaths = ["{git_repo.path}"]\n'
        f'[sources.broken]\ntype = "git"\npaths = ["{git_repo.path}"]\nrevs = "no-such-branch"\n'
    )
    code, out, err = run(capsys, "--since", "2w", "--config", str(config), "--format", "json")
    assert code == 3
    report = json.loads(out)
    statuses = {c["source"]: c["status"] for c in report["coverage"]}
    assert statuses == {"good": "ok", "broken": "failed"}
    assert len(report["evidence"]) == 2
    assert "broken: failed" in err
    assert "Traceback" not in err


def one_line_error(err: str) -> str:
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert lines[0].startswith("mine: error: ")
    assert "Traceback" not in err
    return lines[0]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--since", "banana"], "invalid time spec 'banana'; accepted forms: Nd, Nw"),
        (["--since", "2026-11-20", "--until", "2026-11-10"], "must be after --since"),
        (["--since", "2w", "--tz", "Mars/Olympus"], "unknown time zone"),
    ],
)
def test_bad_time_input_exits_2_with_one_line(
    capsys: pytest.CaptureFixture[str], repo: tuple[GitRepo, dict[str, str]], args: list[str], message: str
) -> None:
    git_repo, _ = repo
    code, out, err = run(capsys, *args, "--repo", str(git_repo.path))
    assert code == 2
    assert message in one_line_error(err)
    assert out == ""


def test_non_git_path_and_empty_repository_exit_2(capsys: pytest.CaptureFixture[str], env: Path) -> None:
    plain = env / "plain"
    plain.mkdir()
    code, _, err = run(capsys, "--repo", str(plain))
    assert code == 2
    assert "is not a git repository" in one_line_error(err)
    empty = GitRepo.init(env / "empty", user_email=ADA[1], home=env / "home")
    code, _, err = run(capsys, "--repo", str(empty.path))
    assert code == 2
    assert "no commits" in one_line_error(err)


@pytest.mark.parametrize(
    ("config_text", "message"),
    [
        ("[me\nname = 'x'", "invalid TOML"),
        ('[sources.x]\ntype = "gitlab-on-mars"\n', "unknown source type 'gitlab-on-mars'"),
        (
            '[sources.x]\ntype = "git"\ntoken = "env:IMPACT_MINER_TEST_UNSET"\n',
            "IMPACT_MINER_TEST_UNSET is not set",
        ),
    ],
)
def test_bad_config_exits_2_with_one_line(
    capsys: pytest.CaptureFixture[str], env: Path, config_text: str, message: str
) -> None:
    config = env / "config.toml"
    config.write_text(config_text)
    code, _, err = run(capsys, "--config", str(config))
    assert code == 2
    assert message in one_line_error(err)


def test_missing_named_config_exits_2(capsys: pytest.CaptureFixture[str], env: Path) -> None:
    code, _, err = run(capsys, "--config", str(env / "missing.toml"))
    assert code == 2
    assert "mine init" in one_line_error(err)


def test_init_writes_once_and_sources_lists_connectors(capsys: pytest.CaptureFixture[str], env: Path) -> None:
    config = env / "cfg" / "config.toml"
    code, out, _ = run(capsys, "init", "--config", str(config))
    assert code == 0 and config.exists()
    code, _, err = run(capsys, "init", "--config", str(config))
    assert code == 2
    assert "already exists" in one_line_error(err)
    code, out, _ = run(capsys, "sources", "--config", str(config))
    assert code == 0
    assert "git" in out and "configured: code" in out


def test_debug_shows_the_traceback(capsys: pytest.CaptureFixture[str], env: Path) -> None:
    code, _, err = run(capsys, "--since", "banana", "--debug")
    assert code == 2
    assert "Traceback" in err and "mine: error:" in err


def run_subprocess(*args: str, **kwargs: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "impact_miner", *args], capture_output=True, text=True, **kwargs
    )


def test_console_error_from_a_real_process() -> None:
    done = run_subprocess("--since", "banana")
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1
    assert "accepted forms" in done.stderr


def test_help_imports_no_heavy_modules() -> None:
    probe = (
        "import contextlib, io, sys\nfrom impact_miner.cli import main\n"
        "with contextlib.redirect_stdout(io.StringIO()), contextlib.suppress(SystemExit):\n"
        "    main(['--help'])\n"
        "heavy = ('pandas', 'litellm', 'git', 'github', 'jira', 'requests')\n"
        "print(sorted(m for m in heavy if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
