"""Merge requests you merged, merge requests you approved or reviewed and (optionally) issues you closed,
from GitLab (gitlab.com or self-managed), through python-gitlab's GraphQL client.

Configuration::

    [sources.gl]
    type = "gitlab"
    url = "https://gitlab.com"       # or a self-managed instance, e.g. "https://git.acme.io/gitlab"
    token = "env:GITLAB_TOKEN"       # or cmd:/file:; default $GITLAB_TOKEN, then glab's stored token
    username = "ada"                 # default [me.logins] gitlab, else the token's own user
    groups = ["acme"]                # only these groups (their subgroups included) ...
    projects = ["tools/cli"]         # ... and/or these projects (full paths); default: everywhere
    reviews = true                   # merge requests by others that you approved or reviewed
    issues = false                   # issues you closed
    max_wait = 300                   # seconds this source may spend waiting out rate limits
    timeout = 30                     # seconds per request
    # enabled = false                # keep the section but skip it

GitLab is off unless a section of this type is configured. The token needs the ``read_api`` scope (a
``read_user``-only token can read your profile but not GraphQL; GitLab answers it "Invalid token").
Without ``token``: ``$GITLAB_TOKEN``, then ``glab config get token --host HOST`` when glab is installed.

- Endpoint: GraphQL at ``{url}/api/graphql``; REST (``{url}/api/v4``) only for what GraphQL lacks: the
  squash commits of squashed merge requests, telling a wrong token from one without ``read_api``
  (``GET /user``), and ``issues = true``.
- Evidence: ``gitlab:GROUP/PROJECT!IID`` (kind ``merge_request``) for each merge request authored by
  the person and merged in ``[since, until)``, with title, description, web URL, labels, lines and files
  changed (``diffStatsSummary``), source and target branch, draft flag, the SHAs of its first 100
  commits plus its merge and squash commits in ``refs`` (so the git connector's commits join it), and
  the issues its title and description close (GitLab's default closing pattern: ``Closes #12``,
  ``Fixes group/project#3``, an issue URL). ``gitlab-review:GROUP/PROJECT!IID`` (kind ``review``), one
  per other person's merge request merged in the range that the person approved or (GitLab's reviewer
  state) reviewed; its ``refs`` hold the merge request's ``GROUP/PROJECT!IID``.
  ``gitlab-issue:GROUP/PROJECT#IID`` (kind ``issue``) with ``issues = true``: issues the person closed
  in the range (GitLab's ``closed`` events of the person).
- Reviews come from the person's review-requested merge requests (``reviewRequestedMergeRequests``;
  ``Project.mergeRequests(reviewerUsername:)`` when only ``projects`` are set), kept when the person
  approved (``approvedBy``) or reviewed (``mergeRequestInteraction.reviewState``) them: GitLab's GraphQL
  API (16.3) has no approved-by filter (REST's ``approved_by_usernames`` needs Premium, and a REST list
  lacks the other fields), so an approval by someone never requested as a reviewer is not found.
  GitLab gives no approval time: a review is dated by the merge request's merge.
- Cost: every field comes in the list pages themselves (100 merge requests a page, two lists per
  request), no per-merge-request call: N merged merge requests and R review-requested ones take
  ⌈N/100⌉ + ⌈R/100⌉ requests at most, plus one to look up the token's user when no username is
  configured (``bench/gitlab_requests.py`` prints the figures). A range still open at run time is
  split at the start of today (UTC). GitLab 16.3's GraphQL API has no squash commit SHA, so squashed
  merge requests add one REST list (``iids[]``) per project per 100 of them. ``issues = true`` adds
  ⌈E/100⌉ requests for E closed events and one per project they touched.
- Range: GitLab's ``mergedBefore`` takes in the whole day of its timestamp and the REST list ignores
  ``merged_after`` altogether, so the exact half-open range is applied to ``mergedAt`` here, whatever
  the server sends; pages are followed by cursor, never by count (GitLab cuts pages above 100).
- Cache: each window that had ended when it was fetched, and came back complete, is stored in the
  local cache (keyed by url, username, kind, scope and window; never the token), so a rerun of a closed
  range makes no request. The token's username is remembered under a SHA-256 fingerprint of the token.
  ``--refresh`` refetches; ``mine cache clear gitlab`` forgets.
- Faults: 429 (``Retry-After``, ``RateLimit-Reset``, else at least 60 s, doubling) is waited out up to
  ``max_wait`` seconds in total, then the source stops, keeping what it has, and says when to rerun.
  5xx answers, timeouts and broken connections are retried four times with backoff. A query GitLab
  finds too complex (or times out on) is retried with fewer lists per request, then smaller pages.
  401 fails the source saying whether the token was rejected or lacks ``read_api``. A group or project
  that GitLab does not show, or fields GitLab could not resolve, make the source ``partial``.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import shutil
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlsplit, urlunsplit

from impact_miner import __version__
from impact_miner.cache import cached
from impact_miner.errors import ConfigError, SourceError
from impact_miner.hosted import RateLimited, Stop, Unavailable, cli_token, plural, retry_plan
from impact_miner.http_policy import (
    DEFAULT_TIMEOUT,
    Retry,
    WaitBudget,
    backoff,
    call_with_retries,
    reset_after,
    retry_after,
)
from impact_miner.model import Evidence, FetchResult, Person, SourceReport, SourceSection, TimeRange
from impact_miner.options import flag, seconds
from impact_miner.refs import extract_refs
from impact_miner.registry import Connector, FetchContext, Throttle
from impact_miner.text import trim_body

if TYPE_CHECKING:
    import httpx
    import requests

DEFAULT_URL = "https://gitlab.com"
OPTIONS = frozenset(
    {"type", "enabled", "url", "token", "username", "groups", "projects", "reviews", "issues", "max_wait",
     "timeout"}
)  # fmt: skip
DEFAULT_MAX_WAIT = 300.0
CACHE_NAMESPACE = "gitlab"
CACHE_VERSION = 1
PAGE_SIZE = 100  # GitLab's largest page; a larger `first` or `per_page` is cut to it silently
MIN_PAGE_SIZE = 10
LISTS_PER_REQUEST = 2
MIN_RATE_LIMIT_WAIT = 60.0
MICROSECOND = timedelta(microseconds=1)
TOKEN_ENV = "GITLAB_TOKEN"
FIX_TOKEN = (
    "create a personal access token with the read_api scope at {url}/-/user_settings/personal_access_tokens "
    'and set sources.{name}.token (e.g. "env:GITLAB_TOKEN") or export GITLAB_TOKEN'
)
TOO_COMPLEX = re.compile(r"complexity|max depth|timeout|timed out", re.I)

AUTHORED_FRAGMENT = """
fragment AuthoredMergeRequest on MergeRequest {
  iid title description webUrl createdAt mergedAt draft sourceBranch targetBranch
  mergeCommitSha squash commitCount
  author { username }
  mergeUser { username }
  project { fullPath }
  labels(first: 20) { nodes { title } }
  diffStatsSummary { additions deletions fileCount }
  commits(first: 100) { nodes { sha } }
}"""
REVIEWED_FRAGMENT = """
fragment ReviewedMergeRequest on MergeRequest {
  iid title webUrl createdAt mergedAt sourceBranch
  author { username }
  project { fullPath }
  approvedBy(first: 100) { nodes { username } }
  reviewers(first: 100) { nodes { username mergeRequestInteraction { approved reviewState } } }
}"""
FRAGMENTS = {
    "mr": ("AuthoredMergeRequest", AUTHORED_FRAGMENT),
    "review": ("ReviewedMergeRequest", REVIEWED_FRAGMENT),
}
VIEWER_QUERY = "query ImpactMinerViewer { currentUser { username } }"


# ---- configuration -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Settings:
    """A section's options, validated. ``token`` is resolved later, only when a request is needed."""

    name: str
    url: str  # the instance's base URL, without /api/...
    token: str | None = field(default=None, repr=False)
    username: str = ""
    groups: tuple[str, ...] = ()
    projects: tuple[str, ...] = ()
    reviews: bool = True
    issues: bool = False
    max_wait: float = DEFAULT_MAX_WAIT
    timeout: int = DEFAULT_TIMEOUT

    @property
    def host(self) -> str:
        return urlsplit(self.url).netloc.rpartition("@")[2] or "gitlab.com"

    @property
    def graphql_url(self) -> str:
        return f"{self.url}/api/graphql"

    @property
    def scoped(self) -> bool:
        return bool(self.groups or self.projects)

    def in_scope(self, path: str) -> bool:
        """Whether a project's full path is inside the configured groups or projects (or no filter)."""
        if not self.scoped:
            return True
        lowered = path.lower()
        return lowered in (p.lower() for p in self.projects) or any(
            lowered.startswith(g.lower() + "/") for g in self.groups
        )


