"""The ``mine`` command: parse arguments (:mod:`impact_miner.cli_options`), call the library
(:mod:`impact_miner.usecases`), print (:mod:`impact_miner.console`), and map errors to exit codes.

Heavy modules (pandas, GitPython, network clients, litellm) are imported inside the commands so that
``mine --help`` stays fast.
"""

from __future__ import annotations

import os
import sys
import traceback
import warnings
from typing import TYPE_CHECKING, Unpack

import click

from impact_miner import __version__, console
from impact_miner import cli_options as opt
from impact_miner.cli_options import RunArgs
from impact_miner.errors import ConnectorWarning, MineError, Terminated, UsageError
from impact_miner.interrupts import sigterm_as_interrupt
from impact_miner.render.formats import EVIDENCE_FORMATS, FORMAT_CHOICES
from impact_miner.terminal import terminal_text

if TYPE_CHECKING:
    from impact_miner.model import Report
    from impact_miner.render.views import GroupBy
    from impact_miner.usecases import Listener, Outcome

EXIT_OK, EXIT_USAGE, EXIT_PARTIAL = 0, 2, 3


@click.group(invoke_without_command=True, context_settings={"help_option_names": ["-h", "--help"]})
@opt.run_options
@opt.report_options
@click.version_option(__version__, prog_name="mine")
@click.pass_context
def cli(
    ctx: click.Context, /, fmt: str | None, group_by: GroupBy, append: str | None, evidence: bool, bom: bool,
    dry_run: bool, save: bool, **run: Unpack[RunArgs],
) -> None:  # fmt: skip
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
        ctx.obj = run
        return
    if dry_run and save:
        raise UsageError("--save records a report; drop --dry-run to save this run")
    if dry_run:
        ctx.exit(_evidence(fmt if fmt in EVIDENCE_FORMATS else None, run))
    from impact_miner import usecases
    from impact_miner.render.formats import RenderOptions

    request = usecases.ReportRequest(
        opt.options_of(run), run.get("out", ()), fmt, RenderOptions(group_by, bom, evidence), append, save,
        stdout_is_terminal=sys.stdout.isatty(),
    )  # fmt: skip
    ctx.exit(_finish(usecases.make_report(request, _listener())))


@cli.command()
@opt.run_options
@click.option("--format", "fmt", type=click.Choice(EVIDENCE_FORMATS), help="table (default), csv or json.")
@click.pass_context
def evidence(ctx: click.Context, /, fmt: str | None, **run: Unpack[RunArgs]) -> None:
    """Print the evidence found, without writing statements (alias: --dry-run)."""
    ctx.exit(_evidence(fmt, opt.merge_options(ctx, run)))


@cli.command()
@opt.config_option("Where to write (default: the platform config path).")
@click.pass_context
def init(ctx: click.Context, config: str | None) -> None:
    """Write a commented starter config; never overwrites an existing file."""
    from impact_miner.config import config_path, write_starter_config

    path, _ = config_path(config or opt.given_before(ctx, "config"), os.environ)
    write_starter_config(path)
    click.echo(f"Wrote {path}; edit [me] and [sources.*], then run `mine --since 2w`.")


@cli.command()
@opt.config_option("Config file to read.")
@click.pass_context
def sources(ctx: click.Context, config: str | None) -> None:
    """List the installed source types and which are configured."""
    from impact_miner.usecases import source_status

    path, states = source_status(config or opt.given_before(ctx, "config"), _listener())
    click.echo(f"Config: {path or 'no config file'}")
    for source in states:
        click.echo(f"  {source.type:<12} {source.state:<28} {source.summary}")


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

    click.echo(f"Removed {Cache(default_cache_path(os.environ)).clear(namespace)} cached entries.")


@cli.group(name="journal")
def journal_group() -> None:
    """Saved runs (`mine --save`) and your edits to their statements."""


@journal_group.command(name="list")
@opt.config_option("Config file whose [journal] path to use.")
@click.pass_context
def journal_list(ctx: click.Context, config: str | None) -> None:
    """Every saved run, oldest first, with its statements and their ids (RUN.N)."""
    from impact_miner.journal import Journal
    from impact_miner.usecases import journal_path_for

    journal = Journal(journal_path_for(config or opt.given_before(ctx, "config")))
    runs = journal.runs()
    click.echo(f"Journal: {journal.path} ({len(runs)} saved runs)")
    for run in runs:
        saved, since, until = run.created_at.astimezone(), run.range.since, run.range.until
        console.echo(
            f"#{run.id}  saved {saved:%Y-%m-%d %H:%M}  {run.person.name or '(unnamed)'}  "
            f"{since:%Y-%m-%d %H:%M} → {until:%Y-%m-%d %H:%M} ({run.range.spec})  "
            f"{run.writer.name}  {run.evidence_count} items"
        )
        for statement in run.statements:
            console.echo(f"    {statement.id:<7} {statement.title}{'  (edited)' if statement.edited else ''}")
    if not runs:
        click.echo("  nothing saved yet: run `mine --since 2w --save`")


