"""Metric time series from a CSV or JSON file: KPIs exported from a dashboard, a spreadsheet, a cron job.

Configuration::

    [sources.kpis]
    type = "metrics-file"
    path = "kpis.csv"            # .csv or .json (else sniffed); ~ is expanded; relative to the cwd
    window = "7d"                # before/after window around each project's work (default 7d)
    min_points = 3               # fewer points on a side marks a result weak (default 3)
    noise_sigmas = 2             # a change under this many σ of the before window is weak (default 2)

    [[sources.kpis.metrics]]     # optional: settings for a metric of the file, matched by name
    name = "checkout conversion"
    unit = "%"                   # overrides the file's unit column
    scale = 100                  # multiplier into the unit (0.031 → 3.1 %)
    better = "higher"            # or "lower"; lets statements say "Increased"/"Reduced"
    links = ["SHOP-12", "acme/web"]   # ticket keys, epics, repositories, labels, services
    window = "14d"               # per-metric window

File shapes (``timestamp`` may also be called ``date`` or ``time``):

- **CSV, one sample per row**, with a header: ``metric,timestamp,value[,unit][,links]``; ``links`` holds
  link values separated by ``;``, ``,`` or spaces. Rows may come in any order; an empty value is a gap.
- **CSV snapshots**: a header ``date,<metric>,<metric>,...`` and one row per dated snapshot; an empty
  cell is a gap.
- **JSON**: a list (or an object with ``samples``, ``snapshots``, ``series`` or ``data`` lists) of
  samples ``{"metric", "timestamp", "value", "unit"?, "links"?}``, snapshots
  ``{"date", "values": {"<metric>": 3.1 | {"value": 3.1, "unit": "%"}}}`` or whole series
  ``{"metric", "unit"?, "links"?, "points": [[timestamp, value], ...]}``.

Timestamps are ISO 8601 dates (midnight) or datetimes, or epoch seconds (milliseconds above 10¹¹);
without an offset they are in the run's time zone. Only samples in ``[since − window, until + window)``
are kept. Each metric with samples there becomes one evidence row ``metric:<name>@<start>..<end>`` whose
url is the file's absolute path; metrics link to projects as :mod:`impact_miner.metrics` describes
(config ``links``, the file's ``links`` column, or a ``Metric: NAME`` line in the work's text).

Errors: a missing or unreadable file, invalid JSON (with its line and column), or a file with no usable
rows fails the source; bad rows (with their line numbers, or item numbers in JSON) are skipped and mark
it partial; a configured metric the file does not have marks it partial.
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, tzinfo
from pathlib import Path
from typing import Any

from impact_miner.errors import ConfigError, SourceError
from impact_miner.metrics import (
    Judging,
    MetricSpec,
    judging_of,
    metric_evidence,
    metric_specs,
    padded_range,
)
from impact_miner.model import Evidence, FetchResult, Person, SourceReport, SourceSection, TimeRange
from impact_miner.registry import Connector, FetchContext

TIME_COLUMNS = ("timestamp", "date", "time", "datetime")
WRAPPERS = ("samples", "snapshots", "series", "data")
LINK_SEPARATORS = re.compile(r"[;,\s]+")
EPOCH_MILLISECONDS = 1e11
MAX_PROBLEMS_SHOWN = 3


@dataclass
class _Parsed:
    """What a file holds: samples by metric name, units and links seen, and the rows that failed."""

    samples: dict[str, list[tuple[float, float]]] = field(default_factory=dict)
    units: dict[str, str] = field(default_factory=dict)
    links: dict[str, list[str]] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    rows: int = 0

    def add(self, name: str, moment: datetime, value: float, unit: str = "", links: Any = None) -> None:
        name = name.strip()
        self.samples.setdefault(name, []).append((moment.timestamp(), value))
        if unit and name not in self.units:
            self.units[name] = unit
        for link in _links(links):
            if link not in self.links.setdefault(name, []):
                self.links[name].append(link)


def check(section: SourceSection) -> None:
    """Validate the section: a ``path``, a valid window, well-formed ``[[metrics]]`` tables."""
    where = f"sources.{section.name}"
    path = section.get("path")
    if not isinstance(path, str) or not path.strip():
        raise ConfigError(f'[{where}] needs a `path` to a CSV or JSON file, e.g. path = "kpis.csv"')
    judging_of(section.options, where)
    metric_specs(section.options, where, needs_query=False)


def fetch(
    person: Person, time_range: TimeRange, section: SourceSection, context: FetchContext
) -> FetchResult:
    """Read the file and return one metric evidence row per metric with samples in the padded range."""
    check(section)
    where = f"sources.{section.name}"
    judging = judging_of(section.options, where)
    configured = {
        spec.name.casefold(): spec for spec in metric_specs(section.options, where, needs_query=False)
    }
    path = Path(str(section.get("path"))).expanduser().absolute()
    tz = time_range.since.tzinfo or UTC
    parsed = parse_file(path, tz)
    if not parsed.samples:
        reasons = "; ".join(parsed.problems[:MAX_PROBLEMS_SHOWN])
        raise SourceError(f"{path.name}: no usable samples" + (f" ({reasons})" if reasons else ""))

    evidence: list[Evidence] = []
    summaries: list[str] = []
    outside = 0
    for name, samples in sorted(parsed.samples.items(), key=lambda pair: pair[0].casefold()):
        spec = _spec_for(name, configured.get(name.casefold()), parsed, judging.window)
        start, end = padded_range(time_range, spec.window, context.now)
        kept = [(t, v * spec.scale) for t, v in samples if start.timestamp() <= t < end.timestamp()]
        outside += len(samples) - len(kept)
        if not kept:
            summaries.append(f"{name}: no points in range")
            continue
        summaries.append(f"{name}: {len(kept)} points")
        evidence.append(
            metric_evidence(
                spec,
                kept,
                source_type="metrics-file",
                section_name=section.name,
                start=start,
                end=end,
                url=str(path),
                body=f"From {path.name}.",
                judging=Judging(spec.window, judging.min_points, judging.noise_sigmas),
                time_range=time_range,
                extra={"path": str(path)},
            )
        )
    present = {name.casefold() for name in parsed.samples}
    missing = [spec.name for key, spec in configured.items() if key not in present]
    problems = [*parsed.problems, *(f"metric {name!r} is configured but not in the file" for name in missing)]
    parts = [f"{len(evidence)} {'metric' if len(evidence) == 1 else 'metrics'} from {path.name}", *summaries]
    if outside:
        parts.append(f"{outside} samples outside the range left out")
    if problems:
        more = len(problems) - MAX_PROBLEMS_SHOWN
        parts.append("; ".join(problems[:MAX_PROBLEMS_SHOWN]) + (f"; and {more} more" if more > 0 else ""))
    report = SourceReport(
        source=section.name,
        status="partial" if problems else "ok",
        items=len(evidence),
        detail="; ".join(parts),
        type="metrics-file",
    )
    return FetchResult(evidence=evidence, report=report)


def parse_file(path: Path, tz: tzinfo) -> _Parsed:
    """Samples of a CSV or JSON metrics file; naive timestamps are in ``tz``. Raises SourceError."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise SourceError(f"metrics file {path} does not exist; fix `path` or create the file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise SourceError(f"metrics file {path} cannot be read: {exc}") from None
    if not text.strip():
        raise SourceError(f"metrics file {path} is empty; it needs a header row and samples")
    suffix = path.suffix.lower()
    is_json = suffix == ".json" or (suffix != ".csv" and text.lstrip()[:1] in ("[", "{"))
    return parse_json(text, path.name, tz) if is_json else parse_csv(text, path.name, tz)


