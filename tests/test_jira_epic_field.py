"""Epics without configuration: the Jira connector finds the Epic Link field in the site's field list.

Runs on the payloads in ``tests/fixtures/jira/epic_link_*.json`` (shaped like the recorded ones in
``../shared/data/jira``), so it needs nothing outside the project. Request counts are exact: every HTTP
request the loopback fake receives is counted, the field list and retries included.
"""

from __future__ import annotations

import copy
import json
import math
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from fake_jira import CLOUD_EMAIL, CLOUD_TOKEN, SERVER_PAT, FakeJira, Issue, resolved
from impact_miner.cache import Cache
from impact_miner.connectors import jira as jira_connector
from impact_miner.connectors.jira import EPIC_LINK_TYPE, epic_link_fields, epic_of, read_settings
from impact_miner.errors import SourceError
from impact_miner.model import FetchResult, Person, SourceSection, TimeRange
from impact_miner.pipeline import build_report
from impact_miner.registry import FetchContext
from impact_miner.runspec import RunSpec

FIXTURES = Path(__file__).parent / "fixtures" / "jira"
ISSUES: dict[str, Issue] = json.loads((FIXTURES / "epic_link_issues.json").read_text(encoding="utf-8"))
SERVER_FIELDS: list[dict[str, Any]] = json.loads(
    (FIXTURES / "epic_link_server_fields.json").read_text("utf-8")
)
CLOUD_FIELDS: list[dict[str, Any]] = json.loads((FIXTURES / "epic_link_cloud_fields.json").read_text("utf-8"))
NO_EPIC_LINK = [f for f in CLOUD_FIELDS if (f.get("schema") or {}).get("custom") != EPIC_LINK_TYPE]

CST = timezone(timedelta(hours=8))
SINCE = datetime(2020, 6, 15, tzinfo=CST)
RANGE = TimeRange(SINCE, SINCE + timedelta(days=14), "2020-06-15..2020-06-28")
NEXT_RANGE = TimeRange(SINCE + timedelta(days=14), SINCE + timedelta(days=28), "2020-06-29..2020-07-12")
AFTER = datetime(2020, 8, 1, tzinfo=UTC)  # both ranges had ended: cacheable

ADMIN = {**ISSUES["server_story"]["fields"]["assignee"], "_token": SERVER_PAT}
ME = {**ISSUES["cloud_story"]["fields"]["assignee"], "emailAddress": CLOUD_EMAIL, "_token": CLOUD_TOKEN}
SERVER_EPICS = {"OPS-1": "Search relevance", "OPS-2": "Billing export"}
CLOUD_EPICS = {"SRCH-1": "Search relevance", "SRCH-2": "Billing export"}
TEAM_EPICS = {"WEB-1": "New checkout", "WEB-2": "Saved cards"}


class Sleeps(list[float]):
    def __call__(self, seconds: float) -> None:
        self.append(seconds)


def context(cache: Cache | None = None) -> tuple[FetchContext, Sleeps]:
    sleeps = Sleeps()
    return FetchContext(now=AFTER, cache=cache, sleep=sleeps), sleeps


def budget(n: int) -> int:
    return math.ceil(n / 100) + 2


def epic(template: str, key: str, summary: str) -> Issue:
    """An open epic on the site (not the person's, not done): a copy of the fixture, re-keyed."""
    issue = copy.deepcopy(ISSUES[template])
    issue["key"], issue["id"] = key, str(20000 + int(key.rsplit("-", 1)[1]))
    issue["fields"]["summary"] = summary
    return issue


def parent_of(issue: Issue) -> dict[str, Any]:
    """The ``parent`` field Cloud sends for a child of ``issue`` (an epic: hierarchy level 1)."""
    fields = issue["fields"]
    return {
        "id": issue["id"],
        "key": issue["key"],
        "self": f"https://acme.atlassian.net/rest/api/3/issue/{issue['id']}",
        "fields": {k: copy.deepcopy(fields[k]) for k in ("summary", "status", "issuetype")},
    }


def stories(
    template: str, n: int, epics: list[str], prefix: str, user: dict[str, Any], **fields: Any
) -> list[Issue]:
    """``n`` copies of a fixture story, resolved across RANGE, the i-th under ``epics[i % len(epics)]``;
    ``fields`` values may be callables of the epic key."""
    assignee = {k: v for k, v in user.items() if not k.startswith("_")}
    step = timedelta(days=13) / max(n, 1)
    made = []
    for i in range(n):
        key = epics[i % len(epics)]
        values = {name: value(key) if callable(value) else value for name, value in fields.items()}
        when = SINCE + step * i + timedelta(minutes=1)
        made.append(resolved(ISSUES[template], when, key=f"{prefix}-{100 + i}", assignee=assignee, **values))
    return made


