"""A loopback fake Jira that speaks the real REST protocol, as Jira Cloud or as Jira Server/Data Center.

    with FakeJira.cloud(issues) as jira:          # http://127.0.0.1:PORT, basic auth EMAIL:TOKEN
        ... jira.url, jira.requests, jira.fail("/search/jql", 429, headers={"Retry-After": "2"})

Cloud: ``GET /rest/api/3/search/jql`` pages with ``nextPageToken`` (absent on the last page, with
``isLast: true``), has no ``total``, answers ids only unless ``fields`` is given, caps pages at 100 and
rejects a JQL without any restriction (400); ``/rest/api/{2,3}/search`` answer 410 Gone; descriptions
are Atlassian Document Format. Server: ``GET /rest/api/2/search`` with ``startAt``/``maxResults``/``total``,
bearer personal access tokens, text descriptions, and Jersey's 404 for ``/rest/api/3``. Both evaluate
the JQL they get (a real subset: AND/OR/NOT, parentheses, =, !=, <, <=, >, >=, IN, NOT IN, IS EMPTY,
``currentUser()``, ORDER BY) in the user's time zone and answer Jira's own error bodies
(``errorMessages``) for unknown fields, values and syntax errors. ``GET /rest/api/{2,3}/field`` answers
``site_fields`` (empty unless a test sets it); a searched custom field the site has but an issue lacks
comes back as ``null``, as Jira sends it.

Issues are real recorded payloads: by default the trimmed copies in ``tests/fixtures/jira`` (every
recorded issue, the fields the connector reads, no changelog; made by ``tests/fixtures/make_fixtures.py``),
with ``recorded=True`` the full recordings of ``../shared/data/jira`` (or ``$IMPACT_MINER_SHARED_DATA``,
for tests marked ``needs_shared_data``). The helpers below copy and change them (resolved, re-keyed,
re-dated, re-assigned) where a test needs it.
"""

from __future__ import annotations

import base64
import copy
import csv
import functools
import json
import re
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo

from shared_data import FIXTURES, shared_data

Issue = dict[str, Any]


def load_issues(name: str) -> list[Issue]:
    """The issues of one DevLake raw table of the shared recordings (its ``data`` column holds one issue's
    JSON per row).

    Read once per process and shared: treat them as read-only (the helpers below copy before changing).
    """
    return list(_load(str(shared_data() / "jira" / name)))


@functools.cache
def _load(path: str) -> tuple[Issue, ...]:
    if path.endswith(".json"):
        with open(path, encoding="utf-8") as handle:
            return tuple(json.load(handle))
    csv.field_size_limit(1 << 30)
    with open(path, newline="", encoding="utf-8") as handle:
        return tuple(json.loads(row["data"]) for row in csv.DictReader(handle))


def cloud_catalogue(*, recorded: bool = False) -> list[Issue]:
    """The real Jira Cloud issues (localised, ``+0800``, agile epics, parents, sub-tasks), by key once."""
    if not recorded:
        return list(_load(str(FIXTURES / "jira" / "cloud.json")))
    issues = load_issues("_raw_jira_api_issues.csv") + load_issues("_raw_jira_external_epics.csv")
    return list({issue["key"]: issue for issue in issues}.values())


def server_catalogue(*, recorded: bool = False) -> list[Issue]:
    """The real Jira Server issues (issue links, users with name/key and no accountId)."""
    if not recorded:
        return list(_load(str(FIXTURES / "jira" / "server.json")))
    return load_issues("_raw_jira_api_issue_relationships.csv")


def by_key(issues: Iterable[Issue]) -> dict[str, Issue]:
    return {issue["key"]: issue for issue in issues}


# ---- users -------------------------------------------------------------------------------------------

# The real Cloud account most of the recorded issues are assigned to, with the email the fake signs in with.
CLOUD_EMAIL, CLOUD_TOKEN = "dingding@example.com", "cloud-api-token"
SERVER_PAT = "server-personal-access-token"


def cloud_user(issues: Iterable[Issue], account_id: str = "5ecfbd0c730ec90c1999cadf") -> dict[str, Any]:
    """A real Cloud account taken from the issues' assignees (by accountId)."""
    for issue in issues:
        user = issue["fields"].get("assignee") or {}
        if user.get("accountId") == account_id:
            return copy.deepcopy(user)
    raise KeyError(account_id)


