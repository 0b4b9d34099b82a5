"""The GitLab connector against a GitLab on loopback (tests/fake_gitlab.py) that validates every query
against GitLab's GraphQL schema and reproduces its quirks. Sleeps and the clock are injected: nothing here
waits."""

from __future__ import annotations

import json
import math
import os
import sqlite3
import stat
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import pytest
import requests

from clirun import run_mine
from fake_gitlab import (
    OK,
    Event,
    FakeGitLab,
    Fault,
    Issue,
    Reviewer,
    bad_gateway,
    connector_documents,
    generate_approvals,
    generate_merge_requests,
    gitlab_schema,
    merge_request,
    merge_requests_from_devlake,
    merge_requests_from_fixture,
    rate_limited,
    real_schema_path,
    schema_subset,
)
from gitrepo import ADA, GitRepo
from impact_miner.cache import Cache
from impact_miner.connectors import gitlab as gl
from impact_miner.errors import ConfigError, SourceError
from impact_miner.model import FetchResult, Person, SourceSection, TimeRange
from impact_miner.pipeline import build_report
from impact_miner.registry import FetchContext, available
from impact_miner.runspec import RunSpec

SINCE = datetime(2026, 9, 1, tzinfo=UTC)
UNTIL = datetime(2026, 11, 1, tzinfo=UTC)
RANGE = TimeRange(SINCE, UNTIL, "2026-09..2026-10")
AFTER = datetime(2026, 12, 1, tzinfo=UTC)  # "now" for a range that has ended
SECOND = timedelta(seconds=1)
DAY = timedelta(days=1)
ME = Person(name="Ada Lovelace", emails=[ADA[1]], logins={"gitlab": "ada"})
FIXTURE_RANGE = TimeRange(datetime(2026, 11, 1, tzinfo=UTC), datetime(2026, 11, 15, tzinfo=UTC))

needs_shared = pytest.mark.skipif(
    not real_schema_path().exists(),
    reason=f"needs the shared GitLab data ({real_schema_path().parent.parent}), absent on a fresh clone",
)


@pytest.fixture
def gitlab() -> Iterator[FakeGitLab]:
    with FakeGitLab() as fake:
        yield fake


def fetch(
    fake: FakeGitLab,
    *,
    person: Person = ME,
    time_range: TimeRange = RANGE,
    now: datetime = AFTER,
    cache: Cache | None = None,
    sleeps: list[float] | None = None,
    **options: Any,
) -> FetchResult:
    """One fetch of a ``[sources.gl]`` pointed at ``fake``; every sleep is recorded, none taken."""
    section = SourceSection("gl", "gitlab", {"url": fake.url, "token": fake.token, **options})
    recorded = sleeps if sleeps is not None else []
    return gl.fetch(person, time_range, section, FetchContext(now=now, cache=cache, sleep=recorded.append))


def ids(result: FetchResult, kind: str | None = None) -> set[str]:
    return {e.id for e in result.evidence if kind is None or e.kind == kind}


# ---- configuration -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "base"),
    [
        ("https://gitlab.com", "https://gitlab.com"),
        ("https://gitlab.com/", "https://gitlab.com"),
        ("https://gitlab.com/api/v4", "https://gitlab.com"),
        ("https://git.acme.io/gitlab/", "https://git.acme.io/gitlab"),
        ("https://git.acme.io/gitlab/api/graphql", "https://git.acme.io/gitlab"),
        ("http://127.0.0.1:8080", "http://127.0.0.1:8080"),
    ],
)
def test_url_is_the_instance_address_with_any_relative_root(url: str, base: str) -> None:
    config = gl.settings(SourceSection("gl", "gitlab", {"url": url}))
    assert config.url == base
    assert config.graphql_url == f"{base}/api/graphql"


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (
            {"group": ["acme"]},
            "sources.gl: unknown option 'group'; known: groups, issues, max_wait, projects,",
        ),
        ({"url": "gitlab.com"}, 'sources.gl.url must be an http(s) URL such as "https://gitlab.com"'),
        (
            {"projects": ["api"]},
            'sources.gl.projects must be a list of full paths like projects = ["acme/api"]',
        ),
        ({"groups": ["acme/"], "projects": ["a b/c"]}, "sources.gl.projects must be a list of full paths"),
        (
            {"groups": [""]},
            'sources.gl.groups must be a list of full paths like groups = ["acme", "acme/platform"]',
        ),
        ({"reviews": "yes"}, "sources.gl.reviews must be true or false"),
        ({"issues": 1}, "sources.gl.issues must be true or false"),
        ({"max_wait": -1}, "sources.gl.max_wait must be a number of seconds ≥ 0"),
        ({"timeout": 0}, "sources.gl.timeout must be a number of seconds ≥ 1"),
        ({"token": " "}, 'sources.gl.token must be a non-empty string, e.g. "env:GITLAB_TOKEN"'),
        ({"username": "ada lovelace"}, 'sources.gl.username must be a GitLab username such as "ada"'),
    ],
)
def test_check_names_the_bad_option_and_how_to_fix_it(options: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError) as raised:
        gl.check(SourceSection("gl", "gitlab", options))
    assert str(raised.value).startswith(message)
    assert "\n" not in str(raised.value)


def test_options_lists_every_key_the_section_accepts_and_the_docstring_documents_them() -> None:
    every = {key: "x" for key in gl.OPTIONS - {"type", "enabled"}}
    every.update(url="https://gitlab.com", token="t", username="ada", groups=["acme"], projects=["acme/api"],
                 reviews=True, issues=False, max_wait=1, timeout=1)  # fmt: skip
    gl.check(SourceSection("gl", "gitlab", every))
    assert {"type", "enabled"} <= gl.OPTIONS
    reference = (gl.__doc__ or "").split("Configuration::", 1)[1].split("GitLab is off", 1)[0]
    for key in gl.OPTIONS:
        assert f"{key} = " in reference, key


def test_username_from_the_section_then_me_logins_then_the_token() -> None:
    section = SourceSection("gl", "gitlab", {"username": "@alovelace"})
    assert gl.settings(section, ME).username == "alovelace"
    assert gl.settings(SourceSection("gl", "gitlab", {}), ME).username == "ada"
    assert gl.settings(SourceSection("gl", "gitlab", {}), Person()).username == ""


