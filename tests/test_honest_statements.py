"""Statements a careful reviewer would sign, on real repositories of our own: each defect found on real
histories (titles and totals of one commit claimed for a group, template verbs glued to raw subjects,
file counts summed per commit, competency tags the evidence does not show, what a review needs left
out, a false subject shown as verified) reproduced and checked through the whole pipeline."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from docx import Document

from gitrepo import ADA, BOB, GitRepo
from impact_miner.facts import project_facts
from impact_miner.model import Person, Project, Report, SourceSection, TimeRange
from impact_miner.outputs import render_output
from impact_miner.pipeline import build_report
from impact_miner.registry import available
from impact_miner.runspec import RunSpec
from impact_miner.verifier import check_subject, verify_statement

DAY = timedelta(days=1)
START = datetime(2024, 4, 1, tzinfo=UTC)
APRIL = TimeRange(START, datetime(2024, 5, 1, tzinfo=UTC), "2024-04")


def report_of(repo: GitRepo, time_range: TimeRange = APRIL) -> Report:
    section = SourceSection("code", "git", {"paths": [str(repo.path)]})
    spec = RunSpec(Person(emails=[ADA[1]]), time_range, [(available()["git"], section)])
    return build_report(spec)


def by_title(report: Report) -> dict[str, Project]:
    return {p.title: p for p in report.projects}


def lines(n: int, word: str = "line") -> str:
    return "".join(f"{word} {i}\n" for i in range(n))


def test_a_small_commit_never_titles_a_big_group_and_every_number_is_its_own(tmp_path: Path) -> None:
    """“Documented blueprint static folder … across 3 commits (+3899/−2621)”: a 26-line docs fix
    credited with a tutorial rewrite. Now the title is the part that holds the work, the docs fix keeps
    its own numbers, and a release and a revert in the same fortnight are projects of their own."""
    repo = GitRepo.init(tmp_path / "flask", remote="https://github.com/acme/flask.git")
    repo.commit(
        "Start", {"docs/tutorial/index.rst": lines(400, "old"), "src/app.py": "ok\n"}, when=START - DAY
    )
    fix = repo.commit(
        "document blueprint static folder without prefix (DOCS-7)", {"docs/blueprints.rst": lines(26)},
        when=START + DAY,
    )  # fmt: skip
    rewrite = repo.commit(
        "rewrite the tutorial (DOCS-7)", {"docs/tutorial/index.rst": lines(3000, "new")}, when=START + 2 * DAY
    )
    repo.commit("tutorial: fix a link (DOCS-7)", {"docs/tutorial/links.rst": lines(3)}, when=START + 3 * DAY)
    repo.commit(
        "release version 2.8.0", {"CHANGES.rst": lines(60), "src/app.py": "2.8.0\n"}, when=START + 4 * DAY
    )
    repo.commit(
        'Revert "Clarify the contract of Response.ok"', {"src/app.py": "ok\nok\n"}, when=START + 5 * DAY
    )
    report = report_of(repo)
    projects = by_title(report)
    assert sorted(projects) == [
        "DOCS-7: Rewrite the tutorial",
        "Released 2.8.0",
        'Revert "Clarify the contract of Response.ok"',
    ]
    docs = projects["DOCS-7: Rewrite the tutorial"]
    assert docs.statement.startswith("Rewrote the tutorial across 3 commits (+3029/−400 lines, 3 files)")
    assert "“Document blueprint static folder without prefix” (+26)" in docs.statement
    assert docs.verified, docs.problems
    revert = projects['Revert "Clarify the contract of Response.ok"']
    assert revert.statement.startswith(
        'Reverted "Clarify the contract of Response.ok" (1 commit, +2/−1 lines'
    )
    evidence = {e.id: e for e in report.evidence}
    for project in report.projects:
        items = [evidence[i] for i in project.evidence_ids]
        assert check_subject(project.statement, project, items) == [], project.title
    assert f"git:acme/flask@{fix}" in docs.evidence_ids and f"git:acme/flask@{rewrite}" in docs.evidence_ids


def test_subjects_are_quoted_unless_they_start_with_a_plain_imperative(tmp_path: Path) -> None:
    """“Delivered be smarter about adding ".cli" … python -m flask.cli raises …”; “Added and use …”."""
    repo = GitRepo.init(tmp_path / "flask", remote="https://github.com/acme/flask.git")
    repo.commit(
        'be smarter about adding ".cli" to reloader command\n\npython -m flask.cli raises an import warning',
        {"src/cli.py": lines(5)}, when=START + DAY,
    )  # fmt: skip
    repo.commit(
        "Add and use org.apache.commons.lang3.SystemProperties",
        {"src/props.py": lines(9)},
        when=START + 9 * DAY,
    )
    statements = sorted(p.statement for p in report_of(repo).projects)
    assert statements[0].startswith(
        "Added and used org.apache.commons.lang3.SystemProperties (1 commit, +9 lines"
    )
    assert statements[1].startswith(
        '“Be smarter about adding ".cli" to reloader command” (1 commit, +5 lines'
    )
    assert not any("Delivered" in s or "python -m" in s for s in statements)


def test_files_are_counted_once_across_a_pull_request(tmp_path: Path) -> None:
    """“26 files” for 21: three commits of one pull request touching the same files."""
    repo = GitRepo.init(tmp_path / "api", remote="https://github.com/acme/api.git")
    repo.commit("Start", {"README.md": "x\n"}, when=START - DAY)
    repo.checkout("cache", create=True)
    repo.commit("add the cache", {"src/cache.py": "1\n", "src/store.py": "1\n"}, when=START + DAY)
    repo.commit("tune the cache", {"src/cache.py": "2\n", "src/store.py": "2\n"}, when=START + DAY)
    repo.commit("test the cache", {"src/cache.py": "3\n", "tests/test_cache.py": "1\n"}, when=START + DAY)
    repo.checkout("main")
    repo.merge("cache", "Merge pull request #8 from ada/cache\n\nCache search results", when=START + 2 * DAY)
    [project] = report_of(repo).projects
    assert project.statement.startswith(
        "Cached search results (pull request #8: 3 commits, +6/−3 lines, 3 files) in acme/api"
    )  # 3 distinct files, not 6
    assert project.verified, project.problems


def test_competency_tags_carry_their_reason_in_every_format(tmp_path: Path) -> None:
    """No "Frugality" on tick edits, "Have Backbone" on a release or "Hire and Develop the Best" on docs:
    a tag needs a signal, and every format shows its reason."""
    repo = GitRepo.init(tmp_path / "api", remote="https://github.com/acme/api.git")
    repo.commit("Reduce memory of the tick loop", {"src/tick.py": lines(4)}, when=START + DAY)
    repo.commit("release version 3.1.0", {"CHANGES.rst": lines(3)}, when=START + 2 * DAY)
    repo.commit("Write a mentoring guide and tutorial", {"docs/guide.md": lines(8)}, when=START + 3 * DAY)
    repo.commit(
        "Test the parser", {"tests/test_parser.py": lines(6), "src/parser.py": "x\n"}, when=START + 4 * DAY
    )
    report = report_of(repo)
    tags = {p.title: p.competency_reasons for p in report.projects}
    assert tags == {
        "Reduce memory of the tick loop": {},
        "Released 3.1.0": {"Deliver Results": "released 3.1.0"},
        "Write a mentoring guide and tutorial": {"Earn Trust": "1 commit of documentation"},
        "Test the parser": {"Insist on the Highest Standards": "the commit adds or changes tests"},
    }
    shown = "Insist on the Highest Standards — the commit adds or changes tests"
    assert shown in render_output(report, "markdown").decode()
    assert shown in render_output(report, "html").decode()
    rows = list(csv.DictReader(io.StringIO(render_output(report, "csv").decode("utf-8-sig"))))
    assert any(shown in row["competencies"] for row in rows)
    data = json.loads(render_output(report, "json"))
    assert {"Insist on the Highest Standards": "the commit adds or changes tests"} in [
        p["competency_reasons"] for p in data["projects"]
    ]
    text = "\n".join(p.text for p in Document(io.BytesIO(render_output(report, "docx"))).paragraphs)
    assert shown in text


def test_what_a_reviewer_looks_for_is_said(tmp_path: Path) -> None:
    """Pull request numbers and the issues they close, work authored in February that landed in April,
    a release shipped, and someone else's pull request merged."""
    repo = GitRepo.init(tmp_path / "api", remote="https://github.com/acme/api.git")
    repo.commit("Start", {"README.md": "x\n"}, when=START - 60 * DAY)
    repo.checkout("parser", create=True)
    repo.commit("Rewrite the parser\n\nCloses #1992, #2012", {"src/parser.py": lines(40)},
                when=datetime(2024, 2, 14, 9, tzinfo=UTC))  # fmt: skip
    repo.checkout("main")
    repo.merge("parser", "Merge pull request #2100 from ada/parser\n\nRewrite the parser",
               when=datetime(2024, 4, 9, 9, tzinfo=UTC))  # fmt: skip
    repo.checkout("bob/fix", create=True)
    repo.commit("Fix the lexer", {"src/lexer.py": lines(2)}, author=BOB, when=START + 2 * DAY)
    repo.checkout("main")
    repo.merge("bob/fix", "Merge pull request #2101 from bob/fix\n\nFix the lexer", when=START + 3 * DAY)
    repo.commit("release version 4.0.0", {"CHANGES.rst": lines(2)}, when=START + 20 * DAY)
    projects = by_title(report_of(repo))
    assert projects["Rewrite the parser"].statement == (
        "Rewrote the parser (pull request #2100: 1 commit, +40 lines, 1 file) in acme/api authored "
        "2024-02-14, merged 2024-04-09; closes #1992 and #2012."
    )
    assert projects["Reviews and merges of others' work in acme/api"].statement == (
        "Merged 1 pull request by others in acme/api on 2024-04-04: #2101 “Fix the lexer” by Bob Builder."
    )
    assert projects["Released 4.0.0"].statement.startswith("Released 4.0.0 (1 commit, +2 lines, 1 file)")
    assert all(p.verified for p in projects.values())


