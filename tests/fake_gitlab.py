"""A GitLab on 127.0.0.1 for tests: real HTTP, GitLab's GraphQL schema, GitLab's quirks.

    with FakeGitLab([merge_request("acme/api", 1, author="ada", merged_at=when)]) as gitlab:
        section = SourceSection("gl", "gitlab", {"url": gitlab.url, "token": gitlab.token})

What it does like GitLab:

- ``POST {prefix}/api/graphql``: every query is parsed and validated against GitLab's schema
  (``../shared/data/gitlab/graphql/schema.graphql``, GitLab 16.3, when present; else the subset of it in
  ``tests/fixtures/gitlab/schema.graphql``, which holds exactly the fields the connector asks for), scored
  for complexity the way GitLab does (every field 1, a connection's fields multiplied by
  ``1 + 0.01 × page size``; more than 250 is refused, as is a depth over 15), then executed against plain
  dicts: only the fields the query asks for are returned. Query errors come back with HTTP 200.
- Merge-request lists (``User.authoredMergeRequests``, ``User.reviewRequestedMergeRequests``,
  ``Group.mergeRequests``, ``Project.mergeRequests``) honour ``state``, ``authorUsername``,
  ``reviewerUsername``, ``projectPath``, ``includeSubgroups``, ``mergedAfter``, ``sort``, cursors, and
  GitLab's quirks: ``mergedBefore`` takes in the whole (UTC) day of its timestamp, and ``first`` above 100
  is cut to 100 without a word. An argument the fake does not implement is an error, so it surfaces.
- Tokens as GitLab treats them: ``Authorization: Bearer`` or ``PRIVATE-TOKEN``; an unknown token gets 401
  (``{"errors": [{"message": "Invalid token"}]}`` on GraphQL, ``{"message": "401 Unauthorized"}`` on
  REST); a ``read_user``-only token (:attr:`FakeGitLab.read_user_token`) gets the same 401 on GraphQL,
  its profile from ``GET /api/v4/user`` and 403 ``insufficient_scope`` on every other REST path.
- REST (``/api/v4``): ``/user``, ``/merge_requests`` and ``/projects/:id/merge_requests`` (which ignore
  ``merged_after``/``merged_before`` as GitLab does, default to ``scope=created_by_me`` on
  ``/merge_requests``, cut ``per_page`` at 100, page with ``X-Next-Page``/``X-Total``/``Link``), a merge
  request's ``/changes``, ``/approvals`` and ``/commits`` (what a naive client calls per merge request),
  ``/users/:id/events`` (``action``, ``target_type``, and ``after``/``before`` dates, both exclusive) and
  ``/projects/:id/issues`` (``iids[]``). Every answer carries ``RateLimit-*`` headers.

Faults are scripted per request with :meth:`FakeGitLab.script` (GraphQL) and
:meth:`FakeGitLab.script_rest` (:data:`OK` passes one request through): any status, headers and body, or a
hang longer than the client's timeout. Requests are logged in :attr:`FakeGitLab.log`.

Payload shapes: :func:`merge_request_from_rest` turns a REST merge request (as GitLab's
``/merge_requests`` returns it) into a :class:`MergeRequest`; :func:`merge_requests_from_fixture` reads the
small set in ``tests/fixtures/gitlab/``, written from the real shapes; :func:`merge_requests_from_devlake`
reads the 18 real gitlab.com merge requests in ``../shared/data/gitlab`` (``IMPACT_MINER_SHARED_DATA``
overrides the directory).

``python tests/fake_gitlab.py schema-subset`` prints the fixture schema: the types, fields and arguments
of the real schema that the connector's queries use (the real schema must be present).
"""

from __future__ import annotations

import base64
import csv
import functools
import json
import os
import re
import socket
import sys
import threading
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlencode, urlsplit

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLArgument,
    GraphQLEnumType,
    GraphQLError,
    GraphQLInputObjectType,
    GraphQLInterfaceType,
    GraphQLObjectType,
    GraphQLScalarType,
    GraphQLSchema,
    InlineFragmentNode,
    OperationDefinitionNode,
    SelectionSetNode,
    TypeInfo,
    TypeInfoVisitor,
    Visitor,
    build_schema,
    execute,
    get_named_type,
    parse,
    print_ast,
    specified_scalar_types,
    validate,
    value_from_ast_untyped,
    visit,
)

PROJECT_ROOT = Path(__file__).resolve().parents[1]
FIXTURES = Path(__file__).resolve().parent / "fixtures" / "gitlab"
MAX_PAGE = 100
MAX_COMPLEXITY = 250  # GitLab's limit for an authenticated user (200 anonymous, 300 admin)
MAX_DEPTH = 15
INSUFFICIENT_SCOPE = {
    "error": "insufficient_scope",
    "error_description": "The request requires higher privileges than provided by the access token.",
    "scope": "api read_api",
}


def shared_data() -> Path:
    """``$IMPACT_MINER_SHARED_DATA``, else ``../shared/data`` next to the project root."""
    return Path(os.environ.get("IMPACT_MINER_SHARED_DATA") or PROJECT_ROOT.parent / "shared" / "data")


def real_schema_path() -> Path:
    return shared_data() / "gitlab" / "graphql" / "schema.graphql"


@functools.cache
def gitlab_schema(which: str = "auto") -> GraphQLSchema:
    """GitLab's schema: ``real`` (shared data), ``fixture`` (the subset in tests/fixtures), or ``auto``
    (real when present). Built once per process."""
    if which == "auto":
        which = "real" if real_schema_path().exists() else "fixture"
    path = real_schema_path() if which == "real" else FIXTURES / "schema.graphql"
    schema = build_schema(path.read_text(encoding="utf-8"), assume_valid_sdl=True)
    schema._validation_errors = []  # GitLab's SDL, like GitHub's, trips a few strict interface checks
    return schema


# ---- records -----------------------------------------------------------------------------------------


@dataclass
class Reviewer:
    username: str
    state: str = "UNREVIEWED"  # or "REVIEWED"


