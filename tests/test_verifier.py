"""The verifier: one test per rule with a statement that breaks it, and statements that pass."""

from __future__ import annotations

import pytest

from impact_miner.facts import project_facts
from impact_miner.grouping import group_projects
from impact_miner.model import Evidence, Project
from impact_miner.verifier import verify_statement
from test_grouping import commit, pull, ticket

EVIDENCE = [
    commit(
        "3f2a9c1",
        "SEARCH-88: move index merges to a background worker",
        repo="acme/api2",
        refs=("SEARCH-88", "acme/api2#412"),
        additions=200,
        deletions=20,
        files=6,
    ),
    pull(
        412,
        "Move index merges off the request path",
        repo="acme/api2",
        refs=("SEARCH-88",),
        body="p95 320 ms → 218 ms (-32%) on the 2026-11-01 benchmark; imports 1200 rows/s. A massive win.",
    ),
    ticket("SEARCH-88", "Search latency"),
    commit("9b9b9b9", "Add billing export", top_dir="billing", day=21),
]
PROJECTS = group_projects(EVIDENCE)
PROJECT = PROJECTS[0]
OTHER = PROJECTS[1]
FACTS = project_facts(PROJECT, EVIDENCE)
PR_URL = "https://github.com/acme/api2/pull/412"


def problems(
    statement: str,
    cited: list[str] | None = None,
    project: Project = PROJECT,
    evidence: list[Evidence] = EVIDENCE,
) -> list[str]:
    cited = project.evidence_ids if cited is None else cited
    return verify_statement(statement, cited, project, evidence, project_facts(project, evidence))


def test_fixture_projects() -> None:
    assert PROJECT.id == "search-88" and len(PROJECT.evidence_ids) == 3
    assert FACTS["lines"] == 370 and FACTS["items"] == 3


@pytest.mark.parametrize(
    "statement",
    [
        "Reduced p95 search latency 32%, 320 ms → 218 ms, by moving index merges off the request path "
        "[PR #412, SEARCH-88].",
        f"Moved index merges off the request path ([acme/api2#412]({PR_URL})), importing 1,200 rows/s.",
        f"Shipped {PR_URL} with 3 items (+320/−50 lines) between 2026-11-15 and 2026-11-22.",
        "Moved index merges to a background worker [git:acme/api2@3f2a9c1000000000000000000000000000000000, "
        "github:acme/api2#412, jira:SEARCH-88] (commit 3f2a9c1 in acme/api2), benchmarked on 2026-11-01.",
        "A massive win for search latency.",
    ],
)
def test_supported_statements_pass(statement: str) -> None:
    assert problems(statement) == []


def test_empty_statement() -> None:
    assert problems("  \n") == ["statement is empty"]


@pytest.mark.parametrize(
    ("statement", "problem"),
    [
        ("See https://evil.example/x.", "link is not to this project's evidence: https://evil.example/x"),
        (
            "See [the PR](https://github.com/acme/api2/pull/413).",
            "link is not to this project's evidence: https://github.com/acme/api2/pull/413",
        ),
        ("See [the doc](docs/search.md).", "link is not to this project's evidence: docs/search.md"),
        ("Details at www.evil.example/p.", "link is not to this project's evidence: www.evil.example/p"),
    ],
)
def test_links_must_be_evidence_urls(statement: str, problem: str) -> None:
    assert problems(statement) == [problem]


def test_cited_ids_must_belong_to_the_project() -> None:
    assert problems("Moved index merges.", [*PROJECT.evidence_ids, OTHER.evidence_ids[0]]) == [
        f"cited evidence is not in this project: {OTHER.evidence_ids[0]}"
    ]


@pytest.mark.parametrize(
    "token",
    [
        "git:acme/api@9b9b9b9000000000000000000000000000000000",  # another project's evidence
        "jira:SEARCH-89",
        "github:acme/api2#413",
        "metric:p95_latency@2026-11",
    ],
)
def test_ids_in_the_text_must_belong_to_the_project(token: str) -> None:
    assert problems(f"Moved index merges [{token}].") == [f"evidence id is not in this project: {token}"]


def test_ticket_keys_must_appear_in_the_evidence() -> None:
    assert problems("Moved index merges (SEARCH-99, SEARCH-88).") == [
        "ticket key not in this project's evidence: SEARCH-99"
    ]


@pytest.mark.parametrize(("ref", "shown"), [("#413", "#413"), ("acme/web#412", "acme/web#412")])
def test_pull_requests_must_appear_in_the_evidence(ref: str, shown: str) -> None:
    expected = f"pull request not in this project's evidence: {shown}"
    assert problems(f"Moved index merges ({ref}).") == [expected]


@pytest.mark.parametrize(
    ("statement", "number"),
    [
        ("Saved $7M a year by moving index merges.", "7"),
        ("Reduced p95 latency 33%.", "33"),
        ("Reduced p95 latency from 321 ms.", "321"),
        ("Imported 1,201 rows/s.", "1201"),
        ("Imported 1.2k rows/s.", "1.2"),
        ("Took 7 commits.", "7"),
    ],
)
def test_numbers_must_be_in_the_evidence_or_facts(statement: str, number: str) -> None:
    assert problems(statement) == [f"number not in this project's evidence or facts: {number}"]


def test_numbers_of_another_project_are_not_allowed() -> None:
    assert problems("Imported 1200 rows/s.", project=OTHER) == [
        "number not in this project's evidence or facts: 1200"
    ]


@pytest.mark.parametrize(
    ("statement", "date"),
    [("Shipped on 2026-11-23.", "2026-11-23"), ("Shipped on 2025-11-20.", "2025-11-20")],
)
def test_dates_must_be_evidence_dates(statement: str, date: str) -> None:
    assert problems(statement) == [f"date not in this project's evidence: {date}"]


@pytest.mark.parametrize(
    "word", ["best", "world-class", "dramatically", "revolutionary", "huge", "Significantly", "unprecedented"]
)
def test_superlatives_the_evidence_does_not_use(word: str) -> None:
    assert problems(f"Delivered a {word} search speed-up.") == [
        f'superlative not supported by the evidence: "{word}"'
    ]


def test_a_superlative_from_another_projects_evidence_is_not_enough() -> None:
    assert problems("A massive billing export.", project=OTHER) == [
        'superlative not supported by the evidence: "massive"'
    ]


@pytest.mark.parametrize("phrase", ["worked hard", "tirelessly", "spent hours", "late nights"])
def test_effort_wording(phrase: str) -> None:
    expected = f'effort wording (state outcomes, not effort): "{phrase}"'
    assert problems(f"Moved index merges; {phrase}.") == [expected]


def test_every_problem_is_reported_once() -> None:
    statement = "Saved 7 hours, 7 times, dramatically, see https://x.example and https://x.example."
    assert problems(statement) == [
        "link is not to this project's evidence: https://x.example",
        "number not in this project's evidence or facts: 7",
        'superlative not supported by the evidence: "dramatically"',
    ]
