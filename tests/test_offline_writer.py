"""The computed facts and the deterministic offline writer; every offline statement must verify."""

from __future__ import annotations

import random

import pytest

from impact_miner.facts import count_key, kind_counts, project_facts
from impact_miner.grouping import group_projects
from impact_miner.model import Evidence, Project
from impact_miner.offline_writer import offline_statement, plural
from impact_miner.verifier import verify_statement
from test_grouping import EPIC_WORK, FIXTURES, at, commit, pull, review, ticket


def project_of(evidence: list[Evidence]) -> Project:
    return Project(id="p", title="p", evidence_ids=[e.id for e in evidence])


def statements(evidence: list[Evidence]) -> dict[str, str]:
    return {
        p.id: offline_statement(p, evidence, project_facts(p, evidence)) for p in group_projects(evidence)
    }


# facts


def test_facts_count_kinds_and_size_each_unit_once() -> None:
    """A pull request stands for its commits; distinct files are unknown when a pull request lists none."""
    evidence = [*FIXTURES["pull request"], commit("zz", "unrelated")]
    facts = project_facts(project_of(FIXTURES["pull request"]), evidence)
    assert {k: v for k, v in facts.items() if not k.startswith("part.")} == {
        "commits": 1,
        "pull_requests": 1,
        "reviews": 1,
        "items": 3,
        "additions": 130,
        "deletions": 32,
        "lines": 162,
        "repositories": 1,
        "days": 2,
        "first_date": "2026-11-19",
        "last_date": "2026-11-20",
    }
    assert (facts["part.1.key"], facts["part.1.lines"], facts["part.1.files"]) == ("acme/api#12", 150, 4)
    assert kind_counts(facts) == [("commits", 1), ("pull_requests", 1), ("reviews", 1)]


def test_files_are_distinct_files_not_a_sum_per_commit() -> None:
    same = [
        commit("d1", "Add search", paths=("search/a.py", "search/b.py"), files=2),
        commit("d2", "Tune search", paths=("search/b.py", "search/c.py"), files=2, day=16),
        commit("d3", "Test search", paths=("search/a.py", "tests/test_search.py"), files=2, day=17),
    ]
    facts = project_facts(project_of(same), same)
    assert facts["files"] == 4  # not 6
    truncated = [*same, commit("d4", "Vendor a library", paths=("vendor/x.py",), files=300, day=18)]
    assert "files" not in project_facts(project_of(truncated), truncated)  # unknown: never a guess


def test_facts_leave_out_zero_counts_and_sums() -> None:
    tickets = [ticket("ABC-1", "Add filters"), ticket("ABC-2", "Paginate", day=22)]
    facts = project_facts(project_of(tickets), tickets)
    assert {k: v for k, v in facts.items() if not k.startswith("part.")} == {
        "tickets": 2,
        "items": 2,
        "repositories": 1,
        "days": 1,
        "first_date": "2026-11-22",
        "last_date": "2026-11-22",
    }


def test_facts_dates_are_calendar_days_in_each_items_own_offset() -> None:
    late_evening = commit("a", "Add a", day=20)
    late_evening.completed_at = at(20, 23, offset=-8)  # already 21 November in UTC
    early = commit("b", "Add b")
    early.completed_at = at(12, 1, offset=9)  # still 11 November in UTC
    facts = project_facts(project_of([late_evening, early]), [late_evening, early])
    assert (facts["first_date"], facts["last_date"], facts["days"]) == ("2026-11-12", "2026-11-20", 9)


def test_facts_of_an_empty_project_and_other_kinds() -> None:
    assert project_facts(project_of([]), FIXTURES["everything"]) == {}
    assert (count_key("metric"), count_key("Merge Request"), count_key("file")) == (
        "metrics",
        "merge_requests",
        "file_items",
    )


# offline writer


def test_statement_for_a_ticket_project() -> None:
    assert statements(FIXTURES["tickets"]) == {
        "abc-1": "Added rate limiting to the search endpoint across 3 commits (+320/−44 lines) in acme/api "
        "between 2026-11-15 and 2026-11-18: “Add rate limiting to the search endpoint” (+300/−40), “Tests "
        "for the limiter” (+10/−2) and “Tune limits” (+10/−2) [ABC-1]."
    }


def test_statement_for_a_pull_request_with_its_commit_and_review() -> None:
    assert statements(FIXTURES["pull request"]) == {
        "acme-api-12": "Moved index merges off the request path (pull request #12: 1 commit, 1 pull request "
        "and 1 review, +130/−32 lines) in acme/api between 2026-11-19 and 2026-11-20."
    }


def test_statement_for_an_epic_names_the_epic() -> None:
    assert statements(EPIC_WORK) == {
        "abc-10": "“Search v2” (ABC-10: 2 commits and 3 tickets, +20/−4 lines, 1 file) in ABC and acme/api "
        "between 2026-11-16 and 2026-11-25 [ABC-10, ABC-1, ABC-2]. Tickets: "
        "https://acme.atlassian.net/browse/ABC-10, https://acme.atlassian.net/browse/ABC-1, "
        "https://acme.atlassian.net/browse/ABC-2."
    }