@dataclass
class MergeRequest:
    """A merge request as the fake stores it; ``project`` is the target project's full path."""

    project: str
    iid: int
    title: str = "Change"
    author: str | None = "ada"  # None: a deleted account (GitLab shows the ghost user)
    description: str | None = None
    created_at: datetime = datetime(2026, 1, 1, tzinfo=UTC)
    merged_at: datetime | None = None
    closed_at: datetime | None = None
    updated_at: datetime | None = None  # default: the latest of created, merged, closed
    draft: bool = False
    source_branch: str = "topic"
    target_branch: str = "main"
    labels: list[str] = field(default_factory=list)
    commits: list[str] = field(default_factory=list)
    merge_commit_sha: str | None = None
    squash_commit_sha: str | None = None
    additions: int = 1
    deletions: int = 0
    files: int = 1
    reviewers: list[Reviewer] = field(default_factory=list)
    approved_by: list[str] = field(default_factory=list)
    merged_by: str | None = None
    squash: bool | None = None  # default: whether it has a squash commit
    web_url: str | None = None  # default: under the fake's own URL
    id: int = 0  # GitLab's global id; assigned by the fake when 0

    @property
    def state(self) -> str:
        return "merged" if self.merged_at else "closed" if self.closed_at else "opened"

    @property
    def updated(self) -> datetime:
        moments = [m for m in (self.created_at, self.merged_at, self.closed_at) if m is not None]
        return self.updated_at or max(moments)


@dataclass
class Issue:
    project: str
    iid: int
    title: str = "Bug"
    description: str | None = None
    author: str = "bob"
    created_at: datetime = datetime(2026, 1, 1, tzinfo=UTC)
    closed_at: datetime | None = None
    closed_by: str | None = None
    labels: list[str] = field(default_factory=list)
    id: int = 0


@dataclass
class Event:
    """A contribution event (``GET /users/:id/events``), e.g. ``closed`` an ``Issue``."""

    author: str
    action: str
    target_type: str
    project: str
    target_iid: int
    created_at: datetime
    target_title: str = ""


def merge_request(project: str, iid: int, **fields: Any) -> MergeRequest:
    """A :class:`MergeRequest` whose ``created_at`` defaults to an hour before ``merged_at``."""
    if fields.get("merged_at") and "created_at" not in fields:
        fields["created_at"] = fields["merged_at"] - timedelta(hours=1)
    return MergeRequest(project, iid, **fields)


def generate_merge_requests(
    count: int, *, author: str, since: datetime, until: datetime, projects: int = 5, start: int = 1
) -> list[MergeRequest]:
    """``count`` merged merge requests by ``author`` spread evenly over ``[since, until)``, each with one
    commit, and ``updated_at`` half a second *before* ``merged_at`` as GitLab often records it."""
    span = (until - since).total_seconds()
    found = []
    for i in range(count):
        merged = since + timedelta(seconds=int(span * i / count))
        iid = start + i
        found.append(
            merge_request(
                f"acme/platform/service-{i % projects}",
                iid,
                title=f"Improve service path {iid}",
                author=author,
                merged_at=merged,
                updated_at=merged - timedelta(milliseconds=500),
                additions=10 + i % 7,
                deletions=i % 3,
                files=1 + i % 4,
                source_branch=f"feature/{iid}",
                commits=[f"{iid:040x}"],
                merge_commit_sha=f"{iid + 10**9:040x}",
            )
        )
    return found


def generate_approvals(
    count: int, *, reviewer: str, author: str, since: datetime, until: datetime, start: int = 50_000
) -> list[MergeRequest]:
    """``count`` merge requests by ``author``, merged over ``[since, until)``, that ``reviewer`` was asked
    to review and approved."""
    span = (until - since).total_seconds()
    return [
        merge_request(
            "acme/web",
            start + i,
            title=f"Web change {start + i}",
            author=author,
            merged_at=since + timedelta(seconds=int(span * (i + 0.5) / count)),
            reviewers=[Reviewer(reviewer, "REVIEWED")],
            approved_by=[reviewer],
        )
        for i in range(count)
    ]


# ---- real payload shapes -----------------------------------------------------------------------------