def test_token_from_the_section_then_the_environment_then_glab(tmp_path: Path) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    script = bin_dir / "glab"  # a real executable standing in for GitLab's CLI
    script.write_text('#!/bin/sh\n[ "$*" = "config get token --host git.acme.io" ] && echo glpat-from-glab\n')
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    which = lambda name: str(bin_dir / name) if (bin_dir / name).exists() else None  # noqa: E731
    config = gl.settings(SourceSection("gl", "gitlab", {"url": "https://git.acme.io"}))

    assert gl.resolve_token(replace(config, token="glpat-section"), {"GITLAB_TOKEN": "x"}, which) == (
        "glpat-section"
    )
    assert gl.resolve_token(config, {"GITLAB_TOKEN": " glpat-env "}, which) == "glpat-env"
    assert gl.resolve_token(config, {"PATH": os.environ["PATH"]}, which) == "glpat-from-glab"
    with pytest.raises(SourceError) as raised:
        gl.resolve_token(config, {}, lambda _name: None)
    assert str(raised.value) == (
        "no GitLab token for sources.gl: create a personal access token with the read_api scope at "
        "https://git.acme.io/-/user_settings/personal_access_tokens and set sources.gl.token "
        '(e.g. "env:GITLAB_TOKEN") or export GITLAB_TOKEN, '
        "or log in with `glab auth login --hostname git.acme.io`"
    )


# ---- what counts --------------------------------------------------------------------------------------


def test_exactly_the_persons_merge_requests_merged_in_the_half_open_range(gitlab: FakeGitLab) -> None:
    gitlab.merge_requests = [
        merge_request("acme/api", 1, merged_at=SINCE - SECOND),
        merge_request("acme/api", 2, merged_at=SINCE),
        merge_request("acme/api", 3, merged_at=UNTIL - SECOND),
        merge_request("acme/api", 4, merged_at=UNTIL),
        merge_request("acme/api", 5, merged_at=UNTIL + timedelta(hours=20)),  # same day as `until`
        merge_request("acme/api", 6, closed_at=SINCE + 2 * DAY),  # closed without merging
        merge_request("acme/api", 7),  # still open
        merge_request("acme/api", 8, author="bob", merged_at=SINCE + 3 * DAY),
        merge_request("acme/web", 9, author="ADA", merged_at=SINCE + 4 * DAY),  # usernames ignore case
    ]
    result = fetch(gitlab)
    assert ids(result) == {"gitlab:acme/api!2", "gitlab:acme/api!3", "gitlab:acme/web!9"}
    assert result.report.status == "ok"
    assert result.report.detail == (
        f"ada on 127.0.0.1:{gitlab.port}: 3 merge requests merged, 0 reviewed; 1 request"
    )
    [query] = gitlab.queries()
    assert 'mergedAfter: "2026-09-01T00:00:00Z"' in query
    assert 'mergedBefore: "2026-10-31T23:59:59.999999Z"' in query


def test_the_whole_day_of_merged_before_comes_back_and_is_cut_here(gitlab: FakeGitLab) -> None:
    """GitLab's mergedBefore takes in the whole day of its timestamp: ask for a range ending mid-day and the
    rest of that day arrives; only the exact range is kept."""
    noon = SINCE + 10 * DAY + timedelta(hours=12)
    gitlab.merge_requests = [
        merge_request("acme/api", 1, merged_at=noon - SECOND),
        merge_request("acme/api", 2, merged_at=noon),
        merge_request("acme/api", 3, merged_at=noon + timedelta(hours=6)),
    ]
    result = fetch(gitlab, time_range=TimeRange(SINCE, noon), reviews=False)
    assert ids(result) == {"gitlab:acme/api!1"}
    body = requests.post(
        f"{gitlab.url}/api/graphql",
        json={"query": gl.page_query([gl.Slice("mr", ("user", ""), (SINCE, noon))], "ada", 100)},
        headers={"Authorization": f"Bearer {gitlab.token}"},
        timeout=10,
    ).json()
    assert len(body["data"]["s0"]["page"]["nodes"]) == 3  # what the server sent for the same query


def test_a_range_with_an_offset_is_asked_for_in_utc(gitlab: FakeGitLab) -> None:
    cest = timezone(timedelta(hours=2))
    gitlab.merge_requests = [
        merge_request("acme/api", 1, merged_at=datetime(2026, 10, 31, 22, 30, tzinfo=UTC))
    ]
    result = fetch(
        gitlab, time_range=TimeRange(datetime(2026, 11, 1, tzinfo=cest), datetime(2026, 11, 2, tzinfo=cest))
    )
    assert ids(result) == {"gitlab:acme/api!1"}
    assert 'mergedAfter: "2026-10-31T22:00:00Z"' in gitlab.queries()[0]


def test_merge_requests_in_gitlabs_real_shape_become_complete_evidence(gitlab: FakeGitLab) -> None:
    gitlab.merge_requests = merge_requests_from_fixture()
    result = fetch(gitlab, time_range=FIXTURE_RANGE)
    found = {e.id: e for e in result.evidence}
    assert set(found) == {
        "gitlab:acme/platform/search!41",
        "gitlab:acme/web!9",
    }  # not the open or closed ones
    item = found["gitlab:acme/platform/search!41"]
    assert item.kind == "merge_request" and item.source == "gitlab"
    assert (
        item.url == "https://gitlab.example.com/acme/platform/search/-/merge_requests/41"
    )  # as GitLab gives it
    assert item.repo == "acme/platform/search"
    assert item.title == "Move index merges off the request path"
    assert item.body.startswith("Closes #7 and acme/platform/tracker#3.")
    assert item.author == "ada"
    assert item.completed_at == datetime(2026, 11, 3, 16, 20, 12, tzinfo=UTC)
    assert item.created_at == datetime(2026, 11, 2, 9, 14, 3, tzinfo=UTC)
    assert item.labels == ["perf", "search"]
    assert item.extra["linked_issues"] == ["acme/platform/search#7", "acme/platform/tracker#3"]
    assert item.extra["shas"] == [
        "3a1f0c9e5b7d2468ace013579bdf2468ace01357",
        "7c2e4a6b8d0f1357924680ace13579bdf2468ace",
    ]
    assert item.extra["merge_commit"] == "e0d1c2b3a4958677665544332211aabbccddeeff"
    assert item.extra["squash_commit"] == "5ab0cd1ef2345678901234567890abcdef123456"  # from REST, see below
    assert (item.extra["number"], item.extra["branch"], item.extra["target_branch"]) == (
        41,
        "7-merge-off-request-path",
        "main",
    )
    assert item.extra["draft"] is False and item.extra["merged_by"] == "bob"
    assert item.extra["source_name"] == "gl"
    assert sorted(item.refs[:4]) == [
        "SEARCH-88",
        "acme/platform/search!40",
        "acme/platform/search#7",
        "acme/platform/tracker#3",
    ]
    assert item.refs[4:] == [
        *item.extra["shas"],
        item.extra["merge_commit"],
        item.extra["squash_commit"],
    ]
    web = found["gitlab:acme/web!9"]
    assert web.extra["linked_issues"] == ["acme/web#5"]  # "Fixes <issue URL>"
    assert web.extra["squash_commit"] is None
    # one GraphQL page, then one REST list for the squashed merge request's squash commit
    assert (gitlab.graphql_requests, gitlab.rest_requests) == (1, 1)
    [squash] = [entry for entry in gitlab.log if entry.method == "GET"]
    assert squash.path == "/api/v4/projects/acme%2Fplatform%2Fsearch/merge_requests"
    assert squash.params["iids[]"] == ["41"]


