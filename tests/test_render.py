"""Renderers: JSON schema shape, Markdown content and escaping, evidence table, atomic writes."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from impact_miner.atomic import write_files
from impact_miner.errors import UsageError
from impact_miner.model import Evidence, Person, Project, Report, SourceReport, TimeRange, Writer
from impact_miner.render.evidence import render_evidence
from impact_miner.render.json import render_json
from impact_miner.render.markdown import render_markdown

UTC = UTC
SINCE = datetime(2026, 11, 15, tzinfo=UTC)


def sample_report() -> Report:
    commit = Evidence(
        id="git:acme/api@" + "a" * 40,
        source="git",
        kind="commit",
        title="Move index merges off the request path <script>alert(1)</script> [x](http://evil)",
        url="https://github.com/acme/api/commit/" + "a" * 40,
        completed_at=SINCE + timedelta(days=3, hours=4),
        repo="acme/api",
        refs=["SEARCH-88"],
        additions=300,
        deletions=80,
        files=7,
        project_id="search-88",
    )
    local = Evidence(
        id="git:notes@" + "b" * 40,
        source="git",
        kind="commit",
        title="Write notes",
        url="notes@" + "b" * 40,
        completed_at=SINCE + timedelta(days=5),
        repo="notes",
        additions=1,
        deletions=0,
        files=1,
        project_id="notes",
    )
    projects = [
        Project(id="search-88", title="SEARCH-88: Move index merges", evidence_ids=[commit.id],
                statement="Delivered it.", verified=True),
        Project(id="notes", title="Write notes (notes)", evidence_ids=[local.id], statement="Wrote notes.",
                verified=False, problems=["number 9 not in evidence"]),
    ]  # fmt: skip
    return Report(
        person=Person(name="Ada", emails=["ada@acme.io"], logins={"github": "ada"}),
        range=TimeRange(SINCE, SINCE + timedelta(days=14), "2w"),
        writer=Writer(),
        coverage=[SourceReport("git", "ok", 2, "2 commits", "git")],
        projects=projects,
        evidence=[commit, local],
    )


def test_json_follows_the_report_schema() -> None:
    data = json.loads(render_json(sample_report()))
    assert data["schema"] == "impact-miner/report@1"
    assert data["person"] == {"name": "Ada", "identities": {"git": ["ada@acme.io"], "github": "ada"}}
    assert data["range"] == {
        "spec": "2w",
        "since": "2026-11-15T00:00:00+00:00",
        "until": "2026-11-29T00:00:00+00:00",
    }
    assert data["writer"] == {"name": "offline", "model": None, "prompt_version": None}
    assert data["coverage"] == [
        {"source": "git", "type": "git", "status": "ok", "items": 2, "detail": "2 commits"}
    ]
    project_keys = {
        "id",
        "title",
        "statement",
        "kind",
        "competencies",
        "competency_reasons",
        "keys",
        "evidence_ids",
        "metrics",
        "verified",
        "problems",
    }
    assert all(set(p) == project_keys for p in data["projects"])
    assert data["projects"][1]["problems"] == ["number 9 not in evidence"]
    first = data["evidence"][0]
    assert first["completed_at"] == "2026-11-18T04:00:00+00:00"
    assert first["project_id"] == "search-88"
    assert {"id", "source", "kind", "title", "body", "url", "author", "repo", "created_at", "completed_at",
            "refs", "labels", "additions", "deletions", "files", "extra"} <= set(first)  # fmt: skip


def test_markdown_has_header_projects_links_and_coverage() -> None:
    text = render_markdown(sample_report())
    assert text.startswith("# Impact report: Ada\n")
    assert "2026-11-15 00:00 +0000 → 2026-11-29 00:00 +0000 (`2w`, end excluded)" in text
    assert "## 1. SEARCH-88: Move index merges" in text
    assert "(https://github.com/acme/api/commit/" + "a" * 40 + ")" in text
    assert "*Verified against its evidence.*" in text
    assert "*Not verified:* number 9 not in evidence" in text
    assert "- Write notes (`notes@" + "b" * 40 + "`)" in text
    assert "| git | git | ok | 2 | 2 commits |" in text


def test_markdown_escapes_untrusted_titles() -> None:
    text = render_markdown(sample_report())
    assert "<script>" not in text
    assert "\\[x\\](http://evil)" in text  # brackets escaped: text, not a link
    assert "\\<script\\>" in text


def test_evidence_csv_and_json() -> None:
    report = sample_report()
    rows = list(csv.DictReader(io.StringIO(render_evidence(report, "csv"))))
    assert [r["id"] for r in rows] == [e.id for e in report.evidence]
    assert rows[0]["refs"] == "SEARCH-88"
    assert json.loads(render_evidence(report, "json"))[1]["url"] == "notes@" + "b" * 40
    table = render_evidence(report, "table")
    assert "acme/api" in table and "Write notes" in table


def test_write_files_replaces_and_leaves_no_temp_files(tmp_path: Path) -> None:
    target = tmp_path / "report.md"
    target.write_text("old")
    write_files([(target, b"new")])
    assert target.read_text() == "new"
    assert [p.name for p in tmp_path.iterdir()] == ["report.md"]
    with pytest.raises(UsageError, match="No such file or directory"):
        write_files([(tmp_path / "missing-dir" / "x.md", b"x")])
