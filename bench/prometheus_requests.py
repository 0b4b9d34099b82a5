"""Requests, points and accuracy of the prometheus connector against a real Prometheus, side by side.

    python bench/prometheus_requests.py [--projects 1 5 20] [--weeks 3]

Backfills a noisy p95-latency gauge (one sample a minute: a daily cycle, Gaussian noise, and a 30 %
drop half-way) into a temporary TSDB with ``promtool``, starts ``prometheus`` on a loopback port, and
compares, for N projects spread over a ``--weeks`` range with 7-day windows:

(a) the connector: one ``query_range`` per metric over the padded range, its step chosen for each
    ``--max-points`` (default 11,000, Prometheus's limit), before/after means computed from it for
    every project;
(b) the reference that fetches only what the windows need at full resolution (step 1m): two queries
    per project (its before and its after window), the minimum number of points for exact means.

Prints requests, points transferred and the largest difference of a before/after mean from (c).
"""

from __future__ import annotations

import argparse
import math
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path

import requests

from impact_miner.connectors import prometheus
from impact_miner.metrics import Judging, compare_windows
from impact_miner.model import Person, SourceSection, TimeRange
from impact_miner.registry import FetchContext

SINCE = datetime(2024, 3, 4, tzinfo=UTC)
WINDOW = timedelta(days=7)
QUERY = "search_p95_seconds"


def backfill(path: Path, start: datetime, end: datetime, switch: datetime) -> None:
    rng = random.Random(42)
    lines = ["# TYPE search_p95_seconds gauge"]
    moment = start
    while moment < end:
        base = 0.320 if moment < switch else 0.224
        daily = 0.03 * math.sin(2 * math.pi * (moment.hour * 60 + moment.minute) / 1440)
        value = max(0.01, base + daily + rng.gauss(0, 0.02))
        lines.append(f"search_p95_seconds {value:.6f} {int(moment.timestamp())}")
        moment += timedelta(minutes=1)
    lines.append("# EOF")
    path.write_text("\n".join(lines) + "\n")


def start_server(root: Path) -> tuple[subprocess.Popen[bytes], str]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    (root / "prometheus.yml").write_text("global:\n  scrape_interval: 1h\n")
    server = subprocess.Popen(
        ["prometheus", f"--storage.tsdb.path={root / 'data'}", "--storage.tsdb.retention.time=100y",
         f"--web.listen-address=127.0.0.1:{port}", f"--config.file={root / 'prometheus.yml'}"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    for _ in range(300):
        try:
            with urllib.request.urlopen(f"{url}/-/ready", timeout=1):
                return server, url
        except OSError:
            time.sleep(0.1)
    server.kill()
    raise SystemExit("prometheus did not become ready")


def spans(time_range: TimeRange, count: int) -> list[tuple[datetime, datetime]]:
    """``count`` projects, each two days long, spread evenly over the range."""
    length = time_range.until - time_range.since - timedelta(days=2)
    return [
        (
            time_range.since + length * i / max(count, 1),
            time_range.since + length * i / max(count, 1) + timedelta(days=2),
        )
        for i in range(count)
    ]


def connector_means(
    url: str, time_range: TimeRange, projects: list[tuple[datetime, datetime]], max_points: int
) -> tuple[int, int, list[tuple[float | None, float | None]]]:
    section = SourceSection("prod", "prometheus", {"url": url, "max_points": max_points,
                                                   "metrics": [{"name": "p95", "query": QUERY}]})  # fmt: skip
    now = time_range.until + 2 * WINDOW
    result = prometheus.fetch(Person(), time_range, section, FetchContext(now=now))
    requests_made = int(result.report.detail.split(" in ")[1].split(" ")[0])
    (row,) = result.evidence
    samples = [(float(t), float(v)) for t, v in row.extra["samples"]]
    means = []
    for first, last in projects:
        found = compare_windows(samples, first, last, Judging(WINDOW), better="lower", now=now)
        means.append((found["before"], found["after"]))
    return requests_made, len(samples), means


def reference_means(
    url: str, projects: list[tuple[datetime, datetime]]
) -> tuple[int, int, list[tuple[float | None, float | None]]]:
    made = points = 0
    means = []
    with requests.Session() as session:
        for first, last in projects:
            pair = []
            for start, end in ((first - WINDOW, first), (last, last + WINDOW)):
                params = {
                    "query": QUERY,
                    "start": int(start.timestamp()),
                    "end": int(end.timestamp()) - 60,
                    "step": 60,
                }
                data = session.get(f"{url}/api/v1/query_range", params=params, timeout=60).json()
                made += 1
                values = [float(v) for _, v in data["data"]["result"][0]["values"]]
                points += len(values)
                pair.append(sum(values) / len(values) if values else None)
            means.append((pair[0], pair[1]))
    return made, points, means


def worst(
    means: list[tuple[float | None, float | None]], reference: list[tuple[float | None, float | None]]
) -> float:
    gaps = [abs(a - b) / b * 100 for got, ref in zip(means, reference, strict=True)
            for a, b in zip(got, ref, strict=True) if a is not None and b is not None]  # fmt: skip
    return max(gaps, default=float("nan"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--projects", type=int, nargs="+", default=[1, 5, 20])
    parser.add_argument("--weeks", type=int, default=3)
    parser.add_argument("--max-points", type=int, nargs="+", default=[1000, 11000])
    args = parser.parse_args()
    if not shutil.which("prometheus") or not shutil.which("promtool"):
        sys.exit("needs the prometheus and promtool binaries (apt install prometheus)")
    time_range = TimeRange(SINCE, SINCE + timedelta(weeks=args.weeks), f"{args.weeks}w")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        start, end = (
            time_range.since - WINDOW - timedelta(days=1),
            time_range.until + WINDOW + timedelta(days=1),
        )
        backfill(root / "in.om", start, end, time_range.since + (time_range.until - time_range.since) / 2)
        backfill_args = ["tsdb", "create-blocks-from", "openmetrics", "--max-block-duration=8760h"]
        subprocess.run(
            ["promtool", *backfill_args, str(root / "in.om"), str(root / "data")],
            check=True,
            capture_output=True,
        )
        server, url = start_server(root)
        try:
            print(
                f"range {args.weeks} weeks + 7-day windows, 1 metric sampled every minute; error = largest "
                "|mean − full-resolution mean| / mean over all before/after windows\n"
            )
            print(f"{'projects':>8}  {'strategy':<44} {'requests':>8} {'points':>8} {'error':>8} {'time':>8}")
            for count in args.projects:
                projects = spans(time_range, count)
                t0 = time.perf_counter()
                ref = reference_means(url, projects)
                ref_time = time.perf_counter() - t0
                for max_points in args.max_points:
                    default = " (default)" if max_points == prometheus.DEFAULT_MAX_POINTS else ""
                    label = f"(a) connector, max_points {max_points}{default}"
                    t0 = time.perf_counter()
                    made, points, means = connector_means(url, time_range, projects, max_points)
                    took = time.perf_counter() - t0
                    error = worst(means, ref[2])
                    print(f"{count:>8}  {label:<44} {made:>8} {points:>8} {error:>7.2f}% {took:>7.2f}s")
                reference = "(b) two full-resolution queries per project"
                print(f"{count:>8}  {reference:<44} {ref[0]:>8} {ref[1]:>8} {0:>7.2f}% {ref_time:>7.2f}s")
        finally:
            server.terminate()
            server.wait(10)


if __name__ == "__main__":
    main()
