"""`mine review`: saved runs plus fresh evidence for the gaps, evidence once, projects merged, edits kept."""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from clirun import run_mine as run
from gitrepo import ADA, GitRepo
from impact_miner.journal import Journal, SavedStatement
from impact_miner.model import Evidence, FetchResult, Person, Project, SourceReport, SourceSection, TimeRange
from impact_miner.pipeline import build_report
from impact_miner.registry import Connector, FetchContext
from impact_miner.review import apply_edits, compose_review, covered, gaps
from impact_miner.runspec import RunSpec
from isolation import Isolated

T0 = datetime(2026, 6, 1, tzinfo=UTC)
DAY = timedelta(days=1)
ME = Person(name="Ada Lovelace", emails=["ada@x.io"])


def commit(n: int, title: str, day: float, refs: tuple[str, ...] = ()) -> Evidence:
    return Evidence(
        id=f"git:acme/api@{n:040x}",
        source="git",
        kind="commit",
        title=title,
        url=f"https://github.com/acme/api/commit/{n:040x}",
        completed_at=T0 + day * DAY,
        repo="acme/api",
        refs=list(refs),
        extra={"top_dir": f"area{n}"},
    )


POOL = [
    commit(1, "SEARCH-88: add the search index", 2, ("SEARCH-88",)),
    commit(2, "Fix login redirect", 5),
    commit(3, "Add billing export", 18),
    commit(4, "SEARCH-88: cache merged segments", 33, ("SEARCH-88",)),
    commit(5, "Document the API", 40),
]


@dataclass
class CountingSource:
    """A connector over a fixed pool that records every range it is asked for."""

    pool: list[Evidence]
    asked: list[tuple[datetime, datetime]] = field(default_factory=list)
    fail: bool = False

    def fetch(
        self, person: Person, period: TimeRange, section: SourceSection, _: FetchContext
    ) -> FetchResult:
        self.asked.append((period.since, period.until))
        if self.fail:
            raise RuntimeError("connection refused")
        found = [e for e in self.pool if e.completed_at in period]
        return FetchResult(found, SourceReport(section.name, "ok", len(found), "", "git"))

    def spec(self, since_day: int, until_day: int, now_day: int | None = None) -> RunSpec:
        connector = Connector(type="git", summary="test", fetch=self.fetch)
        period = TimeRange(T0 + since_day * DAY, T0 + until_day * DAY, f"{since_day}..{until_day}")
        now = T0 + (until_day if now_day is None else now_day) * DAY
        return RunSpec(ME, period, [(connector, SourceSection("code", "git"))], now=now, cache=None)


def save_three_fortnights(journal: Journal, source: CountingSource) -> None:
    for start in (0, 14, 28):
        spec = source.spec(start, start + 14)
        journal.save(build_report(spec), created_at=spec.now)


def test_gaps_of_a_period() -> None:
    period = TimeRange(T0, T0 + 42 * DAY)
    assert gaps(period, []) == [TimeRange(T0, T0 + 42 * DAY, gaps(period, [])[0].spec)]
    covering = [(T0 - DAY, T0 + 14 * DAY), (T0 + 20 * DAY, T0 + 30 * DAY), (T0 + 50 * DAY, T0 + 60 * DAY)]
    assert [(g.since, g.until) for g in gaps(period, covering)] == [
        (T0 + 14 * DAY, T0 + 20 * DAY),
        (T0 + 30 * DAY, T0 + 42 * DAY),
    ]
    assert gaps(period, [(T0, T0 + 42 * DAY)]) == []


def test_three_fortnights_become_one_review_with_the_edit_and_each_item_once(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "journal.sqlite3")
    source = CountingSource(POOL)
    save_three_fortnights(journal, source)
    [search] = [s for s in journal.runs()[0].statements if s.evidence_ids == (POOL[0].id,)]
    journal.edit(search.id, "Built the search index that SEARCH-88 asked for.", edited_at=T0 + 15 * DAY)
    source.asked.clear()

    review = compose_review(source.spec(-7, 42, now_day=43), journal)

    assert source.asked == [(T0 - 7 * DAY, T0)]  # only the week no saved run covered
    assert review.runs == [1, 2, 3]
    ids = [e.id for e in review.report.evidence]
    assert sorted(ids) == sorted(e.id for e in POOL) and len(ids) == len(set(ids))
    [merged] = [p for p in review.report.projects if p.id == "search-88"]
    assert merged.evidence_ids == [POOL[0].id, POOL[3].id]  # one project across runs 1 and 3
    assert merged.statement == "Built the search index that SEARCH-88 asked for."
    assert merged.verified, merged.problems
    assert review.edits_used == [search.id] and review.notes == []
    coverage = {c.source: c for c in review.report.coverage}
    assert (
        coverage["code"].status == "ok" and "saved runs #1, #2, #3 cover the rest" in coverage["code"].detail
    )
    assert coverage["journal"].items == 5


def test_a_source_that_failed_in_a_saved_run_is_fetched_again_for_that_fortnight(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "journal.sqlite3")
    source = CountingSource(POOL)
    save_three_fortnights(journal, source)
    broken = CountingSource(POOL, fail=True)
    spec = broken.spec(42, 56)
    journal.save(build_report(spec), created_at=spec.now)  # the fourth fortnight failed
    source.asked.clear()
    review = compose_review(source.spec(0, 56), journal)
    assert source.asked == [(T0 + 42 * DAY, T0 + 56 * DAY)]
    assert {e.id for e in review.report.evidence} == {e.id for e in POOL}


