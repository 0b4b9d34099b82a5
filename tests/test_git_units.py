"""Units of work from real merge topology: pull requests, maintenance branches, squash merges, the
person's merges of others' work, releases, and the hard edges of git histories (shallow clones, odd
bytes, dates before 1973). Every repository here is built with the real ``git``."""

from __future__ import annotations

import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from gitrepo import ADA, BOB, GitRepo
from impact_miner.connectors import git as gitconn
from impact_miner.errors import UsageError
from impact_miner.grouping import group_projects
from impact_miner.model import Evidence, Person, SourceSection, TimeRange
from impact_miner.pipeline import check_sources, gather_evidence
from impact_miner.refs import canonical_ref, extract_refs
from impact_miner.registry import available
from impact_miner.runspec import RunSpec
from impact_miner.topology import parse_merge, release_version

DAY = timedelta(days=1)
FEB = datetime(2024, 2, 14, 10, tzinfo=UTC)
APRIL = TimeRange(datetime(2024, 4, 1, tzinfo=UTC), datetime(2024, 5, 1, tzinfo=UTC), "2024-04")
CAROL = ("Carol Contributor", "carol@x.io")


def section(path: Path, **options: object) -> SourceSection:
    return SourceSection(name="code", type="git", options={"paths": [str(path)], **options})


def fetch(repo: GitRepo, time_range: TimeRange = APRIL, person: Person | None = None) -> list[Evidence]:
    return gitconn.fetch(person or Person(emails=[ADA[1]]), time_range, section(repo.path)).evidence


def by_sha(evidence: list[Evidence]) -> dict[str, Evidence]:
    return {str(e.extra["sha"]): e for e in evidence}


def start(tmp_path: Path, name: str = "api") -> GitRepo:
    repo = GitRepo.init(tmp_path / name, remote=f"git@github.com:acme/{name}.git")
    repo.commit("Initial layout", {"README.md": "# api\n"}, when=FEB - 30 * DAY)
    return repo


# ---- pull requests from merge topology --------------------------------------------------------------


def test_a_pull_request_is_one_unit_that_lands_when_it_is_merged(tmp_path: Path) -> None:
    """Work authored in February and merged in April is April's, as one unit titled by the merge."""
    repo = start(tmp_path)
    repo.checkout("invoices", create=True)
    model = repo.commit("add the invoice model", {"models/invoice.py": "a\n"}, when=FEB)
    view = repo.commit("add the invoice view", {"views/invoice.py": "b\n"}, when=FEB + DAY)
    docs = repo.commit("document invoices", {"docs/invoices.md": "c\n"}, when=FEB + 2 * DAY)
    repo.checkout("main")
    merged_at = datetime(2024, 4, 9, 12, tzinfo=UTC)
    merge = repo.merge(
        "invoices", "Merge pull request #31 from acme/invoices\n\nAdd invoices", when=merged_at
    )
    evidence = by_sha(fetch(repo))
    assert set(evidence) == {model, view, docs}  # the person's own merge of their branch is not evidence
    for item in evidence.values():
        assert item.completed_at == merged_at
        assert item.created_at is not None and item.created_at < merged_at
        assert item.extra["unit"] == "acme/api#31"
        assert item.extra["unit_title"] == "Add invoices"
        assert item.extra["unit_merge"] == merge
        assert item.extra["unit_url"] == "https://github.com/acme/api/pull/31"
        assert "acme/api#31" in item.refs
    assert fetch(repo, TimeRange(FEB - DAY, FEB + 10 * DAY, "feb")) == []  # not landed in February
    [project] = group_projects(list(evidence.values()))
    assert (project.title, project.id, project.keys) == ("Add invoices", "acme-api-31", ["acme/api#31"])


