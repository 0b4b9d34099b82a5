"""Linked metrics: which measured series belong to which project, and what changed before/after its work.

Metric connectors (``metrics-file``, ``prometheus``) do not know about projects. Each returns one
evidence row of kind ``metric`` per series (built with :func:`metric_evidence`), holding the samples of
the padded range ``[since − window, until + window)`` in ``extra``. After grouping, the pure step
:func:`attach_metrics` links every metric row to the projects it belongs to and compares a window
before each project's first completed item with a window after its last:

- **Linking.** A metric belongs to a project when one of its ``links`` names the project's work — a
  ticket key, epic or parent (``SEARCH-1``), a repository (``acme/search``, or just ``search``), a label,
  a component or service — or when a pull request, ticket or commit of the project has a line
  ``Metric: NAME`` (several names may be separated by commas). Matching ignores case. The Maintenance
  project never gets metrics.
- **Windows.** before = ``[first − window, first)``, after = ``[last, last + window)`` (window default
  7 days). Each side's value is the mean of its samples; ``delta = after − before`` and ``percent =
  delta / before × 100``.
- **Weak results** keep their numbers and say why in ``weak``: too few points (fewer than
  ``min_points``, default 3, on a side), change within noise (``|delta| < noise_sigmas × σ`` of the before
  window, default 2σ), overlapping windows (another project linked to the same metric landed work
  between the start of the before window and the end of the after window), and an after window that
  has not ended yet.
- Quantitative claims in the project's own text (see :mod:`impact_miner.claims`) are listed too, as
  ``source: "claimed"``.

Each entry of ``Project.metrics`` is a JSON-able dict typed :data:`impact_miner.model.Metric`: a
:class:`~impact_miner.model.MeasuredMetric` (``name, unit, better, before, after, delta, percent,
improved, points_before, points_after, stdev_before, window_days, windows, weak, link, source
"measured", evidence_id``) or a :class:`~impact_miner.model.ClaimedMetric` (``source "claimed"``). The
numbers statements print come from :func:`rounded` and :func:`rounded_percent`, and :func:`metric_facts`
hands exactly those to the verifier.
"""

from __future__ import annotations

import math
import re
import statistics
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from impact_miner.config import unknown_key_message
from impact_miner.errors import ConfigError
from impact_miner.model import (
    Evidence,
    MeasuredMetric,
    Metric,
    MetricWindows,
    Project,
    SourceReport,
    TimeRange,
    WindowComparison,
)

DEFAULT_WINDOW = timedelta(days=7)
DEFAULT_MIN_POINTS = 3
DEFAULT_NOISE_SIGMAS = 2.0
BETTER = ("lower", "higher")
METRIC_KEYS = frozenset({"name", "unit", "scale", "better", "links", "window"})  # and query, for queries
FACT_PREFIX = "measured."
DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w|y)", re.I)
DURATION_UNITS = {
    "ms": 0.001,
    "s": 1.0,
    "m": 60.0,
    "h": 3600.0,
    "d": 86400.0,
    "w": 7 * 86400.0,
    "y": 365 * 86400.0,
}
METRIC_LINE = re.compile(r"^[ \t>*-]*metrics?[ \t]*:[ \t]*(?P<names>\S.*?)[ \t]*$", re.I | re.M)
NAME_QUOTES = "\"'`“”‘’*_ "


@dataclass(frozen=True)
class MetricSpec:
    """One configured metric: its name, how to read it (``query`` for Prometheus) and how to judge it."""

    name: str
    unit: str = ""
    scale: float = 1.0
    better: str | None = None
    links: tuple[str, ...] = ()
    query: str = ""
    window: timedelta = DEFAULT_WINDOW


@dataclass(frozen=True)
class Judging:
    """How before/after comparisons of one source are judged."""

    window: timedelta = DEFAULT_WINDOW
    min_points: int = DEFAULT_MIN_POINTS
    noise_sigmas: float = DEFAULT_NOISE_SIGMAS


