"""The ``mine`` command: parse arguments, call the library, print. No logic of its own.

Heavy modules (pandas, GitPython, network clients, litellm) are imported inside the commands so that
``mine --help`` stays fast.
"""

from __future__ import annotations

import errno
import os
import signal
import sys
import threading
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import click

from impact_miner import __version__
from impact_miner.errors import MineError, Terminated, UsageError
from impact_miner.render.formats import EVIDENCE_FORMATS, FORMAT_CHOICES
from impact_miner.render.views import GROUP_BY_CHOICES
from impact_miner.terminal import escape_json_controls, terminal_text

F = TypeVar("F", bound=Callable[..., Any])

EXIT_OK, EXIT_USAGE, EXIT_PARTIAL = 0, 2, 3
TIME_HELP = (
    "2w, 10d, 3m, 1y, today, yesterday, this|last week|month|quarter|half|year, 2026-Q3, 2026-H1, ISO date"
)


def _not_blank(_ctx: click.Context, param: click.Parameter, value: Any) -> Any:
    """Refuse ``--tz ''`` and the like: an empty value would otherwise silently mean the default."""
    for item in value if isinstance(value, tuple) else (value,):
        if item is not None and not item.strip():
            name = param.opts[0] if param.opts else param.name
            raise UsageError(f"{name} is empty; give a value or leave the option out (see mine --help)")
    return value


def run_options(command: F) -> F:
    """The options shared by every command that mines a range."""
    options = [
        click.option("--since", metavar="SPEC", help=f"Start of the range (default 2w): {TIME_HELP}."),
        click.option("--until", metavar="SPEC", help="End of the range, same forms (default: end of today)."),
        click.option(
            "--repo",
            "repos",
            multiple=True,
            metavar="PATH",
            callback=_not_blank,
            help="Git repository (repeatable).",
        ),
        click.option(
            "--author",
            "authors",
            multiple=True,
            metavar="EMAIL|NAME",
            help="Your git identity (repeatable); overrides [me] and user.email.",
        ),
        click.option(
            "--config",
            metavar="FILE",
            callback=_not_blank,
            help="Config file (default: $IMPACT_MINER_CONFIG or platform dir).",
        ),
        click.option(
            "--tz",
            "timezone",
            metavar="ZONE",
            callback=_not_blank,
            help="Time zone such as Europe/Berlin (default: $TZ, system).",
        ),
        click.option(
            "--out",
            multiple=True,
            type=click.Path(dir_okay=False),
            help="Write to FILE atomically instead of stdout. Reports: repeatable, the extension picks the "
            "format (.md .json .html .csv .docx).",
        ),
        click.option("--refresh", is_flag=True, help="Refetch everything instead of using the local cache."),
        click.option("--no-cache", is_flag=True, help="Neither read nor write the local cache."),
        click.option(
            "--model",
            metavar="NAME",
            callback=_not_blank,
            help="Write statements with this litellm model (openai/gpt-4o-mini, ollama/llama3.1, ...); "
            "'offline' (the default) uses none.",
        ),
        click.option(
            "--api-base", metavar="URL", callback=_not_blank, help="An OpenAI-compatible server for --model."
        ),
        click.option(
            "--local-only", is_flag=True, help="Refuse any model not on this machine (ollama, localhost)."
        ),
        click.option(
            "--framework",
            metavar="NAME|FILE",
            callback=_not_blank,
            help="Competencies: leadership-principles (default), engineering-ladder, or a TOML file.",
        ),
        click.option(
            "--concurrency", type=click.IntRange(1, 64), metavar="N", help="Model calls at once (default 4)."
        ),
        click.option(
            "--show-prompt", is_flag=True, help="With --dry-run: print what the model would get."
        ),
        click.option("--debug", is_flag=True, help="Show tracebacks."),
    ]
    for option in reversed(options):
        command = option(command)
    return command


