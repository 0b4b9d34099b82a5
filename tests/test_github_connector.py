"""The GitHub connector against a GitHub on loopback (tests/fake_github.py) that validates every query
against GitHub's published GraphQL schema. Sleeps and the clock are injected: nothing here waits."""

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

from fake_github import (
    OK,
    FakeGitHub,
    Fault,
    Issue,
    Review,
    generate_pulls,
    pull,
    pulls_from_cassettes,
    rate_limited,
    reviews_from_devlake,
    server_error,
)
from gitrepo import ADA, BOB, GitRepo
from impact_miner.cache import Cache
from impact_miner.cli import main
from impact_miner.connectors import github as gh
from impact_miner.errors import ConfigError, SourceError
from impact_miner.model import FetchResult, Person, SourceSection, TimeRange
from impact_miner.pipeline import build_report
from impact_miner.registry import FetchContext, available
from impact_miner.runspec import RunSpec

SINCE = datetime(2026, 11, 1, tzinfo=UTC)
UNTIL = datetime(2026, 11, 15, tzinfo=UTC)
RANGE = TimeRange(SINCE, UNTIL, "2026-11-01..2026-11-14")
AFTER = datetime(2026, 12, 1, tzinfo=UTC)  # "now" for a range that has ended
SECOND = timedelta(seconds=1)
ME = Person(name="Ada Lovelace", emails=[ADA[1]], logins={"github": "ada"})


@pytest.fixture
def github() -> Iterator[FakeGitHub]:
    with FakeGitHub() as fake:
        yield fake


def fetch(
    fake: FakeGitHub,
    *,
    person: Person = ME,
    time_range: TimeRange = RANGE,
    now: datetime = AFTER,
    cache: Cache | None = None,
    sleeps: list[float] | None = None,
    **options: Any,
) -> FetchResult:
    """One fetch of a ``[sources.gh]`` pointed at ``fake``; every sleep is recorded, none taken."""
    section = SourceSection("gh", "github", {"url": fake.url, "token": fake.token, **options})
    recorded = sleeps if sleeps is not None else []
    context = FetchContext(now=now, cache=cache, sleep=recorded.append)
    return gh.fetch(person, time_range, section, context)


def ids(result: FetchResult, kind: str | None = None) -> set[str]:
    return {e.id for e in result.evidence if kind is None or e.kind == kind}


# ---- configuration -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "rest", "graphql"),
    [
        ("https://api.github.com", "https://api.github.com", "https://api.github.com/graphql"),
        ("https://api.github.com/", "https://api.github.com", "https://api.github.com/graphql"),
        ("https://github.com", "https://api.github.com", "https://api.github.com/graphql"),
        ("https://ghe.acme.io/api/v3", "https://ghe.acme.io/api/v3", "https://ghe.acme.io/api/graphql"),
        ("https://ghe.acme.io", "https://ghe.acme.io/api/v3", "https://ghe.acme.io/api/graphql"),
        (
            "http://127.0.0.1:8080/api/v3/",
            "http://127.0.0.1:8080/api/v3",
            "http://127.0.0.1:8080/api/graphql",
        ),
        ("https://api.acme.ghe.com", "https://api.acme.ghe.com", "https://api.acme.ghe.com/graphql"),
    ],
)
def test_graphql_endpoint_follows_githubs_convention(url: str, rest: str, graphql: str) -> None:
    assert gh.endpoints(url) == (rest, graphql)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"org": "acme"}, "sources.gh: unknown option 'org'; known: issues, login, max_wait, orgs, repos,"),
        ({"url": "api.github.com"}, 'sources.gh.url must be an http(s) URL such as "https://api.github.com"'),
        ({"repos": ["api"]}, 'sources.gh.repos must be a list like repos = ["acme/api"]'),
        ({"orgs": "acme/api"}, 'sources.gh.orgs must be a list like orgs = ["acme"]'),
        ({"reviews": "yes"}, "sources.gh.reviews must be true or false"),
        ({"max_wait": -1}, "sources.gh.max_wait must be a number of seconds ≥ 0"),
        ({"timeout": 0}, "sources.gh.timeout must be a number of seconds ≥ 1"),
        ({"token": ""}, 'sources.gh.token must be a non-empty string, e.g. "env:GITHUB_TOKEN"'),
    ],
)
def test_check_names_the_bad_option_and_how_to_fix_it(options: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError) as raised:
        gh.check(SourceSection("gh", "github", options))
    assert str(raised.value).startswith(message)
    assert "\n" not in str(raised.value)