@dataclass
class _Series:
    """A metric evidence row read back (or several rows of one metric, merged: ``ids``)."""

    item: Evidence
    name: str
    unit: str
    better: str | None
    links: list[str]
    samples: list[tuple[float, float]]
    judging: Judging
    linked: list[str] = field(default_factory=list)
    ids: list[str] = field(default_factory=list)


# ---- configuration shared by the metric connectors ---------------------------------------------------


def parse_duration(value: Any, where: str) -> timedelta:
    """``"7d"``, ``"36h"``, ``"1h30m"``, ``"2w"`` or a number of seconds, as a positive timedelta."""
    if isinstance(value, int | float) and not isinstance(value, bool) and value > 0:
        return timedelta(seconds=float(value))
    text = str(value).strip() if isinstance(value, str) else ""
    parts = DURATION_PART.findall(text)
    if not parts or DURATION_PART.sub("", text).strip():
        raise ConfigError(f'{where}: invalid duration {value!r}; use e.g. "7d", "36h", "1h30m" or "2w"')
    seconds = sum(float(n) * DURATION_UNITS[u.lower()] for n, u in parts)
    if seconds <= 0:
        raise ConfigError(f"{where}: duration {value!r} must be longer than zero")
    return timedelta(seconds=seconds)


def judging_of(options: Mapping[str, Any], where: str) -> Judging:
    """``window``, ``min_points`` and ``noise_sigmas`` of a source section, validated."""
    window = parse_duration(options.get("window", "7d"), f"{where}.window")
    min_points = options.get("min_points", DEFAULT_MIN_POINTS)
    if not isinstance(min_points, int) or isinstance(min_points, bool) or min_points < 1:
        raise ConfigError(f"{where}.min_points must be a whole number of at least 1, e.g. min_points = 3")
    sigmas = options.get("noise_sigmas", DEFAULT_NOISE_SIGMAS)
    if not isinstance(sigmas, int | float) or isinstance(sigmas, bool) or sigmas < 0:
        raise ConfigError(f"{where}.noise_sigmas must be a number of at least 0, e.g. noise_sigmas = 2")
    return Judging(window=window, min_points=min_points, noise_sigmas=float(sigmas))


def metric_spec(raw: Any, where: str, *, needs_query: bool, default_window: timedelta) -> MetricSpec:
    """One ``[[sources.NAME.metrics]]`` table, validated: name, unit, scale, better, links (and query)."""
    if not isinstance(raw, dict):
        raise ConfigError(f'{where} must be a table, e.g. [[sources.prod.metrics]] with name = "..."')
    known = METRIC_KEYS | ({"query"} if needs_query else set())
    for key in raw:
        if key not in known:
            raise ConfigError(f"{where}: {unknown_key_message(key, known, '')}")
    name = raw.get("name")
    if not isinstance(name, str) or not name.strip():
        raise ConfigError(f'{where} needs a `name`, e.g. name = "search p95 latency"')
    query = raw.get("query", "")
    if needs_query and (not isinstance(query, str) or not query.strip()):
        raise ConfigError(f"{where} ({name}) needs a PromQL `query`")
    unit = raw.get("unit", "")
    if not isinstance(unit, str):
        raise ConfigError(f'{where}.unit must be a string, e.g. unit = "ms"')
    scale = raw.get("scale", 1)
    if not isinstance(scale, int | float) or isinstance(scale, bool) or not math.isfinite(scale) or not scale:
        raise ConfigError(f"{where}.scale must be a non-zero number, e.g. scale = 1000 for seconds → ms")
    better = raw.get("better")
    if better is not None and better not in BETTER:
        raise ConfigError(f'{where}.better must be "lower" or "higher", not {better!r}')
    links = raw.get("links", [])
    if isinstance(links, str):
        links = [links]
    if not isinstance(links, list) or not all(isinstance(link, str) for link in links):
        raise ConfigError(
            f'{where}.links must be a list of strings, e.g. links = ["SEARCH-1", "acme/search"]'
        )
    window = parse_duration(raw["window"], f"{where}.window") if "window" in raw else default_window
    return MetricSpec(
        name=name.strip(),
        unit=unit,
        scale=float(scale),
        better=better,
        links=tuple(link.strip() for link in links if link.strip()),
        query=query.strip() if isinstance(query, str) else "",
        window=window,
    )


