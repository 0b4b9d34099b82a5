"""A GitHub on 127.0.0.1 for tests: real HTTP, GitHub's published GraphQL schema, GitHub's search rules.

    with FakeGitHub(pulls=[pull("acme/api", 1, author="ada", merged_at=when)]) as github:
        section = SourceSection("gh", "github", {"url": github.url, "token": github.token})

What it does like GitHub:

- ``POST {prefix}/graphql`` (``/api/graphql`` for the default Enterprise-style ``/api/v3`` prefix):
  every query is parsed and validated against ``tests/fixtures/github/schema.graphql``, the part of
  GitHub's published schema the connector uses (``test_recorded_data.py`` checks it is a true subset
  of ``../shared/data/github/graphql/schema.graphql`` and that it is exactly what the connector's
  queries use; ``FakeGitHub(schema=github_schema(real))`` validates against the whole schema), so a
  field GitHub lacks fails here as it would there; each query is also checked for GitHub's pagination rules
  (``first``/``last`` required on connections whose nodes are read, at most 100, at most 500,000
  nodes), then executed against plain dicts: only the fields the query asks for are returned.
- Errors come as GitHub sends them: query errors and ``RATE_LIMITED`` with HTTP 200 and an ``errors``
  array; 401 ``Bad credentials``; results in an organisation that enforces SAML SSO come back as
  ``null`` nodes with ``FORBIDDEN`` errors (``extensions.saml_failure``) and an ``X-GitHub-SSO`` header.
- ``search(type: ISSUE)`` understands the qualifiers the connector uses (``is:``, ``author:``,
  ``-author:``, ``reviewed-by:``, ``involves:``, ``org:``, ``repo:``, and ``merged:``/``closed:``/
  ``updated:``/``created:`` with ``A..B``, ``>=A``, ``<A``, ... inclusive like GitHub), reports the
  true ``issueCount`` but never returns more than 1,000 results, and pages with opaque cursors.
  Unknown qualifiers are an error here (GitHub would search them as text), so typos surface.
- Every response carries ``X-RateLimit-*`` headers; ``GET {prefix}/user`` and ``/rate_limit`` answer;
  anything else is a JSON 404.

Faults are scripted per GraphQL request with :meth:`FakeGitHub.script` (:data:`OK` passes one
request through): any status, headers and body, or a hang longer than the client's timeout.
Requests are logged in :attr:`FakeGitHub.log`.

Payload shapes come from GitHub's real responses: :func:`pulls_from_cassettes` and
:func:`reviews_from_devlake` turn them into :class:`Pull` and :class:`Review` records, from the trimmed
copies in ``tests/fixtures/github/rest`` by default, or from the recordings in
``../shared/data/github/rest`` (``directory=shared_data() / "github" / "rest"``).
"""

from __future__ import annotations

import base64
import csv
import functools
import gzip
import json
import re
import threading
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from graphql import (
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLSchema,
    InlineFragmentNode,
    OperationDefinitionNode,
    SelectionSetNode,
    build_schema,
    execute,
    get_named_type,
    parse,
    validate,
    value_from_ast_untyped,
)

from shared_data import FIXTURES, shared_data

SCHEMA_SUBSET = FIXTURES / "github" / "schema.graphql"
REST_FIXTURES = FIXTURES / "github" / "rest"
SEARCH_CAP = 1000
MAX_PAGE = 100
MAX_NODES = 500_000
SAML_MESSAGE = (
    "Resource protected by organization SAML enforcement. You must grant your Personal Access token "
    "access to this organization."
)
DOCS = "https://docs.github.com/graphql"


def real_schema_path() -> Path:
    """GitHub's whole published schema, in the shared recordings."""
    return shared_data() / "github" / "graphql" / "schema.graphql"


@functools.cache
def github_schema(path: Path = SCHEMA_SUBSET) -> GraphQLSchema:
    """A GitHub schema (by default the connector's subset), built once per process (the recipe of
    shared/data/README.md)."""
    text = path.read_text(encoding="utf-8")
    schema = build_schema(text, assume_valid_sdl=True)
    schema._validation_errors = []  # the published SDL trips strict interface checks GitHub does not enforce
    return schema


# ---- records -----------------------------------------------------------------------------------------


@dataclass
class Review:
    author: str
    state: str  # APPROVED, CHANGES_REQUESTED, COMMENTED, DISMISSED, PENDING
    submitted_at: datetime | None
    id: int = 0
    author_type: str = "User"


