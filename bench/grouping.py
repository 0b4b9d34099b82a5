"""How well projects match the units of work a real history records (B-cubed), side by side.

    python bench/grouping.py [--data ../shared/data/repos] [--work bench/.work] [--case NAME]...

For each case (a real history, a person, a window) the person's commits that landed in the window are
fetched with the git connector, then grouped four ways and scored against the pull-request units that
the history's merges record (the ground truth, computed here independently of the connector with one
``git rev-list M^1..M^2`` per merge, oldest first; a merge of a long-lived branch is not a unit):

- **now**: ``impact_miner.grouping.group_projects`` (what ``mine`` reports);
- **folders**: the grouping of before (shared keys, else repository + top-level folder), loaded from
  git history at ``FOLDER_GROUPING_COMMIT``;
- **alone**: every commit its own project; **one**: all commits in one project.

Printed per case and grouping: B-cubed precision and recall over the person's commits, F1, the biggest
project's share of the person's non-maintenance commits, and projects per fortnight. The histories come
from ``../shared/data/repos/*.bundle`` (cloned once into ``--work``).
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import types
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from impact_miner.connectors import git as gitconn
from impact_miner.grouping import group_projects
from impact_miner.model import Evidence, Person, Project, SourceSection, TimeRange

ROOT = Path(__file__).resolve().parent.parent
FOLDER_GROUPING_COMMIT = "ad24bf7"  # the last commit with the folder grouping
LONG_LIVED = re.compile(
    r"(?:remotes/)?(?:origin/|upstream/|[\w-]+:)?(?:main|master|develop|dev|stable|trunk|\d+(?:\.\d+)*(?:\.x)?"
    r"|\d+(?:\.\d+)*-maintenance|proposed/.*|release.*)"
)
BRANCH = re.compile(r"^Merge (?:remote-tracking )?branch '([^']+)'")
PULL = re.compile(r"^Merge pull request #\d+ from ([^/\s]+)/(\S+)")
# A pull request is a unit unless its head is the repository's own default or maintenance line; one from
# a release-preparation branch (release-2.0.0) is merged once and is a unit.
PULL_LONG_LIVED = re.compile(
    r"main|master|develop|dev|stable|trunk|\d+(?:\.\d+)*(?:\.x)?|\d+(?:\.\d+)*-maintenance"
)


@dataclass(frozen=True)
class Case:
    name: str
    bundle: str
    remote: str
    email: str
    since: str
    until: str


# Owners the repositories had (renames): a pull request from one of their long-lived branches is a
# merge of a long-lived branch; from anyone else's (a fork's ``master``) it is a contribution.
OWNERS = {"flask": ("pallets", "mitsuhiko"), "requests": ("psf", "requests", "kennethreitz")}


CASES = (
    Case("flask davidism 2022-H1", "flask", "https://github.com/pallets/flask.git", "davidism@gmail.com",
         "2022-01-01", "2022-07-01"),
    Case("flask davidism 2022-05 (2w)", "flask", "https://github.com/pallets/flask.git", "davidism@gmail.com",
         "2022-05-01", "2022-05-15"),
    Case("flask davidism 2018-04", "flask", "https://github.com/pallets/flask.git", "davidism@gmail.com",
         "2018-04-01", "2018-05-01"),
    Case("flask davidism 2021-05", "flask", "https://github.com/pallets/flask.git", "davidism@gmail.com",
         "2021-05-01", "2021-06-01"),
    Case("flask armin 2010", "flask", "https://github.com/pallets/flask.git", "armin.ronacher@active-4.com",
         "2010-01-01", "2011-01-01"),
    Case("requests lukasa 2015-H2", "requests", "https://github.com/psf/requests.git", "lukasaoz@gmail.com",
         "2015-07-01", "2016-01-01"),
    Case("requests lukasa 2015-10", "requests", "https://github.com/psf/requests.git", "lukasaoz@gmail.com",
         "2015-10-01", "2015-11-01"),
    Case("requests lukasa 2017-05", "requests", "https://github.com/psf/requests.git", "lukasaoz@gmail.com",
         "2017-05-01", "2017-06-01"),
    Case("requests kennethreitz 2011-12", "requests", "https://github.com/psf/requests.git",
         "me@kennethreitz.com", "2011-01-01", "2013-01-01"),
    Case("requests nate 2018-19", "requests", "https://github.com/psf/requests.git", "nate.prewitt@gmail.com",
         "2018-01-01", "2020-01-01"),
)  # fmt: skip


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True, check=True).stdout


def clone(data: Path, work: Path, case: Case) -> Path:
    target = work / case.bundle
    if not target.exists():
        subprocess.run(["git", "clone", "-q", str(data / f"{case.bundle}.bundle"), str(target)], check=True)
        git(target, "remote", "set-url", "origin", case.remote)
    return target


def pull_request_units(repo: Path, work: Path | None, years: tuple[int, int] | None = None) -> dict[str, str]:
    """sha → the merge that brought it in, for every non-merge commit a unit merge claimed (cached in
    ``work``). ``years`` limits the merges read to those years (a quicker answer for one window)."""
    head = git(repo, "rev-parse", "HEAD").strip()
    cache = work / f"units5-{repo.name}-{head[:12]}.json" if work is not None and years is None else None
    if cache is not None and cache.exists():
        loaded: dict[str, str] = json.loads(cache.read_text())
        return loaded
    owners = {o.lower() for o in OWNERS.get(repo.name, ())}
    owners.add(
        git(repo, "remote", "get-url", "origin").strip().rstrip("/").removesuffix(".git").split("/")[-2]
    )
    claimed: dict[str, str] = {}
    window = [f"--since={years[0]}-01-01", f"--until={years[1]}-12-31"] if years else []
    merges = git(repo, "log", "--merges", "--date-order", "--reverse", *window, "--format=%H %P%x1f%s")
    merges = merges.splitlines()
    for line in merges:
        head_part, _, subject = line.partition("\x1f")
        merge, first, *sides = head_part.split()
        branch = BRANCH.match(subject)
        pull = PULL.match(subject)
        if branch and LONG_LIVED.fullmatch(branch.group(1)):
            continue
        if pull and pull.group(1).lower() in owners and PULL_LONG_LIVED.fullmatch(pull.group(2)):
            continue
        brought = git(repo, "rev-list", "--no-merges", *sides, f"^{first}").split()
        for sha in brought:
            claimed.setdefault(sha, merge)
    if cache is not None:
        cache.write_text(json.dumps(claimed))
    return claimed


def fetch(repo: Path, case: Case) -> list[Evidence]:
    since = datetime.fromisoformat(case.since).replace(tzinfo=UTC)
    until = datetime.fromisoformat(case.until).replace(tzinfo=UTC)
    section = SourceSection("git", "git", {"paths": [str(repo)]})
    result = gitconn.fetch(Person(emails=[case.email]), TimeRange(since, until, case.since), section)
    return result.evidence


def folder_grouping(work: Path) -> Callable[[Sequence[Evidence]], list[Project]]:
    """``group_projects`` as it was before units of work, from git history."""
    source = git(ROOT, "show", f"{FOLDER_GROUPING_COMMIT}:src/impact_miner/grouping.py")
    module = types.ModuleType("folder_grouping")
    exec(compile(source, "folder_grouping.py", "exec"), module.__dict__)
    grouping: Callable[[Sequence[Evidence]], list[Project]] = module.group_projects
    return grouping


def bcubed(clusters: dict[str, str], labels: dict[str, str]) -> tuple[float, float]:
    """B-cubed precision and recall of ``clusters`` against ``labels`` (both item → group)."""
    members: dict[str, set[str]] = {}
    truth: dict[str, set[str]] = {}
    for item, cluster in clusters.items():
        members.setdefault(cluster, set()).add(item)
        truth.setdefault(labels[item], set()).add(item)
    precision = recall = 0.0
    for item, cluster in clusters.items():
        same = len(members[cluster] & truth[labels[item]])
        precision += same / len(members[cluster])
        recall += same / len(truth[labels[item]])
    n = len(clusters) or 1
    return precision / n, recall / n


def score(
    projects: list[Project], commits: list[Evidence], units: dict[str, str], days: float
) -> dict[str, float]:
    ids = {e.id: e for e in commits}
    clusters = {i: p.id for p in projects for i in p.evidence_ids if i in ids}
    labels = {i: units.get(str(ids[i].extra["sha"]), i) for i in clusters}
    precision, recall = bcubed(clusters, labels)
    work = [p for p in projects if not p.maintenance]
    total = sum(1 for p in work for i in p.evidence_ids if i in ids) or 1
    biggest = max((sum(1 for i in p.evidence_ids if i in ids) for p in work), default=0)
    return {
        "P": precision,
        "R": recall,
        "F1": 2 * precision * recall / (precision + recall) if precision + recall else 0.0,
        "biggest": biggest / total,
        "per2w": len([p for p in projects if any(i in ids for i in p.evidence_ids)]) / max(days / 14, 1),
    }


def alone(items: Sequence[Evidence]) -> list[Project]:
    return [Project(e.id, e.title, [e.id]) for e in items]


def one(items: Sequence[Evidence]) -> list[Project]:
    return [Project("all", "all", [e.id for e in items])] if items else []


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data" / "repos")
    parser.add_argument("--work", type=Path, default=ROOT / "bench" / ".work")
    parser.add_argument("--case", action="append", help="only cases whose name contains this")
    args = parser.parse_args(argv)
    if not args.data.is_dir():
        print(f"no histories at {args.data}; pass --data DIR with flask.bundle and requests.bundle")
        return 2
    args.work.mkdir(parents=True, exist_ok=True)
    groupings: dict[str, Callable[[Sequence[Evidence]], list[Project]]] = {
        "now": group_projects,
        "folders": folder_grouping(args.work),
        "alone": alone,
        "one": one,
    }
    header = f"{'case':32} {'commits':>7} " + " ".join(f"{name:>24}" for name in groupings)
    print(header)
    print(f"{'':32} {'':>7} " + " ".join(f"{'P / R / F1 / big / n2w':>24}" for _ in groupings))
    for case in CASES:
        if args.case and not any(part in case.name for part in args.case):
            continue
        repo = clone(args.data, args.work, case)
        units = pull_request_units(repo, args.work)
        evidence = fetch(repo, case)
        commits = [e for e in evidence if e.kind == "commit"]
        days = (datetime.fromisoformat(case.until) - datetime.fromisoformat(case.since)).days
        cells = []
        for name, grouping in groupings.items():
            items = evidence if name in ("now", "folders") else commits
            s = score(grouping(items), commits, units, days)
            cells.append(
                f"{s['P']:.2f} / {s['R']:.2f} / {s['F1']:.2f} / {s['biggest']:.2f} / {s['per2w']:4.1f}"
            )
        print(f"{case.name:32} {len(commits):>7} " + " ".join(f"{c:>24}" for c in cells))
        sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