def parse_csv(text: str, name: str, tz: tzinfo) -> _Parsed:
    """Samples of a CSV in long (``metric,timestamp,value``) or snapshot (``date,<metric>...``) form."""
    parsed = _Parsed()
    reader = csv.reader(io.StringIO(text))
    header = [column.strip() for column in next(reader, [])]
    lower = [column.lower() for column in header]
    time_column = next((lower.index(c) for c in TIME_COLUMNS if c in lower), None)
    if time_column is None:
        raise SourceError(
            f"{name} line 1: no timestamp column; the header must be metric,timestamp,value[,unit][,links] "
            "or date,<metric>,<metric>,..."
        )
    long_form = "metric" in lower and "value" in lower
    for row in reader:
        line = reader.line_num
        if not any(cell.strip() for cell in row):
            continue
        parsed.rows += 1
        cells = {lower[i]: cell.strip() for i, cell in enumerate(row) if i < len(lower)}
        try:
            moment = parse_time(row[time_column] if time_column < len(row) else "", tz)
            if long_form:
                if not cells.get("metric"):
                    raise ValueError("empty metric name")
                value = _value(cells.get("value", ""))
                if value is not None:
                    parsed.add(cells["metric"], moment, value, cells.get("unit", ""), cells.get("links"))
                continue
            for i, column in enumerate(header):
                if i == time_column or not column or i >= len(row):
                    continue
                value = _value(row[i])
                if value is not None:
                    parsed.add(column, moment, value)
        except ValueError as exc:
            parsed.problems.append(f"{name} line {line}: {exc}")
    return parsed


