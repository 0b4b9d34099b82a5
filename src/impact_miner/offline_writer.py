"""The deterministic writer: one outcome-first statement per project, from the evidence and facts alone.

Every statement is true of everything its project holds. It leads with the project's own subject: the
title of its one unit of work (a pull request's, a ticket's, a release), of a unit every other one is
part of, or of one holding at least half of its items and lines, or a theme every part shares (a
subject, a ticket key, a file or folder), and then names the parts with their own numbers. A subject
that starts with a plain imperative ("Add X") is put in the past tense ("Added X"); any other subject is
quoted as its author wrote it. Numbers are the computed facts: lines counted once per unit, files as
distinct files. It says what a reviewer looks for: the pull request, who else wrote it and that the
person merged it, the issues it closes, when it was written if it landed much later, releases shipped,
reviews given and others' work merged. Same input, byte-identical output.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import Any

from impact_miner.facts import Facts, kind_counts
from impact_miner.grouping import (
    CHORE_RULES,
    Unit,
    chore_kind,
    covers,
    display_title,
    is_ticket_key,
    shared_path,
    top_units,
    units_of,
)
from impact_miner.metrics import change_text, format_percent, format_window, weak_labels
from impact_miner.model import Evidence, Project
from impact_miner.refs import URL, closing_refs
from impact_miner.sizes import Size, changed_lines, size_of, total_size

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
    "accept": "Accepted",
    "bring": "Brought",
    "catch": "Caught",
    "check": "Checked",
    "default": "Defaulted",
    "detect": "Detected",
    "emit": "Emitted",
    "encode": "Encoded",
    "decode": "Decoded",
    "escape": "Escaped",
    "exclude": "Excluded",
    "finish": "Finished",
    "generate": "Generated",
    "guard": "Guarded",
    "hide": "Hid",
    "ignore": "Ignored",
    "include": "Included",
    "keep": "Kept",
    "load": "Loaded",
    "mark": "Marked",
    "normalize": "Normalized",
    "normalise": "Normalised",
    "parse": "Parsed",
    "pass": "Passed",
    "pin": "Pinned",
    "prefer": "Preferred",
    "preserve": "Preserved",
    "provide": "Provided",
    "publish": "Published",
    "raise": "Raised",
    "rebuild": "Rebuilt",
    "redirect": "Redirected",
    "register": "Registered",
    "reject": "Rejected",
    "reload": "Reloaded",
    "require": "Required",
    "reset": "Reset",
    "resolve": "Resolved",
    "respect": "Respected",
    "reuse": "Reused",
    "rework": "Reworked",
    "reword": "Reworded",
    "send": "Sent",
    "serve": "Served",
    "set": "Set",
    "skip": "Skipped",
    "sort": "Sorted",
    "start": "Started",
    "strip": "Stripped",
    "tidy": "Tidied",
    "treat": "Treated",
    "tune": "Tuned",
    "unify": "Unified",
    "verify": "Verified",
    "warn": "Warned",
    "wrap": "Wrapped",
}
KIND_NOUNS = {
    "pull_requests": ("pull request", "pull requests"),
    "merge_requests": ("merge request", "merge requests"),
}
MAX_NAMED_REPOS = 3
MAX_NAMED_PARTS = 3  # parts a statement names with their numbers; the rest are counted
MAX_STATED_METRICS = 3  # measured results (and claims) named in a statement; the rest are in the table
MAX_TICKET_LINKS = 5
MAX_QUOTED_CREDITS = 4
MAX_CLOSED = 5


def offline_statement(project: Project, evidence: Sequence[Evidence], facts: Facts) -> str:
    """The project's statement (see the module docstring)."""
    wanted = set(project.evidence_ids)
    items = sorted({e.id: e for e in evidence if e.id in wanted and e.kind != "metric"}.values(), key=_order)
    if not items:
        items = sorted({e.id: e for e in evidence if e.id in wanted}.values(), key=_order)
    repos = _repos(repo_names(items), facts)
    if project.maintenance:
        return _maintenance(items, repos, facts)
    units = units_of(items)
    if project.kind == "credit" or all(u.kind == "credit" for u in units):
        return _credited(units, repos, facts)
    if project.kind == "other":
        return _other(units, repos, facts)
    top = top_units(units)
    sentence = (
        _one(top[0], units, repos, facts) if len(top) == 1 else _many(project, units, top, repos, facts)
    )
    keys = _keys(project, items)
    sentence = f"{sentence} [{', '.join(keys)}]." if keys else f"{sentence}."
    links = _ticket_links(keys, items)
    statement = f"{sentence} Tickets: {', '.join(links)}." if links else sentence
    return with_metrics(statement, project.metrics) if project.metrics else statement


