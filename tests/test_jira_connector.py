"""The Jira connector against a loopback fake Jira (Cloud and Server) fed with real recorded issues."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import pytest

from clirun import run_mine as run_cli
from fake_jira import (
    CLOUD_EMAIL,
    CLOUD_TOKEN,
    INACTIVE_CLOUD_USER,
    SERVER_PAT,
    FakeJira,
    Issue,
    adf,
    by_key,
    cloud_catalogue,
    cloud_user,
    resolved,
    server_catalogue,
    server_user,
)
from gitrepo import ADA, GitRepo
from impact_miner.cache import Cache
from impact_miner.connectors import git as git_connector
from impact_miner.connectors import jira as jira_connector
from impact_miner.connectors.jira import adf_text, build_jql, parse_datetime, ticket_evidence
from impact_miner.errors import ConfigError, SourceError
from impact_miner.model import Person, SourceSection, TimeRange
from impact_miner.pipeline import build_report
from impact_miner.registry import FetchContext
from impact_miner.runspec import RunSpec

CST = timezone(timedelta(hours=8))  # the recorded Cloud site's users are in Asia/Shanghai
SINCE = datetime(2020, 6, 15, tzinfo=CST)
UNTIL = datetime(2020, 6, 29, tzinfo=CST)
RANGE = TimeRange(SINCE, UNTIL, "2020-06-15..2020-06-28")
AFTER = datetime(2020, 7, 1, tzinfo=UTC)  # the range had ended: cacheable
DURING = datetime(2020, 6, 20, tzinfo=UTC)  # the range is still open: never cached
SERVER_SINCE = datetime(2023, 6, 1, tzinfo=UTC)
SERVER_RANGE = TimeRange(SERVER_SINCE, SERVER_SINCE + timedelta(days=14), "2023-06-01..2023-06-14")
SERVER_AFTER = datetime(2023, 7, 1, tzinfo=UTC)

CLOUD = by_key(cloud_catalogue())
SERVER = by_key(server_catalogue())
ME = cloud_user(CLOUD.values())
ADMIN = server_user(SERVER.values())
# The person's resolved tickets in RANGE on the recorded Cloud site: EE-1 and EE-37 are "已完成" (done) by
# name but in status category "new", so they are not; EE-25..EE-34 are sub-tasks.
CLOUD_MINE = ["EE-2", "EE-3", "EE-4", "EE-5", "EE-25", "EE-28", "EE-29", "EE-32", "EE-34"]


class Sleeps(list[float]):
    """An injected sleep that records the waits instead of waiting."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


def context(now: datetime = AFTER, cache: Cache | None = None) -> tuple[FetchContext, Sleeps]:
    sleeps = Sleeps()
    return FetchContext(now=now, cache=cache, sleep=sleeps), sleeps


def cloud_section(fake: FakeJira, name: str = "work-jira", **options: Any) -> SourceSection:
    return SourceSection(
        name, "jira", {"url": fake.url, "email": CLOUD_EMAIL, "token": CLOUD_TOKEN, **options}
    )


def server_section(fake: FakeJira, name: str = "dc-jira", **options: Any) -> SourceSection:
    return SourceSection(name, "jira", {"url": fake.url + "/", "token": SERVER_PAT, **options})


def epic_issues() -> list[Issue]:
    """K5-2 (agile epic K5-1, which is not on the site) and K5-3 (epic K5-4), resolved by the person."""
    return [
        resolved(CLOUD["K5-2"], datetime(2020, 6, 20, 10, tzinfo=CST), assignee=ME),
        resolved(CLOUD["K5-3"], datetime(2020, 6, 22, 16, tzinfo=CST), assignee=ME),
    ]


def bulk(
    n: int, *, server: bool = False, start: datetime = SINCE, span: timedelta | None = None
) -> list[Issue]:
    """``n`` copies of a recorded issue, re-keyed, assigned to the person, resolved across the range."""
    template, user, prefix = (
        (SERVER["DZFNK0168-3"], ADMIN, "DZFNK0168") if server else (CLOUD["EE-2"], ME, "EE")
    )
    span = span or timedelta(days=13)
    step = span / max(n, 1)
    offset = 0 if server else 8
    return [
        resolved(template, start + step * i + timedelta(minutes=1), key=f"{prefix}-{1000 + i}", assignee=user,
                 offset_hours=offset)
        for i in range(n)
    ]  # fmt: skip


@pytest.fixture
def cloud() -> Iterator[FakeJira]:
    with FakeJira.cloud([*CLOUD.values(), *epic_issues()]) as fake:
        yield fake


# ---- the recorded Cloud site --------------------------------------------------------------------------


def test_cloud_finds_the_persons_resolved_tickets_in_one_search(cloud: FakeJira) -> None:
    ctx, _ = context()
    result = jira_connector.fetch(
        Person(), RANGE, cloud_section(cloud, story_points_field="customfield_10024"), ctx
    )
    found = {e.locator: e for e in result.evidence}
    assert sorted(found) == sorted([*CLOUD_MINE, "K5-2", "K5-3"])
    assert [r.path for r in cloud.requests] == ["/rest/api/3/field", "/rest/api/3/search/jql"]  # no cache
    request = cloud.requests[1]
    assert request.auth == f"basic {CLOUD_EMAIL}"
    assert request.param("jql") == (
        'assignee = currentUser() AND statusCategory = Done AND resolutiondate >= "2020-06-13 16:00" '
        'AND resolutiondate < "2020-06-29 16:00" ORDER BY resolutiondate ASC, key ASC'
    )
    assert request.param("maxResults") == "100"
    assert "summary" in request.param("fields") and "customfield_10024" in request.param("fields")

    story = found["EE-2"]
    assert story.id == "jira:EE-2" and story.kind == "ticket" and story.source == "jira"
    assert story.title == "问题堆叠分布排序图"  # the recorded summary starts with a zero-width space
    assert story.url == f"{cloud.url}/browse/EE-2"
    assert story.completed_at == datetime(2020, 6, 23, 18, 20, 58, 999000, tzinfo=CST)
    assert story.created_at is not None and story.created_at.utcoffset() == timedelta(hours=8)
    assert story.repo == "" and story.author == "Dingding Zhang"
    assert story.labels == ["frontEnd", "Saas"]
    assert story.extra["project"] == "EE" and story.extra["source_name"] == "work-jira"
    assert story.extra["status"] == "已完成" and story.extra["status_category"] == "done"
    assert story.extra["issue_type"] == "故事" and story.extra["hierarchy_level"] == 0
    assert story.extra["fix_versions"] == ["v2.7.0"] and story.extra["components"] == []
    assert story.extra["story_points"] == 2
    assert result.report.status == "ok" and result.report.items == 11
    assert "assignee currentUser() = Dingding Zhang (5ecfbd0c730ec90c1999cadf)" in result.report.detail
    assert result.report.detail.endswith("; 2 requests")


