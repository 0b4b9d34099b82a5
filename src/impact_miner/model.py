"""The plain data that flows through the pipeline: evidence, people, ranges, projects, reports.

Every stage takes and returns these values; none of them does I/O.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from datetime import datetime
from typing import Any, Literal, TypedDict

Status = Literal["ok", "partial", "failed", "skipped"]


@dataclass(frozen=True)
class TimeRange:
    """A half-open, timezone-aware interval ``[since, until)`` and the specs that produced it."""

    since: datetime
    until: datetime
    spec: str = ""

    def __contains__(self, moment: datetime) -> bool:
        return self.since <= moment < self.until


@dataclass
class Person:
    """One person with every identity their work may appear under.

    ``emails`` and ``names`` match git authors (case-insensitively); ``logins`` maps a source type
    (``github``, ``jira``, ...) to the person's login there.
    """

    name: str = ""
    emails: list[str] = field(default_factory=list)
    names: list[str] = field(default_factory=list)
    logins: dict[str, str] = field(default_factory=dict)

    def identities(self) -> dict[str, Any]:
        """The identities as the report lists them."""
        found: dict[str, Any] = {}
        if self.emails or self.names:
            found["git"] = [*self.emails, *self.names]
        found.update(self.logins)
        return found


@dataclass
class SourceSection:
    """One ``[sources.NAME]`` table of the config, with secret references already resolved.

    ``implicit`` marks a section no config named (git on the current repository): when other sources
    are configured, a problem with it skips it instead of stopping the run.
    """

    name: str
    type: str
    options: dict[str, Any] = field(default_factory=dict)
    implicit: bool = False

    def get(self, key: str, default: Any = None) -> Any:
        return self.options.get(key, default)


@dataclass
class Evidence:
    """One thing the person did, with a stable ``id`` of the form ``source:locator``."""

    id: str
    source: str
    kind: str
    title: str
    url: str
    completed_at: datetime
    body: str = ""
    author: str = ""
    repo: str = ""
    created_at: datetime | None = None
    refs: list[str] = field(default_factory=list)
    labels: list[str] = field(default_factory=list)
    additions: int | None = None
    deletions: int | None = None
    files: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    project_id: str | None = None

    @property
    def locator(self) -> str:
        return self.id.split(":", 1)[1]

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able dict (datetimes as ISO 8601 strings), as the report and the cache store it."""
        data = asdict(self)
        for key in ("created_at", "completed_at"):
            if isinstance(data[key], datetime):
                data[key] = data[key].isoformat()
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Evidence:
        """The inverse of :meth:`to_dict`; unknown keys are ignored."""
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in data.items() if k in known}
        for key in ("created_at", "completed_at"):
            if isinstance(values.get(key), str):
                values[key] = datetime.fromisoformat(values[key])
        return cls(**values)


@dataclass
class SourceReport:
    """What one source instance fetched, and how completely."""

    source: str
    status: Status
    items: int = 0
    detail: str = ""
    type: str = ""


@dataclass
class FetchResult:
    """A connector's answer; ``identities`` lists the identities it actually matched on."""

    evidence: list[Evidence]
    report: SourceReport
    identities: list[str] = field(default_factory=list)


class MetricWindows(TypedDict):
    """The before and after windows of a measured result, each ``[start, end)`` in ISO 8601."""

    before: list[str]
    after: list[str]


class WindowComparison(TypedDict):
    """What the samples of a series decide when compared before/after some work
    (:func:`impact_miner.metrics.compare_windows`)."""

    before: float | None
    after: float | None
    delta: float | None
    percent: float | None
    improved: bool | None
    points_before: int
    points_after: int
    stdev_before: float | None
    window_days: float | None
    windows: MetricWindows
    weak: list[str]


class MeasuredMetric(WindowComparison):
    """A series compared before/after a project's work (:func:`impact_miner.metrics.attach_metrics`).

    ``before``/``after`` are the windows' means, ``delta = after − before``, ``percent = delta / before
    × 100`` (None when a side has no points), ``improved`` whether the change went the ``better`` way
    (None when unknown), ``weak`` the reasons not to trust it, ``link`` why it belongs to the project.
    """

    name: str
    unit: str
    better: str | None
    link: str
    source: Literal["measured"]
    evidence_id: str


class ClaimedMetric(TypedDict):
    """A number the project's own text states (:meth:`impact_miner.claims.Claim.to_metric`), quoted in
    ``text``: ``kind`` ``change`` (before/after, delta, percent), ``percent`` or ``factor``."""

    name: str
    unit: str
    better: None
    before: float | None
    after: float | None
    delta: float | None
    percent: float | None
    factor: float | None
    direction: str
    kind: str
    text: str
    weak: list[str]
    source: Literal["claimed"]
    evidence_id: str


# One entry of ``Project.metrics`` (``projects[].metrics`` in the report JSON), told apart by ``source``.
Metric = MeasuredMetric | ClaimedMetric


@dataclass
class Project:
    """Evidence linked into one piece of work, with its statement once a writer has run.

    ``kind`` is ``work`` (the person's own), ``credit`` (reviews given and others' pull requests merged),
    ``other`` (small unrelated commits listed together) or ``maintenance``. ``competency_reasons`` says,
    for a tag, what in the evidence shows it (``"5 of 6 commits add or change tests"``).
    """

    id: str
    title: str
    evidence_ids: list[str]
    keys: list[str] = field(default_factory=list)
    repos: list[str] = field(default_factory=list)
    maintenance: bool = False
    statement: str = ""
    competencies: list[str] = field(default_factory=list)
    metrics: list[Metric] = field(default_factory=list)
    verified: bool = False
    problems: list[str] = field(default_factory=list)
    kind: str = "work"
    competency_reasons: dict[str, str] = field(default_factory=dict)


@dataclass
class Writer:
    name: str = "offline"
    model: str | None = None
    prompt_version: str | None = None


@dataclass
class Report:
    person: Person
    range: TimeRange
    writer: Writer
    coverage: list[SourceReport]
    projects: list[Project]
    evidence: list[Evidence]

    @property
    def partial(self) -> bool:
        return any(c.status in ("partial", "failed") for c in self.coverage)