def _parse_time(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def merge_request_from_rest(data: dict[str, Any], commits: Iterable[str] = ()) -> MergeRequest:
    """A REST merge request (``GET /projects/:id/merge_requests``) as GraphQL would describe it."""
    project, _, iid = data["references"]["full"].rpartition("!")
    merger = data.get("merge_user") or data.get("merged_by") or {}
    return MergeRequest(
        project=project,
        iid=int(iid),
        title=data["title"],
        author=(data.get("author") or {}).get("username"),
        description=data.get("description"),
        created_at=_parse_time(data["created_at"]) or datetime(2000, 1, 1, tzinfo=UTC),
        merged_at=_parse_time(data.get("merged_at")),
        closed_at=_parse_time(data.get("closed_at")),
        updated_at=_parse_time(data.get("updated_at")),
        draft=bool(data.get("draft") or data.get("work_in_progress")),
        source_branch=data["source_branch"],
        target_branch=data["target_branch"],
        labels=list(data.get("labels") or []),
        commits=list(commits),
        merge_commit_sha=data.get("merge_commit_sha"),
        squash_commit_sha=data.get("squash_commit_sha"),
        reviewers=[Reviewer(r["username"]) for r in data.get("reviewers") or []],
        merged_by=merger.get("username"),
        squash=bool(data.get("squash")),
        web_url=data.get("web_url"),
        id=int(data["id"]),
    )


def merge_requests_from_fixture() -> list[MergeRequest]:
    """The REST-shaped merge requests in ``tests/fixtures/gitlab/merge_requests.json``."""
    data = json.loads((FIXTURES / "merge_requests.json").read_text(encoding="utf-8"))
    return [merge_request_from_rest(item["merge_request"], item.get("commits", [])) for item in data]


def merge_requests_from_devlake() -> list[MergeRequest]:
    """The 18 real gitlab.com merge requests of gitlab-data/snowflake_spend (Apache DevLake's raw table)."""
    csv.field_size_limit(1 << 26)
    path = shared_data() / "gitlab" / "_raw_gitlab_api_merge_requests.csv"
    with path.open(encoding="utf-8", newline="") as handle:
        return [merge_request_from_rest(json.loads(row["data"])) for row in csv.DictReader(handle)]


# ---- GraphQL objects ---------------------------------------------------------------------------------


def _stamp(moment: datetime | None) -> str | None:
    """GraphQL's ``Time``: ISO 8601 in UTC, whole seconds."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if moment else None


def _rest_stamp(moment: datetime | None) -> str | None:
    """REST's timestamps: milliseconds and ``Z``."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z" if moment else None


def _cursor(offset: int) -> str:
    return base64.b64encode(json.dumps({"offset": offset}).encode()).decode()


def _offset(cursor: str | None) -> int:
    if not cursor:
        return 0
    try:
        return int(json.loads(base64.b64decode(cursor))["offset"])
    except (ValueError, KeyError, TypeError):
        raise GraphQLError("Please provide a valid cursor") from None


def _connection(
    items: list[Any], first: int | None = None, after: str | None = None, cap: int = MAX_PAGE
) -> dict[str, Any]:
    start = _offset(after)
    size = min(first if first is not None else cap, cap)  # above the cap (100): cut, silently
    page = items[start : start + size]
    end = start + len(page)
    return {
        "count": len(items),
        "nodes": page,
        "edges": [{"node": n, "cursor": _cursor(start + i + 1)} for i, n in enumerate(page)],
        "pageInfo": {
            "hasNextPage": end < len(items),
            "hasPreviousPage": start > 0,
            "startCursor": _cursor(start + 1) if page else None,
            "endCursor": _cursor(end) if page else None,
        },
    }


def _user(username: str | None, base: str) -> dict[str, Any]:
    name = username or "ghost"
    return {"username": name, "name": name.title(), "webUrl": f"{base}/{name}", "bot": name.endswith("bot")}


LIST_ARGUMENTS = {
    "state", "authorUsername", "reviewerUsername", "projectPath", "includeSubgroups", "includeArchived",
    "mergedAfter", "mergedBefore", "sort", "first", "after",
}  # fmt: skip


class FakeGitLab:
    """A GitLab on 127.0.0.1 (see the module docstring). Use as a context manager."""

    def __init__(
        self,
        merge_requests: Iterable[MergeRequest] = (),
        issues: Iterable[Issue] = (),
        events: Iterable[Event] = (),
        *,
        viewer: str = "ada",
        token: str = "glpat-fake-token-for-tests",
        read_user_token: str = "glpat-fake-read-user-only",
        prefix: str = "",
        max_complexity: int = MAX_COMPLEXITY,
        schema: str = "auto",
    ) -> None:
        self.merge_requests = list(merge_requests)
        self.issues = list(issues)
        self.events = list(events)
        self.viewer = viewer
        self.token = token
        self.read_user_token = read_user_token
        self.prefix = prefix.rstrip("/")
        self.max_complexity = max_complexity
        self.page_cap = MAX_PAGE  # the largest page the server gives; a larger `first` is cut to it
        self.schema_name = schema
        self.users: set[str] = set()
        self.log: list[Logged] = []
        self.faults: deque[Fault | None] = deque()
        self.rest_faults: deque[Fault | None] = deque()
        self.complexities: list[int] = []
        self._request = threading.local()  # the REST path and query being answered, for Link headers
        self._lock = threading.Lock()
        self._release = threading.Event()
        self._server: ThreadingHTTPServer | None = None

    # lifecycle

    def start(self) -> FakeGitLab:
        fake = self

        class Handler(_Handler):
            gitlab = fake

        self._release.clear()
        _ = self.schema  # built before serving: the first answer must not wait for it
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, name="fake-gitlab", daemon=True
        )
        thread.start()
        return self

    def stop(self) -> None:
        self._release.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> FakeGitLab:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        assert self._server is not None, "start() the fake first"
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        """The instance URL (what a config's ``url`` names); web URLs start with it too."""
        return f"http://127.0.0.1:{self.port}{self.prefix}"

    @property
    def schema(self) -> GraphQLSchema:
        return gitlab_schema(self.schema_name)

    # scripting and counting

    def script(self, *answers: Fault | None) -> None:
        """Answer the next GraphQL requests with these faults, in order (``OK``: answer normally)."""
        self.faults.extend(answers)

    def script_rest(self, *answers: Fault | None) -> None:
        """Answer the next REST requests with these faults, in order (``OK``: answer normally)."""
        self.rest_faults.extend(answers)

    @property
    def graphql_requests(self) -> int:
        return sum(1 for entry in self.log if entry.path == f"{self.prefix}/api/graphql")

    @property
    def rest_requests(self) -> int:
        return sum(1 for entry in self.log if entry.path.startswith(f"{self.prefix}/api/v4/"))

    @property
    def requests(self) -> int:
        return len(self.log)

    def queries(self) -> list[str]:
        return [entry.query for entry in self.log if entry.query]

    def next_fault(self, rest: bool) -> Fault | None:
        with self._lock:
            queue = self.rest_faults if rest else self.faults
            return queue.popleft() if queue else None

    def wait_released(self, seconds: float) -> None:
        self._release.wait(seconds)

    # data

    def projects(self) -> dict[str, int]:
        """Every project's full path and numeric id (stable: sorted paths from 1001)."""
        paths = {mr.project for mr in self.merge_requests} | {i.project for i in self.issues}
        paths |= {e.project for e in self.events}
        return {path: 1001 + n for n, path in enumerate(sorted(paths))}

    def known_users(self) -> set[str]:
        found = {self.viewer, *self.users}
        for mr in self.merge_requests:
            found |= {u for u in (mr.author, mr.merged_by) if u}
            found |= {r.username for r in mr.reviewers} | set(mr.approved_by)
        found |= {e.author for e in self.events}
        return {u.lower() for u in found}

    def _global_id(self, mr: MergeRequest) -> int:
        return mr.id or 10_000_000 + self.projects()[mr.project] * 10_000 + mr.iid

    def web_url(self, mr: MergeRequest) -> str:
        return mr.web_url or f"{self.url}/{mr.project}/-/merge_requests/{mr.iid}"

    def issue_url(self, issue: Issue) -> str:
        return f"{self.url}/{issue.project}/-/issues/{issue.iid}"

    # authentication

    def token_of(self, headers: Any) -> str | None:
        scheme, _, bearer = headers.get("Authorization", "").partition(" ")
        if scheme.lower() == "bearer" and bearer:
            return str(bearer)
        return headers.get("PRIVATE-TOKEN") or None

    # GraphQL

    def answer_graphql(self, payload: Any) -> tuple[int, dict[str, str], Any]:
        if not isinstance(payload, dict) or not isinstance(payload.get("query"), str):
            return 400, {}, {"errors": [{"message": "Please provide a query"}]}
        schema = self.schema
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
        variables = payload.get("variables") or {}
        depth = query_depth(document)
        if depth > MAX_DEPTH:
            return 200, {}, {"errors": [{"message": f"Query has depth of {depth}, which exceeds max depth of "
                                                    f"{MAX_DEPTH}"}]}  # fmt: skip
        score = query_complexity(schema, document, variables)
        self.complexities.append(score)
        if score > self.max_complexity:
            message = (
                f"Query has complexity of {score}, which exceeds max complexity of {self.max_complexity}"
            )
            return 200, {}, {"errors": [{"message": message}]}
        result = execute(
            schema,
            document,
            root_value=self._root(),
            variable_values=variables,
            operation_name=payload.get("operationName"),
        )
        body: dict[str, Any] = {"data": result.data}
        if result.errors:
            body["errors"] = [e.formatted for e in result.errors]
        return 200, {}, body

    def _root(self) -> dict[str, Any]:
        users = self.known_users()
        projects = self.projects()
        groups = {"/".join(p.split("/")[:n]) for p in projects for n in range(1, p.count("/") + 1)}
        return {
            "currentUser": self._user_node(self.viewer),
            "user": lambda _i, username=None, **_: (
                self._user_node(username) if username and username.lower() in users else None
            ),
            "group": lambda _i, fullPath, **_: self._group_node(fullPath) if fullPath in groups else None,
            "project": lambda _i, fullPath, **_: (
                self._project_node(fullPath) if fullPath in projects else None
            ),
        }

    def _user_node(self, username: str) -> dict[str, Any]:
        node = _user(username, self.url)
        me = username.lower()
        node["authoredMergeRequests"] = self._lister(lambda mr: (mr.author or "").lower() == me, "user")
        node["reviewRequestedMergeRequests"] = self._lister(
            lambda mr: any(r.username.lower() == me for r in mr.reviewers), "user"
        )
        return node

    def _group_node(self, path: str) -> dict[str, Any]:
        def inside(mr: MergeRequest, args: dict[str, Any]) -> bool:
            if args.get("includeSubgroups"):
                return mr.project.startswith(path + "/")
            return mr.project.rpartition("/")[0] == path

        return {"fullPath": path, "id": f"gid://gitlab/Group/{abs(hash(path)) % 10**6}",
                "mergeRequests": self._lister(lambda _mr: True, "group", inside)}  # fmt: skip

    def _project_node(self, path: str) -> dict[str, Any]:
        return {
            "fullPath": path,
            "id": f"gid://gitlab/Project/{self.projects()[path]}",
            "mergeRequests": self._lister(lambda mr: mr.project == path, "project"),
        }

    def _lister(self, base: Any, where: str, inside: Any = None) -> Any:
        """A merge-request list resolver honouring the arguments the connector uses (see the docstring)."""

        def resolve(_info: Any, **args: Any) -> dict[str, Any]:
            unknown = set(args) - LIST_ARGUMENTS
            if unknown:
                raise GraphQLError(f"the fake GitLab does not implement the argument(s) {sorted(unknown)}")
            if where == "group" and "projectPath" in args:
                raise GraphQLError("projectPath is not an argument of Group.mergeRequests")
            chosen = [mr for mr in self.merge_requests if base(mr)]
            if inside is not None:
                chosen = [mr for mr in chosen if inside(mr, args)]
            if args.get("state") and args["state"] != "all":
                chosen = [mr for mr in chosen if mr.state == args["state"]]
            if args.get("authorUsername"):
                chosen = [mr for mr in chosen if (mr.author or "").lower() == args["authorUsername"].lower()]
            if args.get("reviewerUsername"):
                who = args["reviewerUsername"].lower()
                chosen = [mr for mr in chosen if any(r.username.lower() == who for r in mr.reviewers)]
            if args.get("projectPath"):
                chosen = [mr for mr in chosen if mr.project == args["projectPath"]]
            if args.get("mergedAfter"):
                after = _time_argument(args["mergedAfter"])
                chosen = [mr for mr in chosen if mr.merged_at and mr.merged_at >= after]
            if args.get("mergedBefore"):
                # GitLab's quirk: mergedBefore takes in the whole day of its timestamp
                day = _time_argument(args["mergedBefore"]).astimezone(UTC).date()
                end = datetime.combine(day + timedelta(days=1), datetime.min.time(), UTC)
                chosen = [mr for mr in chosen if mr.merged_at and mr.merged_at < end]
            chosen.sort(key=_sort_key(args.get("sort") or "created_desc"))
            nodes = [self._mr_node(mr) for mr in chosen]
            return _connection(nodes, args.get("first"), args.get("after"), self.page_cap)

        return resolve

    def _mr_node(self, mr: MergeRequest) -> dict[str, Any]:
        def reviewers(_i: Any, first: int | None = None, after: str | None = None, **_: Any) -> Any:
            nodes = []
            for reviewer in mr.reviewers:
                node = _user(reviewer.username, self.url)
                approved = reviewer.username in mr.approved_by
                node["mergeRequestInteraction"] = {
                    "approved": approved,
                    "reviewState": reviewer.state,
                    "reviewed": reviewer.state == "REVIEWED",
                    "canMerge": True,
                }
                nodes.append(node)
            return _connection(nodes, first, after)

        project = {
            "fullPath": mr.project,
            "name": mr.project.rpartition("/")[2],
            "webUrl": f"{self.url}/{mr.project}",
            "id": f"gid://gitlab/Project/{self.projects()[mr.project]}",
        }
        return {
            "id": f"gid://gitlab/MergeRequest/{self._global_id(mr)}",
            "iid": str(mr.iid),
            "title": mr.title,
            "description": mr.description,
            "webUrl": self.web_url(mr),
            "reference": lambda _i, full=False, **_: f"{mr.project}!{mr.iid}" if full else f"!{mr.iid}",
            "state": mr.state,
            "draft": mr.draft,
            "createdAt": _stamp(mr.created_at),
            "updatedAt": _stamp(mr.updated),
            "mergedAt": _stamp(mr.merged_at),
            "sourceBranch": mr.source_branch,
            "targetBranch": mr.target_branch,
            "mergeCommitSha": mr.merge_commit_sha,
            "squash": mr.squash if mr.squash is not None else mr.squash_commit_sha is not None,
            "commitCount": len(mr.commits),
            "author": _user(mr.author, self.url),
            "mergeUser": _user(mr.merged_by or mr.author, self.url) if mr.merged_at else None,
            "project": project,
            "diffStatsSummary": {
                "additions": mr.additions,
                "deletions": mr.deletions,
                "changes": (mr.additions or 0) + mr.deletions,
                "fileCount": mr.files,
            },
            "labels": lambda _i, first=None, after=None, **_: _connection(
                [{"title": t, "id": f"gid://gitlab/ProjectLabel/{n}"} for n, t in enumerate(mr.labels)],
                first,
                after,
            ),
            "commits": lambda _i, first=None, after=None, **_: _connection(
                [{"sha": sha, "shortId": sha[:8], "title": "commit"} for sha in mr.commits], first, after
            ),
            "approvedBy": lambda _i, first=None, after=None, **_: _connection(
                [_user(u, self.url) for u in mr.approved_by], first, after
            ),
            "reviewers": reviewers,
            "approved": bool(mr.approved_by),
        }

    # REST

    def answer_rest(
        self, path: str, query: dict[str, list[str]], token: str | None
    ) -> tuple[int, Any, dict[str, str]]:
        """``(status, body, extra headers)`` for ``GET {prefix}/api/v4{path}``."""
        self._request.path, self._request.query = path, query
        if token not in (self.token, self.read_user_token):
            return 401, {"message": "401 Unauthorized"}, {}
        if path == "/user":
            return 200, {"id": 1, **_rest_user(self.viewer, self.url)}, {}
        if token == self.read_user_token:
            return 403, INSUFFICIENT_SCOPE, {}
        one = {k: v[-1] for k, v in query.items()}
        if path == "/merge_requests":
            scope = one.get("scope", "created_by_me")  # GitLab's default, unlike the web UI's
            chosen = [
                mr for mr in self.merge_requests if scope != "created_by_me" or mr.author == self.viewer
            ]
            return self._rest_mr_list(chosen, one, query)
        match = re.fullmatch(
            r"/projects/([^/]+)/merge_requests(?:/(\d+)(?:/(changes|approvals|commits))?)?", path
        )
        if match:
            project = self._project_path(unquote(match.group(1)))
            if project is None:
                return 404, {"message": "404 Project Not Found"}, {}
            mrs = [mr for mr in self.merge_requests if mr.project == project]
            if not match.group(2):
                return self._rest_mr_list(mrs, one, query)
            found = [mr for mr in mrs if mr.iid == int(match.group(2))]
            if not found:
                return 404, {"message": "404 Not found"}, {}
            return 200, self._rest_mr_detail(found[0], match.group(3)), {}
        match = re.fullmatch(r"/users/([^/]+)/events", path)
        if match:
            return self._rest_events(unquote(match.group(1)), one)
        match = re.fullmatch(r"/projects/([^/]+)/issues", path)
        if match:
            project = self._project_path(unquote(match.group(1)))
            if project is None:
                return 404, {"message": "404 Project Not Found"}, {}
            iids = {int(i) for i in query.get("iids[]", [])}
            chosen = [i for i in self.issues if i.project == project and (not iids or i.iid in iids)]
            return self._paged([self._rest_issue(i) for i in chosen], one)
        return 404, {"error": "404 Not Found"}, {}

    def _project_path(self, key: str) -> str | None:
        projects = self.projects()
        if key.isdigit():
            return next((p for p, n in projects.items() if n == int(key)), None)
        return key if key in projects else None

    def _rest_mr_list(
        self, chosen: list[MergeRequest], one: dict[str, str], query: dict[str, list[str]]
    ) -> tuple[int, Any, dict[str, str]]:
        """The REST list: merged_after/merged_before are not parameters GitLab knows, so they are ignored."""
        if query.get("iids[]"):
            wanted = {int(i) for i in query["iids[]"]}
            chosen = [mr for mr in chosen if mr.iid in wanted]
        if one.get("state") and one["state"] != "all":
            chosen = [mr for mr in chosen if mr.state == one["state"]]
        if one.get("author_username"):
            chosen = [mr for mr in chosen if mr.author == one["author_username"]]
        if one.get("reviewer_username"):
            chosen = [
                mr for mr in chosen if any(r.username == one["reviewer_username"] for r in mr.reviewers)
            ]
        for key, test in (("updated_after", lambda mr, t: mr.updated >= t),
                          ("updated_before", lambda mr, t: mr.updated <= t),
                          ("created_after", lambda mr, t: mr.created_at >= t),
                          ("created_before", lambda mr, t: mr.created_at <= t)):  # fmt: skip
            if one.get(key):
                moment = _time_argument(one[key])
                chosen = [mr for mr in chosen if test(mr, moment)]
        descending = one.get("sort", "desc") == "desc"
        order = one.get("order_by", "created_at")
        chosen.sort(key=lambda mr: (mr.updated if order == "updated_at" else mr.created_at, mr.iid),
                    reverse=descending)  # fmt: skip
        return self._paged([self._rest_mr(mr) for mr in chosen], one)

    def _paged(self, items: list[Any], one: dict[str, str]) -> tuple[int, Any, dict[str, str]]:
        per_page = min(int(one.get("per_page") or 20), MAX_PAGE)  # above 100: cut, silently
        page = max(int(one.get("page") or 1), 1)
        total_pages = max(1, -(-len(items) // per_page))
        chunk = items[(page - 1) * per_page : page * per_page]
        headers = {
            "X-Page": str(page),
            "X-Per-Page": str(per_page),
            "X-Next-Page": str(page + 1) if page < total_pages else "",
            "X-Prev-Page": str(page - 1) if page > 1 else "",
            "X-Total": str(len(items)),
            "X-Total-Pages": str(total_pages),
        }
        if page < total_pages:
            query = {**getattr(self._request, "query", {}), "page": [str(page + 1)]}
            path = getattr(self._request, "path", "")
            following = f"{self.url}/api/v4{path}?{urlencode(query, doseq=True)}"
            headers["Link"] = f'<{following}>; rel="next"'
        return 200, chunk, headers

    def _rest_mr(self, mr: MergeRequest) -> dict[str, Any]:
        """A merge request as GitLab's REST list gives it (the shape of the recorded gitlab.com data)."""
        merger = _rest_user(mr.merged_by or mr.author, self.url) if mr.merged_at else None
        project_id = self.projects()[mr.project]
        return {
            "id": self._global_id(mr), "iid": mr.iid, "project_id": project_id, "title": mr.title,
            "description": mr.description, "state": mr.state, "created_at": _rest_stamp(mr.created_at),
            "updated_at": _rest_stamp(mr.updated), "merged_by": merger, "merge_user": merger,
            "merged_at": _rest_stamp(mr.merged_at), "closed_by": None, "closed_at": _rest_stamp(mr.closed_at),
            "target_branch": mr.target_branch, "source_branch": mr.source_branch, "user_notes_count": 0,
            "upvotes": 0, "downvotes": 0, "author": _rest_user(mr.author, self.url), "assignees": [],
            "assignee": None, "reviewers": [_rest_user(r.username, self.url) for r in mr.reviewers],
            "source_project_id": project_id, "target_project_id": project_id, "labels": list(mr.labels),
            "draft": mr.draft, "work_in_progress": mr.draft, "milestone": None,
            "merge_when_pipeline_succeeds": False, "merge_status": "can_be_merged",
            "sha": mr.commits[-1] if mr.commits else None, "merge_commit_sha": mr.merge_commit_sha,
            "squash_commit_sha": mr.squash_commit_sha, "discussion_locked": None,
            "should_remove_source_branch": None, "force_remove_source_branch": True,
            "reference": f"!{mr.iid}",
            "references": {"short": f"!{mr.iid}", "relative": f"!{mr.iid}", "full": f"{mr.project}!{mr.iid}"},
            "web_url": self.web_url(mr),
            "time_stats": {"time_estimate": 0, "total_time_spent": 0, "human_time_estimate": None,
                           "human_total_time_spent": None},
            "squash": mr.squash if mr.squash is not None else mr.squash_commit_sha is not None,
            "task_completion_status": {"count": 0, "completed_count": 0}, "has_conflicts": False,
            "blocking_discussions_resolved": True,
        }  # fmt: skip

    def _rest_mr_detail(self, mr: MergeRequest, part: str | None) -> Any:
        if part == "changes":
            changes = [{"old_path": f"f{n}.py", "new_path": f"f{n}.py", "diff": "@@ -1 +1 @@\n-a\n+b\n",
                        "new_file": False, "renamed_file": False, "deleted_file": False}
                       for n in range(mr.files)]  # fmt: skip
            return {**self._rest_mr(mr), "changes": changes, "changes_count": str(mr.files)}
        if part == "approvals":
            return {
                "id": self._global_id(mr), "iid": mr.iid, "project_id": self.projects()[mr.project],
                "title": mr.title, "state": mr.state, "approved": bool(mr.approved_by),
                "approved_by": [{"user": _rest_user(u, self.url)} for u in mr.approved_by],
            }  # fmt: skip
        if part == "commits":
            return [
                {"id": sha, "short_id": sha[:8], "title": "commit", "message": "commit"} for sha in mr.commits
            ]
        return self._rest_mr(mr)

    def _rest_events(self, who: str, one: dict[str, str]) -> tuple[int, Any, dict[str, str]]:
        if who.lower() not in self.known_users() and not who.isdigit():
            return 404, {"message": "404 User Not Found"}, {}
        chosen = [e for e in self.events if e.author.lower() == who.lower()]
        if one.get("action"):
            chosen = [e for e in chosen if e.action == one["action"]]
        if one.get("target_type"):
            chosen = [e for e in chosen if e.target_type.lower() == one["target_type"].lower()]
        if one.get("after"):  # a date; events on it are left out
            after = date.fromisoformat(one["after"])
            chosen = [e for e in chosen if e.created_at.astimezone(UTC).date() > after]
        if one.get("before"):
            before = date.fromisoformat(one["before"])
            chosen = [e for e in chosen if e.created_at.astimezone(UTC).date() < before]
        chosen.sort(key=lambda e: e.created_at, reverse=one.get("sort", "desc") == "desc")
        projects = self.projects()
        items = [
            {"id": n + 1, "project_id": projects[e.project], "action_name": e.action, "target_id": 5000 + n,
             "target_iid": e.target_iid, "target_type": e.target_type, "author_id": 1,
             "target_title": e.target_title, "created_at": _rest_stamp(e.created_at),
             "author": _rest_user(e.author, self.url), "author_username": e.author, "imported": False}
            for n, e in enumerate(chosen)
        ]  # fmt: skip
        return self._paged(items, one)

    def _rest_issue(self, issue: Issue) -> dict[str, Any]:
        return {
            "id": issue.id or 20_000_000 + issue.iid, "iid": issue.iid,
            "project_id": self.projects()[issue.project], "title": issue.title,
            "description": issue.description, "state": "closed" if issue.closed_at else "opened",
            "created_at": _rest_stamp(issue.created_at),
            "updated_at": _rest_stamp(issue.closed_at or issue.created_at),
            "closed_at": _rest_stamp(issue.closed_at),
            "closed_by": _rest_user(issue.closed_by, self.url) if issue.closed_by else None,
            "labels": list(issue.labels), "milestone": None, "assignees": [],
            "author": _rest_user(issue.author, self.url),
            "type": "ISSUE", "assignee": None, "user_notes_count": 0, "merge_requests_count": 0,
            "upvotes": 0, "downvotes": 0, "due_date": None, "confidential": False,
            "discussion_locked": None, "issue_type": "issue", "web_url": self.issue_url(issue),
            "references": {"short": f"#{issue.iid}", "relative": f"#{issue.iid}",
                           "full": f"{issue.project}#{issue.iid}"},
        }  # fmt: skip

    def rate_headers(self) -> dict[str, str]:
        with self._lock:
            used = len(self.log)
        reset = int(datetime.now(UTC).timestamp()) + 60
        return {
            "RateLimit-Limit": "2000",
            "RateLimit-Observed": str(used),
            "RateLimit-Remaining": str(max(0, 2000 - used)),
            "RateLimit-Reset": str(reset),
            "RateLimit-ResetTime": datetime.fromtimestamp(reset, UTC).strftime("%a, %d %b %Y %H:%M:%S GMT"),
        }


def _rest_user(username: str | None, base: str) -> dict[str, Any]:
    name = username or "ghost"
    return {"id": abs(hash(name)) % 10**7, "username": name, "name": name.title(), "state": "active",
            "avatar_url": None, "web_url": f"{base}/{name}"}  # fmt: skip


def _time_argument(value: Any) -> datetime:
    moment = datetime.fromisoformat(str(value))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _sort_key(sort: str) -> Any:
    sort = sort.lower()
    far = datetime.max.replace(tzinfo=UTC)
    if sort.startswith("merged_at"):
        sign = -1 if sort.endswith("desc") else 1
        return lambda mr: (sign * (mr.merged_at or far).timestamp(), sign * mr.iid)
    if sort.startswith("updated"):
        sign = -1 if sort.endswith("desc") else 1
        return lambda mr: (sign * mr.updated.timestamp(), sign * mr.iid)
    sign = 1 if sort.endswith("asc") else -1
    return lambda mr: (sign * mr.created_at.timestamp(), sign * mr.iid)


# ---- GitLab's query rules ----------------------------------------------------------------------------


def _fragments(document: DocumentNode) -> dict[str, FragmentDefinitionNode]:
    return {d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)}


def query_depth(document: DocumentNode) -> int:
    """The deepest field nesting of the operations (fragments inlined), as graphql-ruby counts it."""
    fragments = _fragments(document)

    def depth(selections: SelectionSetNode | None) -> int:
        if selections is None:
            return 0
        deepest = 0
        for selection in selections.selections:
            if isinstance(selection, FieldNode):
                deepest = max(deepest, 1 + depth(selection.selection_set) if selection.selection_set else 1)
            elif isinstance(selection, InlineFragmentNode):
                deepest = max(deepest, depth(selection.selection_set))
            elif isinstance(selection, FragmentSpreadNode):
                deepest = max(deepest, depth(fragments[selection.name.value].selection_set))
        return deepest

    return max(
        (depth(d.selection_set) for d in document.definitions if isinstance(d, OperationDefinitionNode)),
        default=0,
    )


def query_complexity(schema: GraphQLSchema, document: DocumentNode, variables: dict[str, Any]) -> int:
    """GitLab's score, approximately: each field counts 1 plus its selections; a connection (a list
    resolver) multiplies that by ``1 + 0.01 × page size`` (page size ``first``/``last``, at most 100;
    GitLab's ``complexity_multiplier``: "loading 100 items doubles the original complexity")."""
    fragments = _fragments(document)

    def argument(node: FieldNode, name: str) -> Any:
        for arg in node.arguments or ():
            if arg.name.value == name:
                return value_from_ast_untyped(arg.value, variables)
        return None

    def score(selections: SelectionSetNode, parent: Any) -> float:
        total = 0.0
        for selection in selections.selections:
            if isinstance(selection, FieldNode):
                definition = getattr(parent, "fields", {}).get(selection.name.value)
                named = get_named_type(definition.type) if definition is not None else None
                children = score(selection.selection_set, named) if selection.selection_set else 0.0
                value = 1 + children
                if named is not None and named.name.endswith("Connection"):
                    size = min(int(argument(selection, "first") or argument(selection, "last") or MAX_PAGE),
                               MAX_PAGE)  # fmt: skip
                    value *= 1 + 0.01 * size
                total += value
            elif isinstance(selection, InlineFragmentNode):
                condition = selection.type_condition
                total += score(
                    selection.selection_set, schema.get_type(condition.name.value) if condition else parent
                )
            elif isinstance(selection, FragmentSpreadNode):
                fragment = fragments[selection.name.value]
                total += score(fragment.selection_set, schema.get_type(fragment.type_condition.name.value))
        return total

    return int(
        sum(
            score(d.selection_set, schema.query_type)
            for d in document.definitions
            if isinstance(d, OperationDefinitionNode)
        )
    )


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
    params: dict[str, list[str]] = field(default_factory=dict)
    authorization: str = ""


class _Handler(BaseHTTPRequestHandler):
    gitlab: FakeGitLab
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # keep test output quiet
        return

    def setup(self) -> None:
        super().setup()
        # headers and body go out in two writes; without this, keep-alive clients wait for delayed ACKs
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def _send(self, status: int, headers: dict[str, str], body: Any, *, rate: bool = True) -> None:
        """Send an answer; ``rate=False`` (a scripted fault) sends only the headers given."""
        data = body.encode() if isinstance(body, str) else json.dumps(body).encode()
        try:
            self.send_response(status)
            if "Content-Type" not in headers:
                self.send_header("Content-Type", "application/json")
            for key, value in {**(self.gitlab.rate_headers() if rate else {}), **headers}.items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):  # the client gave up (a timeout test)
            pass

    def _fault(self, entry: Logged, rest: bool) -> bool:
        fault = self.gitlab.next_fault(rest)
        if fault is None:
            return False
        if fault.hang:
            self.gitlab.wait_released(fault.hang)
        entry.status = fault.status
        self._send(fault.status, fault.headers, fault.body if fault.body is not None else {}, rate=False)
        return True

    def do_POST(self) -> None:
        fake = self.gitlab
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            payload = json.loads(raw or b"null")
        except ValueError:
            payload = None
        path = urlsplit(self.path).path
        entry = Logged("POST", path, 0, authorization=self.headers.get("Authorization", ""))
        if isinstance(payload, dict):
            entry.query = str(payload.get("query") or "")
        with fake._lock:
            fake.log.append(entry)
        if path != f"{fake.prefix}/api/graphql":
            entry.status = 404
            self._send(404, {}, {"error": "404 Not Found"})
            return
        if self._fault(entry, rest=False):
            return
        token = fake.token_of(self.headers)
        if token is not None and token != fake.token:  # unknown, or read_user only: GitLab says the same
            entry.status = 401
            self._send(401, {}, {"errors": [{"message": "Invalid token"}]})
            return
        status, headers, body = fake.answer_graphql(payload)
        entry.status = status
        self._send(status, headers, body)

    def do_GET(self) -> None:
        fake = self.gitlab
        parts = urlsplit(self.path)
        query = parse_qs(parts.query)
        entry = Logged(
            "GET", parts.path, 0, params=query, authorization=self.headers.get("Authorization", "")
        )
        with fake._lock:
            fake.log.append(entry)
        api = f"{fake.prefix}/api/v4"
        if not parts.path.startswith(api + "/"):
            entry.status = 404
            self._send(404, {"Content-Type": "text/html"}, "<html><body>Not found</body></html>")
            return
        if self._fault(entry, rest=True):
            return
        status, body, headers = fake.answer_rest(parts.path[len(api) :], query, fake.token_of(self.headers))
        entry.status = status
        self._send(status, headers, body)