def test_a_pull_request_merged_into_a_maintenance_branch_keeps_its_own_unit(tmp_path: Path) -> None:
    repo = start(tmp_path)
    repo.checkout("2.0.x", create=True)
    repo.checkout("fix-crash", create=True)
    fix = repo.commit("fix the crash on empty input", {"src/parse.py": "x\n"}, when=FEB)
    repo.checkout("2.0.x")
    repo.merge("fix-crash", "Merge pull request #40 from acme/fix-crash\n\nFix the crash", when=FEB + DAY)
    straight = repo.commit("release version 2.0.1", {"CHANGES.rst": "2.0.1\n"}, when=FEB + 2 * DAY)
    repo.checkout("main")
    own = repo.commit("start the 2.1 changelog", {"docs/changes-2.1.rst": "2.1\n"}, when=FEB + 3 * DAY)
    landed = datetime(2024, 4, 2, tzinfo=UTC)
    repo.merge("2.0.x", "Merge branch '2.0.x'", when=landed)
    evidence = by_sha(fetch(repo, TimeRange(FEB - DAY, APRIL.until, "spring")))
    assert set(evidence) == {fix, straight, own}
    assert evidence[fix].extra["unit"] == "acme/api#40"  # not swallowed by the merge of 2.0.x
    assert evidence[fix].completed_at == landed  # it reached main when 2.0.x was merged
    assert "unit_merge" not in evidence[straight].extra  # made straight on 2.0.x: a unit of its own
    assert evidence[straight].extra["unit_kind"] == "release"
    assert evidence[own].completed_at == FEB + 3 * DAY
    titles = sorted(p.title for p in group_projects(list(evidence.values())))
    assert titles == ["Fix the crash", "Released 2.0.1", "Start the 2.1 changelog"]


def test_squash_merges_gitlab_merge_requests_and_topic_branches(tmp_path: Path) -> None:
    repo = GitRepo.init(tmp_path / "web", remote="https://gitlab.com/acme/platform/web.git")
    repo.commit("Initial", {"README.md": "x\n"}, when=FEB)
    squash = repo.commit("Speed up the login page (#77)", {"web/login.ts": "1\n"}, when=APRIL.since + DAY)
    repo.checkout("search", create=True)
    mr = repo.commit("Add search box", {"web/search.ts": "1\n"}, when=APRIL.since + 2 * DAY)
    repo.checkout("main")
    message = (
        "Merge branch 'search' into 'main'\n\nAdd a search box\n\nSee merge request acme/platform/web!12"
    )
    repo.merge("search", message, when=APRIL.since + 3 * DAY)
    repo.checkout("topic-export", create=True)
    topic = repo.commit("Export as CSV", {"web/export.ts": "1\n"}, when=APRIL.since + 4 * DAY)
    repo.checkout("main")
    topic_merge = repo.merge("topic-export", "Merge branch 'topic-export'", when=APRIL.since + 5 * DAY)
    evidence = by_sha(fetch(repo))
    assert evidence[squash].extra["unit"] == "acme/platform/web#77"
    assert evidence[squash].extra["unit_title"] == "Speed up the login page"
    assert evidence[mr].extra["unit"] == "acme/platform/web!12"
    assert evidence[mr].extra["unit_title"] == "Add a search box"
    assert evidence[mr].extra["unit_url"] == "https://gitlab.com/acme/platform/web/-/merge_requests/12"
    assert evidence[topic].extra["unit"] == f"acme/platform/web@{topic_merge}"
    assert evidence[topic].extra["unit_title"] == "topic-export"


def test_the_persons_merge_of_someone_elses_pull_request_is_credited(tmp_path: Path) -> None:
    repo = start(tmp_path)
    repo.checkout("carol/webhooks", create=True)
    repo.commit("add webhooks", {"src/hooks.py": "1\n"}, author=CAROL, when=APRIL.since + DAY)
    repo.commit("test webhooks", {"tests/test_hooks.py": "1\n"}, author=CAROL, when=APRIL.since + DAY)
    repo.checkout("main")
    merge = repo.merge(
        "carol/webhooks", "Merge pull request #50 from carol/webhooks\n\nAdd webhooks", author=ADA,
        when=APRIL.since + 2 * DAY,
    )  # fmt: skip
    result = gitconn.fetch(Person(emails=[ADA[1]]), APRIL, section(repo.path))
    [credit] = result.evidence
    assert (credit.kind, credit.id, credit.title) == ("merge", f"git:acme/api@{merge}", "Add webhooks")
    assert credit.url == "https://github.com/acme/api/pull/50"
    assert credit.extra["merged_authors"] == ["Carol Contributor <carol@x.io>"]
    assert credit.extra["commits"] == 2
    assert "1 merge of others' work" in result.report.detail
    [project] = group_projects(result.evidence)
    assert project.title == "Reviews and merges of others' work in acme/api"
    # Carol's own view of the same history: her two commits, one unit, no merge evidence
    hers = fetch(repo, person=Person(emails=[CAROL[1]]))
    assert [e.kind for e in hers] == ["commit", "commit"]
    assert {e.extra["unit"] for e in hers} == {"acme/api#50"}