def outcome(title: str) -> str:
    """A subject as a statement's lead: ``Add X`` → ``Added X``, ``Add and use X`` → ``Added and used X``;
    a subject that does not start with a plain imperative is quoted as written (``“Be smarter …”``)."""
    subject = display_title(title)
    words = subject.split(" ")
    past = _past_tense(words[0])
    if not past:
        return f"“{subject}”"
    if len(words) > 2 and words[1].lower() in ("and", "&", "or"):
        second = _past_tense(words[2])
        if not second:
            return f"“{subject}”"
        return " ".join([past, words[1], second.lower(), *words[3:]])
    clauses = subject.split(", ")
    if len(clauses) > 1 and all(_past_tense(c.split(" ", 1)[0]) for c in clauses[1:]):
        # "update requirements, stop using dependabot": each clause its own imperative
        later = [_past_tense(c.split(" ", 1)[0]).lower() + c[len(c.split(" ", 1)[0]) :] for c in clauses[1:]]
        return ", ".join([" ".join([past, *clauses[0].split(" ")[1:]]), *later])
    return " ".join([past, *words[1:]])


def plural(count: int, singular: str, plural_form: str = "") -> str:
    """``"1 commit"``, ``"2 commits"``."""
    return f"{count} {singular if count == 1 else plural_form or singular + 's'}"


def _one(unit: Unit, units: Sequence[Unit], repos: str, facts: Facts) -> str:
    """A project of one unit of work (with anything that is part of it, such as commits citing a ticket)."""
    size = total_size([size_of(u.items) for u in units])
    where = f" in {repos}" if repos else ""
    when = _when(facts, landed="merged" if _request(unit) else "landed")
    closes = _closes([e for u in units for e in u.items])
    others = _other_authors(unit)
    merged = any(e.kind == "merge" for e in unit.items)
    request = _request(unit)
    if others and request and not any(e.kind in ("pull_request", "merge_request") for e in unit.items):
        commits = [e for e in unit.items if e.kind == "commit"]
        own = _size_text(size_of(commits), 0)
        what = plural(len(commits), "commit") + (f" ({own})" if own else "")
        lead = f"Contributed {what} to {request} “{display_title(unit.title)}” by {_join(others)}"
        lead += ", and merged it" if merged else ""
        return f"{lead}{where} {when}{closes}".rstrip()
    what = _what(unit, units)
    scale = _size_text(size, 0)
    counted = ", ".join(part for part in (_counts(facts), scale) if part)
    details = f"{what}: {counted}" if what else counted
    with_others = f" with {_join(others)}" if others else ""
    if unit.kind == "release":
        lead = f"Released {unit.title.removeprefix('Released ')}"
    elif _branch_only(unit):
        lead = unit.title
    else:
        lead = outcome(unit.title)
    sentence = f"{lead} ({details}){with_others}{where} {when}{closes}".rstrip()
    if _branch_only(unit):  # a branch name says little: name the person's own commits on it
        commits = sorted(
            (e for e in unit.items if e.kind == "commit"), key=lambda e: (-changed_lines(e), e.id)
        )
        named = [_commit_part(e) for e in commits[:MAX_NAMED_PARTS]]
        rest = len(commits) - len(named)
        sentence += ": " + _join([*named, *([f"{rest} more"] if rest else [])])
    return sentence


def _branch_only(unit: Unit) -> bool:
    """A unit known only by the name of the branch that was merged (no pull request title)."""
    return unit.title.startswith("Branch ") and {e.extra.get("unit_kind") for e in unit.items} == {"branch"}


def _commit_part(item: Evidence) -> str:
    changed = _changed(size_of([item]))
    return f"“{display_title(item.title)}”" + (f" ({changed})" if changed else "")


def _many(project: Project, units: Sequence[Unit], top: Sequence[Unit], repos: str, facts: Facts) -> str:
    """A project of several units: the subject they share, then each part with its own numbers."""
    anchor = top[0]
    subjects = {display_title(u.title).casefold() for u in units}
    if covers(anchor, units):
        lead = outcome(anchor.title)
    elif len(subjects) == 1:
        lead = outcome(units[0].title)
    else:
        ticket = next((k for k in project.keys if is_ticket_key(k)), "")
        shared = shared_path(units)
        lead = f"Work on {ticket}" if ticket else f"Changes to {shared}" if shared else "Related changes"
    size = total_size([size_of(u.items) for u in units])
    scale = _size_text(size, 0)
    where = f" in {repos}" if repos else ""
    head = f"{lead} across {_counts(facts)}" + (f" ({scale})" if scale else "") + f"{where} {_when(facts)}"
    several = len({e.repo.lower() for u in units for e in u.items if e.repo}) > 1
    named = [_part(u, full=several) for u in top[:MAX_NAMED_PARTS]]
    rest = len(top) - len(named)
    parts = _join([*named, *([f"{rest} more"] if rest else [])])
    closes = _closes([e for u in units for e in u.items])
    return f"{head}: {parts}{closes}"