def server_user(issues: Iterable[Issue], name: str = "admin") -> dict[str, Any]:
    for issue in issues:
        user = issue["fields"].get("assignee") or {}
        if user.get("name") == name:
            return copy.deepcopy(user)
    raise KeyError(name)


INACTIVE_CLOUD_USER = {
    "self": "https://merico.atlassian.net/rest/api/3/user?accountId=",
    "accountId": "",
    "accountType": "atlassian",
    "displayName": "Former user",
    "active": False,
    "timeZone": "Asia/Shanghai",
}


# ---- changing recorded issues ------------------------------------------------------------------------

CLOUD_DONE = {
    "id": "10068",
    "name": "已完成",
    "description": "This status is managed internally by Jira Software",
    "statusCategory": {"id": 3, "key": "done", "name": "完成", "colorName": "green"},
}
SERVER_DONE = {
    "description": "",
    "name": "Done",
    "id": "10001",
    "statusCategory": {"id": 3, "key": "done", "colorName": "green", "name": "Done"},
}


def jira_time(moment: datetime, offset_hours: float = 8) -> str:
    """``2020-06-12T08:40:54.210+0800``: Jira's format, milliseconds and an offset without a colon."""
    zone = timezone(timedelta(hours=offset_hours))
    local = moment.astimezone(zone)
    return local.strftime("%Y-%m-%dT%H:%M:%S.") + f"{local.microsecond // 1000:03d}" + local.strftime("%z")


def parse_time(value: str) -> datetime:
    return datetime.fromisoformat(value)


def resolved(
    issue: Issue,
    when: datetime,
    *,
    key: str | None = None,
    assignee: dict[str, Any] | None = None,
    status: dict[str, Any] | None = None,
    offset_hours: float = 8,
    **fields: Any,
) -> Issue:
    """A copy of ``issue`` resolved at ``when`` (status category done unless ``status``), re-keyed and
    re-assigned when asked, with ``fields`` set (``None`` values are kept as JSON null)."""
    copied = {k: v for k, v in issue.items() if k != "changelog"}  # searches do not expand the changelog
    copied["fields"] = copy.deepcopy(issue["fields"])
    if key is not None:
        number = int(key.rsplit("-", 1)[1])
        copied["key"] = key
        copied["id"] = str(900000 + number * 7 + sum(map(ord, key.split("-")[0])))
    body = copied["fields"]
    server = "accountId" not in json.dumps(body.get("assignee") or body.get("creator") or {})
    body["status"] = copy.deepcopy(status or (SERVER_DONE if server else CLOUD_DONE))
    body["resolutiondate"] = jira_time(when, offset_hours)
    created = parse_time(body["created"]) if body.get("created") else when - timedelta(days=3)
    if created >= when:
        body["created"] = jira_time(when - timedelta(days=3), offset_hours)
    if assignee is not None:
        body["assignee"] = copy.deepcopy(assignee)
    body.update(fields)
    return copied


def shift_dates(issues: Iterable[Issue], delta: timedelta) -> list[Issue]:
    """Copies of ``issues`` with created/updated/resolution dates moved by ``delta`` (offsets kept)."""
    moved = []
    for issue in issues:
        copied = copy.deepcopy(issue)
        for name in ("created", "updated", "resolutiondate", "statuscategorychangedate", "lastViewed"):
            value = copied["fields"].get(name)
            if isinstance(value, str):
                moment = parse_time(value)
                offset = (moment.utcoffset() or timedelta()).total_seconds() / 3600
                copied["fields"][name] = jira_time(moment + delta, offset)
        moved.append(copied)
    return moved


def adf(*paragraphs: str | dict[str, Any]) -> dict[str, Any]:
    """An Atlassian Document Format document: one paragraph per string (or a node given as is)."""
    content = [
        {"type": "paragraph", "content": [{"type": "text", "text": p}] if p else []}
        if isinstance(p, str)
        else p
        for p in paragraphs
    ]
    return {"type": "doc", "version": 1, "content": content}


