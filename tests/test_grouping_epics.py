"""Projects under a Jira epic: titled by the epic's summary, with ticket links in their statements."""

from __future__ import annotations

from datetime import UTC, datetime

from impact_miner.facts import project_facts
from impact_miner.grouping import group_projects, project_epic
from impact_miner.model import Evidence
from impact_miner.offline_writer import offline_statement
from impact_miner.refs import extract_refs
from impact_miner.verifier import verify_statement

JIRA = "https://acme.atlassian.net"


def at(day: int) -> datetime:
    return datetime(2026, 11, day, 12, tzinfo=UTC)


def ticket(
    key: str, title: str, *, epic: str = "", epic_title: str = "", day: int = 20, **extra: str
) -> Evidence:
    """A ticket as the Jira connector makes it: no repo, the project key and epic in ``extra``."""
    return Evidence(
        id=f"jira:{key}",
        source="jira",
        kind="ticket",
        title=title,
        url=f"{JIRA}/browse/{key}",
        completed_at=at(day),
        extra={"project": key.split("-")[0], "epic": epic, "epic_title": epic_title, "parent": "", **extra},
    )


def commit(sha: str, title: str, *, day: int = 18) -> Evidence:
    return Evidence(
        id=f"git:acme/api@{sha * 40}"[:53],
        source="git",
        kind="commit",
        title=title,
        url=f"https://github.com/acme/api/commit/{sha * 40}"[:75],
        completed_at=at(day),
        repo="acme/api",
        refs=extract_refs(title, "acme/api"),
        additions=10,
        deletions=2,
        files=1,
        extra={"sha": (sha * 40)[:40], "top_dir": "search", "paths": [f"search/{sha}.py"]},
    )


def verified(evidence: list[Evidence]) -> dict[str, str]:
    """Each project's title → its offline statement, asserting that every statement verifies."""
    found = {}
    for project in group_projects(evidence):
        facts = project_facts(project, evidence)
        statement = offline_statement(project, evidence, facts)
        assert verify_statement(statement, project.evidence_ids, project, evidence, facts) == [], statement
        found[project.title] = statement
    return found


def test_tickets_of_an_epic_that_is_not_in_the_evidence_take_its_summary() -> None:
    evidence = [
        ticket("SEARCH-1", "Add search filters", epic="SEARCH-10", epic_title="Search v2: 320 ms → 218 ms"),
        ticket(
            "SEARCH-2", "Paginate results", epic="SEARCH-10", epic_title="Search v2: 320 ms → 218 ms", day=22
        ),
        commit("a", "SEARCH-1: parse filters"),
        commit("b", "Cursor pagination (SEARCH-2)"),
    ]
    [project] = group_projects(evidence)
    assert project.title == "SEARCH-10: Search v2: 320 ms → 218 ms"
    assert project.id == "search-10" and project.keys[0] == "SEARCH-10"
    assert sorted(project.evidence_ids) == sorted(e.id for e in evidence)
    # The statement states the epic key and links the tickets; the epic's own words (and numbers) stay in
    # the title, which the verifier does not check against the evidence.
    [statement] = verified(evidence).values()
    assert statement == (  # each ticket named, never one ticket's subject for the epic
        "Work on SEARCH-10 across 2 commits and 2 tickets (+20/−4 lines, 2 files) in acme/api "
        "between 2026-11-18 and 2026-11-22: “Add search filters” and “Paginate results” "
        f"[SEARCH-10, SEARCH-1, SEARCH-2]. Tickets: {JIRA}/browse/SEARCH-1, {JIRA}/browse/SEARCH-2."
    )


def test_one_ticket_and_the_commits_naming_it_land_in_its_epic_project() -> None:
    evidence = [
        ticket("K5-2", "first story", epic="K5-1", epic_title="test epic"),
        commit("c", "K5-2: first story backend"),
        commit("d", "Unrelated docs"),
    ]
    projects = {p.title: p for p in group_projects(evidence)}
    assert sorted(projects["K5-1: test epic"].evidence_ids) == sorted([evidence[0].id, evidence[1].id])
    assert f"{JIRA}/browse/K5-2" in verified(evidence)["K5-1: test epic"]


