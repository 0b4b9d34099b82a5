"""The HTML report: one self-contained page, made to be attached to a review or printed.

No scripts, fonts, images or stylesheets are fetched: the CSS is inline, the timeline is inline SVG,
and a Content-Security-Policy meta tag forbids anything else, so even a mistake in escaping could not
run code or reach the network. Every piece of untrusted text goes through Jinja2's autoescaping, and
only absolute http(s) URLs become links (``rel="noopener noreferrer"``).

The template (``templates/report.html.j2``) only formats; the figures come from
:func:`impact_miner.render.views.report_summary` and the chart geometry from :func:`timeline_chart`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime

from impact_miner import __version__
from impact_miner.metrics import TABLE_HEADER, table_cells
from impact_miner.model import Report
from impact_miner.render.templates import report_templates
from impact_miner.render.views import (
    GroupBy,
    ReportSummary,
    group_statements,
    http_url,
    range_label,
    report_summary,
)
from impact_miner.terminal import terminal_text

# Series colours (Okabe-Ito hues darkened): each has at least 3:1 contrast on white, as WCAG asks of
# graphical objects, and they stay distinct under the common colour-vision deficiencies.
PALETTE = ("#1f5fa8", "#b3461b", "#1b7a4c", "#7a3f9d", "#806600", "#1d7785", "#a3305f", "#5c5c5c")
MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


@dataclass(frozen=True)
class Segment:
    """One source's part of one week's bar, in SVG user units."""

    x: float
    y: float
    width: float
    height: float
    colour: str
    label: str


@dataclass(frozen=True)
class Tick:
    position: float
    label: str


@dataclass(frozen=True)
class Chart:
    """The stacked-bar timeline, laid out in a ``width`` × ``height`` viewBox."""

    width: int
    height: int
    plot_left: float
    plot_right: float
    plot_top: float
    plot_bottom: float
    segments: tuple[Segment, ...]
    y_ticks: tuple[Tick, ...]
    x_labels: tuple[Tick, ...]
    legend: tuple[tuple[str, str], ...]
    description: str


def timeline_chart(summary: ReportSummary, width: int = 720, height: int = 240) -> Chart:
    """Lay out evidence per week by source as stacked bars, with axis ticks and a text description."""
    left, right, top, bottom = 40.0, width - 10.0, 12.0, height - 28.0
    weeks = summary.weeks
    colours = {source: PALETTE[i % len(PALETTE)] for i, source in enumerate(summary.sources)}
    highest = max((w.total for w in weeks), default=0)
    step = max(1, math.ceil(highest / 4))
    top_value = max(step, step * math.ceil(highest / step))
    scale = (bottom - top) / top_value
    slot = (right - left) / max(1, len(weeks))
    bar = min(slot * 0.7, 56.0)
    segments: list[Segment] = []
    for index, week in enumerate(weeks):
        y = bottom
        for source, count in zip(summary.sources, week.counts, strict=True):
            if not count:
                continue
            h = count * scale
            y -= h
            label = f"Week of {week.start.isoformat()} ({week.label}): {count} from {source}"
            segments.append(
                Segment(left + index * slot + (slot - bar) / 2, y, bar, h, colours[source], label)
            )
    y_ticks = tuple(Tick(bottom - v * scale, str(v)) for v in range(0, top_value + 1, step))
    every = max(1, math.ceil(len(weeks) / 10))
    x_labels = tuple(
        Tick(left + i * slot + slot / 2, f"{MONTHS[w.start.month - 1]} {w.start.day}")
        for i, w in enumerate(weeks)
        if i % every == 0
    )
    busy = [w for w in weeks if w.total]
    per_week = "; ".join(
        f"week of {w.start.isoformat()}: "
        + ", ".join(f"{c} {s}" for s, c in zip(summary.sources, w.counts, strict=True) if c)
        for w in busy
    )
    description = f"{summary.items} evidence items over {len(weeks)} weeks" + (
        f", busiest week {max(busy, key=lambda w: w.total).start.isoformat()}. {per_week}." if busy else "."
    )
    return Chart(
        width, height, left, right, top, bottom, tuple(segments), y_ticks, x_labels,
        tuple(colours.items()), description,
    )  # fmt: skip


def render_html(report: Report, group_by: GroupBy = "project") -> str:
    """The report as one self-contained HTML5 document."""
    env = report_templates(autoescape=True)
    env.filters["href"] = http_url
    env.filters["when"] = _when
    env.filters["day"] = lambda moment: moment.astimezone(report.range.since.tzinfo).strftime("%Y-%m-%d")
    env.filters["words"] = lambda name: str(name).replace("_", " ")
    env.filters["metric_cells"] = table_cells
    env.globals["metric_header"] = TABLE_HEADER
    summary = report_summary(report)
    title = f"Impact report: {report.person.name}" if report.person.name else "Impact report"
    identities = [
        (source, value if isinstance(value, str) else ", ".join(value))
        for source, value in report.person.identities().items()
    ]
    page = env.get_template("report.html.j2").render(
        report=report,
        title=title,
        range_label=range_label(report),
        identities=identities,
        summary=summary,
        chart=timeline_chart(summary),
        groups=group_statements(report, group_by),
        by_competency=group_by == "competency",
        version=__version__,
    )
    return terminal_text(page)


def _when(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M %z")
