"""Prompt templates and competency frameworks: load them from package data, render them, version them.

Templates live in ``impact_miner.prompts/templates`` (Jinja2, ``*.md.j2``): ``system.md.j2`` (the rubric
and the framework's competencies), ``project.md.j2`` (one project's facts, evidence and fenced quoted
text), ``retry_parse.md.j2`` and ``retry_verify.md.j2`` (the one retry each failure kind gets).
Frameworks live in ``impact_miner.prompts/frameworks`` (TOML): ``leadership-principles`` (Amazon's 16
Leadership Principles) and ``engineering-ladder``; a custom framework is any TOML file of the same shape::

    id = "my-ladder"                 # optional; defaults to the file name
    name = "Acme Engineering Ladder"
    max_per_statement = 2            # optional, 1..3
    [[competencies]]
    name = "Execution"
    summary = "Ships correct, maintainable changes."
    keywords = ['\\bfix', '\\bimplement']   # optional regexes for offline tagging

Everything is read through :mod:`importlib.resources`, never through paths relative to the source tree.
``prompt_version`` is a content hash of every template, the framework and the reply schema, so any edit
to the prompts changes it (and misses the model-reply cache). Jinja2 is imported only when rendering.
"""

from __future__ import annotations

import hashlib
import json
import re
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from importlib.resources import files
from pathlib import Path
from typing import Any

from impact_miner.errors import ConfigError
from impact_miner.model import Evidence, Project
from impact_miner.signals import SIGNALS, tag

PACKAGE = "impact_miner.prompts"
DEFAULT_FRAMEWORK = "leadership-principles"
MAX_COMPETENCIES = 3
SYSTEM_TEMPLATE = "system.md.j2"
PROJECT_TEMPLATE = "project.md.j2"
RETRY_PARSE_TEMPLATE = "retry_parse.md.j2"
RETRY_VERIFY_TEMPLATE = "retry_verify.md.j2"


@dataclass(frozen=True)
class Competency:
    """One competency; ``signals`` (:data:`impact_miner.signals.SIGNALS`) are what tags it offline."""

    name: str
    summary: str
    signals: tuple[str, ...] = ()


@dataclass(frozen=True)
class Framework:
    """A competency framework: the names a statement may be tagged with, at most ``max_per_statement``."""

    id: str
    name: str
    competencies: tuple[Competency, ...]
    max_per_statement: int = 2
    source_text: str = ""

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.competencies]

    def canonical(self, name: str) -> str | None:
        """The framework's own spelling of ``name`` (case and spacing ignored), or ``None``."""
        wanted = _fold(name)
        return next((c.name for c in self.competencies if _fold(c.name) == wanted), None)


def builtin_frameworks() -> list[str]:
    """The ids of the frameworks shipped in the package."""
    folder = files(PACKAGE).joinpath("frameworks")
    return sorted(p.name.removesuffix(".toml") for p in folder.iterdir() if p.name.endswith(".toml"))


def template_names() -> list[str]:
    folder = files(PACKAGE).joinpath("templates")
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".j2"))


def template_source(name: str) -> str:
    return files(PACKAGE).joinpath("templates", name).read_text(encoding="utf-8")


def load_framework(name_or_path: str | None) -> Framework:
    """A built-in framework by id, or a TOML file by path. Raises ConfigError naming what is wrong."""
    choice = (name_or_path or DEFAULT_FRAMEWORK).strip()
    if choice in builtin_frameworks():
        text = files(PACKAGE).joinpath("frameworks", f"{choice}.toml").read_text(encoding="utf-8")
        return parse_framework(text, where=f"framework {choice}", default_id=choice)
    path = Path(choice).expanduser()
    if not path.is_file():
        raise ConfigError(
            f"framework {choice!r} is neither a built-in one ({', '.join(builtin_frameworks())}) nor a file; "
            "pass one of those names or the path of a TOML framework file"
        )
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"framework file {path} cannot be read: {exc}") from None
    return parse_framework(text, where=f"framework file {path}", default_id=path.stem)


