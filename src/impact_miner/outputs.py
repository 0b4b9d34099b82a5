"""Report outputs: which format a file gets, the views every renderer shares, and atomic writing.

Formats and the extensions ``--out`` infers them from:

=========  ======================  =====================================================================
Format     Extensions              What
=========  ======================  =====================================================================
markdown   ``.md``, ``.markdown``  the default report; also the brag document of ``--append FILE``
json       ``.json``               schema ``impact-miner/report@1`` (plus ``groups`` by competency)
html       ``.html``, ``.htm``     one self-contained page with an inline SVG timeline, print-ready
csv        ``.csv``                one row per statement; ``--evidence`` adds ``NAME.evidence.csv``
docx       ``.docx``               Word document with clickable links and an evidence appendix
=========  ======================  =====================================================================

One run renders every output from the same :class:`~impact_miner.model.Report` in memory, then writes
all files as one batch: each goes to a temporary file next to its target first, and only when every
one is written are they renamed into place, so a failure leaves the old files untouched.

The views here (:func:`group_statements`, :func:`report_summary`, :func:`http_url`) are computed once,
in plain Python, and every renderer formats them; templates never compute.

Brag document (``--append FILE``): each run adds one dated Markdown section at the end of FILE,
between ``<!-- impact-miner:begin … -->`` and ``<!-- impact-miner:end -->`` markers, leaving every
byte before it alone. Appending the same period (same since and until) again replaces that section in
place if nobody edited it since it was written (the begin marker carries a hash of its text), and
refuses with exit 2 if somebody did, so hand-written notes are never lost.
"""

from __future__ import annotations

import errno
import hashlib
import os
import re
import secrets
import stat
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta, tzinfo
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from impact_miner.errors import UsageError
from impact_miner.model import Evidence, Project, Report

GroupBy = Literal["project", "competency"]
GROUP_BY_CHOICES = ("project", "competency")
UNCATEGORISED = "Other contributions"

EXTENSIONS = {
    ".md": "markdown",
    ".markdown": "markdown",
    ".json": "json",
    ".html": "html",
    ".htm": "html",
    ".csv": "csv",
    ".docx": "docx",
}
FORMATS = ("markdown", "json", "html", "csv", "docx")
FORMAT_ALIASES = {"md": "markdown"}
STDOUT = "-"


# --- shared views -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class NumberedProject:
    """A project with its number in the report (stable across groupings) and its evidence, in order."""

    number: int
    project: Project
    evidence: tuple[Evidence, ...]

    @property
    def competencies(self) -> list[str]:
        """The project's competencies, tidied (see :func:`project_competencies`)."""
        return project_competencies(self.project)

    @property
    def tags(self) -> list[str]:
        """The competencies as shown: each with the reason the evidence gives for it, where there is one
        (``Insist on the Highest Standards — 5 of 6 commits add or change tests``)."""
        reasons = self.project.competency_reasons
        return [f"{name} — {reasons[name]}" if reasons.get(name) else name for name in self.competencies]


@dataclass(frozen=True)
class StatementGroup:
    """One section of statements: a competency, the uncategorised rest, or (``heading=None``) all."""

    heading: str | None
    competency: str | None
    entries: tuple[NumberedProject, ...]


def group_statements(report: Report, group_by: GroupBy = "project") -> list[StatementGroup]:
    """The report's projects laid out for rendering.

    ``project``: one group without a heading holding every project in report order. ``competency``:
    one group per competency, in order of first appearance (projects come ordered by substance, so
    the competency with the most substantial work leads), a project listed under each of its
    competencies; projects without any go last under :data:`UNCATEGORISED`.
    """
    by_id = {item.id: item for item in report.evidence}
    numbered = [
        NumberedProject(n, p, tuple(by_id[i] for i in p.evidence_ids if i in by_id))
        for n, p in enumerate(report.projects, start=1)
    ]
    if group_by == "project":
        return [StatementGroup(None, None, tuple(numbered))]
    if group_by != "competency":
        raise UsageError(f"unknown grouping {group_by!r}; use one of: {', '.join(GROUP_BY_CHOICES)}")
    sections: dict[str, list[NumberedProject]] = {}
    rest: list[NumberedProject] = []
    for entry in numbered:
        names = project_competencies(entry.project)
        for name in names:
            sections.setdefault(name, []).append(entry)
        if not names:
            rest.append(entry)
    groups = [StatementGroup(name, name, tuple(entries)) for name, entries in sections.items()]
    if rest:
        groups.append(StatementGroup(UNCATEGORISED, None, tuple(rest)))
    return groups