def metric_specs(options: Mapping[str, Any], where: str, *, needs_query: bool) -> list[MetricSpec]:
    """Every ``[[sources.NAME.metrics]]`` table of a section; names must be unique."""
    raw = options.get("metrics", [])
    if not isinstance(raw, list):
        raise ConfigError(f"{where}.metrics must be an array of tables: [[{where}.metrics]]")
    window = parse_duration(options.get("window", "7d"), f"{where}.window")
    specs = [
        metric_spec(item, f"[[{where}.metrics]] #{n}", needs_query=needs_query, default_window=window)
        for n, item in enumerate(raw, 1)
    ]
    seen: set[str] = set()
    for spec in specs:
        if spec.name.casefold() in seen:
            raise ConfigError(f"{where}: metric name {spec.name!r} is used twice; names must be unique")
        seen.add(spec.name.casefold())
    return specs


def padded_range(time_range: TimeRange, window: timedelta, now: datetime) -> tuple[datetime, datetime]:
    """``[since − window, min(until + window, now))``: every instant a before/after window can need."""
    start = time_range.since - window
    end = min(time_range.until + window, now.astimezone(time_range.until.tzinfo))
    return start, max(end, start)


def metric_evidence(
    spec: MetricSpec,
    samples: Iterable[tuple[float, float]],
    *,
    source_type: str,
    section_name: str,
    start: datetime,
    end: datetime,
    url: str,
    body: str,
    judging: Judging,
    time_range: TimeRange,
    extra: Mapping[str, Any] | None = None,
) -> Evidence:
    """The evidence row of one metric series: ``samples`` are (epoch seconds, value in the unit) pairs.

    Its ``created_at``/``completed_at`` span the samples' range, clipped to ``time_range`` so that the row
    sits inside the report's range like every other item.
    """
    points = sorted((float(t), float(v)) for t, v in samples if math.isfinite(v))
    completed = min(end, time_range.until - timedelta(microseconds=1))
    return Evidence(
        id=f"metric:{spec.name}@{start.date().isoformat()}..{end.date().isoformat()}",
        source=source_type,
        kind="metric",
        title=spec.name,
        url=url,
        completed_at=completed,
        created_at=start,
        body=body,
        extra={
            "source_name": section_name,
            "metric": spec.name,
            "unit": spec.unit,
            "better": spec.better,
            "links": list(spec.links),
            "window_seconds": spec.window.total_seconds(),
            "min_points": judging.min_points,
            "noise_sigmas": judging.noise_sigmas,
            "points": len(points),
            "samples": [[_compact(t), _compact(v)] for t, v in points],
            **(extra or {}),
        },
    )


# ---- the pipeline step -----------------------------------------------------------------------------


def split_metric_rows(evidence: Sequence[Evidence]) -> tuple[list[Evidence], list[Evidence]]:
    """(work, metric rows): grouping sees only the work; metrics are attached to its projects after."""
    return [e for e in evidence if e.kind != "metric"], [e for e in evidence if e.kind == "metric"]