def server_site(n: int, **fields: Any) -> tuple[FakeJira, list[Issue]]:
    epics = [epic("server_epic", key, summary) for key, summary in SERVER_EPICS.items()]
    fields = fields or {"customfield_10100": lambda key: key}
    issues = stories("server_story", n, list(SERVER_EPICS), "OPS", ADMIN, **fields)
    fake = FakeJira.server([*epics, *issues], users=[ADMIN])
    fake.site_fields = copy.deepcopy(SERVER_FIELDS)
    return fake, issues


def server_section(fake: FakeJira, **options: Any) -> SourceSection:
    return SourceSection("dc-jira", "jira", {"url": fake.url, "token": SERVER_PAT, **options})


def cloud_section(fake: FakeJira, **options: Any) -> SourceSection:
    return SourceSection(
        "work-jira", "jira", {"url": fake.url, "email": CLOUD_EMAIL, "token": CLOUD_TOKEN, **options}
    )


def paths(fake: FakeJira) -> list[str]:
    return [r.path for r in fake.requests]


def epics_of(result: FetchResult) -> dict[str, tuple[str, str]]:
    return {e.locator: (e.extra["epic"], e.extra["epic_title"]) for e in result.evidence}


# ---- Server / Data Center -----------------------------------------------------------------------------


def test_server_epic_link_found_without_configuration_within_budget_and_cached(tmp_path: Path) -> None:
    """250 tickets under 2 epics on a Server site with an Epic Link field, no ``epic_field`` configured."""
    n = 250
    cache = Cache(tmp_path / "cache.sqlite3")
    fake, _ = server_site(n)
    with fake:
        result = jira_connector.fetch(Person(), RANGE, server_section(fake), context(cache)[0])

        assert len(result.evidence) == n
        assert set(epics_of(result).values()) == set(SERVER_EPICS.items())  # every ticket: its epic and title
        assert all(e.extra["epic"] for e in result.evidence)
        # the field list once, three pages of 100, one lookup of the two epics' summaries
        assert paths(fake) == ["/rest/api/2/field"] + ["/rest/api/2/search"] * 4
        assert len(fake.requests) == 5 == budget(n)
        assert all("customfield_10100" in r.param("fields").split(",") for r in fake.searches()[:3])
        lookup = fake.searches()[3]
        assert (lookup.param("jql"), lookup.param("fields")) == ("key in (OPS-1, OPS-2)", "summary")
        assert result.report.status == "ok" and result.report.detail.endswith("; 5 requests")
        first = [e.to_dict() for e in result.evidence]

        fake.reset()  # the same range again: served from the cache, no client built
        again = jira_connector.fetch(Person(), RANGE, server_section(fake), context(cache)[0])
        assert fake.requests == []
        assert [e.to_dict() for e in again.evidence] == first
        assert again.report.detail.endswith("from cache, 0 requests")

        fake.reset()  # another range: the field id comes from the cache, only the search is made
        jira_connector.fetch(Person(), NEXT_RANGE, server_section(fake), context(cache)[0])
        assert paths(fake) == ["/rest/api/2/search"]
        assert "customfield_10100" in fake.requests[0].param("fields").split(",")

        fake.reset()  # --refresh asks the site again
        jira_connector.fetch(
            Person(), NEXT_RANGE, server_section(fake), context(Cache(cache.path, refresh=True))[0]
        )
        assert paths(fake) == ["/rest/api/2/field", "/rest/api/2/search"]
    assert SERVER_PAT.encode() not in cache.path.read_bytes()


WORK = ["Fuzzy matching for product names", "Nightly invoice CSV", "Synonym dictionary upload",
        "Refund lines in the export", "Boost recent documents", "Currency column per invoice",
        "Typo tolerance in autocomplete", "Export retries on timeout", "Rank pinned results first",
        "Tax totals per country", "Highlight matched words", "Archive exports after 90 days"]  # fmt: skip


