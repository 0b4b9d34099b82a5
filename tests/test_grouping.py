"""Linking evidence into units and projects: shared keys, themes, chores, ordering, ids and titles.

The builders and FIXTURES here are reused by test_offline_writer.py and test_verifier.py.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta, timezone

import pytest

from impact_miner.grouping import chore_kind, clean_subject, group_projects
from impact_miner.model import Evidence, Project


def at(day: int, hour: int = 10, offset: int = 0) -> datetime:
    return datetime(2026, 11, day, hour, tzinfo=timezone(timedelta(hours=offset)) if offset else UTC)


def commit(
    sha: str,
    title: str,
    *,
    repo: str = "acme/api",
    top_dir: str = "search",
    day: int = 15,
    refs: tuple[str, ...] = (),
    additions: int = 10,
    deletions: int = 2,
    files: int = 1,
    paths: tuple[str, ...] = (),
    body: str = "",
) -> Evidence:
    full = sha.ljust(40, "0")
    return Evidence(
        id=f"git:{repo}@{full}",
        source="git",
        kind="commit",
        title=title,
        body=body,
        url=f"https://github.com/{repo}/commit/{full}",
        completed_at=at(day),
        repo=repo,
        refs=list(refs),
        additions=additions,
        deletions=deletions,
        files=files,
        extra={"sha": full, "top_dir": top_dir, "paths": list(paths) or [f"{top_dir}/module.py"]},
    )


def pull(
    number: int,
    title: str,
    *,
    repo: str = "acme/api",
    day: int = 20,
    refs: tuple[str, ...] = (),
    body: str = "",
    additions: int = 120,
    deletions: int = 30,
    files: int = 4,
) -> Evidence:
    return Evidence(
        id=f"github:{repo}#{number}",
        source="github",
        kind="pull_request",
        title=title,
        body=body,
        url=f"https://github.com/{repo}/pull/{number}",
        completed_at=at(day),
        created_at=at(day - 2),
        repo=repo,
        refs=list(refs),
        additions=additions,
        deletions=deletions,
        files=files,
    )


def review(number: int, title: str, *, repo: str = "acme/api", day: int = 19) -> Evidence:
    return Evidence(
        id=f"github-review:{repo}#{number}",
        source="github",
        kind="review",
        title=title,
        url=f"https://github.com/{repo}/pull/{number}#pullrequestreview-{number}01",
        completed_at=at(day),
        repo=repo,
        refs=[f"{repo}#{number}"],
    )


def ticket(key: str, title: str, *, epic: str = "", day: int = 22, body: str = "") -> Evidence:
    return Evidence(
        id=f"jira:{key}",
        source="jira",
        kind="ticket",
        title=title,
        body=body,
        url=f"https://acme.atlassian.net/browse/{key}",
        completed_at=at(day),
        created_at=at(day - 10),
        repo=key.split("-")[0],
        extra={"epic": epic} if epic else {},
    )


def by_title(projects: list[Project]) -> dict[str, Project]:
    return {p.title: p for p in projects}


TICKET_WORK = [
    commit(
        "a1",
        "feat(search): add rate limiting to the search endpoint",
        refs=("ABC-1",),
        additions=300,
        deletions=40,
        files=10,
    ),
    commit("a2", "ABC-1: tests for the limiter", refs=("ABC-1",), day=17),
    commit("a3", "[ABC-1] tune limits", refs=("ABC-1",), day=18, top_dir="config"),
]
PR_WORK = [
    commit(
        "d1", "Move index merges off the request path (#12)", refs=("acme/api#12",), top_dir="indexer", day=19
    ),
    pull(12, "perf: move index merges off the request path", body="p95 320 ms → 218 ms on the benchmark."),
    review(12, "Move index merges off the request path"),
]
EPIC_WORK = [
    ticket("ABC-10", "Search v2", day=25),
    ticket("ABC-1", "Add search filters", epic="ABC-10"),
    ticket("ABC-2", "Paginate search results", epic="ABC-10", day=23),
    commit("e1", "add filter parser", refs=("ABC-1",), day=16),
    commit("e2", "paginate results with cursors", refs=("ABC-2",), day=18),
]
AREA_WORK = [
    commit("f1", "Speed up billing export", top_dir="billing", day=16, additions=40, deletions=10),
    commit("f2", "fix: handle empty invoices", top_dir="billing", day=19),
    commit("f3", "Add dark mode toggle", repo="acme/web", top_dir="", day=17, additions=80, files=3),
]
CHORES = [
    commit("c1", "chore(deps): bump lodash from 4.17.20 to 4.17.21", repo="acme/web", top_dir=""),
    commit("c2", "Run black", top_dir="search", day=16),
    commit("c3", "docs: fix typo in README", top_dir="", day=17),
    commit("c4", "Update deps", repo="acme/web", top_dir="", paths=("yarn.lock", "a/package-lock.json")),
    commit("c5", "Merge branch 'main' into feature", day=18),
    commit("c6", "start version 1.4.1.dev", day=18),
]
FIXTURES = {
    "tickets": TICKET_WORK,
    "pull request": PR_WORK,
    "epic": EPIC_WORK,
    "areas": AREA_WORK,
    "chores": CHORES,
    "everything": TICKET_WORK + PR_WORK + AREA_WORK + CHORES,
}


def test_empty_input_gives_no_projects() -> None:
    assert group_projects([]) == []


def test_commits_sharing_a_ticket_key_join_across_directories() -> None:
    [project] = group_projects(TICKET_WORK)
    assert project.id == "abc-1"
    assert project.title == "ABC-1: Add rate limiting to the search endpoint"  # 340 of its 364 lines
    assert project.keys == ["ABC-1"]
    assert project.repos == ["acme/api"]
    assert project.evidence_ids == [e.id for e in TICKET_WORK]
    assert not project.maintenance


def test_commit_referencing_a_pull_request_joins_it_and_its_review() -> None:
    [project] = group_projects(PR_WORK)
    assert sorted(project.evidence_ids) == sorted(e.id for e in PR_WORK)
    assert project.keys == ["acme/api#12"]
    assert project.id == "acme-api-12"
    assert project.title == "Move index merges off the request path"


def test_pull_request_references_link_whatever_the_case_of_the_repository_name() -> None:
    # A remote spelt git@github.com:Acme/API.git gives commits Acme/API#12; GitHub's API says acme/api.
    shouting = commit("d2", "Move index merges (#12)", repo="Acme/API", refs=("Acme/API#12",))
    [project] = group_projects([shouting, pull(12, "Move index merges off the request path")])
    assert sorted(project.evidence_ids) == sorted([shouting.id, "github:acme/api#12"])
    assert project.keys == ["acme/api#12"]


def test_ticket_joins_its_commits_and_through_the_epic_its_sibling_tickets() -> None:
    [project] = group_projects(EPIC_WORK)
    assert sorted(project.evidence_ids) == sorted(e.id for e in EPIC_WORK)
    assert project.keys == ["ABC-10", "ABC-1", "ABC-2"]
    assert project.id == "abc-10"
    assert project.title == "ABC-10: Search v2"


def test_without_the_epic_ticket_the_siblings_still_join_under_the_epic_key() -> None:
    [project] = group_projects(EPIC_WORK[1:])
    assert project.id == "abc-10"
    assert project.title == "ABC-10: “Add search filters” and “Paginate search results”"  # each ticket


def test_a_ticket_title_is_the_subject_of_its_key() -> None:
    evidence = [ticket("ABC-7", "Let admins export audit logs"), commit("g1", "ABC-7 wip", refs=("ABC-7",))]
    [project] = group_projects(evidence)
    assert project.title == "ABC-7: Let admins export audit logs"


def test_unrelated_commits_in_one_folder_are_not_a_project() -> None:
    """No folder buckets: sharing only a directory (and a file everyone touches) says nothing."""
    evidence = [
        commit("f1", "Speed up billing export", paths=("billing/export.py", "CHANGES.rst")),
        commit("f2", "Handle empty invoices", top_dir="billing", day=19,
               paths=("billing/invoice.py", "CHANGES.rst")),
        commit("f4", "Document the tax rules", top_dir="billing", day=17, paths=("billing/taxes.md",)),
        commit("f3", "Add dark mode toggle", repo="acme/web", top_dir="", day=17, additions=80, files=3),
    ] + [commit(f"z{n}", f"Tune unrelated part {n}", paths=(f"other/{n}.py", "CHANGES.rst"), day=10 + n)
         for n in range(6)]  # fmt: skip
    projects = group_projects(evidence)
    assert all(len(p.evidence_ids) == 1 for p in projects)
    assert {p.title for p in projects} >= {
        "Speed up billing export", "Handle empty invoices", "Document the tax rules", "Add dark mode toggle"
    }  # fmt: skip


def test_direct_commits_on_the_same_rare_files_and_words_form_a_theme() -> None:
    """Commits made straight on a branch join when their content is close, never past the size guard."""
    theme = [
        commit(
            f"t{n}",
            f"Port the donate link to branch {n}",
            paths=("docs/_templates/sidebar.html",),
            day=10 + n,
        )
        for n in range(3)
    ]
    unrelated = [
        commit(f"u{n}", f"Rework module {n}", paths=(f"src/mod{n}.py",), day=11 + n) for n in range(8)
    ]
    projects = group_projects(theme + unrelated)
    [joined] = [p for p in projects if len(p.evidence_ids) > 1]
    assert sorted(joined.evidence_ids) == sorted(e.id for e in theme)
    far = commit("t9", "Port the donate link to branch 9", paths=("docs/_templates/sidebar.html",), day=30)
    far.completed_at += timedelta(days=60)
    assert (
        far.id not in next(p for p in group_projects([*theme, far]) if len(p.evidence_ids) > 1).evidence_ids
    )


def test_one_pull_request_touching_several_folders_is_one_project() -> None:
    """Commits a merge brought in (extra["unit"]) stay together whatever folders they touch."""
    parts = [
        commit(f"w{n}", title, top_dir=folder, paths=(f"{folder}/x.py",), day=10 + n)
        for n, (title, folder) in enumerate(
            [("Add the model", "models"), ("Add the view", "views"), ("Document it", "docs")]
        )
    ]
    for item in parts:
        item.extra.update(
            unit="acme/api#31", unit_kind="pull_request", unit_title="Add invoices", unit_number=31
        )
        item.refs.append("acme/api#31")
    [project] = group_projects(parts)
    assert project.title == "Add invoices"
    assert project.id == "acme-api-31"
    assert project.keys == ["acme/api#31"]


def test_the_persons_merges_of_others_work_and_reviews_are_credited_apart() -> None:
    merged = Evidence(
        id="git:acme/api@" + "m" * 40, source="git", kind="merge", title="Add webhooks",
        url="https://github.com/acme/api/pull/50", completed_at=at(18), repo="acme/api",
        refs=["acme/api#50"], extra={"unit": "acme/api#50", "unit_kind": "pull_request", "sha": "m" * 40},
    )  # fmt: skip
    own = commit("o1", "Speed up search", paths=("search/x.py",))
    projects = group_projects([merged, review(60, "Add exports"), own])
    assert [p.title for p in projects] == [
        "Speed up search",
        "Reviews and merges of others' work in acme/api",
    ]
    assert sorted(projects[1].evidence_ids) == sorted([merged.id, "github-review:acme/api#60"])


def test_a_release_is_its_own_project_not_maintenance() -> None:
    release = commit("r1", "release version 2.1.2", paths=("CHANGES.rst", "src/__init__.py"))
    release.extra.update(release="2.1.2", unit="acme/api@2.1.2", unit_kind="release", unit_title="2.1.2")
    revert = commit("r2", 'Revert "Clarify the contract of Response.ok"', paths=("src/models.py",))
    projects = group_projects([release, revert, *CHORES[:2]])
    assert [p.title for p in projects] == [
        "Released 2.1.2", 'Revert "Clarify the contract of Response.ok"', "Maintenance"
    ]  # fmt: skip
    assert projects[0].id == "acme-api-2-1-2"
    assert [p.title for p in group_projects([commit("r3", "chore(release): 1.4.0")])] == ["Released 1.4.0"]


def test_chores_fold_into_one_maintenance_project_placed_last() -> None:
    projects = group_projects(CHORES + AREA_WORK[2:])
    assert [p.id for p in projects] == ["add-dark-mode-toggle", "maintenance"]
    maintenance = projects[-1]
    assert maintenance.maintenance and maintenance.title == "Maintenance"
    assert sorted(maintenance.evidence_ids) == sorted(e.id for e in CHORES)
    assert maintenance.repos == ["acme/api", "acme/web"]


def test_maintenance_is_last_even_when_it_is_the_biggest() -> None:
    projects = group_projects([*CHORES, commit("h1", "Add health check", top_dir="ops")])
    assert [p.id for p in projects] == ["add-health-check", "maintenance"]


def test_a_chore_with_a_ticket_key_stays_with_its_ticket() -> None:
    typo = commit("c9", "ABC-1: fix typo in limiter message", refs=("ABC-1",), day=20)
    projects = group_projects([*TICKET_WORK, typo, *CHORES])
    assert typo.id in projects[0].evidence_ids
    assert typo.id not in projects[-1].evidence_ids


def test_chores_sharing_only_a_key_with_each_other_stay_in_maintenance() -> None:
    bump = commit("c7", "Bump requests from 2.31.0 to 2.32.0 (#40)", refs=("acme/api#40",))
    bot = pull(40, "Bump requests from 2.31.0 to 2.32.0")
    [project] = group_projects([bump, bot])
    assert project.maintenance and len(project.evidence_ids) == 2


def test_a_chore_never_joins_two_pieces_of_work() -> None:
    merge = commit("m1", "Merge branch 'ABC-1' into ABC-2", refs=("ABC-1", "ABC-2"), day=21)
    other = commit("m2", "ABC-2 add export button", refs=("ABC-2",), top_dir="ui")
    wire = commit("m3", "ABC-2 wire export", refs=("ABC-2",))
    projects = group_projects([*TICKET_WORK, other, wire, merge])
    assert [p.id for p in projects] == ["abc-1", "abc-2"]
    assert merge.id in projects[0].evidence_ids


@pytest.mark.parametrize(
    ("title", "paths", "label"),
    [
        ("chore(deps): bump lodash from 4.17.20 to 4.17.21", (), "version bumps"),
        ("Bump version to 2.0", (), "version bumps"),
        ("start version 2.1.3", (), "version bumps"),
        ("update requirements", (), "dependency updates"),
        ("release v1.2.3", (), None),  # a release unit of its own, not a chore
        ("format", (), "formatting"),
        ("Reformat code", (), "formatting"),
        ("run prettier", (), "formatting"),
        ("ruff format", (), "formatting"),
        ("style: apply black", (), "formatting"),
        ("lint fixes", (), "formatting"),
        ("Fix typo", (), "typo fixes"),
        ("typos", (), "typo fixes"),
        ("ABC-3: fix typos in docs", (), "typo fixes"),
        ("Merge branch 'main' into feature", (), "merges"),
        ("Merge pull request #12 from ada/search", (), "merges"),
        ("Refresh vendored code", ("uv.lock", "web/yarn.lock", "go.sum"), "lockfiles"),
        ("Format search results as a table", (), None),
        ("Add typography settings", (), None),
        ("Release notes page for admins", (), None),
        ("Refresh vendored code", ("uv.lock", "pyproject.toml"), None),
        ("Add lint rule for SQL", (), None),
    ],
)
def test_chore_rules(title: str, paths: tuple[str, ...], label: str | None) -> None:
    assert chore_kind(commit("k1", title, paths=paths)) == label


def test_a_truncated_path_list_is_not_lockfile_only() -> None:
    assert chore_kind(commit("k2", "Refresh vendored code", paths=("uv.lock",), files=60)) is None


def test_subjects_drop_prefixes_ticket_keys_and_pull_request_numbers() -> None:
    assert clean_subject("feat(search)!: ABC-12 add filters (#123)") == "add filters"
    assert clean_subject("[ABC-1, ABC-2] fix: cursor pagination.\n\nlong body") == "cursor pagination"
    assert clean_subject("Use UTF-8 everywhere") == "Use UTF-8 everywhere"


def test_a_title_is_true_of_the_whole_project_never_one_items_subject() -> None:
    """One commit's subject titles a group only when it holds half of its items and of its lines."""
    evidence = [
        commit("n1", "ABC-5 wip", refs=("ABC-5",), additions=500, paths=("search/facets.py",)),
        commit("n2", "ABC-5: cache search facets per tenant", refs=("ABC-5",), paths=("search/facets.py",)),
        commit("n3", "ABC-5: cache search facets per region", refs=("ABC-5",), paths=("search/cache.py",)),
    ]
    assert group_projects(evidence)[0].title == "ABC-5: Wip"  # most of the lines: its own words
    evidence[0].additions = 10
    assert group_projects(evidence)[0].title == (
        "ABC-5: search/: “Wip”, “Cache search facets per tenant” and “Cache search facets per region”"
    )
    pr = [
        pull(7, "Cache search facets", refs=("ABC-5",), additions=400),
        commit("n4", "ABC-5: tune the cache size", refs=("ABC-5",), paths=("search/cache.py",)),
    ]
    assert group_projects(pr)[0].title == "ABC-5: Cache search facets"  # half the items, most lines
    same = [commit(f"n{n}", "Add donate link", paths=(f"docs/{n}.html",), day=10 + n) for n in range(5, 8)]
    for item in same:
        item.refs = ["ABC-6"]
    assert group_projects(same)[0].title == "ABC-6: Add donate link"  # a subject every part shares


