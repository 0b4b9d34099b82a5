"""The brag document (``--append FILE``): one dated Markdown section per period, added at the end.

Each run adds one dated Markdown section at the end of FILE, between ``<!-- impact-miner:begin … -->``
and ``<!-- impact-miner:end -->`` markers, leaving every byte before it alone. Appending the same period
(same since and until) again replaces that section in place if nobody edited it since it was written
(the begin marker carries a hash of its text), and refuses with exit 2 if somebody did, so hand-written
notes are never lost.
"""

from __future__ import annotations

import hashlib
import re
from datetime import datetime
from pathlib import Path

from impact_miner.errors import UsageError
from impact_miner.model import Report
from impact_miner.render.markdown import render_markdown
from impact_miner.render.views import GroupBy, range_label

BEGIN = re.compile(
    r"^<!-- impact-miner:begin since=(?P<since>\S+) until=(?P<until>\S+) sha256=(?P<hash>[0-9a-f]+) -->"
    r"[ \t\r]*$",
    re.M,
)
END = "<!-- impact-miner:end -->"
_HASH_CHARS = 16


def brag_section(report: Report, group_by: GroupBy = "project") -> str:
    """The report as one brag-document section: a dated ``##`` heading, the report one level down.

    The section sits between begin/end markers; the begin marker names the range and hashes the body,
    so a later run can tell the same period apart and whether somebody edited it.
    """
    lines = render_markdown(report, group_by=group_by).splitlines()
    body_lines = [f"## {range_label(report)}"]
    for line in lines[1:]:  # the first line is the report title
        body_lines.append("#" + line if line.startswith("#") else line)
    body = "\n".join(body_lines).strip("\n") + "\n"
    begin = (
        f"<!-- impact-miner:begin since={report.range.since.isoformat()} "
        f"until={report.range.until.isoformat()} sha256={_body_hash(body)} -->"
    )
    return f"{begin}\n{body}{END}\n"


def brag_title(report: Report) -> str:
    name = report.person.name
    return (
        f"# Brag document{': ' + name if name else ''}\n\n"
        "One section per period, added by `mine --append`. Write your own notes anywhere; a section you "
        "edit is never rewritten.\n\n"
    )


def append_section(existing: str | None, report: Report, group_by: GroupBy = "project") -> tuple[str, str]:
    """The brag document with ``report``'s section added; returns ``(text, what happened)``.

    What happened is ``created`` (no file yet), ``appended`` (a new period, added at the end: every
    earlier byte is kept), or ``replaced`` (the same period, unedited since it was written, rewritten in
    place). The same period edited by hand raises :class:`UsageError`.
    """
    section = brag_section(report, group_by)
    if existing is None or not existing.strip():
        return brag_title(report) + section, "created"
    for match in BEGIN.finditer(existing):
        if not _same_range(match, report):
            continue
        end = existing.find(END, match.end())
        next_begin = BEGIN.search(existing, match.end())
        if end == -1 or (next_begin is not None and next_begin.start() < end):
            raise UsageError(
                f"the section for {range_label(report)} has lost its end marker ({END}); restore it or "
                "delete the section, then run again"
            )
        body = existing[match.end() : end].lstrip("\r\n")
        if _body_hash(body) != match["hash"]:
            raise UsageError(
                f"the section for {range_label(report)} was edited since impact-miner wrote it; not "
                "overwriting your edits. Delete that section (begin to end marker) to regenerate it, "
                "or append a different period"
            )
        stop = end + len(END)
        if existing.startswith("\r\n", stop):
            stop += 2
        elif existing.startswith("\n", stop):
            stop += 1
        return existing[: match.start()] + section + existing[stop:], "replaced"
    separator = "" if existing.endswith("\n\n") else ("\n" if existing.endswith("\n") else "\n\n")
    return existing + separator + section, "appended"


def read_brag(path: Path) -> str | None:
    """The brag document's text, or None when the file does not exist yet."""
    try:
        with open(path, encoding="utf-8", newline="") as handle:
            return handle.read()
    except FileNotFoundError:
        return None
    except UnicodeDecodeError:
        raise UsageError(f"--append {path} is not UTF-8 text; give a Markdown file") from None
    except OSError as exc:
        raise UsageError(f"cannot read --append {path}: {exc.strerror}") from None


def _same_range(match: re.Match[str], report: Report) -> bool:
    try:
        since, until = datetime.fromisoformat(match["since"]), datetime.fromisoformat(match["until"])
    except ValueError:
        return False
    return since == report.range.since and until == report.range.until


def _body_hash(body: str) -> str:
    """A hash of the section text that ignores line endings and trailing spaces (editors change those)."""
    normal = "\n".join(line.rstrip() for line in body.replace("\r\n", "\n").split("\n")).strip("\n")
    return hashlib.sha256(normal.encode("utf-8")).hexdigest()[:_HASH_CHARS]