def parse_framework(text: str, *, where: str, default_id: str) -> Framework:
    """Validate a framework document (see the module docstring for its shape)."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{where}: invalid TOML: {exc}") from None
    name = data.get("name")
    if not isinstance(name, str) or not name.strip():
        raise ConfigError(f'{where}: needs a `name`, e.g. name = "Acme Engineering Ladder"')
    limit = data.get("max_per_statement", 2)
    if not isinstance(limit, int) or isinstance(limit, bool) or not 1 <= limit <= MAX_COMPETENCIES:
        raise ConfigError(f"{where}: `max_per_statement` must be a whole number from 1 to {MAX_COMPETENCIES}")
    raw = data.get("competencies")
    if not isinstance(raw, list) or not raw:
        raise ConfigError(f"{where}: needs at least one [[competencies]] table with a `name` and a `summary`")
    competencies: list[Competency] = []
    for number, entry in enumerate(raw, 1):
        if not isinstance(entry, dict) or not isinstance(entry.get("name"), str) or not entry["name"].strip():
            raise ConfigError(f"{where}: competency {number} needs a `name` string")
        summary = entry.get("summary", "")
        signals = entry.get("signals", [])
        if not isinstance(summary, str):
            raise ConfigError(f"{where}: competency {entry['name']!r}: `summary` must be a string")
        if not isinstance(signals, list) or not all(isinstance(s, str) for s in signals):
            raise ConfigError(f"{where}: competency {entry['name']!r}: `signals` must be a list of strings")
        unknown = [s for s in signals if s not in SIGNALS]
        if unknown:
            raise ConfigError(
                f"{where}: competency {entry['name']!r}: unknown signal {unknown[0]!r}; "
                f"known signals: {', '.join(SIGNALS)}"
            )
        # `keywords` (regexes on titles) were weak evidence and are no longer used; old files still load
        competencies.append(Competency(entry["name"].strip(), summary.strip(), tuple(signals)))
    folded = [_fold(c.name) for c in competencies]
    duplicates = sorted({c.name for c, f in zip(competencies, folded, strict=True) if folded.count(f) > 1})
    if duplicates:
        raise ConfigError(f"{where}: competency names must be unique; repeated: {', '.join(duplicates)}")
    framework_id = data.get("id", default_id)
    if not isinstance(framework_id, str) or not framework_id:
        raise ConfigError(f"{where}: `id` must be a non-empty string")
    return Framework(framework_id, name.strip(), tuple(competencies), limit, text)


def response_schema(framework: Framework) -> dict[str, Any]:
    """The JSON schema of a reply: ``statement``, ``evidence_ids`` and ``competencies`` from the framework.

    No ``minItems``/``maxItems``: strict structured-output modes of some providers reject them; the counts
    are enforced on the parsed reply instead."""
    return {
        "type": "object",
        "properties": {
            "statement": {"type": "string"},
            "evidence_ids": {"type": "array", "items": {"type": "string"}},
            "competencies": {"type": "array", "items": {"type": "string", "enum": framework.names}},
        },
        "required": ["statement", "evidence_ids", "competencies"],
        "additionalProperties": False,
    }


def prompt_version(framework: Framework) -> str:
    """A short content hash of every template, the framework and the reply schema."""
    digest = hashlib.sha256()
    for name in template_names():
        digest.update(name.encode() + b"\0" + template_source(name).encode() + b"\0")
    digest.update(framework.source_text.encode() + b"\0")
    digest.update(json.dumps(response_schema(framework), sort_keys=True).encode())
    return digest.hexdigest()[:12]


def render(name: str, **context: Any) -> str:
    """Render the template ``name`` with ``context`` (undefined variables are errors)."""
    return str(_environment().get_template(name).render(**context)).strip() + "\n"


def fence(text: str, info: str = "") -> str:
    """``text`` in a backtick fence longer than any backtick run inside it, so the data cannot close it."""
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    marks = "`" * max(3, longest + 1)
    return f"{marks}{info}\n{text.rstrip()}\n{marks}"


def json_block(value: Any) -> str:
    """JSON for a tagged prompt block: one line per list item, and ``<``, ``>``, ``&`` escaped so quoted
    text can never close the block."""
    if isinstance(value, list):
        text = "[\n" + ",\n".join(json.dumps(v, ensure_ascii=False) for v in value) + "\n]"
    else:
        text = json.dumps(value, ensure_ascii=False)
    return text.replace("&", "\\u0026").replace("<", "\\u003c").replace(">", "\\u003e")


def tag_competencies(framework: Framework, project: Project, items: Sequence[Evidence]) -> dict[str, str]:
    """Deterministic offline tags with their reasons: the competencies whose signals the project's
    evidence shows, at most ``max_per_statement``, in framework order; none without a signal."""
    return tag(project, items, framework.competencies, framework.max_per_statement)


@lru_cache(maxsize=1)
def _environment() -> Any:
    from jinja2 import Environment, FunctionLoader, StrictUndefined

    env = Environment(
        loader=FunctionLoader(template_source),
        undefined=StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        autoescape=False,
    )
    env.filters["fence"] = fence
    env.filters["json_block"] = json_block
    return env


def _fold(name: str) -> str:
    return " ".join(name.casefold().replace("’", "'").split())