@click.group(invoke_without_command=True, context_settings={"help_option_names": ["-h", "--help"]})
@run_options
@click.option(
    "--format",
    "fmt",
    type=click.Choice(FORMAT_CHOICES),
    help="Format for stdout, or for an --out whose extension says none (default markdown).",
)
@click.option(
    "--group-by",
    type=click.Choice(GROUP_BY_CHOICES),
    default="project",
    show_default=True,
    help="Lay statements out by project or under the competencies they are tagged with.",
)
@click.option(
    "--append",
    metavar="FILE",
    type=click.Path(dir_okay=False),
    callback=_not_blank,
    help="Add this period as a dated section to the Markdown brag document FILE (created if missing).",
)
@click.option("--evidence", is_flag=True, help="CSV: also write the evidence appendix as NAME.evidence.csv.")
@click.option("--bom", is_flag=True, help="CSV: start with a UTF-8 byte-order mark (for Excel).")
@click.option("--dry-run", is_flag=True, help="Only list the evidence (same as `mine evidence`).")
@click.option("--save", is_flag=True, help="Also record this run in the journal (see `mine journal`).")
@click.version_option(__version__, prog_name="mine")
@click.pass_context
def cli(ctx: click.Context, /, dry_run: bool, fmt: str | None, **options: Any) -> None:
    """Turn the work you shipped into verifiable impact statements.

    \b
    mine --since 2w                 Markdown report of the last two weeks
    mine --since last-quarter --format json --out q.json
    mine --out r.md --out r.html --out r.docx   several formats, one run
    mine --append brag.md           add this fortnight to your brag document
    mine evidence --since 2w        the evidence table only
    mine init                       write a starter config
    mine sources                    list source types and what is configured
    mine cache info|clear           the local cache of fetched evidence
    """
    if ctx.invoked_subcommand is not None:
        ctx.obj = options
        return
    if dry_run and options.get("save"):
        raise UsageError("--save records a report; drop --dry-run to save this run")
    if dry_run:
        ctx.exit(_evidence(fmt if fmt in EVIDENCE_FORMATS else None, **options))
    ctx.exit(_report(fmt, **options))


@cli.command()
@run_options
@click.option("--format", "fmt", type=click.Choice(EVIDENCE_FORMATS), help="table (default), csv or json.")
@click.pass_context
def evidence(ctx: click.Context, /, fmt: str | None, **options: Any) -> None:
    """Print the evidence found, without writing statements (alias: --dry-run)."""
    ctx.exit(_evidence(fmt, **_merge(ctx, options)))


@cli.command()
@click.option(
    "--config",
    metavar="FILE",
    callback=_not_blank,
    help="Where to write (default: the platform config path).",
)
@click.pass_context
def init(ctx: click.Context, config: str | None) -> None:
    """Write a commented starter config; never overwrites an existing file."""
    from impact_miner.config import config_path, write_starter_config

    path, _ = config_path(config or (ctx.obj or {}).get("config"), os.environ)
    write_starter_config(path)
    click.echo(f"Wrote {path}; edit [me] and [sources.*], then run `mine --since 2w`.")


@cli.command()
@click.option("--config", metavar="FILE", callback=_not_blank, help="Config file to read.")
@click.pass_context
def sources(ctx: click.Context, config: str | None) -> None:
    """List the installed source types and which are configured."""
    from impact_miner.registry import available
    from impact_miner.runspec import RunOptions, read_config

    loaded = read_config(RunOptions(config=config or (ctx.obj or {}).get("config")), os.environ)
    where = str(loaded.path) if loaded.path else "no config file"
    click.echo(f"Config: {where}")
    for type_name, connector in sorted(available().items()):
        names = [s.name for s in loaded.sections if s.type == type_name]
        if names:
            state = "configured: " + ", ".join(names)
        elif connector.implicit is not None and connector.implicit() is not None:
            state = "on by default"
        else:
            state = "not configured"
        click.echo(f"  {type_name:<12} {state:<28} {connector.summary}")
    unknown = sorted({s.type for s in loaded.sections} - set(available()))
    for type_name in unknown:
        click.echo(f"  {type_name:<12} {'unknown type':<28} no installed connector provides it")


@cli.group(name="cache")
def cache_group() -> None:
    """Inspect or clear the local cache of fetched evidence and model replies."""


