"""Turn command-line options and the config into a RunSpec: who, when, and which sources."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime

from impact_miner.config import Config, config_path, load_config
from impact_miner.model import Person, SourceSection
from impact_miner.pipeline import RunSpec
from impact_miner.registry import Connector, available, lookup
from impact_miner.store import Cache, default_cache_path
from impact_miner.timerange import resolve_range, resolve_timezone


@dataclass(frozen=True)
class RunOptions:
    """The options every mining command shares."""

    since: str = "2w"
    until: str | None = None
    config: str | None = None
    repos: tuple[str, ...] = ()
    authors: tuple[str, ...] = ()
    timezone: str | None = None
    refresh: bool = False
    use_cache: bool = True


def read_config(options: RunOptions, env: Mapping[str, str]) -> Config:
    path, required = config_path(options.config, env)
    return load_config(path, required=required, env=env)


def resolve_run(
    options: RunOptions, config: Config, *, now: datetime, env: Mapping[str, str] | None = None
) -> RunSpec:
    """The RunSpec for ``options`` under ``config`` at the instant ``now``."""
    tz = resolve_timezone(options.timezone or config.timezone)
    time_range = resolve_range(options.since, options.until, now=now.astimezone(tz), tz=tz)
    connectors = available()
    return RunSpec(
        person=person_for(config.person, options.authors),
        time_range=time_range,
        sources=sources_for(config.sections, options.repos, connectors),
        now=now,
        cache=Cache(default_cache_path(env or {}), refresh=options.refresh) if options.use_cache else None,
    )


def person_for(person: Person, authors: tuple[str, ...]) -> Person:
    """``--author`` values (emails or names) replace the configured git identities."""
    if not authors:
        return person
    return replace(
        person,
        emails=[a.strip() for a in authors if "@" in a],
        names=[a.strip() for a in authors if "@" not in a],
    )


def sources_for(
    sections: list[SourceSection], repos: tuple[str, ...], connectors: dict[str, Connector]
) -> list[tuple[Connector, SourceSection]]:
    """Configured sections, plus each connector's implicit section when its type is not configured.

    ``--repo`` replaces every configured git source with one on the given paths.
    """
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