def rate_limited(retry_after: int = 1, reset: int | None = None) -> Fault:
    """GitLab's 429: plain text, ``Retry-After`` and ``RateLimit-*`` headers."""
    headers = {"Content-Type": "text/plain", "Retry-After": str(retry_after)}
    if reset is not None:
        headers["RateLimit-Reset"] = str(reset)
    return Fault(429, headers, "Retry later\n")


def bad_gateway(status: int = 502) -> Fault:
    """What a load balancer in front of GitLab answers: an HTML page."""
    return Fault(
        status,
        {"Content-Type": "text/html"},
        f"<html><body><h1>{status}</h1>GitLab is not responding</body></html>",
    )


# ---- the fixture schema ------------------------------------------------------------------------------


def used_fields(schema: GraphQLSchema, documents: Iterable[DocumentNode]) -> dict[str, set[str]]:
    """Every ``type → fields`` that ``documents`` select (validated against ``schema``)."""
    used: dict[str, set[str]] = {}
    info = TypeInfo(schema)

    class Collect(Visitor):
        def enter_field(self, node: FieldNode, *_args: Any) -> None:
            parent = info.get_parent_type()
            if parent is not None and not node.name.value.startswith("__"):
                used.setdefault(parent.name, set()).add(node.name.value)

    for document in documents:
        errors = validate(schema, document)
        assert not errors, errors
        visit(document, TypeInfoVisitor(info, Collect()))
    return used