def test_tickets_of_two_epics_never_meet_through_a_commit_citing_both() -> None:
    evidence = [
        ticket("ALPHA-1", "One", epic="ALPHA-100", epic_title="Alpha"),
        ticket("ALPHA-2", "Two", epic="ALPHA-100", epic_title="Alpha"),
        ticket("BETA-1", "Three", epic="BETA-100", epic_title="Beta"),
        commit("e", "Touch ALPHA-1, ALPHA-2 and BETA-1"),
    ]
    projects = {p.title: p for p in group_projects(evidence)}
    assert sorted(projects) == ["ALPHA-100: Alpha", "BETA-100: Beta"]
    assert evidence[3].id in projects["ALPHA-100: Alpha"].evidence_ids  # the commit joins one of them
    assert projects["BETA-100: Beta"].evidence_ids == ["jira:BETA-1"]
    assert project_epic(["BETA-100"], evidence[2:]) == ("BETA-100", "Beta")


def test_tickets_of_two_epics_citing_one_pull_request_stay_apart() -> None:
    """The same PR mentioned in two epics' tickets is not a reason to make one giant project."""
    shared_pr = "acme/api#77"
    evidence = [
        ticket("ALPHA-1", "One", epic="ALPHA-100", epic_title="Alpha"),
        ticket("ALPHA-2", "Two", epic="ALPHA-100", epic_title="Alpha"),
        ticket("BETA-1", "Three", epic="BETA-100", epic_title="Beta"),
        ticket("BETA-2", "Four", epic="BETA-100", epic_title="Beta"),
    ]
    for item in evidence:
        item.refs = [shared_pr]
    projects = {p.title: sorted(p.evidence_ids) for p in group_projects(evidence)}
    assert projects == {
        "ALPHA-100: Alpha": ["jira:ALPHA-1", "jira:ALPHA-2"],
        "BETA-100: Beta": ["jira:BETA-1", "jira:BETA-2"],
    }
    tie = [
        ticket("ALPHA-1", "One", epic="ALPHA-100", epic_title="Alpha"),
        ticket("BETA-1", "Two", epic="BETA-100", epic_title="Beta"),
    ]
    assert project_epic(["BETA-100", "ALPHA-100"], tie) == (
        "BETA-100",
        "Beta",
    )  # a tie goes to the first shared key
    assert project_epic([], tie) == ("ALPHA-100", "Alpha")


def test_an_epic_without_a_known_summary_keeps_the_ticket_title() -> None:
    evidence = [ticket("OPS-1", "Rotate certificates", epic="OPS-9"), commit("f", "OPS-1 rotate")]
    [project] = group_projects(evidence)
    assert project.title == "OPS-1: Rotate certificates"
    assert project_epic(project.keys, evidence) == ("", "")
    sub_task = [ticket("OPS-2", "Rotate the CA", parent="OPS-1"), ticket("OPS-1", "Rotate certificates")]
    [project] = group_projects(sub_task)
    assert project.title == "OPS-1: Rotate certificates"  # a sub-task joins its parent, which names it


def test_statements_link_at_most_five_tickets() -> None:
    evidence = [
        ticket(f"WEB-{n}", f"Page {n}", epic="WEBETA-100", epic_title="Redesign", day=n + 1)
        for n in range(1, 8)
    ]
    [statement] = verified(evidence).values()
    links = statement.split(" Tickets: ", 1)[1]
    assert links == ", ".join(f"{JIRA}/browse/WEB-{n}" for n in range(1, 6)) + ", …."
    no_url = [ticket("OPS-1", "Offline ticket"), commit("g", "OPS-1 offline")]
    no_url[0].url = "OPS-1"
    assert "Tickets:" not in verified(no_url)["OPS-1: Offline ticket"]


def test_lone_tickets_are_each_their_own_project_not_one_lump() -> None:
    """Tickets carry no repository, so grouping unlinked ones by area would lump a whole sprint together."""
    evidence = [
        ticket("EE-2000", "Bulk ticket zero"),
        ticket("EE-2001", "Bulk ticket one"),
        ticket("K5-3", "second story", epic="K5-4", epic_title="K5 epic"),
        commit("h", "Speed up billing export"),
    ]
    titles = sorted(verified(evidence))
    assert titles == [
        "EE-2000: Bulk ticket zero",
        "EE-2001: Bulk ticket one",
        "K5-4: K5 epic",
        "Speed up billing export",
    ]
    assert {p.id for p in group_projects(evidence)} == {
        "ee-2000",
        "ee-2001",
        "k5-4",
        "speed-up-billing-export",
    }