def test_sub_tasks_keep_their_parent_and_level(cloud: FakeJira) -> None:
    ctx, _ = context()
    found = {e.locator: e for e in jira_connector.fetch(Person(), RANGE, cloud_section(cloud), ctx).evidence}
    sub_task = found["EE-29"]
    assert sub_task.extra["hierarchy_level"] == -1 and sub_task.extra["issue_type"] == "子任务"
    assert sub_task.extra["parent"] == "EE-2" and "EE-2" in sub_task.refs
    assert sub_task.extra["epic"] == ""  # a sub-task's parent is a story (level 0), not an epic


def test_epics_from_the_agile_field_the_parent_or_a_custom_field(cloud: FakeJira) -> None:
    ctx, _ = context()
    found = {e.locator: e for e in jira_connector.fetch(Person(), RANGE, cloud_section(cloud), ctx).evidence}
    assert (found["K5-2"].extra["epic"], found["K5-2"].extra["epic_title"]) == ("K5-1", "test epic")
    assert (found["K5-3"].extra["epic"], found["K5-3"].extra["epic_title"]) == ("K5-4", "K5 epic")

    # A team-managed project: no agile field, the epic is the parent at hierarchy level 1.
    team = [resolved(i, i_when, assignee=ME, epic=None) for i, i_when in _epic_pairs()]
    with FakeJira.cloud(team) as fake:
        found = {
            e.locator: e for e in jira_connector.fetch(Person(), RANGE, cloud_section(fake), ctx).evidence
        }
    assert (found["K5-2"].extra["epic"], found["K5-2"].extra["epic_title"]) == ("K5-1", "test epic")
    assert found["K5-2"].extra["parent"] == "K5-1"

    # An "Epic Link" custom field holds only the key: one more request looks the titles up. K5-1 is not on
    # the site, so Jira rejects that lookup; the tickets keep their epic keys without titles.
    linked = [resolved(i, when, assignee=ME, epic=None, parent=None) for i, when in _epic_pairs()]
    with FakeJira.cloud([*linked, CLOUD["K5-4"]]) as fake:
        section = cloud_section(fake, epic_field="customfield_10014")
        result = jira_connector.fetch(Person(), RANGE, section, ctx)
        assert len(fake.requests) == 2
        assert fake.requests[1].param("jql") == "key in (K5-1, K5-4)"
    found = {e.locator: e for e in result.evidence}
    assert (found["K5-3"].extra["epic"], found["K5-3"].extra["epic_title"]) == ("K5-4", "")
    assert "epic titles unavailable" in result.report.detail
    assert "An issue with key 'K5-1' does not exist for field 'key'." in result.report.detail
    assert result.report.status == "ok"

    only_k5_3 = [
        resolved(CLOUD["K5-3"], datetime(2020, 6, 22, tzinfo=CST), assignee=ME, epic=None, parent=None)
    ]
    with FakeJira.cloud([*only_k5_3, CLOUD["K5-4"]]) as fake:
        result = jira_connector.fetch(
            Person(), RANGE, cloud_section(fake, epic_field="customfield_10014"), ctx
        )
        assert len(fake.requests) == 2
    assert (result.evidence[0].extra["epic"], result.evidence[0].extra["epic_title"]) == ("K5-4", "K5 epic")


def paragraph(text: str) -> dict[str, Any]:
    return {"type": "paragraph", "content": [{"type": "text", "text": text}]}


def node(kind: str, *content: dict[str, Any], **attrs: Any) -> dict[str, Any]:
    return {"type": kind, "content": list(content), **({"attrs": attrs} if attrs else {})}


def _epic_pairs() -> list[tuple[Issue, datetime]]:
    return [
        (CLOUD["K5-2"], datetime(2020, 6, 20, tzinfo=CST)),
        (CLOUD["K5-3"], datetime(2020, 6, 22, tzinfo=CST)),
    ]


def test_the_exact_range_is_enforced_on_the_resolution_date() -> None:
    """JQL is read in the user's time zone, so the query is a day wider; [since, until) is applied here."""
    edges = {
        "EE-901": SINCE - timedelta(milliseconds=1),
        "EE-902": SINCE,
        "EE-903": UNTIL - timedelta(milliseconds=1),
        "EE-904": UNTIL,
    }
    issues = [
        resolved(CLOUD["EE-5"], when, key=key, assignee=ME, offset_hours=-7) for key, when in edges.items()
    ]
    with FakeJira.cloud(issues) as fake:
        result = jira_connector.fetch(Person(), RANGE, cloud_section(fake), context()[0])
    assert sorted(e.locator for e in result.evidence) == ["EE-902", "EE-903"]
    assert result.evidence[0].completed_at.utcoffset() == timedelta(hours=-7)
    assert "(of 4 found; 2 outside the exact range)" in result.report.detail