@journal_group.command(name="edit")
@click.argument("statement_id", metavar="ID")
@opt.config_option("Config file whose [journal] path to use.")
@click.pass_context
def journal_edit(ctx: click.Context, statement_id: str, config: str | None) -> None:
    """Open statement ID (as `mine journal list` prints it, e.g. 3.2) in $EDITOR and keep your version."""
    from impact_miner.usecases import edit_statement

    statement, kept = edit_statement(statement_id, config or opt.given_before(ctx, "config"))
    if kept:
        click.echo(f"Kept your edit of statement {statement.id}; later runs never overwrite it.")
    else:
        click.echo(f"Statement {statement.id} unchanged.")


@cli.command()
@opt.run_options
@click.option("--format", "fmt", type=click.Choice(FORMAT_CHOICES), help="Output format (default markdown).")
@click.pass_context
def review(ctx: click.Context, /, fmt: str | None, **run: Unpack[RunArgs]) -> None:
    """One report for a review period (default 6m) from saved runs, fetching only what they leave out.

    \b
    mine review --since 6m                     the half-year from your fortnightly `--save` runs
    mine review --since 2026-H1 --out h1.md    a named period, written atomically
    """
    from impact_miner import usecases

    run = opt.merge_options(ctx, run)
    request = usecases.ReviewRequest(opt.options_of(run), run.get("out", ()), fmt, sys.stdout.isatty())
    ctx.exit(_finish(usecases.review(request, _listener())))


@cli.command()
@opt.team_options
@click.pass_context
def team(
    ctx: click.Context, /, roster: str, out_dir: str, formats: tuple[str, ...], jobs: int, force: bool,
    **run: Unpack[RunArgs],
) -> None:  # fmt: skip
    """One report per person on ROSTER (.toml or .csv), plus index.md and index.html in --out.

    \b
    mine team team.toml --since 6m --out reports/ --jobs 4
    mine team team.csv --out reports/ --format md --format html   rerun: only the unfinished run
    """
    from impact_miner.team import LiveDisplay, run_team, summary_table
    from impact_miner.usecases import TeamRequest, team_batch

    request = TeamRequest(roster, out_dir, opt.options_of(run), formats, jobs, force)
    batch = team_batch(request, _listener())
    if sys.stderr.isatty():
        with LiveDisplay(len(batch.roster.members) + len(batch.roster.problems)) as display:
            result = run_team(batch, display)
    else:
        result = run_team(batch)
    console.echo(summary_table(result.results))
    click.echo(f"Index: {result.index_files[0]} and {result.index_files[1].name}")
    ctx.exit(EXIT_PARTIAL if result.exit_partial else EXIT_OK)


def _evidence(fmt: str | None, run: RunArgs) -> int:
    from impact_miner import usecases

    options = opt.options_of(run, show_prompt_ok=True)
    request = usecases.EvidenceRequest(options, run.get("out", ()), fmt, run.get("show_prompt", False))
    return _finish(usecases.list_evidence(request, _listener()))


def _listener() -> Listener:
    from impact_miner.usecases import Listener

    return Listener(
        progress=console.progress if sys.stderr.isatty() else None,
        warn=console.warn,
        note=lambda line: click.echo(line, err=True),
        model_summary=lambda line: click.echo(console.style(line, "cyan"), err=True),
    )


def _finish(outcome: Outcome) -> int:
    """Print standard output, then (at a terminal) the notes; a journal that could not take the run is
    raised after the report is out; then the exit code."""
    console.print_stdout(outcome.stdout, binary=outcome.binary)
    if sys.stderr.isatty():
        for note in outcome.notes:
            click.echo(note, err=True)
    if outcome.unsaved is not None:
        raise outcome.unsaved
    return _exit_code(outcome.report)


def _exit_code(report: Report) -> int:
    for coverage in report.coverage:
        if coverage.status in ("partial", "failed"):
            console.warn(f"{coverage.source}: {coverage.status}: {coverage.detail}")
    return EXIT_PARTIAL if report.partial else EXIT_OK


def main(argv: list[str] | None = None) -> None:
    """Console entry point: one clear line per error, exit 2 for bad input, 3 for a partial report."""
    args = sys.argv[1:] if argv is None else argv
    debug = "--debug" in args or bool(os.environ.get("IMPACT_MINER_DEBUG"))
    warnings.filterwarnings("ignore", category=ConnectorWarning)  # the use-cases say it as one line
    try:
        with sigterm_as_interrupt():
            code = cli.main(args=args, prog_name="mine", standalone_mode=False)
    except MineError as exc:
        if debug:
            traceback.print_exc()
        console.error(str(exc))
        sys.exit(exc.exit_code)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.ClickException as exc:
        console.error(console.click_message(exc))
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
