"""The fixtures the project owns against the real recordings in ../shared/data.

The default tests run on ``tests/fixtures`` (small payloads in the real shapes, made by
``tests/fixtures/make_fixtures.py``), so a fresh clone runs them. Here, where the recordings are
present (CI, our checkouts), the fixtures are checked to be faithful to them: the GraphQL schema an
exact, true subset of GitHub's, every REST payload and Jira issue a projection of a recorded one; and
the connectors run once more on the whole recordings. Without ``../shared`` these tests are skipped,
with the reason, except the first: every query the GitHub connector sends must validate against the
subset the fake serves.
"""

from __future__ import annotations

import importlib.util
from datetime import UTC, datetime, timedelta, timezone
from types import ModuleType
from typing import Any

import pytest
from graphql import (
    GraphQLEnumType,
    GraphQLInputObjectType,
    GraphQLInterfaceType,
    GraphQLObjectType,
    GraphQLSchema,
    GraphQLUnionType,
    parse,
    validate,
)

from fake_github import REST_FIXTURES, FakeGitHub, github_schema, pulls_from_cassettes, real_schema_path
from fake_github import reviews_from_devlake as reviews_from
from fake_jira import (
    CLOUD_EMAIL,
    CLOUD_TOKEN,
    SERVER_PAT,
    FakeJira,
    by_key,
    cloud_catalogue,
    cloud_user,
    resolved,
    server_catalogue,
    server_user,
)
from impact_miner.connectors import github as github_connector
from impact_miner.connectors import jira as jira_connector
from impact_miner.model import Person, SourceSection, TimeRange
from impact_miner.registry import FetchContext
from schema_subset import connector_queries, subset_sdl
from shared_data import FIXTURES, have_shared_data, shared_data

needs_shared_data = pytest.mark.needs_shared_data
CST = timezone(timedelta(hours=8))
CLOUD_RANGE = TimeRange(datetime(2020, 6, 15, tzinfo=CST), datetime(2020, 6, 29, tzinfo=CST), "2020-06-15..")
CLOUD_MINE = ["EE-2", "EE-3", "EE-4", "EE-5", "EE-25", "EE-28", "EE-29", "EE-32", "EE-34", "K5-2", "K5-3"]
SERVER_SINCE = datetime(2023, 6, 1, tzinfo=UTC)