def test_localised_status_names_never_decide_done() -> None:
    """Status names are localised: only statusCategory.key counts (the JQL and the check here agree)."""
    fake_done = dict(CLOUD["EE-2"]["fields"]["status"], name="Done")
    fake_done["statusCategory"] = dict(fake_done["statusCategory"], key="indeterminate", name="进行中")
    issues = [
        resolved(CLOUD["EE-5"], datetime(2020, 6, 20, tzinfo=CST), key="EE-801", assignee=ME),
        resolved(
            CLOUD["EE-5"], datetime(2020, 6, 21, tzinfo=CST), key="EE-802", assignee=ME, status=fake_done
        ),
    ]
    with FakeJira.cloud(issues) as fake:
        result = jira_connector.fetch(Person(), RANGE, cloud_section(fake), context()[0])
    assert [e.locator for e in result.evidence] == ["EE-801"]


def test_missing_and_null_fields_still_give_evidence() -> None:
    bare: Issue = {"id": "1", "key": "EE-700", "fields": {"resolutiondate": "2020-06-20T10:00:00.000+0800"}}
    nulls: Issue = {
        "id": "2",
        "key": "EE-701",
        "fields": {
            "resolutiondate": "2020-06-21T10:00:00.000+0800", "summary": None, "description": None,
            "labels": None, "components": None, "fixVersions": None, "assignee": None, "parent": None,
            "issuetype": None, "status": None, "project": None, "issuelinks": None, "epic": None,
        },
    }  # fmt: skip
    settings = jira_connector.read_settings(
        SourceSection("j", "jira", {"url": "https://x.test", "token": "t"})
    )
    for issue in (bare, nulls):
        evidence = ticket_evidence(issue, settings)
        assert evidence is not None
        assert evidence.title == issue["key"] and evidence.body == "" and evidence.refs == []
        assert evidence.extra["project"] == "EE" and evidence.extra["epic"] == ""
        assert evidence.extra["hierarchy_level"] is None and evidence.author == ""
    assert ticket_evidence({"key": "EE-9", "fields": {"resolutiondate": None}}, settings) is None
    assert ticket_evidence({"fields": {}}, settings) is None


def test_adf_descriptions_become_plain_text() -> None:
    document = adf(
        "Move index merges off the request path.",
        {"type": "heading", "attrs": {"level": 2}, "content": [{"type": "text", "text": "Result"}]},
        {
            "type": "paragraph",
            "content": [
                {"type": "text", "text": "p95 320 ms → 218 ms, see "},
                {"type": "inlineCard", "attrs": {"url": "https://github.com/acme/api/pull/412"}},
                {"type": "hardBreak"},
                {"type": "mention", "attrs": {"id": "5ecf", "text": "@Dingding Zhang"}},
                {"type": "text", "text": " reviewed "},
                {"type": "emoji", "attrs": {"shortName": ":tada:", "text": "🎉"}},
                {"type": "text", "text": " on "},
                {"type": "date", "attrs": {"timestamp": "1592784000000"}},
                {"type": "text", "text": " "},
                {"type": "status", "attrs": {"text": "SHIPPED", "color": "green"}},
            ],
        },
        node("bulletList", node("listItem", paragraph("SEARCH-88")), node("listItem", paragraph("two"))),
        node("codeBlock", {"type": "text", "text": "SELECT 1;"}, language="sql"),
        node("table", node("tableRow", *(node("tableHeader", paragraph(t)) for t in ("before", "after")))),
        {"type": "mediaSingle", "content": [{"type": "media", "attrs": {"id": "x", "type": "file"}}]},
        {"type": "rule"},
        {"type": "unknownFutureNode", "content": [{"type": "text", "text": "still text"}]},
    )  # fmt: skip
    text = adf_text(document)
    assert text.splitlines()[:4] == ["Move index merges off the request path.", "", "Result", ""]
    assert (
        "p95 320 ms → 218 ms, see https://github.com/acme/api/pull/412\n@Dingding Zhang reviewed 🎉" in text
    )
    assert "on 2020-06-22 SHIPPED" in text
    assert "- SEARCH-88\n" in text and "- two\n" in text
    assert "SELECT 1;" in text and "before | after" in text and "still text" in text
    assert "\n\n\n" not in text
    assert (
        adf_text(None) == "" and adf_text({"type": "doc", "content": []}) == "" and adf_text(" v2 ") == "v2"
    )

    issue = resolved(CLOUD["EE-5"], datetime(2020, 6, 20, tzinfo=CST), assignee=ME, description=document)
    with FakeJira.cloud([issue]) as fake:
        [evidence] = jira_connector.fetch(Person(), RANGE, cloud_section(fake), context()[0]).evidence
    assert evidence.body == text
    assert {"acme/api#412", "SEARCH-88"} <= set(evidence.refs)  # references found in the description


def test_v2_text_and_v3_adf_descriptions_read_the_same() -> None:
    text = "First line\nsecond line fixes EE-3\n\nSecond paragraph"
    cloud_issue = resolved(CLOUD["EE-5"], datetime(2020, 6, 20, tzinfo=CST), assignee=ME, description=text)
    with FakeJira.cloud([cloud_issue]) as fake:
        [from_cloud] = jira_connector.fetch(Person(), RANGE, cloud_section(fake), context()[0]).evidence
    server_issue = resolved(SERVER["DZFNK0168-3"], SERVER_SINCE + timedelta(days=1), assignee=ADMIN,
                            offset_hours=0, description=text)  # fmt: skip
    with FakeJira.server([server_issue]) as fake:
        [from_server] = jira_connector.fetch(
            Person(), SERVER_RANGE, server_section(fake), context()[0]
        ).evidence
    assert from_cloud.body == from_server.body == text
    assert "EE-3" in from_cloud.refs


# ---- the recorded Server site -------------------------------------------------------------------------