def parse_json(text: str, name: str, tz: tzinfo) -> _Parsed:
    """Samples of a JSON file of samples, snapshots or series (see the module docstring)."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise SourceError(f"{name} line {exc.lineno} column {exc.colno}: invalid JSON: {exc.msg}") from None
    if isinstance(data, dict):
        key = next((k for k in WRAPPERS if isinstance(data.get(k), list)), None)
        if key is None:
            raise SourceError(
                f"{name}: expected a list of samples, or an object with a {', '.join(WRAPPERS)} list"
            )
        data = data[key]
    if not isinstance(data, list):
        raise SourceError(f"{name}: expected a list of samples, snapshots or series")
    parsed = _Parsed()
    for number, item in enumerate(data, 1):
        parsed.rows += 1
        try:
            for metric, moment, value, unit, links in _json_item(item, tz):
                parsed.add(metric, moment, value, unit, links)
        except ValueError as exc:
            parsed.problems.append(f"{name} item {number}: {exc}")
    return parsed


def _json_item(item: Any, tz: tzinfo) -> Iterator[tuple[str, datetime, float, str, Any]]:
    """The (metric, time, value, unit, links) samples of one JSON item; raises ValueError."""
    if not isinstance(item, dict):
        raise ValueError(f"expected an object, got {type(item).__name__}")
    metric = item.get("metric", item.get("name"))
    if "points" in item:
        if not isinstance(metric, str) or not metric.strip():
            raise ValueError("a series needs a `metric` name")
        points = item["points"]
        if not isinstance(points, list):
            raise ValueError("`points` must be a list of [timestamp, value] pairs")
        found = []
        for point in points:
            if not isinstance(point, list | tuple) or len(point) != 2:
                raise ValueError(f"point {point!r} is not a [timestamp, value] pair")
            value = _value(point[1])
            if value is not None:
                found.append(
                    (metric, parse_time(point[0], tz), value, _str(item.get("unit")), item.get("links"))
                )
        yield from found
        return
    moment = parse_time(next((item[c] for c in TIME_COLUMNS if c in item), None), tz)
    values = item.get("values", item.get("metrics"))
    if isinstance(values, dict):
        found = []
        for name, raw in values.items():
            unit = _str(raw.get("unit")) if isinstance(raw, dict) else ""
            value = _value(raw.get("value") if isinstance(raw, dict) else raw)
            if value is not None:
                found.append((str(name), moment, value, unit, None))
        yield from found
        return
    if not isinstance(metric, str) or not metric.strip():
        raise ValueError("a sample needs a `metric` name (or a snapshot needs `values`)")
    value = _value(item.get("value"))
    if value is not None:
        yield metric, moment, value, _str(item.get("unit")), item.get("links")


def parse_time(value: Any, tz: tzinfo) -> datetime:
    """An ISO 8601 date or datetime, or epoch seconds/milliseconds; naive values are in ``tz``."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return _epoch(float(value), tz)
    text = str(value).strip() if isinstance(value, str) else ""
    if not text:
        raise ValueError("missing timestamp")
    if re.fullmatch(r"\d+(?:\.\d+)?", text) and len(text.split(".")[0]) >= 9:
        return _epoch(float(text), tz)
    try:
        moment = datetime.fromisoformat(text.replace(" ", "T", 1) if len(text) > 10 else text)
    except ValueError:
        raise ValueError(
            f"timestamp {text!r} is not an ISO 8601 date or datetime (e.g. 2026-11-20 or "
            "2026-11-20T14:00:00Z) nor epoch seconds"
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=tz)


def _epoch(seconds: float, tz: tzinfo) -> datetime:
    if seconds > EPOCH_MILLISECONDS:
        seconds /= 1000
    return datetime.fromtimestamp(seconds, tz)


def _value(raw: Any) -> float | None:
    """A sample value; ``None`` for a gap (empty, null, NaN); raises ValueError when it is not a number."""
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return None
    if isinstance(raw, bool):
        raise ValueError(f"value {raw!r} is not a number")
    try:
        value = float(raw.replace(",", "") if isinstance(raw, str) else raw)
    except (TypeError, ValueError):
        raise ValueError(f"value {raw!r} is not a number") from None
    return value if math.isfinite(value) else None


def _links(raw: Any) -> list[str]:
    if isinstance(raw, list):
        return [str(link).strip() for link in raw if str(link).strip()]
    if isinstance(raw, str):
        return [link for link in LINK_SEPARATORS.split(raw) if link]
    return []


def _str(raw: Any) -> str:
    return raw.strip() if isinstance(raw, str) else ""


def _spec_for(name: str, configured: MetricSpec | None, parsed: _Parsed, window: timedelta) -> MetricSpec:
    """The metric's settings: the config's, with the file's unit and links filling in."""
    file_links = tuple(parsed.links.get(name, []))
    if configured is None:
        return MetricSpec(name=name, unit=parsed.units.get(name, ""), links=file_links, window=window)
    links = tuple(dict.fromkeys([*configured.links, *file_links]))
    return MetricSpec(
        name=name,
        unit=configured.unit or parsed.units.get(name, ""),
        scale=configured.scale,
        better=configured.better,
        links=links,
        window=configured.window,
    )


connector = Connector(
    type="metrics-file",
    summary="metric time series from a CSV or JSON file, compared before/after linked work",
    fetch=fetch,
    check=check,
    options=frozenset({"type", "enabled", "path", "window", "min_points", "noise_sigmas", "metrics"}),
)
