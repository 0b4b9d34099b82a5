"""Link evidence into projects: items that share a key are one piece of work.

An item's link keys are its refs, its own locator (``owner/repo#12`` for a pull request and for a
review of it, ``KEY-1`` for a ticket), a commit's full sha and a ticket's epic or parent. Items that
share a key are joined (connected components). Items that share none are grouped by repository and
top-level directory, except a ticket, which is a piece of work of its own. Trivial chores fold into one
Maintenance project, unless they share a key with real work, which they then join (a chore never joins
two pieces of work together). A project whose tickets belong to an epic whose summary they carry
(``extra["epic_title"]``) is titled ``EPIC-1: summary``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

from impact_miner.model import Evidence, Project
from impact_miner.refs import NOT_TICKETS, TICKET_KEY, URL

if TYPE_CHECKING:
    import pandas as pd

# Trivial chores: (label, field, pattern). A "title" pattern must match at the start of the title's first
# line, after any ticket keys and an optional conventional-commit prefix such as ``chore(deps):``; a
# "paths" pattern must match every changed path (extra["paths"]). The label names the kind of chore in
# the Maintenance statement.
CHORE_RULES: tuple[tuple[str, str, str], ...] = (
    ("version bumps", "title", r"bump(?:s|ed)? .+ from .+ to \S"),
    ("version bumps", "title", r"bump(?:s|ed)? (?:the )?version\b"),
    ("version bumps", "title", r"update (?:dependency|dependencies|module|package) \S+ to v?\d"),
    ("releases", "title", r"chore\(release\)|release v?\d|prepare (?:release )?v?\d|v?\d+\.\d+\.\d+\s*$"),
    ("formatting", "title", r"style(?:\([^)]*\))?!?:"),
    ("formatting", "title", r"(?:re)?format(?:ted|ting)?(?: (?:the )?(?:code|codebase|files|sources))?\s*$"),
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
)
CONVENTIONAL_PREFIX = r"(?:[a-z]+(?:\([^)]*\))?!?:\s*)?"
_CHORES = [
    (label, field, re.compile(("^" + CONVENTIONAL_PREFIX if field == "title" else "") + pattern, re.I))
    for label, field, pattern in CHORE_RULES
]
CONVENTIONAL = re.compile(r"^(?P<type>[a-z]+)(?:\([^)]*\))?!?:\s*", re.I)
PR_SUFFIX = re.compile(r"\(\s*#[0-9]+\s*\)")
EMPTY_BRACKETS = re.compile(r"\[[\s,;]*\]|\([\s,;]*\)")
EDGE_PUNCTUATION = " \t:|,;/–—-"
WORD = re.compile(r"[a-z][a-z0-9]+")
STOPWORDS = frozenset(
    {"an", "and", "are", "as", "at", "be", "by", "for", "from", "in", "into", "is", "it", "its", "of"}
    | {"on", "or", "so", "the", "this", "that", "to", "up", "via", "with"}
)
MAINTENANCE_ID = "maintenance"


def group_projects(evidence: Sequence[Evidence]) -> list[Project]:
    """Link ``evidence`` into projects, most substantial first and Maintenance last."""
    import pandas as pd  # imported here so that importing this module stays fast

    by_id: dict[str, Evidence] = {}
    for item in evidence:
        by_id.setdefault(item.id, item)
    if not by_id:
        return []
    items = list(by_id.values())
    frame = pd.DataFrame(
        {
            "id": [e.id for e in items],
            "keys": [link_keys(e) for e in items],
            "chore": [chore_kind(e) is not None for e in items],
            "ticket": [e.kind == "ticket" for e in items],
            "area": [f"{e.repo}\0{_top_dir(e)}" for e in items],
            "lines": [_lines(e) for e in items],
            "files": [e.files or 0 for e in items],
            "at": pd.to_datetime([e.completed_at for e in items], utc=True),
        }
    )
    pairs = frame[["id", "keys", "chore"]].explode("keys").dropna(subset=["keys"])
    pairs = pairs.drop_duplicates(["id", "keys"])
    roots = _components(frame, pairs)
    frame["root"] = frame["id"].map(roots)
    linked = frame.groupby("root")["id"].transform("size") > 1
    frame["group"] = "c:" + frame["root"]
    frame.loc[~linked & ~frame["ticket"], "group"] = "a:" + frame["area"]  # a lone ticket is its own work
    frame.loc[~linked & frame["chore"], "group"] = "m:"

    pairs = pairs.merge(frame[["id", "group"]], on="id")
    holders = pairs.groupby(["group", "keys"])["id"].nunique().reset_index()
    shared: dict[str, list[tuple[str, int]]] = {}
    for group, key, count in holders[holders["id"] > 1].itertuples(index=False):
        if str(group).startswith("c:"):
            shared.setdefault(str(group), []).append((str(key), int(count)))

    stats = frame.groupby("group").agg(
        items=("id", "size"),
        lines=("lines", "sum"),
        files=("files", "sum"),
        first=("at", "min"),
        last=("at", "max"),
        members=("id", list),
    )
    stats["span"] = (stats["last"] - stats["first"]).dt.total_seconds()
    ranked: list[tuple[tuple[int, int, int, int, float, str, str], Project]] = []
    for group, row in stats.iterrows():
        members = [by_id[i] for i in row["members"]]
        project = _project(str(group), members, shared.get(str(group), []))
        substance = (-int(row["items"]), -int(row["lines"]), -int(row["files"]), -float(row["span"]))
        ranked.append(((int(project.maintenance), *substance, project.id, project.evidence_ids[0]), project))
    ranked.sort(key=lambda pair: pair[0])
    return _dedupe_ids([project for _, project in ranked])


def link_keys(item: Evidence) -> list[str]:
    """The keys ``item`` can share with others: refs, own locator, commit sha, epic and parent.

    ``owner/repo#N`` keys are lower-cased: repository names are case-insensitive on GitHub (and GitLab),
    so a remote's ``Acme/API`` and the API's ``acme/api`` are the same repository.
    """
    keys = [*item.refs, item.id.split(":", 1)[-1]]
    for name in ("sha", "epic", "parent"):
        value = item.extra.get(name)
        if isinstance(value, str) and value:
            keys.append(value)
    return list(dict.fromkeys(k.lower() if "#" in k else k for k in keys if k))


def chore_kind(item: Evidence) -> str | None:
    """The label of the chore rule ``item`` matches (``"version bumps"``, ...), or ``None`` for real work."""
    title = _tidy(_strip_refs(_first_line(item.title)))
    paths = [str(p) for p in item.extra.get("paths") or []]
    if item.files is not None and item.files > len(paths):
        paths = []  # a truncated path list cannot show that every changed file is a lockfile
    for label, field, pattern in _CHORES:
        if field == "title" and pattern.match(title):
            return label
        if field == "paths" and paths and all(pattern.search(p) for p in paths):
            return label
    return None


def is_ticket_key(key: str) -> bool:
    """Whether ``key`` is a ticket key such as ``ABC-123``."""
    return bool(TICKET_KEY.fullmatch(key)) and key.split("-", 1)[0] not in NOT_TICKETS


def clean_subject(title: str) -> str:
    """The first line of ``title`` without URLs, ticket keys, ``(#123)`` or a conventional-commit prefix."""
    line = _tidy(_strip_refs(_first_line(title)))
    return _tidy(CONVENTIONAL.sub("", line, count=1)).rstrip(" .")


def conventional_type(title: str) -> str:
    """The conventional-commit type of ``title`` (``feat``, ``fix``, ...), or ``""``."""
    match = CONVENTIONAL.match(_tidy(_strip_refs(_first_line(title))))
    return match.group("type").lower() if match else ""


def project_subject(keys: Sequence[str], items: Sequence[Evidence]) -> tuple[str, Evidence | None]:
    """The subject that best describes ``items`` and the item it comes from.

    The ticket of the first ticket key wins, then the most informative ticket, then the most informative
    item: most distinct meaningful words, then most lines changed, then smallest id.
    """
    if not items:
        return "", None
    ticket_keys = [k for k in keys if is_ticket_key(k)]
    tickets = [e for e in items if e.kind == "ticket"]
    source = next((e for e in tickets if ticket_keys and e.id.split(":", 1)[-1] == ticket_keys[0]), None)
    if source is None:
        source = min(tickets or items, key=lambda e: (-_word_count(clean_subject(e.title)), -_lines(e), e.id))
    return clean_subject(source.title) or _first_line(source.title) or "untitled work", source


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


def _components(frame: pd.DataFrame, pairs: pd.DataFrame) -> dict[str, str]:
    """Map each id to its component's root: real work joins on shared keys, a chore joins at most one."""
    parent = {str(i): str(i) for i in frame["id"]}

    def find(node: str) -> str:
        while parent[node] != node:
            parent[node] = parent[parent[node]]
            node = parent[node]
        return node

    def union(a: str, b: str) -> None:
        ra, rb = find(a), find(b)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)

    real = pairs[~pairs["chore"]]
    holders = {str(k): [str(i) for i in ids] for k, ids in real.groupby("keys")["id"].agg(list).items()}
    for ids in holders.values():
        for other in ids[1:]:
            union(ids[0], other)
    for chore_id, keys in frame.loc[frame["chore"], ["id", "keys"]].itertuples(index=False):
        key = next((k for k in sorted(keys, key=lambda k: not is_ticket_key(k)) if k in holders), None)
        if key is not None:
            union(str(chore_id), holders[key][0])
    return {node: find(node) for node in parent}