def test_server_uses_a_bearer_token_start_at_paging_and_reads_issue_links() -> None:
    days = {"DZFNK0168-1": 1, "DZFNK0168-5": 2, "DZFNK0168-11": 3, "DZFNK0168-3": 20}
    issues = [
        resolved(issue, SERVER_SINCE + timedelta(days=days[key], hours=5), assignee=ADMIN, offset_hours=0)
        if key in days else issue
        for key, issue in SERVER.items()
    ]  # fmt: skip
    with FakeJira.server(issues) as fake:
        result = jira_connector.fetch(Person(), SERVER_RANGE, server_section(fake), context(SERVER_AFTER)[0])
        [field_list, request] = fake.requests
    assert field_list.path == "/rest/api/2/field"  # the Epic Link field lookup (no cache here)
    assert request.path == "/rest/api/2/search" and request.auth == "bearer"
    assert request.param("startAt") == "0" and request.param("maxResults") == "100"
    found = {e.locator: e for e in result.evidence}
    assert sorted(found) == ["DZFNK0168-1", "DZFNK0168-11", "DZFNK0168-5"]
    assert found["DZFNK0168-11"].refs == ["DZFNK0168-4", "DZFNK0168-5", "IP8CUD168-35305"]
    assert found["DZFNK0168-5"].refs == ["DZFNK0168-1", "DZFNK0168-11"]
    assert found["DZFNK0168-1"].url == f"{fake.url}/browse/DZFNK0168-1"  # trailing slash of the url dropped
    assert found["DZFNK0168-1"].body.startswith("test你已经好几分钟没回我信息了")
    assert (
        found["DZFNK0168-1"].extra["issue_type"] == "Bug"
        and found["DZFNK0168-1"].extra["hierarchy_level"] is None
    )
    assert "assignee currentUser() = admin" in result.report.detail


# ---- request budget and cache -------------------------------------------------------------------------


@pytest.mark.parametrize("server", [False, True], ids=["cloud", "server"])
@pytest.mark.parametrize("n", [0, 1, 100, 250])
def test_requests_stay_within_the_budget_and_a_rerun_makes_none(server: bool, n: int, tmp_path: Path) -> None:
    issues = bulk(n, server=server, start=SERVER_SINCE if server else SINCE)
    time_range, after = (SERVER_RANGE, SERVER_AFTER) if server else (RANGE, AFTER)
    factory = FakeJira.server if server else FakeJira.cloud
    cache = Cache(tmp_path / "cache.sqlite3")
    with factory(issues) as fake:
        section = server_section(fake) if server else cloud_section(fake)
        result = jira_connector.fetch(Person(), time_range, section, context(after, cache)[0])
        assert len(result.evidence) == n
        # the Epic Link field lookup, then the pages
        assert len(fake.requests) == 1 + max(1, math.ceil(n / 100)) <= math.ceil(n / 100) + 2
        if server:
            assert [r.param("startAt") for r in fake.searches()] == [
                str(100 * i) for i in range(len(fake.searches()))
            ]
        else:
            tokens = [r.param("nextPageToken") for r in fake.searches()]
            assert tokens[0] == "" and all(tokens[1:])
        first = [e.to_dict() for e in result.evidence]

        fake.reset()
        again = jira_connector.fetch(Person(), time_range, section, context(after, cache)[0])
        assert fake.requests == []
        assert [e.to_dict() for e in again.evidence] == first
        assert again.report.detail.endswith("from cache, 0 requests")
    assert (
        CLOUD_TOKEN.encode() not in cache.path.read_bytes()
        and SERVER_PAT.encode() not in cache.path.read_bytes()
    )


def test_an_open_range_or_an_incomplete_fetch_is_not_cached(tmp_path: Path) -> None:
    cache = Cache(tmp_path / "cache.sqlite3")
    with FakeJira.cloud(bulk(150)) as fake:
        section = cloud_section(fake)
        jira_connector.fetch(Person(), RANGE, section, context(DURING, cache)[0])
        jira_connector.fetch(Person(), RANGE, section, context(DURING, cache)[0])
        assert len(fake.requests) == 5  # two pages, twice; the field list once (then cached)

        fake.reset()
        fake.fail("/search/jql", None)  # the first page answers normally, the second keeps failing
        fake.fail("/search/jql", 500, {"errorMessages": ["Internal server error"]}, times=4)
        ctx, sleeps = context(AFTER, cache)
        partial = jira_connector.fetch(Person(), RANGE, section, ctx)
        assert partial.report.status == "partial" and len(partial.evidence) == 100
        assert (
            "Jira answered HTTP 500 for /search/jql: Internal server error (4 attempts)"
            in partial.report.detail
        )
        assert sleeps == [1.0, 2.0, 4.0] and len(fake.requests) == 5

        fake.reset()
        complete = jira_connector.fetch(Person(), RANGE, section, context(AFTER, cache)[0])
        assert complete.report.status == "ok" and len(complete.evidence) == 150 and len(fake.requests) == 2


def test_no_client_and_no_import_of_the_jira_library_on_a_cached_rerun(tmp_path: Path) -> None:
    """A cached rerun builds no client: run in a fresh interpreter to see what it imports."""
    cache_path = tmp_path / "cache.sqlite3"
    with FakeJira.cloud(bulk(3)) as fake:
        section = cloud_section(fake)
        jira_connector.fetch(Person(), RANGE, section, context(AFTER, Cache(cache_path))[0])
        probe = f"""
import sys
from datetime import datetime, timezone, timedelta
from impact_miner.connectors import jira
from impact_miner.model import Person, SourceSection, TimeRange
from impact_miner.registry import FetchContext
from impact_miner.cache import Cache
cst = timezone(timedelta(hours=8))
r = TimeRange(datetime(2020, 6, 15, tzinfo=cst), datetime(2020, 6, 29, tzinfo=cst), {RANGE.spec!r})
section = SourceSection("work-jira", "jira", {section.options!r})
cache = Cache(__import__("pathlib").Path({str(cache_path)!r}))
ctx = FetchContext(now=datetime(2020, 7, 1, tzinfo=timezone.utc), cache=cache)
result = jira.fetch(Person(), r, section, ctx)
print(len(result.evidence), "jira" in sys.modules, "requests" in sys.modules)
"""
        fake.reset()
        done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
        assert fake.requests == []
    assert done.stdout.split() == ["3", "False", "False"]