def base_url(url: str) -> str:
    """The instance URL people open (``https://gitlab.com``, ``https://HOST/relative-root``), without a
    trailing slash or an ``/api/v4`` or ``/api/graphql`` suffix."""
    parts = urlsplit(url.strip())
    path = parts.path.rstrip("/")
    for suffix in ("/api/v4", "/api/graphql"):
        path = path.removesuffix(suffix)
    return urlunsplit((parts.scheme, parts.netloc, path, "", ""))


def settings(section: SourceSection, person: Person | None = None) -> Settings:
    """Validate ``section`` (raises ConfigError naming the key) and return its settings."""
    where = f"sources.{section.name}"
    unknown = sorted(set(section.options) - OPTIONS)
    if unknown:
        known = ", ".join(sorted(OPTIONS - {"type", "enabled"}))
        raise ConfigError(f"{where}: unknown option {unknown[0]!r}; known: {known}")
    url = section.get("url", DEFAULT_URL)
    if (
        not isinstance(url, str)
        or urlsplit(url.strip()).scheme not in ("http", "https")
        or not urlsplit(url.strip()).hostname
    ):
        raise ConfigError(
            f'{where}.url must be an http(s) URL such as "{DEFAULT_URL}" or "https://git.example.com"'
        )
    token = section.get("token")
    if token is not None and (not isinstance(token, str) or not token.strip()):
        raise ConfigError(f'{where}.token must be a non-empty string, e.g. "env:GITLAB_TOKEN"')
    username = section.get("username")
    if username is not None and (not isinstance(username, str) or not USERNAME.fullmatch(username.strip())):
        raise ConfigError(f'{where}.username must be a GitLab username such as "ada"')
    if username is None and person is not None:
        username = person.logins.get("gitlab")
    groups = _paths(section, "groups", minimum=1)
    projects = _paths(section, "projects", minimum=2)
    return Settings(
        name=section.name,
        url=base_url(url),
        token=token.strip() if isinstance(token, str) else None,
        username=(username or "").strip().lstrip("@"),
        groups=groups,
        projects=projects,
        reviews=flag(section, "reviews", True),
        issues=flag(section, "issues", False),
        max_wait=seconds(section, "max_wait", DEFAULT_MAX_WAIT, minimum=0),
        timeout=int(seconds(section, "timeout", DEFAULT_TIMEOUT, minimum=1)),
    )


USERNAME = re.compile(r"@?[A-Za-z0-9_.][A-Za-z0-9_.-]*")
PATH_PART = re.compile(r"[A-Za-z0-9_.][A-Za-z0-9_.-]*")


def _paths(section: SourceSection, key: str, *, minimum: int) -> tuple[str, ...]:
    """Full paths such as ``acme`` or ``acme/platform/api`` (at least ``minimum`` parts)."""
    value = section.get(key, [])
    values = [value] if isinstance(value, str) else value
    example = '["acme/api"]' if key == "projects" else '["acme", "acme/platform"]'
    valid = isinstance(values, list) and all(
        isinstance(v, str)
        and len(v.strip().strip("/").split("/")) >= minimum
        and all(PATH_PART.fullmatch(part) for part in v.strip().strip("/").split("/"))
        for v in values
    )
    if not valid:
        raise ConfigError(f"sources.{section.name}.{key} must be a list of full paths like {key} = {example}")
    return tuple(dict.fromkeys(v.strip().strip("/") for v in values))


def check(section: SourceSection) -> None:
    """Validate the section's options; makes no request and reads no token."""
    settings(section)


