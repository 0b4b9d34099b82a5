"""The whole run, top to bottom: sources → evidence → projects → statements → report.

Each step is a plain function over plain data; only :func:`collect` touches the outside world (through
the connectors).
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import datetime
from typing import TYPE_CHECKING

from impact_miner.cache import Cache
from impact_miner.errors import MineError
from impact_miner.model import (
    Evidence,
    FetchResult,
    Person,
    Project,
    Report,
    SourceReport,
    SourceSection,
)
from impact_miner.registry import Connector, FetchContext, check_options
from impact_miner.runspec import RunSpec

if TYPE_CHECKING:
    from impact_miner.llm_writer import LLMOptions

Progress = Callable[[str], None]


def check_sources(spec: RunSpec) -> RunSpec:
    """Validate every section before anything is fetched, so bad input fails fast with exit 2.

    An implicit section (git on the current directory) that cannot be used while other sources are
    configured is left out and reported as skipped, with the reason, instead.
    """
    usable: list[tuple[Connector, SourceSection]] = []
    skipped = list(spec.skipped)
    configured = any(not section.implicit for _, section in spec.sources)
    for connector, section in spec.sources:
        try:
            check_options(connector, section)
            if connector.check is not None:
                connector.check(section)
            if connector.check_person is not None:
                connector.check_person(section, spec.person)
        except MineError as error:
            if not (section.implicit and configured):
                raise
            skipped.append(SourceReport(section.name, "skipped", 0, f"not used: {error}", connector.type))
            continue
        usable.append((connector, section))
    return replace(spec, sources=usable, skipped=skipped)


def collect(
    spec: RunSpec, progress: Progress | None = None
) -> tuple[list[Evidence], list[SourceReport], Person]:
    """Fetch every source in parallel. A source that raises is reported as failed; the rest go on.

    Returns the evidence (deduplicated by id), one SourceReport per source, and the person with the
    identities the connectors actually used added.

    An interrupt (Ctrl-C, SIGTERM) sets ``spec.cancel``: sources not yet started never start, running
    ones stop at their next check, and the interrupt goes on. A ``spec.cancel`` set by someone else (a
    batch being stopped) raises :class:`~impact_miner.errors.Cancelled` here instead of a report.
    """

    context = FetchContext(now=spec.now, cache=spec.cache, progress=progress, cancel=spec.cancel)

    def fetch(connector: Connector, section: SourceSection) -> FetchResult:
        if progress:
            progress(f"fetching {section.name} ({connector.type})")
        try:
            return connector.fetch(spec.person, spec.time_range, section, context)
        except Exception as exc:  # one failing source must not abort the report
            reason = str(exc) if isinstance(exc, MineError) else f"{type(exc).__name__}: {exc}"
            return FetchResult([], SourceReport(section.name, "failed", 0, reason, connector.type))

    workers = max(1, min(spec.max_workers, len(spec.sources)))
    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="source")
    try:
        futures = [pool.submit(fetch, connector, section) for connector, section in spec.sources]
        results = [future.result() for future in futures]
    except BaseException:
        spec.cancel.set()
        raise
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
    context.check_cancelled()

    evidence: dict[str, Evidence] = {}
    person = replace(spec.person, emails=list(spec.person.emails), names=list(spec.person.names))
    for result in results:
        for item in result.evidence:
            evidence.setdefault(item.id, item)
        for identity in result.identities:
            if "@" in identity and identity not in person.emails:
                person.emails.append(identity)
    return list(evidence.values()), [*(r.report for r in results), *spec.skipped], person


def write_statements(
    projects: list[Project],
    evidence: list[Evidence],
    llm: LLMOptions | None = None,
    cache: Cache | None = None,
    progress: Progress | None = None,
    framework: str | None = None,
) -> list[Project]:
    """Write one offline statement per project and verify it against the project's evidence; tag it
    with the competencies of ``framework`` whose signals its evidence shows, each with its reason.

    With ``llm``, the model then rewrites each one (``llm_writer.write_with_model``); a project the model
    cannot do keeps its offline statement, marked not verified, with the reason in its problems.
    """
    from impact_miner.facts import project_facts
    from impact_miner.offline_writer import offline_statement
    from impact_miner.prompting import load_framework, tag_competencies
    from impact_miner.verifier import verify_statement

    chosen = load_framework(framework or (llm.framework if llm else None))
    by_id = {item.id: item for item in evidence}
    written = []
    for project in projects:
        items = [by_id[i] for i in project.evidence_ids]
        facts = project_facts(project, items)
        statement = offline_statement(project, items, facts)
        problems = verify_statement(statement, project.evidence_ids, project, items, facts)
        reasons = project.competency_reasons
        if not project.competencies:
            reasons = tag_competencies(chosen, project, items)
        written.append(
            replace(
                project,
                statement=statement,
                competencies=project.competencies or list(reasons),
                competency_reasons=reasons,
                verified=not problems,
                problems=problems,
            )
        )
    if llm is not None:
        from impact_miner.llm_writer import write_with_model

        written, _ = write_with_model(written, evidence, llm, cache=cache, progress=progress)
    return written


def assign_projects(evidence: list[Evidence], projects: list[Project]) -> list[Evidence]:
    """Evidence in report order (by project, then as the project lists it), each with its project id.

    An item several projects hold (a metric linked to both) is listed once, with the first; items no
    project holds (a metric linked to none) come last, without a project id.
    """
    by_id = {item.id: item for item in evidence}
    placed: dict[str, Evidence] = {}
    for project in projects:
        for i in project.evidence_ids:
            if i not in placed:
                placed[i] = replace(by_id[i], project_id=project.id)
    return [*placed.values(), *(item for item in evidence if item.id not in placed)]


def link_projects(
    evidence: list[Evidence], coverage: list[SourceReport], now: datetime
) -> tuple[list[Project], list[SourceReport]]:
    """Group the work into projects, then attach metrics and claims to them (metric rows never group).

    A metric no project links to is named in its source's coverage detail.
    """
    from impact_miner.grouping import group_projects
    from impact_miner.metrics import attach_metrics, note_unlinked, split_metric_rows, unlinked_metrics

    work, _ = split_metric_rows(evidence)
    projects = attach_metrics(group_projects(work), evidence, now=now)
    return projects, note_unlinked(coverage, unlinked_metrics(projects, evidence))


def build_report(spec: RunSpec, progress: Progress | None = None) -> Report:
    """Run the whole pipeline and return the report."""
    spec = check_sources(spec)
    evidence, coverage, person = collect(spec, progress)
    if progress:
        progress(f"grouping {len(evidence)} items")
    projects, coverage = link_projects(evidence, coverage, spec.now)
    projects = write_statements(projects, evidence, spec.llm, spec.cache, progress, spec.framework)
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
    spec = check_sources(spec)
    evidence, coverage, person = collect(spec, progress)
    projects, coverage = link_projects(evidence, coverage, spec.now)
    return Report(
        person, spec.time_range, spec.writer, coverage, projects, assign_projects(evidence, projects)
    )