@needs_shared
def test_real_gitlab_com_merge_requests_become_evidence() -> None:
    """18 real gitlab.com merge requests of gitlab-data/snowflake_spend (merged, open, closed, squashed;
    ``updated_at`` before ``merged_at`` on most)."""
    real = merge_requests_from_devlake()
    years = TimeRange(datetime(2019, 1, 1, tzinfo=UTC), datetime(2022, 1, 1, tzinfo=UTC))
    with FakeGitLab(real, viewer="emilie") as fake:
        emilie = fetch(fake, person=Person(logins={"gitlab": "emilie"}), time_range=years)
        thomas = fetch(fake, person=Person(logins={"gitlab": "ThomasLaPiana"}), time_range=years)
    assert ids(emilie) == {f"gitlab:gitlab-data/snowflake_spend!{n}" for n in (1, 4, 10)}
    first = {e.id: e for e in emilie.evidence}["gitlab:gitlab-data/snowflake_spend!1"]
    assert first.title == 'Resolve "Add documentation to snowflake spend package"'
    assert first.url == "https://gitlab.com/gitlab-data/snowflake_spend/-/merge_requests/1"
    assert first.extra["linked_issues"] == ["gitlab-data/snowflake_spend#1"]  # "Closes #1"
    assert first.completed_at == datetime(2019, 6, 28, 14, 32, 6, tzinfo=UTC)  # updated_at is 1 s earlier
    assert first.extra["merge_commit"] == "da1d6dea48f5972ffc683da6cff30934e7d6c52c"
    assert first.extra["squash_commit"] is None  # squashed in 2019, before GitLab kept the squash sha
    assert emilie.report.status == "ok"
    [squashed] = thomas.evidence
    assert squashed.id == "gitlab:gitlab-data/snowflake_spend!14"
    assert squashed.extra["squash_commit"] == "7f928f936c58b2e001f86d07b1f7b9411413e439"
    assert squashed.extra["squash_commit"] in squashed.refs


@pytest.mark.parametrize(
    ("text", "closes"),
    [
        ("Closes #1", ["g/p#1"]),
        ("Fixes #2, #3 and other/lib#4", ["g/p#2", "g/p#3", "other/lib#4"]),
        ("Resolves https://gitlab.com/g/sub/p/-/issues/5", ["g/sub/p#5"]),
        ("Implements issue #6", ["g/p#6"]),
        ("closing: #7", ["g/p#7"]),
        ("This fixes g/sub/p#8.", ["g/sub/p#8"]),
        ("Related to #9, see !10", []),
        ("Closes https://gitlab.com/g/p/-/merge_requests/11", []),
    ],
)
def test_gitlabs_closing_pattern(text: str, closes: list[str]) -> None:
    assert gl.closing_issues(text, "g/p") == closes


def test_gitlab_references_in_text_keep_merge_requests_apart_from_issues() -> None:
    text = (
        "Follow-up to !12 and g/sub/other!3, see https://gitlab.com/g/sub/web/-/merge_requests/5 and "
        "https://gitlab.com/g/sub/web/-/issues/6; also g/sub/lib#7 and ABC-12. Not a ref: ![img](x.png)"
    )
    assert sorted(gl.gitlab_refs(text, "g/p")) == sorted(
        ["g/sub/web#6", "ABC-12", "g/sub/web!5", "g/p!12", "g/sub/other!3", "g/sub/lib#7"]
    )


# ---- reviews -----------------------------------------------------------------------------------------


def test_reviews_are_merge_requests_by_others_the_person_approved_or_reviewed_merged_in_range(
    gitlab: FakeGitLab,
) -> None:
    gitlab.merge_requests = [
        merge_request("acme/api", 1, author="bob", title="Add cache", merged_at=SINCE + DAY,
                      reviewers=[Reviewer("ada", "REVIEWED")], approved_by=["ada", "carol"]),
        merge_request("acme/api", 2, author="bob", title="Tune pool", merged_at=SINCE + 2 * DAY,
                      reviewers=[Reviewer("ada", "REVIEWED")]),  # reviewed, not approved
        merge_request("acme/api", 3, author="carol", title="Retry", merged_at=SINCE + 3 * DAY,
                      reviewers=[Reviewer("ada")], approved_by=["ada"]),  # approved, no review state
        merge_request("acme/api", 4, author="bob", merged_at=SINCE + 4 * DAY,
                      reviewers=[Reviewer("ada")]),  # asked, did neither
        merge_request("acme/api", 5, author="bob", merged_at=SINCE - DAY,
                      reviewers=[Reviewer("ada", "REVIEWED")], approved_by=["ada"]),  # merged before
        merge_request("acme/api", 6, author="bob", reviewers=[Reviewer("ada", "REVIEWED")],
                      approved_by=["ada"]),  # not merged
        merge_request("acme/api", 7, merged_at=SINCE + DAY, reviewers=[Reviewer("ada", "REVIEWED")],
                      approved_by=["ada"]),  # her own
        merge_request("acme/api", 8, author="bob", merged_at=SINCE + DAY, reviewers=[Reviewer("carol")],
                      approved_by=["carol"]),  # someone else's review
    ]  # fmt: skip
    result = fetch(gitlab)
    assert ids(result, "review") == {
        "gitlab-review:acme/api!1",
        "gitlab-review:acme/api!2",
        "gitlab-review:acme/api!3",
    }
    assert ids(result, "merge_request") == {"gitlab:acme/api!7"}
    reviews = {e.id: e for e in result.evidence}
    first = reviews["gitlab-review:acme/api!1"]
    assert first.kind == "review" and first.source == "gitlab"
    assert first.title == "Review of Add cache"
    assert first.url == f"{gitlab.url}/acme/api/-/merge_requests/1"
    assert first.author == "ada" and first.repo == "acme/api"
    assert first.completed_at == SINCE + DAY  # GitLab gives no approval time: the merge's
    assert "acme/api!1" in first.refs
    assert first.extra["state"] == "APPROVED" and first.extra["states"] == ["APPROVED", "REVIEWED"]
    assert first.extra["pr_author"] == "bob" and first.extra["pr_title"] == "Add cache"
    assert reviews["gitlab-review:acme/api!2"].extra["states"] == ["REVIEWED"]
    assert reviews["gitlab-review:acme/api!3"].extra["state"] == "APPROVED"
    assert result.report.detail.startswith(
        f"ada on 127.0.0.1:{gitlab.port}: 1 merge request merged, 3 reviewed;"
    )
    assert "reviewRequestedMergeRequests(" in gitlab.queries()[0]