def test_a_release_pull_request_is_one_release_unit_with_all_its_commits(tmp_path: Path) -> None:
    """A pull request from release-2.0.0 is merged once: its commits are one unit, and it is a release."""
    repo = start(tmp_path)
    repo.checkout("release-2.0.0", create=True)
    repo.commit("update requirements", {"requirements.txt": "x\n"}, when=APRIL.since + DAY)
    repo.commit("update type annotations", {"src/types.py": "y\n"}, when=APRIL.since + DAY)
    repo.commit("release version 2.0.0", {"CHANGES.rst": "2.0.0\n"}, when=APRIL.since + DAY)
    repo.checkout("main")
    message = "Merge pull request #4007 from acme/release-2.0.0\n\nrelease version 2.0.0"
    repo.merge("release-2.0.0", message, when=APRIL.since + 2 * DAY)
    [project] = group_projects(fetch(repo))
    assert project.title == "Released 2.0.0"
    assert len(project.evidence_ids) == 3


def test_a_release_commit_and_the_persons_tag_are_one_release(tmp_path: Path) -> None:
    repo = start(tmp_path)
    release = repo.commit("release version 2.8.0", {"CHANGES.rst": "2.8.0\n"}, when=APRIL.since + DAY)
    env = {"GIT_COMMITTER_DATE": (APRIL.since + DAY).isoformat(), "GIT_COMMITTER_EMAIL": ADA[1]}
    repo.git("tag", "-a", "2.8.0", "-m", "Flask 2.8.0", release, env=env)
    revert = repo.commit(
        'Revert "Clarify the contract of Response.ok"\n\nThis reverts commit ' + "a" * 40 + ".",
        {"src/models.py": "ok\n"}, when=APRIL.since + 2 * DAY,
    )  # fmt: skip
    evidence = fetch(repo)
    tag = next(e for e in evidence if e.kind == "release")
    assert tag.id == "git:acme/api@refs/tags/2.8.0"
    assert tag.url == "https://github.com/acme/api/releases/tag/2.8.0"
    assert tag.title == "Released 2.8.0"
    projects = {p.title: p for p in group_projects(evidence)}
    assert sorted(projects) == ["Released 2.8.0", 'Revert "Clarify the contract of Response.ok"']
    assert sorted(projects["Released 2.8.0"].evidence_ids) == sorted([tag.id, f"git:acme/api@{release}"])
    assert "a" * 40 in by_sha(evidence)[revert].refs  # the reverted commit is a reference


# ---- references -------------------------------------------------------------------------------------


def test_one_pull_request_is_one_key_whatever_form_cites_it(tmp_path: Path) -> None:
    assert extract_refs("see #3030, pallets/click#3030, GH-3030 and (#3030)", "pallets/click") == [
        "pallets/click#3030"
    ]
    assert extract_refs("https://github.com/Pallets/Click/pull/3030", "pallets/click") == [
        "pallets/click#3030"
    ]
    assert extract_refs("pallets/click#3030 and #3030", "click") == ["click#3030"]  # a clone without remote
    assert extract_refs("https://gitlab.com/g/p/-/merge_requests/4 and !4", "g/p") == ["g/p!4"]
    assert canonical_ref("mitsuhiko/flask#12", "pallets/flask") == "pallets/flask#12"  # a renamed owner
    assert canonical_ref("psf/requests#12", "pallets/flask") == "psf/requests#12"
    repo = GitRepo.init(tmp_path / "click")  # no remote: the directory's name
    repo.commit("Start", {"a.py": "0\n"}, when=FEB)
    first = repo.commit("Fix the prompt (pallets/click#3030)", {"a.py": "1\n"}, when=APRIL.since + DAY)
    second = repo.commit("Test the prompt fix, see #3030", {"t.py": "1\n"}, when=APRIL.since + 3 * DAY)
    [project] = group_projects(fetch(repo))
    assert sorted(project.evidence_ids) == sorted([f"git:click@{first}", f"git:click@{second}"])


# ---- hard edges ------------------------------------------------------------------------------------