@cache_group.command(name="info")
def cache_info() -> None:
    """Where the cache is, its size, and its entries by kind."""
    from impact_miner.cache import Cache, default_cache_path

    info = Cache(default_cache_path(os.environ)).info()
    click.echo(f"Cache: {info.path} ({info.size_bytes / 1024:.0f} KiB)")
    for namespace, count in info.entries.items():
        click.echo(f"  {namespace:<20} {count} entries")
    if not info.entries:
        click.echo("  empty")


@cache_group.command(name="clear")
@click.argument("namespace", required=False)
def cache_clear(namespace: str | None) -> None:
    """Delete every cached entry (or only NAMESPACE's, as `mine cache info` lists them)."""
    from impact_miner.cache import Cache, default_cache_path

    removed = Cache(default_cache_path(os.environ)).clear(namespace)
    click.echo(f"Removed {removed} cached entries.")


@cli.group(name="journal")
def journal_group() -> None:
    """Saved runs (`mine --save`) and your edits to their statements."""


@journal_group.command(name="list")
@click.option(
    "--config", metavar="FILE", callback=_not_blank, help="Config file whose [journal] path to use."
)
@click.pass_context
def journal_list(ctx: click.Context, config: str | None) -> None:
    """Every saved run, oldest first, with its statements and their ids (RUN.N)."""
    from impact_miner.journal import Journal

    journal = Journal(_journal_path(config or (ctx.obj or {}).get("config")))
    runs = journal.runs()
    click.echo(f"Journal: {journal.path} ({len(runs)} saved runs)")
    for run in runs:
        _echo(
            f"#{run.id}  saved {run.created_at.astimezone():%Y-%m-%d %H:%M}  "
            f"{run.person.name or '(unnamed)'}  "
            f"{run.range.since:%Y-%m-%d %H:%M} → {run.range.until:%Y-%m-%d %H:%M} ({run.range.spec})  "
            f"{run.writer.name}  {run.evidence_count} items"
        )
        for statement in run.statements:
            mark = "  (edited)" if statement.edited else ""
            _echo(f"    {statement.id:<7} {statement.title}{mark}")
    if not runs:
        click.echo("  nothing saved yet: run `mine --since 2w --save`")


@journal_group.command(name="edit")
@click.argument("statement_id", metavar="ID")
@click.option(
    "--config", metavar="FILE", callback=_not_blank, help="Config file whose [journal] path to use."
)
@click.pass_context
def journal_edit(ctx: click.Context, statement_id: str, config: str | None) -> None:
    """Open statement ID (as `mine journal list` prints it, e.g. 3.2) in $EDITOR and keep your version."""
    from impact_miner.journal import Journal, edit_buffer, read_edit_buffer

    journal = Journal(_journal_path(config or (ctx.obj or {}).get("config")))
    current = journal.statement(statement_id)
    run = next((r for r in journal.runs() if r.id == current.run_id), None)
    edited = _edit_in_editor(edit_buffer(current, run), current.id)
    text = read_edit_buffer(edited) if edited is not None else current.text.strip()
    if not text:
        raise UsageError(f"the edited statement {current.id} is empty; nothing was saved")
    if text == current.text.strip():
        click.echo(f"Statement {current.id} unchanged.")
        return
    journal.edit(current.id, text, edited_at=datetime.now(UTC))
    click.echo(f"Kept your edit of statement {current.id}; later runs never overwrite it.")


@cli.command()
@run_options
@click.option("--format", "fmt", type=click.Choice(FORMAT_CHOICES), help="Output format (default markdown).")
@click.pass_context
def review(ctx: click.Context, /, fmt: str | None, **options: Any) -> None:
    """One report for a review period (default 6m) from saved runs, fetching only what they leave out.

    \b
    mine review --since 6m                     the half-year from your fortnightly `--save` runs
    mine review --since 2026-H1 --out h1.md    a named period, written atomically
    """
    ctx.exit(_review(fmt, **_merge(ctx, options)))