def test_projects_are_ordered_by_items_then_lines_then_files_then_span() -> None:
    evidence = [
        commit("p1", "Add exporter", top_dir="export"),
        commit("p2", "Add exporter tests", top_dir="export", day=16),
        commit("q1", "Add importer", top_dir="import", additions=1000),
        commit("r1", "Add audit log", top_dir="audit", files=5),
        commit("s1", "Add admin page", top_dir="admin", files=5),
        commit("s2", "Add admin page", top_dir="admin", files=5, day=16),
        commit("t1", "Add metrics", top_dir="metrics", files=10, deletions=0, additions=2),
        commit("u1", "Add tracing", top_dir="tracing", files=10, deletions=0, additions=2),
    ]
    for item in evidence:
        item.refs = [f"ABC-{ord(item.extra['sha'][0])}"]  # a ticket key per letter joins each pair
    ids = [p.id for p in group_projects(evidence)]
    assert ids == [
        "abc-115",  # s: 2 items, 24 lines, 10 files
        "abc-112",  # p: 2 items, 24 lines, 2 files
        "abc-113",  # q: 1 item, 1002 lines
        "abc-114",  # r: 1 item, 12 lines, 5 files
        "abc-116",  # t: 1 item, 2 lines, 10 files: ties with u, by id
        "abc-117",
    ]


