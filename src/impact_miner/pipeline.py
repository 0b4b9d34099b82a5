"""The whole run, top to bottom: sources → evidence → projects → statements → report.

Each step is a plain function over plain data; only :func:`collect` touches the outside world (through
the connectors).
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

from impact_miner.errors import MineError
from impact_miner.model import (
    Evidence,
    FetchResult,
    Person,
    Project,
    Report,
    SourceReport,
    SourceSection,
    TimeRange,
    Writer,
)
from impact_miner.registry import Connector, FetchContext
from impact_miner.store import Cache

Progress = Callable[[str], None]


@dataclass
class RunSpec:
    """Everything a run needs, resolved from the CLI and the config."""

    person: Person
    time_range: TimeRange
    sources: list[tuple[Connector, SourceSection]]
    max_workers: int = 8
    writer: Writer = field(default_factory=Writer)
    now: datetime = field(default_factory=lambda: datetime.now(UTC))
    cache: Cache | None = None


def check_sources(spec: RunSpec) -> None:
    """Validate every section before anything is fetched, so bad input fails fast with exit 2."""
    for connector, section in spec.sources:
        if connector.check is not None:
            connector.check(section)


def collect(
    spec: RunSpec, progress: Progress | None = None
) -> tuple[list[Evidence], list[SourceReport], Person]:
    """Fetch every source in parallel. A source that raises is reported as failed; the rest go on.

    Returns the evidence (deduplicated by id), one SourceReport per source, and the person with the
    identities the connectors actually used added.
    """

    context = FetchContext(now=spec.now, cache=spec.cache, progress=progress)

    def fetch(connector: Connector, section: SourceSection) -> FetchResult:
        if progress:
            progress(f"fetching {section.name} ({connector.type})")
        try:
            return connector.fetch(spec.person, spec.time_range, section, context)
        except Exception as exc:  # one failing source must not abort the report
            reason = str(exc) if isinstance(exc, MineError) else f"{type(exc).__name__}: {exc}"
            return FetchResult([], SourceReport(section.name, "failed", 0, reason, connector.type))

    workers = max(1, min(spec.max_workers, len(spec.sources)))
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="source") as pool:
        results = list(pool.map(lambda pair: fetch(*pair), spec.sources))

    evidence: dict[str, Evidence] = {}
    person = replace(spec.person, emails=list(spec.person.emails), names=list(spec.person.names))
    for result in results:
        for item in result.evidence:
            evidence.setdefault(item.id, item)
        for identity in result.identities:
            if "@" in identity and identity not in person.emails:
                person.emails.append(identity)
    return list(evidence.values()), [r.report for r in results], person


def write_statements(projects: list[Project], evidence: list[Evidence]) -> list[Project]:
    """Write one offline statement per project and verify it against the project's evidence."""
    from impact_miner.facts import project_facts
    from impact_miner.offline_writer import offline_statement
    from impact_miner.verifier import verify_statement

    by_id = {item.id: item for item in evidence}
    written = []
    for project in projects:
        items = [by_id[i] for i in project.evidence_ids]
        facts = project_facts(project, items)
        statement = offline_statement(project, items, facts)
        problems = verify_statement(statement, project.evidence_ids, project, items, facts)
        written.append(replace(project, statement=statement, verified=not problems, problems=problems))
    return written


def assign_projects(evidence: list[Evidence], projects: list[Project]) -> list[Evidence]:
    """Evidence in report order (by project, then as the project lists it), each with its project id."""
    by_id = {item.id: item for item in evidence}
    return [replace(by_id[i], project_id=p.id) for p in projects for i in p.evidence_ids]


def build_report(spec: RunSpec, progress: Progress | None = None) -> Report:
    """Run the whole pipeline and return the report."""
    from impact_miner.grouping import group_projects

    check_sources(spec)
    evidence, coverage, person = collect(spec, progress)
    if progress:
        progress(f"grouping {len(evidence)} items")
    projects = write_statements(group_projects(evidence), evidence)
    return Report(
        person=person,
        range=spec.time_range,
        writer=spec.writer,
        coverage=coverage,
        projects=projects,
        evidence=assign_projects(evidence, projects),
    )


def gather_evidence(spec: RunSpec, progress: Progress | None = None) -> Report:
    """Fetch and link evidence without writing statements (``mine evidence`` / ``--dry-run``)."""
    from impact_miner.grouping import group_projects

    check_sources(spec)
    evidence, coverage, person = collect(spec, progress)
    projects = group_projects(evidence)
    return Report(
        person, spec.time_range, spec.writer, coverage, projects, assign_projects(evidence, projects)
    )
