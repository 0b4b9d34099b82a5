"""The options of ``mine``'s commands, declared once: the run options every mining command shares, the
report's own, ``mine team``'s, the typed dict click fills with them (:class:`RunArgs`), and the one place
they become :class:`~impact_miner.runspec.RunOptions` (:func:`options_of`).

Only click and the table of formats are imported here, so ``mine --help`` stays fast.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, TypedDict, TypeVar, cast

import click

from impact_miner.errors import UsageError
from impact_miner.render.formats import FORMAT_CHOICES, GROUP_BY_CHOICES

if TYPE_CHECKING:
    from impact_miner.runspec import RunOptions

F = TypeVar("F", bound=Callable[..., object])
V = TypeVar("V")

TIME_HELP = (
    "2w, 10d, 3m, 1y, today, yesterday, this|last week|month|quarter|half|year, 2026-Q3, 2026-H1, ISO date"
)


class RunArgs(TypedDict, total=False):
    """A mining command's options as click passes them (:func:`run_options`; ``mine team`` has some)."""

    since: str | None
    until: str | None
    repos: tuple[str, ...]
    authors: tuple[str, ...]
    config: str | None
    timezone: str | None
    out: tuple[str, ...]
    refresh: bool
    no_cache: bool
    model: str | None
    api_base: str | None
    local_only: bool
    framework: str | None
    concurrency: int | None
    show_prompt: bool
    debug: bool


def not_blank(_ctx: click.Context, param: click.Parameter, value: V) -> V:
    """Refuse ``--tz ''`` and the like: an empty value would otherwise silently mean the default."""
    for item in value if isinstance(value, tuple) else (value,):
        if isinstance(item, str) and not item.strip():
            name = param.opts[0] if param.opts else param.name
            raise UsageError(f"{name} is empty; give a value or leave the option out (see mine --help)")
    return value


def config_option(help: str) -> Callable[[F], F]:
    return click.option("--config", metavar="FILE", callback=not_blank, help=help)


def _apply(command: F, options: list[Callable[[F], F]]) -> F:
    for option in reversed(options):
        command = option(command)
    return command


def _cache_options() -> list[Callable[[F], F]]:
    return [
        click.option("--refresh", is_flag=True, help="Refetch everything instead of using the local cache."),
        click.option("--no-cache", is_flag=True, help="Neither read nor write the local cache."),
    ]


def run_options(command: F) -> F:
    """The options shared by every command that mines a range."""
    return _apply(command, [
        click.option("--since", metavar="SPEC", help=f"Start of the range (default 2w): {TIME_HELP}."),
        click.option("--until", metavar="SPEC", help="End of the range, same forms (default: end of today)."),
        click.option("--repo", "repos", multiple=True, metavar="PATH", callback=not_blank,
                     help="Git repository (repeatable)."),
        click.option("--author", "authors", multiple=True, metavar="EMAIL|NAME",
                     help="Your git identity (repeatable); overrides [me] and user.email."),
        config_option("Config file (default: $IMPACT_MINER_CONFIG or platform dir)."),
        click.option("--tz", "timezone", metavar="ZONE", callback=not_blank,
                     help="Time zone such as Europe/Berlin (default: $TZ, system)."),
        click.option("--out", multiple=True, type=click.Path(dir_okay=False),
                     help="Write to FILE atomically instead of stdout. Reports: repeatable, the extension "
                     "picks the format (.md .json .html .csv .docx)."),
        *_cache_options(),
        click.option("--model", metavar="NAME", callback=not_blank,
                     help="Write statements with this litellm model (openai/gpt-4o-mini, ollama/llama3.1, "
                     "...); 'offline' (the default) uses none."),
        click.option("--api-base", metavar="URL", callback=not_blank,
                     help="An OpenAI-compatible server for --model."),
        click.option("--local-only", is_flag=True,
                     help="Refuse any model not on this machine (ollama, localhost)."),
        click.option("--framework", metavar="NAME|FILE", callback=not_blank,
                     help="Competencies: leadership-principles (default), engineering-ladder, or a TOML "
                     "file."),
        click.option("--concurrency", type=click.IntRange(1, 64), metavar="N",
                     help="Model calls at once (default 4)."),
        click.option("--show-prompt", is_flag=True, help="With --dry-run: print what the model would get."),
        click.option("--debug", is_flag=True, help="Show tracebacks."),
    ])  # fmt: skip


