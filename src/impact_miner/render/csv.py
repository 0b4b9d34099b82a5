"""CSV outputs for spreadsheets: statements, and the evidence appendix.

Statements (``--format csv``): one row per statement with the columns of :data:`STATEMENT_COLUMNS`
(``metrics``: one measured result per line, as the Markdown report's results table shows them).
Grouped by competency, a ``competency`` column comes first and a statement appears once per
competency it is tagged with (empty for the uncategorised rest), so a filter on that column gives one
section of a review form.

Evidence appendix (``--evidence``): one row per evidence item with every field of
:class:`~impact_miner.model.Evidence` (``extra`` as JSON), written next to the statements file as
``NAME.evidence.csv``; join the two on ``project_id``.

Cells: UTF-8 (``--bom`` prefixes a byte-order mark so Excel detects it), lists one item per line
inside the cell, booleans ``true``/``false``, datetimes ISO 8601 as in the report JSON.

A CSV file keeps every character of the text (quoted where needed), control characters included;
printed to standard output, they are removed like everywhere else (:mod:`impact_miner.terminal`).

Formula injection: a text cell that starts with ``=``, ``+``, ``-``, ``@``, a tab or a carriage
return gets a leading apostrophe, so a spreadsheet shows it as text instead of evaluating it (a PR
titled ``=HYPERLINK(...)`` stays a title). A cell that is a plain decimal number such as ``-12`` or
``+3.5`` is left alone: a spreadsheet reads it as that number, and a number cannot carry a formula.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import fields
from typing import Any

from impact_miner.metrics import table_cells
from impact_miner.model import Evidence, Metric, Report
from impact_miner.render.views import GroupBy, group_statements, http_url

STATEMENT_COLUMNS = (
    "project_id", "title", "competencies", "statement", "links", "verified", "problems", "evidence_ids",
    "metrics",
)  # fmt: skip
_EVIDENCE_FIRST = (
    "id", "project_id", "source", "kind", "title", "url", "author", "repo", "created_at", "completed_at",
    "refs", "labels", "additions", "deletions", "files", "body", "extra",
)  # fmt: skip
EVIDENCE_COLUMNS = _EVIDENCE_FIRST + tuple(f.name for f in fields(Evidence) if f.name not in _EVIDENCE_FIRST)

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
PLAIN_NUMBER = re.compile(r"[+-]?\d+(?:\.\d+)?")


def guard_formula(text: str) -> str:
    """``text`` made safe for a spreadsheet cell: formula-like text gets a leading apostrophe."""
    if text.startswith(FORMULA_START) and not PLAIN_NUMBER.fullmatch(text):
        return "'" + text
    return text


def csv_cell(value: Any) -> str:
    """One value as the text of a CSV cell (see the module docstring)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, list | tuple):
        return guard_formula("\n".join(str(v) for v in value))
    if isinstance(value, dict):
        return guard_formula(json.dumps(value, ensure_ascii=False, sort_keys=True)) if value else ""
    return guard_formula(str(value))


def metric_line(metric: Metric) -> str:
    """One measured result as one line of a cell: ``name: before → after (change; source)``."""
    name, before, after, change, source, weak = table_cells(metric)
    detail = "; ".join(part for part in (change, source, f"weak: {weak}" if weak else "") if part)
    return f"{name}: {before} → {after}" + (f" ({detail})" if detail else "")


def render_csv(report: Report, group_by: GroupBy = "project") -> str:
    """One row per statement (per competency and statement when grouped by competency)."""
    grouped = group_by == "competency"
    columns = ("competency", *STATEMENT_COLUMNS) if grouped else STATEMENT_COLUMNS
    rows = []
    for group in group_statements(report, group_by):
        for entry in group.entries:
            project = entry.project
            row: dict[str, Any] = {
                "project_id": project.id,
                "title": project.title,
                "competencies": entry.tags,
                "statement": project.statement,
                "links": [url for item in entry.evidence if (url := http_url(item.url))],
                "verified": project.verified,
                "problems": project.problems,
                "evidence_ids": project.evidence_ids,
                "metrics": [metric_line(m) for m in project.metrics],
            }
            if grouped:
                row["competency"] = group.competency or ""
            rows.append(row)
    return _table(columns, rows)


def encode_csv(text: str, *, bom: bool) -> bytes:
    """CSV text as the bytes of a file: UTF-8, with a byte-order mark first when ``bom`` (for Excel)."""
    return (b"\xef\xbb\xbf" if bom else b"") + text.encode("utf-8")


def render_evidence_csv(report: Report) -> str:
    """The evidence appendix: one row per evidence item, every field.

    A metric's raw samples stay out of ``extra`` (thousands of points would overflow a spreadsheet
    cell); the JSON report keeps them.
    """
    return _table(EVIDENCE_COLUMNS, (_without_samples(item.to_dict()) for item in report.evidence))


def _without_samples(row: dict[str, Any]) -> dict[str, Any]:
    if isinstance(row.get("extra"), dict) and "samples" in row["extra"]:
        row["extra"] = {k: v for k, v in row["extra"].items() if k != "samples"}
    return row


def _table(columns: Sequence[str], rows: Iterable[dict[str, Any]]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow([csv_cell(row.get(column)) for column in columns])
    return buffer.getvalue()