def test_token_from_the_section_then_the_environment_then_gh(tmp_path: Path) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    script = bin_dir / "gh"  # a real executable standing in for the GitHub CLI
    script.write_text('#!/bin/sh\n[ "$*" = "auth token --hostname ghe.acme.io" ] && echo gho_from_gh_cli\n')
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    which = lambda name: str(bin_dir / name) if (bin_dir / name).exists() else None  # noqa: E731
    enterprise = gh.settings(SourceSection("gh", "github", {"url": "https://ghe.acme.io"}))

    assert (
        gh.resolve_token(replace(enterprise, token="ghp_section"), {"GITHUB_TOKEN": "x"}, which)
        == "ghp_section"
    )
    assert gh.resolve_token(enterprise, {"GITHUB_TOKEN": "ghp_a", "GH_TOKEN": "ghp_b"}, which) == "ghp_a"
    assert gh.resolve_token(enterprise, {"GH_TOKEN": "ghp_b"}, which) == "ghp_b"
    assert gh.resolve_token(enterprise, {"PATH": os.environ["PATH"]}, which) == "gho_from_gh_cli"
    with pytest.raises(SourceError) as raised:
        gh.resolve_token(enterprise, {}, lambda _name: None)
    assert str(raised.value) == (
        "no GitHub token for sources.gh: create a token with repo/read:org scope and set sources.gh.token "
        '(e.g. "env:GITHUB_TOKEN") or export GITHUB_TOKEN, '
        "or log in with `gh auth login --hostname ghe.acme.io`"
    )


# ---- what counts --------------------------------------------------------------------------------------


def test_exactly_the_persons_pull_requests_merged_in_the_half_open_range(github: FakeGitHub) -> None:
    github.pulls = [
        pull("acme/api", 1, merged_at=SINCE - SECOND),
        pull("acme/api", 2, merged_at=SINCE),
        pull("acme/api", 3, merged_at=UNTIL - SECOND),
        pull("acme/api", 4, merged_at=UNTIL),
        pull("acme/api", 5, closed_at=SINCE + timedelta(days=2)),  # closed without merging
        pull("acme/api", 6),  # still open
        pull("acme/api", 7, author="bob", merged_at=SINCE + timedelta(days=3)),
        pull("acme/web", 8, author="ADA", merged_at=SINCE + timedelta(days=4)),  # logins ignore case
    ]
    result = fetch(github)
    assert ids(result) == {"github:acme/api#2", "github:acme/api#3", "github:acme/web#8"}
    assert result.report.status == "ok"
    assert result.report.detail == "ada on 127.0.0.1: 3 merged pull requests, 0 reviewed; 1 request"
    assert github.searches()[0] == (
        "is:pr is:merged author:ada merged:2026-11-01T00:00:00+00:00..2026-11-14T23:59:59+00:00"
    )


def test_a_range_with_an_offset_is_searched_in_utc(github: FakeGitHub) -> None:
    cest = timezone(timedelta(hours=2))
    github.pulls = [pull("acme/api", 1, merged_at=datetime(2026, 10, 31, 22, 30, tzinfo=UTC))]
    result = fetch(
        github, time_range=TimeRange(datetime(2026, 11, 1, tzinfo=cest), datetime(2026, 11, 2, tzinfo=cest))
    )
    assert ids(result) == {"github:acme/api#1"}
    assert "merged:2026-10-31T22:00:00+00:00..2026-11-01T21:59:59+00:00" in github.searches()[0]


def test_real_pull_request_payloads_become_complete_evidence(github: FakeGitHub) -> None:
    real = pulls_from_cassettes()
    deleted_fork = real["deleted_fork"]  # sigmavirus24/github3.py#235: its fork is gone (head.repo null)
    github.pulls = [deleted_fork, real["fork"]]
    person = Person(logins={"github": "bgilbert"})
    years = TimeRange(datetime(2014, 1, 1, tzinfo=UTC), datetime(2018, 1, 1, tzinfo=UTC))
    [item] = fetch(github, person=person, time_range=years).evidence
    assert item.id == "github:sigmavirus24/github3.py#235"
    assert item.kind == "pull_request"
    assert item.url == "https://github.com/sigmavirus24/github3.py/pull/235"
    assert item.title == "Add Release.assets attribute"
    assert item.body.startswith("The JSON describing a release includes complete information on its")
    assert item.author == "bgilbert"
    assert item.repo == "sigmavirus24/github3.py"
    assert item.completed_at == datetime(2014, 5, 3, 14, 41, 23, tzinfo=UTC)
    assert item.created_at == datetime(2014, 5, 2, 6, 10, 10, tzinfo=UTC)
    assert (item.additions, item.deletions, item.files) == (18, 0, 2)
    assert item.extra["head_repository"] is None
    assert item.extra["branch"] == "release-assets-attr"
    assert item.extra["commits"] == 2
    assert item.extra["shas"] == deleted_fork.commits
    assert item.extra["source_name"] == "gh"
    assert set(deleted_fork.commits) <= set(item.refs)  # so the git connector's commits join it by sha


def test_titles_branches_bodies_and_closing_issues_become_refs(github: FakeGitHub) -> None:
    github.pulls = [
        pull(
            "acme/api",
            41,
            merged_at=SINCE + timedelta(days=1),
            title="Speed up index merges",
            head_ref="SEARCH-88-merge-off-path",
            body=None,
            labels=["perf"],
            merge_commit="f" * 40,
            closing_issues=[("acme/api", 7), ("acme/tracker", 3)],
            commits=["a" * 40, "b" * 40],
        ),
        pull("acme/api", 42, merged_at=SINCE + timedelta(days=2), body="Follow-up to #41, see ABC-12."),
    ]
    result = {e.id: e for e in fetch(github).evidence}
    first, second = result["github:acme/api#41"], result["github:acme/api#42"]
    assert first.body == ""  # a REST null body is GraphQL's empty string
    assert first.refs == ["SEARCH-88", "acme/api#7", "acme/tracker#3", "a" * 40, "b" * 40, "f" * 40]
    assert first.extra["linked_issues"] == ["acme/api#7", "acme/tracker#3"]
    assert first.labels == ["perf"]
    assert second.refs == ["acme/api#41", "ABC-12"]