def test_statements_for_lone_commits_use_singulars_for_one() -> None:
    assert statements(FIXTURES["areas"]) == {
        "speed-up-billing-export": "Sped up billing export (1 commit, +40/−10 lines, 1 file) in acme/api "
        "on 2026-11-16.",
        "fix-handle-empty-invoices": "Handled empty invoices (1 commit, +10/−2 lines, 1 file) in acme/api "
        "on 2026-11-19.",
        "add-dark-mode-toggle": "Added dark mode toggle (1 commit, +80/−2 lines, 3 files) in acme/web on "
        "2026-11-17.",
    }


def test_statement_for_maintenance_lists_only_the_chores_present() -> None:
    assert statements(FIXTURES["chores"]) == {
        "maintenance": "Kept acme/api and acme/web healthy with 6 maintenance changes "
        "(version bumps, dependency updates, formatting, typo fixes, merges)."
    }
    bump = [commit("c1", "Bump lodash from 1.0.0 to 1.0.1", repo="acme/web")]
    expected = "Kept acme/web healthy with 1 maintenance change (version bumps)."
    assert statements(bump) == {"maintenance": expected}


@pytest.mark.parametrize(
    ("title", "outcome"),
    [
        ("fix: handle empty invoices", "Handled empty invoices"),
        ("Adds CSV export", "Added CSV export"),
        ("Removed the legacy importer", "Removed the legacy importer"),
        ("Add and use org.apache.commons.lang3.SystemProperties",
         "Added and used org.apache.commons.lang3.SystemProperties"),
        # not a plain imperative: the author's own words, quoted, never glued to a template verb
        ("fix(billing): empty invoices crash the export", "“Empty invoices crash the export”"),
        ("feat: search filters", "“Search filters”"),
        ("GraphQL schema for invoices", "“GraphQL schema for invoices”"),
        ("perf: streaming parser", "“Streaming parser”"),
        ('be smarter about adding ".cli" to reloader command\n\npython -m flask.cli raises an import warning',
         '“Be smarter about adding ".cli" to reloader command”'),
        ("Add and frobnicate the cache", "“Add and frobnicate the cache”"),
        ("update requirements, stop using dependabot", "Updated requirements, stopped using dependabot"),
        ("Add foo, bar and baz", "Added foo, bar and baz"),
        ("Fix #4567: handle empty bodies (#4570)", "Fixed handle empty bodies"),
    ],
)  # fmt: skip
def test_a_past_tense_verb_only_for_a_plain_imperative(title: str, outcome: str) -> None:
    [statement] = statements([commit("o1", title, additions=1, deletions=0)]).values()
    assert statement.startswith(f"{outcome} (1 commit, +1 line, 1 file) in acme/api on 2026-11-15")
    assert "Delivered" not in statement and "python -m" not in statement


def test_sizes_left_out_when_unknown_and_many_repositories_counted() -> None:
    evidence = [pull(n, "ABC-3 add audit trail", repo=f"acme/r{n}", refs=("ABC-3",)) for n in (1, 2, 3, 4)]
    for item in evidence:
        item.additions = item.deletions = item.files = None
    [statement] = statements(evidence).values()
    assert statement == (
        "Added audit trail across 4 pull requests in 4 repositories on 2026-11-20: acme/r1#1 “Add audit "
        "trail”, acme/r2#2 “Add audit trail”, acme/r3#3 “Add audit trail” and 1 more [ABC-3]."
    )


def test_plural() -> None:
    words = [plural(1, "commit"), plural(2, "commit"), plural(0, "file")]
    assert words == ["1 commit", "2 commits", "0 files"]
    assert plural(3, "repository", "repositories") == "3 repositories"


def test_statements_are_byte_identical_for_any_input_order() -> None:
    evidence = FIXTURES["everything"]
    expected = statements(evidence)
    for seed in range(5):
        shuffled = evidence[:]
        random.Random(seed).shuffle(shuffled)
        assert statements(shuffled) == expected
    assert len(expected) == 6


@pytest.mark.parametrize("name", [*FIXTURES, "epic", "review only"])
def test_every_offline_statement_verifies(name: str) -> None:
    evidence = {**FIXTURES, "epic": EPIC_WORK, "review only": [review(7, "Review: bump deps")]}[name]
    projects = group_projects(evidence)
    assert projects
    for project in projects:
        facts = project_facts(project, evidence)
        statement = offline_statement(project, evidence, facts)
        assert verify_statement(statement, project.evidence_ids, project, evidence, facts) == [], statement


def test_a_project_of_reviews_credits_reviewing_not_delivery() -> None:
    evidence = [review(7, "Review of Add rate limiting (#7)", day=18)]
    project = project_of(evidence)
    text = offline_statement(project, evidence, project_facts(project, evidence))
    assert text == "Reviewed 1 pull request by others in acme/api on 2026-11-18: #7 “Add rate limiting”."
    assert (
        verify_statement(text, project.evidence_ids, project, evidence, project_facts(project, evidence))
        == []
    )
    many = [review(n, f"Review of Change {n}", day=17 + n) for n in range(1, 7)]
    project = project_of(many)
    text = offline_statement(project, many, project_facts(project, many))
    assert text.startswith(
        "Reviewed 6 pull requests by others in acme/api between 2026-11-18 and 2026-11-23: "
    )
    assert text.endswith("#1 “Change 1”, #2 “Change 2”, #3 “Change 3”, #4 “Change 4” and 2 more.")
    assert verify_statement(text, project.evidence_ids, project, many, project_facts(project, many)) == []