@dataclass
class Pull:
    """A pull request as the fake stores it (``body=None`` becomes ``""``, as GraphQL's body is non-null)."""

    repo: str
    number: int
    title: str = "Change"
    author: str | None = "ada"  # None: a deleted account
    author_type: str = "User"  # or "Bot" (login without "[bot]", as GraphQL gives it)
    body: str | None = None
    created_at: datetime = datetime(2026, 1, 1, tzinfo=UTC)
    merged_at: datetime | None = None
    closed_at: datetime | None = None
    updated_at: datetime | None = None
    additions: int = 1
    deletions: int = 0
    changed_files: int = 1
    head_ref: str = "topic"
    head_repo: str | None = ""  # "" = same as repo; None = the fork was deleted
    labels: list[str] = field(default_factory=list)
    commits: list[str] = field(default_factory=list)
    merge_commit: str | None = None
    closing_issues: list[tuple[str, int]] = field(default_factory=list)
    reviews: list[Review] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"https://github.com/{self.repo}/pull/{self.number}"

    @property
    def updated(self) -> datetime:
        moments = [self.created_at, self.merged_at, self.closed_at]
        moments += [r.submitted_at for r in self.reviews]
        return self.updated_at or max(m for m in moments if m is not None)


@dataclass
class Issue:
    repo: str
    number: int
    title: str = "Bug"
    author: str | None = "bob"
    body: str | None = None
    created_at: datetime = datetime(2026, 1, 1, tzinfo=UTC)
    closed_at: datetime | None = None
    closed_by: str | None = None  # the ClosedEvent's actor
    closer: Pull | str | None = None  # the pull request, or a commit sha, that closed it
    closer_author: str | None = None  # a closing commit's author login
    assignees: list[str] = field(default_factory=list)
    involves: list[str] = field(default_factory=list)  # commenters, mentions
    labels: list[str] = field(default_factory=list)
    state_reason: str = "COMPLETED"

    @property
    def url(self) -> str:
        return f"https://github.com/{self.repo}/issues/{self.number}"


def pull(repo: str, number: int, **fields: Any) -> Pull:
    """A :class:`Pull` with ``merged_at`` defaulting ``created_at`` to an hour before it."""
    if fields.get("merged_at") and "created_at" not in fields:
        fields["created_at"] = fields["merged_at"] - timedelta(hours=1)
    return Pull(repo, number, **fields)


def generate_pulls(
    count: int, *, author: str, since: datetime, until: datetime, repos: int = 5, start: int = 1
) -> list[Pull]:
    """``count`` merged pull requests by ``author`` spread evenly over ``[since, until)``."""
    span = (until - since).total_seconds()
    found = []
    for i in range(count):
        merged = since + timedelta(seconds=int(span * i / count))
        number = start + i
        found.append(
            pull(
                f"acme/service-{i % repos}",
                number,
                title=f"Improve service path {number}",
                author=author,
                merged_at=merged,
                additions=10 + i % 7,
                deletions=i % 3,
                changed_files=1 + i % 4,
                head_ref=f"feature/{number}",
                commits=[f"{number:040x}"],
            )
        )
    return found


# ---- real payload shapes -----------------------------------------------------------------------------


def cassette(name: str, directory: Path = REST_FIXTURES) -> list[tuple[str, int, Any]]:
    """``(uri, status, decoded JSON body)`` for each interaction of a Betamax cassette in ``directory``."""
    data = json.loads((directory / name).read_text(encoding="utf-8"))
    found = []
    for interaction in data["http_interactions"]:
        body = interaction["response"]["body"]
        text = body.get("string") or ""
        if body.get("base64_string"):
            text = gzip.decompress(base64.b64decode(body["base64_string"])).decode("utf-8")
        found.append(
            (
                interaction["request"]["uri"],
                interaction["response"]["status"]["code"],
                json.loads(text or "null"),
            )
        )
    return found