def test_server_tickets_under_two_epics_become_two_projects() -> None:
    """The motivation: without the Epic Link these would be twelve one-ticket projects."""
    fake, issues = server_site(12)
    for issue, title in zip(issues, WORK, strict=True):
        issue["fields"]["summary"] = title
    with fake:
        spec = RunSpec(
            person=Person(),
            time_range=RANGE,
            sources=[(jira_connector.connector, server_section(fake))],
            now=AFTER,
        )
        report = build_report(spec)
    titles = sorted(p.title for p in report.projects)
    assert titles == ["OPS-1: Search relevance", "OPS-2: Billing export"]
    assert all(len(p.evidence_ids) == 6 for p in report.projects)


def test_an_epic_found_by_the_search_needs_no_title_lookup() -> None:
    """The person resolved the epic too: its summary is already known."""
    fake, _ = server_site(3, customfield_10100="OPS-1")
    own_epic = resolved(epic("server_epic", "OPS-1", "Search relevance"), SINCE + timedelta(days=13),
                        assignee={k: v for k, v in ADMIN.items() if k != "_token"})  # fmt: skip
    fake.issues = [own_epic if i["key"] == "OPS-1" else i for i in fake.issues]
    with fake:
        result = jira_connector.fetch(Person(), RANGE, server_section(fake), context()[0])
        assert paths(fake) == ["/rest/api/2/field", "/rest/api/2/search"]
    found = epics_of(result)
    assert found["OPS-1"] == ("", "")  # an epic is not its own epic
    assert {found[f"OPS-{100 + i}"] for i in range(3)} == {("OPS-1", "Search relevance")}


def test_a_configured_epic_field_is_used_without_the_field_list() -> None:
    fake, _ = server_site(4)
    with fake:
        result = jira_connector.fetch(
            Person(), RANGE, server_section(fake, epic_field="customfield_10100"), context()[0]
        )
        assert paths(fake) == ["/rest/api/2/search", "/rest/api/2/search"]  # the tickets, the epics' titles
    assert set(epics_of(result).values()) == set(SERVER_EPICS.items())
    assert "epic_field" not in result.report.detail


def test_a_configured_epic_field_the_site_does_not_have_gets_one_line() -> None:
    fake, _ = server_site(3)
    with fake:
        result = jira_connector.fetch(
            Person(), RANGE, server_section(fake, epic_field="customfield_99999"), context()[0]
        )
        assert paths(fake) == ["/rest/api/2/search"]
    assert len(result.evidence) == 3 and all(e.extra["epic"] == "" for e in result.evidence)
    assert result.report.status == "ok"
    assert (
        'sources.dc-jira.epic_field = "customfield_99999" is on none of the 3 tickets found: Jira has no '
        f"such field (or not in these projects); check the id in {fake.url}/rest/api/2/field, or remove "
        "epic_field to have the Epic Link field found"
    ) in result.report.detail
    assert "\n" not in result.report.detail


def test_a_site_without_an_epic_link_field_is_remembered(tmp_path: Path) -> None:
    cache = Cache(tmp_path / "cache.sqlite3")
    fake, _ = server_site(2)
    fake.site_fields = [f for f in SERVER_FIELDS if (f.get("schema") or {}).get("custom") != EPIC_LINK_TYPE]
    with fake:
        result = jira_connector.fetch(Person(), RANGE, server_section(fake), context(cache)[0])
        assert paths(fake) == ["/rest/api/2/field", "/rest/api/2/search"]
        assert "customfield_10100" not in fake.requests[1].param("fields")
        assert result.report.status == "ok" and all(e.extra["epic"] == "" for e in result.evidence)
        fake.reset()
        jira_connector.fetch(Person(), NEXT_RANGE, server_section(fake), context(cache)[0])
        assert paths(fake) == ["/rest/api/2/search"]


# ---- a field list Jira will not give --------------------------------------------------------------------


def test_a_failing_field_list_keeps_the_tickets_marks_partial_and_is_asked_again(tmp_path: Path) -> None:
    cache = Cache(tmp_path / "cache.sqlite3")
    fake, _ = server_site(3)
    with fake:
        fake.fail(
            "/field", 500, {"errorMessages": ["Internal server error"]}, times=4
        )  # a broken field plugin
        ctx, sleeps = context(cache)
        result = jira_connector.fetch(Person(), RANGE, server_section(fake), ctx)
        assert sleeps == [1.0, 2.0, 4.0] and paths(fake) == ["/rest/api/2/field"] * 4 + ["/rest/api/2/search"]
        assert len(result.evidence) == 3 and result.report.status == "partial"
        assert (
            "Epic Link field not found (Jira answered HTTP 500 for /field: Internal server error "
            "(4 attempts); try again later); epics come from parent and agile fields only: set "
            'sources.dc-jira.epic_field = "customfield_…" if some are missing'
        ) in result.report.detail

        fake.reset()  # neither the failure nor the partial window was kept
        result = jira_connector.fetch(Person(), RANGE, server_section(fake), context(cache)[0])
        assert paths(fake)[0] == "/rest/api/2/field" and result.report.status == "ok"
        assert set(epics_of(result).values()) == set(SERVER_EPICS.items())