def test_an_approval_without_a_review_request_is_not_found(gitlab: FakeGitLab) -> None:
    """GitLab 16.3's GraphQL API cannot list merge requests by approver (see the module docstring)."""
    gitlab.merge_requests = [
        merge_request("acme/api", 1, author="bob", merged_at=SINCE + DAY, approved_by=["ada"])
    ]
    assert fetch(gitlab).evidence == []


def test_reviews_can_be_turned_off(gitlab: FakeGitLab) -> None:
    gitlab.merge_requests = generate_approvals(3, reviewer="ada", author="bob", since=SINCE, until=UNTIL)
    assert fetch(gitlab, reviews=False).evidence == []
    assert "reviewRequestedMergeRequests" not in gitlab.queries()[0]


# ---- scope -------------------------------------------------------------------------------------------


def test_groups_and_projects_narrow_both_lists(gitlab: FakeGitLab) -> None:
    when = SINCE + DAY
    gitlab.merge_requests = [
        merge_request("acme/platform/search", 1, merged_at=when),
        merge_request("acme/platform/deep/index", 2, merged_at=when),  # a subgroup's project
        merge_request("tools/cli", 3, merged_at=when),
        merge_request("other/lib", 4, merged_at=when),
        merge_request("acme/platformer", 5, merged_at=when),  # a name that only starts like the group
        *[
            merge_request(path, 10 + n, author="bob", merged_at=when, reviewers=[Reviewer("ada", "REVIEWED")])
            for n, path in enumerate(["acme/platform/search", "tools/cli", "other/lib"])
        ],
    ]
    result = fetch(gitlab, groups=["acme/platform"], projects=["tools/cli"])
    assert ids(result) == {
        "gitlab:acme/platform/search!1",
        "gitlab:acme/platform/deep/index!2",
        "gitlab:tools/cli!3",
        "gitlab-review:acme/platform/search!10",
        "gitlab-review:tools/cli!11",
    }
    queries = " ".join(gitlab.queries())
    assert 'group(fullPath: "acme/platform")' in queries and "includeSubgroups: true" in queries
    assert 'project(fullPath: "tools/cli")' in queries
    assert result.report.detail.startswith(f"ada on 127.0.0.1:{gitlab.port} (acme/platform, tools/cli):")


def test_projects_alone_ask_each_project_for_its_reviews(gitlab: FakeGitLab) -> None:
    gitlab.merge_requests = [
        merge_request(
            "tools/cli", 1, author="bob", merged_at=SINCE + DAY, reviewers=[Reviewer("ada", "REVIEWED")]
        ),
        merge_request(
            "other/lib", 2, author="bob", merged_at=SINCE + DAY, reviewers=[Reviewer("ada", "REVIEWED")]
        ),
    ]
    assert ids(fetch(gitlab, projects=["tools/cli"])) == {"gitlab-review:tools/cli!1"}
    assert 'reviewerUsername: "ada"' in " ".join(gitlab.queries())


def test_a_group_gitlab_does_not_show_makes_the_source_partial(gitlab: FakeGitLab, tmp_path: Path) -> None:
    gitlab.merge_requests = [merge_request("acme/api", 1, merged_at=SINCE + DAY)]
    cache = Cache(tmp_path / "cache.sqlite3")
    result = fetch(gitlab, groups=["acme", "typo-group"], cache=cache)
    assert ids(result) == {"gitlab:acme/api!1"}
    assert result.report.status == "partial"
    assert "GitLab shows no group 'typo-group' to this token; check sources.gl.groups" in result.report.detail
    before = gitlab.requests
    fetch(gitlab, groups=["acme", "typo-group"], cache=cache)
    assert gitlab.requests == before + 1  # only the group that came back partial is asked again


def test_an_unknown_username_fails_the_source_saying_which_setting(gitlab: FakeGitLab) -> None:
    with pytest.raises(SourceError) as raised:
        fetch(gitlab, person=Person(logins={"gitlab": "nobody-here"}))
    assert str(raised.value) == (
        "GitLab has no user 'nobody-here' (sources.gl); set sources.gl.username or [me.logins] gitlab to "
        "your GitLab username"
    )


# ---- request budget and cache ------------------------------------------------------------------------


def budget(merged: int, approvals: int) -> int:
    return math.ceil(merged / 100) + math.ceil(approvals / 100) + 2


def test_250_merge_requests_and_40_approvals_within_budget_and_a_rerun_makes_none(
    gitlab: FakeGitLab, tmp_path: Path
) -> None:
    gitlab.merge_requests = [
        *generate_merge_requests(250, author="ada", since=SINCE, until=UNTIL),
        *generate_approvals(40, reviewer="ada", author="bob", since=SINCE, until=UNTIL),
    ]
    cache = Cache(tmp_path / "cache.sqlite3")
    first = fetch(gitlab, person=Person(), cache=cache)  # no username: the token's own user is looked up
    assert len(ids(first, "merge_request")) == 250 and len(ids(first, "review")) == 40
    used = gitlab.requests
    assert used == 4 <= budget(250, 40)  # the user, then 3 pages of 100 (reviews ride with the first)
    assert all(score <= 250 for score in gitlab.complexities)
    assert first.report.detail == (
        f"ada on 127.0.0.1:{gitlab.port}: 250 merge requests merged, 40 reviewed; 4 requests"
    )

    again = fetch(gitlab, person=Person(), cache=cache)
    assert gitlab.requests == used  # nothing asked
    assert [e.to_dict() for e in again.evidence] == [e.to_dict() for e in first.evidence]
    assert again.report.detail.endswith("0 requests, 2 windows from cache")

    refreshed = fetch(gitlab, person=Person(), cache=Cache(cache.path, refresh=True))
    assert gitlab.requests == 2 * used and len(refreshed.evidence) == 290

    with sqlite3.connect(cache.path) as db:
        stored = " ".join(str(value) for row in db.execute("SELECT * FROM entries") for value in row)
    assert gitlab.token not in stored and "token_sha256" in stored


@pytest.mark.parametrize("cap", [100, 30])
def test_pages_are_followed_by_cursor_whatever_size_the_server_gives(gitlab: FakeGitLab, cap: int) -> None:
    gitlab.page_cap = cap  # GitLab cuts a page above its maximum without a word
    gitlab.merge_requests = generate_merge_requests(250, author="ada", since=SINCE, until=UNTIL)
    result = fetch(gitlab, reviews=False)
    assert len(result.evidence) == 250 and result.report.status == "ok"
    assert gitlab.requests == math.ceil(250 / cap)