def test_a_true_number_and_link_with_a_false_subject_is_not_verified(tmp_path: Path) -> None:
    repo = GitRepo.init(tmp_path / "flask", remote="https://github.com/acme/flask.git")
    repo.commit("Start", {"docs/tutorial/index.rst": lines(200, "old")}, when=START - DAY)
    fix = repo.commit("document blueprint static folder without prefix (DOCS-7)", {"docs/bp.rst": lines(26)},
                      when=START + DAY)  # fmt: skip
    repo.commit(
        "rewrite the tutorial (DOCS-7)", {"docs/tutorial/index.rst": lines(3000, "new")}, when=START + 2 * DAY
    )
    repo.commit("rewrite the quickstart (DOCS-7)", {"docs/quick.rst": lines(800)}, when=START + 3 * DAY)
    report = report_of(repo)
    [project] = report.projects
    items = [e for e in report.evidence if e.id in project.evidence_ids]
    facts = project_facts(project, items)
    url = next(e.url for e in items if e.extra["sha"] == fix)
    false = (
        f"Documented blueprint static folder without prefix across 3 commits (+{facts['additions']}/−"
        f"{facts['deletions']} lines) in acme/flask [DOCS-7], see {url}."
    )
    problems = verify_statement(false, project.evidence_ids, project, items, facts)
    assert len(problems) == 1 and problems[0].startswith(
        "statement is about part of the project only ('Document blueprint static folder without prefix': "
        "33% of its items, 1% of its changed lines)"
    )
    named = false.replace(
        "Documented blueprint static folder without prefix",
        "Documented a blueprint option, rewrote the tutorial and the quickstart",
    )
    assert verify_statement(named, project.evidence_ids, project, items, facts) == []
    shown = Project(**{**project.__dict__, "statement": false, "verified": False, "problems": problems})
    alone = Report(report.person, report.range, report.writer, report.coverage, [shown], report.evidence)
    assert (
        "*Not verified:* statement is about part of the project only"
        in render_output(alone, "markdown").decode()
    )