@pytest.mark.parametrize(
    ("status", "body", "said"),
    [
        (404, {"message": "null for uri", "status-code": 404}, "Jira answered HTTP 404 for /field"),
        (403, {"errorMessages": ["Forbidden"]}, "Jira refused access (HTTP 403: Forbidden)"),
        (200, {"unexpected": "object"}, "Jira answered /field without a list"),
    ],
)
def test_a_refused_or_odd_field_list_is_one_line(status: int, body: Any, said: str) -> None:
    fake, _ = server_site(2)
    with fake:
        fake.fail("/field", status, body)
        result = jira_connector.fetch(Person(), RANGE, server_section(fake), context()[0])
        assert len(fake.requests) == 2
    assert len(result.evidence) == 2 and result.report.status == "partial"
    assert f"Epic Link field not found ({said}" in result.report.detail


def test_a_rate_limit_on_the_field_list_fails_the_source_clearly() -> None:
    fake, _ = server_site(2)
    with fake:
        fake.fail("/field", 429, {}, headers={"Retry-After": "3600"})
        with pytest.raises(SourceError) as raised:
            jira_connector.fetch(Person(), RANGE, server_section(fake, max_wait=60), context()[0])
        assert paths(fake) == ["/rest/api/2/field"]
    assert str(raised.value) == (
        "Jira rate limit: asked to wait 3600 s, more than sources.dc-jira.max_wait = 60 s; rerun later or "
        "raise sources.dc-jira.max_wait"
    )


def test_parallel_fetches_of_one_site_ask_for_the_field_list_once(tmp_path: Path) -> None:
    """A team batch runs people in parallel against one site: one of them asks, the rest read the cache."""
    cache = Cache(tmp_path / "cache.sqlite3")
    fake, _ = server_site(4)
    ranges = [
        TimeRange(SINCE + timedelta(days=d), SINCE + timedelta(days=d + 3), f"r{d}") for d in range(0, 12, 3)
    ]
    with fake:
        fake.fail("/field", None, delay=0.3)  # answers late, so the others are waiting meanwhile
        with ThreadPoolExecutor(4) as pool:
            results = list(
                pool.map(
                    lambda r: jira_connector.fetch(Person(), r, server_section(fake), context(cache)[0]),
                    ranges,
                )
            )
        assert paths(fake).count("/rest/api/2/field") == 1
    assert sum(len(r.evidence) for r in results) == 4
    assert all(e.extra["epic"] for r in results for e in r.evidence)


# ---- Cloud ----------------------------------------------------------------------------------------------


def cloud_site(issues: list[Issue], fields: list[dict[str, Any]]) -> FakeJira:
    fake = FakeJira.cloud(issues, users=[ME])
    fake.site_fields = copy.deepcopy(fields)
    return fake


def test_cloud_team_managed_epics_arrive_as_parent_within_budget(tmp_path: Path) -> None:
    n = 150
    epics = {key: epic("cloud_epic", key, summary) for key, summary in TEAM_EPICS.items()}
    issues = stories(
        "cloud_team_story", n, list(TEAM_EPICS), "WEB", ME, parent=lambda key: parent_of(epics[key])
    )
    cache = Cache(tmp_path / "cache.sqlite3")
    with cloud_site([*epics.values(), *issues], CLOUD_FIELDS) as fake:
        result = jira_connector.fetch(Person(), RANGE, cloud_section(fake), context(cache)[0])
        # the field list, two pages; the parent carries the epic's summary, so no lookup
        assert paths(fake) == ["/rest/api/3/field", "/rest/api/3/search/jql", "/rest/api/3/search/jql"]
        assert len(fake.requests) == 3 <= budget(n)
        fake.reset()
        jira_connector.fetch(Person(), RANGE, cloud_section(fake), context(cache)[0])
        assert fake.requests == []
    assert len(result.evidence) == n
    assert set(epics_of(result).values()) == set(TEAM_EPICS.items())

    # A site whose field list has no Epic Link field at all: the same epics, from the parent.
    with cloud_site([*epics.values(), *issues], NO_EPIC_LINK) as fake:
        result = jira_connector.fetch(Person(), RANGE, cloud_section(fake), context()[0])
        assert "customfield_10014" not in fake.searches()[0].param("fields")
        assert len(fake.requests) == 3
    assert set(epics_of(result).values()) == set(TEAM_EPICS.items())