def text_to_adf(text: str) -> dict[str, Any]:
    """How Cloud's v3 API answers a description that is plain text in v2: paragraphs and hard breaks."""
    paragraphs = []
    for block in re.split(r"\n\s*\n", text.strip()):
        nodes: list[dict[str, Any]] = []
        for n, line in enumerate(block.split("\n")):
            if n:
                nodes.append({"type": "hardBreak"})
            if line:
                nodes.append({"type": "text", "text": line})
        paragraphs.append({"type": "paragraph", "content": nodes})
    return {"type": "doc", "version": 1, "content": paragraphs}


# ---- JQL ---------------------------------------------------------------------------------------------


class JqlError(Exception):
    """Jira's own message for a query it cannot run (HTTP 400)."""


TOKEN = re.compile(
    r"""\s*(?:(?P<string>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')|(?P<op>!=|>=|<=|=|>|<|~)"""
    r"""|(?P<punct>[(),])|(?P<word>[^\s(),"'=!<>~]+))"""
)
DATE_FIELDS = {"resolutiondate": "resolutiondate", "resolved": "resolutiondate", "created": "created",
               "createddate": "created", "updated": "updated", "updateddate": "updated"}  # fmt: skip
KNOWN_FIELDS = {*DATE_FIELDS, "assignee", "statuscategory", "project", "key", "issuekey", "id", "labels",
                "status", "type", "issuetype", "parent"}  # fmt: skip
CATEGORIES = {"done": "done", "to do": "new", "new": "new", "in progress": "indeterminate",
              "indeterminate": "indeterminate", "2": "new", "3": "done", "4": "indeterminate"}  # fmt: skip
NO_FIELD = "does not exist or you do not have permission to view it."
DATE_FORMATS = ("%Y-%m-%d %H:%M", "%Y/%m/%d %H:%M", "%Y-%m-%d", "%Y/%m/%d")
DATE_HELP = (
    "Valid formats include: 'yyyy/MM/dd HH:mm', 'yyyy-MM-dd HH:mm', 'yyyy/MM/dd', 'yyyy-MM-dd', "
    "or a period format e.g. '-5d', '4w 2d'."
)
Predicate = Callable[[Issue], bool]


@dataclass
class Token:
    kind: str
    text: str
    at: int

    @property
    def upper(self) -> str:
        return self.text.upper() if self.kind == "word" else ""


@dataclass
class Query:
    """A parsed JQL: the filter (None when unrestricted) and the ORDER BY fields."""

    where: Predicate | None
    order: list[tuple[str, bool]]