# ---- people --------------------------------------------------------------------------------------------


def test_an_email_login_resolves_to_the_active_account_not_the_inactive_one() -> None:
    former = {**INACTIVE_CLOUD_USER, "emailAddress": "former@example.com"}
    duplicate = {**INACTIVE_CLOUD_USER, "emailAddress": CLOUD_EMAIL}  # inactive, empty accountId, same email
    users = [{**ME, "emailAddress": CLOUD_EMAIL, "_token": CLOUD_TOKEN}, duplicate, former]
    issues = [*bulk(3), resolved(CLOUD["EE-5"], datetime(2020, 6, 20, tzinfo=CST), key="EE-990",
                                 assignee=INACTIVE_CLOUD_USER)]  # fmt: skip
    with FakeJira.cloud(issues, users) as fake:
        person = Person(logins={"jira": CLOUD_EMAIL})
        result = jira_connector.fetch(person, RANGE, cloud_section(fake), context()[0])
        paths = ["/rest/api/3/user/search", "/rest/api/3/field", "/rest/api/3/search/jql"]
        assert [r.path for r in fake.requests] == paths
        assert fake.requests[2].param("jql").startswith('assignee = "5ecfbd0c730ec90c1999cadf" AND')
        assert len(result.evidence) == 3

        fake.reset()
        section = cloud_section(fake, assignee="former@example.com")
        with pytest.raises(
            SourceError, match=r"no single active Jira user has the email former@example\.com"
        ):
            jira_connector.fetch(person, RANGE, section, context()[0])


def test_an_account_id_or_username_is_used_as_is() -> None:
    with FakeJira.cloud(bulk(2)) as fake:
        section = cloud_section(fake, assignee="5ecfbd0c730ec90c1999cadf")
        assert len(jira_connector.fetch(Person(), RANGE, section, context()[0]).evidence) == 2
        assert len(fake.requests) == 2  # the field list and the search
    with FakeJira.server(bulk(2, server=True, start=SERVER_SINCE)) as fake:
        person = Person(logins={"jira": "admin"})
        result = jira_connector.fetch(person, SERVER_RANGE, server_section(fake), context(SERVER_AFTER)[0])
        assert len(result.evidence) == 2
        assert fake.searches()[0].param("jql").startswith('assignee = "admin" AND')


def test_the_jql_quotes_values_and_ands_the_configured_filter() -> None:
    jql = build_jql('"a\\"b"', RANGE, "project in (SEARCH, API) OR labels = x")
    assert jql.startswith('assignee = "a\\"b" AND statusCategory = Done AND ')
    assert jql.endswith(" AND (project in (SEARCH, API) OR labels = x) ORDER BY resolutiondate ASC, key ASC")
    assert jira_connector.jql_string('say "hi" \\o/') == '"say \\"hi\\" \\\\o/"'
    assert parse_datetime("2020-06-12T08:40:54.210+0800") == datetime(
        2020, 6, 12, 8, 40, 54, 210000, tzinfo=CST
    )
    assert parse_datetime("2023-05-29T03:57:06.000+0000") == datetime(2023, 5, 29, 3, 57, 6, tzinfo=UTC)
    assert parse_datetime("not a date") is None and parse_datetime(None) is None


def test_jql_checks_skip_quoted_text_and_settings_never_show_the_token() -> None:
    options = {
        "url": "https://x.test",
        "token": "s3cret-token",
        "jql": "summary ~ \"order by (\" AND labels = 'a b'",
    }
    settings = jira_connector.read_settings(SourceSection("j", "jira", options))
    assert settings.jql == options["jql"] and "s3cret-token" not in repr(settings)
    with pytest.raises(ConfigError, match="unbalanced parentheses or quotes"):
        jira_connector.check(SourceSection("j", "jira", {**options, "jql": 'summary ~ "open'}))


def test_a_configured_jql_filters_on_the_server(cloud: FakeJira) -> None:
    result = jira_connector.fetch(Person(), RANGE, cloud_section(cloud, jql="project = K5"), context()[0])
    assert sorted(e.locator for e in result.evidence) == ["K5-2", "K5-3"]


# ---- errors: one clear line each, never the token ------------------------------------------------------


def fetch_error(fake: FakeJira, section: SourceSection, time_range: TimeRange = RANGE) -> tuple[str, Sleeps]:
    ctx, sleeps = context(SERVER_AFTER if time_range is SERVER_RANGE else AFTER)
    with pytest.raises(SourceError) as raised:
        jira_connector.fetch(Person(), time_range, section, ctx)
    message = str(raised.value)
    assert "\n" not in message and CLOUD_TOKEN not in message and SERVER_PAT not in message
    return message, sleeps


def test_wrong_credentials_401(cloud: FakeJira) -> None:
    message, _ = fetch_error(cloud, cloud_section(cloud, token="wrong"))
    assert message == (
        "Jira rejected the credentials (HTTP 401: Client must be authenticated to access this resource.); "
        "check sources.work-jira.email and sources.work-jira.token (Cloud: the account's email and an API "
        "token)"
    )
    with FakeJira.server([]) as fake:
        message, _ = fetch_error(fake, server_section(fake, token="wrong"), SERVER_RANGE)
    assert message.startswith("Jira rejected the credentials (HTTP 401: You are not authenticated.")
    assert message.endswith("check sources.dc-jira.token (a Server/Data Center personal access token)")


def test_forbidden_403_quotes_the_denied_reason() -> None:
    with FakeJira.server([]) as fake:
        reason = f"CAPTCHA_CHALLENGE; login-url={fake.url}/login.jsp"
        fake.fail("/search", 403, "", headers={"X-Authentication-Denied-Reason": reason})
        message, _ = fetch_error(fake, server_section(fake), SERVER_RANGE)
    assert message == (
        f"Jira refused access (HTTP 403: {reason}); the token's user may lack permission to browse these "
        "projects, or Jira wants a CAPTCHA: log in once in a browser"
    )


