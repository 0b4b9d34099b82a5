"""The table of formats: every format a report can be written in, read by ``mine``, ``mine team`` and
:mod:`impact_miner.outputs` alike.

=========  ======================  =====================================================================
Format     Extensions              What
=========  ======================  =====================================================================
markdown   ``.md``, ``.markdown``  the default report; also the brag document of ``--append FILE``
json       ``.json``               schema ``impact-miner/report@1`` (plus ``groups`` by competency)
html       ``.html``, ``.htm``     one self-contained page with an inline SVG timeline, print-ready
csv        ``.csv``                one row per statement; ``--evidence`` adds ``NAME.evidence.csv``
docx       ``.docx``               Word document with clickable links and an evidence appendix
=========  ======================  =====================================================================

``mine evidence`` lists the evidence alone in one of :data:`EVIDENCE_FORMATS` instead.

Each row names the function that renders the format; it imports its renderer when called, so reading
the table (``mine --help`` does) costs no renderer, view, template engine or document library.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, NamedTuple

from impact_miner.errors import UsageError

if TYPE_CHECKING:
    from impact_miner.model import Report
    from impact_miner.render.views import GroupBy

GROUP_BY_CHOICES: tuple[GroupBy, ...] = ("project", "competency")  # how statements are laid out


class RenderOptions(NamedTuple):
    """How to lay out every output of one run (a NamedTuple, like :class:`Format`: no dataclass machinery
    to import when ``mine --help`` reads this table)."""

    group_by: GroupBy = "project"
    bom: bool = False  # CSV: start with a UTF-8 byte-order mark so Excel reads UTF-8
    evidence: bool = False  # CSV: also write the evidence appendix as NAME.evidence.csv


Renderer = Callable[["Report", RenderOptions], bytes]


def _markdown(report: Report, options: RenderOptions) -> bytes:
    from impact_miner.render.markdown import render_markdown

    return render_markdown(report, group_by=options.group_by).encode("utf-8")


def _json(report: Report, options: RenderOptions) -> bytes:
    from impact_miner.render.json import render_json

    return render_json(report, group_by=options.group_by).encode("utf-8")


def _html(report: Report, options: RenderOptions) -> bytes:
    from impact_miner.render.html import render_html

    return render_html(report, group_by=options.group_by).encode("utf-8")


def _csv(report: Report, options: RenderOptions) -> bytes:
    from impact_miner.render.csv import encode_csv, render_csv

    return encode_csv(render_csv(report, group_by=options.group_by), bom=options.bom)


def _docx(report: Report, options: RenderOptions) -> bytes:
    from impact_miner.render.docx import render_docx

    return render_docx(report, group_by=options.group_by)


class Format(NamedTuple):
    """One report format: its name, the names and extensions that choose it, and how to render it."""

    name: str
    extensions: tuple[str, ...]  # the first is the one `mine team` writes
    label: str  # how the team index names a link to it
    render: Renderer  # the report as the bytes of a file (UTF-8 text, or a .docx package)
    aliases: tuple[str, ...] = ()
    binary: bool = False  # not text: never written to a terminal

    @property
    def extension(self) -> str:
        return self.extensions[0]


FORMATS: tuple[Format, ...] = (
    Format("markdown", (".md", ".markdown"), "Markdown", _markdown, aliases=("md",)),
    Format("json", (".json",), "JSON", _json),
    Format("html", (".html", ".htm"), "HTML", _html),
    Format("csv", (".csv",), "CSV", _csv),
    Format("docx", (".docx",), "Word", _docx, binary=True),
)
FORMAT_NAMES = tuple(f.name for f in FORMATS)
DEFAULT_FORMAT = "markdown"
# What --format accepts: each name, then its aliases.
FORMAT_CHOICES = tuple(name for f in FORMATS for name in (f.name, *f.aliases))
EXTENSIONS = {extension: f.name for f in FORMATS for extension in f.extensions}
EVIDENCE_FORMATS = ("table", "csv", "json")
_BY_NAME = {name: f for f in FORMATS for name in (f.name, *f.aliases)}


def get_format(name: str) -> Format:
    """The format called ``name`` (or an alias such as ``md``), any case; a :class:`UsageError` if none is."""
    found = _BY_NAME.get(name.lower())
    if found is None:
        raise UsageError(f"unknown format {name!r}; use one of: {', '.join(FORMAT_NAMES)}")
    return found


def normalise_format(name: str) -> str:
    """``md`` → ``markdown``; any other known name as is."""
    return get_format(name).name


def format_of_extension(extension: str) -> Format | None:
    """The format a file with ``extension`` (``.md``, any case) holds, or None."""
    name = EXTENSIONS.get(extension.lower())
    return None if name is None else _BY_NAME[name]