def _part(unit: Unit, *, full: bool = False) -> str:
    """``#4580 “Move url_for to the app” (+189/−156)``: a part named with its own numbers (its full
    ``owner/repo#4580`` key when the project spans repositories)."""
    key = unit.key if full and ("#" in unit.key or "!" in unit.key) else _short_key(unit)
    size = size_of(unit.items)
    changed = _changed(size)
    title = f"“{display_title(unit.title)}”"
    return " ".join(part for part in (key, title, f"({changed})" if changed else "") if part)


def _credited(units: Sequence[Unit], repos: str, facts: Facts) -> str:
    """Reviews given and others' pull requests merged, credited as such, never as delivery."""
    reviews = int(facts.get("reviews", 0))
    merges = int(facts.get("merges", 0))
    noun = _request_noun(units)
    verbs = []
    if reviews:
        verbs.append(f"Reviewed {reviews}" if merges else f"Reviewed {plural(reviews, *noun)}")
    if merges:
        verbs.append(f"merged {plural(merges, *noun)}" if reviews else f"Merged {plural(merges, *noun)}")
    lead = " and ".join(verbs) + " by others"
    where = f" in {repos}" if repos else ""
    ordered = sorted(units, key=lambda u: (u.first is None, u.first, u.key))
    quoted = []
    for unit in ordered[:MAX_QUOTED_CREDITS]:
        authors = _other_authors(unit)
        by = f" by {_join(authors)}" if authors else ""
        key = _short_key(unit)
        quoted.append(" ".join(part for part in (key, f"“{_credit_title(unit)}”{by}") if part))
    rest = len(ordered) - len(quoted)
    listing = _join([*quoted, *([f"{rest} more"] if rest else [])])
    return f"{lead}{where} {_when(facts)}: {listing}."


def _request_noun(units: Sequence[Unit]) -> tuple[str, str]:
    """GitLab's merge requests or GitHub's (and the rest's) pull requests, by what the units are."""
    gitlab = ["!" in u.key for u in units]
    if all(gitlab):
        return ("merge request", "merge requests")
    if any(gitlab):
        return ("pull or merge request", "pull and merge requests")
    return ("pull request", "pull requests")


def _other(units: Sequence[Unit], repos: str, facts: Facts) -> str:
    """Small unrelated commits, listed as what they are."""
    size = total_size([size_of(u.items) for u in units])
    scale = _size_text(size, 0)
    where = f" in {repos}" if repos else ""
    lead = f"Made {plural(len(units), 'small unrelated change')}" + (f" ({scale})" if scale else "")
    ordered = sorted(units, key=lambda u: (-u.lines, u.key))
    quoted = [f"“{display_title(u.title)}”" for u in ordered[:MAX_NAMED_PARTS]]
    rest = len(ordered) - len(quoted)
    listing = _join([*quoted, *([f"{rest} more"] if rest else [])])
    return f"{lead}{where} {_when(facts)}: {listing}."


def _what(unit: Unit, units: Sequence[Unit]) -> str:
    """``pull request #12``, ``merge request !3``, ``release 2.1.2``, or ``""`` for a lone commit."""
    request = _request(unit)
    if request:
        return request
    if unit.kind == "ticket":
        return unit.key
    tickets = [u for u in units if u.kind == "ticket"]
    if len(tickets) == 1:
        return tickets[0].key
    return ""


def _request(unit: Unit) -> str:
    """``pull request #12`` (``owner/repo#12`` across repositories) or ``merge request !3``, or ``""``."""
    key = unit.key
    if "!" in key:
        return f"merge request {_short(key, unit)}"
    if "#" in key and (
        unit.items[0].extra.get("unit_number")
        or any(e.kind in ("pull_request", "review", "merge") for e in unit.items)
    ):
        return f"pull request {_short(key, unit)}"
    return ""


def _short_key(unit: Unit) -> str:
    return _short(unit.key, unit) if ("#" in unit.key or "!" in unit.key) else ""


def _short(key: str, unit: Unit) -> str:
    """``#12`` for the unit's own repository, else the full ``owner/repo#12``."""
    repo = (unit.items[0].repo or "").lower()
    for sign in ("#", "!"):
        path, found, number = key.rpartition(sign)
        if found and path == repo:
            return f"{sign}{number}"
    return key


def _credit_title(unit: Unit) -> str:
    item = next((e for e in unit.items if e.kind == "merge"), unit.items[0])
    return display_title(item.title.removeprefix("Review of "))


