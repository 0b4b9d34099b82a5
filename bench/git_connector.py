"""Time the git connector against ``git log --numstat --author=EMAIL`` of the same commits, paired runs.

    python bench/git_connector.py [REPO] [--author EMAIL] [--days N | --whole] [--runs 7] [--commits 10000]

Without REPO a ``--commits`` repository is built with bench/make_repo.py in a temporary directory. Each
run times, back to back: (a) ``git log --numstat --author=EMAIL`` over the same range (the reference a
user would type; it matches the raw author email only), and (b) the connector's ``fetch`` for that
person: the first-parent walk, one pass over every commit that can have landed (no diffs), and
``--numstat`` of just the person's commits (``git log --no-walk --stdin``), plus ``git check-mailmap``
and the tags. Prints both medians, the median of the paired ratios (target ≤ 1.25 for whole histories)
and what each found. ``--whole`` mines the repository's entire history.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from impact_miner.connectors import git as connector
from impact_miner.model import Person, SourceSection, TimeRange
from make_repo import build


def reference(repo: Path, author: str, time_range: TimeRange | None) -> bytes:
    """``git log --numstat --author=EMAIL`` as a person would type it, over the same range."""
    args = ["git", "log", "--numstat", f"--author={author}", "HEAD"]
    if time_range is not None:
        args[3:3] = [f"--since={time_range.since.isoformat()}", f"--until={time_range.until.isoformat()}"]
    return subprocess.run(args, cwd=repo, capture_output=True, check=True).stdout


def measure(repo: Path, author: str, days: int | None, runs: int) -> None:
    git_range: TimeRange | None = None
    if days is None:
        time_range = TimeRange(datetime(1970, 1, 2, tzinfo=UTC), datetime(2100, 1, 1, tzinfo=UTC), "whole")
    else:
        newest = subprocess.run(
            ["git", "log", "-1", "--format=%ct"], cwd=repo, capture_output=True, text=True, check=True
        )
        until = datetime.fromtimestamp(int(newest.stdout) + 1, UTC)
        time_range = git_range = TimeRange(until - timedelta(days=days), until, f"{days}d")
    section = SourceSection(name="git", type="git", options={"paths": [str(repo)]})
    person = Person(emails=[author])

    output, result = reference(repo, author, git_range), connector.fetch(person, time_range, section)  # warm
    ref_times: list[float] = []
    fetch_times: list[float] = []
    for _ in range(runs):
        start = time.perf_counter()
        output = reference(repo, author, git_range)
        ref_times.append(time.perf_counter() - start)
        start = time.perf_counter()
        result = connector.fetch(person, time_range, section)
        fetch_times.append(time.perf_counter() - start)

    ratios = [f / r for f, r in zip(fetch_times, ref_times, strict=True)]
    total = subprocess.run(["git", "rev-list", "--count", "HEAD"], cwd=repo, capture_output=True, text=True)
    print(f"repository: {repo} ({total.stdout.strip()} commits reachable from HEAD)")
    print(f"range: {time_range.spec}: {time_range.since:%Y-%m-%d} .. {time_range.until:%Y-%m-%d}")
    found = output.count(b"\ncommit ") + output.startswith(b"commit ")
    print(f"git log --numstat --author: {found} commits")
    print(f"connector: {result.report.detail}")
    print(f"evidence for {author}: {len(result.evidence)}")
    reference_ms, fetch_ms = statistics.median(ref_times) * 1000, statistics.median(fetch_times) * 1000
    print(
        f"median of {runs} paired runs: git log --numstat --author {reference_ms:.0f} ms,"
        f" connector fetch {fetch_ms:.0f} ms"
    )
    print(f"median ratio connector / git log: {statistics.median(ratios):.2f} (target <= 1.25)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("repo", nargs="?", type=Path)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--author", default="ada@acme.io")
    parser.add_argument("--days", type=int, default=None, help="the last N days (default: the whole history)")
    parser.add_argument("--commits", type=int, default=10_000)
    args = parser.parse_args(argv)
    if args.repo:
        measure(args.repo, args.author, args.days, args.runs)
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        repo = build(Path(tmp) / "bench", args.commits)
        print(f"built {args.commits} commits with git fast-import in {time.perf_counter() - start:.1f} s")
        measure(repo, args.author, args.days, args.runs)
    return 0


if __name__ == "__main__":
    sys.exit(main())