def attach_metrics(
    projects: Sequence[Project], evidence: Sequence[Evidence], *, now: datetime
) -> list[Project]:
    """``projects`` with their linked measured metrics and their claims in ``metrics``.

    Each linked metric row's id is appended to the project's ``evidence_ids`` (so its link is listed and
    may be cited); a metric linked to several projects is compared for each of them. Rows of the same
    metric from the same source (saved runs of other ranges) are merged into one series first.
    """
    from impact_miner.claims import claims_in

    by_id = {item.id: item for item in evidence}
    series = _merged_series([item for item in evidence if item.kind == "metric"])
    work = {
        p.id: [by_id[i] for i in p.evidence_ids if i in by_id and by_id[i].kind != "metric"] for p in projects
    }
    reasons: dict[tuple[str, str], str] = {}
    for metric in series:
        for project in projects:
            reason = (
                ""
                if project.maintenance
                else link_reason(metric.name, metric.links, project, work[project.id])
            )
            if reason:
                reasons[(metric.item.id, project.id)] = reason
                metric.linked.append(project.id)
    attached = []
    for project in projects:
        items = work[project.id]
        found: list[Metric] = []
        ids = list(project.evidence_ids)
        for metric in series:
            why = reasons.get((metric.item.id, project.id), "")
            if not why or not items:
                continue
            others = {other: work[other] for other in metric.linked if other != project.id}
            found.append(_measured(metric, items, others, why, now))
            ids += [i for i in metric.ids if i not in ids]
        if not project.maintenance:
            found += [claim.to_metric() for claim in claims_in(items)]
        attached.append(replace(project, evidence_ids=ids, metrics=[*project.metrics, *found]))
    return attached


def unlinked_metrics(projects: Sequence[Project], evidence: Sequence[Evidence]) -> list[Evidence]:
    """Metric rows that no project links to."""
    linked = {i for p in projects for i in p.evidence_ids}
    return [e for e in evidence if e.kind == "metric" and e.id not in linked]


def note_unlinked(coverage: Sequence[SourceReport], unlinked: Sequence[Evidence]) -> list[SourceReport]:
    """Coverage with each source's unlinked metrics named in its detail (the status is unchanged)."""
    by_source: dict[str, list[str]] = {}
    for item in unlinked:
        links = ", ".join(str(link) for link in item.extra.get("links") or []) or "none"
        by_source.setdefault(str(item.extra.get("source_name") or item.source), []).append(
            f"{item.title} (links: {links})"
        )
    noted = []
    for report in coverage:
        names = by_source.get(report.source)
        if not names:
            noted.append(report)
            continue
        note = (
            f"not linked to any project: {'; '.join(names)} — add `links` that name the work, or a "
            "`Metric: NAME` line to a pull request, ticket or commit"
        )
        noted.append(replace(report, detail=f"{report.detail}; {note}" if report.detail else note))
    return noted


def link_reason(name: str, links: Sequence[str], project: Project, items: Sequence[Evidence]) -> str:
    """Why the metric ``name`` with ``links`` belongs to ``project`` (``"link SEARCH-1"``), or ``""``."""
    from impact_miner.grouping import link_keys

    targets: set[str] = {key.casefold() for key in project.keys}
    for repo in [*project.repos, *(e.repo for e in items if e.repo)]:
        targets.update({repo.casefold(), repo.rsplit("/", 1)[-1].casefold()})
    for item in items:
        targets.update(key.casefold() for key in link_keys(item))
        targets.update(label.casefold() for label in item.labels)
        for key in ("components", "component", "services", "service", "labels", "epic", "parent"):
            value = item.extra.get(key)
            values = value if isinstance(value, list) else [value]
            targets.update(str(v).casefold() for v in values if isinstance(v, str) and v)
    for link in links:
        if link.casefold() in targets:
            return f"link {link}"
    wanted = name.casefold()
    for item in items:
        for match in METRIC_LINE.finditer(f"{item.title}\n{item.body}"):
            names = re.split(r"[,;]", match.group("names"))
            if any(n.strip(NAME_QUOTES).casefold() == wanted for n in names):
                return f"`Metric: {name}` in {item.id}"
    return ""