def test_a_subject_holding_unit_separator_bytes_stays_whole(tmp_path: Path) -> None:
    repo = start(tmp_path)
    odd = repo.commit("Parse \x1f-separated\x1e records", {"src/p.py": "1\n"}, when=APRIL.since + DAY)
    [item] = fetch(repo)
    assert (item.extra["sha"], item.title) == (odd, "Parse \x1f-separated\x1e records")
    assert (item.additions, item.files) == (1, 1)


def test_commits_before_1973_are_found(tmp_path: Path) -> None:
    """git ignores --since=@N below 100000000; the connector must not lose such commits."""
    repo = GitRepo.init(tmp_path / "old")
    early = datetime(1970, 1, 5, tzinfo=UTC)
    shas = [repo.commit(f"Work {n}", {"a.txt": f"{n}\n"}, when=early + n * DAY) for n in range(3)]
    result = fetch(
        repo, TimeRange(datetime(1970, 1, 1, tzinfo=UTC), datetime(1971, 1, 1, tzinfo=UTC), "1970")
    )
    assert sorted(e.extra["sha"] for e in result) == sorted(shas)


def test_a_shallow_clone_is_partial_and_its_boundary_is_not_credited(tmp_path: Path) -> None:
    origin = start(tmp_path, "origin")
    for n in range(4):
        origin.commit(f"Work {n}", {f"f{n}.txt": "x\n" * 50}, when=APRIL.since + n * DAY)
    clone = tmp_path / "clone"
    subprocess.run(
        ["git", "clone", "-q", "--depth", "2", f"file://{origin.path}", str(clone)],
        check=True,
        env=origin.env,
    )
    result = gitconn.fetch(Person(emails=[ADA[1]]), APRIL, section(clone))
    assert result.report.status == "partial"
    assert "shallow clone" in result.report.detail and "git fetch --unshallow" in result.report.detail
    boundary = [e for e in result.evidence if e.extra.get("shallow_boundary")]
    assert len(boundary) == 1 and boundary[0].additions is None and boundary[0].files is None
    assert [e.additions for e in result.evidence if not e.extra.get("shallow_boundary")] == [50]


def test_whole_history_asks_numstat_of_the_persons_commits_only(tmp_path: Path) -> None:
    repo = GitRepo.init(tmp_path / "api")
    repo.commit("Their start", {"README.md": "x\n"}, author=BOB, when=FEB)
    mine = [repo.commit(f"Mine {n}", {f"m{n}.txt": "x\n"}, when=APRIL.since + n * DAY) for n in range(3)]
    for n in range(5):
        repo.commit(f"Theirs {n}", {f"t{n}.txt": "x\n"}, author=BOB, when=APRIL.since + n * DAY)
    diffed: list[str] = []
    real = gitconn._numstats

    def spy(log: object) -> dict[str, str]:
        found = real(log)  # type: ignore[arg-type]
        diffed.extend(found)
        return found

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(gitconn, "_numstats", spy)
        fetch(repo, TimeRange(datetime(1970, 1, 2, tzinfo=UTC), datetime(2100, 1, 1, tzinfo=UTC), "all"))
    assert sorted(diffed) == sorted(mine)  # git diffed nobody else's commits


def test_a_name_only_identity_renamed_by_mailmap_still_gets_its_sizes(tmp_path: Path) -> None:
    """git's author filter sees the .mailmap-ed name; the connector matches the raw one too, and asks
    git for the sizes of what the filter missed."""
    repo = GitRepo.init(tmp_path / "api")
    repo.commit(
        "Mailmap",
        {".mailmap": "Ada Lovelace <ada@x.io> Ada Old <ada@old.io>\n"},
        author=BOB,
        when=FEB,
    )
    old = repo.commit(
        "Old work", {"a.py": "1\n2\n"}, author=("Ada Old", "ada@old.io"), when=APRIL.since + DAY
    )
    [item] = gitconn.fetch(Person(names=["Ada Old"]), APRIL, section(repo.path)).evidence
    assert (item.extra["sha"], item.additions, item.files) == (old, 2, 1)


# ---- sources that are not configured never block those that are -------------------------------------