def project_competencies(project: Project) -> list[str]:
    """The project's competency names, trimmed, without blanks or repeats, in the writer's order."""
    return list(dict.fromkeys(name.strip() for name in project.competencies if name and name.strip()))


def http_url(url: str) -> str | None:
    """``url`` if it is an absolute http(s) URL a reader may follow, else None (shown as plain text)."""
    if not url or any(ch.isspace() or ord(ch) < 32 or ord(ch) == 127 for ch in url):
        return None
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    return url if parts.scheme.lower() in ("http", "https") and parts.netloc else None


@dataclass(frozen=True)
class WeekCount:
    """Evidence completed in one ISO week, by source (in :attr:`ReportSummary.sources` order)."""

    year: int
    week: int
    start: date
    counts: tuple[int, ...]

    @property
    def label(self) -> str:
        return f"{self.year}-W{self.week:02d}"

    @property
    def total(self) -> int:
        return sum(self.counts)


@dataclass(frozen=True)
class ReportSummary:
    """The figures a report's header shows; computed once, formatted by each renderer."""

    items: int
    projects: int
    verified: int
    by_source: tuple[tuple[str, int], ...]
    by_kind: tuple[tuple[str, int], ...]
    weeks: tuple[WeekCount, ...]

    @property
    def sources(self) -> tuple[str, ...]:
        return tuple(source for source, _ in self.by_source)


def report_summary(report: Report) -> ReportSummary:
    """Counts by source and kind, projects, verified statements, and evidence per ISO week by source.

    Weeks are those of the report's time zone (the zone of ``range.since``) and cover the whole range,
    empty weeks included, so the timeline shows gaps honestly.
    """
    sources = Counter(item.source for item in report.evidence)
    kinds = Counter(item.kind for item in report.evidence)
    by_source = tuple(sorted(sources.items(), key=lambda pair: (-pair[1], pair[0])))
    order = [source for source, _ in by_source]
    zone = report.range.since.tzinfo
    per_week: dict[tuple[int, int], Counter[str]] = {}
    for item in report.evidence:
        per_week.setdefault(_iso_week(item.completed_at, zone), Counter())[item.source] += 1
    keys = set(per_week) | set(_weeks_between(report.range.since, report.range.until, zone))
    empty: Counter[str] = Counter()
    weeks = tuple(
        WeekCount(
            year, week, date.fromisocalendar(year, week, 1), _counts(per_week.get((year, week), empty), order)
        )
        for year, week in sorted(keys)
    )
    return ReportSummary(
        items=len(report.evidence),
        projects=len(report.projects),
        verified=sum(1 for p in report.projects if p.verified),
        by_source=by_source,
        by_kind=tuple(sorted(kinds.items(), key=lambda pair: (-pair[1], pair[0]))),
        weeks=weeks,
    )


def _counts(counter: Counter[str], order: Sequence[str]) -> tuple[int, ...]:
    return tuple(counter[source] for source in order)


def _iso_week(moment: datetime, zone: tzinfo | None) -> tuple[int, int]:
    calendar = (moment.astimezone(zone) if zone else moment).isocalendar()
    return calendar.year, calendar.week