def test_the_fake_cuts_pages_above_100_silently(gitlab: FakeGitLab) -> None:
    gitlab.merge_requests = generate_merge_requests(150, author="ada", since=SINCE, until=UNTIL)
    query = gl.page_query([gl.Slice("mr", ("user", ""), (SINCE, UNTIL))], "ada", 100).replace(
        "first: 100", "first: 150"
    )
    body = requests.post(
        f"{gitlab.url}/api/graphql",
        json={"query": query},
        headers={"PRIVATE-TOKEN": gitlab.token},
        timeout=10,
    ).json()
    assert "errors" not in body
    assert len(body["data"]["s0"]["page"]["nodes"]) == 100
    assert body["data"]["s0"]["page"]["pageInfo"]["hasNextPage"] is True


def test_an_open_range_keeps_its_closed_days_and_refetches_only_today(
    gitlab: FakeGitLab, tmp_path: Path
) -> None:
    now = UNTIL - timedelta(hours=12)  # the range ends tonight
    gitlab.merge_requests = generate_merge_requests(150, author="ada", since=SINCE, until=now)
    cache = Cache(tmp_path / "cache.sqlite3")
    first = fetch(gitlab, now=now, cache=cache)
    assert len(first.evidence) == 150
    used = gitlab.requests
    again = fetch(gitlab, now=now, cache=cache)
    assert ids(again) == ids(first)
    assert gitlab.requests == used + 1  # only today's lists, in one request
    assert 'mergedAfter: "2026-10-31T00:00:00Z"' in gitlab.queries()[-1]


def test_squash_commits_cost_one_rest_request_per_project(gitlab: FakeGitLab) -> None:
    merged = generate_merge_requests(30, author="ada", since=SINCE, until=UNTIL, projects=3)
    for mr in merged:
        mr.squash_commit_sha = f"{mr.iid + 7 * 10**9:040x}"
    gitlab.merge_requests = merged
    result = fetch(gitlab, reviews=False)
    assert all(e.extra["squash_commit"] == f"{e.extra['number'] + 7 * 10**9:040x}" for e in result.evidence)
    assert all(e.extra["squash_commit"] in e.refs for e in result.evidence)
    assert (gitlab.graphql_requests, gitlab.rest_requests) == (1, 3)


# ---- faults ------------------------------------------------------------------------------------------


@pytest.fixture
def busy(gitlab: FakeGitLab) -> FakeGitLab:
    gitlab.merge_requests = generate_merge_requests(250, author="ada", since=SINCE, until=UNTIL)
    return gitlab


def test_429_then_502_on_the_first_page_and_all_250_still_arrive(busy: FakeGitLab) -> None:
    busy.script(rate_limited(retry_after=1), bad_gateway(502))
    sleeps: list[float] = []
    result = fetch(busy, sleeps=sleeps)
    assert len(result.evidence) == 250 and result.report.status == "ok"
    assert sleeps == [1.0, 2.0]
    assert busy.requests == 3 + 2


@pytest.mark.parametrize(
    ("faults", "waits"),
    [
        pytest.param([rate_limited(retry_after=0)], [0.0], id="429-retry-after-0"),
        pytest.param([rate_limited(retry_after=1)] * 2, [1.0, 1.0], id="429-twice"),
        pytest.param(
            [Fault(429, {"RateLimit-Reset": str(int(AFTER.timestamp()) + 1)}, "Retry later")],
            [1.0],
            id="429-reset",
        ),
        pytest.param([Fault(429, {}, "Retry later")], [60.0], id="429-no-headers"),
        pytest.param([bad_gateway(502)], [2.0], id="502-html"),
        pytest.param(
            [Fault(500, {}, {"errors": [{"message": "Internal server error"}]})], [2.0], id="500-json"
        ),
        pytest.param(
            [bad_gateway(502), bad_gateway(503), bad_gateway(504)], [2.0, 4.0, 8.0], id="5xx-backoff"
        ),
        pytest.param([OK, bad_gateway(502)], [2.0], id="502-on-the-second-page"),
    ],
)
def test_rate_limits_and_server_errors_are_waited_out(
    busy: FakeGitLab, faults: list[Fault | None], waits: list[float]
) -> None:
    busy.script(*faults)
    sleeps: list[float] = []
    result = fetch(busy, sleeps=sleeps)
    assert sleeps == waits
    assert len(result.evidence) == 250 and result.report.status == "ok"
    assert busy.requests == 3 + len(faults) - faults.count(OK)


def test_a_429_whose_retry_after_is_an_http_date_waits_until_that_moment(busy: FakeGitLab) -> None:
    two_seconds_ahead = format_datetime(AFTER + timedelta(seconds=2), usegmt=True)  # "Tue, 01 Dec 2026 …"
    busy.script(Fault(429, {"Content-Type": "text/plain", "Retry-After": two_seconds_ahead}, "Retry later"))
    sleeps: list[float] = []
    result = fetch(busy, sleeps=sleeps)  # "now" is AFTER, plus what was waited: no real time passes
    assert sleeps == [2.0]
    assert len(result.evidence) == 250 and result.report.status == "ok"
    assert busy.requests == 3 + 1  # the pages and the user lookup, and the one that was told to wait


class RecordingThrottle:
    """A batch's shared pacing, recording what the connector asked of it."""

    def __init__(self) -> None:
        self.waits: list[str] = []
        self.holds: list[tuple[str, float]] = []

    def wait(self, source: str) -> None:
        self.waits.append(source)

    def hold(self, source: str, seconds: float) -> None:
        self.holds.append((source, seconds))


def test_a_shared_throttle_paces_every_request_and_hears_about_rate_limits(busy: FakeGitLab) -> None:
    busy.script(rate_limited(retry_after=1))
    throttle = RecordingThrottle()
    section = SourceSection("gl", "gitlab", {"url": busy.url, "token": busy.token})
    result = gl.fetch(ME, RANGE, section, FetchContext(now=AFTER, sleep=lambda _s: None, throttle=throttle))
    assert len(result.evidence) == 250
    assert throttle.waits == ["gl"] * busy.requests
    assert throttle.holds == [("gl", 1.0)]


def test_a_request_that_hangs_past_the_timeout_is_retried(busy: FakeGitLab) -> None:
    busy.script(Fault(hang=10))
    sleeps: list[float] = []
    result = fetch(busy, sleeps=sleeps, timeout=1)
    assert sleeps == [2.0] and len(result.evidence) == 250 and result.report.status == "ok"


