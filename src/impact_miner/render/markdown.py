"""The Markdown report, the default output: header, one section per project (or per competency),
coverage footer. It formats; it never computes or fetches."""

from __future__ import annotations

from impact_miner.metrics import TABLE_HEADER, table_cells
from impact_miner.model import Report
from impact_miner.render.templates import report_templates
from impact_miner.render.views import GroupBy, group_statements
from impact_miner.terminal import terminal_text


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