def resolve_token(
    config: Settings,
    env: Mapping[str, str],
    which: Callable[[str], str | None] = shutil.which,
) -> str:
    """The token: the section's, else ``$GITLAB_TOKEN``, else glab's stored token for the host."""
    if config.token:
        return config.token
    if env.get(TOKEN_ENV, "").strip():
        return env[TOKEN_ENV].strip()
    glab = which("glab")
    token = cli_token([glab, "config", "get", "token", "--host", config.host], env) if glab else ""
    if token:
        return token
    raise SourceError(
        f"no GitLab token for sources.{config.name}: {FIX_TOKEN.format(url=config.url, name=config.name)}, "
        f"or log in with `glab auth login --hostname {config.host}`"
    )


# ---- requests ----------------------------------------------------------------------------------------



class NotFound(SourceError):
    """GitLab answered 404: a wrong ``url`` for GraphQL, a project gone or hidden for REST."""


class Client:
    """GraphQL through python-gitlab's ``GraphQL`` client (REST through ``Gitlab`` where needed), counting
    requests, waiting out rate limits and retrying transient failures.

    python-gitlab's own retries are off (they sleep without bound and cannot be injected; the retries are
    :mod:`impact_miner.http_policy`'s, every wait bounded by ``max_wait`` in total), and every answer's
    status is taken from the HTTP layer itself: gql turns a JSON error body of any status into a query
    error, and, where ``httpx2`` is installed, lets a non-JSON 4xx/5xx escape as a plain
    ``httpx.HTTPStatusError``, so python-gitlab's own mapping of 401/429/5xx does not fire reliably.
    """

    def __init__(
        self,
        config: Settings,
        token: str,
        *,
        now: datetime,
        sleep: Callable[[float], None],
        throttle: Throttle | None = None,
        check_cancelled: Callable[[], None] | None = None,
    ) -> None:
        import httpx

        import gitlab

        self.config = config
        self.requests = 0
        self.budget = WaitBudget(config.max_wait, start=now)
        self._token = token
        self._sleep = sleep
        self._throttle = throttle  # shared by the workers of a batch (`mine team`)
        self._check_cancelled = check_cancelled
        self._last: tuple[int, dict[str, str]] | None = None
        self._user_agent = f"impact-miner/{__version__}"
        self._http = httpx.Client(
            headers={"Authorization": f"Bearer {token}", "User-Agent": self._user_agent},
            timeout=config.timeout,
            event_hooks={"response": [self._saw_httpx]},
        )
        self._graphql = gitlab.GraphQL(
            config.url,
            client=self._http,
            timeout=config.timeout,
            max_retries=0,
            obey_rate_limit=False,
            retry_transient_errors=False,
        )
        self._rest: Any = None

    def close(self) -> None:
        self._http.close()

    def _saw_httpx(self, response: httpx.Response) -> None:
        self._last = (response.status_code, {k.lower(): v for k, v in response.headers.items()})

    def _saw_requests(self, response: requests.Response, *_args: Any, **_kwargs: Any) -> None:
        self._last = (response.status_code, {k.lower(): v for k, v in response.headers.items()})

    def _gitlab(self) -> Any:
        """python-gitlab's REST client (built on first use; building it makes no request)."""
        if self._rest is None:
            import requests

            import gitlab

            session = requests.Session()
            session.hooks["response"].append(self._saw_requests)
            self._rest = gitlab.Gitlab(
                self.config.url,
                oauth_token=self._token,
                timeout=self.config.timeout,
                session=session,
                user_agent=self._user_agent,
                retry_transient_errors=False,
            )
        return self._rest

    # the two kinds of request

    def graphql(self, text: str) -> dict[str, Any]:
        """The response document (``data`` and maybe ``errors``) of one GraphQL query, after retries."""

        def call() -> Any:
            from gql.transport.exceptions import TransportQueryError

            try:
                return {"data": self._graphql.execute(text)}
            except TransportQueryError as exc:
                return {"data": exc.data, "errors": [e for e in exc.errors or [] if isinstance(e, dict)]}

        body = self._attempt(call, self.config.graphql_url)
        if not isinstance(body, dict) or not isinstance(body.get("data"), dict | None):
            raise SourceError(self._not_gitlab())
        return body

    def rest(self, path: str, query: Mapping[str, Any]) -> tuple[Any, dict[str, str]]:
        """``(JSON, headers)`` of one REST GET under ``/api/v4``, after retries."""

        def call() -> Any:
            response = self._gitlab().http_request(
                "get", path, query_data=dict(query),
                obey_rate_limit=False, retry_transient_errors=False, max_retries=0,
            )  # fmt: skip
            return response.json()

        body = self._attempt(call, f"{self.config.url}/api/v4{path}")
        return body, dict(self._last[1] if self._last else {})

    # retries and verdicts

    def _attempt(self, call: Callable[[], Any], where: str) -> Any:
        return call_with_retries(
            lambda: self._once(call, where),
            self._plan(),
            sleep=self._sleep,
            budget=self.budget,
            throttle=self._throttle,
            source=self.config.name,
            check_cancelled=self._check_cancelled,
        )

    def _once(self, call: Callable[[], Any], where: str) -> Any:
        """One request; raises RateLimited or Unavailable for what is worth another attempt."""
        self.requests += 1
        self._last = None
        failure: Exception | None = None
        body: Any = None
        try:
            body = call()
        except Exception as exc:  # python-gitlab, gql, httpx and requests each raise their own
            failure = exc
        status, headers = self._last or (0, dict[str, str]())
        if failure is not None and (status == 0 or _network_error(failure)):
            timeout = _timed_out(failure)
            reason = (
                f"no answer from {where} within {self.config.timeout} s"
                if timeout
                else f"cannot talk to {where} ({type(_transport_error(failure)).__name__})"
            )
            raise Unavailable(reason, timeout=timeout)
        if status == 401:
            raise SourceError(self._rejected(where, failure, body))
        if status == 429:
            raise RateLimited(headers)
        if status >= 500:
            raise Unavailable(f"GitLab answered {status} at {where}")
        if status == 403:
            raise SourceError(self._forbidden(failure, body))
        if status == 404:
            raise NotFound(self._not_gitlab(status))
        if 300 <= status < 400 and headers.get("location"):
            raise SourceError(
                f"{where} redirects to {headers['location']}; set sources.{self.config.name}.url to the "
                "instance's address there"
            )
        if failure is not None or status >= 400:
            raise SourceError(self._not_gitlab(status))
        return body

    def _plan(self) -> Callable[[Exception], Retry | None]:
        return retry_plan(self.config.name, self.budget, rate_limit_wait)

    def _rejected(self, where: str, failure: Exception | None, body: Any) -> str:
        """Why GitLab answered 401: a token it does not know, or one without read_api (GraphQL answers a
        read_user-only token "Invalid token" too; ``GET /user`` tells them apart)."""
        fix = FIX_TOKEN.format(url=self.config.url, name=self.config.name)
        if where == self.config.graphql_url:
            verdict = self._probe_user()
            if verdict in (200, 403):
                return (
                    f"the token of sources.{self.config.name} lacks the read_api scope (GitLab answers a "
                    f'read_user-only token "Invalid token"): {fix}'
                )
        message = _gitlab_message(failure, body)
        said = f" ({message})" if message else ""
        return f"token rejected by GitLab{said} (sources.{self.config.name}): {fix}"

    def _probe_user(self) -> int:
        """The status of ``GET /api/v4/user`` (one request, no retries); 0 when it could not be made."""
        if self._throttle is not None:
            self._throttle.wait(self.config.name)
        self.requests += 1
        self._last = None
        with contextlib.suppress(Exception):  # the status is what matters here
            self._gitlab().http_request("get", "/user", obey_rate_limit=False, max_retries=0)
        return self._last[0] if self._last else 0

    def _forbidden(self, failure: Exception | None, body: Any) -> str:
        message = _gitlab_message(failure, body)
        fix = FIX_TOKEN.format(url=self.config.url, name=self.config.name)
        if "insufficient_scope" in message or "scope" in message.lower():
            return f"the token of sources.{self.config.name} lacks the read_api scope: {fix}"
        said = f": {message}" if message else ""
        return f"GitLab refused the request (403{said}) for sources.{self.config.name}"

    def _not_gitlab(self, status: int = 200) -> str:
        return (
            f"{self.config.graphql_url} did not answer like GitLab's API ({status}); check "
            f'sources.{self.config.name}.url (the instance\'s address, e.g. "{DEFAULT_URL}")'
        )




