"""Requests the GitLab connector makes, against its budget ⌈N/100⌉ + ⌈R/100⌉ + 2 and against a naive
python-gitlab client, on a rerun, under faults, and through the real `mine` CLI.

    python bench/gitlab_requests.py [--sizes 100 250 1000] [--approvals 0.16] [--no-naive] [--no-cli]

Everything runs against the loopback fake GitLab (tests/fake_gitlab.py: GitLab's GraphQL schema, its
complexity limit and its quirks) with N merged merge requests by the person spread over two closed
months, plus R = N × ``--approvals`` merge requests by someone else that the person was asked to review
and approved. No username is configured, so the token's own user is looked up (one request).

- connector: requests on the first run (GraphQL + REST), the budget, requests on a rerun with the same
  cache, the wall time of the first run, and the coverage status.
- naive: python-gitlab's REST client as one would first write it: list the person's merged merge
  requests (``scope=all``, ``author_username``, ``updated_after``; the list ignores ``merged_after``) and
  their review-requested ones, then per merge request ``/changes`` (lines, files) and ``/approvals``
  (who approved). It also shows what the REST list's ``updated_after`` window misses: GitLab records
  ``updated_at`` up to a second before ``merged_at``, so a merge request merged at the very start of the
  range is left out.
- squashed: every merge request squashed, over 5 projects (username given, reviews off): GitLab 16.3's
  GraphQL API has no squash commit, so each project with squashed merge requests costs one REST list
  per 100 of them on top of the budget.
- faults: N = 250, R = 40 with a 429 (Retry-After: 1) then a 502 on the first GraphQL page.
- cli: the issue's "done when": ``mine --format json`` with ``[sources.gl] type = "gitlab"``,
  ``token = "env:GL_TOKEN"`` over 2026-09-01..2026-10-31 (plus merge requests merged just outside the
  range), then the same command again.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from fake_gitlab import (
    FakeGitLab,
    MergeRequest,
    Reviewer,
    bad_gateway,
    generate_approvals,
    generate_merge_requests,
    gitlab_schema,
    merge_request,
    rate_limited,
)
from impact_miner.cache import Cache
from impact_miner.connectors import gitlab as connector
from impact_miner.model import Person, SourceSection, TimeRange
from impact_miner.registry import FetchContext

ROOT = Path(__file__).resolve().parents[1]
SINCE = datetime(2026, 9, 1, tzinfo=UTC)
UNTIL = datetime(2026, 11, 1, tzinfo=UTC)
NOW = datetime(2026, 12, 1, tzinfo=UTC)


def data(size: int, approvals: int) -> list[MergeRequest]:
    return [
        *generate_merge_requests(size, author="ada", since=SINCE, until=UNTIL),
        *generate_approvals(approvals, reviewer="ada", author="bob", since=SINCE, until=UNTIL),
    ]


def budget(size: int, approvals: int) -> int:
    return math.ceil(size / 100) + math.ceil(approvals / 100) + 2


def measure(size: int, approvals: int, cache_dir: Path) -> tuple[int, int, int, float, str, int]:
    """(GraphQL requests, REST requests, rerun requests, seconds, status, items) of the connector."""
    cache = Cache(cache_dir / f"cache-{size}.sqlite3")
    with FakeGitLab(data(size, approvals)) as fake:
        section = SourceSection("gl", "gitlab", {"url": fake.url, "token": fake.token})
        context = FetchContext(now=NOW, cache=cache, sleep=lambda _seconds: None)
        start = time.perf_counter()
        result = connector.fetch(Person(), TimeRange(SINCE, UNTIL), section, context)
        seconds = time.perf_counter() - start
        graphql, rest = fake.graphql_requests, fake.rest_requests
        connector.fetch(Person(), TimeRange(SINCE, UNTIL), section, context)
        rerun = fake.requests - graphql - rest
    return graphql, rest, rerun, seconds, result.report.status, len(result.evidence)


def squashed(size: int) -> tuple[int, int]:
    """(GraphQL, REST) requests when every merge request was squashed, over the generator's 5 projects:
    GitLab 16.3's GraphQL API has no squash commit, so one REST list per project gives them."""
    merged = generate_merge_requests(size, author="ada", since=SINCE, until=UNTIL)
    for mr in merged:
        mr.squash_commit_sha = f"{mr.iid + 7 * 10**9:040x}"
    with FakeGitLab(merged) as fake:
        section = SourceSection("gl", "gitlab", {"url": fake.url, "token": fake.token, "reviews": False})
        result = connector.fetch(
            Person(logins={"gitlab": "ada"}), TimeRange(SINCE, UNTIL), section,
            FetchContext(now=NOW, sleep=lambda _seconds: None),
        )  # fmt: skip
        assert all(e.extra["squash_commit"] for e in result.evidence)
        return fake.graphql_requests, fake.rest_requests