def schema_subset(schema: GraphQLSchema, documents: Iterable[DocumentNode]) -> str:
    """SDL holding the object types and fields ``documents`` use (with every argument of those fields, and
    the enums, inputs and scalars the arguments and fields need); no descriptions, no interfaces."""
    used = used_fields(schema, documents)
    needed: set[str] = set(used)
    pending = list(used)
    lines_by_type: dict[str, str] = {}

    def need(type_: Any) -> None:
        named = get_named_type(type_)
        if named.name not in needed and named.name not in specified_scalar_types:
            needed.add(named.name)
            pending.append(named.name)

    def arguments(args: dict[str, GraphQLArgument]) -> str:
        if not args:
            return ""
        parts = []
        for name, arg in args.items():
            need(arg.type)
            node = arg.ast_node.default_value if arg.ast_node is not None else None
            default = f" = {print_ast(node)}" if node is not None else ""
            parts.append(f"{name}: {arg.type}{default}")
        return "(" + ", ".join(parts) + ")"

    while pending:
        name = pending.pop()
        type_ = schema.get_type(name)
        if isinstance(type_, GraphQLObjectType | GraphQLInterfaceType):
            body = []
            for field_name in sorted(used.get(name, ())):
                definition = type_.fields[field_name]
                need(definition.type)
                body.append(f"  {field_name}{arguments(definition.args)}: {definition.type}")
            lines_by_type[name] = f"type {name} {{\n" + "\n".join(body) + "\n}"
        elif isinstance(type_, GraphQLEnumType):
            values = "\n".join(f"  {v}" for v in type_.values)
            lines_by_type[name] = f"enum {name} {{\n{values}\n}}"
        elif isinstance(type_, GraphQLInputObjectType):
            body = []
            for field_name, input_field in type_.fields.items():
                need(input_field.type)
                body.append(f"  {field_name}: {input_field.type}")
            lines_by_type[name] = f"input {name} {{\n" + "\n".join(body) + "\n}"
        elif isinstance(type_, GraphQLScalarType):
            lines_by_type[name] = f"scalar {name}"
    header = (
        "# The part of GitLab's GraphQL schema (gitlab.com, August 2023, GitLab 16.3) that impact-miner's\n"
        "# GitLab connector uses: its types, fields and their arguments, without descriptions. Generated\n"
        "# from the full schema in ../shared/data/gitlab/graphql/schema.graphql by\n"
        "#     python tests/fake_gitlab.py schema-subset > tests/fixtures/gitlab/schema.graphql\n"
        "# and checked against it by tests/test_gitlab_connector.py where the shared data is present.\n"
    )
    ordered = sorted(lines_by_type, key=lambda n: (n != "Query", n))
    return header + "\n" + "\n\n".join(lines_by_type[n] for n in ordered) + "\n"


def connector_documents() -> Iterator[DocumentNode]:
    """Every query shape the connector sends (each list kind and scope, first page and later)."""
    from impact_miner.connectors import gitlab as connector

    window = (datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 2, 1, tzinfo=UTC))
    yield parse(connector.VIEWER_QUERY)
    for kind in ("mr", "review"):
        for scope in (("user", ""), ("group", "acme"), ("project", "acme/api")):
            if kind == "review" and scope[0] == "group":
                continue
            for cursor in (None, "eyJvZmZzZXQiOiAxMDB9"):
                item = connector.Slice(kind, scope, window, cursor=cursor)
                yield parse(connector.page_query([item], "ada", connector.PAGE_SIZE))


def main(argv: list[str]) -> int:
    if argv[1:] == ["schema-subset"]:
        sys.stdout.write(schema_subset(gitlab_schema("real"), connector_documents()))
        return 0
    print("usage: python tests/fake_gitlab.py schema-subset", file=sys.stderr)
    return 2


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