# ---- reviews and issues ------------------------------------------------------------------------------


def test_reviews_from_real_review_data_one_item_per_pull_request() -> None:
    reviews = reviews_from_devlake()
    authors = {41: "choleraehyq", 51: "choleraehyq", 53: "KevinBaiSg"}
    pulls = [
        pull(
            "panjf2000/ants",
            n,
            author=authors[n],
            title=f"Pull {n}",
            merged_at=datetime(2019, 10, 10, tzinfo=UTC),
            reviews=reviews[("panjf2000/ants", n)],
        )
        for n in authors
    ]
    autumn = TimeRange(datetime(2019, 8, 1, tzinfo=UTC), datetime(2019, 10, 9, tzinfo=UTC))
    with FakeGitHub(pulls) as fake:
        result = fetch(fake, person=Person(logins={"github": "panjf2000"}), time_range=autumn)
    found = {e.id: e for e in result.evidence}
    assert set(found) == {f"github-review:panjf2000/ants#{n}" for n in authors}
    changes = found["github-review:panjf2000/ants#53"]
    assert changes.kind == "review"
    assert changes.title == "Review of Pull 53"
    assert changes.extra["state"] == "CHANGES_REQUESTED"  # the latest verdict before 2019-10-09
    assert changes.url == "https://github.com/panjf2000/ants/pull/53#pullrequestreview-298546957"
    assert changes.extra["states"] == ["CHANGES_REQUESTED", "COMMENTED"]
    assert changes.extra["reviews"] == 7  # the 8th (2019-10-09 12:58) is after the range
    assert changes.extra["pr_author"] == "KevinBaiSg"
    assert changes.completed_at == datetime(2019, 10, 8, 6, 14, tzinfo=UTC)
    assert found["github-review:panjf2000/ants#41"].extra["state"] == "COMMENTED"
    assert found["github-review:panjf2000/ants#41"].extra["reviews"] == 5


def test_reviews_count_only_other_peoples_pull_requests_reviewed_in_range(github: FakeGitHub) -> None:
    day = timedelta(days=1)
    github.pulls = [
        pull(
            "acme/api",
            1,
            author="bob",
            merged_at=SINCE + 5 * day,
            title="Add cache",
            reviews=[
                Review("ada", "APPROVED", SINCE - day, 1),  # before the range
                Review("ada", "COMMENTED", SINCE + day, 2),
                Review("ada", "CHANGES_REQUESTED", SINCE + 2 * day, 3),
                Review("ada", "COMMENTED", SINCE + 3 * day, 4),
                Review("ada", "PENDING", None, 5),
                Review("carol", "APPROVED", SINCE + 4 * day, 6),
            ],
        ),
        pull(
            "acme/api",
            2,
            author="dependabot",
            author_type="Bot",
            title="Bump lodash from 4.17.20 to 4.17.21",
            merged_at=SINCE + 2 * day,
            reviews=[Review("ada", "APPROVED", SINCE + 2 * day, 7)],
        ),
        pull(
            "acme/api",
            3,
            author=None,
            title="Old work",
            merged_at=SINCE + day,  # a deleted account
            reviews=[Review("ada", "COMMENTED", SINCE + day, 8)],
        ),
        pull(
            "acme/api", 4, merged_at=SINCE + day, reviews=[Review("ada", "COMMENTED", SINCE + day, 9)]
        ),  # own
        pull("acme/api", 5, author="bob", reviews=[Review("ada", "APPROVED", SINCE - 2 * day, 10)]),
        pull("acme/api", 6, author="bob", reviews=[Review("carol", "APPROVED", SINCE + day, 11)]),
    ]
    result = fetch(github)
    assert ids(result, "review") == {
        "github-review:acme/api#1",
        "github-review:acme/api#2",
        "github-review:acme/api#3",
    }
    assert ids(result, "pull_request") == {"github:acme/api#4"}
    reviews = {e.id: e for e in result.evidence}
    first = reviews["github-review:acme/api#1"]
    assert first.extra["state"] == "CHANGES_REQUESTED"
    assert first.extra["states"] == ["COMMENTED", "CHANGES_REQUESTED"]
    assert first.extra["reviews"] == 3
    assert first.created_at == SINCE + timedelta(days=1)
    assert first.completed_at == SINCE + timedelta(days=3)
    assert first.url == "https://github.com/acme/api/pull/1#pullrequestreview-3"
    assert reviews["github-review:acme/api#2"].extra["pr_author"] == "dependabot[bot]"
    assert reviews["github-review:acme/api#3"].extra["pr_author"] == "ghost"
    assert "is:pr reviewed-by:ada -author:ada updated:>=2026-11-01T00:00:00+00:00" in github.searches()
    assert result.report.detail.startswith("ada on 127.0.0.1: 1 merged pull request, 3 reviewed;")