def test_a_server_that_keeps_failing_fails_the_source_after_five_attempts(busy: FakeGitLab) -> None:
    busy.script(*[bad_gateway(502)] * 5)
    sleeps: list[float] = []
    with pytest.raises(SourceError) as raised:
        fetch(busy, sleeps=sleeps)
    assert sleeps == [2.0, 4.0, 8.0, 16.0]
    assert str(raised.value) == f"GitLab answered 502 at {busy.url}/api/graphql (5 attempts); rerun later"


def test_rate_limit_beyond_max_wait_stops_with_when_to_rerun(busy: FakeGitLab) -> None:
    busy.script(rate_limited(retry_after=3600))
    sleeps: list[float] = []
    with pytest.raises(SourceError) as raised:
        fetch(busy, sleeps=sleeps, max_wait=300)
    assert sleeps == []
    assert str(raised.value) == "rate limited until 01:00 UTC; rerun after that"


def test_rate_limit_after_some_pages_keeps_them_and_marks_the_source_partial(
    busy: FakeGitLab, tmp_path: Path
) -> None:
    cache = Cache(tmp_path / "cache.sqlite3")
    busy.script(OK, rate_limited(retry_after=7200))
    result = fetch(busy, cache=cache)
    assert len(result.evidence) == 100
    assert result.report.status == "partial"
    assert "stopped: rate limited until 02:00 UTC; rerun after that" in result.report.detail
    assert len(fetch(busy, cache=cache).evidence) == 250  # the unfinished window was not cached


def test_a_wrong_token_fails_the_source_saying_how_to_fix_it(gitlab: FakeGitLab) -> None:
    with pytest.raises(SourceError) as raised:
        fetch(gitlab, token="glpat-revoked")
    assert str(raised.value) == (
        "token rejected by GitLab (Invalid token) (sources.gl): create a personal access token with the "
        f"read_api scope at {gitlab.url}/-/user_settings/personal_access_tokens and set sources.gl.token "
        '(e.g. "env:GITLAB_TOKEN") or export GITLAB_TOKEN'
    )
    assert [(e.method, e.path, e.status) for e in gitlab.log] == [
        ("POST", "/api/graphql", 401),
        ("GET", "/api/v4/user", 401),
    ]


def test_a_read_user_only_token_is_told_apart_and_named_read_api(gitlab: FakeGitLab) -> None:
    with pytest.raises(SourceError) as raised:
        fetch(gitlab, token=gitlab.read_user_token)
    assert str(raised.value).startswith(
        'the token of sources.gl lacks the read_api scope (GitLab answers a read_user-only token "Invalid '
        'token"): create a personal access token with the read_api scope at'
    )
    assert [e.status for e in gitlab.log] == [401, 200]  # GraphQL refused it; its profile is readable


def test_a_query_gitlab_finds_too_complex_is_asked_again_with_less(busy: FakeGitLab) -> None:
    busy.merge_requests += generate_approvals(40, reviewer="ada", author="bob", since=SINCE, until=UNTIL)
    busy.max_complexity = 50  # two lists of 100 score about 140, one list of 25 about 45
    result = fetch(busy)
    assert len(result.evidence) == 290 and result.report.status == "ok"
    assert "GitLab found the query too heavy (Query has complexity of" in result.report.detail
    pages = [q for q in busy.queries() if "first: 25" in q]
    assert pages and all(score <= 50 for score in busy.complexities[-len(pages) :])


def test_a_query_too_complex_even_at_the_smallest_page_fails_with_gitlabs_words(busy: FakeGitLab) -> None:
    busy.max_complexity = 5
    with pytest.raises(SourceError) as raised:
        fetch(busy)
    assert str(raised.value).startswith(
        "GitLab rejects the query even with 10 merge requests a page (Query has complexity of"
    )


def test_fields_gitlab_could_not_resolve_make_the_source_partial_and_uncached(
    gitlab: FakeGitLab, tmp_path: Path
) -> None:
    broken = merge_request("acme/api", 2, merged_at=SINCE + 2 * DAY, additions=None)  # type: ignore[arg-type]
    gitlab.merge_requests = [merge_request("acme/api", 1, merged_at=SINCE + DAY), broken]
    cache = Cache(tmp_path / "cache.sqlite3")
    result = fetch(gitlab, cache=cache)
    assert ids(result) == {"gitlab:acme/api!1", "gitlab:acme/api!2"}
    assert {e.id: e.additions for e in result.evidence}["gitlab:acme/api!2"] is None
    assert result.report.status == "partial"
    assert (
        "GitLab could not resolve page.nodes.1.diffStatsSummary.additions: "
        "Cannot return null for non-nullable" in result.report.detail
    )
    fetch(gitlab, cache=cache)
    assert gitlab.requests == 2


def test_an_answer_that_is_not_gitlab_fails_the_source_naming_the_url(busy: FakeGitLab) -> None:
    busy.script(Fault(200, {"Content-Type": "text/html"}, "<html><body>Sign in to the proxy</body></html>"))
    with pytest.raises(SourceError) as raised:
        fetch(busy)
    assert str(raised.value) == (
        f"{busy.url}/api/graphql did not answer like GitLab's API (200); check sources.gl.url "
        '(the instance\'s address, e.g. "https://gitlab.com")'
    )


def test_a_url_that_is_not_gitlab_fails_the_source_naming_the_option(busy: FakeGitLab) -> None:
    with pytest.raises(
        SourceError, match=r"/nope/api/graphql did not answer like GitLab's API \(404\); check"
    ):
        fetch(busy, url=busy.url + "/nope")


def test_a_redirect_says_where_gitlab_lives_now(busy: FakeGitLab) -> None:
    busy.script(
        Fault(301, {"Location": "https://gitlab.acme.io/api/graphql", "Content-Type": "text/html"}, "")
    )
    with pytest.raises(SourceError) as raised:
        fetch(busy)
    assert str(raised.value) == (
        f"{busy.url}/api/graphql redirects to https://gitlab.acme.io/api/graphql; set sources.gl.url to the "
        "instance's address there"
    )


def test_a_server_that_is_gone_fails_the_source_after_five_attempts() -> None:
    with FakeGitLab() as gone:
        section = SourceSection("gl", "gitlab", {"url": gone.url, "token": gone.token})
    sleeps: list[float] = []
    with pytest.raises(SourceError) as raised:
        gl.fetch(ME, RANGE, section, FetchContext(now=AFTER, sleep=sleeps.append))
    assert sleeps == [2.0, 4.0, 8.0, 16.0]
    assert str(raised.value).endswith("/api/graphql (ConnectError) (5 attempts); rerun later")


# ---- issues ------------------------------------------------------------------------------------------


