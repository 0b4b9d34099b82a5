"""Check a statement against its project's evidence, for every writer (the offline one and any LLM).

A statement may name only its own project's evidence, link only to that evidence's URLs, mention only
ticket keys and pull requests the evidence shows, state only numbers that are in the evidence text or
in the computed facts, date only the evidence's own dates, and use no hype or effort wording the
evidence does not support. Its **subject** must be true of the whole project: the statement's lead and
the project's title may take their words from one part (a unit of work: a pull request, a ticket, a
commit) only when that part, with the parts that cite it, holds at least half of the items or of the
changed lines, or when every part is named (or counted: "and 2 more"). Statement text is untrusted:
every rule is checked on the raw string.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from decimal import Decimal

from impact_miner.facts import Facts
from impact_miner.grouping import (
    THEME_STOPWORDS,
    Unit,
    covers,
    display_title,
    top_units,
    unit_lines,
    units_of,
)
from impact_miner.model import Evidence, Project
from impact_miner.refs import TICKET_KEY, URL, ticket_keys
from impact_miner.sizes import changed_lines

MARKDOWN_LINK = re.compile(r"\[[^\]]*\]\(\s*<?([^)\s>]+)>?[^)]*\)")
# ``source:locator`` shapes of the design: git:<repo>@<sha>, github:<owner>/<repo>#<n>, jira:<KEY-1>, ...
EVIDENCE_ID = re.compile(r"(?<![\w/.-])([a-z][a-z0-9_-]*):([^\s\[\]()<>\"'`,;]+)")
PR_REF = re.compile(r"(?<![\w/.-])(?:([\w.-]+/[\w.-]+))?#([0-9]+)\b")
ISO_DATE = re.compile(r"(?<!\d)(\d{4}-\d{2}-\d{2})(?!\d)")
NUMBER = re.compile(r"(?<![\w.])(\d{1,3}(?:,\d{3})+(?!\d)(?:\.\d+)?|\d+(?:\.\d+)*)")
BARE_DOMAIN = re.compile(r"(?<![\w/.@-])www\.[^\s<>()\[\]\"'`]+")
HEX = re.compile(r"\b[0-9a-f]{7,40}\b")
TRAILING = ".,:;!?'\""
WORD = re.compile(r"[a-z][a-z0-9_]+")
# Where a statement's subject ends: the clause that adds sizes, parts, places or dates.
LEAD_END = re.compile(r" \(|: | — | – |; |, | across | with | between | on \d{4}-| in [\w.-]+/[\w.-]+")
TICKET_PREFIX = re.compile(r"^[A-Z][A-Z0-9]{1,9}-[0-9]+:\s*")
PATH_PREFIX = re.compile(r"^[\w./-]+/[\w./-]*:\s+|^[\w.-]+\.\w+:\s+")
MORE = re.compile(r"\band (\d+) more\b")
QUOTED = re.compile(r"“[^”]+”")
NAMED_SHARE = 0.6  # a subject names a unit when it holds this share of the unit's title words
# Words every statement may use that say nothing about what the work was.
GENERIC = THEME_STOPWORDS | {
    "commit", "commits", "change", "changes", "changed", "related", "work", "small", "unrelated", "other",
    "made", "pull", "request", "requests", "merge", "merged", "merges", "released", "release", "lines",
    "files", "file", "contributed", "reviewed", "review", "reviews", "others", "ticket", "tickets",
    "across", "project", "part", "parts", "more", "authored", "landed", "closes", "issue", "issues",
}  # fmt: skip

# Superlatives and hype: allowed only when the project's evidence text itself uses them.
HYPE = tuple(
    re.compile(rf"\b{pattern}\b", re.I)
    for pattern in (
        r"best",
        r"world[- ]class",
        r"massive(?:ly)?",
        r"dramatic(?:ally)?",
        r"revolution(?:ary|i[sz]ed)",
        r"unprecedented",
        r"huge(?:ly)?",
        r"significant(?:ly)?",
        r"tremendous(?:ly)?",
        r"incredibl[ey]",
        r"exceptional(?:ly)?",
        r"outstanding",
        r"game[- ]chang(?:er|ing)",
        r"groundbreaking",
        r"cutting[- ]edge",
        r"state[- ]of[- ]the[- ]art",
        r"industry[- ]leading",
        r"amazing(?:ly)?",
        r"enormous(?:ly)?",
        r"vastly",
        r"radical(?:ly)?",
        r"transformative",
        r"transformational",
        r"unparalleled",
        r"stellar",
        r"spectacular(?:ly)?",
        r"immense(?:ly)?",
        r"substantial(?:ly)?",
        r"greatly",
        r"single[- ]handed(?:ly)?",
        r"flawless(?:ly)?",
        r"seamless(?:ly)?",
        r"extraordinar(?:y|ily)",
        r"remarkabl[ey]",
        r"phenomenal(?:ly)?",
        r"unmatched",
        r"unrivall?ed",
        r"visionary",
        r"heroic(?:ally)?",
        r"herculean",
        r"rock ?star",
        r"ninja",
    )
)
# Effort wording: never evidence of impact, whatever the evidence says.
EFFORT = tuple(
    re.compile(rf"\b{pattern}\b", re.I)
    for pattern in (
        r"work(?:ed|ing|s)? (?:very |really |so |extremely )?hard",
        r"hard[- ]work(?:ing)?",
        r"tireless(?:ly)?",
        r"relentless(?:ly)?",
        r"spen[dt] (?:many |countless |long |several )?"
        r"(?:hours|days|nights|weekends)",
        r"long hours",
        r"late nights?",
        r"countless hours",
        r"(?:nights and )?weekends",
        r"around the clock",
        r"midnight oil",
        r"above and beyond",
        r"(?:put|putting) in (?:extra|long|many|countless) (?:hours|effort|time)",
        r"extra hours",
        r"sacrific(?:e|ed|ing)",
        r"blood,? sweat",
        r"grind(?:ed|ing)? (?:through|away)",
    )
)


def verify_statement(
    statement: str, cited_ids: Sequence[str], project: Project, evidence: Sequence[Evidence], facts: Facts
) -> list[str]:
    """The problems with ``statement`` and its ``cited_ids`` for ``project``; empty when it is verified."""
    wanted = set(project.evidence_ids)
    items = [e for e in evidence if e.id in wanted]
    problems = [] if statement.strip() else ["statement is empty"]
    problems += [f"cited evidence is not in this project: {i}" for i in cited_ids if i not in wanted]
    problems += _check_links(statement, items)
    problems += [
        f"evidence id is not in this project: {i}" for i in _evidence_ids(statement) if i not in wanted
    ]
    text = _without_links_and_ids(statement)
    allowed_keys = set(ticket_keys(" ".join(_ref_texts(items))))
    problems += [
        f"ticket key not in this project's evidence: {k}" for k in ticket_keys(text) if k not in allowed_keys
    ]
    problems += _check_pr_refs(text, items)
    problems += _check_dates(text, items, facts)
    problems += _check_numbers(statement, items, facts)
    problems += _check_wording(statement, items)
    problems += check_subject(statement, project, items)
    return list(dict.fromkeys(problems))


def check_subject(statement: str, project: Project, items: Sequence[Evidence]) -> list[str]:
    """The subject rule of the module docstring, for the statement's lead and the project's title."""
    if project.maintenance:
        return []
    units = units_of([e for e in items if e.kind != "metric"])
    shared = _shared_words(units)
    problems = []
    for what, text in (("title", _title_subject(project.title)), ("statement", lead_of(statement))):
        problem = _subject_problem(text, units, shared)
        if problem:
            problems.append(f"{what} {problem}")
    return problems


def lead_of(statement: str) -> str:
    """The subject of a statement: its first sentence up to the first clause that adds detail."""
    first = re.split(r"(?<=[.!?])\s+(?=[A-Z“\"])", statement.strip(), maxsplit=1)[0]
    return LEAD_END.split(first, maxsplit=1)[0]


def _title_subject(title: str) -> str:
    """A title without its ticket key and shared file or folder prefix (``ABC-1: docs/: ...``)."""
    text = TICKET_PREFIX.sub("", title.strip())
    return PATH_PREFIX.sub("", text)


def _subject_problem(text: str, units: Sequence[Unit], shared: set[str]) -> str:
    words = subject_words(text) - shared
    named = [u for u in units if _names(words, text, u, shared)] if words else []
    if not named or any(covers(u, units, strict=False) for u in named) or _covered(named, units):
        return ""
    top = top_units(units)
    unnamed = [u for u in top if u not in named]
    counted = max((int(n) for n in MORE.findall(text)), default=0)
    listed = len(QUOTED.findall(text))  # parts quoted one by one ("“A”, “B” and 3 more")
    if not unnamed or counted >= len(unnamed) or (listed and listed + counted >= len(top)):
        return ""
    share_items, share_lines = _shares(named, units)
    return (
        f"is about part of the project only ({', '.join(repr(display_title(u.title)) for u in named[:3])}: "
        f"{share_items:.0%} of its items, {share_lines:.0%} of its changed lines); "
        "describe the whole project or name each part"
    )


def subject_words(text: str) -> set[str]:
    """The content words of a subject, stemmed, without generic words, keys, numbers and links."""
    text = URL.sub(" ", text)
    text = TICKET_KEY.sub(" ", PR_REF.sub(" ", text))
    return {_stem(w) for w in WORD.findall(text.lower()) if w not in GENERIC and not w.isdigit()}


def _shared_words(units: Sequence[Unit]) -> set[str]:
    """Words every unit's title or paths hold: naming them names what the parts share, not one part."""
    if len(units) < 2:
        return set()
    vocabularies = [
        subject_words(display_title(u.title))
        | subject_words(" ".join(re.split(r"[/._-]", " ".join(u.files))))
        for u in units
    ]
    return set.intersection(*vocabularies)


