"""The metrics-file connector against CSV and JSON fixtures (gaps, unsorted rows, snapshots, bad rows),
and end to end with a real git repository through the `mine` command."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path

import pytest

from clirun import run_mine as run
from gitrepo import GitRepo
from impact_miner.connectors import metrics_file
from impact_miner.errors import ConfigError, SourceError
from impact_miner.model import FetchResult, Person, SourceSection, TimeRange
from impact_miner.registry import FetchContext

RANGE = TimeRange(datetime(2024, 3, 1, tzinfo=UTC), datetime(2024, 3, 22, tzinfo=UTC), "2024-03-01..")
NOW = datetime(2024, 6, 1, tzinfo=UTC)
DAY = timedelta(days=1)

# Daily latency, rows unsorted, a gap (Mar 5-6 missing), an empty value (a gap too), one row outside
# the padded range [Feb 23, Mar 29), and a second metric with its unit and links in the file.
LONG_CSV = """metric,timestamp,value,unit,links
search p95 latency,2024-03-04,330,ms,SEARCH-1
search p95 latency,2024-03-01,320,ms,SEARCH-1
search p95 latency,2024-03-03,310,ms,SEARCH-1
search p95 latency,2024-03-02T00:00:00Z,320,ms,SEARCH-1
search p95 latency,2024-03-07,,ms,SEARCH-1
search p95 latency,2024-03-16,218,ms,SEARCH-1
search p95 latency,2024-03-15,220,ms,SEARCH-1
search p95 latency,2024-03-17,216,ms,SEARCH-1
search p95 latency,2024-01-01,999,ms,SEARCH-1
signups,1709856000,41,users,"growth;acme/web"
signups,1709942400000,44,users,growth
"""


def context(now: datetime = NOW) -> FetchContext:
    return FetchContext(now=now, sleep=lambda _: None)


def section(path: Path, **options: object) -> SourceSection:
    return SourceSection("kpis", "metrics-file", {"path": str(path), **options})


def fetch(path: Path, time_range: TimeRange = RANGE, **options: object) -> FetchResult:
    return metrics_file.fetch(Person(), time_range, section(path, **options), context())


def samples(result: FetchResult, name: str) -> list[tuple[str, float]]:
    (row,) = [e for e in result.evidence if e.extra["metric"] == name]
    return [(datetime.fromtimestamp(t, UTC).isoformat(), v) for t, v in row.extra["samples"]]


def test_long_csv_sorted_gaps_kept_as_gaps_and_range_applied(tmp_path: Path) -> None:
    path = tmp_path / "kpis.csv"
    path.write_text(LONG_CSV)
    result = fetch(path)
    assert result.report.status == "ok"
    assert result.report.items == 2
    assert result.report.detail == (
        "2 metrics from kpis.csv; search p95 latency: 7 points; signups: 2 points; "
        "1 samples outside the range left out"
    )
    assert samples(result, "search p95 latency") == [
        ("2024-03-01T00:00:00+00:00", 320.0),
        ("2024-03-02T00:00:00+00:00", 320.0),
        ("2024-03-03T00:00:00+00:00", 310.0),
        ("2024-03-04T00:00:00+00:00", 330.0),
        ("2024-03-15T00:00:00+00:00", 220.0),
        ("2024-03-16T00:00:00+00:00", 218.0),
        ("2024-03-17T00:00:00+00:00", 216.0),
    ]
    latency = next(e for e in result.evidence if e.title == "search p95 latency")
    assert latency.id == "metric:search p95 latency@2024-02-23..2024-03-29"
    assert (latency.kind, latency.source, latency.url) == ("metric", "metrics-file", str(path))
    assert (latency.extra["unit"], latency.extra["links"], latency.extra["window_seconds"]) == (
        "ms", ["SEARCH-1"], 7 * 86400.0,
    )  # fmt: skip
    assert RANGE.since <= latency.completed_at < RANGE.until
    signups = next(e for e in result.evidence if e.title == "signups")
    assert signups.extra["links"] == ["growth", "acme/web"]
    assert samples(result, "signups") == [
        ("2024-03-08T00:00:00+00:00", 41.0),
        ("2024-03-09T00:00:00+00:00", 44.0),
    ]


def test_config_overrides_unit_scale_better_and_adds_links(tmp_path: Path) -> None:
    path = tmp_path / "kpis.csv"
    path.write_text(LONG_CSV)
    result = fetch(
        path,
        window="3d",
        metrics=[
            {"name": "Search P95 Latency", "unit": "s", "scale": 0.001, "better": "lower", "links": ["perf"]}
        ],
    )
    latency = next(e for e in result.evidence if e.title == "search p95 latency")
    assert (latency.extra["unit"], latency.extra["better"], latency.extra["links"]) == (
        "s", "lower", ["perf", "SEARCH-1"],
    )  # fmt: skip
    assert latency.id == "metric:search p95 latency@2024-02-27..2024-03-25"  # the 3-day window
    assert samples(result, "search p95 latency")[0] == ("2024-03-01T00:00:00+00:00", pytest.approx(0.32))


def test_naive_timestamps_are_in_the_runs_time_zone(tmp_path: Path) -> None:
    path = tmp_path / "kpis.csv"
    path.write_text("metric,time,value\nqps,2024-03-05 10:00,7\nqps,2024-03-05T10:00:00+00:00,8\n")
    plus2 = timezone(timedelta(hours=2))
    zoned = TimeRange(RANGE.since.astimezone(plus2), RANGE.until.astimezone(plus2), "x")
    assert samples(fetch(path, zoned), "qps") == [
        ("2024-03-05T08:00:00+00:00", 7.0),
        ("2024-03-05T10:00:00+00:00", 8.0),
    ]


def test_csv_snapshots_one_dated_row_per_snapshot(tmp_path: Path) -> None:
    path = tmp_path / "weekly.csv"
    path.write_text("date,checkout conversion,NPS\n2024-03-11,3.4,41\n2024-03-04,3.1,\n2024-03-18,3.6,44\n")
    result = fetch(path)
    assert samples(result, "checkout conversion") == [
        ("2024-03-04T00:00:00+00:00", 3.1),
        ("2024-03-11T00:00:00+00:00", 3.4),
        ("2024-03-18T00:00:00+00:00", 3.6),
    ]
    assert [v for _, v in samples(result, "NPS")] == [41.0, 44.0]  # the empty cell is a gap


def test_json_samples_snapshots_and_series(tmp_path: Path) -> None:
    path = tmp_path / "kpis.json"
    path.write_text(
        json.dumps(
            {
                "data": [
                    {"metric": "qps", "timestamp": "2024-03-03", "value": 12, "links": ["acme/api"]},
                    {"metric": "qps", "timestamp": "2024-03-02", "value": 10, "unit": "req/s"},
                    {"date": "2024-03-04", "values": {"NPS": 40, "churn": {"value": 2.5, "unit": "%"}}},
                    {
                        "metric": "cost",
                        "unit": "$",
                        "points": [["2024-03-05", 900], [1709683200, 850], ["2024-03-07", None]],
                    },
                ]
            }
        )
    )
    result = fetch(path)
    assert result.report.status == "ok"
    assert samples(result, "qps") == [
        ("2024-03-02T00:00:00+00:00", 10.0),
        ("2024-03-03T00:00:00+00:00", 12.0),
    ]
    qps = next(e for e in result.evidence if e.title == "qps")
    assert (qps.extra["unit"], qps.extra["links"]) == ("req/s", ["acme/api"])
    churn = next(e for e in result.evidence if e.title == "churn")
    assert churn.extra["unit"] == "%"
    assert samples(result, "cost") == [
        ("2024-03-05T00:00:00+00:00", 900.0),
        ("2024-03-06T00:00:00+00:00", 850.0),
    ]


def test_bad_rows_are_skipped_with_their_line_numbers_and_mark_partial(tmp_path: Path) -> None:
    path = tmp_path / "kpis.csv"
    path.write_text(
        "metric,timestamp,value\nqps,2024-03-02,10\nqps,yesterday,11\nqps,2024-03-03,n/a\n,2024-03-04,1\n"
        "qps,2024-03-05,12\n"
    )
    result = fetch(path)
    assert result.report.status == "partial"
    assert [v for _, v in samples(result, "qps")] == [10.0, 12.0]
    assert (
        "kpis.csv line 3: timestamp 'yesterday' is not an ISO 8601 date or datetime" in result.report.detail
    )
    assert "kpis.csv line 4: value 'n/a' is not a number" in result.report.detail
    assert "kpis.csv line 5: empty metric name" in result.report.detail


def test_a_configured_metric_missing_from_the_file_marks_partial(tmp_path: Path) -> None:
    path = tmp_path / "kpis.csv"
    path.write_text("metric,timestamp,value\nqps,2024-03-02,10\n")
    result = fetch(path, metrics=[{"name": "errors"}])
    assert result.report.status == "partial"
    assert "metric 'errors' is configured but not in the file" in result.report.detail


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("missing.csv", None, r"metrics file .*missing.csv does not exist; fix `path` or create the file"),
        ("empty.csv", "", "is empty; it needs a header row and samples"),
        ("nohead.csv", "a,b\n1,2\n", "nohead.csv line 1: no timestamp column"),
        (
            "bad.json",
            '[{"metric": "qps",\n  "value": 1\n  "timestamp": 2}]',
            "bad.json line 3 column 3: invalid JSON",
        ),
        ("shape.json", '{"rows": []}', "expected a list of samples, or an object with a samples"),
        (
            "rows.csv",
            "metric,timestamp,value\nqps,never,1\n",
            r"rows.csv: no usable samples \(rows.csv line 2",
        ),
    ],
)
def test_unusable_files_fail_the_source_with_one_clear_line(
    tmp_path: Path, name: str, text: str | None, message: str
) -> None:
    path = tmp_path / name
    if text is not None:
        path.write_text(text)
    with pytest.raises(SourceError, match=message):
        fetch(path)


def test_bad_config_is_rejected_before_any_fetch(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"\[sources.kpis\] needs a `path`"):
        metrics_file.check(SourceSection("kpis", "metrics-file", {}))
    with pytest.raises(ConfigError, match=r"sources\.kpis\.window: invalid duration"):
        metrics_file.check(section(tmp_path / "x.csv", window="a week"))
    with pytest.raises(ConfigError, match='better must be "lower" or "higher"'):
        metrics_file.check(section(tmp_path / "x.csv", metrics=[{"name": "x", "better": "up"}]))


# ---- end to end: git + metrics-file through `mine` ---------------------------------------------------




def test_mine_reports_the_measured_change_of_a_linked_kpi(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    repo = GitRepo.init(tmp_path / "web", remote="git@github.com:acme/web.git", home=tmp_path / "home")
    repo.commit(
        "SHOP-12: one-page checkout", {"checkout.py": "a\n"}, when=datetime(2024, 3, 11, 9, tzinfo=UTC)
    )
    repo.commit(
        "SHOP-12: drop the address step",
        {"address.py": "b\n"},
        when=datetime(2024, 3, 12, 17, tzinfo=UTC),
    )
    kpis = tmp_path / "kpis.csv"
    rows = ["metric,timestamp,value"]
    for day in range(28):  # 3.0 % a day before the work, 3.6 % after (hand-computed: +0.6, +20 %)
        when = date(2024, 2, 26) + timedelta(days=day)
        value = 3.0 if when < date(2024, 3, 11) else 3.6 if when > date(2024, 3, 12) else 3.3
        rows.append(f"checkout conversion,{when.isoformat()}T12:00:00Z,{value}")
    kpis.write_text("\n".join(rows) + "\n")
    config = tmp_path / "config.toml"
    config.write_text(
        f'[me]\nemails = ["ada@x.io"]\n[sources.code]\ntype = "git"\npaths = ["{repo.path}"]\n'
        f'[sources.kpis]\ntype = "metrics-file"\npath = "{kpis}"\n'
        '[[sources.kpis.metrics]]\nname = "checkout conversion"\nunit = "%"\nbetter = "higher"\n'
        'links = ["SHOP-12"]\n'
    )
    args = ["--config", str(config), "--since", "2024-03-01", "--until", "2024-03-21"]
    code, out, err = run(capsys, *args, "--format", "json")
    assert code == 0, err
    report = json.loads(out)
    (project,) = report["projects"]
    (measured,) = project["metrics"]
    assert (measured["before"], measured["after"], measured["delta"], measured["percent"]) == (
        3.0,
        3.6,
        0.6,
        20.0,
    )
    assert (measured["points_before"], measured["points_after"], measured["weak"]) == (7, 7, [])
    assert project["statement"].startswith(
        "Increased checkout conversion 20% (3% → 3.6%, measured 7 days before/after): "
    )
    assert project["verified"] is True
    assert "metric:checkout conversion@2024-02-23..2024-03-29" in project["evidence_ids"]
    code, markdown, _ = run(capsys, *args)
    assert (
        "| checkout conversion | 3% | 3.6% | +0.6 pp (+20%) | measured, 7 days before/after, 7/7 points |  |"
        in (markdown)
    )
