"""Link evidence into projects, in two levels: units of work, then projects of units.

**Units** come from what the sources record. A pull or merge request is one unit with every commit it
holds (by sha from GitHub/GitLab, or by merge topology from git: ``extra["unit"]``), its reviews and
the person's merge of it; a release (tag or release commit) is one; a ticket is one; a commit made
straight on a branch is one.

**Projects** join units only on strong evidence:

- a unit that cites another's key (a ticket key, a pull request, a reverted commit) joins it, and
  units that cite the same issue or ticket join each other, unless that key is cited so widely
  (``HUB_LIMIT`` units) that it says nothing about the work;
- a ticket joins its epic (or its parent), and tickets of different epics never meet, whatever they
  cite;
- two commits made straight on a branch join when their content is close: they share files that few
  other units touch, their subjects share rare words, and they landed within ``THEME_DAYS`` of each
  other; a theme never grows past a tenth of the person's own commits (or ``THEME_FLOOR``), and joins
  by average linkage, so one close pair cannot chain unrelated work.

A project's **title** is true of all of it (:func:`project_title`): its one unit's own title, the title
of a unit that, with the units citing it, holds more than half of its items or changed lines, a subject
every unit shares, or the parts named around what they share (a ticket key, a file or a folder).

Reviews given and other people's pull requests the person merged are credited, never mixed into the
person's own work: they form one project per repository. Trivial chores (version bumps, formatting,
typo fixes, lockfiles) fold into one *Maintenance* project, unless they belong to a unit or cite real
work. Many tiny commits left alone are listed honestly as *Other small changes*, split by time so that no
such project passes the theme limit either. Projects are ordered by substance, own work first.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Generic, TypeVar

from impact_miner.model import Evidence, Project
from impact_miner.refs import NOT_TICKETS, TICKET_KEY, URL
from impact_miner.sizes import changed_lines, size_of
from impact_miner.topology import release_version

# Trivial chores: (label, field, pattern). A "title" pattern must match at the start of the title's first
# line, after any ticket keys and an optional conventional-commit prefix such as ``chore(deps):``; a
# "paths" pattern must match every changed path (extra["paths"]). The label names the kind of chore in
# the Maintenance statement.
CHORE_RULES: tuple[tuple[str, str, str], ...] = (
    ("version bumps", "title", r"bump(?:s|ed)? .+ from .+ to \S"),
    ("version bumps", "title", r"bump(?:s|ed)? (?:the )?version\b"),
    ("version bumps", "title", r"(?:start|begin|open)(?:ed|s)? (?:version|v)\s*\d"),
    ("version bumps", "title", r"update (?:dependency|dependencies|module|package) \S+ to v?\d"),
    ("dependency updates", "title",
     r"(?:update|upgrade|refresh|pin|unpin)(?:d|s)? (?:the )?"
     r"(?:requirements|deps|dependencies|lockfiles?|pins)\s*$"),
    ("formatting", "title", r"style(?:\([^)]*\))?!?:"),
    ("formatting", "title", r"(?:re)?format(?:ted|ting)?(?: (?:the )?(?:code|codebase|files|sources))?\s*$"),
    ("formatting", "title", r"fix(?:e[sd])? (?:the )?format(?:ting)?\s*$"),
    ("formatting", "title", r"(?:run|apply) (?:black|prettier|ruff|isort|[a-z-]*fmt|[a-z-]*format)\b"),
    ("formatting", "title", r"(?:ruff|cargo|go|npm run|yarn) (?:format|fmt)\s*$"),
    ("formatting", "title", r"lint(?:ing)? fix(?:es)?\b|fix(?:e[sd])? (?:the )?lint(?:ing)?\b"),
    ("typo fixes", "title", r"fix(?:e[sd])? (?:a |some |the |several )?typos?\b|typos?\b"),
    ("merges", "title", r"merge (?:branch|remote-tracking branch|pull request)\b"),
    (
        "lockfiles",
        "paths",
        r"(?:^|/)(?:package-lock\.json|yarn\.lock|pnpm-lock\.yaml|poetry\.lock|uv\.lock|Cargo\.lock"
        r"|Gemfile\.lock|go\.sum|composer\.lock)$",
    ),
)  # fmt: skip
CONVENTIONAL_PREFIX = r"(?:[a-z]+(?:\([^)]*\))?!?:\s*)?"
_CHORES = [
    (label, field, re.compile(("^" + CONVENTIONAL_PREFIX if field == "title" else "") + pattern, re.I))
    for label, field, pattern in CHORE_RULES
]
CONVENTIONAL = re.compile(r"^(?P<type>[a-z]+)(?:\([^)]*\))?!?:\s*", re.I)
# A bare "#N:" is noise in a subject ("#12: fix x", "Fix #12: x"); one that reads as part of the
# sentence ("for issue #2756") stays.
BARE_NUMBER = re.compile(r"(?<![\w/&])#[0-9]+:")
PR_SUFFIX = re.compile(r"\(\s*(?:[\w.-]+/[\w.-]+)?#[0-9]+\s*\)|\s#[0-9]+\s*$")
EMPTY_BRACKETS = re.compile(r"\[[\s,;]*\]|\([\s,;]*\)")
EDGE_PUNCTUATION = " \t:|,;/–—-"
WORD = re.compile(r"[a-z][a-z0-9_]+")
STOPWORDS = frozenset(
    {"an", "and", "are", "as", "at", "be", "by", "for", "from", "in", "into", "is", "it", "its", "of"}
    | {"on", "or", "so", "the", "this", "that", "to", "up", "via", "with"}
)
# Words too common in commit subjects to say two commits are about the same thing.
THEME_STOPWORDS = (
    STOPWORDS
    | {"when", "not", "no", "use", "add", "fix", "update", "remove", "more", "some"}
    | {"all", "new", "also", "don", "t", "s"}
)
MAINTENANCE_ID = "maintenance"
Node = TypeVar("Node", str, int)
HUB_LIMIT = 6  # a key cited by this many units or more links none of them
THEME_DAYS = 21  # direct commits further apart than this never form a theme
THEME_FLOOR = 5  # a theme may always hold this many commits
THEME_SHARE = 0.10  # ... and otherwise at most this share of the person's own commits
THEME_SIMILARITY = 0.5  # the average content similarity a theme's commits must keep
TINY_LINES = 10  # a lone commit this small is listed under Other small changes when many remain
MAX_NAMED_PARTS = 3  # a title that lists a project's parts names at most this many
OTHER_CHANGES_MIN = 30  # ... once at least this many remain (fewer read fine as projects of their own)


@dataclass
class Unit:
    """One unit of work: its items and what it is known by, cites, touches and says."""

    key: str
    items: list[Evidence]
    kind: str  # "work", "ticket", "release", "credit" (reviews, merges of others' work), "chore"
    title: str
    keys: set[str] = field(default_factory=set)
    cites: set[str] = field(default_factory=set)
    epic: str = ""
    files: frozenset[str] = frozenset()
    words: frozenset[str] = frozenset()
    first: datetime | None = None
    last: datetime | None = None

    @property
    def commits(self) -> int:
        return sum(1 for e in self.items if e.kind == "commit")

    @property
    def lines(self) -> int:
        return sum(changed_lines(e) for e in self.items)

    @property
    def direct(self) -> bool:
        """A commit made straight on a branch: no pull request, ticket or release around it."""
        return self.kind == "work" and len(self.items) == 1 and not self.items[0].extra.get("unit")


def group_projects(evidence: Sequence[Evidence]) -> list[Project]:
    """Link ``evidence`` into projects: own work by substance, then credited work, Maintenance last."""
    by_id: dict[str, Evidence] = {}
    for item in evidence:
        by_id.setdefault(item.id, item)
    if not by_id:
        return []
    units = units_of(list(by_id.values()))
    placed = [(_project(label, group), group) for label, group in link_units(units)]
    ranked = sorted(placed, key=lambda pair: _rank(pair[0], pair[1]))
    return _dedupe_ids([project for project, _ in ranked])


# ---- units -------------------------------------------------------------------------------------------


def unit_key(item: Evidence) -> str:
    """The key of the unit ``item`` belongs to by its own record."""
    unit = item.extra.get("unit")
    if isinstance(unit, str) and unit:
        return unit.lower()
    if item.kind in ("pull_request", "merge_request", "review"):
        return item.locator.lower()
    if item.kind == "ticket":
        return item.locator
    return item.id


class Partition(Generic[Node]):
    """Disjoint sets of nodes (union-find). A set may carry labels (an epic); two sets whose labels
    differ are never joined."""

    def __init__(self, nodes: Iterable[Node], labels: Mapping[Node, set[str]] | None = None) -> None:
        self.parent: dict[Node, Node] = {node: node for node in nodes}
        given = labels or {}
        self.labels: dict[Node, set[str]] = {node: set(given.get(node, ())) for node in self.parent}

    def find(self, node: Node) -> Node:
        parent = self.parent
        while parent[node] != node:
            parent[node] = parent[parent[node]]
            node = parent[node]
        return node

    def union(self, a: Node, b: Node) -> bool:
        """Join the sets of ``a`` and ``b``; False (and nothing joined) when their labels differ."""
        ra, rb = self.find(a), self.find(b)
        if ra == rb:
            return True
        if self.labels[ra] and self.labels[rb] and self.labels[ra] != self.labels[rb]:
            return False
        root, other = (ra, rb) if ra < rb else (rb, ra)
        self.parent[other] = root
        self.labels[root] |= self.labels[other]
        return True


def units_of(items: Sequence[Evidence]) -> list[Unit]:
    """The units of ``items``: shared unit keys, and commits joined to the pull request holding their sha."""
    sets = Partition(item.id for item in items)
    find, union = sets.find, sets.union

    holder: dict[str, str] = {}
    for item in sorted(items, key=lambda e: e.id):
        key = unit_key(item)
        if key in holder:
            union(holder[key], item.id)
        else:
            holder[key] = item.id
    by_sha: dict[str, str] = {}
    for item in items:
        if item.kind in ("pull_request", "merge_request"):
            for sha in _held_shas(item):
                by_sha.setdefault(sha, item.id)
    for item in items:
        sha = str(item.extra.get("sha") or "").lower()
        if item.kind == "commit" and sha in by_sha:
            union(by_sha[sha], item.id)
    members: dict[str, list[Evidence]] = {}
    for item in items:
        members.setdefault(find(item.id), []).append(item)
    return [_unit(group) for group in members.values()]


def _held_shas(item: Evidence) -> list[str]:
    shas = [str(s) for s in item.extra.get("shas") or []]
    shas += [str(item.extra[k]) for k in ("merge_commit", "squash_commit") if item.extra.get(k)]
    return [s.lower() for s in shas if s]


def _unit(items: list[Evidence]) -> Unit:
    items.sort(key=lambda e: (e.completed_at, e.id))
    keys: set[str] = set()
    cites: set[str] = set()
    for item in items:
        keys.add(unit_key(item))
        keys.add(item.locator.lower() if "#" in item.locator or "!" in item.locator else item.locator)
        keys.update(_held_shas(item))
        if item.extra.get("sha"):
            keys.add(str(item.extra["sha"]).lower())
        cites.update(ref if is_ticket_key(ref) else ref.lower() for ref in item.refs)
        parent = item.extra.get("parent")
        if isinstance(parent, str) and parent:
            cites.add(parent)
    epics = {str(e.extra["epic"]) for e in items if e.kind == "ticket" and e.extra.get("epic")}
    epic = min(epics) if epics else ""
    if epic:
        cites.add(epic)
    files = frozenset(str(p) for e in items for p in e.extra.get("paths") or [])
    title = unit_title(items)
    return Unit(
        key=min(unit_key(e) for e in items),
        items=items,
        kind=_unit_kind(items),
        title=title,
        keys=keys,
        cites=cites - keys,
        epic=epic,
        files=files,
        words=frozenset(_words(" ".join(clean_subject(e.title) for e in items))),
        first=items[0].completed_at,
        last=items[-1].completed_at,
    )


def _unit_kind(items: Sequence[Evidence]) -> str:
    if any(e.kind == "ticket" for e in items):
        return "ticket"
    if any(release_of(e) for e in items):
        return "release"
    if all(e.kind in ("review", "merge") for e in items):
        return "credit"
    if all(chore_kind(e) is not None for e in items):
        return "chore"
    return "work"


def release_of(item: Evidence) -> str:
    """The version ``item`` released: a release tag or commit, a pull request or commit titled
    ``Release 2.0.1``, or a commit of a pull request so titled; ``""`` for anything else (any other
    commit inside a pull request is part of that pull request, not a release)."""
    if item.kind == "release" or item.extra.get("unit_kind") == "release":
        return str(item.extra.get("release") or item.extra.get("unit_title") or "")
    if item.extra.get("unit_kind") in ("pull_request", "merge_request"):
        return release_version(_first_line(str(item.extra.get("unit_title") or "")))
    if item.kind in ("commit", "pull_request", "merge_request") and not item.extra.get("unit"):
        return release_version(_first_line(item.title))
    return ""


def unit_title(items: Sequence[Evidence]) -> str:
    """What a unit is called: its pull request's, ticket's or merge's title, else its item's subject."""
    for kind in ("ticket", "pull_request", "merge_request"):
        found = [e for e in items if e.kind == kind]
        if found:
            return _first_line(found[0].title)
    release = next((release_of(e) for e in items if release_of(e)), "")
    if release:
        return f"Released {release}"
    titled = next((str(e.extra["unit_title"]) for e in items if e.extra.get("unit_title")), "")
    branch = next((str(e.extra["unit_branch"]) for e in items if e.extra.get("unit_branch")), "")
    if titled and titled == branch and all(e.extra.get("unit_kind") == "branch" for e in items):
        return f"Branch {branch}"  # a merge message that names only the branch
    if titled:
        return _first_line(titled)
    return _first_line(items[0].title) if items else ""


# ---- projects ----------------------------------------------------------------------------------------


def link_units(units: Sequence[Unit]) -> list[tuple[str, list[Unit]]]:
    """Group units into projects (see the module docstring): ``(label, units)`` per project, the label
    one of ``work``, ``other`` (Other small changes), ``credit`` (reviews and merges), ``maintenance``."""
    ordered = sorted(units, key=lambda u: u.key)
    index = {u.key: n for n, u in enumerate(ordered)}
    # tickets of different epics never meet
    sets = Partition(range(len(ordered)), {n: {u.epic} for n, u in enumerate(ordered) if u.epic})
    find, union = sets.find, sets.union

    linkable = [u for u in ordered if u.kind in ("work", "ticket")]
    owner = {key: index[u.key] for u in linkable for key in u.keys}
    citers: dict[str, list[int]] = {}
    for unit in linkable:
        for key in unit.cites:
            citers.setdefault(key, []).append(index[unit.key])
    anchors = {key for u in linkable for key in u.cites if is_ticket_key(key) and key == u.epic}
    for key, cited_by in sorted(citers.items()):
        wide = len(cited_by) >= HUB_LIMIT and key not in anchors and not _owned_ticket(key, owner, ordered)
        if wide:
            continue
        group = sorted(set(cited_by) | ({owner[key]} if key in owner else set()))
        for other in group[1:]:
            union(group[0], other)
    # a chore joins the one piece of real work it cites (its ticket first), never two
    for unit in ordered:
        if unit.kind != "chore":
            continue
        for key in sorted(unit.cites, key=lambda k: (not is_ticket_key(k), k)):
            target = owner.get(key, citers.get(key, [None])[0])
            if target is not None:
                union(target, index[unit.key])
                break
    _themes(ordered, find, union)
    groups: dict[int, list[Unit]] = {}
    for n, unit in enumerate(ordered):
        groups.setdefault(find(n), []).append(unit)
    return _settle(list(groups.values()), ordered)


def _owned_ticket(key: str, owner: dict[str, int], units: Sequence[Unit]) -> bool:
    """A ticket in the evidence anchors whatever cites it, however many units do."""
    return key in owner and units[owner[key]].kind == "ticket"


def _themes(units: Sequence[Unit], find: Callable[[int], int], union: Callable[[int, int], bool]) -> None:
    """Join direct commits whose content is close (average linkage, size-guarded)."""
    sizes: dict[int, int] = {}
    for n in range(len(units)):
        sizes[find(n)] = sizes.get(find(n), 0) + 1
    candidates = [n for n, u in enumerate(units) if u.direct and sizes[find(n)] == 1]
    limit = theme_limit(units)
    if len(candidates) < 2:
        return
    similarity = _similarity([units[n] for n in candidates])
    clusters: dict[int, list[int]] = {i: [i] for i in range(len(candidates))}
    pairs = sorted(
        ((s, i, j) for (i, j), s in similarity.items() if s >= THEME_SIMILARITY),
        key=lambda t: (-t[0], t[1], t[2]),
    )
    where = {i: i for i in range(len(candidates))}
    for _, i, j in pairs:
        a, b = where[i], where[j]
        if a == b or len(clusters[a]) + len(clusters[b]) > limit:
            continue
        links = [similarity.get((min(x, y), max(x, y)), 0.0) for x in clusters[a] for y in clusters[b]]
        if sum(links) / len(links) < THEME_SIMILARITY:
            continue
        for member in clusters[b]:
            where[member] = a
        clusters[a] += clusters.pop(b)
    for members in clusters.values():
        for member in members[1:]:
            union(candidates[members[0]], candidates[member])


def theme_limit(units: Sequence[Unit]) -> int:
    """The most commits a theme (or a chunk of Other small changes) may hold: a tenth of the person's own
    commits, or ``THEME_FLOOR``."""
    own_commits = sum(u.commits for u in units if u.kind in ("work", "ticket"))
    return max(THEME_FLOOR, math.floor(THEME_SHARE * own_commits))


def _similarity(units: Sequence[Unit]) -> dict[tuple[int, int], float]:
    """Content similarity of pairs of units landed within ``THEME_DAYS`` that share both files and
    subject words: each an IDF-weighted cosine, averaged with files counting double."""
    n = len(units)
    file_df: dict[str, int] = {}
    word_df: dict[str, int] = {}
    for unit in units:
        for f in unit.files:
            file_df[f] = file_df.get(f, 0) + 1
        for w in unit.words:
            word_df[w] = word_df.get(w, 0) + 1

    def vector(terms: Iterable[str], df: dict[str, int]) -> dict[str, float]:
        return {t: math.log((n + 1) / (df[t] + 0.5)) for t in terms}

    files = [vector(u.files, file_df) for u in units]
    words = [vector(u.words, word_df) for u in units]
    order = sorted(range(n), key=lambda i: units[i].first or datetime.min)
    found: dict[tuple[int, int], float] = {}
    for pos, i in enumerate(order):
        for j in order[pos + 1 :]:
            first_i, first_j = units[i].first, units[j].first
            if first_i is None or first_j is None or (first_j - first_i).days > THEME_DAYS:
                break
            same_files, same_words = _cosine(files[i], files[j]), _cosine(words[i], words[j])
            if same_files > 0 and same_words > 0:  # one kind of overlap alone is too weak a sign
                found[(min(i, j), max(i, j))] = (2 * same_files + same_words) / 3
    return found


def _cosine(a: dict[str, float], b: dict[str, float]) -> float:
    shared = a.keys() & b.keys()
    if not shared:
        return 0.0
    dot = sum(a[t] * b[t] for t in shared)
    norm = math.sqrt(sum(v * v for v in a.values()) * sum(v * v for v in b.values()))
    return dot / norm if norm else 0.0


def _settle(groups: list[list[Unit]], units: Sequence[Unit]) -> list[tuple[str, list[Unit]]]:
    """Chores left alone go to Maintenance, credited units to one project per repository, and many
    tiny lone commits to Other small changes (split by time under the theme limit)."""
    limit = theme_limit(units)
    settled: list[tuple[str, list[Unit]]] = []
    maintenance: list[Unit] = []
    credit: dict[str, list[Unit]] = {}
    tiny: list[Unit] = []
    for group in groups:
        if len(group) == 1 and group[0].kind == "chore":
            maintenance.append(group[0])
        elif all(u.kind == "credit" for u in group):
            for unit in group:
                credit.setdefault(unit.items[0].repo, []).append(unit)
        elif len(group) == 1 and group[0].direct and group[0].lines <= TINY_LINES:
            tiny.append(group[0])
        else:
            settled.append(("work", group))
    if len(tiny) >= OTHER_CHANGES_MIN:
        settled += [("other", chunk) for chunk in _by_period(tiny, limit)]
    else:
        settled += [("work", [u]) for u in tiny]
    settled += [("credit", credit[repo]) for repo in sorted(credit)]
    if maintenance:
        settled.append(("maintenance", maintenance))
    return settled


def _by_period(units: list[Unit], limit: int) -> list[list[Unit]]:
    """Units by calendar quarter (a month when a quarter holds too many), at most ``limit`` each."""
    chunks: list[list[Unit]] = []
    quarters: dict[tuple[int, int], list[Unit]] = {}
    for unit in sorted(units, key=lambda u: (u.first or datetime.min, u.key)):
        when = unit.first or datetime.min
        quarters.setdefault((when.year, (when.month - 1) // 3), []).append(unit)
    for quarter in quarters.values():
        if len(quarter) <= limit:
            chunks.append(quarter)
            continue
        months: dict[int, list[Unit]] = {}
        for unit in quarter:
            months.setdefault((unit.first or datetime.min).month, []).append(unit)
        for month in months.values():
            chunks += [month[start : start + limit] for start in range(0, len(month), limit)]
    return chunks


# ---- one project -------------------------------------------------------------------------------------


def _project(label: str, group: list[Unit]) -> Project:
    items = sorted((e for u in group for e in u.items), key=lambda e: (e.completed_at, e.id))
    ids = list(dict.fromkeys(e.id for e in items))
    repos = sorted({e.repo for e in items if e.repo})
    if label == "maintenance":
        return Project(MAINTENANCE_ID, "Maintenance", ids, repos=repos, maintenance=True, kind="maintenance")
    keys = _project_keys(group)
    if label == "credit":
        where = f" in {repos[0]}" if repos else ""
        title = f"Reviews and merges of others' work{where}"
        return Project(_slug(f"reviews {where}"), title, ids, keys=keys, repos=repos, kind="credit")
    if label == "other":
        first, last = items[0].completed_at.date(), items[-1].completed_at.date()
        span = first.isoformat() if first == last else f"{first.isoformat()} to {last.isoformat()}"
        return Project(
            _slug(f"other {first.isoformat()}"),
            f"Other small changes, {span}",
            ids,
            keys=keys,
            repos=repos,
            kind="other",
        )
    epic, epic_title = project_epic(keys, items)
    if epic_title:
        keys = [epic, *(k for k in keys if k != epic)]
        return Project(epic.lower(), f"{epic}: {epic_title}", ids, keys=keys, repos=repos)
    ticket = next((k for k in keys if is_ticket_key(k)), "")
    anchor = _anchor(group)
    if ticket:
        is_anchor = anchor.kind == "ticket" and anchor.key == ticket
        title = display_title(anchor.title) if is_anchor else project_title(group)
        return Project(ticket.lower(), f"{ticket}: {title}", ids, keys=keys, repos=repos)
    title = project_title(group)
    slug = _key_slug(anchor) if len(group) == 1 or title == display_title(anchor.title) else title[:60]
    return Project(_slug(slug), title, ids, keys=keys, repos=repos)


def project_title(group: Sequence[Unit]) -> str:
    """A title true of all of ``group``: the one unit's own title; the title of a unit every other one
    cites, or of one holding at least half of the items and of the changed lines; a subject every unit
    shares; else the parts, named (up to three) around what they share (a file or folder)."""
    anchor = _anchor(group)
    if len(group) == 1 or covers(anchor, group):
        return display_title(anchor.title)
    subjects = {display_title(u.title).casefold() for u in group}
    if len(subjects) == 1:
        return display_title(group[0].title)
    parts = top_units(group)
    if len(parts) == 1:
        return display_title(parts[0].title)
    named = [f"“{display_title(u.title)}”" for u in parts[:MAX_NAMED_PARTS]]
    rest = len(parts) - len(named)
    listing = (
        (", ".join(named[:-1]) + " and " + named[-1]) if not rest else ", ".join(named) + f" and {rest} more"
    )
    shared = shared_path(group)
    return f"{shared}: {listing}" if shared else listing


def top_units(group: Sequence[Unit]) -> list[Unit]:
    """The units of ``group`` that are not part of another one of it (a commit citing a ticket of the
    group is part of that ticket), largest first."""
    top = [u for u in group if not any(v is not u and u.cites & v.keys for v in group)] or list(group)
    return sorted(top, key=lambda u: (-unit_lines(u), -len(u.items), u.key))


def covers(unit: Unit, group: Sequence[Unit], *, strict: bool = True) -> bool:
    """Whether ``unit``'s title is true of the whole group: with the units that are part of it (that
    cite it, directly or through one another), it holds more than half of the group's items or of its
    changed lines (at least half with ``strict=False``, the verifier's bar). A commit holding a third of
    the items and a tenth of the lines does not name a project; a ticket every other unit cites does."""
    part = part_of(unit, group)
    items = sum(len(u.items) for u in group)
    lines = sum(unit_lines(u) for u in group)
    held_items = 2 * sum(len(u.items) for u in part)
    held_lines = 2 * sum(unit_lines(u) for u in part)
    if strict:
        return held_items > items or (lines > 0 and held_lines > lines)
    return held_items >= items or (lines > 0 and held_lines >= lines)


def part_of(unit: Unit, group: Sequence[Unit]) -> list[Unit]:
    """``unit`` and the units of ``group`` that cite it, directly or through one another."""
    found = [unit]
    keys = set(unit.keys)
    changed = True
    while changed:
        changed = False
        for other in group:
            if other not in found and (other.cites & keys or (other.epic and other.epic in keys)):
                found.append(other)
                keys |= other.keys
                changed = True
    return found


def unit_lines(unit: Unit) -> int:
    return size_of(unit.items).lines


def shared_path(group: Sequence[Unit]) -> str:
    """The most specific file or folder every unit of ``group`` changed, or ``""`` (the root is not one)."""
    common: set[str] | None = None
    for unit in group:
        prefixes = {p for path in unit.files for p in _prefixes(path)}
        common = prefixes if common is None else common & prefixes
    return max(common or set(), key=lambda p: (p.count("/"), len(p), p), default="")


def _prefixes(path: str) -> list[str]:
    parts = path.split("/")
    return ["/".join(parts[:n]) + ("/" if n < len(parts) else "") for n in range(1, len(parts) + 1)]


def display_title(title: str) -> str:
    """A unit's title as a heading: its first line, without ``(#N)``, ticket noise or a conventional-commit
    prefix, first letter upper-cased (``fix(api): handle empty bodies (#12)`` → ``Handle empty bodies``)."""
    subject = clean_subject(title) or _first_line(title) or "untitled work"
    if " " not in subject and re.search(r"[a-z][-_][a-z]", subject, re.I):
        subject = re.sub(r"[-_]+", " ", subject)  # a branch name standing in for a title: fix-old-behavior
    return _upper_first(subject)


def _anchor(group: Sequence[Unit]) -> Unit:
    """The unit a project is named after: the one most other units cite, else the largest."""

    def citers(unit: Unit) -> int:
        return sum(
            1 for u in group if u is not unit and (u.cites & unit.keys or (u.epic and u.epic in unit.keys))
        )

    return min(group, key=lambda u: (-citers(u), -len(u.items), -unit_lines(u), u.key))


def _key_slug(unit: Unit) -> str:
    """A pull request's or release's key (``acme/api#12``), else the unit's title."""
    if any(e.kind in ("pull_request", "merge_request") or e.extra.get("unit_number") for e in unit.items):
        return unit.key
    if unit.kind == "release":
        return unit.key
    return unit.title[:60] or unit.key


def _project_keys(group: Sequence[Unit]) -> list[str]:
    """The keys a project's statement may name: ticket keys its units share (epics first, then the most
    shared, in natural order) or its lone ticket's, then its pull and merge requests."""
    holders: dict[str, int] = {}
    for unit in group:
        for key in unit.keys | unit.cites:
            holders[key] = holders.get(key, 0) + 1
    epics = {u.epic for u in group if u.epic} | {
        str(e.extra["parent"]) for u in group for e in u.items if e.extra.get("parent")
    }
    tickets = [k for k, n in holders.items() if is_ticket_key(k) and n > 1]
    lone = [u.key for u in group if u.kind == "ticket" and is_ticket_key(u.key)]
    if not tickets and len(lone) == 1:
        tickets = lone
    if not tickets and len(group) == 1:
        tickets = sorted(k for k in group[0].cites if is_ticket_key(k))[:1]

    def order(key: str) -> tuple[bool, int, str, int, str]:
        prefix, _, number = key.partition("-")
        return (key not in epics, -holders.get(key, 0), prefix, int(number), key)

    pulls = [u.key for u in group if ("#" in u.key or "!" in u.key) and not u.key.startswith("#")]
    pulls += [
        k for k, n in sorted(holders.items()) if n > 1 and ("#" in k or "!" in k) and not is_ticket_key(k)
    ]
    return list(dict.fromkeys([*sorted(tickets, key=order), *pulls]))


def _rank(project: Project, group: Sequence[Unit]) -> tuple[int, int, int, int, float, str]:
    """Own work first by substance (items, lines, files, then time span); Other small changes and credited
    work next; Maintenance last."""
    later = project.kind in ("credit", "other")
    items = [e for u in group for e in u.items]
    span = (max(e.completed_at for e in items) - min(e.completed_at for e in items)).total_seconds()
    substance = (
        -len(project.evidence_ids),
        -sum(changed_lines(e) for e in items),
        -sum(e.files or 0 for e in items),
    )
    return (2 if project.maintenance else 1 if later else 0, *substance, -span, project.id)


def _upper_first(text: str) -> str:
    return text[:1].upper() + text[1:]


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "project"


def _dedupe_ids(projects: list[Project]) -> list[Project]:
    """Give repeated ids a ``-2``, ``-3`` suffix, in order."""
    used: set[str] = set()
    for project in projects:
        base, n = project.id, 1
        while project.id in used:
            n += 1
            project.id = f"{base}-{n}"
        used.add(project.id)
    return projects


# ---- shared helpers used by writers and metrics -----------------------------------------------------


def link_keys(item: Evidence) -> list[str]:
    """The keys ``item`` can share with others: refs, own locator, commit sha, unit, epic and parent.

    ``owner/repo#N`` keys are lower-cased: repository names are case-insensitive on GitHub (and GitLab),
    so a remote's ``Acme/API`` and the API's ``acme/api`` are the same repository.
    """
    keys = [*item.refs, item.id.split(":", 1)[-1]]
    for name in ("sha", "epic", "parent", "unit"):
        value = item.extra.get(name)
        if isinstance(value, str) and value:
            keys.append(value)
    return list(dict.fromkeys(k.lower() if ("#" in k or "!" in k) else k for k in keys if k))


def chore_kind(item: Evidence) -> str | None:
    """The label of the chore rule ``item`` matches (``"version bumps"``, ...), or ``None`` for real work."""
    title = _tidy(_strip_refs(_first_line(item.title)))
    paths = [str(p) for p in item.extra.get("paths") or []]
    if item.files is not None and item.files > len(paths):
        paths = []  # a truncated path list cannot show that every changed file is a lockfile
    for label, field_name, pattern in _CHORES:
        if field_name == "title" and pattern.match(title):
            return label
        if field_name == "paths" and paths and all(pattern.search(p) for p in paths):
            return label
    return None


def is_ticket_key(key: str) -> bool:
    """Whether ``key`` is a ticket key such as ``ABC-123``."""
    return bool(TICKET_KEY.fullmatch(key)) and key.split("-", 1)[0] not in NOT_TICKETS


def clean_subject(title: str) -> str:
    """The first line of ``title`` without URLs, ticket keys, ``(#123)`` or a conventional-commit prefix."""
    line = _tidy(_strip_refs(_first_line(title)))
    return _tidy(CONVENTIONAL.sub("", line, count=1)).rstrip(" .")


def project_epic(keys: Sequence[str], items: Sequence[Evidence]) -> tuple[str, str]:
    """The epic the project's items belong to and its summary, or ``("", "")`` when no summary is known.

    An item names its epic in ``extra["epic"]`` and, when its source knows it, the epic's summary in
    ``extra["epic_title"]`` (the epic itself is rarely in the person's evidence). With several epics, the
    one most items belong to wins, then the first in ``keys``.
    """
    holders: dict[str, int] = {}
    titles: dict[str, str] = {}
    for item in items:
        epic = item.extra.get("epic")
        if isinstance(epic, str) and epic:
            holders[epic] = holders.get(epic, 0) + 1
            title = item.extra.get("epic_title")
            if isinstance(title, str) and title.strip():
                titles.setdefault(epic, " ".join(title.split()))
    if not holders:
        return "", ""
    order = {key: n for n, key in enumerate(keys)}
    epic = min(holders, key=lambda k: (-holders[k], order.get(k, len(order)), k))
    return (epic, titles[epic]) if epic in titles else ("", "")


def _strip_refs(line: str) -> str:
    line = URL.sub(" ", line)
    line = PR_SUFFIX.sub(" ", line)
    line = BARE_NUMBER.sub(" ", line)
    line = TICKET_KEY.sub(lambda m: m.group(0) if not is_ticket_key(m.group(1)) else " ", line)
    return EMPTY_BRACKETS.sub(" ", line)


def _tidy(line: str) -> str:
    return " ".join(line.split()).strip(EDGE_PUNCTUATION)


def _first_line(title: str) -> str:
    lines = title.strip().splitlines()
    return lines[0].strip() if lines else ""


def _words(text: str) -> list[str]:
    return [_stem(w) for w in WORD.findall(text.lower()) if w not in THEME_STOPWORDS]


def _stem(word: str) -> str:
    for suffix in ("ing", "ed", "es", "s"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            return word[: -len(suffix)]
    return word