def _weeks_between(since: datetime, until: datetime, zone: tzinfo | None) -> list[tuple[int, int]]:
    last = until - timedelta(microseconds=1)
    if last < since:
        return []
    first_day = (since.astimezone(zone) if zone else since).date()
    last_day = (last.astimezone(zone) if zone else last).date()
    monday = first_day - timedelta(days=first_day.weekday())
    weeks = []
    while monday <= last_day:
        calendar = monday.isocalendar()
        weeks.append((calendar.year, calendar.week))
        monday += timedelta(weeks=1)
    return weeks


def range_label(report: Report) -> str:
    """The range as people say it: ``2026-11-15 → 2026-11-28`` (last day included), times if not midnight."""
    since, until = report.range.since, report.range.until
    midnight = all(m.time() == datetime.min.time() for m in (since, until))
    if midnight:
        return f"{since:%Y-%m-%d} → {(until - timedelta(days=1)):%Y-%m-%d}"
    return f"{since:%Y-%m-%d %H:%M} → {until:%Y-%m-%d %H:%M %z}"


# --- choosing and rendering outputs -----------------------------------------------------------------


@dataclass(frozen=True)
class RenderOptions:
    """How to lay out every output of one run."""

    group_by: GroupBy = "project"
    bom: bool = False  # CSV: start with a UTF-8 byte-order mark so Excel reads UTF-8
    evidence: bool = False  # CSV: also write the evidence appendix as NAME.evidence.csv


@dataclass(frozen=True)
class OutputTarget:
    """Where one output goes (``path=None``: standard output) and in which format."""

    path: Path | None
    format: str


def normalise_format(fmt: str) -> str:
    """``md`` → ``markdown``; any other known name as is."""
    name = FORMAT_ALIASES.get(fmt.lower(), fmt.lower())
    if name not in FORMATS:
        raise UsageError(f"unknown format {fmt!r}; use one of: {', '.join(FORMATS)}")
    return name


def format_for_path(path: str, fmt: str | None = None) -> str:
    """The format ``--out path`` writes: from the extension, else ``fmt`` (``--format``).

    An unknown extension without ``--format`` is an error (exit 2) that lists the known ones.
    """
    inferred = EXTENSIONS.get(Path(path).suffix.lower())
    if inferred is not None:
        return inferred
    if fmt is None:
        raise UsageError(
            f"cannot tell the format of --out {path}: known extensions are {', '.join(EXTENSIONS)} "
            "(or add --format to say which)"
        )
    return normalise_format(fmt)


def plan_outputs(
    outs: Sequence[str], fmt: str | None, *, stdout_by_default: bool = True
) -> list[OutputTarget]:
    """The outputs of one run, checked before anything is fetched.

    ``--format`` sets the format of standard output and of any ``--out`` whose extension names none;
    a known extension always wins. A ``--format`` that no output uses and that contradicts an
    extension is an error (``--format json --out r.html``), and so is the same file twice. No
    ``--out``: standard output (default markdown), unless ``stdout_by_default`` is false (``--append``
    alone). ``--out -`` is standard output too.
    """
    chosen = normalise_format(fmt) if fmt else None
    if not outs:
        return [OutputTarget(None, chosen or "markdown")] if stdout_by_default else []
    targets: list[OutputTarget] = []
    seen: set[Path] = set()
    for out in outs:
        if out == STDOUT:
            if any(t.path is None for t in targets):
                raise UsageError("--out - (standard output) is given twice; give it once")
            targets.append(OutputTarget(None, chosen or "markdown"))
            continue
        path = Path(out).expanduser()
        output_target(path)  # a directory, block device or socket fails now, before anything is fetched
        if path.resolve() in seen:
            raise UsageError(f"--out {out} is given twice; give each file once")
        seen.add(path.resolve())
        targets.append(OutputTarget(path, format_for_path(out, chosen)))
    used = any(t.path is None or t.path.suffix.lower() not in EXTENSIONS for t in targets)
    clash = next((t for t in targets if chosen and not used and t.format != chosen), None)
    if clash is not None and clash.path is not None:
        raise UsageError(
            f"--format {fmt} contradicts --out {clash.path} (a {clash.path.suffix} file is {clash.format}); "
            "drop --format or change the extension"
        )
    return targets


