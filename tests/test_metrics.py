"""Linking metrics to projects and comparing before/after windows: pure functions, hand-computed values."""

from __future__ import annotations

import json
import statistics
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from impact_miner.errors import ConfigError
from impact_miner.facts import kind_counts, project_facts
from impact_miner.metrics import (
    Judging,
    MetricSpec,
    attach_metrics,
    compare_windows,
    format_number,
    format_percent,
    format_window,
    link_reason,
    metric_evidence,
    metric_facts,
    metric_specs,
    note_unlinked,
    padded_range,
    parse_duration,
    rounded,
    rounded_percent,
    table_cells,
    unlinked_metrics,
)
from impact_miner.model import (
    ClaimedMetric,
    Evidence,
    MeasuredMetric,
    MetricWindows,
    Person,
    Project,
    Report,
    SourceReport,
    TimeRange,
    Writer,
)
from impact_miner.offline_writer import offline_statement
from impact_miner.pipeline import assign_projects, link_projects, write_statements
from impact_miner.render.json import render_json
from impact_miner.render.markdown import render_markdown
from impact_miner.verifier import verify_statement

DAY = timedelta(days=1)
HOUR = timedelta(hours=1)
T0 = datetime(2026, 11, 10, 12, tzinfo=UTC)  # the project's first completed item
T1 = datetime(2026, 11, 12, 12, tzinfo=UTC)  # its last
NOW = datetime(2026, 12, 31, tzinfo=UTC)
RANGE = TimeRange(datetime(2026, 11, 1, tzinfo=UTC), datetime(2026, 12, 1, tzinfo=UTC), "2026-11")
JUDGING = Judging()


def hourly(start: datetime, end: datetime, value: Any) -> list[tuple[float, float]]:
    """One sample per hour in [start, end); ``value(i)`` or a constant."""
    points = []
    moment, i = start, 0
    while moment < end:
        points.append((moment.timestamp(), float(value(i) if callable(value) else value)))
        moment, i = moment + HOUR, i + 1
    return points


def commit(sha: str, title: str, when: datetime, body: str = "", repo: str = "acme/search") -> Evidence:
    return Evidence(
        id=f"git:{repo}@{sha}",
        source="git",
        kind="commit",
        title=title,
        url=f"https://github.com/{repo}/commit/{sha}",
        completed_at=when,
        body=body,
        repo=repo,
        refs=[k for k in ("SEARCH-1", "SEARCH-2", "BILL-7") if k in f"{title} {body}"],
        additions=10,
        deletions=2,
        files=1,
        extra={"sha": sha},
    )


def metric_row(
    name: str, samples: list[tuple[float, float]], *, links: tuple[str, ...] = (), **spec: Any
) -> Evidence:
    start, end = padded_range(RANGE, DAY * 7, NOW)
    return metric_evidence(
        MetricSpec(name=name, links=links, **spec),
        samples,
        source_type="metrics-file",
        section_name="kpis",
        start=start,
        end=end,
        url="/data/kpis.csv",
        body="From kpis.csv.",
        judging=JUDGING,
        time_range=RANGE,
    )


# ---- configuration ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("7d", 7 * 86400), ("36h", 36 * 3600), ("1h30m", 5400), ("2w", 14 * 86400), ("90s", 90), (600, 600)],
)
def test_durations(text: Any, seconds: float) -> None:
    assert parse_duration(text, "w").total_seconds() == seconds


@pytest.mark.parametrize("text", ["", "7", "seven days", "7x", "-1d", "0d", True])
def test_bad_durations_say_what_to_write(text: Any) -> None:
    with pytest.raises(ConfigError, match=r"sources.prod.window: (invalid duration|duration)"):
        parse_duration(text, "sources.prod.window")