def test_issues_the_person_closed_when_enabled(gitlab: FakeGitLab, tmp_path: Path) -> None:
    fix = merge_request(
        "acme/api", 30, merged_at=SINCE + 2 * DAY, title="Fix crash", description="Closes #10"
    )
    gitlab.merge_requests = [fix]
    gitlab.issues = [
        Issue("acme/api", 10, "Crash on empty query", closed_at=SINCE + 2 * DAY, closed_by="ada",
              labels=["bug"]),
        Issue("acme/platform/docs", 11, "Stale docs", description="See acme/api#10",
              closed_at=SINCE + 3 * DAY, closed_by="ada"),
        Issue("acme/api", 12, "Flaky test", closed_at=SINCE + 3 * DAY, closed_by="bob"),
        Issue("acme/api", 13, "Old", closed_at=SINCE - DAY, closed_by="ada"),
    ]  # fmt: skip
    gitlab.events = [
        Event("ada", "closed", "Issue", "acme/api", 10, SINCE + 2 * DAY),
        Event("ada", "closed", "Issue", "acme/platform/docs", 11, SINCE + 3 * DAY),
        Event("bob", "closed", "Issue", "acme/api", 12, SINCE + 3 * DAY),
        Event("ada", "closed", "Issue", "acme/api", 13, SINCE - DAY + timedelta(hours=1)),  # the day before
        Event("ada", "closed", "MergeRequest", "acme/api", 29, SINCE + DAY),
    ]
    assert ids(fetch(gitlab)) == {"gitlab:acme/api!30"}  # issues are off by default
    assert gitlab.rest_requests == 0
    cache = Cache(tmp_path / "cache.sqlite3")
    result = fetch(gitlab, issues=True, cache=cache)
    assert ids(result, "issue") == {"gitlab-issue:acme/api#10", "gitlab-issue:acme/platform/docs#11"}
    closed = {e.id: e for e in result.evidence}["gitlab-issue:acme/api#10"]
    assert closed.url == f"{gitlab.url}/acme/api/-/issues/10"
    assert closed.completed_at == SINCE + 2 * DAY and closed.labels == ["bug"]
    assert closed.extra["closed_by"] == "ada"
    docs = {e.id: e for e in result.evidence}["gitlab-issue:acme/platform/docs#11"]
    assert docs.refs == ["acme/api#10"]
    merge = {e.id: e for e in result.evidence}["gitlab:acme/api!30"]
    assert "acme/api#10" in merge.refs  # so the issue and the merge request that closed it meet
    assert result.report.detail.startswith(
        f"ada on 127.0.0.1:{gitlab.port}: 1 merge request merged, 0 reviewed, 2 issues closed;"
    )
    events = [e for e in gitlab.log if e.path.endswith("/events")]
    assert events[0].params["after"] == ["2026-08-31"] and events[0].params["before"] == ["2026-11-02"]
    before = gitlab.requests
    fetch(gitlab, issues=True, cache=cache)
    assert gitlab.requests == before


# ---- the fake itself behaves like GitLab -------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "message"),
    [
        (
            "{ currentUser { username favouriteColour } }",
            "Cannot query field 'favouriteColour' on type 'UserCore'.",
        ),
        (
            '{ user(username: "ada") { authoredMergeRequests(approvedBy: ["ada"]) { nodes { iid } } } }',
            "Unknown argument 'approvedBy' on field 'UserCore.authoredMergeRequests'.",
        ),
        (
            '{ project(fullPath: "acme/api") { mergeRequests { nodes { squashCommitSha } } } }',
            "Cannot query field 'squashCommitSha' on type 'MergeRequest'.",
        ),
    ],
)
def test_the_fake_rejects_what_gitlab_16_3_rejects_with_http_200(
    gitlab: FakeGitLab, query: str, message: str
) -> None:
    answer = requests.post(
        f"{gitlab.url}/api/graphql",
        json={"query": query},
        headers={"Authorization": f"Bearer {gitlab.token}"},
        timeout=10,
    )
    assert answer.status_code == 200 and "RateLimit-Remaining" in answer.headers
    assert answer.json()["errors"][0]["message"].startswith(message)


def test_the_fake_rest_list_has_gitlabs_quirks(gitlab: FakeGitLab) -> None:
    gitlab.merge_requests = [
        *generate_merge_requests(120, author="ada", since=SINCE, until=UNTIL),
        merge_request("acme/api", 999, author="bob", merged_at=SINCE + DAY),
    ]
    headers = {"PRIVATE-TOKEN": gitlab.token}
    mine = requests.get(
        f"{gitlab.url}/api/v4/merge_requests", params={"per_page": 500}, headers=headers, timeout=10
    )
    assert len(mine.json()) == 100 and mine.headers["X-Total"] == "120"  # created_by_me; per_page cut to 100
    everyone = requests.get(
        f"{gitlab.url}/api/v4/merge_requests",
        params={"scope": "all", "per_page": 100, "merged_after": "2030-01-01T00:00:00Z", "state": "merged"},
        headers=headers,
        timeout=10,
    )
    assert everyone.headers["X-Total"] == "121"  # merged_after is not a parameter GitLab knows
    scoped = requests.get(f"{gitlab.url}/api/v4/merge_requests",
                          headers={"PRIVATE-TOKEN": gitlab.read_user_token},
                          timeout=10)  # fmt: skip
    assert scoped.status_code == 403 and scoped.json()["error"] == "insufficient_scope"


@needs_shared
def test_the_fixture_schema_is_exactly_the_real_schemas_part_that_the_connector_uses() -> None:
    real = gitlab_schema("real")
    expected = schema_subset(real, connector_documents())
    fixture = (Path(__file__).parent / "fixtures" / "gitlab" / "schema.graphql").read_text(encoding="utf-8")
    assert fixture == expected, (
        "regenerate: python tests/fake_gitlab.py schema-subset > tests/fixtures/gitlab/schema.graphql"
    )


def test_every_query_the_connector_sends_is_valid_against_the_schema_in_use() -> None:
    from graphql import validate

    for which in ("fixture", "real") if real_schema_path().exists() else ("fixture",):
        schema = gitlab_schema(which)
        for document in connector_documents():
            assert validate(schema, document) == [], which


# ---- linking and the whole tool ----------------------------------------------------------------------


