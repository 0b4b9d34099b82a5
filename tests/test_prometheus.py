"""The prometheus connector against a REAL Prometheus server (Debian's `prometheus`, backfilled with
`promtool`), plus a loopback fake for what a healthy server never does (5xx, Retry-After, HTML, 401).

The real server holds, for March 2024 (UTC):

- ``search_latency_seconds`` — a histogram scraped every minute whose p95 is exactly 0.320 s until
  2024-03-11 12:00 and exactly 0.218 s after (bucket counts chosen so histogram_quantile's linear
  interpolation lands on those values);
- ``queue_depth`` — a gauge every 5 minutes, 10 + (hour of day mod 4), that never changes level;
- ``http_requests_in_flight{code="200"|"500"}`` — two series, for the "several series" error.

The project's work is two commits mentioning SEARCH-1, on 2024-03-10 12:00 and 2024-03-12 12:00, so the
7-day before window [03-03 12:00, 03-10 12:00) and after window [03-12 12:00, 03-19 12:00) are pure.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from clirun import run_mine as run
from fake_prometheus import INTERRUPTIBLE_MINE, SlowPrometheus
from gitrepo import GitRepo
from impact_miner.cache import Cache
from impact_miner.connectors import prometheus
from impact_miner.connectors.git import connector as git_connector
from impact_miner.errors import Cancelled, ConfigError, SourceError
from impact_miner.metrics import metric_specs
from impact_miner.model import Person, SourceSection, TimeRange
from impact_miner.pipeline import build_report
from impact_miner.registry import FetchContext
from impact_miner.render.json import render_json
from impact_miner.render.markdown import render_markdown
from impact_miner.runspec import RunSpec

DATA_START = datetime(2024, 3, 2, tzinfo=UTC)
DATA_END = datetime(2024, 3, 21, tzinfo=UTC)
SWITCH = datetime(2024, 3, 11, 12, tzinfo=UTC)
FIRST = datetime(2024, 3, 10, 12, tzinfo=UTC)
LAST = datetime(2024, 3, 12, 12, tzinfo=UTC)
RANGE = TimeRange(datetime(2024, 3, 1, tzinfo=UTC), datetime(2024, 3, 22, tzinfo=UTC), "2024-03-01..")
NOW = datetime(2024, 6, 1, tzinfo=UTC)
P95 = "histogram_quantile(0.95, sum by (le) (rate(search_latency_seconds_bucket[5m])))"
BUCKETS = ("0.1", "0.2", "0.3", "0.4", "0.5", "+Inf")
# Per-minute increments of the cumulative buckets. Before: rank 950 of 1000 falls in (0.3, 0.4] with
# 940 below and 990 at its top, so p95 = 0.3 + 0.1 × 10/50 = 0.320. After: in (0.2, 0.3] with 941 below
# and 991 at its top: 0.2 + 0.1 × 9/50 = 0.218.
BEFORE_COUNTS = (500, 800, 940, 990, 1000, 1000)
AFTER_COUNTS = (500, 941, 991, 1000, 1000, 1000)
HAVE_PROMETHEUS = shutil.which("prometheus") is not None and shutil.which("promtool") is not None
needs_prometheus = pytest.mark.skipif(
    not HAVE_PROMETHEUS,
    reason="the `prometheus` and `promtool` binaries are not installed (apt install prometheus)",
)


def queue_depth(moment: datetime) -> int:
    return 10 + moment.hour % 4


def openmetrics() -> str:
    """The backfill: the histogram every minute, the gauges every 5 minutes, in OpenMetrics text."""
    lines = ["# TYPE search_latency_seconds histogram"]
    totals = [0] * len(BUCKETS)
    moment = DATA_START
    while moment < DATA_END:
        counts = BEFORE_COUNTS if moment < SWITCH else AFTER_COUNTS
        totals = [t + c for t, c in zip(totals, counts, strict=True)]
        stamp = int(moment.timestamp())
        lines += [
            f'search_latency_seconds_bucket{{le="{le}"}} {n} {stamp}'
            for le, n in zip(BUCKETS, totals, strict=True)
        ]
        lines += [
            f"search_latency_seconds_count {totals[-1]} {stamp}",
            f"search_latency_seconds_sum {totals[-1] * 0.2} {stamp}",
        ]
        moment += timedelta(minutes=1)
    lines.append("# TYPE queue_depth gauge")
    moment = DATA_START
    while moment < DATA_END:
        lines.append(f"queue_depth {queue_depth(moment)} {int(moment.timestamp())}")
        moment += timedelta(minutes=5)
    lines.append("# TYPE http_requests_in_flight gauge")
    for code in ("200", "500"):
        moment = DATA_START
        while moment < DATA_END:
            lines.append(f'http_requests_in_flight{{code="{code}"}} 3 {int(moment.timestamp())}')
            moment += timedelta(hours=1)
    lines.append("# EOF")
    return "\n".join(lines) + "\n"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="session")
def prometheus_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real Prometheus on a loopback port, serving the backfilled TSDB; stopped at the end."""
    if not HAVE_PROMETHEUS:
        pytest.skip("the `prometheus` and `promtool` binaries are not installed (apt install prometheus)")
    root = tmp_path_factory.mktemp("prometheus")
    source, data = root / "backfill.om", root / "data"
    source.write_text(openmetrics())
    done = subprocess.run(
        [
            "promtool",
            "tsdb",
            "create-blocks-from",
            "openmetrics",
            "--max-block-duration=8760h",
            str(source),
            str(data),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    config = root / "prometheus.yml"
    config.write_text("global:\n  scrape_interval: 1h\n")
    port = free_port()
    log = (root / "prometheus.log").open("w")
    server = subprocess.Popen(
        [
            "prometheus",
            f"--storage.tsdb.path={data}",
            "--storage.tsdb.retention.time=100y",
            f"--web.listen-address=127.0.0.1:{port}",
            f"--config.file={config}",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):  # up to 30 s; it is usually ready in well under a second
            if server.poll() is not None:
                pytest.fail(f"prometheus exited: {(root / 'prometheus.log').read_text()[-2000:]}")
            try:
                with urllib.request.urlopen(f"{url}/-/ready", timeout=1) as answer:
                    if answer.status == 200:
                        break
            except OSError:
                time.sleep(0.1)
        else:
            pytest.fail("prometheus did not become ready in 30 s")
        yield url
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        log.close()


def prom_section(url: str, metrics: list[dict[str, Any]], **options: Any) -> SourceSection:
    return SourceSection("prod", "prometheus", {"url": url, "metrics": metrics, **options})


LATENCY = {"name": "search p95 latency", "query": P95, "unit": "ms", "scale": 1000, "better": "lower",
           "links": ["SEARCH-1"]}  # fmt: skip
QUEUE = {"name": "queue depth", "query": "queue_depth", "links": ["SEARCH-1"]}


@dataclass
class Sleeps:
    waits: list[float] = field(default_factory=list)

    def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


@dataclass
class Throttle:
    """Records what a team batch's shared pacing is told."""

    calls: list[tuple[str, str, float]] = field(default_factory=list)

    def wait(self, source: str) -> None:
        self.calls.append(("wait", source, 0.0))

    def hold(self, source: str, seconds: float) -> None:
        self.calls.append(("hold", source, seconds))


def fetch(
    section: SourceSection,
    *,
    cache: Cache | None = None,
    sleeps: Sleeps | None = None,
    throttle: Throttle | None = None,
) -> Any:
    context = FetchContext(now=NOW, cache=cache, sleep=sleeps or Sleeps(), throttle=throttle)
    return prometheus.fetch(Person(), RANGE, section, context)


# ---- a real Prometheus ------------------------------------------------------------------------------


@needs_prometheus
def test_one_query_per_metric_returns_the_backfilled_series(prometheus_url: str) -> None:
    result = fetch(prom_section(prometheus_url, [LATENCY, QUEUE]))
    assert result.report.status == "ok"
    latency, queue = result.evidence
    step = latency.extra["step_seconds"]
    assert step == 300  # [02-23, 03-29) is 35 days: the smallest standard step within 11,000 points
    assert result.report.detail.startswith("2 of 2 metrics, ")
    assert result.report.detail.endswith(" in 2 requests (step 5m)")
    assert latency.id == "metric:search p95 latency@2024-02-23..2024-03-29"
    values = dict(latency.extra["samples"])
    assert values[int(FIRST.timestamp())] == pytest.approx(320.0)
    assert values[int(LAST.timestamp())] == pytest.approx(218.0)
    assert latency.url.startswith(f"{prometheus_url}/graph?g0.expr=histogram_quantile%280.95")
    assert "g0.range_input=840h" in latency.url
    depth = dict(queue.extra["samples"])
    # Each evaluation sees the sample at its own instant (5 minutes of lookback reach past the data's end).
    last_sample = DATA_END - timedelta(minutes=5)
    expected = {t: queue_depth(min(datetime.fromtimestamp(t, UTC), last_sample)) for t in depth}
    assert depth == expected
    assert min(depth) == DATA_START.timestamp() and max(depth) == DATA_END.timestamp()
    assert all(t % step == 0 for t in depth)


@needs_prometheus
def test_before_after_values_and_deltas_match_the_hand_computed_ones(
    prometheus_url: str, tmp_path: Path
) -> None:
    repo = search_repo(tmp_path)
    spec = RunSpec(
        person=Person(emails=["ada@x.io"]),
        time_range=RANGE,
        sources=[
            (git_connector, SourceSection("code", "git", {"paths": [str(repo.path)]})),
            (prometheus.connector, prom_section(prometheus_url, [LATENCY, QUEUE])),
        ],
        now=NOW,
    )
    report = build_report(spec)
    (project,) = report.projects
    latency, queue, claimed = project.metrics
    # By hand: 2016 evaluations (every 5 minutes) on each side, each exactly 320 ms before and 218 ms after.
    assert (latency["before"], latency["after"], latency["delta"]) == (320.0, 218.0, -102.0)
    assert latency["percent"] == pytest.approx(-31.875)
    assert (latency["points_before"], latency["points_after"], latency["weak"]) == (2016, 2016, [])
    assert latency["windows"] == {
        "before": ["2024-03-03T12:00:00+00:00", "2024-03-10T12:00:00+00:00"],
        "after": ["2024-03-12T12:00:00+00:00", "2024-03-19T12:00:00+00:00"],
    }
    # queue_depth never moved: 42 cycles of 10, 11, 12, 13 (an hour, 12 evaluations, each) on each side.
    cycle = [10.0] * 12 + [11.0] * 12 + [12.0] * 12 + [13.0] * 12
    cycle *= 42
    assert (queue["before"], queue["after"], queue["delta"], queue["percent"]) == (11.5, 11.5, 0.0, 0.0)
    assert queue["stdev_before"] == pytest.approx(statistics.stdev(cycle), rel=1e-5)
    assert queue["weak"] == ["within noise: |change| 0 < 2σ (2.24) of the before window"]
    assert (claimed["source"], claimed["text"]) == ("claimed", "p95 from 320 ms to 218 ms")
    assert project.statement == (
        "Reduced search p95 latency 32% (320 ms → 218 ms, measured 7 days before/after): moved index merges "
        "off the request path across 2 commits (+3 lines, 2 files) in acme/search between 2024-03-10 and "
        "2024-03-12: “Move index merges off the request path” (+2) and “Cache merged segments” (+1) "
        "[SEARCH-1]. Measured: queue depth unchanged (11.5 → 11.5, measured 7 days before/after; "
        'weak: within noise). Author reports "p95 from 320 ms to 218 ms" (claimed).'
    )
    assert project.verified, project.problems
    markdown = render_markdown(report)
    assert (
        "| search p95 latency | 320 ms | 218 ms | −102 ms (−32%) | measured, 7 days before/after" in markdown
    )
    assert json.loads(render_json(report))["projects"][0]["metrics"][0]["before"] == 320.0


@needs_prometheus
def test_bad_promql_quotes_prometheus_and_keeps_the_other_metrics(prometheus_url: str) -> None:
    broken = {"name": "broken", "query": "sum(rate(search_latency_seconds_count[5m])"}
    result = fetch(prom_section(prometheus_url, [broken, QUEUE]))
    assert result.report.status == "partial"
    assert [e.title for e in result.evidence] == ["queue depth"]
    assert result.report.detail.endswith(
        "; broken: Prometheus rejected the query (HTTP 400): "
        "bad_data: 1:43: parse error: unclosed left parenthesis"
    )


@needs_prometheus
def test_empty_and_multiple_series_are_reported_and_all_failing_fails_the_source(prometheus_url: str) -> None:
    empty = {"name": "missing", "query": "no_such_metric"}
    several = {"name": "in flight", "query": "http_requests_in_flight"}
    with pytest.raises(SourceError) as failed:
        fetch(prom_section(prometheus_url, [empty, several]))
    message = str(failed.value)
    assert (
        "missing: empty series: the query returned no data between 2024-02-23 00:00 and 2024-03-29 00:00 "
        "UTC; check the metric name and labels" in message
    )
    assert (
        'in flight: the query returned 2 series (http_requests_in_flight{code="200"}, '
        'http_requests_in_flight{code="500"}); aggregate it to one, e.g. sum(...) or max(...)' in message
    )


@needs_prometheus
def test_a_year_long_range_stays_under_prometheus_point_limit(prometheus_url: str) -> None:
    year = TimeRange(datetime(2023, 6, 1, tzinfo=UTC), datetime(2024, 6, 1, tzinfo=UTC), "1y")
    section = prom_section(prometheus_url, [QUEUE], max_points=11_000)
    result = prometheus.fetch(Person(), year, section, FetchContext(now=NOW, sleep=Sleeps()))
    (queue,) = result.evidence
    assert queue.extra["step_seconds"] == 3600  # 380 days in ≤ 11,000 points: 3,000 s → the 1h step
    assert result.report.status == "ok"


def test_prometheus_down_fails_fast_after_bounded_retries() -> None:
    port = free_port()  # nothing listens here
    sleeps = Sleeps()
    with pytest.raises(SourceError) as failed:
        fetch(prom_section(f"http://127.0.0.1:{port}", [LATENCY, QUEUE], retries=2), sleeps=sleeps)
    assert str(failed.value) == (
        f"cannot reach Prometheus at http://127.0.0.1:{port}: connection refused (after 3 attempts); "
        "check `url` and that the server is running"
    )
    assert sleeps.waits == [1.0, 2.0]  # exponential backoff, injected; the second metric is not tried


# ---- a loopback fake for failures a healthy server does not produce --------------------------------


@dataclass
class Fake:
    """A loopback HTTP server answering ``/api/v1/query_range`` from a script of responses."""

    script: list[tuple[int, dict[str, str], bytes]]
    requests: list[tuple[str, dict[str, list[str]], dict[str, str]]] = field(default_factory=list)
    url: str = ""


MATRIX = json.dumps(
    {"status": "success", "data": {"resultType": "matrix", "result": [
        {"metric": {}, "values": [[1709900000, "0.25"], [1709903600, "NaN"], [1709907200, "0.3"]]}]}}
).encode()  # fmt: skip


@pytest.fixture
def fake() -> Iterator[Callable[..., Fake]]:
    servers: list[ThreadingHTTPServer] = []

    def start(*script: tuple[int, dict[str, str], bytes]) -> Fake:
        state = Fake(list(script))

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                parts = urlsplit(self.path)
                state.requests.append((parts.path, parse_qs(parts.query), dict(self.headers)))
                status, headers, body = state.script.pop(0) if len(state.script) > 1 else state.script[0]
                self.send_response(status)
                for name, value in {"Content-Type": "application/json", **headers}.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        servers.append(server)
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        state.url = f"http://127.0.0.1:{server.server_address[1]}/prometheus"
        return state

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def test_5xx_and_429_are_retried_honouring_retry_after(fake: Callable[..., Fake]) -> None:
    server = fake(
        (
            503,
            {},
            b'{"status":"error","errorType":"timeout","error":"query timed out in expression evaluation"}',
        ),
        (429, {"Retry-After": "7"}, b"{}"),
        (200, {}, MATRIX),
    )
    sleeps, throttle = Sleeps(), Throttle()
    result = fetch(prom_section(server.url, [LATENCY], token="s3cret"), sleeps=sleeps, throttle=throttle)
    assert len(server.requests) == 3 and sleeps.waits == [1.0, 7.0]
    assert throttle.calls == [("wait", "prod", 0.0)] * 2 + [("hold", "prod", 7.0), ("wait", "prod", 0.0)]
    path, query, headers = server.requests[0]
    assert path == "/prometheus/api/v1/query_range"
    assert query["query"] == [P95] and query["step"] == ["300"]
    assert int(query["start"][0]) % 300 == 0 and query["start"] == [
        str(int(RANGE.since.timestamp()) - 7 * 86400)
    ]
    assert headers["Authorization"] == "Bearer s3cret"
    (row,) = result.evidence
    assert row.extra["samples"] == [[1709900000, 250], [1709907200, 300]]  # scaled to ms; NaN dropped
    assert "s3cret" not in json.dumps(row.to_dict()) and "s3cret" not in result.report.detail
    assert result.report.detail == "1 of 1 metrics, 2 points in 3 requests (step 5m)"


def test_a_429_whose_retry_after_is_an_http_date_waits_until_that_moment(fake: Callable[..., Fake]) -> None:
    two_seconds_ahead = format_datetime(NOW + timedelta(seconds=2), usegmt=True)  # "Sat, 01 Jun 2024 …"
    server = fake((429, {"Retry-After": two_seconds_ahead}, b"{}"), (200, {}, MATRIX))
    sleeps, throttle = Sleeps(), Throttle()
    result = fetch(prom_section(server.url, [LATENCY]), sleeps=sleeps, throttle=throttle)  # "now" is NOW
    assert sleeps.waits == [2.0] and len(server.requests) == 2
    assert throttle.calls == [("wait", "prod", 0.0), ("hold", "prod", 2.0), ("wait", "prod", 0.0)]
    assert result.report.detail == "1 of 1 metrics, 2 points in 2 requests (step 5m)"


def test_prometheus_warnings_are_shown_without_failing_the_source(fake: Callable[..., Fake]) -> None:
    answer = json.loads(MATRIX)
    answer["warnings"] = ["PromQL info: metric might not be a counter, name does not end in _total"]
    server = fake((200, {}, json.dumps(answer).encode()))
    result = fetch(prom_section(server.url, [LATENCY]))
    assert result.report.status == "ok"
    assert result.report.detail.endswith(
        "; search p95 latency: Prometheus warns: PromQL info: metric might not be a counter, name does not "
        "end in _total"
    )


def test_persistent_5xx_fails_the_metric_with_prometheus_words(fake: Callable[..., Fake]) -> None:
    server = fake((503, {}, b'{"status":"error","errorType":"unavailable","error":"TSDB not ready"}'))
    with pytest.raises(
        SourceError, match=r"kept failing: HTTP 503 unavailable: TSDB not ready \(after 2 attempts\)"
    ):
        fetch(prom_section(server.url, [LATENCY], retries=1))
    assert len(server.requests) == 2


def test_a_non_json_answer_and_a_rejected_token_say_what_to_fix(fake: Callable[..., Fake]) -> None:
    html = fake((200, {"Content-Type": "text/html"}, b"<html><body>Grafana login</body></html>"))
    with pytest.raises(
        SourceError, match=r"answered HTTP 200 with a non-JSON body \('<html><body>Grafana login"
    ):
        fetch(prom_section(html.url, [LATENCY]))
    denied = fake((401, {}, b"Unauthorized"))
    with pytest.raises(SourceError, match="answered HTTP 401 Unauthorized; set or fix `token`"):
        fetch(prom_section(denied.url, [LATENCY, QUEUE]))
    assert len(denied.requests) == 1  # no retry, no second metric


def test_a_closed_range_is_served_from_the_cache(fake: Callable[..., Fake], tmp_path: Path) -> None:
    server = fake((200, {}, MATRIX))
    cache = Cache(tmp_path / "cache.sqlite3")
    first = fetch(prom_section(server.url, [LATENCY]), cache=cache)
    again = fetch(prom_section(server.url, [LATENCY]), cache=cache)
    assert len(server.requests) == 1
    assert [e.to_dict() for e in again.evidence] == [e.to_dict() for e in first.evidence]
    assert again.report.detail == "1 of 1 metrics, 2 points in 0 requests (step 5m)"


# ---- configuration and pure helpers ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"url": "127.0.0.1:9090", "metrics": [LATENCY]}, r"needs the server `url`, e.g. url = \"http://"),
        ({"url": "http://x", "metrics": []}, "names no metrics; add"),
        ({"url": "http://x", "metrics": [{"name": "a"}]}, r"\(a\) needs a PromQL `query`"),
        ({"url": "http://x", "metrics": [LATENCY], "max_points": 20_000}, "from 2 to 11000"),
        ({"url": "http://x", "metrics": [LATENCY], "retries": -1}, "retries must be a whole number"),
        ({"url": "http://x", "metrics": [LATENCY], "timeout": 0}, "timeout must be a number of seconds"),
        ({"url": "http://x", "metrics": [LATENCY], "step": "often"}, "step: invalid duration"),
    ],
)
def test_bad_sections_fail_before_any_request(options: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        prometheus.check(SourceSection("prod", "prometheus", options))


@pytest.mark.parametrize(
    ("days", "finest", "points", "step"),
    [
        (28, 1, 1000, 3600),
        (35, 1, 1000, 3600),
        (1, 1, 1000, 120),
        (28, 600, 11000, 600),
        (3650, 1, 11000, 43200),
    ],
)
def test_the_step_keeps_each_query_within_the_point_budget(
    days: int, finest: float, points: int, step: int
) -> None:
    start = datetime(2024, 1, 1, tzinfo=UTC)
    chosen = prometheus.choose_step(start, start + timedelta(days=days), finest, points)
    assert chosen == step
    assert days * 86400 / chosen + 1 <= max(points, 11_000)


def test_config_example_of_the_issue_parses() -> None:
    (spec,) = metric_specs({"metrics": [LATENCY]}, "sources.prod", needs_query=True)
    assert (spec.unit, spec.scale, spec.better, spec.links) == ("ms", 1000.0, "lower", ("SEARCH-1",))


# ---- end to end through `mine` --------------------------------------------------------------------------


def search_repo(tmp_path: Path) -> GitRepo:
    """acme/search: two commits mentioning SEARCH-1 whose message claims the p95 change."""
    repo = GitRepo.init(tmp_path / "search", remote="git@github.com:acme/search.git", home=tmp_path / "home")
    repo.commit(
        "SEARCH-1: move index merges off the request path",
        {"search/merge.py": "a\nb\n"},
        when=FIRST,
    )
    repo.commit(
        "SEARCH-1: cache merged segments\n\nBenchmarks on staging: p95 from 320 ms to 218 ms.",
        {"search/cache.py": "c\n"},
        when=LAST,
    )
    return repo


@needs_prometheus
def test_done_when_a_pr_claim_and_the_measured_change_are_in_every_output_format(
    prometheus_url: str, capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The issue's "Done when": the PR says "p95 from 320 ms to 218 ms", the linked series moved."""
    from docx import Document

    from fake_github import FakeGitHub, pull

    repo = GitRepo.init(tmp_path / "search", remote="git@github.com:acme/search.git", home=tmp_path / "home")
    repo.commit("SEARCH-1: move index merges off the request path", {"search/merge.py": "a\nb\n"}, when=FIRST)
    repo.commit("SEARCH-1: cache merged segments", {"search/cache.py": "c\n"}, when=LAST)
    pr = pull(
        "acme/search",
        412,
        title="SEARCH-1: move index merges off the request path",
        body="Merges ran on the request path.\n\nOn staging, p95 from 320 ms to 218 ms.\n",
        merged_at=LAST + timedelta(hours=1),
        additions=3,
    )
    with FakeGitHub([pr]) as github:
        monkeypatch.setenv("TEST_GITHUB_TOKEN", github.token)
        config = tmp_path / "config.toml"
        config.write_text(
            f'[me]\nemails = ["ada@x.io"]\n[me.logins]\ngithub = "ada"\n\n'
            f'[sources.code]\ntype = "git"\npaths = ["{repo.path}"]\n\n'
            f'[sources.gh]\ntype = "github"\nurl = "{github.url}"\ntoken = "env:TEST_GITHUB_TOKEN"\n'
            "reviews = false\n\n"
            f'[sources.prod]\ntype = "prometheus"\nurl = "{prometheus_url}"\nwindow = "7d"\n\n'
            f'[[sources.prod.metrics]]\nname = "search p95 latency"\nquery = \'{P95}\'\nunit = "ms"\n'
            'scale = 1000\nbetter = "lower"\nlinks = ["SEARCH-1", "acme/search"]\n\n'
            '[[sources.prod.metrics]]\nname = "errors"\nquery = "queue_depth"\nlinks = ["BILLING-9"]\n'
        )
        outputs = {fmt: tmp_path / f"report.{fmt}" for fmt in ("md", "json", "html", "csv", "docx")}
        args = ["--config", str(config), "--since", "2024-03-01", "--until", "2024-03-21"]
        code, _, err = run(capsys, *args, *(f"--out={path}" for path in outputs.values()))
    assert code == 0, err
    report = json.loads(outputs["json"].read_text())
    (project,) = report["projects"]
    assert "github:acme/search#412" in project["evidence_ids"]
    measured, claimed = project["metrics"]
    assert (measured["source"], measured["before"], measured["after"], measured["delta"]) == (
        "measured", 320.0, 218.0, -102.0,
    )  # fmt: skip
    assert (claimed["source"], claimed["evidence_id"]) == ("claimed", "github:acme/search#412")
    assert (claimed["before"], claimed["after"], claimed["text"]) == (320, 218, "p95 from 320 ms to 218 ms")
    statement = project["statement"]
    assert statement.startswith(
        "Reduced search p95 latency 32% (320 ms → 218 ms, measured 7 days before/after): "
    )
    assert statement.endswith('Author reports "p95 from 320 ms to 218 ms" (claimed).')
    assert project["verified"] is True and project["problems"] == []
    prod = next(c for c in report["coverage"] if c["source"] == "prod")
    assert prod["status"] == "ok" and prod["items"] == 2
    assert "not linked to any project: errors (links: BILLING-9)" in prod["detail"]
    assert [e["id"] for e in report["evidence"] if e["kind"] == "metric"] == [
        "metric:search p95 latency@2024-02-23..2024-03-29",
        "metric:errors@2024-02-23..2024-03-29",
    ]
    measured_text = "Reduced search p95 latency 32% (320 ms → 218 ms, measured 7 days before/after)"
    claimed_text = "Author reports"
    markdown = outputs["md"].read_text()
    assert (
        measured_text in markdown
        and claimed_text in markdown
        and "*Verified against its evidence.*" in markdown
    )
    html = outputs["html"].read_text()
    assert measured_text in html and "p95 from 320 ms to 218 ms" in html
    csv_text = outputs["csv"].read_text()
    assert measured_text in csv_text and "p95 from 320 ms to 218 ms" in csv_text
    docx_text = "\n".join(p.text for p in Document(str(outputs["docx"])).paragraphs)
    assert measured_text in docx_text and claimed_text in docx_text


# ---- interrupts -------------------------------------------------------------------------------------


def test_ctrl_c_during_a_fetch_of_40_metrics_makes_no_further_request(tmp_path: Path) -> None:
    """A real `mine` process, a real SIGINT: the metric being fetched finishes, no other is asked for."""
    repo = GitRepo.init(tmp_path / "api", user_email="ada@x.io")
    repo.commit("SEARCH-1: work", {"a.txt": "1\n"}, when=FIRST)
    env = dict(os.environ)  # isolated by conftest: private HOME and cache, UTC, no config
    with SlowPrometheus(delay=0.2) as server:
        config = tmp_path / "config.toml"
        config.write_text(f'[sources.code]\ntype = "git"\npaths = ["{repo.path}"]\n' + server.section(40))
        args = ["--since", "2024-03-01", "--until", "2024-03-21", "--config", str(config), "--no-cache"]
        process = subprocess.Popen(
            [sys.executable, "-c", INTERRUPTIBLE_MINE, *args],
            cwd=tmp_path,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        server.wait_for(3)
        interrupted = time.monotonic()
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=60)
    assert process.returncode == 130, err
    assert err.strip().splitlines() == ["mine: interrupted"]
    assert out == ""
    assert server.after(interrupted) <= 1, f"{server.after(interrupted)} requests after Ctrl-C"
    assert len(server.arrivals) < 10


def test_a_cancelled_context_stops_between_metrics_and_retry_waits_end_at_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with SlowPrometheus(delay=0.05) as server:
        context = FetchContext(now=NOW)
        section = prom_section(server.url, [{"name": f"m{n}", "query": f"up{n}"} for n in range(5)])
        original = prometheus._attempt

        def then_cancel(*args: Any) -> dict[str, Any]:
            answer = original(*args)
            context.cancel.set()  # the interrupt arrives while the first metric is in flight
            return answer

        monkeypatch.setattr(prometheus, "_attempt", then_cancel)
        with pytest.raises(Cancelled):
            prometheus.fetch(Person(), RANGE, section, context)
        assert len(server.arrivals) == 1
    started = time.monotonic()
    FetchContext(now=NOW, cancel=context.cancel).sleep(30)  # the default sleep wakes up when cancelled
    assert time.monotonic() - started < 1