def _project(group: str, members: list[Evidence], shared: list[tuple[str, int]]) -> Project:
    """One project from a group's members and the keys they share."""
    members.sort(key=lambda e: (e.completed_at, e.id))
    ids = [e.id for e in members]
    repos = sorted({e.repo for e in members if e.repo})
    if group.startswith("m:"):
        return Project(MAINTENANCE_ID, "Maintenance", ids, repos=repos, maintenance=True)
    keys = _order_keys(shared, members)
    epic, epic_title = project_epic(keys, members) if group.startswith("c:") else ("", "")
    if epic_title:
        keys = [epic, *(k for k in keys if k != epic)]
        return Project(epic.lower(), f"{epic}: {epic_title}", ids, keys=keys, repos=repos)
    subject, _ = project_subject(keys, members)
    subject = subject[:1].upper() + subject[1:]
    ticket = next((k for k in keys if is_ticket_key(k)), None)
    lone = members[0].locator if len(members) == 1 and members[0].kind == "ticket" else ""
    if ticket is None and is_ticket_key(lone):
        ticket = lone
    if ticket is not None:
        return Project(ticket.lower(), f"{ticket}: {subject}", ids, keys=keys, repos=repos)
    repo, top_dir = _area(members)
    where = ", ".join(part for part in (repo, f"{top_dir}/" if top_dir else "") if part)
    slug = re.sub(r"[^a-z0-9]+", "-", f"{repo} {top_dir}".lower()).strip("-") or "project"
    title = f"{subject} ({where})" if where else subject
    return Project(slug, title, ids, keys=keys, repos=repos)


