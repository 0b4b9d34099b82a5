"""The views every renderer shares, computed once in plain Python: templates and renderers only format.

- :func:`group_statements`: the report's projects numbered and laid out by project or by competency.
- :func:`report_summary`: the header's figures (counts by source and kind, evidence per ISO week).
- :func:`http_url`: whether a URL may become a link; :func:`range_label`: the range as people say it.

This module is the bottom of :mod:`impact_miner.render`: it imports no renderer, and every renderer
imports it (views ← renderers ← :mod:`~impact_miner.render.formats` ← :mod:`impact_miner.outputs`).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta, tzinfo
from typing import Literal, get_args
from urllib.parse import urlsplit

from impact_miner.errors import UsageError
from impact_miner.model import Evidence, Project, Report

GroupBy = Literal["project", "competency"]  # the choices: impact_miner.render.formats.GROUP_BY_CHOICES
UNCATEGORISED = "Other contributions"



@dataclass(frozen=True)
class NumberedProject:
    """A project with its number in the report (stable across groupings) and its evidence, in order."""

    number: int
    project: Project
    evidence: tuple[Evidence, ...]

    @property
    def competencies(self) -> list[str]:
        """The project's competencies, tidied (see :func:`project_competencies`)."""
        return project_competencies(self.project)

    @property
    def tags(self) -> list[str]:
        """The competencies as shown: each with the reason the evidence gives for it, where there is one
        (``Insist on the Highest Standards — 5 of 6 commits add or change tests``)."""
        reasons = self.project.competency_reasons
        return [f"{name} — {reasons[name]}" if reasons.get(name) else name for name in self.competencies]


@dataclass(frozen=True)
class StatementGroup:
    """One section of statements: a competency, the uncategorised rest, or (``heading=None``) all."""

    heading: str | None
    competency: str | None
    entries: tuple[NumberedProject, ...]


def group_statements(report: Report, group_by: GroupBy = "project") -> list[StatementGroup]:
    """The report's projects laid out for rendering.

    ``project``: one group without a heading holding every project in report order. ``competency``:
    one group per competency, in order of first appearance (projects come ordered by substance, so
    the competency with the most substantial work leads), a project listed under each of its
    competencies; projects without any go last under :data:`UNCATEGORISED`.
    """
    by_id = {item.id: item for item in report.evidence}
    numbered = [
        NumberedProject(n, p, tuple(by_id[i] for i in p.evidence_ids if i in by_id))
        for n, p in enumerate(report.projects, start=1)
    ]
    if group_by == "project":
        return [StatementGroup(None, None, tuple(numbered))]
    if group_by != "competency":
        raise UsageError(f"unknown grouping {group_by!r}; use one of: {', '.join(get_args(GroupBy))}")
    sections: dict[str, list[NumberedProject]] = {}
    rest: list[NumberedProject] = []
    for entry in numbered:
        names = project_competencies(entry.project)
        for name in names:
            sections.setdefault(name, []).append(entry)
        if not names:
            rest.append(entry)
    groups = [StatementGroup(name, name, tuple(entries)) for name, entries in sections.items()]
    if rest:
        groups.append(StatementGroup(UNCATEGORISED, None, tuple(rest)))
    return groups


def project_competencies(project: Project) -> list[str]:
    """The project's competency names, trimmed, without blanks or repeats, in the writer's order."""
    return list(dict.fromkeys(name.strip() for name in project.competencies if name and name.strip()))


def http_url(url: str) -> str | None:
    """``url`` if it is an absolute http(s) URL a reader may follow, else None (shown as plain text)."""
    if not url or any(ch.isspace() or ord(ch) < 32 or ord(ch) == 127 for ch in url):
        return None
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    return url if parts.scheme.lower() in ("http", "https") and parts.netloc else None


@dataclass(frozen=True)
class WeekCount:
    """Evidence completed in one ISO week, by source (in :attr:`ReportSummary.sources` order)."""

    year: int
    week: int
    start: date
    counts: tuple[int, ...]

    @property
    def label(self) -> str:
        return f"{self.year}-W{self.week:02d}"

    @property
    def total(self) -> int:
        return sum(self.counts)


@dataclass(frozen=True)
class ReportSummary:
    """The figures a report's header shows; computed once, formatted by each renderer."""

    items: int
    projects: int
    verified: int
    by_source: tuple[tuple[str, int], ...]
    by_kind: tuple[tuple[str, int], ...]
    weeks: tuple[WeekCount, ...]

    @property
    def sources(self) -> tuple[str, ...]:
        return tuple(source for source, _ in self.by_source)


def report_summary(report: Report) -> ReportSummary:
    """Counts by source and kind, projects, verified statements, and evidence per ISO week by source.

    Weeks are those of the report's time zone (the zone of ``range.since``) and cover the whole range,
    empty weeks included, so the timeline shows gaps honestly.
    """
    sources = Counter(item.source for item in report.evidence)
    kinds = Counter(item.kind for item in report.evidence)
    by_source = tuple(sorted(sources.items(), key=lambda pair: (-pair[1], pair[0])))
    order = [source for source, _ in by_source]
    zone = report.range.since.tzinfo
    per_week: dict[tuple[int, int], Counter[str]] = {}
    for item in report.evidence:
        per_week.setdefault(_iso_week(item.completed_at, zone), Counter())[item.source] += 1
    keys = set(per_week) | set(_weeks_between(report.range.since, report.range.until, zone))
    empty: Counter[str] = Counter()
    weeks = tuple(
        WeekCount(
            year, week, date.fromisocalendar(year, week, 1), _counts(per_week.get((year, week), empty), order)
        )
        for year, week in sorted(keys)
    )
    return ReportSummary(
        items=len(report.evidence),
        projects=len(report.projects),
        verified=sum(1 for p in report.projects if p.verified),
        by_source=by_source,
        by_kind=tuple(sorted(kinds.items(), key=lambda pair: (-pair[1], pair[0]))),
        weeks=weeks,
    )


def _counts(counter: Counter[str], order: Sequence[str]) -> tuple[int, ...]:
    return tuple(counter[source] for source in order)


def _iso_week(moment: datetime, zone: tzinfo | None) -> tuple[int, int]:
    calendar = (moment.astimezone(zone) if zone else moment).isocalendar()
    return calendar.year, calendar.week


def _weeks_between(since: datetime, until: datetime, zone: tzinfo | None) -> list[tuple[int, int]]:
    last = until - timedelta(microseconds=1)
    if last < since:
        return []
    first_day = (since.astimezone(zone) if zone else since).date()
    last_day = (last.astimezone(zone) if zone else last).date()
    monday = first_day - timedelta(days=first_day.weekday())
    weeks = []
    while monday <= last_day:
        calendar = monday.isocalendar()
        weeks.append((calendar.year, calendar.week))
        monday += timedelta(weeks=1)
    return weeks


def range_label(report: Report) -> str:
    """The range as people say it: ``2026-11-15 → 2026-11-28`` (last day included), times if not midnight."""
    since, until = report.range.since, report.range.until
    midnight = all(m.time() == datetime.min.time() for m in (since, until))
    if midnight:
        return f"{since:%Y-%m-%d} → {(until - timedelta(days=1)):%Y-%m-%d}"
    return f"{since:%Y-%m-%d %H:%M} → {until:%Y-%m-%d %H:%M %z}"