def evidence_appendix_path(path: Path) -> Path:
    """Where the CSV evidence appendix of ``path`` goes: ``r.csv`` → ``r.evidence.csv``."""
    return path.with_name(f"{path.stem}.evidence{path.suffix or '.csv'}")


def render_output(report: Report, fmt: str, options: RenderOptions = RenderOptions()) -> bytes:
    """``report`` in ``fmt`` as the bytes of a file (UTF-8 text, or a .docx package)."""
    fmt = normalise_format(fmt)
    if fmt == "docx":
        from impact_miner.render_docx import render_docx

        return render_docx(report, group_by=options.group_by)
    if fmt == "csv":
        from impact_miner.render_csv import render_csv

        return encode_csv(render_csv(report, group_by=options.group_by), bom=options.bom)
    if fmt == "html":
        from impact_miner.render_html import render_html

        return render_html(report, group_by=options.group_by).encode("utf-8")
    from impact_miner.render import render_json, render_markdown

    if fmt == "json":
        return render_json(report, group_by=options.group_by).encode("utf-8")
    return render_markdown(report, group_by=options.group_by).encode("utf-8")


def encode_csv(text: str, *, bom: bool) -> bytes:
    return (b"\xef\xbb\xbf" if bom else b"") + text.encode("utf-8")


def check_targets(targets: Sequence[OutputTarget], options: RenderOptions = RenderOptions()) -> None:
    """Refuse, before anything is fetched, outputs that cannot all be written.

    ``--evidence`` needs a CSV file (the appendix is a second file next to it): with CSV on standard
    output it is an error (``mine evidence --format csv`` prints the evidence alone). An appendix that
    would overwrite another ``--out`` is an error too.
    """
    if not options.evidence:
        return
    paths = {t.path.resolve() for t in targets if t.path is not None}
    for target in targets:
        if target.format != "csv":
            continue
        if target.path is None:
            raise UsageError(
                "--evidence writes a second CSV file: use --out NAME.csv (the appendix goes to "
                "NAME.evidence.csv), or `mine evidence --format csv` for the evidence alone"
            )
        appendix = evidence_appendix_path(target.path)
        if appendix.resolve() in paths:
            raise UsageError(f"--out {appendix} would be overwritten by the evidence appendix; rename it")


def render_targets(
    report: Report, targets: Sequence[OutputTarget], options: RenderOptions = RenderOptions()
) -> list[tuple[Path | None, bytes]]:
    """Every output's bytes, rendered once per format; with ``--evidence`` a CSV file brings its
    evidence appendix (``NAME.evidence.csv``) along."""
    check_targets(targets, options)
    rendered: dict[str, bytes] = {}
    files: list[tuple[Path | None, bytes]] = []
    for target in targets:
        if target.format not in rendered:
            rendered[target.format] = render_output(report, target.format, options)
        files.append((target.path, rendered[target.format]))
        if target.format == "csv" and options.evidence and target.path is not None:
            from impact_miner.render_csv import render_evidence_csv

            appendix = encode_csv(render_evidence_csv(report), bom=options.bom)
            files.append((evidence_appendix_path(target.path), appendix))
    return files


def write_files(files: Sequence[tuple[Path, bytes]]) -> None:
    """Write every file or none: all go to temporary files first, then each is renamed into place.

    A new file gets the usual permissions (0666 less the umask); a replaced file keeps its mode. A
    symlink is written through: its target is replaced (atomically, in the target's directory) and
    the link stays. A FIFO or a character device (``/dev/stdout``, ``/dev/null``, a named pipe) is
    written to directly, after every regular file is staged and before any is renamed, since it
    cannot be replaced; anything else that is not a regular file is refused (:func:`output_target`).
    Any failure, a full disk included, removes the temporary files and raises :class:`UsageError`
    saying which files, if any, were already written; an interrupt removes them too.
    """
    plans = [(path, *output_target(path), data) for path, data in files]
    staged: list[tuple[Path, Path, Path]] = []
    replaced: list[Path] = []
    current: Path | None = None
    try:
        for path, target, stream, data in plans:
            current = path
            if not stream:
                staged.append((_stage(target, data), target, path))
        for path, target, stream, data in plans:
            current = path
            if stream:
                _write_stream(target, data)
        for temp, target, path in staged:
            current = path
            os.replace(temp, target)
            replaced.append(path)
    except BaseException as exc:
        for temp, _, _ in staged:
            temp.unlink(missing_ok=True)
        if isinstance(exc, OSError):
            raise UsageError(_write_error(current, exc, replaced)) from None
        raise