@pytest.mark.parametrize(
    ("metrics", "message"),
    [
        ([{"query": "up"}], "needs a `name`"),
        ([{"name": "x"}], r"\(x\) needs a PromQL `query`"),
        ([{"name": "x", "query": "up", "better": "up"}], 'better must be "lower" or "higher"'),
        ([{"name": "x", "query": "up", "scale": 0}], "scale must be a non-zero number"),
        ([{"name": "x", "query": "up", "links": [1]}], "links must be a list of strings"),
        ([{"name": "x", "query": "up"}, {"name": "X", "query": "up"}], "is used twice"),
        ("x", "must be an array of tables"),
    ],
)
def test_bad_metric_tables_fail_with_one_clear_line(metrics: Any, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        metric_specs({"metrics": metrics}, "sources.prod", needs_query=True)


def test_metric_table_defaults_and_per_metric_window() -> None:
    specs = metric_specs(
        {"window": "3d", "metrics": [{"name": " a ", "query": "up", "links": "SEARCH-1"}, {
            "name": "b", "query": "up", "window": "1d", "unit": "ms", "scale": 1000, "better": "lower"}]},
        "sources.prod",
        needs_query=True,
    )  # fmt: skip
    assert specs[0] == MetricSpec(name="a", links=("SEARCH-1",), query="up", window=3 * DAY)
    assert (specs[1].window, specs[1].unit, specs[1].scale, specs[1].better) == (DAY, "ms", 1000.0, "lower")


def test_padded_range_covers_every_window_and_stops_at_now() -> None:
    assert padded_range(RANGE, 7 * DAY, NOW) == (RANGE.since - 7 * DAY, RANGE.until + 7 * DAY)
    early = datetime(2026, 11, 20, tzinfo=UTC)
    assert padded_range(RANGE, 7 * DAY, early) == (RANGE.since - 7 * DAY, early)


# ---- before/after ------------------------------------------------------------------------------------


def test_before_after_means_delta_and_percent_by_hand() -> None:
    # before window [T0 - 7d, T0): 168 hourly points alternating 300/340 (mean 320, stdev ~20.06);
    # the work itself (T0..T1) is left out; after window [T1, T1 + 7d): 168 points alternating 210/226.
    samples = hourly(T0 - 7 * DAY, T0, lambda i: 300 if i % 2 == 0 else 340)
    samples += hourly(T0, T1, 999)
    samples += hourly(T1, T1 + 7 * DAY, lambda i: 210 if i % 2 == 0 else 226)
    result = compare_windows(samples, T0, T1, JUDGING, better="lower", now=NOW)
    before = [300.0, 340.0] * 84
    assert (result["before"], result["after"]) == (320.0, 218.0)
    assert result["delta"] == -102.0
    assert result["percent"] == pytest.approx(-31.875)
    assert (result["points_before"], result["points_after"]) == (168, 168)
    assert result["stdev_before"] == pytest.approx(statistics.stdev(before), rel=1e-5)
    assert result["improved"] is True
    assert result["weak"] == []
    assert result["windows"] == {
        "before": [(T0 - 7 * DAY).isoformat(), T0.isoformat()],
        "after": [T1.isoformat(), (T1 + 7 * DAY).isoformat()],
    }


def test_unsorted_samples_with_gaps_give_the_same_answer() -> None:
    samples = hourly(T0 - 7 * DAY, T0, 320) + hourly(T1, T1 + 7 * DAY, 218)
    gappy = [point for i, point in enumerate(samples) if i % 3]  # a third of the points missing
    gappy.reverse()
    result = compare_windows(gappy, T0, T1, JUDGING, better="lower", now=NOW)
    assert (result["before"], result["after"], result["points_before"], result["points_after"]) == (
        320.0, 218.0, 112, 112,
    )  # fmt: skip


def test_a_change_within_two_sigma_of_the_before_window_is_weak() -> None:
    noisy = hourly(T0 - 7 * DAY, T0, lambda i: 300 if i % 2 == 0 else 340)  # σ ≈ 20
    result = compare_windows(noisy + hourly(T1, T1 + 7 * DAY, 310), T0, T1, JUDGING, better="lower", now=NOW)
    assert result["delta"] == -10.0
    assert result["weak"] == ["within noise: |change| 10 < 2σ (40.1) of the before window"]
    strict = compare_windows(
        noisy + hourly(T1, T1 + 7 * DAY, 310), T0, T1, Judging(noise_sigmas=0.4), better="lower", now=NOW
    )
    assert strict["weak"] == []


def test_too_few_points_no_data_and_an_unfinished_after_window_are_weak() -> None:
    sparse = [((T0 - 2 * DAY).timestamp(), 320.0), ((T0 - DAY).timestamp(), 322.0)]
    sparse += [
        ((T1 + DAY).timestamp(), 218.0),
        ((T1 + 2 * DAY).timestamp(), 219.0),
        ((T1 + 3 * DAY).timestamp(), 217.0),
    ]
    result = compare_windows(sparse, T0, T1, JUDGING, better="lower", now=NOW)
    assert result["weak"] == ["too few points: 2 before, 3 after (need 3 each)"]
    assert result["before"] == 321.0

    nothing_after = compare_windows(sparse[:2], T0, T1, JUDGING, better="lower", now=NOW)
    assert (nothing_after["after"], nothing_after["delta"], nothing_after["percent"]) == (None, None, None)
    assert nothing_after["weak"] == ["no data: no points in the after window"]

    early = T1 + 2 * DAY + 12 * HOUR
    unfinished = compare_windows(
        hourly(T0 - 7 * DAY, T0, 320) + hourly(T1, early, 218), T0, T1, JUDGING, better="lower", now=early
    )
    assert unfinished["weak"] == ["after window not over: 2.5 days of 7 days elapsed"]


def test_percent_is_none_from_zero_and_direction_follows_better() -> None:
    samples = hourly(T0 - 7 * DAY, T0, 0) + hourly(T1, T1 + 7 * DAY, 5)
    result = compare_windows(samples, T0, T1, JUDGING, better="higher", now=NOW)
    assert (result["delta"], result["percent"], result["improved"]) == (5.0, None, True)
    assert compare_windows(samples, T0, T1, JUDGING, better="lower", now=NOW)["improved"] is False
    assert compare_windows(samples, T0, T1, JUDGING, better=None, now=NOW)["improved"] is None


# ---- linking -----------------------------------------------------------------------------------------


def project(pid: str, items: list[Evidence], keys: list[str] | None = None, **kw: Any) -> Project:
    repos = sorted({e.repo for e in items if e.repo})
    return Project(pid, pid, [e.id for e in items], keys=keys or [], repos=repos, **kw)


@pytest.mark.parametrize(
    ("links", "reason"),
    [
        (["SEARCH-1"], "link SEARCH-1"),
        (["search-1"], "link search-1"),
        (["acme/search"], "link acme/search"),
        (["search"], "link search"),
        (["perf"], "link perf"),
        (["SEARCH-EPIC"], "link SEARCH-EPIC"),
        (["checkout"], "link checkout"),
        (["OTHER-9", "acme/web"], ""),
    ],
)
def test_metrics_link_by_ticket_epic_repository_label_or_service(links: list[str], reason: str) -> None:
    item = commit("a1", "SEARCH-1: cache segments", T0)
    item.labels = ["perf"]
    item.extra.update(epic="SEARCH-EPIC", components=["checkout"])
    assert (
        link_reason("search p95 latency", links, project("search-1", [item], ["SEARCH-1"]), [item]) == reason
    )


def test_metrics_link_by_a_metric_line_in_the_work() -> None:
    item = commit(
        "a1", "Cache segments", T0, body="Moves merges off the path.\n\nMetric: `Search P95 Latency`, qps\n"
    )
    found = link_reason("search p95 latency", [], project("p", [item]), [item])
    assert found == "`Metric: search p95 latency` in git:acme/search@a1"
    assert link_reason("qps", [], project("p", [item]), [item]).startswith("`Metric: qps`")
    assert link_reason("errors", [], project("p", [item]), [item]) == ""


def test_attach_metrics_compares_each_linked_project_and_lists_claims() -> None:
    first = commit("a1", "SEARCH-1: move merges off the request path", T0, "p95 from 320 ms to 218 ms")
    last = commit("a2", "SEARCH-1: cache merged segments", T1)
    other = commit("b1", "BILL-7: new invoices", T0, repo="acme/billing")
    samples = hourly(T0 - 7 * DAY, T0, 320) + hourly(T1, T1 + 7 * DAY, 218)
    latency = metric_row("search p95 latency", samples, links=("SEARCH-1",), unit="ms", better="lower")
    orphan = metric_row("signups", samples, links=("GROWTH-1",))
    projects = [project("search-1", [first, last], ["SEARCH-1"]), project("bill-7", [other], ["BILL-7"])]
    attached = attach_metrics(projects, [first, last, other, latency, orphan], now=NOW)
    search, billing = attached
    assert search.evidence_ids == [first.id, last.id, latency.id]
    measured, claimed = search.metrics
    assert measured["source"] == "measured" and claimed["source"] == "claimed"
    assert (measured["name"], measured["unit"], measured["before"], measured["after"]) == (
        "search p95 latency", "ms", 320.0, 218.0,
    )  # fmt: skip
    assert (measured["delta"], measured["percent"], measured["link"]) == (-102.0, -31.875, "link SEARCH-1")
    assert measured["evidence_id"] == latency.id
    assert (claimed["text"], claimed["evidence_id"]) == ("p95 from 320 ms to 218 ms", first.id)
    assert billing.metrics == [] and billing.evidence_ids == [other.id]
    assert unlinked_metrics(attached, [first, last, other, latency, orphan]) == [orphan]


def test_metric_entries_hold_exactly_the_keys_their_types_declare() -> None:
    """``Project.metrics`` is typed (``impact_miner.model.Metric``): the entries attach_metrics makes have
    the declared keys, no more and no fewer, in the order the report JSON has always shown them."""
    first = commit("a1", "SEARCH-1: move merges off the request path", T0, "p95 from 320 ms to 218 ms")
    last = commit("a2", "SEARCH-1: cache merged segments", T1)
    samples = hourly(T0 - 7 * DAY, T0, 320) + hourly(T1, T1 + 7 * DAY, 218)
    latency = metric_row("search p95 latency", samples, links=("SEARCH-1",), unit="ms", better="lower")
    projects = [project("search-1", [first, last], ["SEARCH-1"])]
    (search,) = attach_metrics(projects, [first, last, latency], now=NOW)
    measured, claimed = search.metrics
    assert list(measured) == [
        "name", "unit", "better", "before", "after", "delta", "percent", "improved", "points_before",
        "points_after", "stdev_before", "window_days", "windows", "weak", "link", "source", "evidence_id",
    ]  # fmt: skip
    assert set(measured) == MeasuredMetric.__required_keys__
    assert set(claimed) == ClaimedMetric.__required_keys__
    assert set(measured["windows"]) == MetricWindows.__required_keys__


def test_rows_of_one_metric_from_saved_runs_merge_into_one_series() -> None:
    first = commit("a1", "SEARCH-1: merges", T0)
    last = commit("a2", "SEARCH-1: cache", T1)
    earlier = metric_row("latency", hourly(T0 - 7 * DAY, T0, 320), links=("SEARCH-1",))
    later = metric_row("latency", hourly(T1, T1 + 7 * DAY, 218), links=("acme/search",))
    later.id = "metric:latency@2026-11-08..2026-12-08"  # another run's window
    (search,) = attach_metrics(
        [project("search-1", [first, last], ["SEARCH-1"])], [first, last, earlier, later], now=NOW
    )
    (measured,) = search.metrics
    assert (measured["before"], measured["after"], measured["points_before"], measured["points_after"]) == (
        320.0, 218.0, 168, 168,
    )  # fmt: skip
    assert search.evidence_ids == [first.id, last.id, earlier.id, later.id]


def test_two_projects_on_one_metric_with_overlapping_windows_are_weak() -> None:
    a = commit("a1", "SEARCH-1: merges", T0)
    b = commit("b1", "SEARCH-2: cache", T0 + 3 * DAY)  # lands inside SEARCH-1's after window
    samples = hourly(T0 - 7 * DAY, T0 + 14 * DAY, 100)
    latency = metric_row("latency", samples, links=("acme/search",))
    attached = attach_metrics([project("search-1", [a]), project("search-2", [b])], [a, b, latency], now=NOW)
    assert [p.metrics[0]["weak"] for p in attached] == [
        ["overlapping windows: other work linked to this metric landed inside them (search-2)"],
        ["overlapping windows: other work linked to this metric landed inside them (search-1)"],
    ]


def test_maintenance_gets_no_metrics_and_unlinked_ones_are_noted_in_coverage() -> None:
    chore = commit("c1", "Bump lodash from 4.17 to 4.18 in acme/search", T0)
    latency = metric_row("latency", hourly(T0 - DAY, T0 + DAY, 1), links=("acme/search",))
    (maintenance,) = attach_metrics(
        [project("maintenance", [chore], maintenance=True)], [chore, latency], now=NOW
    )
    assert maintenance.metrics == []
    coverage = [
        SourceReport("kpis", "ok", 1, "1 metric from kpis.csv", "metrics-file"),
        SourceReport("git", "ok"),
    ]
    noted = note_unlinked(coverage, unlinked_metrics([maintenance], [chore, latency]))
    assert noted[0].status == "ok"
    assert noted[0].detail == (
        "1 metric from kpis.csv; not linked to any project: latency (links: acme/search) — add `links` that "
        "name the work, or a `Metric: NAME` line to a pull request, ticket or commit"
    )
    assert noted[1] == coverage[1]


# ---- numbers as printed, facts, statements, verification ---------------------------------------------


@pytest.mark.parametrize(
    ("value", "shown"),
    [(320.0, "320"), (218.4, "218"), (218.5, "219"), (12345.6, "12,346"), (21.84, "21.8"), (2.185, "2.19"),
     (0.000123456, "0.000123"), (0.0, "0"), (-102.0, "-102")],
)  # fmt: skip
def test_numbers_print_with_three_significant_digits_and_never_an_exponent(value: float, shown: str) -> None:
    assert format_number(value) == shown


def test_percentages_and_windows_as_printed() -> None:
    assert [format_percent(p) for p in (-31.875, 3.45, -0.04, 250.0)] == ["32%", "3.5%", "0%", "250%"]
    assert (rounded(31.875), rounded_percent(31.875), rounded_percent(9.95)) == (31.9, 32, 10)
    assert [format_window(d) for d in (7 * DAY, DAY, 36 * HOUR, 60 * HOUR, 45 * timedelta(minutes=1))] == [
        "7 days", "1 day", "36 hours", "2.5 days", "45 minutes",
    ]  # fmt: skip


def search_project(
    samples: list[tuple[float, float]], better: str = "lower"
) -> tuple[Project, list[Evidence]]:
    first = commit("a1", "SEARCH-1: move index merges off the request path", T0, "p95 from 320 ms to 218 ms")
    last = commit("a2", "SEARCH-1: cache merged segments", T1)
    latency = metric_row("search p95 latency", samples, links=("SEARCH-1",), unit="ms", better=better)
    evidence = [first, last, latency]
    (attached,) = attach_metrics([project("search-1", [first, last], ["SEARCH-1"])], evidence, now=NOW)
    return attached, evidence


def test_facts_carry_the_measured_numbers_as_printed_and_not_the_metric_row() -> None:
    search, evidence = search_project(hourly(T0 - 7 * DAY, T0, 320) + hourly(T1, T1 + 7 * DAY, 218))
    facts = project_facts(search, evidence)
    assert facts["commits"] == 2 and facts["items"] == 2 and "metrics" not in facts
    assert (facts["first_date"], facts["last_date"]) == ("2026-11-10", "2026-11-12")
    assert {k: v for k, v in facts.items() if k.startswith("measured.")} == {
        "measured.1.window_days": 7,
        "measured.1.before": 320,
        "measured.1.after": 218,
        "measured.1.delta": 102,
        "measured.1.percent": 32,
        "measured.1.percent_1dp": 31.9,
    }
    assert kind_counts(facts) == [("commits", 2)]
    assert metric_facts(search.metrics) == {k: v for k, v in facts.items() if k.startswith("measured.")}


def test_the_offline_statement_leads_with_the_measured_outcome_and_quotes_the_claim() -> None:
    search, evidence = search_project(hourly(T0 - 7 * DAY, T0, 320) + hourly(T1, T1 + 7 * DAY, 218))
    facts = project_facts(search, evidence)
    statement = offline_statement(search, evidence, facts)
    assert statement == (
        "Reduced search p95 latency 32% (320 ms → 218 ms, measured 7 days before/after): work on SEARCH-1 "
        "across 2 commits (+20/−4 lines) in acme/search between 2026-11-10 and 2026-11-12: “Move index "
        "merges off the request path” (+10/−2) and “Cache merged segments” (+10/−2) [SEARCH-1]. Author "
        'reports "p95 from 320 ms to 218 ms" (claimed).'
    )
    assert verify_statement(statement, search.evidence_ids, search, evidence, facts) == []


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("Reduced search p95 latency 31.9% (320 ms → 218 ms).", None),
        ("Reduced search p95 latency 32% (320 ms → 218 ms) over 7 days.", None),
        ("Reduced search p95 latency 33% (320 ms → 218 ms).", "33"),
        ("Reduced search p95 latency 32% (320 ms → 210 ms).", "210"),
        ("Reduced search p95 latency by 102 ms.", None),
        ("Reduced search p95 latency by 103 ms.", "103"),
    ],
)
def test_the_verifier_accepts_computed_numbers_only(text: str, problem: str | None) -> None:
    search, evidence = search_project(hourly(T0 - 7 * DAY, T0, 319.6) + hourly(T1, T1 + 7 * DAY, 217.8))
    problems = verify_statement(text, search.evidence_ids, search, evidence, project_facts(search, evidence))
    assert problems == (
        [] if problem is None else [f"number not in this project's evidence or facts: {problem}"]
    )