def test_reviews_can_be_turned_off(github: FakeGitHub) -> None:
    github.pulls = [pull("acme/api", 1, author="bob", reviews=[Review("ada", "APPROVED", SINCE, 1)])]
    assert fetch(github, reviews=False).evidence == []
    assert not any("reviewed-by" in s for s in github.searches())


def test_issues_closed_by_the_person_or_their_pull_request_when_enabled(github: FakeGitHub) -> None:
    day = timedelta(days=1)
    fix = pull("acme/api", 30, merged_at=SINCE + 2 * day, title="Fix crash on empty query")
    github.pulls = [fix]
    github.issues = [
        Issue(
            "acme/api",
            10,
            "Crash on empty query",
            closed_at=SINCE + 2 * day,
            closed_by="carol",
            closer=fix,
            involves=["ada"],
        ),
        Issue("acme/api", 11, "Stale docs", closed_at=SINCE + 3 * day, closed_by="ada", assignees=["ada"]),
        Issue("acme/api", 12, "Flaky test", closed_at=SINCE + 3 * day, closed_by="bob", involves=["ada"]),
        Issue("acme/api", 13, "Old", closed_at=SINCE - day, closed_by="ada", assignees=["ada"]),
        Issue(
            "acme/api",
            14,
            "Typo",
            closed_at=SINCE + 4 * day,
            closed_by="github-actions",
            closer="c" * 40,
            closer_author="ada",
            involves=["ada"],
        ),
    ]
    assert ids(fetch(github)) == {"github:acme/api#30"}  # issues are off by default
    result = fetch(github, issues=True)
    assert ids(result, "issue") == {
        "github-issue:acme/api#10",
        "github-issue:acme/api#11",
        "github-issue:acme/api#14",
    }
    closed = {e.id: e for e in result.evidence}["github-issue:acme/api#10"]
    assert closed.url == "https://github.com/acme/api/issues/10"
    assert closed.completed_at == SINCE + 2 * day
    assert "acme/api#30" in closed.refs  # the pull request that closed it, so they share a project
    assert result.report.detail.startswith(
        "ada on 127.0.0.1: 1 merged pull request, 0 reviewed, 3 issues closed;"
    )


def test_orgs_and_repos_scope_the_searches_in_groups_github_accepts(github: FakeGitHub) -> None:
    day = timedelta(days=1)
    github.pulls = [
        pull("acme/api", 1, merged_at=SINCE + day),
        pull("other/lib", 2, merged_at=SINCE + day),
        pull("tools/cli", 3, merged_at=SINCE + day),
    ]
    repos = ["tools/cli", *(f"tools/repository-with-a-long-name-{i}" for i in range(20))]
    result = fetch(github, orgs=["acme"], repos=repos, reviews=False)
    assert ids(result) == {"github:acme/api#1", "github:tools/cli#3"}
    searches = github.searches()
    assert len(searches) > 2 and all(len(s) <= gh.MAX_QUERY_LENGTH for s in searches)
    assert searches[0].endswith(" org:acme")
    assert {q for s in searches for q in s.split() if q.startswith("repo:")} == {f"repo:{r}" for r in repos}


# ---- request budget and cache ------------------------------------------------------------------------


def test_250_pull_requests_cost_four_requests_with_the_login_lookup_and_a_rerun_none(
    github: FakeGitHub, tmp_path: Path
) -> None:
    github.pulls = generate_pulls(250, author="ada", since=SINCE, until=UNTIL)
    cache = Cache(tmp_path / "cache.sqlite3")
    first = fetch(github, person=Person(), cache=cache)  # no login: the token's own user is looked up
    assert len(first.evidence) == 250
    used = github.graphql_requests
    assert used <= 4 == math.ceil(250 / 100) + 1
    assert first.report.detail == f"ada on 127.0.0.1: 250 merged pull requests, 0 reviewed; {used} requests"

    again = fetch(github, person=Person(), cache=cache)
    assert github.graphql_requests == used  # nothing new asked
    assert [e.to_dict() for e in again.evidence] == [e.to_dict() for e in first.evidence]
    assert (
        again.report.detail
        == "ada on 127.0.0.1: 250 merged pull requests, 0 reviewed; 0 requests, 2 windows from cache"
    )

    refreshed = fetch(github, person=Person(), cache=Cache(cache.path, refresh=True))
    assert github.graphql_requests == 2 * used and len(refreshed.evidence) == 250

    with sqlite3.connect(cache.path) as db:
        stored = " ".join(str(value) for row in db.execute("SELECT * FROM entries") for value in row)
    assert github.token not in stored and "token_sha256" in stored