def _parse_time(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def pull_from_rest(data: dict[str, Any], commits: Iterable[dict[str, Any]] = ()) -> Pull:
    """A REST pull request (``GET /repos/O/R/pulls/N``) as GraphQL would describe it."""
    user = data.get("user") or {}
    bot = user.get("type") == "Bot"
    login = user.get("login")
    head_repo = (data.get("head") or {}).get("repo")
    return Pull(
        repo=data["base"]["repo"]["full_name"],
        number=data["number"],
        title=data["title"],
        author=login.removesuffix("[bot]") if bot and login else login,
        author_type="Bot" if bot else "User",
        body=data.get("body"),
        created_at=_parse_time(data["created_at"]) or datetime(2000, 1, 1, tzinfo=UTC),
        merged_at=_parse_time(data.get("merged_at")),
        closed_at=_parse_time(data.get("closed_at")),
        updated_at=_parse_time(data.get("updated_at")),
        additions=data.get("additions") or 0,
        deletions=data.get("deletions") or 0,
        changed_files=data.get("changed_files") or 0,
        head_ref=data["head"]["ref"],
        head_repo=head_repo["full_name"] if head_repo else None,
        labels=[label["name"] for label in data.get("labels") or []],
        commits=[c["sha"] for c in commits],
        merge_commit=data.get("merge_commit_sha"),
    )


def pulls_from_cassettes(directory: Path = REST_FIXTURES) -> dict[str, Pull]:
    """Real pull requests by role: ``deleted_fork`` (sigmavirus24/github3.py#235, head repo gone, with its
    real commits), ``fork`` (#671, with real reviews attached), ``renamed`` (betamax, which moved from
    sigmavirus24/ to betamaxpy/; GitHub answers the old name with a 301)."""
    (_, _, deleted), (_, _, commits) = cassette("PullRequest_commits.json", directory)
    (_, _, fork), (_, _, reviews) = cassette("PullRequest_pull_reviews.json", directory)
    interactions = cassette("Repository_pull_requests_accept_sort.json", directory)
    assert interactions[0][1] == 301, "the betamax cassette starts with the rename's redirect"
    renamed = interactions[-1][2][0]
    found = {
        "deleted_fork": pull_from_rest(deleted, commits),
        "fork": pull_from_rest(fork),
        "renamed": pull_from_rest(renamed),
    }
    found["fork"].reviews = [
        Review(
            author=r["user"]["login"],
            state=r["state"],
            submitted_at=_parse_time(r.get("submitted_at")),
            id=r["id"],
            author_type=r["user"].get("type", "User"),
        )
        for r in reviews
    ]
    return found


def reviews_from_devlake(directory: Path = REST_FIXTURES) -> dict[tuple[str, int], list[Review]]:
    """Apache DevLake's real reviews (panjf2000/ants #41, #51, #53; 30 once deduplicated), by pull request."""
    csv.field_size_limit(1 << 26)
    path = directory / "_raw_github_api_pull_request_reviews.csv"
    found: dict[tuple[str, int], list[Review]] = {}
    seen: set[int] = set()
    with path.open(encoding="utf-8", newline="") as handle:
        for row in csv.DictReader(handle):
            data = json.loads(row["data"])
            if data["id"] in seen:  # DevLake collected one review twice; GitHub lists each once
                continue
            seen.add(data["id"])
            match = re.search(r"/repos/([^/]+/[^/]+)/pulls/(\d+)/reviews", row["url"])
            assert match, row["url"]
            user = data.get("user") or {}
            found.setdefault((match.group(1), int(match.group(2))), []).append(
                Review(
                    author=user.get("login") or "ghost",
                    state=data["state"],
                    submitted_at=_parse_time(data.get("submitted_at")),
                    id=data["id"],
                    author_type=user.get("type", "User"),
                )
            )
    return found


# ---- search ------------------------------------------------------------------------------------------

RANGE_QUALIFIERS = {"merged", "closed", "updated", "created"}


def _moment(text: str, *, end: bool) -> datetime:
    """A search date or datetime; a bare date means its first (or, as an end, last) second, in UTC."""
    if text == "*":
        return datetime.max.replace(tzinfo=UTC) if end else datetime.min.replace(tzinfo=UTC)
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
        day = datetime.fromisoformat(text).replace(tzinfo=UTC)
        return day + timedelta(days=1) - timedelta(microseconds=1) if end else day
    moment = datetime.fromisoformat(text)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def parse_range(text: str) -> tuple[datetime, datetime]:
    """``A..B``, ``>=A``, ``>A``, ``<=A``, ``<A`` or ``A`` as an inclusive ``(low, high)``."""
    if ".." in text:
        low, high = text.split("..", 1)
        return _moment(low, end=False), _moment(high, end=True)
    for op in (">=", "<=", ">", "<"):
        if text.startswith(op):
            value = text[len(op) :]
            if op == ">=":
                return _moment(value, end=False), _moment("*", end=True)
            if op == ">":
                return _moment(value, end=True) + timedelta(microseconds=1), _moment("*", end=True)
            if op == "<=":
                return _moment("*", end=False), _moment(value, end=True)
            return _moment("*", end=False), _moment(value, end=False) - timedelta(microseconds=1)
    return _moment(text, end=False), _moment(text, end=True)


@dataclass
class Search:
    """A parsed search string."""

    kind: str | None = None
    states: set[str] = field(default_factory=set)
    people: list[tuple[str, str, bool]] = field(default_factory=list)  # (qualifier, login, negated)
    scope: list[tuple[str, str]] = field(default_factory=list)  # ("org"|"repo", name)
    ranges: dict[str, tuple[datetime, datetime]] = field(default_factory=dict)


def parse_search(query: str) -> Search:
    search = Search()
    for token in query.split():
        negated = token.startswith("-")
        key, sep, value = token.lstrip("-").partition(":")
        if not sep or not value:
            raise GraphQLError(f"the fake GitHub does not search text; unsupported term {token!r}")
        key = key.lower()
        if key == "is" and value in ("pr", "issue"):
            search.kind = value
        elif key == "is" and value in ("merged", "closed", "open"):
            search.states.add(value)
        elif key in ("author", "reviewed-by", "involves", "assignee"):
            search.people.append((key, value.lower(), negated))
        elif key in ("org", "repo", "user"):
            search.scope.append(("repo" if key == "repo" else "org", value.lower()))
        elif key in RANGE_QUALIFIERS:
            search.ranges[key] = parse_range(value)
        else:
            raise GraphQLError(f"the fake GitHub does not support the search qualifier {token!r}")
    return search


def _record_matches(record: Pull | Issue, search: Search) -> bool:
    is_pull = isinstance(record, Pull)
    if search.kind and (search.kind == "pr") != is_pull:
        return False
    closed = record.merged_at or record.closed_at if isinstance(record, Pull) else record.closed_at
    for state in search.states:
        if state == "merged" and not (isinstance(record, Pull) and record.merged_at):
            return False
        if state == "closed" and not closed:
            return False
        if state == "open" and closed:
            return False
    for key, login, negated in search.people:
        author = (record.author or "").lower()
        if key == "author":
            hit = author == login
        elif key == "reviewed-by":
            hit = isinstance(record, Pull) and any(
                r.author.lower() == login and r.state != "PENDING" for r in record.reviews
            )
        elif key == "assignee":
            hit = isinstance(record, Issue) and login in (a.lower() for a in record.assignees)
        else:  # involves
            people = {author}
            if isinstance(record, Issue):
                people |= {p.lower() for p in [*record.assignees, *record.involves]}
            else:
                people |= {r.author.lower() for r in record.reviews}
            hit = login in people
        if hit == negated:
            return False
    if search.scope:
        owner = record.repo.split("/")[0].lower()
        if not any(
            (kind == "org" and owner == name) or (kind == "repo" and record.repo.lower() == name)
            for kind, name in search.scope
        ):
            return False
    dates = {
        "merged": record.merged_at if isinstance(record, Pull) else None,
        "closed": closed,
        "updated": record.updated if isinstance(record, Pull) else (record.closed_at or record.created_at),
        "created": record.created_at,
    }
    for key, (low, high) in search.ranges.items():
        moment = dates[key]
        if moment is None or not low <= moment <= high:
            return False
    return True


def _cursor(offset: int) -> str:
    return base64.b64encode(f"cursor:{offset}".encode()).decode()


def _offset(cursor: str | None) -> int:
    if not cursor:
        return 0
    try:
        return int(base64.b64decode(cursor).decode().split(":", 1)[1])
    except (ValueError, IndexError):
        raise GraphQLError(f"`{cursor}` does not appear to be a valid cursor.") from None


# ---- GraphQL objects ---------------------------------------------------------------------------------


def _actor(login: str | None, kind: str = "User") -> dict[str, Any] | None:
    if login is None:
        return None
    return {
        "__typename": kind,
        "login": login,
        "url": f"https://github.com/{login}",
        "resourcePath": f"/{login}",
    }


def _repository(name: str) -> dict[str, Any]:
    owner, short = name.split("/", 1)
    return {
        "__typename": "Repository",
        "nameWithOwner": name,
        "name": short,
        "owner": _actor(owner),
        "url": f"https://github.com/{name}",
    }


def _connection(items: list[Any], first: int | None = None, last: int | None = None) -> dict[str, Any]:
    page = items[:first] if first is not None else items[-last:] if last else items
    return {
        "totalCount": len(items),
        "nodes": page,
        "pageInfo": {"hasNextPage": len(page) < len(items), "endCursor": None, "hasPreviousPage": False},
    }


def _stamp(moment: datetime | None) -> str | None:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if moment else None


def pull_node(record: Pull) -> dict[str, Any]:
    """A PullRequest object; connection fields are resolvers that honour their arguments."""

    def reviews(
        _info: Any,
        author: str | None = None,
        states: list[str] | None = None,
        first: int | None = None,
        last: int | None = None,
        **_: Any,
    ) -> dict[str, Any]:
        chosen = [r for r in record.reviews if author is None or r.author.lower() == author.lower()]
        chosen = [r for r in chosen if states is None or r.state in states]
        nodes = [
            {
                "__typename": "PullRequestReview",
                "state": r.state,
                "submittedAt": _stamp(r.submitted_at),
                "url": f"{record.url}#pullrequestreview-{r.id}",
                "author": _actor(r.author, r.author_type),
            }
            for r in chosen
        ]
        return _connection(nodes, first, last)

    return {
        "__typename": "PullRequest",
        "number": record.number,
        "title": record.title,
        "body": record.body or "",
        "url": record.url,
        "state": "MERGED" if record.merged_at else "CLOSED" if record.closed_at else "OPEN",
        "merged": record.merged_at is not None,
        "createdAt": _stamp(record.created_at),
        "mergedAt": _stamp(record.merged_at),
        "closedAt": _stamp(record.closed_at or record.merged_at),
        "updatedAt": _stamp(record.updated),
        "additions": record.additions,
        "deletions": record.deletions,
        "changedFiles": record.changed_files,
        "headRefName": record.head_ref,
        "author": _actor(record.author, record.author_type),
        "repository": _repository(record.repo),
        "baseRepository": _repository(record.repo),
        "headRepository": None if record.head_repo is None else _repository(record.head_repo or record.repo),
        "mergeCommit": {"oid": record.merge_commit} if record.merge_commit else None,
        "labels": lambda _i, first=None, last=None, **_: _connection(
            [{"name": n} for n in record.labels], first, last
        ),
        "commits": lambda _i, first=None, last=None, **_: _connection(
            [{"commit": {"oid": sha}} for sha in record.commits], first, last
        ),
        "reviews": reviews,
        "closingIssuesReferences": lambda _i, first=None, last=None, **_: _connection(
            [
                {"number": n, "repository": _repository(r), "url": f"https://github.com/{r}/issues/{n}"}
                for r, n in record.closing_issues
            ],
            first,
            last,
        ),
    }


def issue_node(record: Issue) -> dict[str, Any]:
    """An Issue object with a ClosedEvent in its timeline when closed."""

    def timeline(
        _info: Any,
        itemTypes: list[str] | None = None,
        first: int | None = None,
        last: int | None = None,
        **_: Any,
    ) -> dict[str, Any]:
        events = []
        if record.closed_at and (itemTypes is None or "CLOSED_EVENT" in itemTypes):
            closer: dict[str, Any] | None = None
            if isinstance(record.closer, Pull):
                closer = pull_node(record.closer)
            elif isinstance(record.closer, str):
                author = {"user": _actor(record.closer_author)} if record.closer_author else None
                closer = {"__typename": "Commit", "oid": record.closer, "author": author}
            events.append(
                {
                    "__typename": "ClosedEvent",
                    "actor": _actor(record.closed_by),
                    "closer": closer,
                    "createdAt": _stamp(record.closed_at),
                }
            )
        return _connection(events, first, last)

    return {
        "__typename": "Issue",
        "number": record.number,
        "title": record.title,
        "body": record.body or "",
        "url": record.url,
        "state": "CLOSED" if record.closed_at else "OPEN",
        "stateReason": record.state_reason if record.closed_at else None,
        "createdAt": _stamp(record.created_at),
        "closedAt": _stamp(record.closed_at),
        "author": _actor(record.author),
        "repository": _repository(record.repo),
        "labels": lambda _i, first=None, last=None, **_: _connection(
            [{"name": n} for n in record.labels], first, last
        ),
        "timelineItems": timeline,
    }


# ---- GitHub's query rules ----------------------------------------------------------------------------


def _connection_rules(field: FieldNode, first: Any, last: Any) -> list[dict[str, Any]]:
    """GitHub's errors for one connection field read with ``first``/``last``."""
    name = field.name.value
    reads = any(
        isinstance(s, FieldNode) and s.name.value in ("nodes", "edges")
        for s in (field.selection_set.selections if field.selection_set else ())
    )
    errors = []
    if reads and first is None and last is None:
        message = f"You must provide a `first` or `last` value to properly paginate the `{name}` connection."
        errors.append({"type": "MISSING_PAGINATION_BOUNDARIES", "message": message})
    for argument, value in (("first", first), ("last", last)):
        if isinstance(value, int) and not 0 <= value <= MAX_PAGE:
            message = (
                f"Requesting {value} records on the `{name}` connection exceeds the `{argument}` limit "
                f"of {MAX_PAGE} records."
            )
            errors.append({"type": "EXCESSIVE_PAGINATION", "message": message})
    return errors


def pagination_errors(
    schema: GraphQLSchema, document: Any, variables: dict[str, Any]
) -> list[dict[str, Any]]:
    """GitHub's connection rules: ``first``/``last`` required to read nodes, ≤ 100, ≤ 500,000 nodes in all."""
    fragments = {d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)}
    errors: list[dict[str, Any]] = []
    total = 0

    def argument(node: FieldNode, name: str) -> Any:
        for arg in node.arguments or ():
            if arg.name.value == name:
                return value_from_ast_untyped(arg.value, variables)
        return None

    def walk(selections: SelectionSetNode, parent: Any, multiplier: int) -> None:
        nonlocal total
        for selection in selections.selections:
            if isinstance(selection, FieldNode):
                definition = getattr(parent, "fields", {}).get(selection.name.value)
                if definition is None:
                    continue
                named = get_named_type(definition.type)
                factor = 1
                if named.name.endswith("Connection"):
                    first, last = argument(selection, "first"), argument(selection, "last")
                    errors.extend(_connection_rules(selection, first, last))
                    factor = int(first or last or 0)
                    total += multiplier * factor
                if selection.selection_set:
                    walk(selection.selection_set, named, multiplier * max(factor, 1))
            elif isinstance(selection, InlineFragmentNode):
                condition = selection.type_condition
                walk(
                    selection.selection_set,
                    schema.get_type(condition.name.value) if condition else parent,
                    multiplier,
                )
            elif isinstance(selection, FragmentSpreadNode):
                fragment = fragments[selection.name.value]
                walk(fragment.selection_set, schema.get_type(fragment.type_condition.name.value), multiplier)

    for definition in document.definitions:
        if isinstance(definition, OperationDefinitionNode):
            walk(definition.selection_set, schema.query_type, 1)
    if total > MAX_NODES:
        message = f"This query requests up to {total:,} possible nodes which exceeds the maximum limit"
        message += f" of {MAX_NODES:,}."
        errors.append({"type": "MAX_NODE_LIMIT_EXCEEDED", "message": message})
    return errors


