"""The use-cases as a library: typed requests in, files written atomically, what to print handed back, and
what happens on the way told to a Listener (``mine`` itself is tested through the CLI everywhere else)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from gitrepo import ADA, GitRepo
from impact_miner.errors import UsageError
from impact_miner.render.formats import RenderOptions
from impact_miner.runspec import RunOptions
from impact_miner.usecases import (
    EvidenceRequest,
    Listener,
    ReportRequest,
    TeamRequest,
    list_evidence,
    make_report,
    source_status,
    team_batch,
)

NOW = datetime.now(UTC).replace(microsecond=0)


@pytest.fixture
def repo(tmp_path: Path) -> GitRepo:
    repo = GitRepo.init(tmp_path / "api", remote="git@github.com:acme/api.git", user_email=ADA[1])
    repo.commit("SEARCH-1: add search", {"s.py": "a\n"}, author=ADA, when=NOW - timedelta(days=3))
    return repo


def test_make_report_writes_every_file_once_and_hands_back_stdout_and_notes(
    repo: GitRepo, tmp_path: Path
) -> None:
    warned: list[str] = []
    outs = (str(tmp_path / "r.json"), str(tmp_path / "r.md"), "-")
    request = ReportRequest(RunOptions(repos=(str(repo.path),)), outs, "html", RenderOptions(evidence=True))
    outcome = make_report(request, Listener(warn=warned.append))
    assert json.loads((tmp_path / "r.json").read_text())["projects"][0]["title"] == "SEARCH-1: Add search"
    assert (tmp_path / "r.md").read_text().startswith("# Impact report")
    [page] = outcome.stdout
    assert page.startswith(b"<!DOCTYPE html>") and not outcome.binary
    assert outcome.notes == [f"Wrote {tmp_path / 'r.json'}", f"Wrote {tmp_path / 'r.md'}"]
    assert warned == [
        "--evidence only adds the CSV evidence appendix; no CSV output was asked for"
    ]
    assert outcome.unsaved is None and not outcome.report.partial


def test_make_report_refuses_docx_on_a_terminal_before_fetching(repo: GitRepo, tmp_path: Path) -> None:
    nowhere = RunOptions(repos=(str(tmp_path / "nowhere"),))  # never read: the output is refused first
    with pytest.raises(UsageError, match=r"^DOCX is binary: use --out r.docx, or redirect stdout"):
        make_report(ReportRequest(nowhere, format="docx", stdout_is_terminal=True))
    outcome = make_report(ReportRequest(RunOptions(repos=(str(repo.path),)), format="docx"))
    assert outcome.binary and outcome.stdout[0][:2] == b"PK"  # a .docx package, for a pipe


def test_list_evidence_to_one_file_and_the_model_summary_hook(repo: GitRepo, tmp_path: Path) -> None:
    out = tmp_path / "e.csv"
    outcome = list_evidence(EvidenceRequest(RunOptions(repos=(str(repo.path),)), (str(out),), "csv"))
    assert outcome.stdout == [] and outcome.notes == [f"Wrote {out}"]
    assert "SEARCH-1: add search" in out.read_text()
    with pytest.raises(UsageError, match="mine evidence writes one file"):
        list_evidence(EvidenceRequest(outs=("a.csv", "b.csv")))


def test_source_status_and_team_batch_read_the_config(tmp_path: Path, repo: GitRepo) -> None:
    config = tmp_path / "lead.toml"
    code = f'[sources.code]\ntype = "git"\npaths = ["{repo.path}"]\n'
    config.write_text(code + '\n[sources.x]\ntype = "nope"\n')
    path, states = source_status(str(config))
    assert path == config
    by_type = {s.type: s.state for s in states}
    assert by_type["git"] == "configured: code" and by_type["nope"] == "unknown type"
    roster = tmp_path / "team.csv"
    roster.write_text("name,emails\nAda Lovelace,ada@x.io\n")
    config.write_text(code)
    request = TeamRequest(str(roster), str(tmp_path / "out"), RunOptions(config=str(config)), ("md",))
    batch = team_batch(request)
    assert batch.formats == ("markdown",) and [m.name for m in batch.roster.members] == ["Ada Lovelace"]
    assert batch.base.time_range.spec == "6m"