def test_2500_pull_requests_in_one_range_split_the_window_and_all_arrive(github: FakeGitHub) -> None:
    github.pulls = generate_pulls(2500, author="ada", since=SINCE, until=UNTIL)
    result = fetch(github, reviews=False)
    assert ids(result) == {f"github:{p.repo}#{p.number}" for p in github.pulls}
    assert result.report.status == "ok"
    assert github.graphql_requests <= math.ceil(2500 / 100) + 1
    windows = [s.split("merged:")[1] for s in github.searches()]
    assert windows[0] == "2026-11-01T00:00:00+00:00..2026-11-14T23:59:59+00:00"  # 2,500 > 1,000: split
    assert len(set(windows)) > 2


def test_a_burst_inside_a_long_range_is_split_again_until_every_slice_is_under_the_cap(
    github: FakeGitHub,
) -> None:
    burst = generate_pulls(
        1500, author="ada", since=SINCE + timedelta(days=3), until=SINCE + timedelta(days=3, hours=2)
    )
    github.pulls = burst + generate_pulls(20, author="ada", since=SINCE, until=UNTIL, start=5000)
    result = fetch(github, reviews=False)
    assert len(result.evidence) == 1520 and result.report.status == "ok"


def test_more_than_1000_results_within_one_second_is_partial_not_silent(github: FakeGitHub) -> None:
    moment = SINCE + timedelta(minutes=30)
    github.pulls = [pull("acme/api", n, merged_at=moment) for n in range(1, 1003)]
    hour = TimeRange(SINCE, SINCE + timedelta(hours=1))
    result = fetch(github, time_range=hour, reviews=False)
    assert len(result.evidence) == 1000
    assert result.report.status == "partial"
    assert (
        "more than 1000 results within one second for `is:pr is:merged author:ada "
        "merged:2026-11-01T00:30:00+00:00..2026-11-01T00:30:00+00:00`; kept the first 1000"
    ) in result.report.detail


def test_an_open_range_keeps_its_closed_days_and_refetches_only_today(
    github: FakeGitHub, tmp_path: Path
) -> None:
    now = UNTIL - timedelta(hours=12)  # the range ends tonight
    github.pulls = generate_pulls(150, author="ada", since=SINCE, until=now)
    cache = Cache(tmp_path / "cache.sqlite3")
    first = fetch(github, now=now, cache=cache)
    assert len(first.evidence) == 150 and github.graphql_requests == 2
    again = fetch(github, now=now, cache=cache)
    assert github.graphql_requests == 3  # only today's pull requests and reviews, in one request
    assert ids(again) == ids(first)
    assert all("2026-11-14T00:00:00" in s for s in github.searches()[-2:])


# ---- faults ------------------------------------------------------------------------------------------


@pytest.fixture
def busy(github: FakeGitHub) -> FakeGitHub:
    github.pulls = generate_pulls(150, author="ada", since=SINCE, until=UNTIL)
    return github


SECONDARY = {
    "message": "You have exceeded a secondary rate limit. Please wait a few minutes before you try again."
}


@pytest.mark.parametrize(
    ("faults", "waits"),
    [
        pytest.param([Fault(403, {"Retry-After": "30"}, SECONDARY)], [30.0], id="403-retry-after"),
        pytest.param([Fault(429, {}, {"message": "Too many requests"})], [60.0], id="429-no-headers"),
        pytest.param([Fault(429), Fault(429)], [60.0, 120.0], id="429-twice-backs-off"),
        pytest.param(
            [
                Fault(
                    403,
                    {"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": str(int(AFTER.timestamp()) + 120)},
                    {"message": "API rate limit exceeded for user ID 1."},
                )
            ],
            [121.0],
            id="403-ratelimit-reset",
        ),
        pytest.param(
            [
                rate_limited(
                    **{"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": str(int(AFTER.timestamp()) + 90)}
                )
            ],
            [91.0],
            id="graphql-rate-limited-with-200",
        ),
        pytest.param([rate_limited()], [60.0], id="graphql-rate-limited-no-headers"),
        pytest.param([server_error(502)], [2.0], id="502-then-success"),
        pytest.param(
            [server_error(502), server_error(503), server_error(504)], [2.0, 4.0, 8.0], id="5xx-backoff"
        ),
        pytest.param([OK, server_error(502)], [2.0], id="502-on-the-second-page"),
    ],
)
def test_rate_limits_and_server_errors_are_waited_out(
    busy: FakeGitHub, faults: list[Fault], waits: list[float]
) -> None:
    busy.script(*faults)
    sleeps: list[float] = []
    result = fetch(busy, sleeps=sleeps)
    assert sleeps == waits
    assert len(result.evidence) == 150 and result.report.status == "ok"
    assert busy.graphql_requests == 2 + len(faults) - faults.count(OK)


def test_a_429_whose_retry_after_is_an_http_date_waits_until_that_moment(busy: FakeGitHub) -> None:
    two_seconds_ahead = format_datetime(AFTER + timedelta(seconds=2), usegmt=True)  # "Tue, 01 Dec 2026 …"
    busy.script(Fault(429, {"Retry-After": two_seconds_ahead}, {"message": "Too many requests"}))
    sleeps: list[float] = []
    result = fetch(busy, sleeps=sleeps)  # "now" is AFTER, plus what was waited: no real time passes
    assert sleeps == [2.0]
    assert len(result.evidence) == 150 and result.report.status == "ok"
    assert busy.graphql_requests == 3  # the two pages, and the one that was told to wait