# ---- the server --------------------------------------------------------------------------------------


@dataclass
class Fault:
    """One scripted answer instead of the real one: a status, headers and body, or a hang first."""

    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: Any = None
    hang: float = 0.0  # seconds to hold the request before answering (beyond the client's timeout)


OK = None  # in a script: answer this request normally


@dataclass
class Logged:
    method: str
    path: str
    status: int
    query: str = ""
    variables: dict[str, Any] = field(default_factory=dict)
    authorization: str = ""


class FakeGitHub:
    """A GitHub GraphQL server on 127.0.0.1 (see the module docstring). Use as a context manager."""

    def __init__(
        self,
        pulls: Iterable[Pull] = (),
        issues: Iterable[Issue] = (),
        *,
        viewer: str = "ada",
        token: str = "ghp_fake_token_for_tests",
        prefix: str = "/api/v3",
        sso_orgs: Iterable[str] = (),
        schema: GraphQLSchema | None = None,
    ) -> None:
        self.schema = schema  # None: the connector's subset of GitHub's schema
        self.pulls = list(pulls)
        self.issues = list(issues)
        self.viewer = viewer
        self.token = token
        self.prefix = prefix.rstrip("/")
        self.sso_orgs = {o.lower() for o in sso_orgs}
        self.log: list[Logged] = []
        self.faults: deque[Fault | None] = deque()
        self.drop_results: int = 0  # leave this many results out of every search page (incomplete results)
        self.rate_limit = 5000
        self._used = 0
        self._lock = threading.Lock()
        self._release = threading.Event()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # lifecycle

    def start(self) -> FakeGitHub:
        fake = self

        class Handler(_Handler):
            github = fake

        self._release.clear()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, name="fake-github", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._release.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> FakeGitHub:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        assert self._server is not None, "start() the fake first"
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        """The REST base URL (what a config's ``url`` names)."""
        return f"http://127.0.0.1:{self.port}{self.prefix}"

    @property
    def graphql_path(self) -> str:
        prefix = self.prefix.removesuffix("/v3") if self.prefix.endswith("/v3") else self.prefix
        return f"{prefix}/graphql"

    # scripting and counting

    def script(self, *answers: Fault | None) -> None:
        """Answer the next GraphQL requests with these faults, in order (``OK``: answer normally)."""
        self.faults.extend(answers)

    @property
    def graphql_requests(self) -> int:
        return sum(1 for entry in self.log if entry.path == self.graphql_path)

    def searches(self) -> list[str]:
        """Every search string received, in order."""
        return [
            v
            for entry in self.log
            for k, v in sorted(entry.variables.items())
            if k.startswith("q") and isinstance(v, str)
        ]

    # answering

    def rate_headers(self) -> dict[str, str]:
        with self._lock:
            self._used += 1
            used = self._used
        return {
            "X-RateLimit-Limit": str(self.rate_limit),
            "X-RateLimit-Remaining": str(max(0, self.rate_limit - used)),
            "X-RateLimit-Used": str(used),
            "X-RateLimit-Reset": str(int(datetime.now(UTC).timestamp()) + 3600),
            "X-RateLimit-Resource": "graphql",
        }

    def answer_graphql(self, payload: Any) -> tuple[int, dict[str, str], Any]:
        if not isinstance(payload, dict) or not isinstance(payload.get("query"), str):
            return 400, {}, {"message": "Problems parsing JSON", "documentation_url": DOCS}
        variables = payload.get("variables") or {}
        schema = self.schema or github_schema()
        try:
            document = parse(payload["query"])
        except GraphQLError as exc:
            return (
                200,
                {},
                {"errors": [{"message": exc.message, "locations": exc.formatted.get("locations")}]},
            )
        problems = validate(schema, document)
        if problems:
            return 200, {}, {"errors": [p.formatted for p in problems]}
        rules = pagination_errors(schema, document, variables)
        if rules:
            return 200, {}, {"errors": rules}
        context: dict[str, Any] = {"errors": [], "sso": []}
        result = execute(
            schema,
            document,
            root_value={"search": self._search, "viewer": _actor(self.viewer)},
            context_value=context,
            variable_values=variables,
            operation_name=payload.get("operationName"),
        )
        body: dict[str, Any] = {"data": result.data}
        errors = [e.formatted for e in result.errors or []] + context["errors"]
        if errors:
            body["errors"] = errors
        headers = {}
        if context["sso"]:
            org = context["sso"][0]
            headers["X-GitHub-SSO"] = (
                f"required; url=https://github.com/orgs/{org}/sso?authorization_request=A1B2C3"
            )
        return 200, headers, body

    def _search(
        self, info: Any, query: str, type: str, first: int | None = None, after: str | None = None, **_: Any
    ) -> dict[str, Any]:
        if type != "ISSUE":
            raise GraphQLError(f"the fake GitHub searches only type ISSUE, not {type}")
        search = parse_search(query)
        records: list[Pull | Issue] = [r for r in [*self.pulls, *self.issues] if _record_matches(r, search)]
        records.sort(key=lambda r: (r.created_at, r.repo, r.number), reverse=True)
        visible = records[:SEARCH_CAP]
        offset = _offset(after)
        size = first if first is not None else 10
        page = visible[offset : offset + size]
        nodes: list[dict[str, Any] | None] = []
        path = info.path.as_list()
        for index, record in enumerate(page[self.drop_results :] if self.drop_results else page):
            owner = record.repo.split("/")[0].lower()
            if owner in self.sso_orgs:
                nodes.append(None)
                info.context["sso"].append(owner)
                info.context["errors"].append(
                    {
                        "type": "FORBIDDEN",
                        "path": [*path, "nodes", index],
                        "extensions": {"saml_failure": True},
                        "locations": [{"line": 1, "column": 1}],
                        "message": SAML_MESSAGE,
                    }
                )
            else:
                nodes.append(pull_node(record) if isinstance(record, Pull) else issue_node(record))
        end = offset + len(page)
        return {
            "issueCount": len(records),
            "nodes": nodes,
            "edges": [{"node": n, "cursor": _cursor(offset + i + 1)} for i, n in enumerate(nodes)],
            "pageInfo": {
                "hasNextPage": end < len(visible),
                "hasPreviousPage": offset > 0,
                "startCursor": _cursor(offset + 1) if page else None,
                "endCursor": _cursor(end) if page else None,
            },
        }

    def next_fault(self) -> Fault | None:
        with self._lock:
            return self.faults.popleft() if self.faults else None

    def wait_released(self, seconds: float) -> None:
        self._release.wait(seconds)