def output_target(path: Path) -> tuple[Path, bool]:
    """Where writing ``path`` really goes, and whether it is a stream written in place.

    A FIFO or character device, also behind a symlink (``/dev/stdout``, ``/dev/fd/63`` of a process
    substitution), is a stream (``True``), opened by its own name. A missing or regular file is
    replaced atomically (``False``), a symlink's (possibly not yet existing) target rather than the
    link. A directory, a block device or a socket is refused with a :class:`UsageError`.
    """
    try:
        mode: int | None = path.stat().st_mode  # follows symlinks, /proc's "pipe:[…]" links included
    except FileNotFoundError:
        mode = None
    except OSError as exc:
        raise UsageError(_write_error(path, exc, [])) from None
    if mode is not None and (stat.S_ISFIFO(mode) or stat.S_ISCHR(mode)):
        return path, True
    if mode is None or stat.S_ISREG(mode):
        return (Path(os.path.realpath(path)) if path.is_symlink() else path), False
    kind = "a directory" if stat.S_ISDIR(mode) else "a block device" if stat.S_ISBLK(mode) else "a socket"
    raise UsageError(
        f"cannot write {path}: it is {kind}, not a file; give a file path (a named pipe or a character "
        "device such as /dev/stdout is written to directly)"
    )


def _write_error(path: Path | None, exc: OSError, replaced: Sequence[Path]) -> str:
    """One line for a failed write: what, why, what to do, and which files were already written."""
    done = f"already written: {', '.join(map(str, replaced))}" if replaced else "no file was changed"
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return f"cannot write {path}: no space left on the device; free some space and run again ({done})"
    if exc.errno == errno.EPIPE:
        return f"cannot write {path}: nothing reads from it any more (broken pipe) ({done})"
    return (
        f"cannot write {path}: {exc.strerror or exc}; check the directory exists and is writable ({done})"
    )


TEMP_NAME = re.compile(r"\..+\.[0-9a-f]{8}\.tmp")


def _stage(path: Path, data: bytes) -> Path:
    """``data`` in a new temporary file beside ``path`` (named ``.NAME.XXXXXXXX.tmp``), flushed to disk."""
    directory = path.parent if str(path.parent) else Path(".")
    temp = directory / f".{path.name}.{secrets.token_hex(4)}.tmp"
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        if path.exists():
            os.chmod(temp, stat.S_IMODE(path.stat().st_mode))
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    return temp


def _write_stream(path: Path, data: bytes) -> None:
    """Write ``data`` to an existing FIFO or character device (never creating or truncating a file)."""
    fd = os.open(path, os.O_WRONLY)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)


def remove_stale_temps(directory: Path) -> list[Path]:
    """Delete the temporary files :func:`write_files` leaves when killed (``.NAME.XXXXXXXX.tmp``).

    Only for a directory this process has to itself (``mine team`` holds its lock): a temporary file of a
    write still running elsewhere would otherwise be removed.
    """
    removed = []
    for entry in directory.iterdir() if directory.is_dir() else ():
        if TEMP_NAME.fullmatch(entry.name) and entry.is_file() and not entry.is_symlink():
            entry.unlink(missing_ok=True)
            removed.append(entry)
    return removed


# --- the brag document ------------------------------------------------------------------------------

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
    from impact_miner.render import render_markdown

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