class RecordingThrottle:
    """A batch's shared pacing, recording what the connector asked of it."""

    def __init__(self) -> None:
        self.waits: list[str] = []
        self.holds: list[tuple[str, float]] = []

    def wait(self, source: str) -> None:
        self.waits.append(source)

    def hold(self, source: str, seconds: float) -> None:
        self.holds.append((source, seconds))


def test_a_shared_throttle_paces_every_request_and_hears_about_rate_limits(busy: FakeGitHub) -> None:
    busy.script(Fault(403, {"Retry-After": "30"}, SECONDARY))
    throttle = RecordingThrottle()
    section = SourceSection("gh", "github", {"url": busy.url, "token": busy.token})
    context = FetchContext(now=AFTER, sleep=lambda _seconds: None, throttle=throttle)
    result = gh.fetch(ME, RANGE, section, context)
    assert len(result.evidence) == 150
    assert throttle.waits == ["gh"] * busy.graphql_requests
    assert throttle.holds == [("gh", 30.0)]


def test_a_request_that_hangs_past_the_timeout_is_retried(busy: FakeGitHub) -> None:
    busy.script(Fault(hang=10))
    sleeps: list[float] = []
    result = fetch(busy, sleeps=sleeps, timeout=1)
    assert sleeps == [2.0] and len(result.evidence) == 150 and result.report.status == "ok"


def test_a_server_that_keeps_failing_fails_the_source_after_five_attempts(busy: FakeGitHub) -> None:
    busy.script(*[server_error(502)] * 5)
    sleeps: list[float] = []
    with pytest.raises(SourceError) as raised:
        fetch(busy, sleeps=sleeps)
    assert sleeps == [2.0, 4.0, 8.0, 16.0]
    assert str(raised.value) == (
        "GitHub answered 502 (Something went wrong while executing your query. This may be the result of "
        "a timeout.) (5 attempts); rerun later"
    )


def test_rate_limit_beyond_max_wait_stops_with_when_to_rerun(busy: FakeGitHub) -> None:
    busy.script(Fault(429, {"Retry-After": "3600"}))
    sleeps: list[float] = []
    with pytest.raises(SourceError) as raised:
        fetch(busy, sleeps=sleeps, max_wait=300)
    assert sleeps == []
    assert str(raised.value) == "rate limited until 01:00 UTC; rerun after that"


def test_rate_limit_after_some_pages_keeps_them_and_marks_the_source_partial(
    busy: FakeGitHub, tmp_path: Path
) -> None:
    cache = Cache(tmp_path / "cache.sqlite3")
    busy.script(
        OK,
        Fault(403, {"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": str(int(AFTER.timestamp()) + 7200)}),
    )
    result = fetch(busy, cache=cache)
    assert len(result.evidence) == 100
    assert result.report.status == "partial"
    assert "stopped: rate limited until 02:01 UTC; rerun after that" in result.report.detail
    assert len(fetch(busy, cache=cache).evidence) == 150  # the unfinished window was not cached


def test_a_rejected_token_fails_the_source_saying_how_to_fix_it(github: FakeGitHub) -> None:
    with pytest.raises(SourceError) as raised:
        fetch(github, token="ghp_revoked")
    assert str(raised.value) == (
        "token rejected by GitHub (sources.gh): create a token with repo/read:org scope and set "
        'sources.gh.token (e.g. "env:GITHUB_TOKEN") or export GITHUB_TOKEN'
    )
    assert github.log[-1].status == 401


def test_results_hidden_by_saml_sso_make_the_source_partial_naming_the_org(tmp_path: Path) -> None:
    day = timedelta(days=1)
    pulls = [
        pull("acme/api", 1, merged_at=SINCE + day),
        pull("secretorg/vault", 2, merged_at=SINCE + 2 * day),
    ]
    cache = Cache(tmp_path / "cache.sqlite3")
    with FakeGitHub(pulls, sso_orgs=["secretorg"]) as fake:
        result = fetch(fake, cache=cache)
        assert ids(result) == {"github:acme/api#1"}
        assert result.report.status == "partial"
        assert (
            "1 result hidden by SAML single sign-on of secretorg: authorise the token of sources.gh for "
            "secretorg at https://github.com/orgs/secretorg/sso?authorization_request="
            in result.report.detail
        )
        fetch(fake, cache=cache)
        assert fake.graphql_requests == 2  # a partial window is never cached


def test_a_search_that_returns_fewer_results_than_it_counts_is_partial(
    busy: FakeGitHub, tmp_path: Path
) -> None:
    busy.drop_results = 1
    cache = Cache(tmp_path / "cache.sqlite3")
    result = fetch(busy, cache=cache, reviews=False)
    assert result.report.status == "partial"
    assert (
        "GitHub search returned 148 of 150 results for `is:pr is:merged author:ada merged:"
        in result.report.detail
    )
    busy.drop_results = 0
    assert len(fetch(busy, cache=cache, reviews=False).evidence) == 150