def compare_windows(
    samples: Sequence[tuple[float, float]],
    first: datetime,
    last: datetime,
    judging: Judging,
    *,
    better: str | None,
    now: datetime,
) -> WindowComparison:
    """Before/after values, delta, percent, point counts and weak reasons for one project's span."""
    window = judging.window
    before_start, before_end = first - window, first
    after_start, after_end = last, last + window
    before = [v for t, v in samples if before_start.timestamp() <= t < before_end.timestamp()]
    after = [v for t, v in samples if after_start.timestamp() <= t < after_end.timestamp()]
    mean_before = statistics.fmean(before) if before else None
    mean_after = statistics.fmean(after) if after else None
    stdev = statistics.stdev(before) if len(before) > 1 else None
    delta = mean_after - mean_before if mean_before is not None and mean_after is not None else None
    percent = delta / mean_before * 100 if delta is not None and mean_before else None
    weak: list[str] = []
    if not before or not after:
        sides = [side for side, values in (("before", before), ("after", after)) if not values]
        weak.append(f"no data: no points in the {' and '.join(sides)} window")
    elif min(len(before), len(after)) < judging.min_points:
        weak.append(
            f"too few points: {len(before)} before, {len(after)} after (need {judging.min_points} each)"
        )
    if delta is not None and stdev is not None and abs(delta) < judging.noise_sigmas * stdev:
        weak.append(
            f"within noise: |change| {_plain(rounded(abs(delta)))} < {_plain(judging.noise_sigmas)}σ "
            f"({_plain(rounded(judging.noise_sigmas * stdev))}) of the before window"
        )
    if after_end > now:
        elapsed = max(timedelta(0), now - after_start)
        weak.append(f"after window not over: {format_window(elapsed)} of {format_window(window)} elapsed")
    windows: MetricWindows = {
        "before": [before_start.isoformat(), before_end.isoformat()],
        "after": [after_start.isoformat(), after_end.isoformat()],
    }
    return {
        "before": _stored(mean_before),
        "after": _stored(mean_after),
        "delta": _stored(delta),
        "percent": _stored(percent),
        "improved": _improved(delta, better),
        "points_before": len(before),
        "points_after": len(after),
        "stdev_before": _stored(stdev),
        "window_days": _stored(window.total_seconds() / 86400),
        "windows": windows,
        "weak": weak,
    }


def _improved(delta: float | None, better: str | None) -> bool | None:
    """Whether the change went the better way; ``None`` when unknown or unchanged."""
    if delta is None or better is None or delta == 0:
        return None
    return (delta < 0) == (better == "lower")


def _measured(
    metric: _Series,
    items: Sequence[Evidence],
    others: Mapping[str, Sequence[Evidence]],
    reason: str,
    now: datetime,
) -> MeasuredMetric:
    first = min(e.completed_at for e in items)
    last = max(e.completed_at for e in items)
    result = compare_windows(metric.samples, first, last, metric.judging, better=metric.better, now=now)
    start, end = first - metric.judging.window, last + metric.judging.window
    overlapping = sorted(p for p, work in others.items() if any(start <= e.completed_at < end for e in work))
    if overlapping:
        result["weak"].append(
            "overlapping windows: other work linked to this metric landed inside them "
            f"({', '.join(overlapping[:3])}{', …' if len(overlapping) > 3 else ''})"
        )
    return {
        "name": metric.name,
        "unit": metric.unit,
        "better": metric.better,
        **result,
        "link": reason,
        "source": "measured",
        "evidence_id": metric.item.id,
    }


def _merged_series(rows: Sequence[Evidence]) -> list[_Series]:
    """One series per (source, metric name): rows of the same metric from different runs (``mine review``
    merges saved runs) are joined, their samples united (a later row wins for the same instant)."""
    merged: dict[tuple[str, str], _Series] = {}
    for item in rows:
        series = _read_series(item)
        key = (str(item.extra.get("source_name") or item.source), series.name.casefold())
        if key not in merged:
            merged[key] = series
            continue
        into = merged[key]
        into.samples = sorted({**dict(into.samples), **dict(series.samples)}.items())
        into.links += [link for link in series.links if link not in into.links]
        into.ids.append(item.id)
    return list(merged.values())


