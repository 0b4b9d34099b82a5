"""The report as JSON, schema ``impact-miner/report@1`` (``--format json``): extend it, never break it."""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Any

from impact_miner.model import Report
from impact_miner.render.views import GroupBy, group_statements
from impact_miner.terminal import escape_json_controls

SCHEMA = "impact-miner/report@1"


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