def test_span_breaks_ties_after_files() -> None:
    short = [commit("v1", "Add a", refs=("ABC-1",)), commit("v2", "Add a2", refs=("ABC-1",))]
    long = [commit("w1", "Add b", refs=("ABC-2",)), commit("w2", "Add b2", refs=("ABC-2",), day=20)]
    assert [p.id for p in group_projects(short + long)] == ["abc-2", "abc-1"]


def test_ids_are_stable_and_deduplicated() -> None:
    evidence = [
        commit("x1", "Add search", repo="acme/api", paths=("a.py",)),
        commit("y1", "Add search", repo="acme-api", paths=("b.py",), additions=1, day=1),
        commit("z1", "Add search!", repo="acme.api", paths=("c.py",), additions=0, day=28),
    ]
    projects = group_projects(evidence)
    assert [p.id for p in projects] == ["add-search", "add-search-2", "add-search-3"]
    assert [p.repos for p in projects] == [["acme/api"], ["acme-api"], ["acme.api"]]


def test_grouping_is_deterministic_whatever_the_input_order() -> None:
    evidence = FIXTURES["everything"] + EPIC_WORK[:3]
    expected = group_projects(evidence)
    for seed in range(5):
        shuffled = evidence[:]
        random.Random(seed).shuffle(shuffled)
        assert group_projects(shuffled) == expected


def test_evidence_ids_sorted_by_completion_then_id_and_duplicates_dropped() -> None:
    late_in_utc = commit("b2", "ABC-9 second", refs=("ABC-9",))
    late_in_utc.completed_at = at(15, 9, offset=-5)  # 14:00 UTC
    early = commit("b3", "ABC-9 first", refs=("ABC-9",))
    same_time = commit("b1", "ABC-9 third", refs=("ABC-9",))
    [project] = group_projects([late_in_utc, early, same_time, early])
    assert project.evidence_ids == [same_time.id, early.id, late_in_utc.id]


def test_all_kinds_of_evidence_in_one_run() -> None:
    projects = group_projects(FIXTURES["everything"])
    titles = [p.title for p in projects]
    assert titles == [
        "ABC-1: Add rate limiting to the search endpoint",
        "Move index merges off the request path",
        "Add dark mode toggle",
        "Speed up billing export",
        "Handle empty invoices",
        "Maintenance",
    ]
    everything = {i for p in projects for i in p.evidence_ids}
    assert everything == {e.id for e in FIXTURES["everything"]}
    assert sum(len(p.evidence_ids) for p in projects) == len(everything)
