"""What a run needs (:class:`RunSpec`: who, when, which sources, which writer), and how command-line
options and the config turn into one (:func:`resolve_run`)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from impact_miner.cache import Cache, default_cache_path
from impact_miner.config import Config, config_path, load_config
from impact_miner.errors import UsageError
from impact_miner.llm_writer import LLMOptions, check_local, is_offline
from impact_miner.model import Person, SourceReport, SourceSection, TimeRange, Writer
from impact_miner.redact import compile_patterns
from impact_miner.registry import Connector, available, check_options, lookup
from impact_miner.timerange import resolve_range, resolve_timezone


@dataclass
class RunSpec:
    """Everything a run needs, resolved from the CLI and the config."""

    person: Person
    time_range: TimeRange
    sources: list[tuple[Connector, SourceSection]]
    max_workers: int = 8
    writer: Writer = field(default_factory=Writer)
    now: datetime = field(default_factory=lambda: datetime.now(UTC))
    cache: Cache | None = None
    llm: LLMOptions | None = None  # a model to write statements with; None: the offline writer only
    framework: str | None = None  # competency framework (built-in name or TOML path); None: the default
    skipped: list[SourceReport] = field(default_factory=list)  # implicit sources that could not be used
    cancel: threading.Event = field(default_factory=threading.Event)  # set: the run was interrupted


DEFAULT_SINCE = "2w"  # a report's range when --since is left out


@dataclass(frozen=True)
class RunOptions:
    """The options every mining command shares."""

    since: str | None = None  # None: the command's default (DEFAULT_SINCE, or a review's 6m)
    until: str | None = None
    config: str | None = None
    repos: tuple[str, ...] = ()
    authors: tuple[str, ...] = ()
    timezone: str | None = None
    refresh: bool = False
    use_cache: bool = True
    model: str | None = None  # "offline" forces the offline writer over a configured model
    api_base: str | None = None
    local_only: bool = False
    framework: str | None = None
    concurrency: int | None = None


def read_config(options: RunOptions, env: Mapping[str, str]) -> Config:
    path, required = config_path(options.config, env)
    return load_config(path, required=required, env=env)


def resolve_run(
    options: RunOptions,
    config: Config,
    *,
    now: datetime,
    env: Mapping[str, str] | None = None,
    model_summary: Callable[[str], None] | None = None,
    default_since: str = DEFAULT_SINCE,
) -> RunSpec:
    """The RunSpec for ``options`` under ``config`` at the instant ``now``.

    ``default_since`` is the start when ``options.since`` is None (a given ``""`` is refused).
    ``model_summary`` is told the model run's one-line summary (calls, tokens, cost) when a model
    writes the statements.
    """
    tz = resolve_timezone(options.timezone or config.timezone)
    since = default_since if options.since is None else options.since
    time_range = resolve_range(since, options.until, now=now.astimezone(tz), tz=tz)
    connectors = available()
    llm = llm_for(options, config.llm, env or {}, model_summary)
    framework = options.framework or config.llm.get("framework")
    if framework and llm is None:
        from impact_miner.prompting import load_framework

        load_framework(framework)  # a bad name or file fails now (exit 2), not after fetching
    return RunSpec(
        person=person_for(config.person, options.authors),
        time_range=time_range,
        sources=sources_for(config.sections, options.repos, connectors, config.path),
        now=now,
        cache=Cache(default_cache_path(env or {}), refresh=options.refresh) if options.use_cache else None,
        writer=writer_for(llm),
        llm=llm,
        framework=framework,
    )


def llm_for(
    options: RunOptions,
    table: Mapping[str, Any],
    env: Mapping[str, str],
    summary: Callable[[str], None] | None = None,
) -> LLMOptions | None:
    """The model writer's options (the CLI over ``[llm]``), or ``None`` for the offline writer.

    ``--local-only`` (or ``local_only = true``) with a model not served on this machine is a UsageError.
    """
    model = options.model or table.get("model")
    if is_offline(model):
        return None
    assert model is not None
    api_base = options.api_base or table.get("api_base")
    local_only = options.local_only or bool(table.get("local_only", False))
    if local_only:
        check_local(model, api_base, env)
    if api_base and not api_base.startswith(("http://", "https://")):
        raise UsageError(f"api_base {api_base!r} is not an http(s) URL; e.g. --api-base http://127.0.0.1:8080/v1")
    defaults = LLMOptions(model=model)
    llm = LLMOptions(
        model=model,
        api_base=api_base,
        api_key=table.get("api_key"),
        timeout=float(table.get("timeout", defaults.timeout)),
        concurrency=options.concurrency or int(table.get("concurrency", defaults.concurrency)),
        token_budget=int(table.get("token_budget", defaults.token_budget)),
        max_retries=int(table.get("max_retries", defaults.max_retries)),
        redact_patterns=tuple(table.get("redact_patterns", ())),
        framework=options.framework or str(table.get("framework", defaults.framework)),
        local_only=local_only,
        summary=summary,
    )
    compile_patterns(llm.redact_patterns)
    return llm


def writer_for(llm: LLMOptions | None) -> Writer:
    """The report's writer: offline, or ``llm`` with the model and the prompt version it will use."""
    if llm is None:
        return Writer()
    from impact_miner.prompting import load_framework, prompt_version

    return Writer(name="llm", model=llm.model, prompt_version=prompt_version(load_framework(llm.framework)))


def person_for(person: Person, authors: tuple[str, ...]) -> Person:
    """``--author`` values (emails or names) replace the configured git identities; a blank one is refused."""
    if not authors:
        return person
    if any(not author.strip() for author in authors):
        raise UsageError(
            "--author is empty; give an email or a name, e.g. --author ada@example.com "
            '--author "Ada Lovelace", or leave it out to use [me] and git config user.email'
        )
    return replace(
        person,
        emails=[a.strip() for a in authors if "@" in a],
        names=[a.strip() for a in authors if "@" not in a],
    )


def sources_for(
    sections: list[SourceSection],
    repos: tuple[str, ...],
    connectors: dict[str, Connector],
    config_file: Path | None = None,
) -> list[tuple[Connector, SourceSection]]:
    """Configured sections, plus each connector's implicit section when its type is not configured.

    ``--repo`` replaces every configured git source with one on the given paths. A configured section
    with a key its connector does not declare is refused (:func:`~impact_miner.registry.check_options`).
    """
    for configured_section in sections:
        check_options(lookup(configured_section.type, connectors), configured_section, config_file)
    chosen = [s for s in sections if not (repos and s.type == "git")]
    if repos:
        chosen.append(SourceSection(name="git", type="git", options={"paths": list(repos)}))
    pairs = [(lookup(s.type, connectors), s) for s in chosen]
    configured = {s.type for s in chosen}
    for type_name, connector in sorted(connectors.items()):
        if type_name not in configured and connector.implicit is not None:
            section = connector.implicit()
            if section is not None:
                pairs.append((connector, section))
    return pairs
