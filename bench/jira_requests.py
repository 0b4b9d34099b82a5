"""Count the Jira connector's HTTP requests against the minimum, on the loopback fake Jira (Cloud and Server).

    python bench/jira_requests.py [--sizes 0,1,99,100,101,250,1000]

For N resolved tickets the minimum is ⌈N/100⌉ search pages (one page even for N = 0); the budget is
⌈N/100⌉ + 2: besides the pages, the site's field list (to find the Epic Link field when ``epic_field``
is not set; once per site, then cached), a user lookup when the person is given by email, and one
lookup of epic titles for epics known only by an Epic Link key. Each size is fetched once (a closed
range, so it is cached) and then again: the rerun column must be 0. Every size runs against a fresh
site with a fresh cache, so each first fetch includes the field list. The fake serves copies of recorded
issues (tests/fixtures/jira); the field lists are tests/fixtures/jira/epic_link_*_fields.json.
"""

from __future__ import annotations

import argparse
import json
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
from impact_miner.cache import Cache
from impact_miner.connectors import jira
from impact_miner.model import Person, SourceSection, TimeRange
from impact_miner.registry import FetchContext

FIXTURES = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "jira"
SINCE = datetime(2020, 6, 15, tzinfo=timezone(timedelta(hours=8)))
RANGE = TimeRange(SINCE, SINCE + timedelta(days=14), "2w")
AFTER = SINCE + timedelta(days=30)


def issues(n: int, site: str) -> list[Issue]:
    """``n`` copies of one recorded issue, assigned to the site's user and resolved across the range.

    ``+lookups`` and ``+epic-link`` sites put every ticket under an epic that only an Epic Link field
    names (configured in the first, found in the field list in the second)."""
    if site.startswith("server"):
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
    extra: dict[str, object] = {}
    if site == "server+epic-link":
        extra = {"customfield_10100": "DZFNK0168-7"}  # a recorded issue of the site stands in as the epic
    elif site.endswith(("+lookups", "+epic-link")):
        extra = {"customfield_10014": "K5-4", "parent": None}
    step = timedelta(days=13) / max(n, 1)
    made = [
        resolved(template, SINCE + step * i + timedelta(minutes=1), key=f"{prefix}-{1000 + i}", assignee=user,
                 offset_hours=offset, **extra)
        for i in range(n)
    ]  # fmt: skip
    epic = catalogue["DZFNK0168-7" if site.startswith("server") else "K5-4"]
    return [*made, epic] if extra else made


def measure(site: str, n: int, cache_dir: Path) -> tuple[int, int, int, float, int]:
    """(tickets found, tickets with an epic and its title, requests, seconds, requests on a rerun)."""
    server = site.startswith("server")
    factory = FakeJira.server if server else FakeJira.cloud
    with factory(issues(n, site)) as fake:
        if site.endswith("+epic-link"):
            name = "server" if server else "cloud"
            fake.site_fields = json.loads((FIXTURES / f"epic_link_{name}_fields.json").read_text("utf-8"))
        options: dict[str, object] = {"url": fake.url, "token": SERVER_PAT}
        person = Person()
        if not server:
            options.update(email=CLOUD_EMAIL, token=CLOUD_TOKEN)
        if site.endswith("+lookups"):
            options["epic_field"] = "customfield_10014"
            person = Person(logins={"jira": CLOUD_EMAIL})
        section = SourceSection(f"bench-{site}-{n}", "jira", options)
        cache = Cache(cache_dir / f"{site}-{n}.sqlite3")
        start = time.perf_counter()
        result = jira.fetch(person, RANGE, section, FetchContext(now=AFTER, cache=cache))
        seconds = time.perf_counter() - start
        made = len(fake.requests)
        fake.reset()
        jira.fetch(person, RANGE, section, FetchContext(now=AFTER, cache=cache))
        with_epic = sum(1 for e in result.evidence if e.extra["epic"] and e.extra["epic_title"])
        return len(result.evidence), with_epic, made, seconds, len(fake.requests)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="0,1,99,100,101,250,1000", help="comma-separated ticket counts")
    sizes = [int(s) for s in parser.parse_args().sizes.split(",")]
    header = (
        f"{'site':<16} {'tickets':>7} {'epics':>5} {'requests':>8} {'minimum':>7} {'budget':>6} "
        f"{'req/100 tickets':>15} {'rerun':>5} {'time':>8}"
    )
    print(header)
    print("-" * len(header))
    over = 0
    with tempfile.TemporaryDirectory() as tmp:
        for site in ("cloud", "server", "cloud+lookups", "server+epic-link", "cloud+epic-link"):
            for n in sizes:
                found, with_epic, made, seconds, rerun = measure(site, n, Path(tmp))
                minimum = max(1, math.ceil(n / 100))
                budget = math.ceil(n / 100) + 2
                per_100 = f"{made / n * 100:.2f}" if n else "-"
                over += made > budget or rerun != 0 or found != n or ("+" in site and with_epic != n)
                print(
                    f"{site:<16} {found:>7} {with_epic:>5} {made:>8} {minimum:>7} {budget:>6} {per_100:>15} "
                    f"{rerun:>5} {seconds * 1000:>6.0f}ms"
                )
    print("\nminimum = max(1, ⌈N/100⌉) search pages; budget = ⌈N/100⌉ + 2; rerun = a cached closed range.")
    print("every first fetch asks for the site's field list unless epic_field is set (cloud+lookups).")
    print("cloud+lookups: the person given by email (a user lookup) and epic_field set (an epic lookup).")
    print("+epic-link: no epic_field; the Epic Link field is found in the field list, then an epic lookup.")
    print("epics = tickets carrying their epic and its title (all of them on the + sites).")
    print(
        "all within budget, reruns free" if not over else f"{over} rows over budget, not cached or epic-less"
    )
    sys.exit(1 if over else 0)


if __name__ == "__main__":
    main()