class JqlParser:
    """Recursive descent over the JQL tokens, building predicates against one fake site's data."""

    def __init__(self, jql: str, site: FakeJira, user: dict[str, Any]) -> None:
        self.jql, self.site, self.user = jql, site, user
        self.tokens = self._tokenize(jql)
        self.pos = 0

    def _tokenize(self, jql: str) -> list[Token]:
        tokens, pos = [], 0
        while pos < len(jql):
            if jql[pos:].strip() == "":
                break
            match = TOKEN.match(jql, pos)
            if not match or match.end() == pos:
                raise JqlError(f"Error in the JQL Query: The character '{jql[pos]}' is a reserved JQL "
                               f"character. (line 1, character {pos + 1})")  # fmt: skip
            kind = match.lastgroup or "word"
            tokens.append(Token(kind, match.group(kind), match.start(kind)))
            pos = match.end()
        return tokens

    def peek(self) -> Token | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def take(self) -> Token:
        token = self.peek()
        if token is None:
            raise JqlError(f"Error in the JQL Query: Expecting either a value, list or function but got "
                           f"the end of the query. (line 1, character {len(self.jql) + 1})")  # fmt: skip
        self.pos += 1
        return token

    def expect(self, text: str) -> None:
        token = self.take()
        if token.text.upper() != text.upper():
            raise JqlError(f"Error in the JQL Query: Expecting '{text}' but got '{token.text}'. "
                           f"(line 1, character {token.at + 1})")  # fmt: skip

    def parse(self) -> Query:
        where = None
        first = self.peek()
        if first is not None and first.upper != "ORDER":
            where = self.or_expr()
        order: list[tuple[str, bool]] = []
        token = self.peek()
        if token is not None:
            if token.upper != "ORDER":
                raise JqlError(f"Error in the JQL Query: Expecting either 'OR' or 'AND' but got "
                               f"'{token.text}'. (line 1, character {token.at + 1})")  # fmt: skip
            self.take()
            self.expect("BY")
            while True:
                name = self.take().text.lower()
                if name not in KNOWN_FIELDS:
                    raise JqlError(f"Not able to sort using field '{name}'.")
                desc = False
                nxt = self.peek()
                if nxt is not None and nxt.upper in ("ASC", "DESC"):
                    desc = self.take().upper == "DESC"
                order.append((name, desc))
                nxt = self.peek()
                if nxt is None:
                    break
                if nxt.text != ",":
                    raise JqlError(f"Error in the JQL Query: Expecting ',' but got '{nxt.text}'. "
                                   f"(line 1, character {nxt.at + 1})")  # fmt: skip
                self.take()
        return Query(where, order)

    def or_expr(self) -> Predicate:
        parts = [self.and_expr()]
        while (token := self.peek()) is not None and token.upper == "OR":
            self.take()
            parts.append(self.and_expr())
        return parts[0] if len(parts) == 1 else (lambda issue: any(p(issue) for p in parts))

    def and_expr(self) -> Predicate:
        parts = [self.unary()]
        while (token := self.peek()) is not None and token.upper == "AND":
            self.take()
            parts.append(self.unary())
        return parts[0] if len(parts) == 1 else (lambda issue: all(p(issue) for p in parts))

    def unary(self) -> Predicate:
        token = self.peek()
        if token is not None and token.upper == "NOT":
            self.take()
            inner = self.unary()
            return lambda issue: not inner(issue)
        if token is not None and token.text == "(":
            self.take()
            inner = self.or_expr()
            self.expect(")")
            return inner
        return self.clause()

    def clause(self) -> Predicate:
        token = self.take()
        name = _unquote(token.text).lower()
        if token.kind == "punct":
            raise JqlError(f"Error in the JQL Query: Expecting a field name but got '{token.text}'. "
                           f"(line 1, character {token.at + 1})")  # fmt: skip
        if name not in KNOWN_FIELDS:
            raise JqlError(f"Field '{_unquote(token.text)}' {NO_FIELD}")
        op_token = self.take()
        op = op_token.text.upper()
        if op == "NOT":
            self.expect("IN")
            op = "NOT IN"
        if op == "IS":
            negate = self.peek() is not None and self.peek().upper == "NOT"  # type: ignore[union-attr]
            if negate:
                self.take()
            empty = self.take().upper
            if empty not in ("EMPTY", "NULL"):
                raise JqlError("Error in the JQL Query: Expecting 'EMPTY' or 'NULL'.")
            return lambda issue: bool(self.site.values(issue, name)) == negate
        if op in ("IN", "NOT IN"):
            self.expect("(")
            values = [self.value(name)]
            while self.peek() is not None and self.peek().text == ",":  # type: ignore[union-attr]
                self.take()
                values.append(self.value(name))
            self.expect(")")
            wanted = {v for group in values for v in group}
            hit: Predicate = lambda issue: bool(wanted & set(self.site.values(issue, name)))  # noqa: E731
            return hit if op == "IN" else (lambda issue: not hit(issue))
        if op not in ("=", "!=", ">", ">=", "<", "<=", "~"):
            raise JqlError(f"Error in the JQL Query: Expecting operator but got '{op_token.text}'. "
                           f"(line 1, character {op_token.at + 1})")  # fmt: skip
        if name in DATE_FIELDS:
            moment = self.date_value(name)
            compare = {
                "=": lambda a: a == moment, "!=": lambda a: a != moment, ">": lambda a: a > moment,
                ">=": lambda a: a >= moment, "<": lambda a: a < moment, "<=": lambda a: a <= moment,
            }[op]  # fmt: skip
            return lambda issue: any(compare(v) for v in self.site.values(issue, name))
        if op not in ("=", "!="):
            raise JqlError(f"The operator '{op_token.text}' is not supported by the '{name}' field.")
        wanted = set(self.value(name))
        hit2: Predicate = lambda issue: bool(wanted & set(self.site.values(issue, name)))  # noqa: E731
        return hit2 if op == "=" else (lambda issue: not hit2(issue))

    def value(self, name: str) -> list[Any]:
        token = self.take()
        text = _unquote(token.text)
        nxt = self.peek()
        if token.kind == "word" and nxt is not None and nxt.text == "(":
            self.take()
            self.expect(")")
            if text.lower() != "currentuser" or name != "assignee":
                raise JqlError(f"Unable to find JQL function '{text}()'.")
            return [self.site.user_id(self.user)]
        return self.site.literal(name, text)

    def date_value(self, name: str) -> datetime:
        token = self.take()
        text = _unquote(token.text)
        zone = ZoneInfo(self.user.get("timeZone") or "UTC")
        for fmt in DATE_FORMATS:
            try:
                return datetime.strptime(text, fmt).replace(tzinfo=zone)
            except ValueError:
                continue
        raise JqlError(f"Date value '{text}' for field '{name}' is invalid. {DATE_HELP}")


