"""The deterministic writer: one outcome-first sentence per project, from the evidence and facts alone.

It states only what the evidence shows: the subject's own words, the computed facts, the repositories,
the ticket and pull-request keys and the tickets' web links. Same input, byte-identical output.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import Any

from impact_miner.facts import Facts, kind_counts
from impact_miner.grouping import (
    CHORE_RULES,
    chore_kind,
    clean_subject,
    conventional_type,
    is_ticket_key,
    project_subject,
)
from impact_miner.metrics import change_text, format_percent, format_window, weak_labels
from impact_miner.model import Evidence, Project
from impact_miner.refs import URL

# Imperative (and third-person) leading verbs of subjects, in the past tense.
PAST_TENSE = {
    "add": "Added",
    "adopt": "Adopted",
    "allow": "Allowed",
    "avoid": "Avoided",
    "batch": "Batched",
    "build": "Built",
    "bump": "Bumped",
    "cache": "Cached",
    "change": "Changed",
    "clean": "Cleaned",
    "convert": "Converted",
    "create": "Created",
    "cut": "Cut",
    "deduplicate": "Deduplicated",
    "delete": "Deleted",
    "deprecate": "Deprecated",
    "disable": "Disabled",
    "document": "Documented",
    "drop": "Dropped",
    "enable": "Enabled",
    "ensure": "Ensured",
    "expose": "Exposed",
    "extend": "Extended",
    "extract": "Extracted",
    "fix": "Fixed",
    "handle": "Handled",
    "harden": "Hardened",
    "implement": "Implemented",
    "improve": "Improved",
    "introduce": "Introduced",
    "limit": "Limited",
    "log": "Logged",
    "make": "Made",
    "migrate": "Migrated",
    "move": "Moved",
    "optimise": "Optimised",
    "optimize": "Optimized",
    "parallelize": "Parallelized",
    "port": "Ported",
    "prevent": "Prevented",
    "reduce": "Reduced",
    "refactor": "Refactored",
    "remove": "Removed",
    "rename": "Renamed",
    "replace": "Replaced",
    "restore": "Restored",
    "retry": "Retried",
    "return": "Returned",
    "revert": "Reverted",
    "rewrite": "Rewrote",
    "run": "Ran",
    "secure": "Secured",
    "ship": "Shipped",
    "show": "Showed",
    "simplify": "Simplified",
    "speed": "Sped",
    "split": "Split",
    "stop": "Stopped",
    "streamline": "Streamlined",
    "support": "Supported",
    "switch": "Switched",
    "test": "Tested",
    "track": "Tracked",
    "update": "Updated",
    "upgrade": "Upgraded",
    "use": "Used",
    "validate": "Validated",
    "write": "Wrote",
}
# Lead verbs for subjects that do not start with a verb, by conventional-commit type.
TYPE_LEADS = {
    "fix": "Fixed",
    "perf": "Improved performance with",
    "refactor": "Refactored",
    "docs": "Documented",
    "test": "Tested",
    "revert": "Reverted",
}
DEFAULT_LEAD = "Delivered"
KIND_NOUNS = {"pull_requests": ("pull request", "pull requests")}
MAX_NAMED_REPOS = 3
MAX_STATED_METRICS = 3  # measured results (and claims) named in a statement; the rest are in the table
MAX_TICKET_LINKS = 5
MAX_QUOTED_REVIEWS = 3


def offline_statement(project: Project, evidence: Sequence[Evidence], facts: Facts) -> str:
    """One outcome-first sentence: what was delivered, its scale, where, when, and its keys."""
    wanted = set(project.evidence_ids)
    items = sorted({e.id: e for e in evidence if e.id in wanted}.values(), key=lambda e: e.id)
    items.sort(key=lambda e: e.completed_at)
    repos = _repos(sorted({e.repo for e in items if e.repo}), facts)
    if project.maintenance:
        return _maintenance(items, repos, facts)
    if items and all(e.kind == "review" for e in items):
        return _reviews(items, repos, facts)
    subject, source = project_subject(project.keys, items)
    parts = [_outcome(subject, source.title if source else ""), _scale(facts)]
    parts += [f"in {repos}" if repos else "", _when(facts)]
    keys = _keys(project, items)
    sentence = " ".join(part for part in parts if part)
    sentence = f"{sentence} [{', '.join(keys)}]." if keys else f"{sentence}."
    links = _ticket_links(keys, items)
    statement = f"{sentence} Tickets: {', '.join(links)}." if links else sentence
    return with_metrics(statement, project.metrics) if project.metrics else statement


def plural(count: int, singular: str, plural_form: str = "") -> str:
    """``"1 commit"``, ``"2 commits"``."""
    return f"{count} {singular if count == 1 else plural_form or singular + 's'}"


def _outcome(subject: str, title: str) -> str:
    """The subject, led by a past-tense verb: its own leading verb, else one for its commit type."""
    first, _, rest = subject.partition(" ")
    past = _past_tense(first)
    if past:
        return f"{past} {rest}".strip()
    lead = TYPE_LEADS.get(conventional_type(title), DEFAULT_LEAD)
    return f"{lead} {_lower_first(subject)}"


def _past_tense(word: str) -> str:
    """``"add"``/``"adds"``/``"Added"`` → ``"Added"``; ``""`` when ``word`` is not a known verb."""
    lower = word.lower()
    for stem in (lower, lower.removesuffix("es"), lower.removesuffix("s")):
        if stem in PAST_TENSE:
            return PAST_TENSE[stem]
    return next((past for past in PAST_TENSE.values() if past.lower() == lower), "")


def _lower_first(subject: str) -> str:
    """Lower-case the first letter unless the first word is an acronym or a proper name like ``GraphQL``."""
    first = subject.split(" ", 1)[0]
    return subject[:1].lower() + subject[1:] if first[1:] == first[1:].lower() else subject


def _scale(facts: Facts) -> str:
    """``"across 5 commits and 1 pull request (+320/−40 lines, 12 files)"``."""
    counts = [
        plural(n, *KIND_NOUNS.get(key, (key.replace("_", " ")[:-1], key.replace("_", " "))))
        for key, n in kind_counts(facts)
    ]
    if not counts:
        return ""
    size = []
    additions, deletions, lines = (int(facts.get(key, 0)) for key in ("additions", "deletions", "lines"))
    changed = "/".join(([f"+{additions}"] if additions else []) + ([f"−{deletions}"] if deletions else []))
    if changed:
        size.append(f"{changed} {'line' if lines == 1 else 'lines'}")
    if facts.get("files"):
        size.append(plural(int(facts["files"]), "file"))
    lead = "with" if facts.get("items") == 1 else "across"
    return f"{lead} {_join(counts)}" + (f" ({', '.join(size)})" if size else "")


def _when(facts: Facts) -> str:
    first, last = facts.get("first_date"), facts.get("last_date")
    if not first:
        return ""
    return f"on {first}" if first == last else f"between {first} and {last}"


def _repos(names: list[str], facts: Facts) -> str:
    """The repositories by name, or their number when there are many."""
    if len(names) > MAX_NAMED_REPOS:
        return plural(int(facts.get("repositories", len(names))), "repository", "repositories")
    return _join(names)


def _keys(project: Project, items: Sequence[Evidence]) -> list[str]:
    """Ticket keys (the project's shared ones first) and the pull requests' own references."""
    found = [k for k in project.keys if is_ticket_key(k)]
    for item in items:
        locator = item.id.split(":", 1)[-1]
        found += [k for k in (*item.refs, locator, str(item.extra.get("epic") or "")) if is_ticket_key(k)]
    found += [e.id.split(":", 1)[-1] for e in items if e.kind == "pull_request"]
    return list(dict.fromkeys(found))


def _ticket_links(keys: Sequence[str], items: Sequence[Evidence]) -> list[str]:
    """The web URLs of the project's tickets (``{jira}/browse/KEY``), in the order of ``keys``; at most
    ``MAX_TICKET_LINKS``, then ``…``."""
    tickets = {e.id.split(":", 1)[-1]: e.url for e in items if e.kind == "ticket" and URL.fullmatch(e.url)}
    order = {key: n for n, key in enumerate(keys)}
    links = [tickets[k] for k in sorted(tickets, key=lambda k: (order.get(k, len(order)), k))]
    return links if len(links) <= MAX_TICKET_LINKS else [*links[:MAX_TICKET_LINKS], "…"]


def with_metrics(statement: str, metrics: Sequence[Mapping[str, Any]]) -> str:
    """``statement`` led by its measured improvements, followed by other measured changes and the claims.

    ``"Reduced search p95 latency 32% (320 ms → 218 ms, measured 7 days before/after): moved …"``; weak
    results say so (``…; weak: within noise)``); claims are quoted and labelled: ``Author reports
    "p95 from 320 ms to 218 ms" (claimed).``
    """
    measured = [m for m in metrics if m.get("source") == "measured" and change_text(m)]
    leads = [_measured_phrase(m) for m in measured if m.get("improved")][:MAX_STATED_METRICS]
    others = [_measured_phrase(m) for m in measured if not m.get("improved")][:MAX_STATED_METRICS]
    quotes = [f'"{m["text"]}"' for m in metrics if m.get("source") == "claimed" and m.get("text")]
    text = statement
    if leads:
        lead = _join([leads[0], *(_lower_first(phrase) for phrase in leads[1:])])
        text = f"{lead}: {_lower_first(statement)}"
    if others:
        text += f" Measured: {'; '.join(others)}."
    if quotes:
        text += f" Author reports {_join(quotes[:MAX_STATED_METRICS])} (claimed)."
    return text


def _measured_phrase(metric: Mapping[str, Any]) -> str:
    """``Reduced search p95 latency 32% (320 ms → 218 ms, measured 7 days before/after)``."""
    name = str(metric.get("name") or "the metric")
    percent = metric.get("percent")
    size = f" {format_percent(percent)}" if percent is not None else ""
    window = format_window(timedelta(days=float(metric.get("window_days") or 7)))
    weak = weak_labels(metric)
    detail = f"{change_text(metric)}, measured {window} before/after" + (
        f"; weak: {', '.join(weak)}" if weak else ""
    )
    delta = float(metric.get("delta") or 0)
    if metric.get("improved"):
        verb = "Reduced" if metric.get("better") == "lower" else "Increased"
        return f"{verb} {name}{size} ({detail})"
    if delta == 0:
        return f"{name} unchanged ({detail})"
    return f"{name} {'rose' if delta > 0 else 'fell'}{size} ({detail})"


def _maintenance(items: Sequence[Evidence], repos: str, facts: Facts) -> str:
    """``"Kept acme/api healthy with 3 maintenance changes (version bumps, lockfiles)."``"""
    order = list(dict.fromkeys(label for label, _, _ in CHORE_RULES))
    present = {chore_kind(e) for e in items}
    labels = [label for label in order if label in present]
    changes = plural(int(facts.get("items", len(items))), "maintenance change")
    lead = f"Kept {repos} healthy with {changes}" if repos else f"Made {changes}"
    return f"{lead} ({', '.join(labels)})." if labels else f"{lead}."


def _reviews(items: Sequence[Evidence], repos: str, facts: Facts) -> str:
    """``"Reviewed 2 pull requests by others in acme/api on 2026-11-20: “A” and “B”."``

    Reviewing is credited as reviewing: the reviewed pull requests' subjects are quoted, never turned
    into a claim that the reviewer delivered them.
    """
    titles = [f"“{clean_subject(e.title.removeprefix('Review of '))}”" for e in items[:MAX_QUOTED_REVIEWS]]
    if len(items) > MAX_QUOTED_REVIEWS:
        titles.append("others")
    reviewed = plural(int(facts.get("reviews", len(items))), "pull request")
    parts = [f"Reviewed {reviewed} by others", f"in {repos}" if repos else "", _when(facts)]
    return f"{' '.join(part for part in parts if part)}: {_join(titles)}."


def _join(words: Sequence[str]) -> str:
    """``"a"``, ``"a and b"``, ``"a, b and c"``."""
    return " and ".join([", ".join(words[:-1]), words[-1]]) if len(words) > 1 else "".join(words)
