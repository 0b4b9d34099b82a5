"""The numbers and dates the tool computed for a project: what writers may state and the verifier accepts.

Sizes are counted per unit of work (see :mod:`impact_miner.sizes`), so nothing is counted twice and
``files`` is always a count of distinct files.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence

from impact_miner.grouping import units_of
from impact_miner.model import Evidence, Project
from impact_miner.sizes import SIZED_KINDS, size_of, total_size

Facts = dict[str, int | float | str]

# Count keys of the common kinds, in the order statements list them; other kinds get "<kind>s".
KIND_KEYS = {
    "commit": "commits",
    "pull_request": "pull_requests",
    "merge_request": "merge_requests",
    "review": "reviews",
    "merge": "merges",
    "release": "releases",
    "ticket": "tickets",
    "metric": "metrics",
}
TOTAL_KEYS = ("items", "additions", "deletions", "lines", "files", "repositories", "days")
DATE_KEYS = ("first_date", "last_date", "authored_date")
LATE_DAYS = 14  # a unit that landed this long after it was first written says so
MAX_PARTS = 12


def project_facts(project: Project, evidence: Sequence[Evidence]) -> Facts:
    """Counts by kind, ``items``, sizes, ``repositories``, ``days``, dates, and each part's numbers.

    Only counts and sums greater than zero are included; an empty project has no facts. Linked metric
    rows are not work: they are left out of counts, sizes and dates, and the project's measured results
    add their numbers as printed (``measured.1.before``, ... see :func:`impact_miner.metrics.metric_facts`).
    ``part.N.*`` are the numbers of the project's units (pull requests, releases, commits), largest first:
    ``title``, ``key``, ``items``, ``additions``, ``deletions``, ``lines``, ``files``.
    """
    from impact_miner.metrics import metric_facts

    wanted = set(project.evidence_ids)
    found = list({e.id: e for e in reversed(evidence) if e.id in wanted}.values())
    items = [e for e in found if e.kind != "metric"] or found
    if not items:
        return {}
    kinds = Counter(count_key(e.kind) for e in items)
    known = [key for key in KIND_KEYS.values() if key in kinds]
    facts: Facts = {key: kinds[key] for key in [*known, *sorted(set(kinds) - set(known))]}
    units = sorted(units_of(items), key=lambda u: (-size_of(u.items).lines, -len(u.items), u.key))
    sizes = [size_of(u.items) for u in units]
    size = total_size(sizes)
    dates = sorted(e.completed_at.date() for e in items)
    totals = {
        "items": len(items),
        "additions": size.additions,
        "deletions": size.deletions,
        "lines": size.lines,
        "files": size.files or 0,
        "repositories": len({e.repo.lower() for e in items if e.repo}),
        "days": (dates[-1] - dates[0]).days + 1,
    }
    facts.update({key: value for key, value in totals.items() if value > 0})
    facts["first_date"] = dates[0].isoformat()
    facts["last_date"] = dates[-1].isoformat()
    written = [e.created_at for e in items if e.created_at is not None and e.kind in ("commit", *SIZED_KINDS)]
    if written and (items[0].completed_at - min(written)).days >= LATE_DAYS and len(units) == 1:
        facts["authored_date"] = min(written).date().isoformat()
    for n, (unit, part) in enumerate(zip(units, sizes, strict=True), 1):
        if n > MAX_PARTS:
            break
        prefix = f"part.{n}."
        facts[prefix + "title"] = unit.title
        facts[prefix + "key"] = unit.key
        facts[prefix + "items"] = len(unit.items)
        for key, value in (
            ("additions", part.additions),
            ("deletions", part.deletions),
            ("lines", part.lines),
        ):
            if value:
                facts[prefix + key] = value
        if part.files:
            facts[prefix + "files"] = part.files
    facts.update(metric_facts(project.metrics))
    return facts


def count_key(kind: str) -> str:
    """The facts key that counts items of ``kind``: ``commits``, ``pull_requests``, ..."""
    key = KIND_KEYS.get(kind) or (re.sub(r"[^a-z0-9]+", "_", kind.lower()).strip("_") or "other") + "s"
    return f"{key.removesuffix('s')}_items" if key in TOTAL_KEYS or key in DATE_KEYS else key


def kind_counts(facts: Facts) -> list[tuple[str, int]]:
    """The per-kind counts in ``facts``, in their order: ``[("commits", 5), ("pull_requests", 1)]``."""
    return [
        (key, value)
        for key, value in facts.items()
        if key not in TOTAL_KEYS and key not in DATE_KEYS and isinstance(value, int) and "." not in key
    ]
