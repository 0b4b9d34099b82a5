"""The numbers and dates the tool computed for a project: what writers may state and the verifier accepts."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence

from impact_miner.model import Evidence, Project

Facts = dict[str, int | float | str]

# Count keys of the common kinds, in the order statements list them; other kinds get "<kind>s".
KIND_KEYS = {
    "commit": "commits",
    "pull_request": "pull_requests",
    "review": "reviews",
    "ticket": "tickets",
    "metric": "metrics",
}
TOTAL_KEYS = ("items", "additions", "deletions", "lines", "files", "repositories", "days")
DATE_KEYS = ("first_date", "last_date")


def project_facts(project: Project, evidence: Sequence[Evidence]) -> Facts:
    """Counts by kind, ``items``, sizes, ``repositories``, ``days`` and ``first_date``/``last_date``.

    Only counts and sums greater than zero are included; an empty project has no facts. Linked metric
    rows are not work: they are left out of counts, sizes and dates, and the project's measured results
    add their numbers as printed (``measured.1.before``, ... see :func:`impact_miner.metrics.metric_facts`).
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
    additions = sum(e.additions or 0 for e in items)
    deletions = sum(e.deletions or 0 for e in items)
    dates = sorted(e.completed_at.date() for e in items)
    totals = {
        "items": len(items),
        "additions": additions,
        "deletions": deletions,
        "lines": additions + deletions,
        "files": sum(e.files or 0 for e in items),
        "repositories": len({e.repo for e in items if e.repo}),
        "days": (dates[-1] - dates[0]).days + 1,
    }
    facts.update({key: value for key, value in totals.items() if value > 0})
    facts["first_date"] = dates[0].isoformat()
    facts["last_date"] = dates[-1].isoformat()
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