def make_fixtures() -> ModuleType:
    """``tests/fixtures/make_fixtures.py`` as a module (it is a script, not a package)."""
    spec = importlib.util.spec_from_file_location("make_fixtures", FIXTURES / "make_fixtures.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# ---- GitHub's schema -------------------------------------------------------------------------------


def test_every_query_the_github_connector_sends_validates_against_the_subset() -> None:
    subset = github_schema()
    queries = connector_queries(subset)  # every answer was checked by the fake: none was an error
    assert any(q.startswith("query Viewer") for q in queries) and any("search(" in q for q in queries)
    schemas = [subset, github_schema(real_schema_path())] if have_shared_data() else [subset]
    for schema in schemas:
        for query in queries:
            assert validate(schema, parse(query)) == [], query


@needs_shared_data
def test_the_schema_subset_is_exactly_what_the_connector_queries() -> None:
    real = github_schema(real_schema_path())
    expected = subset_sdl(real_schema_path().read_text(encoding="utf-8"), real, connector_queries(real))
    checked_in = (FIXTURES / "github" / "schema.graphql").read_text(encoding="utf-8")
    assert checked_in == expected, "rerun tests/fixtures/make_fixtures.py"


@needs_shared_data
def test_the_schema_subset_is_a_true_subset_of_githubs() -> None:
    subset, real = github_schema(), github_schema(real_schema_path())
    problems = list(subset_problems(subset, real))
    assert problems == []
    assert len(subset.type_map) < len(real.type_map) / 20  # and it is a small part


def subset_problems(subset: GraphQLSchema, real: GraphQLSchema) -> Any:
    """Everything in ``subset`` that ``real`` does not have in exactly the same form."""
    for name, kind in subset.type_map.items():
        if name.startswith("__"):
            continue
        other = real.type_map.get(name)
        if other is None or type(other) is not type(kind):
            yield f"{name}: missing or of another kind"
            continue
        if isinstance(kind, GraphQLObjectType | GraphQLInterfaceType | GraphQLInputObjectType):
            for field_name, item in kind.fields.items():
                theirs = other.fields.get(field_name)  # type: ignore[union-attr]
                if theirs is None or str(theirs.type) != str(item.type):
                    yield f"{name}.{field_name}: missing or of another type"
                    continue
                for arg, value in getattr(item, "args", {}).items():
                    if arg not in theirs.args or str(theirs.args[arg].type) != str(value.type):
                        yield f"{name}.{field_name}({arg}): missing or of another type"
        if isinstance(kind, GraphQLObjectType | GraphQLInterfaceType):
            theirs_implements = {i.name for i in other.interfaces}  # type: ignore[union-attr]
            yield from (
                f"{name} implements {i.name}?" for i in kind.interfaces if i.name not in theirs_implements
            )
        if isinstance(kind, GraphQLUnionType):
            members = {t.name for t in other.types}  # type: ignore[union-attr]
            yield from (f"{name} | {t.name}?" for t in kind.types if t.name not in members)
        if isinstance(kind, GraphQLEnumType):
            yield from (f"{name}.{v}?" for v in kind.values if v not in other.values)  # type: ignore[union-attr]


# ---- REST payloads and Jira issues: projections of the recordings ---------------------------------


@needs_shared_data
def test_github_payload_fixtures_give_the_same_records_as_the_recordings() -> None:
    recorded = shared_data() / "github" / "rest"
    assert pulls_from_cassettes(REST_FIXTURES) == pulls_from_cassettes(recorded)
    assert reviews_from(REST_FIXTURES) == reviews_from(recorded)


@needs_shared_data
def test_jira_fixtures_are_recorded_issues_with_fewer_fields() -> None:
    tool = make_fixtures()
    for fixture, recorded, keys in (
        (cloud_catalogue(), cloud_catalogue(recorded=True), tool.CLOUD_KEYS),
        (server_catalogue(), server_catalogue(recorded=True), tool.SERVER_KEYS),
    ):
        assert [issue["key"] for issue in fixture] == list(keys)
        assert fixture == tool.jira_issues(recorded, keys)


# ---- the connectors on the whole recordings -------------------------------------------------------


@needs_shared_data
def test_the_persons_resolved_tickets_on_the_whole_recorded_cloud_site() -> None:
    catalogue = by_key(cloud_catalogue(recorded=True))
    me = cloud_user(catalogue.values())
    epics = [
        resolved(catalogue["K5-2"], datetime(2020, 6, 20, 10, tzinfo=CST), assignee=me),
        resolved(catalogue["K5-3"], datetime(2020, 6, 22, 16, tzinfo=CST), assignee=me),
    ]
    users = [{**me, "emailAddress": CLOUD_EMAIL, "_token": CLOUD_TOKEN}]
    with FakeJira.cloud([*catalogue.values(), *epics], users) as fake:
        section = SourceSection("j", "jira", {"url": fake.url, "email": CLOUD_EMAIL, "token": CLOUD_TOKEN})
        result = jira_connector.fetch(
            Person(), CLOUD_RANGE, section, FetchContext(now=datetime(2020, 7, 1, tzinfo=UTC))
        )
    assert sorted(e.locator for e in result.evidence) == sorted(CLOUD_MINE)
    story = next(e for e in result.evidence if e.locator == "EE-2")
    assert story.title == "问题堆叠分布排序图" and story.extra["status"] == "已完成"
    assert next(e for e in result.evidence if e.locator == "K5-3").extra["epic"] == "K5-4"


@needs_shared_data
def test_resolved_tickets_and_links_on_the_whole_recorded_server_site() -> None:
    catalogue = by_key(server_catalogue(recorded=True))
    admin = server_user(catalogue.values())
    days = {"DZFNK0168-1": 1, "DZFNK0168-5": 2, "DZFNK0168-11": 3, "DZFNK0168-3": 20}
    issues = [
        resolved(issue, SERVER_SINCE + timedelta(days=days[key], hours=5), assignee=admin, offset_hours=0)
        if key in days else issue
        for key, issue in catalogue.items()
    ]  # fmt: skip
    with FakeJira.server(issues, [{**admin, "_token": SERVER_PAT}]) as fake:
        section = SourceSection("j", "jira", {"url": fake.url, "token": SERVER_PAT})
        window = TimeRange(SERVER_SINCE, SERVER_SINCE + timedelta(days=14))
        result = jira_connector.fetch(
            Person(), window, section, FetchContext(now=datetime(2023, 7, 1, tzinfo=UTC))
        )
    found = {e.locator: e for e in result.evidence}
    assert sorted(found) == ["DZFNK0168-1", "DZFNK0168-11", "DZFNK0168-5"]
    assert found["DZFNK0168-11"].refs == ["DZFNK0168-4", "DZFNK0168-5", "IP8CUD168-35305"]


@needs_shared_data
def test_a_recorded_pull_request_becomes_evidence_through_githubs_whole_schema() -> None:
    pull = pulls_from_cassettes(shared_data() / "github" / "rest")["deleted_fork"]
    with FakeGitHub([pull], schema=github_schema(real_schema_path())) as fake:
        section = SourceSection("gh", "github", {"url": fake.url, "token": fake.token, "issues": True})
        years = TimeRange(datetime(2014, 1, 1, tzinfo=UTC), datetime(2018, 1, 1, tzinfo=UTC))
        result = github_connector.fetch(
            Person(logins={"github": "bgilbert"}),
            years,
            section,
            FetchContext(now=datetime(2026, 1, 1, tzinfo=UTC)),
        )
    [item] = result.evidence
    assert item.id == "github:sigmavirus24/github3.py#235" and item.extra["head_repository"] is None
    assert (item.additions, item.deletions, item.files) == (18, 0, 2)
    assert set(pull.commits) <= set(item.refs)