def _read_series(item: Evidence) -> _Series:
    extra = item.extra
    samples = [(float(t), float(v)) for t, v in extra.get("samples") or []]
    better = extra.get("better")
    return _Series(
        item=item,
        name=str(extra.get("metric") or item.title),
        unit=str(extra.get("unit") or ""),
        better=better if better in BETTER else None,
        links=[str(link) for link in extra.get("links") or []],
        samples=sorted(samples),
        judging=Judging(
            window=timedelta(seconds=float(extra.get("window_seconds") or DEFAULT_WINDOW.total_seconds())),
            min_points=int(extra.get("min_points") or DEFAULT_MIN_POINTS),
            noise_sigmas=float(extra.get("noise_sigmas", DEFAULT_NOISE_SIGMAS)),
        ),
        ids=[item.id],
    )


# ---- numbers as statements print them ----------------------------------------------------------------


def rounded(value: float) -> int | float:
    """``value`` as statements print it: whole numbers from 100 up, else 3 significant digits."""
    if not math.isfinite(value):
        return value
    if abs(value) >= 100:
        return int(Decimal(repr(value)).quantize(Decimal(1), rounding=ROUND_HALF_UP))
    if value == 0:
        return 0
    digits = 2 - math.floor(math.log10(abs(value)))
    result = float(Decimal(repr(value)).quantize(Decimal(1).scaleb(-digits), rounding=ROUND_HALF_UP))
    return int(result) if result.is_integer() else result


def rounded_percent(percent: float) -> int | float:
    """A percentage as statements print it: whole from 10 up (``32``), else one decimal (``3.5``)."""
    if not math.isfinite(percent):
        return percent
    places = Decimal(1) if abs(percent) >= 10 else Decimal("0.1")
    result = float(Decimal(repr(percent)).quantize(places, rounding=ROUND_HALF_UP))
    return int(result) if result.is_integer() else result


def format_number(value: float) -> str:
    """``320``, ``12,345``, ``21.8``, ``0.00123`` (never an exponent)."""
    return _plain(rounded(value))


def format_percent(percent: float) -> str:
    """The size of a change in percent, without its sign: ``32%``, ``3.5%``."""
    return f"{_plain(rounded_percent(abs(percent)))}%"


def with_unit(text: str, unit: str) -> str:
    """``320 ms``, ``$320``, ``2%``."""
    if not unit:
        return text
    if unit in ("$", "€", "£"):
        return f"{unit}{text}"
    return f"{text}{unit}" if unit == "%" else f"{text} {unit}"


def format_window(span: timedelta) -> str:
    """``7 days``, ``1 day``, ``2.5 days``, ``36 hours``, ``45 minutes``."""
    seconds = span.total_seconds()
    if (seconds and seconds % 86400 == 0) or seconds >= 2 * 86400:
        size, name = 86400, "day"
    elif (seconds and seconds % 3600 == 0) or seconds >= 2 * 3600:
        size, name = 3600, "hour"
    elif seconds >= 60:
        size, name = 60, "minute"
    else:
        size, name = 1, "second"
    count = rounded(seconds / size)
    return f"{_plain(count)} {name}{'' if count == 1 else 's'}"


def change_text(metric: Mapping[str, Any]) -> str:
    """``320 ms → 218 ms``; ``""`` when a side has no value."""
    before, after = metric.get("before"), metric.get("after")
    if before is None or after is None:
        return ""
    unit = str(metric.get("unit") or "")
    return f"{with_unit(format_number(before), unit)} → {with_unit(format_number(after), unit)}"


def signed_change(metric: Mapping[str, Any]) -> str:
    """``−102 ms (−32%)``, ``+5 (+4.2%)``, ``+0.6 pp (+20%)`` for a percentage; ``""`` without a delta."""
    delta, percent = metric.get("delta"), metric.get("percent")
    if delta is None:
        return ""
    unit = str(metric.get("unit") or "")
    sign = "−" if delta < 0 else "+" if delta > 0 else ""
    text = sign + with_unit(format_number(abs(delta)), "pp" if unit == "%" else unit)  # percentage points
    if percent is not None:
        text += f" ({sign}{format_percent(percent)})"
    return text