@cli.command()
@click.argument("roster", type=click.Path(dir_okay=False))
@click.option(
    "--out", "out_dir", required=True, type=click.Path(file_okay=False), help="Directory to write to."
)
@click.option("--since", metavar="SPEC", default="6m", show_default=True, help=f"Range start: {TIME_HELP}.")
@click.option("--until", metavar="SPEC", help="End of the range, same forms (default: end of today).")
@click.option(
    "--format",
    "formats",
    multiple=True,
    type=click.Choice(FORMAT_CHOICES),
    help="Report format, repeatable (default markdown).",
)
@click.option(
    "--jobs", "-j", type=click.IntRange(1, 64), default=4, show_default=True, help="People run at once."
)
@click.option("--force", is_flag=True, help="Rerun people whose reports are already complete.")
@click.option(
    "--config",
    metavar="FILE",
    callback=_not_blank,
    help="The lead's config: sources, credentials, [team.limits.*].",
)
@click.option(
    "--tz",
    "timezone",
    metavar="ZONE",
    callback=_not_blank,
    help="Time zone such as Europe/Berlin (default: $TZ).",
)
@click.option("--refresh", is_flag=True, help="Refetch everything instead of using the local cache.")
@click.option("--no-cache", is_flag=True, help="Neither read nor write the local cache.")
@click.option("--debug", is_flag=True, help="Show tracebacks.")
@click.pass_context
def team(ctx: click.Context, /, roster: str, **options: Any) -> None:
    """One report per person on ROSTER (.toml or .csv), plus index.md and index.html in --out.

    \b
    mine team team.toml --since 6m --out reports/ --jobs 4
    mine team team.csv --out reports/ --format md --format html   rerun: only the unfinished run
    """
    ctx.exit(_team(roster, **options))


def _edit_in_editor(text: str, statement_id: str) -> str | None:
    """``text`` as edited in ``$VISUAL``/``$EDITOR`` (click's choice when neither is set).

    An editor that is missing, fails or exits non-zero, or saves text that is not UTF-8, is a
    UsageError (exit 2): nothing is saved and the statement stays as it was.
    """
    import shlex
    import shutil

    unchanged = f"statement {statement_id} is unchanged"
    editor = os.environ.get("VISUAL") or os.environ.get("EDITOR") or None
    if editor is not None:
        try:
            program = shlex.split(editor)[0]
        except (ValueError, IndexError):
            program = ""
        if not program or shutil.which(program) is None:
            raise UsageError(
                f"the editor {editor!r} (from $VISUAL or $EDITOR) is not installed; {unchanged}. Set "
                "EDITOR to an editor you have, e.g. EDITOR=nano"
            )
    try:
        return click.edit(text, editor=editor, extension=".md", require_save=False)
    except click.ClickException as exc:
        raise UsageError(
            f"the editor {editor or '(click default)'!r} exited with an error or could not start "
            f"({exc.format_message()}); {unchanged}. Fix $EDITOR or run again"
        ) from None
    except UnicodeDecodeError as exc:
        raise UsageError(
            f"the edited text is not UTF-8 (byte {exc.object[exc.start]:#04x} at offset {exc.start}); "
            f"{unchanged}. Save the file as UTF-8"
        ) from None


def _journal_path(config: str | None) -> Path:
    from impact_miner.config import config_path
    from impact_miner.journal import journal_path

    path, required = config_path(config, os.environ)
    if required and not path.exists():
        raise UsageError(f"config file {path} does not exist; create it with `mine init --config {path}`")
    return journal_path(os.environ, path)


def _save_run(report: Any, options: dict[str, Any]) -> MineError | None:
    """``--save``: record the run in the journal; a journal that cannot take it is returned, not raised,
    so that the report is still written before ``mine`` says so."""
    from impact_miner.journal import Journal

    journal = Journal(_journal_path(options.get("config")))
    try:
        run_id = journal.save(report, created_at=datetime.now(UTC))
    except MineError as exc:
        return exc
    click.echo(
        f"Saved run #{run_id} ({len(report.evidence)} items, {len(report.projects)} statements) "
        f"to {journal.path}",
        err=True,
    )
    return None