def test_a_graphql_error_without_data_fails_the_source_with_githubs_message(busy: FakeGitHub) -> None:
    busy.script(Fault(200, {}, {"data": None, "errors": [{"message": "Something went wrong"}]}))
    with pytest.raises(SourceError, match="GitHub answered the search with an error: Something went wrong"):
        fetch(busy)


def test_an_answer_that_is_not_graphql_fails_the_source_naming_the_url(busy: FakeGitHub) -> None:
    busy.script(Fault(200, {"Content-Type": "text/html"}, "<html><body>Sign in to the proxy</body></html>"))
    with pytest.raises(
        SourceError, match=r"/api/graphql did not answer like GitHub's GraphQL API; check sources"
    ):
        fetch(busy)


def test_a_server_that_is_gone_fails_the_source_after_five_attempts() -> None:
    with FakeGitHub() as gone:
        section = SourceSection("gh", "github", {"url": gone.url, "token": gone.token})
    sleeps: list[float] = []
    with pytest.raises(SourceError) as raised:
        gh.fetch(ME, RANGE, section, FetchContext(now=AFTER, sleep=sleeps.append))
    assert sleeps == [2.0, 4.0, 8.0, 16.0]
    assert str(raised.value).endswith("/api/graphql (ConnectionError) (5 attempts); rerun later")


def test_a_url_without_graphql_fails_the_source_naming_the_option(busy: FakeGitHub) -> None:
    section = SourceSection("gh", "github", {"url": busy.url + "/nope", "token": busy.token})
    with pytest.raises(
        SourceError, match=r"no GitHub GraphQL API at http://127\.0\.0\.1:\d+/api/v3/nope/graphql"
    ):
        gh.fetch(ME, RANGE, section, FetchContext(now=AFTER, sleep=lambda _s: None))


# ---- the fake itself behaves like GitHub -------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("{ viewer { login favouriteColour } }", "Cannot query field 'favouriteColour' on type 'User'."),
        (
            '{ search(type: ISSUE, query: "is:pr", first: 5) { nodes { ... on PullRequest { labels { nodes '
            "{ name } } } } } }",
            "You must provide a `first` or `last` value to properly paginate the `labels`",
        ),
        (
            '{ search(type: ISSUE, query: "is:pr", first: 101) { issueCount } }',
            "Requesting 101 records on the `search` connection exceeds the `first` limit of 100 records.",
        ),
    ],
)
def test_the_fake_rejects_what_github_rejects_with_http_200(
    github: FakeGitHub, query: str, message: str
) -> None:
    answer = requests.post(
        f"http://127.0.0.1:{github.port}{github.graphql_path}",
        json={"query": query},
        headers={"Authorization": f"bearer {github.token}"},
        timeout=10,
    )
    assert answer.status_code == 200 and "X-RateLimit-Remaining" in answer.headers
    assert answer.json()["errors"][0]["message"].startswith(message)


# ---- linking and the whole tool ----------------------------------------------------------------------


def test_pull_requests_join_the_git_commits_that_cite_them_or_that_they_contain(tmp_path: Path) -> None:
    day = timedelta(days=1)
    api = GitRepo.init(tmp_path / "api", remote="git@github.com:Acme/API.git")  # case differs from GitHub's
    cites = api.commit("Add search filters (#12)", {"search/filters.py": "x = 1\n"}, when=SINCE + day)
    inside = api.commit("Parse filter syntax", {"search/parse.py": "y = 2\n"}, when=SINCE + 2 * day)
    other = api.commit("Tidy billing export", {"billing/export.py": "z = 3\n"}, when=SINCE + 3 * day)
    betamax = GitRepo.init(tmp_path / "betamax", remote="https://github.com/sigmavirus24/betamax.git")
    old_name = betamax.commit("Fix minor typo in api.rst", {"docs/api.rst": "typo\n"}, when=SINCE + 4 * day)
    renamed = replace(
        pulls_from_cassettes()["renamed"], author="ada", merged_at=SINCE + 4 * day, commits=[old_name]
    )
    pulls = [
        pull("acme/api", 12, merged_at=SINCE + day, title="Search filters", commits=["9" * 40]),
        pull("acme/api", 13, merged_at=SINCE + 2 * day, title="Filter syntax", commits=[inside]),
        renamed,  # GitHub knows it as betamaxpy/betamax#182 now; the clone still says sigmavirus24
    ]
    connectors = available()
    with FakeGitHub(pulls) as fake:
        spec = RunSpec(
            person=ME,
            time_range=RANGE,
            sources=[
                (
                    connectors["git"],
                    SourceSection("code", "git", {"paths": [str(api.path), str(betamax.path)]}),
                ),
                (connectors["github"], SourceSection("gh", "github", {"url": fake.url, "token": fake.token})),
            ],
            now=AFTER,
        )
        report = build_report(spec)
    by_item = {item: project.id for project in report.projects for item in project.evidence_ids}
    assert by_item["github:acme/api#12"] == by_item[f"git:Acme/API@{cites}"]
    assert by_item["github:acme/api#13"] == by_item[f"git:Acme/API@{inside}"]
    assert by_item["github:betamaxpy/betamax#182"] == by_item[f"git:sigmavirus24/betamax@{old_name}"]
    assert by_item[f"git:Acme/API@{other}"] not in {
        by_item["github:acme/api#12"],
        by_item["github:acme/api#13"],
    }
    assert [c.status for c in report.coverage] == ["ok", "ok"]
    [project] = [p for p in report.projects if p.id == by_item["github:acme/api#12"]]
    assert "pull request #12" in project.statement and project.verified
    assert "in acme/api on" in project.statement  # one repository, whatever the clone's case


