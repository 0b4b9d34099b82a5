"""The ``mine`` command: parse arguments, call the library, print. No logic of its own.

Heavy modules (pandas, GitPython, network clients, litellm) are imported inside the commands so that
``mine --help`` stays fast.
"""

from __future__ import annotations

import os
import sys
import traceback
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import click

from impact_miner import __version__
from impact_miner.errors import MineError, UsageError

F = TypeVar("F", bound=Callable[..., Any])

EXIT_OK, EXIT_USAGE, EXIT_PARTIAL = 0, 2, 3
REPORT_FORMATS = ("markdown", "md", "json")
EVIDENCE_FORMATS = ("table", "csv", "json")
TIME_HELP = (
    "2w, 10d, 3m, 1y, today, yesterday, this|last week|month|quarter|half|year, 2026-Q3, 2026-H1, ISO date"
)


def run_options(command: F) -> F:
    """The options shared by every command that mines a range."""
    options = [
        click.option("--since", metavar="SPEC", help=f"Start of the range (default 2w): {TIME_HELP}."),
        click.option("--until", metavar="SPEC", help="End of the range, same forms (default: end of today)."),
        click.option("--repo", "repos", multiple=True, metavar="PATH", help="Git repository (repeatable)."),
        click.option(
            "--author",
            "authors",
            multiple=True,
            metavar="EMAIL|NAME",
            help="Your git identity (repeatable); overrides [me] and user.email.",
        ),
        click.option(
            "--config", metavar="FILE", help="Config file (default: $IMPACT_MINER_CONFIG or platform dir)."
        ),
        click.option(
            "--tz", "timezone", metavar="ZONE", help="Time zone such as Europe/Berlin (default: $TZ, system)."
        ),
        click.option(
            "--out", type=click.Path(dir_okay=False), help="Write to FILE atomically instead of stdout."
        ),
        click.option("--refresh", is_flag=True, help="Refetch everything instead of using the local cache."),
        click.option("--no-cache", is_flag=True, help="Neither read nor write the local cache."),
        click.option("--debug", is_flag=True, help="Show tracebacks."),
    ]
    for option in reversed(options):
        command = option(command)
    return command


@click.group(invoke_without_command=True, context_settings={"help_option_names": ["-h", "--help"]})
@run_options
@click.option("--format", "fmt", type=click.Choice(REPORT_FORMATS), help="Output format (default markdown).")
@click.option("--dry-run", is_flag=True, help="Only list the evidence (same as `mine evidence`).")
@click.version_option(__version__, prog_name="mine")
@click.pass_context
def cli(ctx: click.Context, /, dry_run: bool, fmt: str | None, **options: Any) -> None:
    """Turn the work you shipped into verifiable impact statements.

    \b
    mine --since 2w                 Markdown report of the last two weeks
    mine --since last-quarter --format json --out q.json
    mine evidence --since 2w        the evidence table only
    mine init                       write a starter config
    mine sources                    list source types and what is configured
    mine cache info|clear           the local cache of fetched evidence
    """
    if ctx.invoked_subcommand is not None:
        ctx.obj = options
        return
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
@click.option("--config", metavar="FILE", help="Where to write (default: the platform config path).")
@click.pass_context
def init(ctx: click.Context, config: str | None) -> None:
    """Write a commented starter config; never overwrites an existing file."""
    from impact_miner.config import config_path, write_starter_config

    path, _ = config_path(config or (ctx.obj or {}).get("config"), os.environ)
    write_starter_config(path)
    click.echo(f"Wrote {path}; edit [me] and [sources.*], then run `mine --since 2w`.")


@cli.command()
@click.option("--config", metavar="FILE", help="Config file to read.")
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
    from impact_miner.store import Cache, default_cache_path

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
    from impact_miner.store import Cache, default_cache_path

    removed = Cache(default_cache_path(os.environ)).clear(namespace)
    click.echo(f"Removed {removed} cached entries.")