def _order_keys(shared: list[tuple[str, int]], members: Iterable[Evidence]) -> list[str]:
    """Shared keys: ticket keys first (epics, then most shared, then natural order), then the rest."""
    epics = {str(e.extra.get(n)) for e in members for n in ("epic", "parent") if e.extra.get(n)}

    def order(pair: tuple[str, int]) -> tuple[bool, bool, int, str, int, str]:
        key, count = pair
        ticket = is_ticket_key(key)
        prefix, _, number = key.partition("-") if ticket else (key, "", "0")
        return (not ticket, key not in epics, -count, prefix, int(number), key)

    return [key for key, _ in sorted(shared, key=order)]


def _area(members: Sequence[Evidence]) -> tuple[str, str]:
    """The (repo, top_dir) with most lines changed, preferring items that know their top directory."""
    known = [e for e in members if "top_dir" in e.extra] or list(members)
    weight: dict[tuple[str, str], tuple[int, int]] = {}
    for e in known:
        lines, count = weight.get((e.repo, _top_dir(e)), (0, 0))
        weight[(e.repo, _top_dir(e))] = (lines + _lines(e), count + 1)
    return min(weight, key=lambda area: (-weight[area][0], -weight[area][1], area))


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


def _strip_refs(line: str) -> str:
    line = URL.sub(" ", line)
    line = PR_SUFFIX.sub(" ", line)
    line = TICKET_KEY.sub(lambda m: m.group(0) if not is_ticket_key(m.group(1)) else " ", line)
    return EMPTY_BRACKETS.sub(" ", line)


def _tidy(line: str) -> str:
    return " ".join(line.split()).strip(EDGE_PUNCTUATION)


def _first_line(title: str) -> str:
    lines = title.strip().splitlines()
    return lines[0].strip() if lines else ""


def _word_count(subject: str) -> int:
    return len({w for w in WORD.findall(subject.lower()) if w not in STOPWORDS})


def _lines(item: Evidence) -> int:
    return (item.additions or 0) + (item.deletions or 0)


def _top_dir(item: Evidence) -> str:
    return str(item.extra.get("top_dir") or "")