def test_weak_and_regressed_results_are_labelled() -> None:
    noisy = hourly(T0 - 7 * DAY, T0, lambda i: 300 if i % 2 == 0 else 340)
    search, evidence = search_project(noisy + hourly(T1, T1 + 7 * DAY, 310))
    statement = offline_statement(search, evidence, project_facts(search, evidence))
    assert statement.startswith(
        "Reduced search p95 latency 3.1% (320 ms → 310 ms, measured 7 days before/after; "
        "weak: within noise): "
    )
    worse, evidence = search_project(hourly(T0 - 7 * DAY, T0, 200) + hourly(T1, T1 + 7 * DAY, 230))
    facts = project_facts(worse, evidence)
    statement = offline_statement(worse, evidence, facts)
    assert statement.startswith("Work on SEARCH-1 across 2 commits")  # neither commit holds most of it
    assert (
        " Measured: search p95 latency rose 15% (200 ms → 230 ms, measured 7 days before/after)." in statement
    )
    assert verify_statement(statement, worse.evidence_ids, worse, evidence, facts) == []


def test_the_markdown_report_shows_a_metrics_table_and_json_the_metrics() -> None:
    search, evidence = search_project(hourly(T0 - 7 * DAY, T0, 320) + hourly(T1, T1 + 7 * DAY, 218))
    (written,) = write_statements([search], evidence)
    report = Report(Person("Ada"), RANGE, Writer(), [], [written], assign_projects(evidence, [written]))
    markdown = render_markdown(report)
    assert "| Metric | Before | After | Change | Source | Weak |\n|---|---|---|---|---|---|\n" in markdown
    assert (
        "| search p95 latency | 320 ms | 218 ms | −102 ms (−32%) | measured, 7 days before/after, "
        "168/168 points |  |" in markdown
    )
    assert (
        "| p95 | 320 ms | 218 ms | −102 ms (−32%) | claimed in git:acme/search@a1: "
        '"p95 from 320 ms to 218 ms" |  |' in markdown
    )
    assert table_cells(written.metrics[0])[0] == "search p95 latency"
    data = json.loads(render_json(report))
    assert [m["source"] for m in data["projects"][0]["metrics"]] == ["measured", "claimed"]
    assert data["projects"][0]["verified"] is True


def test_link_projects_keeps_metric_rows_out_of_grouping_and_lists_each_row_once() -> None:
    work = [commit("a1", "SEARCH-1: merges", T0), commit("a2", "SEARCH-1: more", T0 + HOUR)]
    work += [commit("b1", "SEARCH-2: cache", T1 + 9 * DAY), commit("b2", "SEARCH-2: more", T1 + 10 * DAY)]
    samples = hourly(RANGE.since - 7 * DAY, RANGE.until, 5)
    both = metric_row("latency", samples, links=("acme/search",))
    orphan = metric_row("signups", samples, links=("GROWTH-1",))
    coverage = [SourceReport("kpis", "ok", 2, "2 metrics from kpis.csv", "metrics-file")]
    projects, noted = link_projects([*work, both, orphan], coverage, NOW)
    assert sorted(p.id for p in projects) == ["search-1", "search-2"]
    assert all(both.id in p.evidence_ids for p in projects)
    listed = assign_projects([*work, both, orphan], projects)
    assert [e.id for e in listed].count(both.id) == 1
    assert (listed[-1].id, listed[-1].project_id) == (orphan.id, None)
    assert "not linked to any project: signups (links: GROWTH-1)" in noted[0].detail