def test_local_commits_whose_shas_belong_to_a_merge_request_join_it_in_one_project(tmp_path: Path) -> None:
    repo = GitRepo.init(tmp_path / "search", remote="git@gitlab.com:acme/platform/search.git")
    first = repo.commit("Parse merge schedule", {"index/schedule.py": "x = 1\n"}, when=SINCE + DAY)
    second = repo.commit("Run merges in the background", {"index/worker.py": "y = 2\n"}, when=SINCE + 2 * DAY)
    squashed = repo.commit("Cache warm-up", {"index/warm.py": "w = 4\n"}, when=SINCE + 3 * DAY)
    other = repo.commit("Tidy billing export", {"billing/export.py": "z = 3\n"}, when=SINCE + 4 * DAY)
    mrs = [
        merge_request("acme/platform/search", 12, title="Move index merges off the request path",
                      merged_at=SINCE + 2 * DAY + timedelta(hours=1), commits=[first, second]),
        merge_request("acme/platform/search", 13, title="Warm the cache", merged_at=SINCE + 3 * DAY,
                      commits=["9" * 40], squash_commit_sha=squashed),
        merge_request("acme/web", 5, author="bob", title="Dark mode", merged_at=SINCE + 3 * DAY,
                      reviewers=[Reviewer("ada", "REVIEWED")], approved_by=["ada"]),
    ]  # fmt: skip
    connectors = available()
    with FakeGitLab(mrs) as fake:
        spec = RunSpec(
            person=ME,
            time_range=RANGE,
            sources=[
                (connectors["git"], SourceSection("code", "git", {"paths": [str(repo.path)]})),
                (connectors["gitlab"], SourceSection("gl", "gitlab", {"url": fake.url, "token": fake.token})),
            ],
            now=AFTER,
        )
        report = build_report(spec)
    by_item = {item: project.id for project in report.projects for item in project.evidence_ids}
    merge = by_item["gitlab:acme/platform/search!12"]
    assert by_item[f"git:acme/platform/search@{first}"] == merge
    assert by_item[f"git:acme/platform/search@{second}"] == merge
    assert by_item[f"git:acme/platform/search@{squashed}"] == by_item["gitlab:acme/platform/search!13"]
    assert by_item[f"git:acme/platform/search@{other}"] != merge
    assert by_item["gitlab-review:acme/web!5"] not in {merge, by_item["gitlab:acme/platform/search!13"]}
    assert [c.status for c in report.coverage] == ["ok", "ok"]
    [project] = [p for p in report.projects if p.id == merge]
    assert project.verified, project.problems
    [reviewed] = [p for p in report.projects if p.id == by_item["gitlab-review:acme/web!5"]]
    assert reviewed.statement.startswith("Reviewed 1 ") and "Dark mode" in reviewed.statement


def _write_config(path: Path, url: str, extra: str = "") -> None:
    path.write_text(
        '[me]\nname = "Ada Lovelace"\nemails = ["ada@x.io"]\ntimezone = "UTC"\n'
        f'[sources.gl]\ntype = "gitlab"\nurl = "{url}"\ntoken = "env:GL_TOKEN"\n{extra}'
    )


def test_mine_lists_exactly_the_merge_requests_and_approvals_as_json_within_budget_and_a_rerun_makes_none(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The issue's "done when": 250 merged merge requests and 40 approvals over two months, in ≤ 6 requests,
    nothing merged just outside the range, then a rerun with no request at all."""
    merged = generate_merge_requests(250, author="ada", since=SINCE, until=UNTIL)
    approved = generate_approvals(40, reviewer="ada", author="bob", since=SINCE, until=UNTIL)
    outside = [
        merge_request("acme/api", 7001, merged_at=SINCE - SECOND),
        merge_request("acme/api", 7002, merged_at=UNTIL),
        merge_request("acme/api", 7003, merged_at=UNTIL + timedelta(hours=3)),
        merge_request("acme/api", 7004, author="bob", merged_at=UNTIL, approved_by=["ada"],
                      reviewers=[Reviewer("ada", "REVIEWED")]),
    ]  # fmt: skip
    config = tmp_path / "config.toml"
    with FakeGitLab([*merged, *approved, *outside]) as fake:
        _write_config(config, fake.url)
        monkeypatch.setenv("GL_TOKEN", fake.token)
        args = ["--since", "2026-09-01", "--until", "2026-10-31", "--format", "json", "--config", str(config)]
        code, out, err = run_mine(capsys, *args)
        first = fake.requests
        code_again, out_again, _ = run_mine(capsys, *args)
        rerun = fake.requests - first
        url = fake.url
    assert code == 0, err
    report = json.loads(out)
    items = {e["id"]: e for e in report["evidence"] if e["source"] == "gitlab"}
    assert set(items) == {f"gitlab:{m.project}!{m.iid}" for m in merged} | {
        f"gitlab-review:{m.project}!{m.iid}" for m in approved
    }
    assert {e["kind"] for e in items.values()} == {"merge_request", "review"}
    sample = merged[17]
    assert items[f"gitlab:{sample.project}!{sample.iid}"]["url"] == (
        f"{url}/{sample.project}/-/merge_requests/{sample.iid}"
    )
    assert first <= budget(250, 40) and first == 4
    assert (code_again, rerun) == (0, 0)
    again = json.loads(out_again)
    assert again["evidence"] == report["evidence"] and again["projects"] == report["projects"]
    assert [c["detail"] for c in again["coverage"] if c["source"] == "gl"] == [
        f"ada on 127.0.0.1:{url.rsplit(':', 1)[1]}: 250 merge requests merged, 40 reviewed; "
        "0 requests, 2 windows from cache"
    ]
    coverage = {c["source"]: c for c in report["coverage"]}
    assert coverage["gl"]["status"] == "ok" and coverage["gl"]["items"] == 290


@pytest.mark.parametrize(
    ("token", "says"),
    [("glpat-wrong", "token rejected by GitLab (Invalid token) (sources.gl): create a personal access token"),
     ("read_user", "the token of sources.gl lacks the read_api scope")],
)  # fmt: skip
def test_mine_with_a_bad_token_keeps_the_report_and_says_how_to_fix_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], token: str, says: str
) -> None:
    repo = GitRepo.init(tmp_path / "api", remote="git@gitlab.com:acme/api.git")
    repo.commit("Add search", {"search.py": "x\n"}, author=ADA, when=SINCE + DAY)
    config = tmp_path / "config.toml"
    with FakeGitLab(generate_merge_requests(5, author="ada", since=SINCE, until=UNTIL)) as fake:
        _write_config(config, fake.url, f'[sources.code]\ntype = "git"\npaths = ["{repo.path}"]\n')
        monkeypatch.setenv("GL_TOKEN", fake.read_user_token if token == "read_user" else token)
        code, out, err = run_mine(capsys, "--since", "2026-09-01", "--until", "2026-10-31",
                                  "--format", "json",
                                  "--config", str(config))  # fmt: skip
    assert code == 3, err
    report = json.loads(out)
    coverage = {c["source"]: c for c in report["coverage"]}
    assert coverage["gl"]["status"] == "failed" and coverage["gl"]["detail"].startswith(says)
    assert "read_api" in coverage["gl"]["detail"] and "\n" not in coverage["gl"]["detail"]
    assert coverage["code"]["status"] == "ok" and report["projects"]  # the rest of the report is intact
    assert "Traceback" not in err
