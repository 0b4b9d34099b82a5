"""A run's outputs: which format each ``--out`` gets, each format rendered once, all files written as one
batch.

One run renders every output from the same :class:`~impact_miner.model.Report` in memory, once per
format (the formats are :mod:`impact_miner.render.formats`' table), then writes all files as one
atomic batch (:mod:`impact_miner.atomic`), so a failure leaves the old files untouched. ``mine``,
``mine review`` and ``mine team`` all write through :func:`write_outputs`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from impact_miner.atomic import output_target, write_files
from impact_miner.errors import UsageError
from impact_miner.model import Report
from impact_miner.render.csv import encode_csv, render_evidence_csv
from impact_miner.render.formats import (
    DEFAULT_FORMAT,
    EXTENSIONS,
    RenderOptions,
    get_format,
    normalise_format,
)

STDOUT = "-"


@dataclass(frozen=True)
class OutputTarget:
    """Where one output goes (``path=None``: standard output) and in which format."""

    path: Path | None
    format: str


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
        return [OutputTarget(None, chosen or DEFAULT_FORMAT)] if stdout_by_default else []
    targets: list[OutputTarget] = []
    seen: set[Path] = set()
    for out in outs:
        if out == STDOUT:
            if any(t.path is None for t in targets):
                raise UsageError("--out - (standard output) is given twice; give it once")
            targets.append(OutputTarget(None, chosen or DEFAULT_FORMAT))
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
    return get_format(fmt).render(report, options)


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
            appendix = encode_csv(render_evidence_csv(report), bom=options.bom)
            files.append((evidence_appendix_path(target.path), appendix))
    return files


def write_outputs(
    report: Report,
    targets: Sequence[OutputTarget],
    options: RenderOptions = RenderOptions(),
    *,
    also: Sequence[tuple[Path, bytes]] = (),
) -> list[tuple[Path | None, bytes]]:
    """Render every output (:func:`render_targets`) and write its files, with ``also``, as one atomic
    batch (:func:`impact_miner.atomic.write_files`). Returns every output, files and standard output
    (``path`` None) alike, in order; printing standard output is the caller's."""
    files = render_targets(report, targets, options)
    write_files([*((path, data) for path, data in files if path is not None), *also])
    return files


def check_terminal(
    targets: Sequence[OutputTarget], *, stdout_is_terminal: bool, command: str = "mine"
) -> None:
    """Refuse a binary format (DOCX) on standard output when that is a terminal, before any fetch."""
    binary = next((t for t in targets if t.path is None and get_format(t.format).binary), None)
    if binary is not None and stdout_is_terminal:
        name = binary.format
        raise UsageError(
            f"{name.upper()} is binary: use --out r.{name}, or redirect stdout "
            f"({command} --format {name} > r.{name})"
        )


def binary_stdout(targets: Sequence[OutputTarget]) -> bool:
    """Whether what goes to standard output is a binary format (written as bytes, not text)."""
    return any(t.path is None and get_format(t.format).binary for t in targets)