def test_cloud_company_managed_with_an_epic_link_field_and_parent_within_budget() -> None:
    """Today's Cloud sends both the Epic Link field and ``parent``; the field's name is localised."""
    n = 200
    epics = {key: epic("cloud_epic", key, summary) for key, summary in CLOUD_EPICS.items()}
    issues = stories("cloud_story", n, list(CLOUD_EPICS), "SRCH", ME,
                     parent=lambda key: parent_of(epics[key]), customfield_10014=lambda key: key)  # fmt: skip
    with cloud_site([*epics.values(), *issues], CLOUD_FIELDS) as fake:
        person = Person(logins={"jira": CLOUD_EMAIL})  # given by email: one user lookup
        result = jira_connector.fetch(person, RANGE, cloud_section(fake), context()[0])
        assert (
            paths(fake) == ["/rest/api/3/user/search", "/rest/api/3/field"] + ["/rest/api/3/search/jql"] * 2
        )
        assert len(fake.requests) == 4 == budget(n)
        search = next(r for r in fake.requests if r.path.endswith("/search/jql"))
        assert "customfield_10014" in search.param("fields").split(",")
    assert len(result.evidence) == n
    assert set(epics_of(result).values()) == set(CLOUD_EPICS.items())


def test_cloud_company_managed_epic_link_only_looks_the_titles_up_within_budget() -> None:
    """Issues whose epic is only in the Epic Link field (no parent): one lookup of the epics' summaries."""
    n = 120
    epics = [epic("cloud_epic", key, summary) for key, summary in CLOUD_EPICS.items()]
    issues = stories(
        "cloud_story", n, list(CLOUD_EPICS), "SRCH", ME, parent=None, customfield_10014=lambda k: k
    )
    with cloud_site([*epics, *issues], CLOUD_FIELDS) as fake:
        result = jira_connector.fetch(Person(), RANGE, cloud_section(fake), context()[0])
        assert paths(fake) == ["/rest/api/3/field"] + ["/rest/api/3/search/jql"] * 3
        assert len(fake.requests) == 4 == budget(n)
        assert fake.searches()[2].param("jql") == "key in (SRCH-1, SRCH-2)"
    assert len(result.evidence) == n
    assert set(epics_of(result).values()) == set(CLOUD_EPICS.items())


# ---- matching the field ---------------------------------------------------------------------------------


def test_the_epic_link_field_is_matched_on_its_schema_type_never_its_name() -> None:
    assert epic_link_fields(SERVER_FIELDS) == ["customfield_10100"]
    assert epic_link_fields(CLOUD_FIELDS) == ["customfield_10014"]  # named 史诗链接 on this site
    text_field = "com.atlassian.jira.plugin.system.customfieldtypes:textfield"
    impostor = {"id": "customfield_10300", "name": "Epic Link", "custom": True,
                "schema": {"type": "string", "custom": text_field, "customId": 10300}}  # fmt: skip
    duplicate = {"id": "customfield_10400", "name": "Epic Link", "custom": True,
                 "schema": {"type": "any", "custom": EPIC_LINK_TYPE, "customId": 10400}}  # fmt: skip
    odd = [
        None,
        "x",
        {"id": 5, "schema": {"custom": EPIC_LINK_TYPE}},
        {"id": "bad id", "schema": {"custom": EPIC_LINK_TYPE}},
    ]
    assert epic_link_fields([duplicate, impostor, *odd, *SERVER_FIELDS]) == [
        "customfield_10100",
        "customfield_10400",
    ]
    assert epic_link_fields({"errorMessages": []}) == [] and epic_link_fields([]) == []


def test_with_two_epic_link_fields_the_one_that_holds_a_key_wins() -> None:
    settings = read_settings(SourceSection("j", "jira", {"url": "https://jira.example.com", "token": "t"}))
    settings = replace(settings, found_epic_fields=("customfield_10100", "customfield_10400"))
    assert "customfield_10400" in settings.fields()
    assert epic_of({"customfield_10100": None, "customfield_10400": "OPS-2"}, settings) == ("OPS-2", "")
    assert epic_of({"customfield_10100": {"key": "OPS-1", "summary": "S"}}, settings) == ("OPS-1", "S")
    assert epic_of({"customfield_10100": "not a key"}, settings) == ("", "")