def naive(size: int, approvals: int) -> tuple[int, int, int, float]:
    """(requests, merge requests found, approvals found, seconds) of a plain python-gitlab client."""
    import gitlab

    with FakeGitLab(data(size, approvals)) as fake:
        client = gitlab.Gitlab(fake.url, private_token=fake.token, per_page=100)
        start = time.perf_counter()
        window = {"scope": "all", "state": "merged", "updated_after": SINCE.isoformat(),
                  "merged_after": SINCE.isoformat(), "get_all": True}  # fmt: skip

        def merged_in_range(item: object) -> bool:
            merged = datetime.fromisoformat(str(getattr(item, "merged_at", "") or "1970-01-01T00:00:00Z"))
            return SINCE <= merged < UNTIL

        authored = [
            mr for mr in client.mergerequests.list(author_username="ada", **window) if merged_in_range(mr)
        ]
        for mr in authored:
            full = client.projects.get(mr.project_id, lazy=True).mergerequests.get(mr.iid, lazy=True)
            full.changes()
            full.approvals.get()
        requested = client.mergerequests.list(reviewer_username="ada", **window)
        approved = 0
        for mr in requested:
            if not merged_in_range(mr) or mr.author["username"] == "ada":
                continue
            full = client.projects.get(mr.project_id, lazy=True).mergerequests.get(mr.iid, lazy=True)
            who = [a["user"]["username"] for a in full.approvals.get().approved_by]
            approved += "ada" in who
        seconds = time.perf_counter() - start
        return fake.requests, len(authored), approved, seconds


def faults() -> tuple[int, int, list[float], str]:
    """(requests, items, waits, status) for 250 + 40 with a 429 then a 502 on the first GraphQL page."""
    with FakeGitLab(data(250, 40)) as fake:
        fake.script(rate_limited(retry_after=1), bad_gateway(502))
        waits: list[float] = []
        section = SourceSection("gl", "gitlab", {"url": fake.url, "token": fake.token})
        result = connector.fetch(
            Person(logins={"gitlab": "ada"}), TimeRange(SINCE, UNTIL), section,
            FetchContext(now=NOW, sleep=waits.append),
        )  # fmt: skip
        return fake.requests, len(result.evidence), waits, result.report.status


