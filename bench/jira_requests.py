"""Count the Jira connector's HTTP requests against the minimum, on the loopback fake Jira (Cloud and Server).

    python bench/jira_requests.py [--sizes 0,1,99,100,101,250,1000]

For N resolved tickets the minimum is ⌈N/100⌉ search pages (one page even for N = 0); the budget is
⌈N/100⌉ + 2 (one user lookup when the person is given by email, one lookup of epic titles for an
"Epic Link" custom field). Each size is fetched once (a closed range, so it is cached) and then again:
the rerun column must be 0. The fake serves copies of recorded issues (tests/fixtures/jira).
"""

from __future__ import annotations

import argparse
import math
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from fake_jira import (  # the fake lives with the tests
    CLOUD_EMAIL,
    CLOUD_TOKEN,
    SERVER_PAT,
    FakeJira,
    Issue,
    by_key,
    cloud_catalogue,
    cloud_user,
    resolved,
    server_catalogue,
    server_user,
)
from impact_miner.connectors import jira
from impact_miner.model import Person, SourceSection, TimeRange
from impact_miner.registry import FetchContext
from impact_miner.store import Cache

SINCE = datetime(2020, 6, 15, tzinfo=timezone(timedelta(hours=8)))
RANGE = TimeRange(SINCE, SINCE + timedelta(days=14), "2w")
AFTER = SINCE + timedelta(days=30)


def issues(n: int, site: str) -> list[Issue]:
    """``n`` copies of one recorded issue, assigned to the site's user and resolved across the range."""
    if site == "server":
        catalogue = by_key(server_catalogue())
        template, user, prefix, offset = (
            catalogue["DZFNK0168-3"],
            server_user(catalogue.values()),
            "DZFNK0168",
            0,
        )
    else:
        catalogue = by_key(cloud_catalogue())
        template, user, prefix, offset = catalogue["EE-2"], cloud_user(catalogue.values()), "EE", 8
    extra = {"customfield_10014": "K5-4"} if site.endswith("+lookups") else {}
    step = timedelta(days=13) / max(n, 1)
    made = [
        resolved(template, SINCE + step * i + timedelta(minutes=1), key=f"{prefix}-{1000 + i}", assignee=user,
                 offset_hours=offset, **extra)
        for i in range(n)
    ]  # fmt: skip
    return [*made, catalogue["K5-4"]] if extra else made


def measure(site: str, n: int, cache_dir: Path) -> tuple[int, int, float, int]:
    """(tickets found, requests, seconds, requests on a rerun) for one site kind and size."""
    factory = FakeJira.server if site == "server" else FakeJira.cloud
    with factory(issues(n, site)) as fake:
        options: dict[str, object] = {"url": fake.url, "token": SERVER_PAT}
        person = Person()
        if site != "server":
            options.update(email=CLOUD_EMAIL, token=CLOUD_TOKEN)
        if site.endswith("+lookups"):
            options["epic_field"] = "customfield_10014"
            person = Person(logins={"jira": CLOUD_EMAIL})
        section = SourceSection(f"bench-{site}-{n}", "jira", options)
        cache = Cache(cache_dir / "cache.sqlite3")
        start = time.perf_counter()
        result = jira.fetch(person, RANGE, section, FetchContext(now=AFTER, cache=cache))
        seconds = time.perf_counter() - start
        made = len(fake.requests)
        fake.reset()
        jira.fetch(person, RANGE, section, FetchContext(now=AFTER, cache=cache))
        return len(result.evidence), made, seconds, len(fake.requests)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="0,1,99,100,101,250,1000", help="comma-separated ticket counts")
    sizes = [int(s) for s in parser.parse_args().sizes.split(",")]
    header = (
        f"{'site':<15} {'tickets':>7} {'requests':>8} {'minimum':>7} {'budget':>6} "
        f"{'req/100 tickets':>15} {'rerun':>5} {'time':>8}"
    )
    print(header)
    print("-" * len(header))
    over = 0
    with tempfile.TemporaryDirectory() as tmp:
        for site in ("cloud", "server", "cloud+lookups"):
            for n in sizes:
                found, made, seconds, rerun = measure(site, n, Path(tmp))
                minimum = max(1, math.ceil(n / 100))
                budget = math.ceil(n / 100) + 2
                per_100 = f"{made / n * 100:.2f}" if n else "-"
                over += made > budget or rerun != 0 or found != n
                print(
                    f"{site:<15} {found:>7} {made:>8} {minimum:>7} {budget:>6} {per_100:>15} {rerun:>5} "
                    f"{seconds * 1000:>6.0f}ms"
                )
    print("\nminimum = max(1, ⌈N/100⌉) search pages; budget = ⌈N/100⌉ + 2; rerun = a cached closed range.")
    print("cloud+lookups: the person given by email (a user lookup) and an Epic Link field (an epic lookup).")
    print("all within budget, reruns free" if not over else f"{over} rows over budget or not cached")
    sys.exit(1 if over else 0)


if __name__ == "__main__":
    main()