def _other_authors(unit: Unit) -> list[str]:
    """Who else wrote the unit's commits (as the history records them), without the person."""
    own = {e.author.rsplit(" <", 1)[0] for e in unit.items if e.kind in ("commit", "release") and e.author}
    if any(e.kind == "merge" for e in unit.items):
        own |= {e.author.rsplit(" <", 1)[0] for e in unit.items if e.kind == "merge" and e.author}
    names: list[str] = []
    for item in unit.items:
        names += [str(n) for n in item.extra.get("unit_authors") or []]
    return [n for n in dict.fromkeys(names) if n and n not in own]


def _counts(facts: Facts) -> str:
    """``5 commits and 1 pull request``."""
    counts = [
        plural(n, *KIND_NOUNS.get(key, (key.replace("_", " ")[:-1], key.replace("_", " "))))
        for key, n in kind_counts(facts)
    ]
    return _join(counts)


def _size_text(size: Size, commits: int) -> str:
    """``+320/−40 lines, 12 files`` (with ``1 commit, `` in front when ``commits`` is given)."""
    parts = [plural(commits, "commit")] if commits else []
    changed = _changed(size)
    if changed:
        parts.append(f"{changed} {'line' if size.lines == 1 else 'lines'}")
    if size.files:
        parts.append(plural(size.files, "file"))
    return ", ".join(parts)


def _changed(size: Size) -> str:
    return "/".join(
        ([f"+{size.additions}"] if size.additions else [])
        + ([f"−{size.deletions}"] if size.deletions else [])
    )


def _when(facts: Facts, landed: str = "") -> str:
    """``on D``, ``between A and B``, or ``authored A, merged B`` when it landed well after it was written."""
    first, last = facts.get("first_date"), facts.get("last_date")
    if not first:
        return ""
    authored = facts.get("authored_date")
    if authored and landed:
        span = f"{first}" if first == last else f"{first} to {last}"
        return f"authored {authored}, {landed} {span}"
    return f"on {first}" if first == last else f"between {first} and {last}"


def _closes(items: Sequence[Evidence]) -> str:
    """``; closes #1992 and #2012``: the issues the work says it closes (pull requests' linked issues too)."""
    found: list[str] = []
    for item in items:
        if item.kind in ("review", "merge", "ticket"):
            continue
        found += [str(r).lower() for r in item.extra.get("linked_issues") or []]
        found += closing_refs(f"{item.title}\n{item.body}", item.repo)
    repo = (items[0].repo or "").lower() if items else ""
    shown = [
        f"#{ref.rpartition('#')[2]}" if ref.rpartition("#")[0] == repo else ref
        for ref in dict.fromkeys(found)
    ]
    if not shown:
        return ""
    more = len(shown) - MAX_CLOSED
    return "; closes " + _join([*shown[:MAX_CLOSED], *([f"{more} more"] if more > 0 else [])])


def repo_names(items: Sequence[Evidence]) -> list[str]:
    """The repositories of ``items``, each once whatever its case (``Acme/API`` from a git remote is
    GitHub's ``acme/api``): the spelling of a hosting service's own evidence wins over a local clone's."""
    names: dict[str, str] = {}
    for item in sorted(items, key=lambda e: (e.source == "git", e.id)):
        if item.repo:
            names.setdefault(item.repo.lower(), item.repo)
    return sorted(names.values())


def _repos(names: list[str], facts: Facts) -> str:
    """The repositories by name, or their number when there are many."""
    if len(names) > MAX_NAMED_REPOS:
        return plural(int(facts.get("repositories", len(names))), "repository", "repositories")
    return _join(names)


def _keys(project: Project, items: Sequence[Evidence]) -> list[str]:
    """Ticket keys (the project's shared ones first) and the tickets the items belong to."""
    found = [k for k in project.keys if is_ticket_key(k)]
    for item in items:
        locator = item.id.split(":", 1)[-1]
        found += [k for k in (*item.refs, locator, str(item.extra.get("epic") or "")) if is_ticket_key(k)]
    return list(dict.fromkeys(found))


def _ticket_links(keys: Sequence[str], items: Sequence[Evidence]) -> list[str]:
    """The web URLs of the project's tickets (``{jira}/browse/KEY``), in the order of ``keys``; at most
    ``MAX_TICKET_LINKS``, then ``…``."""
    tickets = {e.id.split(":", 1)[-1]: e.url for e in items if e.kind == "ticket" and URL.fullmatch(e.url)}
    order = {key: n for n, key in enumerate(keys)}
    links = [tickets[k] for k in sorted(tickets, key=lambda k: (order.get(k, len(order)), k))]
    return links if len(links) <= MAX_TICKET_LINKS else [*links[:MAX_TICKET_LINKS], "…"]


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


def _order(item: Evidence) -> tuple[Any, str]:
    return (item.completed_at, item.id)


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


def _join(words: Sequence[str]) -> str:
    """``"a"``, ``"a and b"``, ``"a, b and c"``."""
    return " and ".join([", ".join(words[:-1]), words[-1]]) if len(words) > 1 else "".join(words)