def test_a_run_never_covers_the_time_after_it_ran(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "journal.sqlite3")
    source = CountingSource(POOL)
    early = source.spec(28, 42, now_day=35)  # saved half way through its fortnight
    journal.save(build_report(early), created_at=early.now)
    assert covered(journal.runs(), "code") == [(T0 + 28 * DAY, T0 + 35 * DAY)]
    source.asked.clear()
    review = compose_review(source.spec(28, 42), journal)
    assert source.asked == [(T0 + 35 * DAY, T0 + 42 * DAY)]
    assert {e.id for e in review.report.evidence} == {POOL[3].id, POOL[4].id}


def test_runs_of_other_people_are_left_out(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "journal.sqlite3")
    source = CountingSource(POOL)
    save_three_fortnights(journal, source)
    bob = CountingSource(POOL)
    spec = bob.spec(0, 42)
    spec.person = Person(name="Bob Builder", emails=["bob@x.io"])
    review = compose_review(spec, journal)
    assert review.runs == [] and bob.asked == [(T0, T0 + 42 * DAY)]


def edit(sid: str, ids: list[str], hour: int) -> SavedStatement:
    run, position = sid.split(".")
    return SavedStatement(
        sid,
        int(run),
        int(position),
        "p",
        "A title",
        f"Edited {sid}.",
        "generated",
        tuple(ids),
        T0 + hour * DAY,
    )


def test_edit_rule_most_evidence_wins_then_latest_and_split_edits_are_not_used() -> None:
    a, b, c = POOL[1], POOL[2], POOL[4]
    projects = [Project("one", "One", [a.id, b.id]), Project("two", "Two", [c.id])]
    chosen, used, notes = apply_edits(
        projects,
        [a, b, c],
        [
            edit("1.1", [a.id], 1),
            edit("2.1", [a.id, b.id], 0),
            edit("3.1", [b.id], 5),
            edit("4.1", [b.id, c.id], 9),
        ],
    )
    assert [p.statement for p in chosen] == ["Edited 2.1.", ""]
    assert used == ["2.1"]
    assert any(n.startswith("edited statement 4.1 (A title) not used") for n in notes)
    assert len(notes) == 3
    _, used, _ = apply_edits(projects, [a, b, c], [edit("1.1", [a.id], 1), edit("5.1", [a.id], 2)])
    assert used == ["5.1"]  # equal evidence: the latest edit wins


# ---- the whole flow through the CLI, on a real repository ------------------------------------------

NOW = datetime.now(UTC).replace(microsecond=0)
EDITOR = """
import sys
path = sys.argv[1]
text = open(path, encoding="utf-8").read()
open(path, "w", encoding="utf-8").write("Built the search index behind SEARCH-88." + text[text.index("\\n"):])
"""




def test_cli_three_saved_fortnights_an_edit_and_a_review(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], isolated: Isolated
) -> None:
    editor = tmp_path / "editor.py"
    editor.write_text(EDITOR)
    monkeypatch.setenv("EDITOR", f"{sys.executable} {editor}")
    repo = GitRepo.init(tmp_path / "api", remote="git@github.com:acme/api.git", home=tmp_path / "home")
    shas = [
        repo.commit(
            "SEARCH-88: add the search index", {"search/index.py": "a\n"}, author=ADA, when=NOW - 38 * DAY
        ),
        repo.commit("Fix login redirect", {"auth/login.py": "b\n"}, author=ADA, when=NOW - 33 * DAY),
        repo.commit("Add billing export", {"billing/export.py": "c\n"}, author=ADA, when=NOW - 20 * DAY),
        repo.commit(
            "SEARCH-88: cache merged segments", {"search/cache.py": "d\n"}, author=ADA, when=NOW - 5 * DAY
        ),
    ]
    common = ("--repo", str(repo.path), "--author", ADA[1], "--format", "json")
    for since, until in (("6w", "4w"), ("4w", "2w"), ("2w", None)):
        code, _, err = run(
            capsys, "--save", "--since", since, *(("--until", until) if until else ()), *common
        )
        assert code == 0, err
        assert "Saved run #" in err
    code, out, _ = run(capsys, "journal", "list")
    assert out.count("\n#") == 3
    [line] = [line for line in out.splitlines() if line.strip().startswith("1.") and "search index" in line]
    statement_id = line.split()[0]
    code, out, err = run(capsys, "journal", "edit", statement_id)
    assert code == 0, err

    code, out, err = run(capsys, "review", "--since", "6w", *common)
    assert code == 0, err
    report = json.loads(out)
    ids = [e["id"] for e in report["evidence"]]
    assert sorted(ids) == sorted(f"git:acme/api@{sha}" for sha in shas)  # each commit exactly once
    [search] = [p for p in report["projects"] if p["id"] == "search-88"]
    assert search["evidence_ids"] == [f"git:acme/api@{shas[0]}", f"git:acme/api@{shas[3]}"]
    assert search["statement"] == "Built the search index behind SEARCH-88."
    assert search["verified"] is True
    assert report["range"]["spec"] == "6w"
    sources = {c["source"]: c for c in report["coverage"]}
    assert sources["journal"]["items"] == 4 and "#1, #2, #3" in sources["journal"]["detail"]

    # A later run of the same fortnight never overwrites the edit.
    code, _, err = run(capsys, "--save", "--since", "6w", "--until", "4w", *common)
    assert code == 0, err
    assert (
        Journal(isolated.journal)
        .statement(statement_id)
        .text.startswith("Built the search index")
    )
    code, out, _ = run(capsys, "review", "--since", "6w", *common)
    assert [p["statement"] for p in json.loads(out)["projects"] if p["id"] == "search-88"] == [
        "Built the search index behind SEARCH-88."
    ]


def test_save_refuses_dry_run(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, _, err = run(capsys, "--save", "--dry-run")
    assert code == 2 and "drop --dry-run" in err
