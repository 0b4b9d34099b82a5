"""Real data is the judge: the real flask and requests histories in ``../shared/data/repos``.

Projects must match the pull requests that the histories' merges record (B-cubed precision ≥ 0.8,
recall ≥ 0.95 on the issue's two windows), and on real windows every offline statement must verify, no
title may come from a part holding under half of its project, and no template verb may be glued to a
raw subject. The ground truth here is computed independently of the connector: one ``git rev-list``
per merge near the window, oldest first, merges of long-lived branches left out (as bench/grouping.py
does for the whole history).
"""

from __future__ import annotations

import re
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import pytest

from impact_miner.model import Person, Report, SourceSection, TimeRange
from impact_miner.pipeline import RunSpec, build_report
from impact_miner.registry import available
from shared_data import shared_data

pytestmark = pytest.mark.needs_shared_data

LONG_LIVED = re.compile(
    r"(?:remotes/)?(?:origin/|upstream/|[\w-]+:)?(?:main|master|develop|dev|stable|trunk|\d+(?:\.\d+)*(?:\.x)?"
    r"|\d+(?:\.\d+)*-maintenance|proposed/.*|release.*)"
)
BRANCH = re.compile(r"^Merge (?:remote-tracking )?branch '([^']+)'")
PULL = re.compile(r"^Merge pull request #\d+ from ([^/\s]+)/(\S+)")
OWNERS = {"flask": {"pallets", "mitsuhiko"}, "requests": {"psf", "requests", "kennethreitz"}}
REMOTES = {"flask": "https://github.com/pallets/flask.git", "requests": "https://github.com/psf/requests.git"}


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True, check=True).stdout


@pytest.fixture(scope="module")
def histories(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    found = {}
    for name, remote in REMOTES.items():
        bundle = shared_data() / "repos" / f"{name}.bundle"
        if not bundle.is_file():
            pytest.skip(f"needs {bundle}")
        target = tmp_path_factory.mktemp("repos") / name
        subprocess.run(["git", "clone", "-q", str(bundle), str(target)], check=True)
        git(target, "remote", "set-url", "origin", remote)
        found[name] = target
    return found


def pull_request_units(repo: Path, since: str, until: str) -> dict[str, str]:
    """sha → the merge that brought it in, for merges from a year before to a year after the window."""
    claimed: dict[str, str] = {}
    window = [f"--since={int(since[:4]) - 1}-01-01", f"--until={int(until[:4]) + 1}-12-31"]
    merges = git(repo, "log", "--merges", "--date-order", "--reverse", *window, "--format=%H %P%x1f%s")
    for line in merges.splitlines():
        heads, _, subject = line.partition("\x1f")
        merge, first, *sides = heads.split()
        branch, pull = BRANCH.match(subject), PULL.match(subject)
        if branch and LONG_LIVED.fullmatch(branch.group(1)):
            continue
        if pull and pull.group(1).lower() in OWNERS[repo.name] and LONG_LIVED.fullmatch(pull.group(2)):
            continue
        for sha in git(repo, "rev-list", "--no-merges", *sides, f"^{first}").split():
            claimed.setdefault(sha, merge)
    return claimed


def report(repo: Path, email: str, since: str, until: str) -> Report:
    period = TimeRange(
        datetime.fromisoformat(since).replace(tzinfo=UTC),
        datetime.fromisoformat(until).replace(tzinfo=UTC),
        since,
    )
    section = SourceSection("git", "git", {"paths": [str(repo)]})
    return build_report(RunSpec(Person(emails=[email]), period, [(available()["git"], section)]))


def bcubed(clusters: dict[str, str], labels: dict[str, str]) -> tuple[float, float]:
    members: dict[str, set[str]] = {}
    truth: dict[str, set[str]] = {}
    for item, cluster in clusters.items():
        members.setdefault(cluster, set()).add(item)
        truth.setdefault(labels[item], set()).add(item)
    precision = sum(len(members[c] & truth[labels[i]]) / len(members[c]) for i, c in clusters.items())
    recall = sum(len(members[c] & truth[labels[i]]) / len(truth[labels[i]]) for i, c in clusters.items())
    return precision / len(clusters), recall / len(clusters)


@pytest.mark.parametrize(
    ("name", "email", "since", "until"),
    [
        ("flask", "davidism@gmail.com", "2022-01-01", "2022-07-01"),
        ("requests", "lukasaoz@gmail.com", "2015-07-01", "2016-01-01"),
    ],
)
def test_projects_match_the_pull_requests_the_merges_record(
    histories: dict[str, Path], name: str, email: str, since: str, until: str
) -> None:
    repo = histories[name]
    units = pull_request_units(repo, since, until)
    result = report(repo, email, since, until)
    commits = {e.id: str(e.extra["sha"]) for e in result.evidence if e.kind == "commit"}
    clusters = {i: p.id for p in result.projects for i in p.evidence_ids if i in commits}
    labels = {i: units.get(commits[i], i) for i in clusters}
    precision, recall = bcubed(clusters, labels)
    assert len(clusters) > 40
    assert precision >= 0.8 and recall >= 0.95, (precision, recall)


@pytest.mark.parametrize(
    ("name", "email", "since", "until"),
    [
        ("flask", "davidism@gmail.com", "2022-05-01", "2022-05-15"),
        ("flask", "davidism@gmail.com", "2018-04-01", "2018-05-01"),
        ("flask", "armin.ronacher@active-4.com", "2010-01-01", "2011-01-01"),
        ("requests", "lukasaoz@gmail.com", "2015-10-01", "2015-10-15"),
        ("requests", "me@kennethreitz.com", "2011-01-01", "2013-01-01"),
    ],
)
def test_every_statement_on_real_windows_is_true_of_its_whole_project(
    histories: dict[str, Path], name: str, email: str, since: str, until: str
) -> None:
    result = report(histories[name], email, since, until)
    for project in result.projects:
        assert project.verified, (project.title, project.problems)
        assert not re.search(r"\bDelivered |\bAdded and use ", project.statement), project.statement
    commits = {e.id for e in result.evidence if e.kind == "commit"}
    sizes = [sum(1 for i in p.evidence_ids if i in commits) for p in result.projects if not p.maintenance]
    if sum(sizes) >= 50:  # no project swallows a long history: at most a tenth of the person's work
        assert max(sizes) <= 0.1 * sum(sizes), (max(sizes), sum(sizes))