def test_the_implicit_git_source_is_skipped_outside_a_repository(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    connectors = available()
    github = SourceSection("gh", "github", {"token": "t", "login": "ada"})
    spec = RunSpec(
        person=Person(),
        time_range=APRIL,
        sources=[(connectors["github"], github), (connectors["git"], gitconn.implicit())],
    )
    monkeypatch.chdir(tmp_path)
    checked = check_sources(spec)
    assert [s.name for _, s in checked.sources] == ["gh"]
    [skipped] = checked.skipped
    assert (skipped.source, skipped.status) == ("git", "skipped")
    assert "is not a git repository" in skipped.detail
    # a repository without user.email and no emails: the same
    repo = start(tmp_path, "noident")
    monkeypatch.chdir(repo.path)
    [skipped] = check_sources(spec).skipped
    assert "no git identity to match" in skipped.detail
    # alone, or configured explicitly, it fails loudly (exit 2)
    with pytest.raises(UsageError, match="no git identity to match"):
        check_sources(RunSpec(Person(), APRIL, [(connectors["git"], gitconn.implicit())]))
    with pytest.raises(UsageError, match="no git identity to match"):
        check_sources(RunSpec(Person(), APRIL, [(connectors["git"], section(repo.path))]))


def test_a_skipped_source_shows_in_the_coverage(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    connectors = available()
    other = start(tmp_path, "other")
    other.commit("Mine", {"m.txt": "x\n"}, when=APRIL.since + DAY)
    monkeypatch.chdir(tmp_path)
    spec = RunSpec(
        person=Person(emails=[ADA[1]]),
        time_range=APRIL,
        sources=[(connectors["git"], section(other.path)), (connectors["git"], gitconn.implicit())],
    )
    report = gather_evidence(spec)
    assert [(c.source, c.status) for c in report.coverage] == [("code", "ok"), ("git", "skipped")]
    assert not report.partial
    assert len(report.evidence) == 1


# ---- the merge-message reader -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("message", "key", "title", "long_lived"),
    [
        ("Merge pull request #12 from ada/search\n\nAdd search", "acme/api#12", "Add search", False),
        ("Merge pull request #13 from kiddick/master\n\nFix docs", "acme/api#13", "Fix docs", False),
        ("Merge pull request #14 from acme/2.0.x\n\n2.0.x", "acme/api#14", "2.0.x", True),
        (
            "Merge pull request #15 from acme/release-2.0.0\n\nrelease 2.0.0",
            "acme/api#15",
            "release 2.0.0",
            False,
        ),
        ("Merge branch 'release/2.0'", "", "release/2.0", True),
        ("Merge branch 'stable'", "", "stable", True),
        ("Merge remote-tracking branch 'origin/2.1.x'", "", "2.1.x", True),
        ("Merge branch '0.10-maintenance'", "", "0.10-maintenance", True),
        ("Merge branch 'master' of github.com:mitsuhiko/flask", "", "master", True),
        ("Merge branch 'psf:main' into patch-1", "", "main", True),
        ("Merge branch 'feature/export'", "", "feature/export", False),
        ("use uv (#5727)", "acme/api#5727", "use uv", False),
        ("merged with 0.5-maintenance", "", "merged with 0.5-maintenance", True),
        ("Fixed merging conflict", "", "Fixed merging conflict", False),
    ],
)
def test_merge_messages(message: str, key: str, title: str, long_lived: bool) -> None:
    info = parse_merge(message, "acme/api")
    assert (info.key, info.title, info.long_lived) == (key, title, long_lived)


@pytest.mark.parametrize(
    ("subject", "version"),
    [
        ("release version 2.1.2", "2.1.2"),
        ("Release v3.0.0rc1", "3.0.0rc1"),
        ("v2.9.1", "2.9.1"),
        ("chore(release): 1.4.0", "1.4.0"),
        ("start version 2.1.3", ""),
        ("Bump version to 2.0", ""),
        ("Update 2.9.0 release log.", ""),
    ],
)
def test_release_subjects(subject: str, version: str) -> None:
    assert release_version(subject) == version


def test_no_git_identity_exits_2_with_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The README says identity errors exit 2: so they do, before anything is fetched."""
    from clirun import run_mine

    repo = start(tmp_path, "noident")
    monkeypatch.chdir(repo.path)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    monkeypatch.setenv("IMPACT_MINER_CACHE", str(tmp_path / "cache.sqlite3"))
    code, out, err = run_mine(capsys, "--since", "2w")
    assert (code, out) == (2, "")
    assert err.strip().count("\n") == 0
    assert "no git identity to match" in err and "pass --author EMAIL" in err