def _review(fmt: str | None, out: tuple[str, ...], **options: Any) -> int:
    from impact_miner.journal import Journal
    from impact_miner.outputs import plan_outputs, render_targets
    from impact_miner.review import compose_review

    targets = plan_outputs(out, fmt)
    binary_stdout = any(t.path is None and t.format == "docx" for t in targets)
    if binary_stdout and sys.stdout.isatty():
        raise UsageError("DOCX is binary: use --out r.docx, or redirect stdout")
    journal = Journal(_journal_path(options.get("config")))
    spec = _spec({**options, "since": _given(options.get("since"), "6m")})
    result = compose_review(spec, journal, _progress())
    for note in result.notes:
        _warn(note)
    if result.edits_used and sys.stderr.isatty():
        click.echo(f"Using your edited statements: {', '.join(result.edits_used)}", err=True)
    _emit(render_targets(result.report, targets), binary=binary_stdout)
    return _exit_code(result.report)


def _team(
    roster: str, out_dir: str, formats: tuple[str, ...], jobs: int, force: bool, **options: Any
) -> int:
    from impact_miner.render.formats import normalise_format
    from impact_miner.runspec import RunOptions, read_config, resolve_run
    from impact_miner.team import (
        LiveDisplay,
        SourceLimiter,
        TeamBatch,
        read_limits,
        read_roster,
        run_team,
        summary_table,
    )

    loaded = read_roster(Path(roster))
    run = RunOptions(
        since=_given(options.get("since"), "6m"),
        until=options.get("until"),
        config=options.get("config"),
        timezone=options.get("timezone"),
        refresh=bool(options.get("refresh")),
        use_cache=not options.get("no_cache"),
    )
    config = read_config(run, os.environ)
    for warning in config.warnings:
        _warn(warning)
    base = resolve_run(run, config, now=datetime.now(UTC), env=os.environ)
    batch = TeamBatch(
        roster=loaded,
        base=base,
        lead_sections=config.sections,
        out_dir=Path(out_dir).expanduser(),
        formats=tuple(dict.fromkeys(normalise_format(f) for f in formats or ("markdown",))),
        jobs=jobs,
        force=force,
        limiter=SourceLimiter(read_limits(config.path), cancel=base.cancel),
        env=os.environ,
    )
    if sys.stderr.isatty():
        with LiveDisplay(len(loaded.members) + len(loaded.problems)) as display:
            result = run_team(batch, display)
    else:
        result = run_team(batch)
    _echo(summary_table(result.results))
    click.echo(f"Index: {result.index_files[0]} and {result.index_files[1].name}")
    return EXIT_PARTIAL if result.exit_partial else EXIT_OK


def _merge(ctx: click.Context, options: dict[str, Any]) -> dict[str, Any]:
    """Subcommand options win; options given before the subcommand fill the gaps."""
    parent = ctx.obj or {}
    return {k: (v if v not in (None, (), False) else parent.get(k, v)) for k, v in options.items()}


def _given(value: str | None, default: str) -> str:
    """An option's value, or ``default`` when it was left out; ``--since ''`` stays empty and is refused."""
    return default if value is None else value


def _spec(options: dict[str, Any]) -> Any:
    from impact_miner.runspec import RunOptions, read_config, resolve_run

    run = RunOptions(
        since=_given(options.get("since"), "2w"),
        until=options.get("until"),
        config=options.get("config"),
        repos=tuple(options.get("repos") or ()),
        authors=tuple(options.get("authors") or ()),
        timezone=options.get("timezone"),
        refresh=bool(options.get("refresh")),
        use_cache=not options.get("no_cache"),
        model=options.get("model"),
        api_base=options.get("api_base"),
        local_only=bool(options.get("local_only")),
        framework=options.get("framework"),
        concurrency=options.get("concurrency"),
    )
    if options.get("show_prompt"):
        raise UsageError("--show-prompt prints what would be sent without sending it: add --dry-run")
    config = read_config(run, os.environ)
    for warning in config.warnings:
        _warn(warning)
    spec = resolve_run(run, config, now=datetime.now(UTC), env=os.environ)
    if spec.llm is not None:  # the model run's cost line, always on stderr (stdout stays the report)
        from dataclasses import replace

        spec.llm = replace(spec.llm, summary=lambda line: click.echo(_style(line, fg="cyan"), err=True))
    return spec