def _unquote(text: str) -> str:
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "\"'":
        return re.sub(r"\\(.)", r"\1", text[1:-1])
    return text


# ---- the server --------------------------------------------------------------------------------------


@dataclass
class Request:
    """One request the fake received."""

    method: str
    path: str
    params: dict[str, list[str]]
    auth: str  # "basic EMAIL", "bearer", or "" when none was sent

    def param(self, name: str) -> str:
        return self.params.get(name, [""])[0]


@dataclass
class Fault:
    """An answer given ``times`` times instead of the normal one, to requests whose path ends in ``path``."""

    path: str
    status: int | None  # None: answer normally, after ``delay``
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    times: int = 1
    delay: float = 0.0


REMOVED = (
    "The requested API has been removed. Please migrate to the /rest/api/3/search/jql API. A full migration "
    "guideline is available at https://developer.atlassian.com/changelog/#CHANGE-2046"
)
UNBOUNDED = "Unbounded JQL queries are not allowed here. Please add a search restriction to your query."
CLOUD_401 = "Client must be authenticated to access this resource."
SERVER_401 = "You are not authenticated. Authentication required to perform this operation."


def errors(*messages: str) -> dict[str, Any]:
    """Jira's error body."""
    return {"errorMessages": list(messages), "errors": {}}