def _names(words: set[str], text: str, unit: Unit, shared: set[str]) -> bool:
    """Whether a subject names ``unit``: most of its title's own words (those not every part shares), or
    its key."""
    title = subject_words(display_title(unit.title)) - shared
    if title and len(title & words) >= max(1, math.ceil(NAMED_SHARE * len(title))):
        return True
    short = unit.key.rpartition("#")[2] if "#" in unit.key else ""
    return bool(short) and re.search(rf"(?<![\w/])#{short}\b", text) is not None


def _covered(named: Sequence[Unit], units: Sequence[Unit]) -> bool:
    share_items, share_lines = _shares(named, units)
    return share_items >= 0.5 or share_lines >= 0.5


def _shares(named: Sequence[Unit], units: Sequence[Unit]) -> tuple[float, float]:
    items = sum(len(u.items) for u in units) or 1
    lines = sum(unit_lines(u) for u in units)
    named_lines = sum(unit_lines(u) for u in named)
    share_items = sum(len(u.items) for u in named) / items
    return share_items, (named_lines / lines if lines else share_items)


def _stem(word: str) -> str:
    for suffix in ("ing", "ed", "es", "s"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            word = word[: -len(suffix)]
            break
    return word.removesuffix("e") if len(word) > 3 else word


def _check_links(statement: str, items: Sequence[Evidence]) -> list[str]:
    """Every bare URL and Markdown link target must be one of the evidence's URLs."""
    allowed = {e.url.rstrip("/") for e in items if e.url}
    return [
        f"link is not to this project's evidence: {link}"
        for link in _links(statement)
        if link.rstrip("/") not in allowed
    ]


def _check_pr_refs(text: str, items: Sequence[Evidence]) -> list[str]:
    """Every ``owner/repo#N`` and ``#N`` must appear in the evidence's ids, refs or titles."""
    full: set[str] = set()
    numbers: set[str] = set()
    for ref_text in _ref_texts(items):
        for token in ref_text.split():
            if "#" in token:
                full.add(token.strip(TRAILING + "()[]"))
                numbers.add(token.rsplit("#", 1)[1].strip(TRAILING + "()[]"))
        for repo, number in PR_REF.findall(ref_text):
            full.add(f"{repo}#{number}")
            numbers.add(number)
    problems = []
    for repo, number in PR_REF.findall(text):
        if (repo and f"{repo}#{number}" not in full) or (not repo and number not in numbers):
            problems.append(f"pull request not in this project's evidence: {repo}#{number}")
    return problems


def _check_dates(text: str, items: Sequence[Evidence], facts: Facts) -> list[str]:
    """Every ISO date must be an evidence date, a facts date, or written in the evidence text."""
    allowed = {str(facts.get(key)) for key in ("first_date", "last_date")}
    for item in items:
        allowed.update(d.date().isoformat() for d in (item.completed_at, item.created_at) if d is not None)
        allowed.update(ISO_DATE.findall(_evidence_text([item])))
    return [f"date not in this project's evidence: {d}" for d in ISO_DATE.findall(text) if d not in allowed]


def _check_numbers(statement: str, items: Sequence[Evidence], facts: Facts) -> list[str]:
    """Every number must be a facts value or appear in the evidence's titles, bodies, labels or extras;
    an ``N more`` after a list may count at most the project's items."""
    allowed = set(_numbers(_evidence_text(items), items))
    allowed.update(_numbers(" ".join(str(e.extra.get("release") or "") for e in items), items))
    for item in items:  # each item's own size, for statements that name a part
        sizes = (item.additions, item.deletions, item.files, changed_lines(item))
        allowed.update(str(n) for n in sizes if n)
    allowed.update(str(n) for n in range(1, len(items) + 1) if f"{n} more" in statement)
    for value in [*facts.values(), *(v for e in items for v in e.extra.values())]:
        if isinstance(value, int | float) and not isinstance(value, bool):
            allowed.add(str(value))
            if float(value).is_integer():
                allowed.add(str(int(value)))
            elif isinstance(value, float) and math.isfinite(value):
                allowed.add(format(Decimal(repr(value)), "f"))  # 1.23e-05 is written 0.0000123
    return [
        f"number not in this project's evidence or facts: {n}"
        for n in _numbers(statement, items)
        if n not in allowed
    ]


def _check_wording(statement: str, items: Sequence[Evidence]) -> list[str]:
    """No hype the evidence does not use itself, and no effort wording at all."""
    evidence_text = _evidence_text(items)
    problems = [
        f'superlative not supported by the evidence: "{m.group(0)}"'
        for p in HYPE
        for m in p.finditer(statement)
        if not p.search(evidence_text)
    ]
    problems += [
        f'effort wording (state outcomes, not effort): "{m.group(0)}"'
        for p in EFFORT
        for m in p.finditer(statement)
    ]
    return problems


def _links(text: str) -> list[str]:
    """Markdown link targets and bare URLs, without trailing punctuation."""
    found = [m.group(1) for m in MARKDOWN_LINK.finditer(text)]
    found += [u.rstrip(TRAILING) for u in URL.findall(text)]
    found += [u.rstrip(TRAILING) for u in BARE_DOMAIN.findall(URL.sub(" ", text))]
    return list(dict.fromkeys(found))


def _evidence_ids(text: str) -> list[str]:
    """Tokens shaped like evidence ids (``git:repo@sha``, ``github:o/r#1``, ``jira:KEY-1``, ...)."""
    found = []
    for source, locator in EVIDENCE_ID.findall(URL.sub(" ", text)):
        locator = locator.rstrip(TRAILING)
        shaped = "@" in locator or "#" in locator or TICKET_KEY.fullmatch(locator)
        if shaped and not locator.startswith("//"):
            found.append(f"{source}:{locator}")
    return list(dict.fromkeys(found))


def _without_links_and_ids(text: str) -> str:
    text = MARKDOWN_LINK.sub(lambda m: m.group(0).split("](", 1)[0][1:], text)
    text = BARE_DOMAIN.sub(" ", URL.sub(" ", text))
    for found in _evidence_ids(text):
        text = text.replace(found, " ")
    return text


def _numbers(text: str, items: Sequence[Evidence]) -> list[str]:
    """Numbers in ``text`` once URLs, ids, dates, pull requests, ticket keys, repository names and
    commit shas of ``items`` are removed; ``1,200`` is read as ``1200``."""
    text = _without_links_and_ids(text)
    text = ISO_DATE.sub(" ", PR_REF.sub(" ", text))
    text = TICKET_KEY.sub(lambda m: " " if ticket_keys(m.group(0)) else m.group(0), text)
    for repo in sorted({e.repo for e in items if e.repo}, key=len, reverse=True):
        text = text.replace(repo, " ")
    shas = [_sha(e) for e in items]
    text = HEX.sub(lambda m: " " if any(s.startswith(m.group(0)) for s in shas if s) else m.group(0), text)
    return [n.replace(",", "") for n in NUMBER.findall(text)]


def _sha(item: Evidence) -> str:
    return str(item.extra.get("sha") or (item.id.rsplit("@", 1)[-1] if item.source == "git" else ""))


def _ref_texts(items: Sequence[Evidence]) -> list[str]:
    """Where ticket keys and pull requests of the evidence may appear: ids, refs, titles, epic/parent."""
    texts = []
    for item in items:
        texts += [item.id.split(":", 1)[-1], *item.refs, item.title]
        texts += [str(item.extra[name]) for name in ("epic", "parent", "unit_title") if item.extra.get(name)]
    return texts


def _evidence_text(items: Sequence[Evidence]) -> str:
    """Every text the evidence holds: titles, bodies, labels, and the title of the unit an item is part of
    (the pull request a merge recorded)."""
    unit_titles = [str(e.extra["unit_title"]) for e in items if e.extra.get("unit_title")]
    return "\n".join([*(part for e in items for part in (e.title, e.body, *e.labels)), *unit_titles])