def _report(
    fmt: str | None,
    out: tuple[str, ...],
    group_by: str,
    append: str | None,
    evidence: bool,
    bom: bool,
    **options: Any,
) -> int:
    """Check every output, fetch once, render each format once, write all files as one batch."""
    from impact_miner.brag import append_section, read_brag
    from impact_miner.outputs import check_targets, plan_outputs, render_targets
    from impact_miner.pipeline import build_report
    from impact_miner.render.formats import RenderOptions

    targets = plan_outputs(out, fmt, stdout_by_default=append is None)
    render = RenderOptions(
        group_by="competency" if group_by == "competency" else "project", bom=bom, evidence=evidence
    )
    check_targets(targets, render)
    brag = Path(append).expanduser() if append else None
    if brag is not None and any(t.path is not None and t.path.resolve() == brag.resolve() for t in targets):
        raise UsageError(f"--append {append} is also an --out; give the brag document once, with --append")
    binary_stdout = any(t.path is None and t.format == "docx" for t in targets)
    if binary_stdout and sys.stdout.isatty():
        raise UsageError("DOCX is binary: use --out r.docx, or redirect stdout (mine --format docx > r.docx)")
    if evidence and not any(t.format == "csv" for t in targets):
        _warn("--evidence only adds the CSV evidence appendix; no CSV output was asked for")
    report = build_report(_spec(options), _progress())
    unsaved = _save_run(report, options) if options.get("save") else None
    files = render_targets(report, targets, render)
    notes = [f"Wrote {path}" for path, _ in files if path is not None]
    if brag is not None:
        text, action = append_section(read_brag(brag), report, render.group_by)
        files.append((brag, text.encode("utf-8")))
        notes.append(f"{action.capitalize()} the section for {report.range.spec or 'the range'} in {append}")
    _emit(files, binary=binary_stdout)
    if sys.stderr.isatty():
        for note in notes:
            click.echo(note, err=True)
    if unsaved is not None:  # the report is out; now say the journal could not take it (exit 2)
        raise unsaved
    return _exit_code(report)


def _evidence(fmt: str | None, out: tuple[str, ...], **options: Any) -> int:
    from impact_miner.pipeline import gather_evidence
    from impact_miner.render.evidence import render_evidence

    if options.get("show_prompt"):
        return _show_prompt(fmt, out, **options)
    if len(out) > 1:
        raise UsageError("mine evidence writes one file: give --out once")
    report = gather_evidence(_spec(options), _progress())
    path = Path(out[0]).expanduser() if out else None
    _emit([(path, render_evidence(report, fmt or "table").encode("utf-8"))])
    if path is not None and sys.stderr.isatty():
        click.echo(f"Wrote {path}", err=True)
    return _exit_code(report)


def _show_prompt(fmt: str | None, out: tuple[str, ...], **options: Any) -> int:
    """``--dry-run --show-prompt``: the redacted messages each project would send (or JSON)."""
    import json

    from impact_miner.llm_writer import format_prompt_requests, prompt_requests
    from impact_miner.pipeline import gather_evidence

    spec = _spec({**options, "show_prompt": False})
    if spec.llm is None:
        raise UsageError("--show-prompt needs a model: pass --model NAME or set model in [llm]")
    report = gather_evidence(spec, _progress())
    requests = prompt_requests(report.projects, report.evidence, spec.llm)
    if fmt == "json":
        text = escape_json_controls(json.dumps(requests, indent=2, ensure_ascii=False)) + "\n"
    else:
        text = format_prompt_requests(requests)
    path = Path(out[0]).expanduser() if out else None
    _emit([(path, text.encode("utf-8"))])
    return _exit_code(report)


def _exit_code(report: Any) -> int:
    for coverage in report.coverage:
        if coverage.status in ("partial", "failed"):
            _warn(f"{coverage.source}: {coverage.status}: {coverage.detail}")
    return EXIT_PARTIAL if report.partial else EXIT_OK


