"""Renderers: a Report in, text out. They format; they never compute or fetch."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

from impact_miner.metrics import TABLE_HEADER, table_cells
from impact_miner.model import Report
from impact_miner.outputs import GroupBy, group_statements
from impact_miner.terminal import escape_json_controls, terminal_text

if TYPE_CHECKING:
    from jinja2 import Environment

SCHEMA = "impact-miner/report@1"
EVIDENCE_COLUMNS = [
    "id", "source", "kind", "title", "url", "author", "repo", "created_at", "completed_at",
    "refs", "labels", "additions", "deletions", "files", "project_id",
]  # fmt: skip


def report_to_dict(report: Report) -> dict[str, Any]:
    """The report as the ``impact-miner/report@1`` JSON document."""
    return {
        "schema": SCHEMA,
        "person": {"name": report.person.name, "identities": report.person.identities()},
        "range": {
            "spec": report.range.spec,
            "since": report.range.since.isoformat(),
            "until": report.range.until.isoformat(),
        },
        "writer": asdict(report.writer),
        "coverage": [
            {"source": c.source, "type": c.type, "status": c.status, "items": c.items, "detail": c.detail}
            for c in report.coverage
        ],
        "projects": [
            {
                "id": p.id,
                "title": p.title,
                "statement": p.statement,
                "kind": p.kind,
                "competencies": p.competencies,
                "competency_reasons": p.competency_reasons,
                "keys": p.keys,
                "evidence_ids": p.evidence_ids,
                "metrics": p.metrics,
                "verified": p.verified,
                "problems": p.problems,
            }
            for p in report.projects
        ],
        "evidence": [e.to_dict() for e in report.evidence],
    }


def render_json(report: Report, group_by: GroupBy = "project") -> str:
    """The report JSON; grouped by competency it also has ``groups`` (heading, competency, project ids)."""
    data = report_to_dict(report)
    if group_by == "competency":
        data["groups"] = [
            {
                "heading": g.heading,
                "competency": g.competency,
                "project_ids": [entry.project.id for entry in g.entries],
            }
            for g in group_statements(report, group_by)
        ]
    return escape_json_controls(json.dumps(data, indent=2, ensure_ascii=False)) + "\n"


def report_templates(*, autoescape: bool) -> Environment:
    """The Jinja2 environment of the report templates (``impact_miner/templates``); HTML autoescapes."""
    from jinja2 import Environment, PackageLoader, StrictUndefined

    return Environment(
        loader=PackageLoader("impact_miner", "templates"),
        undefined=StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        autoescape=autoescape,
    )


def render_markdown(report: Report, group_by: GroupBy = "project") -> str:
    """The default report: header, one section per project (or per competency), coverage footer."""
    env = report_templates(autoescape=False)
    env.filters["md"] = markdown_text
    env.filters["when"] = lambda moment: moment.strftime("%Y-%m-%d %H:%M %z") if moment else ""
    env.filters["metric_cells"] = table_cells
    env.globals["metric_header"] = TABLE_HEADER
    identities = " · ".join(
        f"{source}: {value if isinstance(value, str) else ', '.join(value)}"
        for source, value in report.person.identities().items()
    )
    text = env.get_template("report.md.j2").render(
        report=report, groups=group_statements(report, group_by), identities=identities or "none"
    )
    return terminal_text(text)


def markdown_text(text: str) -> str:
    """Untrusted text made safe for one Markdown line: no HTML, no link or emphasis syntax."""
    flat = " ".join(str(text).split())
    for char in "\\`*_[]<>|#":
        flat = flat.replace(char, "\\" + char)
    return flat


def render_evidence(report: Report, fmt: str) -> str:
    """The evidence table: ``table`` for a person at a terminal, ``csv`` or ``json`` for machines.

    The table and CSV hold no control characters; JSON keeps them, escaped (:mod:`impact_miner.terminal`).
    """
    rows = [e.to_dict() for e in report.evidence]
    if fmt == "json":
        return escape_json_controls(json.dumps(rows, indent=2, ensure_ascii=False)) + "\n"
    if fmt == "csv":
        from impact_miner.render_csv import render_evidence_csv

        return render_evidence_csv(report)
    flat = [{c: terminal_text(_cell(row[c])) for c in EVIDENCE_COLUMNS} for row in rows]
    if not flat:
        return "No evidence in range.\n"
    import pandas as pd

    frame = pd.DataFrame(flat)[["completed_at", "kind", "repo", "title", "project_id", "url"]]
    frame["completed_at"] = frame["completed_at"].str.slice(0, 16).str.replace("T", " ")
    frame["title"] = frame["title"].str.slice(0, 60)
    return str(frame.to_string(index=False)) + "\n"


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, list):
        return " ".join(str(v) for v in value)
    return str(value)


def write_atomic(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` so that readers see the old file or the new one, never a torn one.

    The same write as every output's (:func:`impact_miner.outputs.write_files`): through a symlink to
    its target, straight into a FIFO or device, and a :class:`~impact_miner.errors.UsageError` on failure.
    """
    from impact_miner.outputs import write_files

    write_files([(path.expanduser(), text.encode("utf-8"))])
