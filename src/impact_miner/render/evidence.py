"""The evidence alone (``mine evidence``, ``--dry-run``): a table for a person at a terminal, CSV or JSON
for machines."""

from __future__ import annotations

import json
from typing import Any

from impact_miner.model import Report
from impact_miner.render.csv import render_evidence_csv
from impact_miner.terminal import escape_json_controls, terminal_text

EVIDENCE_COLUMNS = [
    "id", "source", "kind", "title", "url", "author", "repo", "created_at", "completed_at",
    "refs", "labels", "additions", "deletions", "files", "project_id",
]  # fmt: skip


def render_evidence(report: Report, fmt: str) -> str:
    """The evidence table: ``table`` for a person at a terminal, ``csv`` or ``json`` for machines.

    The table and CSV hold no control characters; JSON keeps them, escaped (:mod:`impact_miner.terminal`).
    """
    rows = [e.to_dict() for e in report.evidence]
    if fmt == "json":
        return escape_json_controls(json.dumps(rows, indent=2, ensure_ascii=False)) + "\n"
    if fmt == "csv":
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