def weak_labels(metric: Mapping[str, Any]) -> list[str]:
    """The short labels of a result's weak reasons: ``["too few points", "within noise"]``."""
    return [str(reason).split(":", 1)[0] for reason in metric.get("weak") or []]


TABLE_HEADER = ("Metric", "Before", "After", "Change", "Source", "Weak")


def table_cells(metric: Mapping[str, Any]) -> tuple[str, str, str, str, str, str]:
    """One row of a project's metrics table (:data:`TABLE_HEADER`), as plain text every renderer can use."""
    unit = str(metric.get("unit") or "")
    before, after = metric.get("before"), metric.get("after")
    change = signed_change(metric)
    if metric.get("kind") == "percent" and metric.get("percent") is not None:
        change = " ".join(filter(None, [f"{_plain(metric['percent'])}%", str(metric.get("direction") or "")]))
    elif metric.get("kind") == "factor" and metric.get("factor") is not None:
        change = f"{_plain(metric['factor'])}× {metric.get('direction') or ''}".strip()
    if metric.get("source") == "measured":
        window = format_window(timedelta(days=float(metric.get("window_days") or 7)))
        points = f"{metric.get('points_before', 0)}/{metric.get('points_after', 0)} points"
        source = f"measured, {window} before/after, {points}"
    else:
        source = f'claimed in {metric.get("evidence_id", "")}: "{metric.get("text", "")}"'
    return (
        str(metric.get("name") or ""),
        with_unit(format_number(before), unit) if before is not None else "",
        with_unit(format_number(after), unit) if after is not None else "",
        change,
        source,
        "; ".join(str(reason) for reason in metric.get("weak") or []),
    )


def metric_facts(metrics: Sequence[Mapping[str, Any]]) -> dict[str, int | float]:
    """The numbers of the measured results as statements print them, for the verifier.

    For the n-th measured metric with both values: ``measured.n.before``, ``.after``, ``.delta`` (size),
    ``.percent`` (size, as printed, and ``.percent_1dp`` with one decimal) and ``.window_days``.
    """
    facts: dict[str, int | float] = {}
    measured = [m for m in metrics if m.get("source") == "measured"]
    for n, metric in enumerate(measured, 1):
        prefix = f"{FACT_PREFIX}{n}."
        if metric.get("window_days") is not None:
            facts[prefix + "window_days"] = rounded(float(metric["window_days"]))
        if metric.get("before") is None or metric.get("after") is None:
            continue
        facts[prefix + "before"] = rounded(float(metric["before"]))
        facts[prefix + "after"] = rounded(float(metric["after"]))
        facts[prefix + "delta"] = rounded(abs(float(metric["delta"])))
        if metric.get("percent") is not None:
            facts[prefix + "percent"] = rounded_percent(abs(float(metric["percent"])))
            one_decimal = Decimal(repr(abs(float(metric["percent"])))).quantize(
                Decimal("0.1"), rounding=ROUND_HALF_UP
            )
            facts[prefix + "percent_1dp"] = float(one_decimal)
    return facts


def _plain(value: float) -> str:
    if isinstance(value, int) or (isinstance(value, float) and value.is_integer() and abs(value) < 1e15):
        return f"{int(value):,}"
    return format(Decimal(repr(value)), "f")


def _stored(value: float | None) -> float | None:
    """A computed value for the report: 6 significant digits, so no float noise reaches the JSON."""
    if value is None or not math.isfinite(value):
        return None
    return float(f"{value:.6g}")


def _compact(value: float) -> int | float:
    return int(value) if value.is_integer() and abs(value) < 2**53 else value


def epoch(moment: datetime) -> float:
    """Seconds since the epoch of an aware ``moment`` (naive ones are taken as UTC)."""
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()
