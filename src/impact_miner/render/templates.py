"""The Jinja2 environment of the report templates (``impact_miner/templates``), shared by the Markdown
and HTML renderers; the templates only format what :mod:`impact_miner.render.views` computed."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from jinja2 import Environment


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
