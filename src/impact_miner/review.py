"""``mine review``: one report for a review period, from saved runs plus fresh evidence for the gaps.

The rules, in order:

- **Runs used**: the saved runs of the same person (:func:`impact_miner.journal.same_person`) whose
  range overlaps the period.
- **Coverage**: a source (by section name) is covered over ``[since, min(until, saved at))`` of every
  used run whose coverage for it was ``ok`` or ``skipped``; a run never covers time after it ran. What
  the runs leave uncovered is a gap for that source, and only the gaps are fetched, each gap with one
  call of the source's connector. A source no saved run covered is fetched for the whole period.
- **Evidence**: the latest stored version of every saved item completed in the period, plus what the
  gaps brought (a fresh copy wins), each id once.
- **Projects and statements**: the merged evidence goes through the normal pipeline
  (:func:`impact_miner.pipeline.build_report`), so :func:`impact_miner.grouping.group_projects` joins
  work from different runs that shares a project key (ticket, pull request, sha, epic), and the
  configured writer writes the merged projects' statements.
- **Edits**: an edited statement replaces the written one for the review project whose evidence holds
  *every* item the statement was written for. When several edits qualify for one project, the one
  written for the most evidence wins, then the most recently edited. An edit whose items are no
  longer in one project (outside the period, or split by the grouping) is not used, and the review
  says so. Edited statements are verified against their project like any other.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime

from impact_miner.errors import MineError
from impact_miner.journal import Journal, SavedRun, SavedStatement, same_person
from impact_miner.model import (
    Evidence,
    FetchResult,
    Person,
    Project,
    Report,
    SourceReport,
    SourceSection,
    Status,
    TimeRange,
)
from impact_miner.registry import Connector, FetchContext
from impact_miner.runspec import RunSpec

COVERING = ("ok", "skipped")
SEVERITY: dict[Status, int] = {"ok": 0, "skipped": 0, "partial": 1, "failed": 2}
JOURNAL_SOURCE = "journal"

Interval = tuple[datetime, datetime]


@dataclass
class Review:
    """The composed report and how it was made."""

    report: Report
    runs: list[int]
    fetched: dict[str, list[TimeRange]] = field(default_factory=dict)
    edits_used: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def compose_review(spec: RunSpec, journal: Journal, progress: Callable[[str], None] | None = None) -> Review:
    """The review of ``spec.person`` over ``spec.time_range``: saved runs, gaps fetched, edits kept."""
    from impact_miner.pipeline import build_report

    period = spec.time_range
    runs = [r for r in journal.runs() if same_person(r.person, spec.person) and _overlaps(r.range, period)]
    saved = journal.evidence([r.id for r in runs], period)
    sources: list[tuple[Connector, SourceSection]] = []
    fetched: dict[str, list[TimeRange]] = {}
    for connector, section in spec.sources:
        missing = gaps(period, covered(runs, section.name))
        if missing:
            fetched[section.name] = missing
            sources.append((over_ranges(connector, missing), section))
    # Saved evidence comes last so that a fresh copy of the same item wins the deduplication.
    sources.append((saved_source(saved), SourceSection(JOURNAL_SOURCE, JOURNAL_SOURCE)))
    if progress:
        progress(
            f"{len(runs)} saved runs, {len(saved)} saved items; fetching {len(fetched)} sources for gaps"
        )
    report = build_report(replace(spec, sources=sources), progress)
    coverage = review_coverage(spec, runs, fetched, report.coverage, len(saved))
    edits = journal.edited_statements(r.id for r in runs)
    projects, used, notes = apply_edits(report.projects, report.evidence, edits)
    return Review(
        report=replace(report, coverage=coverage, projects=projects),
        runs=[r.id for r in runs],
        fetched=fetched,
        edits_used=used,
        notes=notes,
    )


def covered(runs: Sequence[SavedRun], source: str) -> list[Interval]:
    """The intervals in which some run fetched ``source`` completely, merged and sorted."""
    spans = [
        (run.range.since, run.seen_until)
        for run in runs
        if run.range.since < run.seen_until
        and any(c.source == source and c.status in COVERING for c in run.coverage)
    ]
    return _merge(spans)


def gaps(period: TimeRange, covering: Sequence[Interval]) -> list[TimeRange]:
    """The parts of ``period`` that ``covering`` (sorted, non-overlapping) leaves out."""
    found: list[TimeRange] = []
    cursor = period.since
    for start, end in covering:
        if end <= cursor or start >= period.until:
            continue
        if start > cursor:
            found.append(_gap(cursor, start))
        cursor = max(cursor, end)
    if cursor < period.until:
        found.append(_gap(cursor, period.until))
    return found


def over_ranges(connector: Connector, ranges: Sequence[TimeRange]) -> Connector:
    """``connector`` fetching only ``ranges`` (whatever range it is given): one fetch per range, merged.

    A range that fails makes the source partial; when all fail, the source fails as a plain fetch would.
    """

    def fetch(
        person: Person, _period: TimeRange, section: SourceSection, context: FetchContext
    ) -> FetchResult:
        evidence: dict[str, Evidence] = {}
        identities: list[str] = []
        reports: list[SourceReport] = []
        errors: list[Exception] = []
        for part in ranges:
            try:
                result = connector.fetch(person, part, section, context)
            except Exception as exc:  # one failing gap must not lose the others
                errors.append(exc)
                reports.append(SourceReport(section.name, "failed", 0, _reason(exc), connector.type))
                continue
            for item in result.evidence:
                evidence.setdefault(item.id, item)
            identities += [i for i in result.identities if i not in identities]
            reports.append(result.report)
        if errors and len(errors) == len(ranges):
            raise errors[0]
        worst = max((r.status for r in reports), key=lambda s: SEVERITY[s])
        status: Status = "partial" if errors else worst
        details = [
            f"{_span(part)}: {r.detail}" if r.detail else _span(part)
            for part, r in zip(ranges, reports, strict=True)
        ]
        summary = SourceReport(section.name, status, len(evidence), "; ".join(details), connector.type)
        return FetchResult(list(evidence.values()), summary, identities)

    return replace(connector, fetch=fetch)


def saved_source(saved: Sequence[Evidence]) -> Connector:
    """A source that answers with the saved evidence."""

    def fetch(
        _person: Person, _period: TimeRange, section: SourceSection, _context: FetchContext
    ) -> FetchResult:
        return FetchResult(list(saved), SourceReport(section.name, "ok", len(saved), "", JOURNAL_SOURCE))

    return Connector(type=JOURNAL_SOURCE, summary="saved runs", fetch=fetch)


def review_coverage(
    spec: RunSpec,
    runs: Sequence[SavedRun],
    fetched: dict[str, list[TimeRange]],
    live: Sequence[SourceReport],
    saved_items: int,
) -> list[SourceReport]:
    """One line per configured source (fetched for its gaps, or covered by saved runs), then the journal."""
    by_name = {c.source: c for c in live}
    lines: list[SourceReport] = []
    for connector, section in spec.sources:
        runs_for = [
            r.id for r in runs if any(c.source == section.name and c.status in COVERING for c in r.coverage)
        ]
        saved_note = f"saved runs {_ids(runs_for)} cover the rest" if runs_for else ""
        if section.name in fetched and section.name in by_name:
            got = by_name[section.name]
            spans = ", ".join(_span(g) for g in fetched[section.name])
            done = (
                f"fetching {spans} failed: {got.detail}"
                if got.status == "failed"
                else f"fetched {got.detail}"
            )
            detail = "; ".join(part for part in (done, saved_note) if part)
            lines.append(replace(got, detail=detail, type=got.type or connector.type))
        else:
            lines.append(
                SourceReport(section.name, "ok", 0, f"covered by saved runs {_ids(runs_for)}", connector.type)
            )
    journal_line = by_name.get(JOURNAL_SOURCE)
    if journal_line is not None:
        detail = (
            f"saved items from runs {_ids([r.id for r in runs])}" if runs else "no saved run in this period"
        )
        lines.append(replace(journal_line, items=saved_items, detail=detail))
    return lines


def apply_edits(
    projects: Sequence[Project], evidence: Sequence[Evidence], edits: Sequence[SavedStatement]
) -> tuple[list[Project], list[str], list[str]]:
    """``projects`` with the edited statements that still apply (see the module docstring).

    Returns the projects, the ids of the edits used and one note per edit left out.
    """
    from impact_miner.facts import project_facts
    from impact_miner.verifier import verify_statement

    chosen: dict[str, SavedStatement] = {}
    notes: list[str] = []
    for edit in edits:
        wanted = set(edit.evidence_ids)
        home = next((p for p in projects if wanted and wanted <= set(p.evidence_ids)), None)
        if home is None:
            notes.append(
                f"edited statement {edit.id} ({edit.title}) not used: the work it was written for is no "
                "longer one project in this period"
            )
            continue
        rival = chosen.get(home.id)
        if rival is None or _rank(edit) > _rank(rival):
            if rival is not None:
                notes.append(f"edited statement {rival.id} not used: {edit.id} covers more of {home.title}")
            chosen[home.id] = edit
        else:
            notes.append(f"edited statement {edit.id} not used: {rival.id} covers more of {home.title}")
    result: list[Project] = []
    for project in projects:
        winner = chosen.get(project.id)
        if winner is None:
            result.append(project)
            continue
        items = [e for e in evidence if e.id in set(project.evidence_ids)]
        problems = verify_statement(winner.text, [], project, items, project_facts(project, items))
        result.append(replace(project, statement=winner.text, verified=not problems, problems=problems))
    return result, sorted(e.id for e in chosen.values()), notes


def _rank(edit: SavedStatement) -> tuple[int, datetime]:
    assert edit.edited_at is not None
    return len(edit.evidence_ids), edit.edited_at


def _overlaps(a: TimeRange, b: TimeRange) -> bool:
    return a.since < b.until and b.since < a.until


def _merge(spans: list[Interval]) -> list[Interval]:
    merged: list[Interval] = []
    for start, end in sorted(spans):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def _gap(start: datetime, end: datetime) -> TimeRange:
    return TimeRange(start, end, f"{start.isoformat()}..{end.isoformat()}")


def _span(part: TimeRange) -> str:
    return f"{part.since:%Y-%m-%d %H:%M} → {part.until:%Y-%m-%d %H:%M}"


def _ids(ids: Sequence[int]) -> str:
    return ", ".join(f"#{i}" for i in ids) or "none"


def _reason(exc: Exception) -> str:
    return str(exc) if isinstance(exc, MineError) else f"{type(exc).__name__}: {exc}"