def _emit(files: list[tuple[Path | None, bytes]], *, binary: bool = False) -> None:
    """Write every file atomically as one batch, then print what goes to stdout (``path`` None)."""
    from impact_miner.atomic import write_files

    write_files([(path, data) for path, data in files if path is not None])
    for path, data in files:
        if path is not None:
            continue
        try:
            if binary:
                sys.stdout.flush()
                sys.stdout.buffer.write(data)
                sys.stdout.buffer.flush()
            else:
                click.echo(terminal_text(data.decode("utf-8")), nl=False)
        except OSError as exc:
            if exc.errno == errno.EPIPE:
                raise
            _detach_stdout()
            full = exc.errno in (errno.ENOSPC, errno.EDQUOT)
            reason = "no space left on the device; free some space" if full else f"{exc.strerror or exc};"
            raise UsageError(f"cannot write to standard output: {reason} or use --out FILE") from None


def _detach_stdout() -> None:
    """Point stdout at the null device, so the unwritten rest is not retried (and fails again) at exit."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):  # no real stdout (a test's capture): nothing to detach
        pass


def _progress() -> Callable[[str], None] | None:
    if not sys.stderr.isatty():
        return None
    return lambda message: click.echo(_style(f"… {message}", fg="bright_black"), err=True)


def _style(text: str, **styles: Any) -> str:
    if os.environ.get("NO_COLOR") or not sys.stderr.isatty():
        return text
    return click.style(text, **styles)


def _echo(text: str) -> None:
    """Print a line that holds untrusted text (titles, names, reasons) without its control characters."""
    click.echo(terminal_text(text))


def _warn(message: str) -> None:
    click.echo(_style(terminal_text(f"mine: warning: {message}"), fg="yellow"), err=True)


def click_message(exc: click.ClickException) -> str:
    """click's error as one line like ours: ``No such option '--x'; see mine --help`` (no usage block)."""
    message = " ".join(exc.format_message().split())
    if isinstance(exc, click.UsageError):
        where = exc.ctx.command_path if exc.ctx is not None else "mine"
        return f"{message.rstrip('.')}; see {where} --help"
    return message


@contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
    """While mining, SIGTERM raises :class:`Terminated` (a KeyboardInterrupt) in the main thread, so a
    ``kill`` cleans up exactly like Ctrl-C: fetches stop, temporary files go, finished files stay."""

    def terminate(signum: int, _frame: object) -> None:
        raise Terminated(signum)

    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, terminate)
    try:
        yield
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def main(argv: list[str] | None = None) -> None:
    """Console entry point: one clear line per error, exit 2 for bad input, 3 for a partial report."""
    args = sys.argv[1:] if argv is None else argv
    debug = "--debug" in args or bool(os.environ.get("IMPACT_MINER_DEBUG"))
    try:
        with _sigterm_as_interrupt():
            code = cli.main(args=args, prog_name="mine", standalone_mode=False)
    except MineError as exc:
        if debug:
            traceback.print_exc()
        click.echo(_style(terminal_text(f"mine: error: {exc}"), fg="red"), err=True)
        sys.exit(exc.exit_code)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.ClickException as exc:
        click.echo(_style(f"mine: error: {click_message(exc)}", fg="red"), err=True)
        sys.exit(EXIT_USAGE)
    except (click.exceptions.Abort, KeyboardInterrupt) as exc:
        stop = exc.__cause__ if isinstance(exc, click.exceptions.Abort) else exc  # click wraps Ctrl-C
        if isinstance(stop, Terminated):
            click.echo("mine: terminated", err=True)
            sys.exit(128 + stop.signum)
        click.echo("mine: interrupted", err=True)
        sys.exit(130)
    except Exception as exc:
        if debug:
            traceback.print_exc()
        bug = f"mine: internal error: {type(exc).__name__}: {exc} (rerun with --debug for details)"
        click.echo(terminal_text(bug), err=True)
        sys.exit(1)
    sys.exit(code if isinstance(code, int) else EXIT_OK)
