"""Real data is the judge: the real flask and requests histories in ``../shared/data/repos``.

Projects must match the pull requests that the histories' merges record (B-cubed precision ≥ 0.8,
recall ≥ 0.95 on the issue's two windows), and on real windows every offline statement must verify, no
title may come from a part holding under half of its project, and no template verb may be glued to a
raw subject. The ground truth is bench/grouping.py's, independent of the connector: one ``git rev-list``
per merge (here only the merges of the years around the window), oldest first, merges of long-lived
branches left out.
"""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from impact_miner.model import Person, Report, SourceSection, TimeRange
from impact_miner.pipeline import RunSpec, build_report
from impact_miner.registry import available
from shared_data import ROOT, shared_data

pytestmark = pytest.mark.needs_shared_data

REMOTES = {"flask": "https://github.com/pallets/flask.git", "requests": "https://github.com/psf/requests.git"}
# The ground truth and the score are bench/grouping.py's, so the test and the benchmark measure alike.
_spec = importlib.util.spec_from_file_location("bench_grouping", ROOT / "bench" / "grouping.py")
assert _spec is not None and _spec.loader is not None
bench = sys.modules["bench_grouping"] = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(bench)


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


def report(repo: Path, email: str, since: str, until: str) -> Report:
    period = TimeRange(
        datetime.fromisoformat(since).replace(tzinfo=UTC),
        datetime.fromisoformat(until).replace(tzinfo=UTC),
        since,
    )
    section = SourceSection("git", "git", {"paths": [str(repo)]})
    return build_report(RunSpec(Person(emails=[email]), period, [(available()["git"], section)]))


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
    units = bench.pull_request_units(repo, None, (int(since[:4]) - 1, int(until[:4]) + 1))
    result = report(repo, email, since, until)
    commits = {e.id: str(e.extra["sha"]) for e in result.evidence if e.kind == "commit"}
    clusters = {i: p.id for p in result.projects for i in p.evidence_ids if i in commits}
    labels = {i: units.get(commits[i], i) for i in clusters}
    precision, recall = bench.bcubed(clusters, labels)
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