@pytest.mark.parametrize(
    ("jql", "said"),
    [
        ("projekt = EE", "Field 'projekt' does not exist or you do not have permission to view it."),
        ("project = NOPE", "The value 'NOPE' does not exist for the field 'project'."),
        ("project = EE AND (", "Error in the JQL Query: Expecting either a value, list or function"),
    ],
)
def test_a_jql_error_400_quotes_jira(cloud: FakeJira, jql: str, said: str) -> None:
    if jql.endswith("("):  # unbalanced: refused before any request
        with pytest.raises(ConfigError, match="unbalanced parentheses"):
            jira_connector.check(cloud_section(cloud, jql=jql))
        jql = "project = EE AND"
        said = "Error in the JQL Query: Expecting a field name but got ')'. (line 1, character"
    message, _ = fetch_error(cloud, cloud_section(cloud, jql=jql))
    assert message.startswith(f"Jira rejected the query (HTTP 400: {said}")
    assert message.endswith(f"fix sources.work-jira.jql ({jql})")


def test_the_removed_search_410_says_to_use_cloud_settings(cloud: FakeJira) -> None:
    section = SourceSection("work-jira", "jira", {"url": cloud.url, "token": CLOUD_TOKEN})  # no email
    message, _ = fetch_error(cloud, section)
    assert message.startswith("Jira answered 410 Gone for /search: The requested API has been removed.")
    assert message.endswith(
        "this is Jira Cloud, which removed that search; set sources.work-jira.email (Cloud uses email + API "
        "token and /rest/api/3/search/jql)"
    )


def test_cloud_settings_against_a_server_404() -> None:
    with FakeJira.server([]) as fake:
        section = SourceSection("work-jira", "jira", {"url": fake.url, "email": "a@b.c", "token": "t"})
        message, _ = fetch_error(fake, section, SERVER_RANGE)
    assert message == (
        f"Jira has no /rest/api/3/search/jql (HTTP 404); is {fake.url} a Jira Cloud site? For Server/Data "
        "Center remove sources.work-jira.email and use a personal access token"
    )


def test_429_waits_as_told_then_succeeds(cloud: FakeJira) -> None:
    cloud.fail("/search/jql", 429, {"errorMessages": ["Rate limit exceeded."]}, headers={"Retry-After": "2"})
    ctx, sleeps = context()
    result = jira_connector.fetch(Person(), RANGE, cloud_section(cloud), ctx)
    assert len(result.evidence) == 11 and sleeps == [2.0] and len(cloud.requests) == 3  # with the field list
    assert result.report.detail.endswith("; 3 requests")


def test_a_429_whose_retry_after_is_an_http_date_waits_until_that_moment(cloud: FakeJira) -> None:
    two_seconds_ahead = format_datetime(AFTER + timedelta(seconds=2), usegmt=True)  # "Wed, 01 Jul 2020 …"
    said = {"errorMessages": ["Rate limit exceeded."]}
    cloud.fail("/search/jql", 429, said, headers={"Retry-After": two_seconds_ahead})
    ctx, sleeps = context()  # "now" is AFTER, plus what was waited: no real time passes
    result = jira_connector.fetch(Person(), RANGE, cloud_section(cloud), ctx)
    assert len(result.evidence) == 11 and sleeps == [2.0] and len(cloud.requests) == 3  # with the field list
    assert result.report.detail.endswith("; 3 requests")


def test_429_beyond_max_wait_or_without_end_fails_clearly(cloud: FakeJira) -> None:
    cloud.fail("/search/jql", 429, {}, headers={"Retry-After": "3600"})
    message, sleeps = fetch_error(cloud, cloud_section(cloud, max_wait=60))
    assert message == (
        "Jira rate limit: asked to wait 3600 s, more than sources.work-jira.max_wait = 60 s; rerun later or "
        "raise sources.work-jira.max_wait"
    )
    assert sleeps == [] and len(cloud.requests) == 2  # the field list, then the search

    cloud.reset()
    cloud.fail("/search/jql", 429, {}, headers={"Retry-After": "1"}, times=10)
    message, sleeps = fetch_error(cloud, cloud_section(cloud))
    assert message == "Jira kept answering 429 Too Many Requests (4 attempts); rerun later"
    assert sleeps == [1.0, 1.0, 1.0] and len(cloud.requests) == 5


def test_5xx_is_retried_with_backoff(cloud: FakeJira) -> None:
    cloud.fail("/search/jql", 502, "<html><body>Bad gateway</body></html>", times=2)
    ctx, sleeps = context()
    result = jira_connector.fetch(Person(), RANGE, cloud_section(cloud), ctx)
    assert len(result.evidence) == 11 and sleeps == [1.0, 2.0] and len(cloud.requests) == 4

    cloud.reset()
    cloud.fail(
        "/search/jql", 503, {"errorMessages": ["Service unavailable"]}, headers={"Retry-After": "5"}, times=9
    )
    message, sleeps = fetch_error(cloud, cloud_section(cloud))
    assert (
        message == "Jira answered HTTP 503 for /search/jql: Service unavailable (4 attempts); try again later"
    )
    assert sleeps == [5.0, 5.0, 5.0]


def test_a_timeout_is_retried_then_reported(cloud: FakeJira) -> None:
    cloud.fail("/search/jql", None, delay=1.2)
    ctx, sleeps = context()
    result = jira_connector.fetch(Person(), RANGE, cloud_section(cloud, timeout=0.5), ctx)
    assert len(result.evidence) == 11 and sleeps == [1.0] and len(cloud.requests) == 3

    cloud.reset()
    cloud.fail("/search/jql", None, delay=1.2, times=4)
    message, sleeps = fetch_error(cloud, cloud_section(cloud, timeout=0.5))
    assert message == (
        f"Jira at {cloud.url} did not answer within 0.5 s (4 attempts); check sources.work-jira.url, or "
        "raise sources.work-jira.timeout"
    )
    assert sleeps == [1.0, 2.0, 4.0] and len(cloud.requests) == 5