class _Handler(BaseHTTPRequestHandler):
    github: FakeGitHub
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # keep test output quiet
        return

    def _send(self, status: int, headers: dict[str, str], body: Any) -> None:
        data = body.encode() if isinstance(body, str) else json.dumps(body).encode()
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("X-GitHub-Media-Type", "github.v4; format=json")
            self.send_header("X-GitHub-Request-Id", f"FAKE:{len(self.github.log):06d}")
            for key, value in {**self.github.rate_headers(), **headers}.items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):  # the client gave up (a timeout test)
            pass

    def _authorised(self) -> bool:
        scheme, _, token = self.headers.get("Authorization", "").partition(" ")
        return scheme.lower() in ("token", "bearer") and token == self.github.token

    def _read_json(self) -> Any:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            return json.loads(raw or b"null")
        except ValueError:
            return None

    def do_POST(self) -> None:
        fake = self.github
        payload = self._read_json()
        entry = Logged("POST", self.path, 0, authorization=self.headers.get("Authorization", ""))
        if isinstance(payload, dict):
            entry.query = str(payload.get("query") or "")
            entry.variables = dict(payload.get("variables") or {})
        fake.log.append(entry)
        if self.path != fake.graphql_path:
            entry.status = 404
            self._send(404, {}, {"message": "Not Found", "documentation_url": DOCS})
            return
        fault = fake.next_fault()
        if fault is not None:
            if fault.hang:
                fake.wait_released(fault.hang)
            entry.status = fault.status
            self._send(fault.status, fault.headers, fault.body if fault.body is not None else {})
            return
        if not self._authorised():
            entry.status = 401
            self._send(401, {}, {"message": "Bad credentials", "documentation_url": DOCS})
            return
        status, headers, body = fake.answer_graphql(payload)
        entry.status = status
        self._send(status, headers, body)

    def do_GET(self) -> None:
        fake = self.github
        entry = Logged("GET", self.path, 200, authorization=self.headers.get("Authorization", ""))
        fake.log.append(entry)
        if not self._authorised():
            entry.status = 401
            self._send(401, {}, {"message": "Bad credentials", "documentation_url": DOCS})
        elif self.path == f"{fake.prefix}/user":
            self._send(200, {}, {"login": fake.viewer, "type": "User"})
        elif self.path == f"{fake.prefix}/rate_limit":
            remaining = fake.rate_limit - fake._used
            self._send(
                200, {}, {"resources": {"graphql": {"limit": fake.rate_limit, "remaining": remaining}}}
            )
        else:
            entry.status = 404
            self._send(404, {}, {"message": "Not Found", "documentation_url": DOCS})


def rate_limited(**headers: str) -> Fault:
    """GraphQL's rate-limit answer: HTTP 200 with a ``RATE_LIMITED`` error."""
    body = {
        "data": None,
        "errors": [{"type": "RATE_LIMITED", "message": "API rate limit exceeded for user ID 1."}],
    }
    return Fault(200, headers, body)


def server_error(status: int = 502) -> Fault:
    return Fault(
        status,
        {},
        {
            "data": None,
            "errors": [
                {
                    "message": "Something went wrong while executing your "
                    "query. This may be the result of a timeout."
                }
            ],
        },
    )