def cli(tmp: Path) -> tuple[int, int, int, int, bool]:
    """(exit code, first-run requests, rerun exit code, rerun requests, exactly-the-expected-items) of the
    real `mine` command, twice."""
    merged = generate_merge_requests(250, author="ada", since=SINCE, until=UNTIL)
    approved = generate_approvals(40, reviewer="ada", author="bob", since=SINCE, until=UNTIL)
    outside = [
        merge_request("acme/api", 7001, merged_at=SINCE - timedelta(seconds=1)),
        merge_request("acme/api", 7002, merged_at=UNTIL),
        merge_request("acme/api", 7003, merged_at=UNTIL + timedelta(hours=3)),
        merge_request("acme/api", 7004, author="bob", merged_at=UNTIL, approved_by=["ada"],
                      reviewers=[Reviewer("ada", "REVIEWED")]),
    ]  # fmt: skip
    expected = {f"gitlab:{m.project}!{m.iid}" for m in merged} | {
        f"gitlab-review:{m.project}!{m.iid}" for m in approved
    }
    mine = Path(sys.executable).parent / "mine"
    with FakeGitLab([*merged, *approved, *outside]) as fake:
        config = tmp / "config.toml"
        config.write_text(
            '[me]\nname = "Ada Lovelace"\nemails = ["ada@x.io"]\ntimezone = "UTC"\n'
            f'[sources.gl]\ntype = "gitlab"\nurl = "{fake.url}"\ntoken = "env:GL_TOKEN"\n'
        )
        env = {**os.environ, "GL_TOKEN": fake.token, "IMPACT_MINER_CACHE": str(tmp / "cli-cache.sqlite3"),
               "LITELLM_LOCAL_MODEL_COST_MAP": "True"}  # fmt: skip
        command = [str(mine), "--since", "2026-09-01", "--until", "2026-10-31", "--format", "json",
                   "--config", str(config)]  # fmt: skip
        first = subprocess.run(command, capture_output=True, text=True, env=env, cwd=ROOT, check=False)
        used = fake.requests
        again = subprocess.run(command, capture_output=True, text=True, env=env, cwd=ROOT, check=False)
        rerun = fake.requests - used
    found = {e["id"] for e in json.loads(first.stdout)["evidence"] if e["source"] == "gitlab"}
    return first.returncode, used, again.returncode, rerun, found == expected


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", type=int, nargs="+", default=[100, 250, 1000])
    parser.add_argument(
        "--approvals", type=float, default=0.16, help="approvals per merged MR (default 0.16)"
    )
    parser.add_argument("--no-naive", action="store_true", help="skip the naive python-gitlab client")
    parser.add_argument("--no-cli", action="store_true", help="skip the `mine` command")
    args = parser.parse_args()
    gitlab_schema()  # build the schema once, outside the timings
    print("connector (token's user looked up; GraphQL + REST requests)")
    header = ("merged", "approvals", "graphql", "rest", "budget", "rerun", "seconds")
    print(" ".join(f"{h:>9}" for h in header) + "  status")
    with tempfile.TemporaryDirectory() as tmp:
        for size in args.sizes:
            approvals = round(size * args.approvals)
            graphql, rest, rerun, seconds, status, items = measure(size, approvals, Path(tmp))
            assert items == size + approvals, f"{items} items for {size} MRs and {approvals} approvals"
            print(f"{size:>9} {approvals:>9} {graphql:>9} {rest:>9} {budget(size, approvals):>9} {rerun:>9} "
                  f"{seconds:>9.2f}  {status}")  # fmt: skip
        for size in args.sizes:
            graphql, rest = squashed(size)
            print(f"{size:>9} {0:>9} {graphql:>9} {rest:>9} {budget(size, 0):>9} {'':>9} {'':>9}  "
                  "every MR squashed (username given, reviews off)")  # fmt: skip
        if not args.no_naive:
            print("\nnaive python-gitlab (REST list, then /changes and /approvals per merge request)")
            print(
                " ".join(
                    f"{h:>9}" for h in ("merged", "approvals", "requests", "found", "approved", "seconds")
                )
            )
            for size in args.sizes:
                approvals = round(size * args.approvals)
                requests, found, approved, seconds = naive(size, approvals)
                print(f"{size:>9} {approvals:>9} {requests:>9} {found:>9} {approved:>9} {seconds:>9.2f}")
        requests, items, waits, status = faults()
        print(f"\nfaults: 429 then 502 on the first page, 250 + 40: {requests} requests, {items} items, "
              f"waits {waits}, {status}")  # fmt: skip
        if not args.no_cli:
            code, used, code_again, rerun, exact = cli(Path(tmp))
            print(f"cli: mine --format json, 250 + 40 over 2026-09-01..2026-10-31: exit {code}, "
                  f"{used} requests "
                  f"(budget {budget(250, 40)}), exactly those items: {exact}; rerun: exit {code_again}, "
                  f"{rerun} requests")  # fmt: skip


if __name__ == "__main__":
    main()