def _chain(exc: BaseException) -> list[BaseException]:
    found: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in found:
        found.append(current)
        current = current.__cause__ or current.__context__
    return found


def _network_kinds() -> tuple[type[BaseException], ...]:
    import httpx
    import requests

    return (httpx.TransportError, requests.exceptions.ConnectionError, requests.exceptions.Timeout,
            requests.exceptions.ChunkedEncodingError)  # fmt: skip


def _network_error(exc: BaseException) -> bool:
    """A timeout or a refused, reset or broken connection (from httpx, requests or gql)."""
    from gql.transport.exceptions import TransportConnectionFailed

    return any(isinstance(e, (*_network_kinds(), TransportConnectionFailed)) for e in _chain(exc))


def _transport_error(exc: BaseException) -> BaseException:
    """The HTTP library's own exception in ``exc``'s chain (``ConnectError``, ``ReadTimeout``...)."""
    return next((e for e in _chain(exc) if isinstance(e, _network_kinds())), _chain(exc)[-1])


def _timed_out(exc: BaseException) -> bool:
    import httpx
    import requests

    return any(isinstance(e, httpx.TimeoutException | requests.exceptions.Timeout) for e in _chain(exc))


def _gitlab_message(failure: Exception | None, body: Any) -> str:
    """GitLab's own words: a GraphQL error message, or REST's ``message``/``error``."""
    if isinstance(body, dict):
        errors = body.get("errors")
        if isinstance(errors, list) and errors and isinstance(errors[0], dict):
            return str(errors[0].get("message", ""))
    for exc in _chain(failure) if failure is not None else []:
        errors = getattr(exc, "errors", None)
        if isinstance(errors, list) and errors and isinstance(errors[0], dict):
            return str(errors[0].get("message", ""))
        message = getattr(exc, "error_message", None)
        if message:
            return message.decode(errors="replace") if isinstance(message, bytes) else str(message)
    return ""



def rate_limit_wait(headers: Mapping[str, str], now: datetime, attempt: int) -> float:
    """Seconds to wait: ``Retry-After`` (seconds or a date), else until ``RateLimit-Reset`` (epoch
    seconds), else ≥ 60 s doubling with each consecutive limit."""
    asked = retry_after(headers, now)
    if asked is not None:
        return asked
    reset = reset_after(headers, now, "RateLimit-Reset")
    if reset is not None:
        return reset
    return backoff(attempt, first=MIN_RATE_LIMIT_WAIT)


# ---- list slices -------------------------------------------------------------------------------------


