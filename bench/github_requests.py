"""Requests the GitHub connector makes, side by side with the reference ⌈N/100⌉ + 1, and on a rerun.

    python bench/github_requests.py [--sizes 100 250 1000 2500] [--reviews 0.2]

Each size N runs the connector against the loopback fake GitHub (tests/fake_github.py, which validates
every query against GitHub's schema and enforces the 1,000-result search cap) with N merged pull
requests spread over one closed fortnight, plus N × ``--reviews`` other people's pull requests the person
reviewed. The login is looked up from the token (the "+ 1"). Then the same range is fetched again
with the same cache. Prints, per N: requests on the first run, the reference ⌈N/100⌉ + 1 (one search
page of 100 per request, plus the login), requests on the rerun, and the wall time of the first run.
"""

from __future__ import annotations

import argparse
import math
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from fake_github import FakeGitHub, Review, generate_pulls, github_schema, pull
from impact_miner.cache import Cache
from impact_miner.connectors import github as connector
from impact_miner.model import Person, SourceSection, TimeRange
from impact_miner.registry import FetchContext

SINCE = datetime(2026, 11, 1, tzinfo=UTC)
UNTIL = datetime(2026, 11, 15, tzinfo=UTC)
NOW = datetime(2026, 12, 1, tzinfo=UTC)


def measure(size: int, review_share: float, cache_dir: Path) -> tuple[int, int, int, int, float, str]:
    """(items, reviews, first-run requests, rerun requests, first-run seconds, status) for ``size`` PRs."""
    pulls = generate_pulls(size, author="ada", since=SINCE, until=UNTIL)
    reviewed = int(size * review_share)
    span = (UNTIL - SINCE) / max(reviewed, 1)
    for i in range(reviewed):
        when = SINCE + span * i
        pulls.append(pull("acme/web", 100_000 + i, author="bob", merged_at=when + timedelta(hours=1),
                          reviews=[Review("ada", "APPROVED", when, i)]))  # fmt: skip
    cache = Cache(cache_dir / f"cache-{size}.sqlite3")
    with FakeGitHub(pulls) as github:
        section = SourceSection("gh", "github", {"url": github.url, "token": github.token})
        context = FetchContext(now=NOW, cache=cache, sleep=lambda _seconds: None)
        start = time.perf_counter()
        result = connector.fetch(Person(), TimeRange(SINCE, UNTIL), section, context)
        seconds = time.perf_counter() - start
        first = github.graphql_requests
        connector.fetch(Person(), TimeRange(SINCE, UNTIL), section, context)
        rerun = github.graphql_requests - first
    return len(result.evidence), reviewed, first, rerun, seconds, result.report.status


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", type=int, nargs="+", default=[100, 250, 1000, 2500])
    parser.add_argument("--reviews", type=float, default=0.2, help="reviewed PRs per merged PR (default 0.2)")
    args = parser.parse_args()
    github_schema()  # build the schema once, outside the timings
    header = ("merged PRs", "reviewed", "requests", "⌈N/100⌉+1", "rerun", "seconds")
    print(" ".join(f"{h:>{w}}" for h, w in zip(header, (10, 9, 9, 10, 6, 8), strict=True)) + "  status")
    with tempfile.TemporaryDirectory() as tmp:
        for size in args.sizes:
            items, reviewed, first, rerun, seconds, status = measure(size, args.reviews, Path(tmp))
            assert items == size + reviewed, f"{items} items for {size} PRs and {reviewed} reviews"
            reference = math.ceil(size / 100) + 1
            print(f"{size:>10} {reviewed:>9} {first:>9} {reference:>10} {rerun:>6} {seconds:>8.2f}  {status}")


if __name__ == "__main__":
    main()