def test_a_login_page_or_a_closed_port_is_explained(cloud: FakeJira) -> None:
    cloud.fail("/search/jql", 200, "<html>Log in to continue</html>")
    message, _ = fetch_error(cloud, cloud_section(cloud))
    assert message.startswith(f"Jira at {cloud.url} answered /search/jql with text/html, not JSON")
    url = cloud.url
    cloud.stop()
    section = SourceSection("work-jira", "jira", {"url": url, "email": CLOUD_EMAIL, "token": CLOUD_TOKEN})
    message, sleeps = fetch_error(cloud, section)
    assert message.startswith(f"cannot connect to Jira at {url} (")
    assert sleeps == [1.0, 2.0, 4.0]


@pytest.mark.parametrize(
    ("options", "error"),
    [
        ({"token": "t"}, "sources.j.url must be the Jira base URL"),
        ({"url": "acme.atlassian.net", "token": "t"}, "sources.j.url must be the Jira base URL"),
        ({"url": "https://x.test"}, 'sources.j.token is missing: set token = "env:JIRA_API_TOKEN"'),
        (
            {"url": "https://x.test", "token": "t", "email": "ada"},
            "sources.j.email must be the Cloud account's",
        ),
        (
            {"url": "https://x.test", "token": "t", "jql": "project = A ORDER BY created"},
            "sources.j.jql must be a filter without ORDER BY",
        ),
        (
            {"url": "https://x.test", "token": "t", "epic_field": "Epic Link"},
            "sources.j.epic_field must be a field id",
        ),
        ({"url": "https://x.test", "token": "t", "max_wait": -1}, "sources.j.max_wait must be a number"),
        ({"url": "https://x.test", "token": "t", "timeout": 0}, "sources.j.timeout must be a number"),
        ({"url": "https://x.test", "token": "t", "jql": 3}, "sources.j.jql must be a string"),
    ],
)
def test_bad_sections_are_refused_before_any_request(options: dict[str, Any], error: str) -> None:
    with pytest.raises(ConfigError, match="^" + error.replace("(", r"\(")):
        jira_connector.check(SourceSection("j", "jira", options))


# ---- across sources: the pipeline and the CLI ---------------------------------------------------------


@pytest.fixture
def git_env(tmp_path: Path) -> Path:
    """The test's directory for repositories (conftest isolates git and the environment)."""
    return tmp_path


def test_commits_mentioning_tickets_land_in_the_epic_project(cloud: FakeJira, git_env: Path) -> None:
    repo = GitRepo.init(git_env / "api", remote="git@github.com:acme/api.git")
    k5_2 = repo.commit("K5-2: first story backend", {"api/first.py": "a\nb\n"},
                       when=datetime(2020, 6, 19, 15, tzinfo=CST))  # fmt: skip
    k5_3 = repo.commit(
        "Wire the second story (K5-3)", {"api/second.py": "c\n"}, when=datetime(2020, 6, 21, tzinfo=CST)
    )
    ee_29 = repo.commit("EE-29 组件封装", {"web/chart.ts": "x\n"}, when=datetime(2020, 6, 17, tzinfo=CST))
    other = repo.commit("Unrelated docs", {"docs/a.md": "d\n"}, when=datetime(2020, 6, 18, tzinfo=CST))
    spec = RunSpec(
        person=Person(emails=[ADA[1]]),
        time_range=RANGE,
        sources=[
            (git_connector.connector, SourceSection("code", "git", {"paths": [str(repo.path)]})),
            (jira_connector.connector, cloud_section(cloud)),
        ],
        now=AFTER,
    )
    report = build_report(spec)
    projects = {p.title: p for p in report.projects}
    first = projects["K5-1: test epic"]
    assert sorted(first.evidence_ids) == sorted(["jira:K5-2", f"git:acme/api@{k5_2}"])
    assert first.id == "k5-1" and first.keys[0] == "K5-1" and first.verified, first.problems
    assert "[K5-1, K5-2]" in first.statement and f"Tickets: {cloud.url}/browse/K5-2." in first.statement
    second = projects["K5-4: K5 epic"]
    assert sorted(second.evidence_ids) == sorted(["jira:K5-3", f"git:acme/api@{k5_3}"]) and second.verified
    # sub-tasks join their parent story, and the commit that names one of them joins too
    story = next(p for p in report.projects if "jira:EE-2" in p.evidence_ids)
    assert {"jira:EE-29", "jira:EE-32", f"git:acme/api@{ee_29}"} <= set(story.evidence_ids)
    assert story.title == "EE-2: 问题堆叠分布排序图" and story.verified, story.problems
    assert f"{cloud.url}/browse/EE-2" in story.statement
    assert not any(f"git:acme/api@{other}" in p.evidence_ids and "jira:" in " ".join(p.evidence_ids)
                   for p in report.projects)  # fmt: skip
    assert all(p.verified for p in report.projects), [(p.title, p.problems) for p in report.projects]
    coverage = {c.source: c for c in report.coverage}
    assert coverage["work-jira"].status == "ok" and coverage["work-jira"].items == 11
    assert len(cloud.requests) == 2  # the field list and the search


def test_two_jira_sites_and_a_failing_one_still_give_a_report(cloud: FakeJira, git_env: Path) -> None:
    server_issues = [resolved(SERVER["DZFNK0168-1"], SERVER_SINCE + timedelta(days=1), assignee=ADMIN,
                              offset_hours=0)]  # fmt: skip
    with FakeJira.server(server_issues) as server:
        wide = TimeRange(SINCE, SERVER_RANGE.until, "2020-06..2023-06")
        spec = RunSpec(
            person=Person(),
            time_range=wide,
            sources=[
                (jira_connector.connector, cloud_section(cloud)),
                (jira_connector.connector, server_section(server)),
                (jira_connector.connector, cloud_section(cloud, name="broken", token="wrong")),
            ],
            now=SERVER_AFTER,
        )
        report = build_report(spec)
    coverage = {c.source: c for c in report.coverage}
    assert (coverage["work-jira"].status, coverage["work-jira"].items) == ("ok", 11)
    assert (coverage["dc-jira"].status, coverage["dc-jira"].items) == ("ok", 1)
    assert coverage["broken"].status == "failed"
    assert coverage["broken"].detail.startswith("Jira rejected the credentials (HTTP 401")
    names = {e.extra["source_name"] for e in report.evidence}
    assert names == {"work-jira", "dc-jira"} and report.partial




