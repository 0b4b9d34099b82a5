"""Time the git connector against the bare ``git log --numstat`` it runs, side by side in one process.

    python bench/git_connector.py [REPO] [--runs 7] [--author ada@acme.io] [--days 365] [--commits 10000]

Without REPO a ``--commits`` repository is built with bench/make_repo.py in a temporary directory. The
range is the last ``--days`` before the newest commit. (a) runs ``git log`` with exactly the connector's
arguments as a subprocess and reads all its output; (b) runs the connector's ``fetch`` for one author
(its ``git check-mailmap`` included); (c) plain ``git log --numstat`` with git's default format, for
reference. Prints median wall times and the ratios; target (b)/(a) ≤ 1.2.
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


def _raw(repo: Path, time_range: TimeRange) -> bytes:
    args = ["git", "log", *connector.log_args(time_range, ["HEAD"])]
    return subprocess.run(args, cwd=repo, capture_output=True, check=True).stdout


def _plain(repo: Path, time_range: TimeRange) -> bytes:
    """``git log --numstat`` as a person would type it: default format, same range."""
    args = ["git", "log", "--numstat", f"--since=@{int(time_range.since.timestamp())}",
            f"--until=@{int(time_range.until.timestamp())}", "HEAD"]  # fmt: skip
    return subprocess.run(args, cwd=repo, capture_output=True, check=True).stdout


def measure(repo: Path, author: str, days: int, runs: int) -> None:
    newest = subprocess.run(
        ["git", "log", "-1", "--format=%ct"], cwd=repo, capture_output=True, text=True, check=True
    )
    until = datetime.fromtimestamp(int(newest.stdout) + 1, UTC)
    time_range = TimeRange(until - timedelta(days=days), until, f"{days}d")
    section = SourceSection(name="git", type="git", options={"paths": [str(repo)]})
    person = Person(emails=[author])

    raw_times: list[float] = []
    plain_times: list[float] = []
    fetch_times: list[float] = []
    output, result = _raw(repo, time_range), connector.fetch(person, time_range, section)  # warm-up
    for _ in range(runs):
        start = time.perf_counter()
        _plain(repo, time_range)
        plain_times.append(time.perf_counter() - start)
        start = time.perf_counter()
        output = _raw(repo, time_range)
        raw_times.append(time.perf_counter() - start)
        start = time.perf_counter()
        result = connector.fetch(person, time_range, section)
        fetch_times.append(time.perf_counter() - start)

    raw, fetched = statistics.median(raw_times), statistics.median(fetch_times)
    print(f"repository: {repo}")
    print(f"range: {time_range.since:%Y-%m-%d %H:%M:%S} .. {time_range.until:%Y-%m-%d %H:%M:%S} UTC")
    printed = output.count(b"\x00")
    print(f"commits printed by git log (range widened by a week each side): {printed}")
    print(f"connector: {result.report.detail}")
    print(f"evidence for {author}: {len(result.evidence)}")
    print(f"median of {runs} runs: raw git log {raw * 1000:.1f} ms, connector fetch {fetched * 1000:.1f} ms")
    print(f"ratio connector/raw: {fetched / raw:.2f} (target <= 1.2)")
    plain = statistics.median(plain_times)
    print(f"plain `git log --numstat` (default format) {plain * 1000:.1f} ms")
    print(f"ratio connector/plain: {fetched / plain:.2f}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("repo", nargs="?", type=Path)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--author", default="ada@acme.io")
    parser.add_argument("--days", type=int, default=365)
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