def test_mine_lists_exactly_the_persons_merged_pull_requests_and_reviews_as_json(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    day = timedelta(days=1)
    repo = GitRepo.init(tmp_path / "api", remote="git@github.com:acme/api.git")
    sha = repo.commit("Cache search results (#101)", {"search/cache.py": "x\n"}, when=now - 3 * day)
    pulls = [
        pull("acme/api", 101, title="Cache search results", merged_at=now - 2 * day, commits=[sha]),
        pull("acme/web", 102, title="Dark mode", merged_at=now - 5 * day, body="Closes acme/web#9"),
        pull("acme/api", 103, title="Old work", merged_at=now - 20 * day),
        pull(
            "acme/api",
            104,
            title="Bob's work",
            author="bob",
            merged_at=now - day,
            reviews=[Review("ada", "APPROVED", now - day, 1)],
        ),
        pull(
            "acme/api",
            105,
            title="Bob's older work",
            author="bob",
            merged_at=now - 30 * day,
            reviews=[Review("ada", "APPROVED", now - 30 * day, 2)],
        ),
        pull("acme/api", 106, title="Unmerged", closed_at=now - day),
    ]
    config = tmp_path / "config.toml"
    config.write_text(
        '[me]\nname = "Ada Lovelace"\nemails = ["ada@x.io"]\ntimezone = "UTC"\n[me.logins]\ngithub = "ada"\n'
        f'[sources.code]\ntype = "git"\npaths = ["{repo.path}"]\n'
        '[sources.gh]\ntype = "github"\nurl = "URL"\ntoken = "env:FAKE_GITHUB_TOKEN"\n'
    )
    with FakeGitHub(pulls) as fake:
        config.write_text(config.read_text().replace("URL", fake.url))
        monkeypatch.setenv("FAKE_GITHUB_TOKEN", fake.token)
        with pytest.raises(SystemExit) as exited:
            main(["--since", "2w", "--format", "json", "--config", str(config)])
        requests_made = fake.graphql_requests
    out = capsys.readouterr().out
    assert exited.value.code == 0
    report = json.loads(out)
    github_items = {e["id"]: e for e in report["evidence"] if e["source"] == "github"}
    assert set(github_items) == {"github:acme/api#101", "github:acme/web#102", "github-review:acme/api#104"}
    assert github_items["github:acme/api#101"]["url"] == "https://github.com/acme/api/pull/101"
    assert github_items["github-review:acme/api#104"]["extra"]["state"] == "APPROVED"
    coverage = {c["source"]: c for c in report["coverage"]}
    assert coverage["gh"]["status"] == "ok" and coverage["gh"]["items"] == 3
    assert requests_made <= math.ceil(2 / 100) + 1
    [project] = [p for p in report["projects"] if "github:acme/api#101" in p["evidence_ids"]]
    assert f"git:acme/api@{sha}" in project["evidence_ids"]


@pytest.mark.parametrize("where", ["outside any repository", "a repository without user.email"])
def test_with_only_github_configured_mine_runs_wherever_it_is_started(
    where: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The implicit current-repository git source never blocks a configured one: it is skipped, exit 0."""
    now = datetime.now(UTC).replace(microsecond=0)
    start = tmp_path / "work"
    if where == "outside any repository":
        start.mkdir()
    else:
        repo = GitRepo.init(start)
        repo.commit("Someone's work", {"a.txt": "x\n"}, author=BOB, when=now - timedelta(days=1))
    monkeypatch.chdir(start)
    config = tmp_path / "config.toml"
    with FakeGitHub([pull("acme/api", 7, title="Add exports", merged_at=now - timedelta(days=2))]) as fake:
        config.write_text(
            '[me]\nname = "Ada"\n[me.logins]\ngithub = "ada"\n'
            f'[sources.gh]\ntype = "github"\nurl = "{fake.url}"\ntoken = "env:FAKE_GITHUB_TOKEN"\n'
        )
        monkeypatch.setenv("FAKE_GITHUB_TOKEN", fake.token)
        with pytest.raises(SystemExit) as exited:
            main(["--since", "2w", "--format", "json", "--config", str(config)])
    data = json.loads(capsys.readouterr().out)
    assert exited.value.code == 0
    assert [e["id"] for e in data["evidence"]] == ["github:acme/api#7"]
    coverage = {c["source"]: c for c in data["coverage"]}
    assert coverage["gh"]["status"] == "ok"
    assert coverage["git"]["status"] == "skipped"
    reason = "is not a git repository" if where == "outside any repository" else "no git identity to match"
    assert reason in coverage["git"]["detail"]
