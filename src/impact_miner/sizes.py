"""How big some work is, counted once: per unit of work, with files counted as distinct files.

A pull or merge request that is in the evidence stands for its commits (its lines are the whole pull
request's); otherwise a unit's commits add up. Files are the union of the changed paths when every sized
item lists all of its paths; one pull request's own count when it is the only sized item; otherwise
unknown (``None``), so that no statement can claim a number of files it cannot back.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from impact_miner.model import Evidence

SIZED_KINDS = ("pull_request", "merge_request")


def changed_lines(item: Evidence) -> int:
    """Lines one item added and removed (0 when unknown)."""
    return (item.additions or 0) + (item.deletions or 0)


UNSIZED_KINDS = ("review", "merge", "ticket", "metric", "release")


@dataclass(frozen=True)
class Size:
    """Lines and distinct files of some work; ``paths`` is None when they are not all known."""

    additions: int = 0
    deletions: int = 0
    files: int | None = None
    paths: frozenset[str] | None = frozenset()

    @property
    def lines(self) -> int:
        return self.additions + self.deletions


def size_of(items: Sequence[Evidence]) -> Size:
    """The size of one unit's items: its pull or merge request when one is there, else its commits."""
    sized = [e for e in items if e.kind in SIZED_KINDS and (e.additions or e.deletions or e.files)]
    if not sized:
        sized = [e for e in items if e.kind not in UNSIZED_KINDS]
    additions = sum(e.additions or 0 for e in sized)
    deletions = sum(e.deletions or 0 for e in sized)
    paths: set[str] | None = set()
    for item in sized:
        listed = [str(p) for p in item.extra.get("paths") or []]
        if paths is not None and (item.files or 0) <= len(listed):
            paths.update(listed)
        elif item.files:
            paths = None
    if paths is not None:
        return Size(additions, deletions, len(paths) or None, frozenset(paths))
    files = sized[0].files if len(sized) == 1 else None
    return Size(additions, deletions, files, None)


def total_size(sizes: Sequence[Size]) -> Size:
    """The size of several units: lines add up, files are counted once (known only when all are)."""
    if all(s.paths is not None for s in sizes):
        paths = frozenset().union(*(s.paths or frozenset() for s in sizes))
        return Size(
            sum(s.additions for s in sizes), sum(s.deletions for s in sizes), len(paths) or None, paths
        )
    sized = [s for s in sizes if s.lines or s.files]
    files = sized[0].files if len(sized) == 1 else None
    return Size(sum(s.additions for s in sizes), sum(s.deletions for s in sizes), files, None)
