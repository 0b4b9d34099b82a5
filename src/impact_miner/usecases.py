"""What ``mine`` does, as typed library calls: the CLI parses options into one of the requests here,
calls the use-case, prints what it returns and maps errors to exit codes.

- :func:`make_report` (``mine``): check every output, fetch once, render each format once, write all
  files (and the brag document) as one atomic batch, and record the run with ``save``.
- :func:`list_evidence` (``mine evidence``, ``--dry-run``, ``--show-prompt``): the evidence alone.
- :func:`review` (``mine review``): one report for a review period from the journal's saved runs.
- :func:`save_run` (``--save``): record a report in the journal.
- :func:`source_status` (``mine sources``): the installed source types and which are configured.
- :func:`team_batch` (``mine team``): the batch :func:`impact_miner.team.run_team` runs.
- :func:`edit_statement` (``mine journal edit``): your edit of a saved statement.

Every output is checked before anything is fetched (a bad ``--out`` costs no request). What a run says
while it works goes to a :class:`Listener`; what is left to show (standard output's bytes, notes on
what was written) comes back in an :class:`Outcome`. ``env`` and ``now`` default to the process's.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from impact_miner.atomic import write_files
from impact_miner.brag import append_section, read_brag
from impact_miner.config import Config, config_path
from impact_miner.editor import edit_in_editor
from impact_miner.errors import MineError, UsageError
from impact_miner.journal import Journal, SavedStatement, edit_buffer, journal_path, read_edit_buffer
from impact_miner.llm_writer import format_prompt_requests, prompt_requests
from impact_miner.model import Report
from impact_miner.outputs import binary_stdout, check_targets, check_terminal, plan_outputs, write_outputs
from impact_miner.pipeline import build_report, gather_evidence
from impact_miner.registry import available, skipped_connectors
from impact_miner.render.evidence import render_evidence
from impact_miner.render.formats import DEFAULT_FORMAT, RenderOptions, normalise_format
from impact_miner.review import compose_review
from impact_miner.runspec import DEFAULT_SINCE, RunOptions, RunSpec, read_config, resolve_run
from impact_miner.team import SourceLimiter, TeamBatch, read_limits, read_roster
from impact_miner.terminal import escape_json_controls

Hook = Callable[[str], None]
REVIEW_SINCE = "6m"  # a review period's (and a team batch's) start when none is given


@dataclass(frozen=True)
class Listener:
    """What a use-case tells its caller while it runs; every hook is optional.

    ``progress``: a step of a long run ("fetching gh (github)"). ``warn``: a problem the run went past
    (a config warning, an ignored option). ``note``: a line always worth showing (the journal saved the
    run). ``model_summary``: the model run's one line of calls, tokens and cost.
    """

    progress: Hook | None = None
    warn: Hook | None = None
    note: Hook | None = None
    model_summary: Hook | None = None

    def warning(self, message: str) -> None:
        if self.warn is not None:
            self.warn(message)

    def say(self, message: str) -> None:
        if self.note is not None:
            self.note(message)


@dataclass
class Outcome:
    """What a use-case leaves for its caller to show.

    ``stdout``: what goes to standard output, in order (``binary``: as bytes, e.g. DOCX). ``notes``:
    what was written where, worth showing at a terminal. ``unsaved``: the journal could not take the
    run; the report is out, so the caller reports this error last.
    """

    report: Report
    stdout: list[bytes] = field(default_factory=list)
    binary: bool = False
    notes: list[str] = field(default_factory=list)
    unsaved: MineError | None = None


@dataclass(frozen=True)
class ReportRequest:
    """``mine``: the run, its outputs (``--out``, ``--format``), layout, brag document and journal."""

    run: RunOptions = field(default_factory=RunOptions)
    outs: tuple[str, ...] = ()
    format: str | None = None
    render: RenderOptions = field(default_factory=RenderOptions)
    append: str | None = None
    save: bool = False
    stdout_is_terminal: bool = False


@dataclass(frozen=True)
class EvidenceRequest:
    """``mine evidence``: the run, one output (``table``, ``csv`` or ``json``), or the prompts instead."""

    run: RunOptions = field(default_factory=RunOptions)
    outs: tuple[str, ...] = ()
    format: str | None = None
    show_prompt: bool = False


@dataclass(frozen=True)
class ReviewRequest:
    """``mine review``: the review period (default :data:`REVIEW_SINCE`) and its outputs."""

    run: RunOptions = field(default_factory=RunOptions)
    outs: tuple[str, ...] = ()
    format: str | None = None
    stdout_is_terminal: bool = False


@dataclass(frozen=True)
class TeamRequest:
    """``mine team``: the roster, where to write, the lead's run options and the batch's settings."""
    roster: str
    out_dir: str
    run: RunOptions = field(default_factory=RunOptions)
    formats: tuple[str, ...] = ()
    jobs: int = 4
    force: bool = False


@dataclass(frozen=True)
class SourceState:
    """One line of ``mine sources``: a source type, whether it is configured, what it fetches."""

    type: str
    state: str
    summary: str


def resolve(
    options: RunOptions,
    listener: Listener = Listener(),
    *,
    env: Mapping[str, str] | None = None,
    now: datetime | None = None,
) -> RunSpec:
    """The RunSpec of ``options`` under their config (a report's range by default); the config's
    warnings, and any third-party connector skipped as broken, go to the listener."""
    return _resolve(options, listener, env, now, summary=True)[0]


def _resolve(
    options: RunOptions,
    listener: Listener,
    env: Mapping[str, str] | None,
    now: datetime | None,
    *,
    summary: bool,
    default_since: str = DEFAULT_SINCE,
) -> tuple[RunSpec, Config]:
    env = os.environ if env is None else env
    config = read_config(options, env)
    for warning in [*config.warnings, *skipped_connectors()]:
        listener.warning(warning)
    model_summary = listener.model_summary if summary else None
    spec = resolve_run(
        options,
        config,
        now=now or datetime.now(UTC),
        env=env,
        model_summary=model_summary,
        default_since=default_since,
    )
    return spec, config


def make_report(
    request: ReportRequest,
    listener: Listener = Listener(),
    *,
    env: Mapping[str, str] | None = None,
    now: datetime | None = None,
) -> Outcome:
    """``mine``: check every output, fetch once, render each format once, write all files as one batch.

    Standard output is left to the caller (:attr:`Outcome.stdout`). With ``save`` the run is recorded
    in the journal first; a journal that cannot take it is returned (:attr:`Outcome.unsaved`), so the
    report is still written before anyone says so.
    """
    targets = plan_outputs(request.outs, request.format, stdout_by_default=request.append is None)
    check_targets(targets, request.render)
    brag = Path(request.append).expanduser() if request.append else None
    if brag is not None and any(t.path is not None and t.path.resolve() == brag.resolve() for t in targets):
        raise UsageError(
            f"--append {request.append} is also an --out; give the brag document once, with --append"
        )
    check_terminal(targets, stdout_is_terminal=request.stdout_is_terminal)
    if request.render.evidence and not any(t.format == "csv" for t in targets):
        listener.warning("--evidence only adds the CSV evidence appendix; no CSV output was asked for")
    report = build_report(resolve(request.run, listener, env=env, now=now), listener.progress)
    unsaved = save_run(report, request.run.config, listener, env=env, now=now) if request.save else None
    brag_files: list[tuple[Path, bytes]] = []
    if brag is not None:
        text, action = append_section(read_brag(brag), report, request.render.group_by)
        brag_files.append((brag, text.encode("utf-8")))
    files = write_outputs(report, targets, request.render, also=brag_files)
    notes = [f"Wrote {path}" for path, _ in files if path is not None]
    if brag is not None:
        period = report.range.spec or "the range"
        notes.append(f"{action.capitalize()} the section for {period} in {request.append}")
    stdout = [data for path, data in files if path is None]
    return Outcome(report, stdout, binary_stdout(targets), notes, unsaved)


def list_evidence(
    request: EvidenceRequest,
    listener: Listener = Listener(),
    *,
    env: Mapping[str, str] | None = None,
    now: datetime | None = None,
) -> Outcome:
    """``mine evidence``: the evidence found, without writing statements, to standard output or one file.

    With ``show_prompt``: the redacted messages each project would send to the model (JSON with
    ``format="json"``), and nothing is sent.
    """
    if request.show_prompt:
        return _show_prompt(request, listener, env=env, now=now)
    if len(request.outs) > 1:
        raise UsageError("mine evidence writes one file: give --out once")
    report = gather_evidence(resolve(request.run, listener, env=env, now=now), listener.progress)
    data = render_evidence(report, request.format or "table").encode("utf-8")
    if not request.outs:
        return Outcome(report, [data])
    path = Path(request.outs[0]).expanduser()
    write_files([(path, data)])
    return Outcome(report, notes=[f"Wrote {path}"])


def _show_prompt(
    request: EvidenceRequest, listener: Listener, *, env: Mapping[str, str] | None, now: datetime | None
) -> Outcome:
    spec = resolve(request.run, listener, env=env, now=now)
    if spec.llm is None:
        raise UsageError("--show-prompt needs a model: pass --model NAME or set model in [llm]")
    report = gather_evidence(spec, listener.progress)
    requests = prompt_requests(report.projects, report.evidence, spec.llm)
    if request.format == "json":
        text = escape_json_controls(json.dumps(requests, indent=2, ensure_ascii=False)) + "\n"
    else:
        text = format_prompt_requests(requests)
    if not request.outs:
        return Outcome(report, [text.encode("utf-8")])
    write_files([(Path(request.outs[0]).expanduser(), text.encode("utf-8"))])
    return Outcome(report)


def review(
    request: ReviewRequest,
    listener: Listener = Listener(),
    *,
    env: Mapping[str, str] | None = None,
    now: datetime | None = None,
) -> Outcome:
    """``mine review``: one report for the period from the journal's saved runs plus what they leave out
    (:func:`impact_miner.review.compose_review`), written like ``mine``'s."""
    targets = plan_outputs(request.outs, request.format)
    check_terminal(targets, stdout_is_terminal=request.stdout_is_terminal, command="mine review")
    journal = Journal(journal_path_for(request.run.config, env))
    spec = _resolve(request.run, listener, env, now, summary=True, default_since=REVIEW_SINCE)[0]
    result = compose_review(spec, journal, listener.progress)
    for note in result.notes:
        listener.warning(note)
    files = write_outputs(result.report, targets)
    notes = [f"Using your edited statements: {', '.join(result.edits_used)}"] if result.edits_used else []
    return Outcome(
        result.report, [data for path, data in files if path is None], binary_stdout(targets), notes
    )


def save_run(
    report: Report,
    config: str | None,
    listener: Listener = Listener(),
    *,
    env: Mapping[str, str] | None = None,
    now: datetime | None = None,
) -> MineError | None:
    """``--save``: record ``report`` in the journal of ``config``; a journal that cannot take it is
    returned, not raised, so that the report is still written before anyone says so."""
    journal = Journal(journal_path_for(config, env))
    try:
        run_id = journal.save(report, created_at=now or datetime.now(UTC))
    except MineError as exc:
        return exc
    listener.say(
        f"Saved run #{run_id} ({len(report.evidence)} items, {len(report.projects)} statements) "
        f"to {journal.path}"
    )
    return None


def journal_path_for(config: str | None, env: Mapping[str, str] | None = None) -> Path:
    """The journal of ``config`` (``[journal] path``, ``$IMPACT_MINER_JOURNAL`` or the default); a named
    config file that does not exist is a :class:`UsageError`."""
    env = os.environ if env is None else env
    path, required = config_path(config, env)
    if required and not path.exists():
        raise UsageError(f"config file {path} does not exist; create it with `mine init --config {path}`")
    return journal_path(env, path)


def edit_statement(
    statement_id: str,
    config: str | None,
    edit: Callable[[str, str], str | None] | None = None,
    *,
    env: Mapping[str, str] | None = None,
    now: datetime | None = None,
) -> tuple[SavedStatement, bool]:
    """``mine journal edit``: statement ``RUN.N`` as ``edit(text, id)`` returns it (default: the user's
    editor, :func:`impact_miner.editor.edit_in_editor`); returns the statement and whether the edit was
    kept (False: unchanged). An empty edit is a :class:`UsageError` and saves nothing."""
    journal = Journal(journal_path_for(config, env))
    current = journal.statement(statement_id)
    run = next((r for r in journal.runs() if r.id == current.run_id), None)
    edited = (edit or edit_in_editor)(edit_buffer(current, run), current.id)
    text = read_edit_buffer(edited) if edited is not None else current.text.strip()
    if not text:
        raise UsageError(f"the edited statement {current.id} is empty; nothing was saved")
    if text == current.text.strip():
        return current, False
    journal.edit(current.id, text, edited_at=now or datetime.now(UTC))
    return current, True


def source_status(
    config: str | None, listener: Listener = Listener(), env: Mapping[str, str] | None = None
) -> tuple[Path | None, list[SourceState]]:
    """``mine sources``: the config file read (None: none) and, for every installed source type and every
    configured type no connector provides, whether and how it is configured."""
    loaded = read_config(RunOptions(config=config), os.environ if env is None else env)
    connectors = available()
    for skipped in skipped_connectors():
        listener.warning(skipped)
    states = []
    for type_name, connector in sorted(connectors.items()):
        names = [s.name for s in loaded.sections if s.type == type_name]
        if names:
            state = "configured: " + ", ".join(names)
        elif connector.implicit is not None and connector.implicit() is not None:
            state = "on by default"
        else:
            state = "not configured"
        states.append(SourceState(type_name, state, connector.summary))
    for type_name in sorted({s.type for s in loaded.sections} - set(connectors)):
        states.append(SourceState(type_name, "unknown type", "no installed connector provides it"))
    return loaded.path, states


def team_batch(
    request: TeamRequest,
    listener: Listener = Listener(),
    *,
    env: Mapping[str, str] | None = None,
    now: datetime | None = None,
) -> TeamBatch:
    """``mine team``: the roster read, the lead's config resolved, the shared limits; run it with
    :func:`impact_miner.team.run_team`."""
    roster = read_roster(Path(request.roster))
    base, config = _resolve(request.run, listener, env, now, summary=False, default_since=REVIEW_SINCE)
    return TeamBatch(
        roster=roster,
        base=base,
        lead_sections=config.sections,
        out_dir=Path(request.out_dir).expanduser(),
        formats=tuple(dict.fromkeys(normalise_format(f) for f in request.formats or (DEFAULT_FORMAT,))),
        jobs=request.jobs,
        force=request.force,
        limiter=SourceLimiter(read_limits(config.path), cancel=base.cancel),
        env=os.environ if env is None else env,
    )