def _merge(ctx: click.Context, options: dict[str, Any]) -> dict[str, Any]:
    """Subcommand options win; options given before the subcommand fill the gaps."""
    parent = ctx.obj or {}
    return {k: (v if v not in (None, (), False) else parent.get(k, v)) for k, v in options.items()}


def _spec(options: dict[str, Any]) -> Any:
    from impact_miner.runspec import RunOptions, read_config, resolve_run

    run = RunOptions(
        since=options.get("since") or "2w",
        until=options.get("until"),
        config=options.get("config"),
        repos=tuple(options.get("repos") or ()),
        authors=tuple(options.get("authors") or ()),
        timezone=options.get("timezone"),
        refresh=bool(options.get("refresh")),
        use_cache=not options.get("no_cache"),
    )
    config = read_config(run, os.environ)
    for warning in config.warnings:
        _warn(warning)
    return resolve_run(run, config, now=datetime.now(UTC), env=os.environ)


def _report(fmt: str | None, out: str | None, **options: Any) -> int:
    from impact_miner.pipeline import build_report
    from impact_miner.render import render_json, render_markdown

    fmt = fmt or ("json" if out and out.lower().endswith(".json") else "markdown")
    report = build_report(_spec(options), _progress())
    _emit(render_json(report) if fmt == "json" else render_markdown(report), out)
    return _exit_code(report)


def _evidence(fmt: str | None, out: str | None, **options: Any) -> int:
    from impact_miner.pipeline import gather_evidence
    from impact_miner.render import render_evidence

    report = gather_evidence(_spec(options), _progress())
    _emit(render_evidence(report, fmt or "table"), out)
    return _exit_code(report)


def _exit_code(report: Any) -> int:
    for coverage in report.coverage:
        if coverage.status in ("partial", "failed"):
            _warn(f"{coverage.source}: {coverage.status}: {coverage.detail}")
    return EXIT_PARTIAL if report.partial else EXIT_OK


def _emit(text: str, out: str | None) -> None:
    if out is None:
        click.echo(text, nl=False)
        return
    from impact_miner.render import write_atomic

    try:
        write_atomic(Path(out), text)
    except OSError as exc:
        raise UsageError(
            f"cannot write {out}: {exc.strerror}; check the directory exists and is writable"
        ) from None
    if sys.stderr.isatty():
        click.echo(f"Wrote {out}", err=True)


def _progress() -> Callable[[str], None] | None:
    if not sys.stderr.isatty():
        return None
    return lambda message: click.echo(_style(f"… {message}", fg="bright_black"), err=True)


def _style(text: str, **styles: Any) -> str:
    if os.environ.get("NO_COLOR") or not sys.stderr.isatty():
        return text
    return click.style(text, **styles)


def _warn(message: str) -> None:
    click.echo(_style(f"mine: warning: {message}", fg="yellow"), err=True)


def main(argv: list[str] | None = None) -> None:
    """Console entry point: one clear line per error, exit 2 for bad input, 3 for a partial report."""
    args = sys.argv[1:] if argv is None else argv
    debug = "--debug" in args or bool(os.environ.get("IMPACT_MINER_DEBUG"))
    try:
        code = cli.main(args=args, prog_name="mine", standalone_mode=False)
    except MineError as exc:
        if debug:
            traceback.print_exc()
        click.echo(_style(f"mine: error: {exc}", fg="red"), err=True)
        sys.exit(exc.exit_code)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except click.exceptions.Abort:
        click.echo("mine: aborted", err=True)
        sys.exit(130)
    except KeyboardInterrupt:
        click.echo("mine: interrupted", err=True)
        sys.exit(130)
    except Exception as exc:
        if debug:
            traceback.print_exc()
        click.echo(
            f"mine: internal error: {type(exc).__name__}: {exc} (rerun with --debug for details)", err=True
        )
        sys.exit(1)
    sys.exit(code if isinstance(code, int) else EXIT_OK)