def report_options(command: F) -> F:
    """``mine``'s own options: the report's format and layout, the brag document, the journal."""
    return _apply(command, [
        click.option("--format", "fmt", type=click.Choice(FORMAT_CHOICES),
                     help="Format for stdout, or for an --out whose extension says none (default markdown)."),
        click.option("--group-by", type=click.Choice(GROUP_BY_CHOICES), default="project", show_default=True,
                     help="Lay statements out by project or under the competencies they are tagged with."),
        click.option("--append", metavar="FILE", type=click.Path(dir_okay=False), callback=not_blank,
                     help="Add this period as a dated section to the Markdown brag document FILE (created "
                     "if missing)."),
        click.option("--evidence", is_flag=True,
                     help="CSV: also write the evidence appendix as NAME.evidence.csv."),
        click.option("--bom", is_flag=True, help="CSV: start with a UTF-8 byte-order mark (for Excel)."),
        click.option("--dry-run", is_flag=True, help="Only list the evidence (same as `mine evidence`)."),
        click.option("--save", is_flag=True,
                     help="Also record this run in the journal (see `mine journal`)."),
    ])  # fmt: skip


def team_options(command: F) -> F:
    """``mine team``'s options: where to write, the range, formats, the batch, the lead's config."""
    return _apply(command, [
        click.argument("roster", type=click.Path(dir_okay=False)),
        click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False),
                     help="Directory to write to."),
        click.option("--since", metavar="SPEC", default="6m", show_default=True,
                     help=f"Range start: {TIME_HELP}."),
        click.option("--until", metavar="SPEC", help="End of the range, same forms (default: end of today)."),
        click.option("--format", "formats", multiple=True, type=click.Choice(FORMAT_CHOICES),
                     help="Report format, repeatable (default markdown)."),
        click.option("--jobs", "-j", type=click.IntRange(1, 64), default=4, show_default=True,
                     help="People run at once."),
        click.option("--force", is_flag=True, help="Rerun people whose reports are already complete."),
        config_option("The lead's config: sources, credentials, [team.limits.*]."),
        click.option("--tz", "timezone", metavar="ZONE", callback=not_blank,
                     help="Time zone such as Europe/Berlin (default: $TZ)."),
        *_cache_options(),
        click.option("--debug", is_flag=True, help="Show tracebacks."),
    ])  # fmt: skip


def options_of(run: RunArgs, *, show_prompt_ok: bool = False) -> RunOptions:
    """The RunOptions of a command's options, built here only (--since left out stays None: the
    use-case's default applies; ``--since ''`` stays empty and is refused)."""
    from impact_miner.runspec import RunOptions

    if run.get("show_prompt") and not show_prompt_ok:
        raise UsageError("--show-prompt prints what would be sent without sending it: add --dry-run")
    return RunOptions(
        since=run.get("since"), until=run.get("until"), config=run.get("config"),
        repos=run.get("repos", ()), authors=run.get("authors", ()), timezone=run.get("timezone"),
        refresh=run.get("refresh", False), use_cache=not run.get("no_cache", False), model=run.get("model"),
        api_base=run.get("api_base"), local_only=run.get("local_only", False), framework=run.get("framework"),
        concurrency=run.get("concurrency"),
    )  # fmt: skip


def given_before(ctx: click.Context, name: str) -> str | None:
    """An option given before the subcommand (``mine --config x journal list``)."""
    value = cast("Mapping[str, object]", ctx.obj or {}).get(name)
    return value if isinstance(value, str) else None


def merge_options(ctx: click.Context, run: RunArgs) -> RunArgs:
    """Subcommand options win; options given before the subcommand fill the gaps."""
    parent = cast("Mapping[str, object]", ctx.obj or {})
    return cast(RunArgs, {k: (v if v not in (None, (), False) else parent.get(k, v)) for k, v in run.items()})