@dataclass
class Slice:
    """One merge-request list over one window ``member = [since, until)`` of merge times.

    ``kind`` is ``mr`` (authored) or ``review`` (review-requested); ``scope`` is ``("user", "")`` (the
    person's own lists, across every project), ``("group", PATH)`` or ``("project", PATH)``.
    """

    kind: str
    scope: tuple[str, str]
    member: tuple[datetime, datetime]
    cursor: str | None = None
    nodes: list[dict[str, Any]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    done: bool = False
    evidence: list[Evidence] | None = None

    @property
    def complete(self) -> bool:
        return self.done and not self.problems


def _stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _literal(value: str) -> str:
    """A GraphQL string literal (JSON's string syntax is GraphQL's)."""
    import json

    return json.dumps(value)


def list_field(item: Slice, username: str, page_size: int) -> tuple[str, str]:
    """``(root field, list field)`` for one page of ``item``: values inlined as literals, so that no
    variables are needed (gql 4 deprecates passing them beside the document)."""
    since, until = item.member
    # mergedBefore takes in the whole day of its timestamp on GitLab; a microsecond before `until` is the
    # exact end under `merged_at <= x` and no less than the range under the whole-day reading.
    arguments = [
        "state: merged",
        f"mergedAfter: {_literal(_stamp(since))}",
        f"mergedBefore: {_literal(_stamp(until - MICROSECOND))}",
        "sort: MERGED_AT_ASC",
        f"first: {page_size}",
    ]
    if item.cursor:
        arguments.append(f"after: {_literal(item.cursor)}")
    where, path = item.scope
    if where == "user":
        root = f"user(username: {_literal(username)})"
        name = "authoredMergeRequests" if item.kind == "mr" else "reviewRequestedMergeRequests"
    elif where == "group":
        root = f"group(fullPath: {_literal(path)})"
        name = "mergeRequests"
        arguments[:0] = [
            f"authorUsername: {_literal(username)}",
            "includeSubgroups: true",
            "includeArchived: true",
        ]
    else:
        root = f"project(fullPath: {_literal(path)})"
        name = "mergeRequests"
        person = "authorUsername" if item.kind == "mr" else "reviewerUsername"
        arguments.insert(0, f"{person}: {_literal(username)}")
    return root, f"{name}({', '.join(arguments)})"


def page_query(batch: list[Slice], username: str, page_size: int) -> str:
    """One GraphQL request holding the next page of every slice in ``batch`` (aliases s0, s1, ...)."""
    fields, fragments = [], {}
    for i, item in enumerate(batch):
        name, fragment = FRAGMENTS[item.kind]
        fragments[name] = fragment
        root, listing = list_field(item, username, page_size)
        fields.append(
            f"  s{i}: {root} {{\n    page: {listing} {{\n"
            f"      pageInfo {{ hasNextPage endCursor }}\n      nodes {{ ...{name} }}\n    }}\n  }}"
        )
    return "query ImpactMinerMergeRequests {\n" + "\n".join(fields) + "\n}" + "".join(fragments.values())


# ---- evidence from nodes -----------------------------------------------------------------------------

ISSUE_REF = r"(?:https?://[^\s/]+(?:/[\w.-]+)+?/-/(?:issues|work_items)/\d+|(?:[\w.-]+(?:/[\w.-]+)+)?#\d+)"
# GitLab's default issue_closing_pattern (gitlab.yml), with its issue reference spelled out.
CLOSING = re.compile(
    r"\b(?:[Cc]los(?:e[sd]?|ing)|\b[Ff]ix(?:e[sd]|ing)?|\b[Rr]esolv(?:e[sd]?|ing)|\b[Ii]mplement(?:s|ed|ing)?)"
    rf":? +((?:(?:issues? +)?{ISSUE_REF}(?:(?: *,? +and +| *,? *)?))+)"
)
ONE_ISSUE = re.compile(
    r"https?://[^\s/]+/((?:[\w.-]+/)*?[\w.-]+)/-/(?:issues|work_items)/(\d+)|((?:[\w.-]+/)+[\w.-]+)?#(\d+)"
)


def closing_issues(text: str, project: str) -> list[str]:
    """Issues that ``text`` closes by GitLab's closing pattern, as ``group/project#N``."""
    found: list[str] = []
    for match in CLOSING.finditer(text):
        for url_path, url_number, path, number in ONE_ISSUE.findall(match.group(1)):
            if url_path:
                found.append(f"{url_path}#{url_number}")
            else:
                found.append(f"{path or project}#{number}")
    return list(dict.fromkeys(found))


def gitlab_refs(text: str, project: str) -> list[str]:
    """Ticket keys and issue references (``extract_refs``) plus GitLab's own: merge requests as
    ``group/project!N`` (from ``!N``, ``path!N`` and merge-request URLs) and subgroup issues
    ``group/sub/project#N``."""
    return extract_refs(text, project)


def _when(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    moment = datetime.fromisoformat(value)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _nodes(connection: Any) -> list[dict[str, Any]]:
    return [n for n in _dict(connection).get("nodes") or [] if isinstance(n, dict)]


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _path(node: Mapping[str, Any]) -> str:
    return str(_dict(node.get("project")).get("fullPath") or "")


def _username(user: Any) -> str:
    """A username as people see it; ``ghost`` for a deleted account."""
    return str(_dict(user).get("username") or "ghost")


def merge_request_evidence(node: Mapping[str, Any]) -> Evidence | None:
    """A merged merge request as evidence, or None when the node is not one."""
    merged_at, path = _when(node.get("mergedAt")), _path(node)
    if merged_at is None or not path or not str(node.get("iid") or "").isdigit():
        return None
    iid = int(str(node["iid"]))
    title, body = str(node.get("title") or ""), trim_body(str(node.get("description") or ""))
    branch, target = str(node.get("sourceBranch") or ""), str(node.get("targetBranch") or "")
    text = f"{title}\n{branch}\n{body}"
    closing = closing_issues(f"{title}\n{body}", path)
    shas = [str(c["sha"]) for c in _nodes(node.get("commits")) if c.get("sha")]
    merge_sha = str(node.get("mergeCommitSha") or "") or None
    squash_sha = str(node.get("squashCommitSha") or "") or None
    stats = _dict(node.get("diffStatsSummary"))
    refs = gitlab_refs(text, path) + closing + shas + [s for s in (merge_sha, squash_sha) if s]
    return Evidence(
        id=f"gitlab:{path}!{iid}",
        source="gitlab",
        kind="merge_request",
        title=title,
        url=str(node.get("webUrl") or ""),
        completed_at=merged_at,
        body=body,
        author=_username(node.get("author")),
        repo=path,
        created_at=_when(node.get("createdAt")),
        refs=list(dict.fromkeys(r for r in refs if r != f"{path}!{iid}")),
        labels=[str(label["title"]) for label in _nodes(node.get("labels")) if label.get("title")],
        additions=_int(stats.get("additions")),
        deletions=_int(stats.get("deletions")),
        files=_int(stats.get("fileCount")),
        extra={
            "number": iid,
            "reference": f"{path}!{iid}",
            "branch": branch,
            "target_branch": target,
            "draft": bool(node.get("draft")),
            "commits": _int(node.get("commitCount")),
            "merged_by": _dict(node.get("mergeUser")).get("username"),
            "linked_issues": closing,
            "shas": shas,
            "merge_commit": merge_sha,
            "squash_commit": squash_sha,
        },
    )


def review_evidence(node: Mapping[str, Any], username: str) -> Evidence | None:
    """Another person's merged merge request that ``username`` approved or reviewed, as one review."""
    merged_at, path = _when(node.get("mergedAt")), _path(node)
    if merged_at is None or not path or not str(node.get("iid") or "").isdigit():
        return None
    me = username.lower()
    author = _username(node.get("author"))
    if author.lower() == me:
        return None
    approved = any(_username(u).lower() == me for u in _nodes(node.get("approvedBy")))
    mine = [r for r in _nodes(node.get("reviewers")) if _username(r).lower() == me]
    interaction = _dict(mine[0].get("mergeRequestInteraction")) if mine else {}
    approved = approved or interaction.get("approved") is True
    reviewed = interaction.get("reviewState") == "REVIEWED"
    if not (approved or reviewed):
        return None
    states = (["APPROVED"] if approved else []) + (["REVIEWED"] if reviewed else [])
    iid, title = int(str(node["iid"])), str(node.get("title") or "")
    branch, locator, url = str(node.get("sourceBranch") or ""), f"{path}!{iid}", str(node.get("webUrl") or "")
    return Evidence(
        id=f"gitlab-review:{locator}",
        source="gitlab",
        kind="review",
        title=f"Review of {title}",
        url=url,
        completed_at=merged_at,
        author=username,
        repo=path,
        refs=list(dict.fromkeys([*extract_refs(f"{title}\n{branch}", path), locator])),
        extra={
            "number": iid,
            "reference": locator,
            "state": states[0],
            "states": states,
            "reviews": 1,
            "pr_author": author,
            "pr_title": title,
            "pr_url": url,
            "pr_created_at": node.get("createdAt"),
        },
    )


def issue_evidence(issue: Mapping[str, Any], closed_at: datetime) -> Evidence | None:
    """An issue (REST shape) that the person closed at ``closed_at``."""
    reference = str(_dict(issue.get("references")).get("full") or "")
    path, _, number = reference.rpartition("#")
    if not path or not number.isdigit():
        return None
    title, body = str(issue.get("title") or ""), trim_body(str(issue.get("description") or ""))
    return Evidence(
        id=f"gitlab-issue:{path}#{number}",
        source="gitlab",
        kind="issue",
        title=title,
        url=str(issue.get("web_url") or ""),
        completed_at=closed_at,
        body=body,
        author=_username(issue.get("author")),
        repo=path,
        created_at=_when(issue.get("created_at")),
        refs=[r for r in gitlab_refs(f"{title}\n{body}", path) if r != f"{path}#{number}"],
        labels=[str(label) for label in issue.get("labels") or [] if isinstance(label, str)],
        extra={
            "number": int(number),
            "state": issue.get("state"),
            "closed_by": _dict(issue.get("closed_by")).get("username"),
        },
    )


# ---- the run -----------------------------------------------------------------------------------------


class Run:
    """One fetch: the username, the slices, the paging, the cache, and the coverage line."""

    def __init__(
        self,
        config: Settings,
        time_range: TimeRange,
        context: FetchContext,
        env: Mapping[str, str],
    ) -> None:
        self.config = config
        self.range = time_range
        self.context = context
        self.env = env
        self.username = config.username
        self.token: str | None = None
        self.client: Client | None = None
        self.cache_hits = 0
        self.lists_per_request = LISTS_PER_REQUEST
        self.page_size = PAGE_SIZE
        self.notes: list[str] = []

    # requests

    def _token(self) -> str:
        if self.token is None:
            self.token = resolve_token(self.config, self.env)
        return self.token

    def _client(self) -> Client:
        if self.client is None:
            self.client = Client(
                self.config,
                self._token(),
                now=self.context.now,
                sleep=self.context.sleep,
                throttle=self.context.throttle,
                check_cancelled=self.context.check_cancelled,
            )
        return self.client

    @property
    def requests(self) -> int:
        return self.client.requests if self.client else 0

    def _progress(self) -> None:
        if self.context.progress:
            self.context.progress(f"{self.config.name}: {plural(self.requests, 'GitLab request')}")

    def _viewer(self) -> str:
        """The token's own username (remembered under the token's SHA-256 fingerprint, never the token)."""
        fingerprint = hashlib.sha256(self._token().encode()).hexdigest()
        key = {"v": CACHE_VERSION, "what": "viewer", "url": self.config.url, "token_sha256": fingerprint}

        def ask() -> dict[str, str]:
            body = self._client().graphql(VIEWER_QUERY)
            viewer = _dict(_dict(body.get("data")).get("currentUser"))
            return {"username": str(viewer.get("username") or "")}

        found = cached(
            self.context.cache, CACHE_NAMESPACE, key, ask, storable=lambda v: bool(v.get("username"))
        )
        if not found.get("username"):
            raise SourceError(
                f"GitLab did not say whose token sources.{self.config.name}.token is; set "
                f"sources.{self.config.name}.username or [me.logins] gitlab"
            )
        return str(found["username"])

    # slices

    def roots(self) -> list[Slice]:
        """One slice per kind, scope and part of the range (a range still open is split at today)."""
        since, until = self.range.since, self.range.until
        today = self.context.now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
        parts = [(since, today), (today, until)] if since < today < until else [(since, until)]
        config = self.config
        authored: list[tuple[str, str]] = [("group", g) for g in config.groups]
        authored += [("project", p) for p in config.projects]
        reviewed: list[tuple[str, str]] = (
            [("project", p) for p in config.projects] if config.projects and not config.groups else []
        )
        kinds = [("mr", authored or [("user", "")])]
        if config.reviews:
            kinds.append(("review", reviewed or [("user", "")]))
        return [Slice(kind, scope, part) for kind, scopes in kinds for scope in scopes for part in parts]

    def _key(self, item: Slice) -> dict[str, Any]:
        """What a slice is stored under: source, identity, kind, scope, filters and its window."""
        window = [item.member[0].isoformat(), item.member[1].isoformat()]
        filters = [list(self.config.groups), list(self.config.projects)] if item.scope[0] == "user" else []
        return {"v": CACHE_VERSION, "what": "list", "url": self.config.url,
                "username": self.username.lower(), "kind": item.kind, "scope": list(item.scope),
                "filters": filters, "window": window}  # fmt: skip

    def _closed(self, window: tuple[datetime, datetime]) -> bool:
        return window[1] <= self.context.now

    def _load(self, key: Mapping[str, Any]) -> list[Evidence] | None:
        if self.context.cache is None:
            return None
        value = self.context.cache.get(CACHE_NAMESPACE, key)
        if not isinstance(value, dict) or not isinstance(value.get("evidence"), list):
            return None
        self.cache_hits += 1
        return [Evidence.from_dict(d) for d in value["evidence"]]

    def _store(
        self, key: Mapping[str, Any], window: tuple[datetime, datetime], items: list[Evidence]
    ) -> None:
        if self.context.cache is not None and self._closed(window):
            self.context.cache.put(CACHE_NAMESPACE, key, {"evidence": [e.to_dict() for e in items]})

    def _convert(self, item: Slice) -> list[Evidence]:
        since, until = item.member
        found: list[Evidence] = []
        for node in item.nodes:
            if item.kind == "mr":
                evidence = merge_request_evidence(node)
                if evidence and evidence.author.lower() != self.username.lower():
                    evidence = None  # a list that ignored its author filter
            else:
                evidence = review_evidence(node, self.username)
            if evidence and since <= evidence.completed_at < until and self.config.in_scope(evidence.repo):
                found.append(evidence)
        return found

    def _finish(self, item: Slice) -> None:
        item.done = True

    def squash_commits(self, fetched: list[Slice]) -> None:
        """Fill in the squash commit of every squashed merge request in ``fetched``: GitLab's GraphQL API
        (16.3) has no such field, so one REST list per project (``iids[]``, 100 a page) gives them."""
        wanted: dict[str, dict[int, list[tuple[Slice, dict[str, Any]]]]] = {}
        for item in fetched:
            since, until = item.member
            for node in item.nodes if item.kind == "mr" else []:
                merged_at, number = _when(node.get("mergedAt")), str(node.get("iid") or "")
                if node.get("squash") and merged_at and since <= merged_at < until and number.isdigit():
                    wanted.setdefault(_path(node), {}).setdefault(int(number), []).append((item, node))
        for path, by_iid in sorted(wanted.items()):
            numbers = sorted(by_iid)
            for start in range(0, len(numbers), PAGE_SIZE):
                chunk = numbers[start : start + PAGE_SIZE]
                try:
                    found, _ = self._client().rest(
                        f"/projects/{quote(path, safe='')}/merge_requests",
                        {"iids[]": chunk, "state": "merged", "per_page": PAGE_SIZE},
                    )
                except NotFound:
                    found = []
                self._progress()
                shas = {m.get("iid"): m.get("squash_commit_sha") for m in found if isinstance(m, dict)}
                for iid in chunk:
                    for item, node in by_iid[iid]:
                        if shas.get(iid):
                            node["squashCommitSha"] = str(shas[iid])
                        elif iid not in shas:
                            item.problems.append(
                                f"GitLab did not give the squash commit of {path}!{iid}; its squashed commit "
                                "may not join it"
                            )

    def page(self, active: list[Slice]) -> None:
        """Fetch every slice to its last page, up to ``lists_per_request`` lists per request; a query that
        GitLab finds too complex is retried with fewer lists per request, then with smaller pages."""
        while active:
            batch = active[: self.lists_per_request]
            body = self._client().graphql(page_query(batch, self.username, self.page_size))
            self._progress()
            errors = [e for e in body.get("errors") or [] if isinstance(e, dict)]
            data = body.get("data")
            unrouted = [e for e in errors if not e.get("path")]
            heavy = next(
                (str(e.get("message")) for e in unrouted if TOO_COMPLEX.search(str(e.get("message")))), ""
            )
            if heavy and not any(_dict(data).values()):
                self._lighten(heavy)
                continue
            if not isinstance(data, dict):
                reason = str(errors[0].get("message", "no data")) if errors else "no data"
                raise Stop(f"GitLab answered the query with an error: {reason}")
            for i, item in enumerate(batch):
                alias = f"s{i}"
                routed = [e for e in errors if (e.get("path") or [None])[0] == alias]
                self._take_page(item, data.get(alias), routed + unrouted)
                if item.done:
                    active.remove(item)

    def _lighten(self, message: str) -> None:
        if self.lists_per_request > 1:
            self.lists_per_request = 1
        elif self.page_size > MIN_PAGE_SIZE:
            self.page_size = max(MIN_PAGE_SIZE, self.page_size // 2)
        else:
            raise Stop(
                f"GitLab rejects the query even with {self.page_size} merge requests a page ({message})"
            )
        if not self.notes:  # GitLab's first words are enough; later ones only differ in the score
            self.notes.append(f"GitLab found the query too heavy ({message}); asked for less per request")

    def _take_page(self, item: Slice, result: Any, errors: list[dict[str, Any]]) -> None:
        """Add one page to ``item``; finish it on its last page."""
        for error in errors:
            item.problems.append(
                f"GitLab could not resolve {_error_path(error)}: {error.get('message', 'error')}"
            )
        if not isinstance(result, dict):
            where, path = item.scope
            if where == "user":
                raise SourceError(
                    f"GitLab has no user {self.username!r} (sources.{self.config.name}); set "
                    f"sources.{self.config.name}.username or [me.logins] gitlab to your GitLab username"
                )
            if not errors:
                option = "groups" if where == "group" else "projects"
                item.problems.append(
                    f"GitLab shows no {where} {path!r} to this token; "
                    f"check sources.{self.config.name}.{option}"
                )
            self._finish(item)
            return
        connection = _dict(result.get("page"))
        item.nodes += [n for n in connection.get("nodes") or [] if isinstance(n, dict)]
        if len(connection.get("nodes") or []) > len(_nodes(connection)):
            item.problems.append(f"GitLab left out merge requests from a page of {self._describe(item)}")
        page = _dict(connection.get("pageInfo"))
        if page.get("hasNextPage") and page.get("endCursor") and page.get("endCursor") != item.cursor:
            item.cursor = str(page["endCursor"])
        else:
            if page.get("hasNextPage"):
                item.problems.append(f"GitLab gave no cursor to the next page of {self._describe(item)}")
            self._finish(item)

    def _describe(self, item: Slice) -> str:
        what = "merged merge requests" if item.kind == "mr" else "review-requested merge requests"
        where = "" if item.scope[0] == "user" else f" in {item.scope[0]} {item.scope[1]}"
        return f"{self.username}'s {what}{where}"

    # issues (REST: the person's `closed` events, then the issues of each project they touched)

    def issues(self, part: tuple[datetime, datetime], problems: list[str]) -> list[Evidence]:
        filters = [list(self.config.groups), list(self.config.projects)]
        key = {"v": CACHE_VERSION, "what": "issues", "url": self.config.url,
               "username": self.username.lower(), "filters": filters,
               "window": [part[0].isoformat(), part[1].isoformat()]}  # fmt: skip
        hit = self._load(key)
        if hit is not None:
            return hit
        since, until = part
        client = self._client()
        closed: dict[int, dict[int, datetime]] = {}
        page: int | None = 1
        while page:
            events, headers = client.rest(
                f"/users/{quote(self.username, safe='')}/events",
                {"action": "closed", "target_type": "issue", "sort": "asc", "per_page": PAGE_SIZE,
                 "page": page,
                 "after": (since.astimezone(UTC).date() - timedelta(days=1)).isoformat(),
                 "before": (until.astimezone(UTC).date() + timedelta(days=1)).isoformat()},
            )  # fmt: skip
            self._progress()
            for event in events if isinstance(events, list) else []:
                when = _when(_dict(event).get("created_at"))
                project, iid = event.get("project_id"), event.get("target_iid")
                if when and since <= when < until and isinstance(project, int) and isinstance(iid, int):
                    closed.setdefault(project, {})[iid] = max(when, closed.get(project, {}).get(iid, when))
            following = headers.get("x-next-page", "").strip()
            page = int(following) if following.isdigit() else None
        found: list[Evidence] = []
        complete = True
        for project, iids in sorted(closed.items()):
            numbers = sorted(iids)
            for start in range(0, len(numbers), PAGE_SIZE):
                chunk = numbers[start : start + PAGE_SIZE]
                try:
                    issues, _ = client.rest(
                        f"/projects/{project}/issues",
                        {"iids[]": chunk, "per_page": PAGE_SIZE, "scope": "all"},
                    )
                except NotFound:
                    problems.append(
                        f"GitLab shows no project {project} (closed issues {chunk}) to this token"
                    )
                    complete = False
                    continue
                self._progress()
                for issue in issues if isinstance(issues, list) else []:
                    iid = _dict(issue).get("iid")
                    evidence = issue_evidence(issue, iids[iid]) if iid in iids else None
                    if evidence and self.config.in_scope(evidence.repo):
                        found.append(evidence)
        if complete:
            self._store(key, part, found)
        return found

    # the whole fetch

    def parts(self) -> list[tuple[datetime, datetime]]:
        return sorted({item.member for item in self.roots()})

    def execute(self) -> FetchResult:
        try:
            return self._execute()
        finally:
            if self.client is not None:
                self.client.close()

    def _execute(self) -> FetchResult:
        if not self.username:
            self.username = self._viewer()
        roots = self.roots()
        pending: deque[Slice] = deque()
        for item in roots:
            hit = self._load(self._key(item))
            if hit is None:
                pending.append(item)
            else:
                item.evidence, item.done = hit, True
        stopped: Stop | None = None
        issue_problems: list[str] = []
        issues: list[Evidence] = []
        try:
            self.page(list(pending))
            self.squash_commits(list(pending))
            for item in pending:
                item.evidence = self._convert(item)
                if item.complete:
                    self._store(self._key(item), item.member, item.evidence)
            if self.config.issues:
                for part in self.parts():
                    issues += self.issues(part, issue_problems)
        except Stop as exc:
            stopped = exc
        evidence: dict[str, Evidence] = {}
        for item in roots:
            for found in item.evidence if item.evidence is not None else self._convert(item):
                evidence.setdefault(found.id, found)
        for found in issues:
            evidence.setdefault(found.id, found)
        for found in evidence.values():
            found.extra["source_name"] = self.config.name
        problems = list(dict.fromkeys([p for item in roots for p in item.problems] + issue_problems))
        if stopped is not None:
            if not evidence:
                raise stopped
            problems.insert(0, f"stopped: {stopped}")
        items = list(evidence.values())
        report = SourceReport(
            source=self.config.name,
            status="partial" if problems else "ok",
            items=len(items),
            detail="; ".join([self._summary(items), *problems, *self.notes]),
            type="gitlab",
        )
        return FetchResult(evidence=items, report=report, identities=[self.username])

    def _summary(self, items: Iterable[Evidence]) -> str:
        kinds = {kind: 0 for kind in ("merge_request", "review", "issue")}
        for item in items:
            kinds[item.kind] = kinds.get(item.kind, 0) + 1
        parts = [f"{plural(kinds['merge_request'], 'merge request')} merged"]
        if self.config.reviews:
            parts.append(f"{kinds['review']} reviewed")
        if self.config.issues:
            parts.append(f"{plural(kinds['issue'], 'issue')} closed")
        scope = [*self.config.groups, *self.config.projects]
        where = self.config.host + (f" ({', '.join(scope)})" if scope else "")
        cost = plural(self.requests, "request") + (
            f", {plural(self.cache_hits, 'window')} from cache" if self.cache_hits else ""
        )
        return f"{self.username} on {where}: {', '.join(parts)}; {cost}"


def _error_path(error: Mapping[str, Any]) -> str:
    path = error.get("path")
    return ".".join(str(p) for p in path[1:]) if isinstance(path, list) and len(path) > 1 else "a field"


def fetch(
    person: Person, time_range: TimeRange, section: SourceSection, context: FetchContext | None = None
) -> FetchResult:
    """The person's merged merge requests, reviews and (when enabled) closed issues in ``time_range``."""
    context = context or FetchContext(now=datetime.now(UTC))
    return Run(settings(section, person), time_range, context, os.environ).execute()


connector = Connector(
    type="gitlab",
    summary="merged merge requests, approvals and closed issues from gitlab.com or self-managed GitLab",
    fetch=fetch,
    check=check,
    implicit=None,
    options=OPTIONS,
)