def write_config(path: Path, repo: GitRepo, jira: str) -> Path:
    path.write_text(
        f'[me]\nname = "Ada"\nemails = ["{ADA[1]}"]\n\n'
        f'[sources.code]\ntype = "git"\npaths = ["{repo.path}"]\n\n{jira}',
        encoding="utf-8",
    )
    return path


@pytest.fixture
def cli_env(git_env: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("JIRA_API_TOKEN", CLOUD_TOKEN)
    monkeypatch.setenv("JIRA_PAT", SERVER_PAT)
    monkeypatch.chdir(git_env)
    return git_env


def test_cli_mine_2w_against_a_cloud_site(cli_env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    issues = [
        *CLOUD.values(),
        resolved(CLOUD["K5-2"], now - timedelta(days=5), assignee=ME),
        resolved(CLOUD["K5-3"], now - timedelta(days=4), assignee=ME),
        resolved(
            CLOUD["EE-5"], now - timedelta(days=3), key="EE-500", assignee=ME, description=adf("Fixes K5-2")
        ),
    ]
    repo = GitRepo.init(cli_env / "api", remote="git@github.com:acme/api.git")
    commit = repo.commit("K5-2: first story backend", {"api/a.py": "a\n"}, when=now - timedelta(days=6))
    with FakeJira.cloud(issues) as fake:
        jira = (
            f'[sources.work-jira]\ntype = "jira"\nurl = "{fake.url}"\nemail = "{CLOUD_EMAIL}"\n'
            'token = "env:JIRA_API_TOKEN"\n'
        )
        config = write_config(cli_env / "config.toml", repo, jira)
        code, out, err = run_cli(capsys, "--since", "2w", "--config", str(config), "--format", "json")
        requests = len(fake.requests)
    assert (code, err) == (0, "")
    report = json.loads(out)
    titles = [p["title"] for p in report["projects"]]
    assert titles[0] == "K5-1: test epic" and "K5-4: K5 epic" in titles
    epic = report["projects"][0]
    assert sorted(epic["evidence_ids"]) == sorted(["jira:K5-2", "jira:EE-500", f"git:acme/api@{commit}"])
    assert epic["verified"] and f"{fake.url}/browse/K5-2" in epic["statement"]
    coverage = {c["source"]: c for c in report["coverage"]}
    assert coverage["work-jira"]["status"] == "ok" and coverage["work-jira"]["items"] == 3
    assert requests == 2 <= math.ceil(3 / 100) + 2  # the field list and the search


def test_cli_mine_2w_against_a_server_site(cli_env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    epic = "DZFNK0168-7"  # an issue of the recorded site, standing in as the epic of the person's tickets
    issues = [
        resolved(issue, now - timedelta(days=3), assignee=ADMIN, offset_hours=0, customfield_10100=epic)
        if key in ("DZFNK0168-1", "DZFNK0168-3") else issue
        for key, issue in SERVER.items()
    ]  # fmt: skip
    repo = GitRepo.init(cli_env / "api", remote="git@github.com:acme/api.git")
    repo.commit("DZFNK0168-3: handle the empty case", {"api/a.py": "a\n"}, when=now - timedelta(days=4))
    with FakeJira.server(issues) as fake:
        jira = (
            f'[sources.dc]\ntype = "jira"\nurl = "{fake.url}"\ntoken = "env:JIRA_PAT"\n'
            'epic_field = "customfield_10100"\n'
        )
        config = write_config(cli_env / "config.toml", repo, jira)
        code, out, err = run_cli(capsys, "--since", "2w", "--config", str(config), "--format", "json")
        requests = len(fake.requests)
    assert (code, err) == (0, "")
    report = json.loads(out)
    [project] = [p for p in report["projects"] if p["id"] == epic.lower()]
    assert project["title"].startswith(f"{epic}: test你已经好几分钟没回我信息了")
    assert len(project["evidence_ids"]) == 3  # the two tickets of the epic and the commit naming one
    assert project["verified"] and f"{fake.url}/browse/DZFNK0168-3" in project["statement"]
    assert requests == 2 <= math.ceil(2 / 100) + 2  # the search and the epic titles


def test_cli_reports_a_jira_error_and_still_renders(
    cli_env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    repo = GitRepo.init(cli_env / "api", remote="git@github.com:acme/api.git")
    repo.commit("Add a thing", {"a.py": "a\n"}, when=datetime.now(UTC) - timedelta(days=1))
    with FakeJira.cloud([]) as fake:
        jira = (
            f'[sources.work-jira]\ntype = "jira"\nurl = "{fake.url}"\nemail = "{CLOUD_EMAIL}"\n'
            'token = "env:JIRA_API_TOKEN"\njql = "projekt = EE"\n'
        )
        config = write_config(cli_env / "config.toml", repo, jira)
        code, out, err = run_cli(capsys, "--since", "2w", "--config", str(config))
    assert code == 3 and "Add a thing" in out
    assert err == (
        "mine: warning: work-jira: failed: Jira rejected the query (HTTP 400: Field 'projekt' does not exist "
        "or you do not have permission to view it.); fix sources.work-jira.jql (projekt = EE)\n"
    )
    config.write_text(config.read_text().replace('jql = "projekt = EE"', 'jql = "project = EE ORDER BY key"'))
    code, out, err = run_cli(capsys, "--since", "2w", "--config", str(config))
    assert code == 2 and out == ""
    assert err == (
        "mine: error: sources.work-jira.jql must be a filter without ORDER BY (it is ANDed with other "
        "clauses)\n"
    )
