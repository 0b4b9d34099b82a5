"""What a project's evidence shows beyond its subject, each with the reason a reader can check: the
offline writer's competency tags come from these, never from keywords in titles.

A framework maps signals to its competencies (``signals = ["tests"]`` in its TOML); a tag is given only
when its signal holds, and carries the signal's reason ("Insist on the Highest Standards — 5 of 6
commits add or change tests").
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from impact_miner.grouping import release_of
from impact_miner.model import Evidence, Project
from impact_miner.refs import closing_refs

TEST_PATH = re.compile(
    r"(?:^|/)(?:tests?|specs?|__tests__|testing)/|(?:^|/)test_[^/]+$|_test\.\w+$|\.(?:test|spec)\.\w+$|Tests?\.\w+$"
)
DOC_PATH = re.compile(r"(?:^|/)(?:docs?|documentation)/|\.(?:md|rst|adoc)$|(?:^|/)README[^/]*$", re.I)
CHANGELOG = re.compile(r"(?:^|/)(?:CHANGES|CHANGELOG|HISTORY|NEWS|RELEASE[-_]?NOTES)[^/]*$", re.I)
SIMPLIFY_MIN_LINES = 100  # net lines removed before a project counts as a simplification
CODE_KINDS = ("commit", "pull_request", "merge_request")

Signal = Callable[[Project, Sequence[Evidence]], str]


def tests(project: Project, items: Sequence[Evidence]) -> str:
    """At least half of the project's commits (and pull requests) add or change tests."""
    code = [e for e in items if e.kind in CODE_KINDS and e.extra.get("paths")]
    tested = [e for e in code if any(TEST_PATH.search(str(p)) for p in e.extra["paths"])]
    if not code or 2 * len(tested) < len(code):
        return ""
    noun = _noun(tested)
    if len(code) == 1:
        return f"the {noun[:-1]} adds or changes tests"
    return f"{len(tested)} of {len(code)} {noun} add or change tests"


def release(project: Project, items: Sequence[Evidence]) -> str:
    """The project is a release that shipped."""
    versions = [version for e in items if (version := release_of(e))]
    if project.kind != "work" or not versions:
        return ""
    return f"released {', '.join(dict.fromkeys(versions))}"


def reviews(project: Project, items: Sequence[Evidence]) -> str:
    """Reviews given and other people's pull requests merged."""
    reviewed = sum(1 for e in items if e.kind == "review")
    merged = sum(1 for e in items if e.kind == "merge")
    if not reviewed and not merged:
        return ""
    parts = [f"reviewed {reviewed}"] if reviewed else []
    parts += [f"merged {merged}"] if merged else []
    credited = [e for e in items if e.kind in ("review", "merge")]
    keys = [str(e.extra.get("unit") or e.locator) for e in credited]
    noun = (
        "merge request" if all("!" in k for k in keys)
        else "pull request" if all("#" in k for k in keys)
        else "contribution"
    )  # fmt: skip
    return f"{' and '.join(parts)} {noun}{'' if reviewed + merged == 1 else 's'} by others"


def measured(project: Project, items: Sequence[Evidence]) -> str:
    """A metric linked to the work improved, measured before and after."""
    better = [m for m in project.metrics if m.get("source") == "measured" and m.get("improved")]
    if not better:
        return ""
    return f"measured improvement in {', '.join(str(m.get('name')) for m in better[:2])}"


def closes(project: Project, items: Sequence[Evidence]) -> str:
    """The work closes issues people reported."""
    found: list[str] = []
    for item in items:
        if item.kind in CODE_KINDS:
            found += [str(r) for r in item.extra.get("linked_issues") or []]
            found += closing_refs(f"{item.title}\n{item.body}", item.repo)
    found = list(dict.fromkeys(ref.lower() for ref in found))
    if not found:
        return ""
    shown = ", ".join(f"#{ref.rpartition('#')[2]}" for ref in found[:3]) + (" …" if len(found) > 3 else "")
    return f"closes {'issue' if len(found) == 1 else 'issues'} {shown}"


def simplify(project: Project, items: Sequence[Evidence]) -> str:
    """The work removed much more code than it added."""
    code = [e for e in items if e.kind in CODE_KINDS]
    added = sum(e.additions or 0 for e in code)
    removed = sum(e.deletions or 0 for e in code)
    if removed - added < SIMPLIFY_MIN_LINES or removed < 2 * added:
        return ""
    return f"removed {removed - added} more lines than it added"


def docs(project: Project, items: Sequence[Evidence]) -> str:
    """The work is documentation: every changed file of every commit is a document."""
    code = [e for e in items if e.kind in CODE_KINDS and e.extra.get("paths")]
    paths = [str(p) for e in code for p in e.extra["paths"]]
    if project.kind != "work" or release(project, items) or not paths:
        return ""
    if not all(DOC_PATH.search(p) for p in paths) or all(CHANGELOG.search(p) for p in paths):
        return ""
    return f"{len(code)} {_noun(code) if len(code) > 1 else _noun(code)[:-1]} of documentation"


SIGNALS: Mapping[str, Signal] = {
    "tests": tests,
    "release": release,
    "reviews": reviews,
    "measured": measured,
    "closes": closes,
    "simplify": simplify,
    "docs": docs,
}


def project_signals(project: Project, items: Sequence[Evidence]) -> dict[str, str]:
    """Every signal that holds for ``project``, with its reason, in :data:`SIGNALS` order."""
    if project.maintenance:
        return {}
    found = {name: signal(project, items) for name, signal in SIGNALS.items()}
    return {name: reason for name, reason in found.items() if reason}


def tag(
    project: Project, items: Sequence[Evidence], competencies: Sequence[Any], limit: int
) -> dict[str, str]:
    """Competency name → reason, for the competencies (objects with ``name`` and ``signals``) whose
    signals hold, in framework order, at most ``limit``."""
    held = project_signals(project, items)
    tags: dict[str, str] = {}
    for competency in competencies:
        reasons = [held[s] for s in getattr(competency, "signals", ()) if s in held]
        if reasons and len(tags) < limit:
            tags[competency.name] = "; ".join(reasons)
    return tags


def _noun(items: Sequence[Evidence]) -> str:
    return "pull requests" if all(e.kind in ("pull_request", "merge_request") for e in items) else "commits"