class FakeJira:
    """See the module docstring. ``requests`` lists what was asked; ``fail`` queues faults."""

    def __init__(self, mode: str, issues: Iterable[Issue], users: Iterable[dict[str, Any]]) -> None:
        assert mode in ("cloud", "server")
        self.mode = mode
        self.issues: list[Issue] = list(issues)  # never changed here: answers are copies
        self.users = [copy.deepcopy(u) for u in users]
        self.requests: list[Request] = []
        self.faults: list[Fault] = []
        self.max_page = 100 if mode == "cloud" else 1000
        self.site_fields: list[dict[str, Any]] = []  # what GET /rest/api/{2,3}/field answers
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._url = ""

    @classmethod
    def cloud(cls, issues: Iterable[Issue], users: Iterable[dict[str, Any]] | None = None) -> FakeJira:
        """A Cloud site whose signed-in user (``CLOUD_EMAIL``/``CLOUD_TOKEN``) is the real Dingding Zhang."""
        issues = list(issues)
        if users is None:
            me = cloud_user(cloud_catalogue())
            users = [{**me, "emailAddress": CLOUD_EMAIL, "_token": CLOUD_TOKEN}, INACTIVE_CLOUD_USER]
        return cls("cloud", issues, users)

    @classmethod
    def server(cls, issues: Iterable[Issue], users: Iterable[dict[str, Any]] | None = None) -> FakeJira:
        """A Server/Data Center site whose PAT (``SERVER_PAT``) belongs to the real user ``admin``."""
        issues = list(issues)
        if users is None:
            users = [{**server_user(server_catalogue()), "_token": SERVER_PAT}]
        return cls("server", issues, users)

    # -- lifecycle

    def __enter__(self) -> FakeJira:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        site = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                site._handle(self)

            def do_POST(self) -> None:
                site._handle(self)

            def log_message(self, format: str, *args: Any) -> None:
                return

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        host, port = self._server.server_address[:2]
        self._url = f"http://{host}:{port}"
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.01,), daemon=True)
        self._thread.start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    @property
    def url(self) -> str:
        """The base URL (still known after ``stop``, when nothing answers there any more)."""
        assert self._url, "start the fake first"
        return self._url

    # -- test controls

    def fail(
        self,
        path: str,
        status: int | None,
        body: Any = None,
        *,
        headers: dict[str, str] | None = None,
        times: int = 1,
        delay: float = 0.0,
    ) -> None:
        """Answer the next ``times`` requests to ``…path`` with ``status`` and ``body`` (after ``delay``)."""
        with self._lock:
            self.faults.append(Fault(path, status, body, dict(headers or {}), times, delay))

    def searches(self) -> list[Request]:
        return [r for r in self.requests if r.path.endswith(("/search", "/search/jql"))]

    def reset(self) -> None:
        with self._lock:
            self.requests.clear()
            self.faults.clear()

    # -- data, as the JQL sees it

    def user_id(self, user: dict[str, Any]) -> str:
        return str(user.get("accountId") if self.mode == "cloud" else user.get("name"))

    def values(self, issue: Issue, name: str) -> list[Any]:
        fields = issue.get("fields") or {}
        if name in DATE_FIELDS:
            value = fields.get(DATE_FIELDS[name])
            return [parse_time(value)] if value else []
        if name == "assignee":
            user = fields.get("assignee") or {}
            ident = user.get("accountId") if self.mode == "cloud" else user.get("name")
            return [ident] if ident else []
        if name == "statuscategory":
            key = ((fields.get("status") or {}).get("statusCategory") or {}).get("key")
            return [key] if key else []
        if name == "project":
            project = fields.get("project") or {}
            return [str(v).lower() for v in (project.get("key"), project.get("name"), project.get("id")) if v]
        if name in ("key", "issuekey", "id"):
            return [issue["key"].lower(), str(issue.get("id"))]
        if name == "labels":
            return [str(label).lower() for label in fields.get("labels") or []]
        if name == "parent":
            return [str((fields.get("parent") or {}).get("key", "")).lower()] if fields.get("parent") else []
        if name == "status":
            status = fields.get("status") or {}
            return [str(v).lower() for v in (status.get("name"), status.get("id")) if v]
        if name in ("type", "issuetype"):
            kind = fields.get("issuetype") or {}
            return [str(v).lower() for v in (kind.get("name"), kind.get("id")) if v]
        return []

    def literal(self, name: str, text: str) -> list[Any]:
        """The values a JQL literal stands for; Jira's 400 message when the field has no such value."""
        lower = text.lower()
        if name == "statuscategory":
            if lower not in CATEGORIES:
                raise JqlError(f"The value '{text}' does not exist for the field 'statusCategory'.")
            return [CATEGORIES[lower]]
        if name == "project":
            known = {v for issue in self.issues for v in self.values(issue, "project")}
            if lower not in known:
                raise JqlError(f"The value '{text}' does not exist for the field 'project'.")
            return [lower]
        if name in ("key", "issuekey"):
            if lower not in {issue["key"].lower() for issue in self.issues}:
                raise JqlError(f"An issue with key '{text}' does not exist for field '{name}'.")
            return [lower]
        if name == "assignee":
            known = {self.user_id(u) for u in self.users} | {
                v for issue in self.issues for v in self.values(issue, "assignee")
            }
            if text not in known:
                raise JqlError(f"The value '{text}' does not exist for the field 'assignee'.")
            return [text]
        return [lower]

    def run(self, jql: str, user: dict[str, Any]) -> list[Issue]:
        """The issues matching ``jql`` for ``user``, in its ORDER BY order; raises JqlError like Jira."""
        query = JqlParser(jql, self, user).parse()
        if query.where is None and self.mode == "cloud":
            raise JqlError(UNBOUNDED)
        where = query.where
        found = [i for i in self.issues if where is None or where(i)]
        for name, desc in reversed(query.order or [("key", False)]):
            found.sort(key=lambda issue, n=name: _sort_key(self.values(issue, n), n), reverse=desc)
        return found

    # -- HTTP

    def _handle(self, handler: BaseHTTPRequestHandler) -> None:
        parts = urlsplit(handler.path)
        params = parse_qs(parts.query, keep_blank_values=True)
        if handler.command == "POST":
            length = int(handler.headers.get("Content-Length") or 0)
            body = json.loads(handler.rfile.read(length) or b"{}")
            params.update({k: [v if isinstance(v, str) else json.dumps(v)] for k, v in body.items()})
        user, auth = self._authenticate(handler.headers.get("Authorization", ""))
        with self._lock:
            self.requests.append(Request(handler.command, parts.path, params, auth))
            fault = next((f for f in self.faults if parts.path.endswith(f.path)), None)
            if fault is not None:
                fault.times -= 1
                if fault.times <= 0:
                    self.faults.remove(fault)
        if fault is not None:
            if fault.delay:
                time.sleep(fault.delay)
            if fault.status is not None:
                self._send(handler, fault.status, fault.body, fault.headers)
                return
        try:
            status, body, headers = self._route(parts.path, params, user)
        except JqlError as error:
            status, body, headers = 400, errors(str(error)), {}
        self._send(handler, status, body, headers)

    def _authenticate(self, header: str) -> tuple[dict[str, Any] | None, str]:
        scheme, _, value = header.partition(" ")
        if scheme.lower() == "basic":
            try:
                email, _, token = base64.b64decode(value).decode().partition(":")
            except ValueError:
                return None, "basic ?"
            user = next(
                (u for u in self.users if u.get("emailAddress") == email and u.get("_token") == token), None
            )
            return (user if self.mode == "cloud" else None), f"basic {email}"
        if scheme.lower() == "bearer":
            user = next((u for u in self.users if u.get("_token") == value), None)
            return (user if self.mode == "server" else None), "bearer"
        return None, ""

    def _route(
        self, path: str, params: dict[str, list[str]], user: dict[str, Any] | None
    ) -> tuple[int, Any, dict[str, str]]:
        cloud = self.mode == "cloud"
        version, _, endpoint = path.removeprefix("/rest/api/").partition("/")
        known = {"serverInfo", "myself", "user/search", "search"} | ({"search/jql"} if cloud else set())
        known.add("field")  # the field list, on Server/DC and Cloud (v2 and v3)
        versions = ("2", "3") if cloud else ("2", "latest")
        if not path.startswith("/rest/api/") or version not in versions or endpoint not in known:
            return self._not_found(path)
        if cloud and endpoint == "search":  # removed for everyone, signed in or not
            return 410, errors(REMOVED), {}
        if user is None:
            if cloud:
                return 401, errors(CLOUD_401), {}
            return 401, errors(SERVER_401), {"WWW-Authenticate": 'Bearer realm="Jira"'}
        if endpoint == "serverInfo":
            kind = "Cloud" if cloud else "Server"
            numbers = [1001, 0, 0] if cloud else [9, 12, 4]
            info = {"baseUrl": self.url, "version": ".".join(map(str, numbers)), "versionNumbers": numbers}
            return 200, {**info, "deploymentType": kind, "serverTitle": "Jira"}, {}
        if endpoint == "myself":
            return 200, {k: v for k, v in user.items() if not k.startswith("_")}, {}
        if endpoint == "user/search":
            query = (params.get("query") or params.get("username") or [""])[0].lower()
            found = [
                {k: v for k, v in u.items() if not k.startswith("_")}
                for u in self.users
                if query
                and (
                    query in str(u.get("emailAddress", "")).lower()
                    or query in str(u.get("displayName", "")).lower()
                )
            ]
            return 200, found, {}
        if endpoint == "field":
            return 200, copy.deepcopy(self.site_fields), {}
        if endpoint == "search/jql":
            return self._search_jql(params, user)
        return self._search(params, user)

    def _not_found(self, path: str) -> tuple[int, Any, dict[str, str]]:
        if self.mode == "cloud":
            return 404, errors("Not Found"), {}
        return 404, {"message": f"null for uri: {self.url}{path}", "status-code": 404}, {}

    def _fields(self, params: dict[str, list[str]]) -> list[str] | None:
        names = [n.strip() for value in params.get("fields", []) for n in value.split(",") if n.strip()]
        return names or None

    def _shape(self, issue: Issue, fields: list[str] | None, version: str) -> Issue:
        """One search result: only the fields asked for (all navigable ones for ``*all``/``*navigable``)."""
        source = issue.get("fields") or {}
        if fields is None or any(f in ("*all", "*navigable") for f in fields):
            chosen = dict(source)
        else:
            custom = {f.get("id") for f in self.site_fields if f.get("custom")}
            chosen = {name: source.get(name) for name in fields if name in source or name in custom}
        chosen = copy.deepcopy(chosen)
        if version == "3" and isinstance(chosen.get("description"), str):
            chosen["description"] = text_to_adf(chosen["description"])
        if version == "2" and isinstance(chosen.get("description"), dict):
            raise AssertionError("a Server issue with an ADF description: fix the test data")
        return {
            "expand": "operations,versionedRepresentations,editmeta,changelog,renderedFields",
            "id": issue.get("id"),
            "self": f"{self.url}/rest/api/{version}/issue/{issue.get('id')}",
            "key": issue["key"],
            "fields": chosen,
        }

    def _search_jql(
        self, params: dict[str, list[str]], user: dict[str, Any]
    ) -> tuple[int, Any, dict[str, str]]:
        jql = (params.get("jql") or [""])[0]
        found = self.run(jql, user)
        fields = self._fields(params)
        limit = min(int((params.get("maxResults") or ["50"])[0]), self.max_page if fields else 5000)
        offset = 0
        token = (params.get("nextPageToken") or [""])[0]
        if token:
            try:
                state = json.loads(base64.urlsafe_b64decode(token.encode()))
                offset = int(state["offset"])
                assert state["jql"] == jql
            except Exception:
                return 400, errors("The provided next page token is invalid or expired."), {}
        page = found[offset : offset + limit]
        issues = [self._shape(i, fields, "3") if fields else {"id": i.get("id")} for i in page]
        body: dict[str, Any] = {"issues": issues}
        if offset + limit < len(found):
            state = {"offset": offset + limit, "jql": jql}
            body["nextPageToken"] = base64.urlsafe_b64encode(json.dumps(state).encode()).decode()
            body["isLast"] = False
        else:
            body["isLast"] = True
        return 200, body, {}

    def _search(self, params: dict[str, list[str]], user: dict[str, Any]) -> tuple[int, Any, dict[str, str]]:
        jql = (params.get("jql") or [""])[0]
        found = self.run(jql, user)
        start = int((params.get("startAt") or ["0"])[0])
        limit = min(int((params.get("maxResults") or ["50"])[0]), self.max_page)
        fields = self._fields(params)
        page = found[start : start + limit]
        return (
            200,
            {
                "expand": "schema,names",
                "startAt": start,
                "maxResults": limit,
                "total": len(found),
                "issues": [self._shape(i, fields, "2") for i in page],
            },
            {},
        )

    def _send(self, handler: BaseHTTPRequestHandler, status: int, body: Any, headers: dict[str, str]) -> None:
        if isinstance(body, bytes | str):
            data = body.encode() if isinstance(body, str) else body
            kind = "text/html;charset=UTF-8"
        else:
            data = b"" if body is None else json.dumps(body, ensure_ascii=False).encode()
            kind = "application/json;charset=UTF-8"
        try:
            handler.send_response(status)
            handler.send_header("Content-Type", kind)
            handler.send_header("Content-Length", str(len(data)))
            handler.send_header("X-AREQUESTID", f"{len(self.requests)}x1")
            for name, value in headers.items():
                handler.send_header(name, value)
            handler.end_headers()
            handler.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (a timeout test)


def _sort_key(values: list[Any], name: str) -> tuple[Any, ...]:
    if not values:
        return (1,)
    value = values[0]
    if name in ("key", "issuekey"):
        prefix, _, number = str(value).rpartition("-")
        return (0, prefix, int(number) if number.isdigit() else 0)
    if isinstance(value, datetime):
        return (0, value.timestamp())
    return (0, str(value))
