"""Pull requests you merged, reviews you gave and (optionally) issues you closed, from GitHub's GraphQL API.

Configuration::

    [sources.gh]
    type = "github"
    url = "https://api.github.com"   # REST base; GitHub Enterprise Server: "https://HOST/api/v3"
    token = "env:GITHUB_TOKEN"       # or cmd:/file:; default GITHUB_TOKEN, GH_TOKEN, then `gh auth token`
    login = "ada"                    # default [me.logins] github, else the token's own user
    orgs = ["acme"]                  # only these organisations (or users) ...
    repos = ["acme/api"]             # ... and/or these repositories; default: everywhere
    reviews = true                   # reviews you submitted on other people's pull requests
    issues = false                   # issues closed by you (or by your pull request or commit)
    max_wait = 300                   # seconds this source may spend waiting out rate limits
    timeout = 30                     # seconds per request

GitHub is off unless a section of this type is configured. A token needs ``repo`` (private repositories)
and ``read:org`` scope; a fine-grained token needs read access to pull requests and issues.

- Endpoint: the GraphQL API follows GitHub's convention: ``https://api.github.com/graphql``, or
  ``https://HOST/api/graphql`` for Enterprise Server (``url = "https://HOST"`` means ``/api/v3``).
- Evidence: ``github:OWNER/REPO#N`` (kind ``pull_request``) for each pull request authored by the
  login and merged in ``[since, until)``; ``github-review:OWNER/REPO#N`` (kind ``review``), one per
  other person's pull request the login reviewed in the range, with the latest approval or change
  request (else comment) as its state; ``github-issue:OWNER/REPO#N`` (kind ``issue``) with
  ``issues = true`` (found with ``involves:LOGIN``; kept when the login closed it, or their pull request
  or commit did). A review counts the login's first 100 reviews of each pull request (each reply in a
  review thread is one). Pull requests carry the SHAs of their first 100 commits and their merge commit
  in ``refs``, so the git connector's commits join them (as do ``(#N)`` subjects and ticket keys in
  the title, branch and body, and the issues they close).
- Cost: every field comes in the search requests themselves, up to 100 results per search page and
  up to four searches (pull requests, reviews, issues, and the slices below) per request, so N pull
  requests take at most ⌈N/100⌉ requests, plus one to look up the token's login when none is
  configured (bench/github_requests.py prints the figures). GitHub search stops at 1,000 results: a
  larger window is split until each slice is under the cap (each split costs the request that found
  the count); a window with more than two pages is split in four so that their pages share requests.
  A range still open at run time is split at the start of today (UTC).
- Cache: every slice of a window that had ended when it was fetched, and came back complete, is
  stored in the local cache (keyed by url, login, kind, filters and window; never the token), so a
  rerun of a closed range makes no request. The token's login is remembered under a SHA-256
  fingerprint of the token. ``--refresh`` refetches; ``mine cache clear github`` forgets.
- Faults: rate limits (403/429, ``Retry-After``, ``X-RateLimit-Reset``, GraphQL ``RATE_LIMITED``, or
  none of these: at least 60 s, doubling) are waited out up to ``max_wait`` seconds in total, then
  the source stops, keeping what it has, and says when to rerun. 5xx answers, timeouts and broken
  connections are retried four times with backoff. 401 fails the source with how to fix the token.
  Results hidden by an organisation's SAML single sign-on, an incomplete search or a slice that
  cannot be split make the source ``partial`` with a detail that says what to do.
"""

from __future__ import annotations

import hashlib
import math
import os
import shutil
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit, urlunsplit

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
    has_retry_after,
    reset_after,
    retry_after,
)
from impact_miner.model import Evidence, FetchResult, Person, SourceReport, SourceSection, TimeRange
from impact_miner.options import flag, seconds
from impact_miner.refs import extract_refs
from impact_miner.registry import Connector, FetchContext, Throttle
from impact_miner.text import trim_body

DEFAULT_URL = "https://api.github.com"
OPTIONS = frozenset({"url", "token", "login", "orgs", "repos", "reviews", "issues", "max_wait", "timeout"})
DEFAULT_MAX_WAIT = 300.0
CACHE_NAMESPACE = "github"
CACHE_VERSION = 1
PAGE_SIZE = 100
SEARCH_CAP = 1000  # GitHub search never returns more results than this for one query
SPLIT_TARGET = 800  # aim below the cap when splitting, since results are rarely spread evenly
MAX_SEARCHES_PER_REQUEST = 4
MAX_QUERY_LENGTH = 256  # GitHub rejects longer search strings
MIN_RATE_LIMIT_WAIT = 60.0
SECOND = timedelta(seconds=1)
TOKEN_ENV = ("GITHUB_TOKEN", "GH_TOKEN")
FIX_TOKEN = (
    "create a token with repo/read:org scope and set sources.{name}.token "
    '(e.g. "env:GITHUB_TOKEN") or export GITHUB_TOKEN'
)
# The most telling state of a person's reviews of one pull request: the latest verdict, else the
# latest comment, else a dismissed verdict.
STATE_RANK = {"APPROVED": 0, "CHANGES_REQUESTED": 0, "COMMENTED": 1, "DISMISSED": 2}

PULL_REQUEST_FRAGMENT = """
fragment AuthoredPullRequest on PullRequest {
  __typename number title body url createdAt mergedAt additions deletions changedFiles headRefName
  author { __typename login }
  repository { nameWithOwner }
  headRepository { nameWithOwner }
  mergeCommit { oid }
  labels(first: 20) { nodes { name } }
  commits(first: 100) { totalCount nodes { commit { oid } } }
  reviews { totalCount }
  closingIssuesReferences(first: 20) { nodes { number repository { nameWithOwner } } }
}"""
REVIEWED_FRAGMENT = """
fragment ReviewedPullRequest on PullRequest {
  __typename number title url headRefName createdAt
  author { __typename login }
  repository { nameWithOwner }
  reviews(author: $login, first: 100) { totalCount nodes { state submittedAt url } }
}"""
ISSUE_FRAGMENT = """
fragment ClosedIssue on Issue {
  __typename number title body url createdAt closedAt stateReason
  author { __typename login }
  repository { nameWithOwner }
  labels(first: 20) { nodes { name } }
  timelineItems(itemTypes: [CLOSED_EVENT], last: 1) {
    nodes {
      ... on ClosedEvent {
        actor { login }
        closer {
          __typename
          ... on PullRequest { number repository { nameWithOwner } author { login } }
          ... on Commit { oid author { user { login } } }
        }
      }
    }
  }
}"""
FRAGMENTS = {
    "pr": ("AuthoredPullRequest", PULL_REQUEST_FRAGMENT),
    "review": ("ReviewedPullRequest", REVIEWED_FRAGMENT),
    "issue": ("ClosedIssue", ISSUE_FRAGMENT),
}
VIEWER_QUERY = "query Viewer { viewer { login } }"


# ---- configuration -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Settings:
    """A section's options, validated. ``token`` is resolved later, only when a request is needed."""

    name: str
    url: str
    graphql_url: str
    token: str | None = field(default=None, repr=False)
    login: str = ""
    orgs: tuple[str, ...] = ()
    repos: tuple[str, ...] = ()
    reviews: bool = True
    issues: bool = False
    max_wait: float = DEFAULT_MAX_WAIT
    timeout: int = DEFAULT_TIMEOUT

    @property
    def host(self) -> str:
        host = urlsplit(self.url).hostname or "github.com"
        return "github.com" if host == "api.github.com" else host


def endpoints(url: str) -> tuple[str, str]:
    """``(REST base, GraphQL endpoint)`` for a configured ``url``.

    ``https://api.github.com`` (or ``https://github.com``) → ``…/graphql``; an Enterprise Server's
    ``https://HOST/api/v3`` (or plain ``https://HOST``) → ``https://HOST/api/graphql``.
    """
    parts = urlsplit(url.strip())
    host = (parts.hostname or "").lower()
    path = parts.path.rstrip("/")
    if host == "github.com":
        parts, host, path = urlsplit(DEFAULT_URL), "api.github.com", ""
    if not path and not host.startswith("api."):
        path = "/api/v3"  # an Enterprise Server named by its host alone
    rest = urlunsplit((parts.scheme, parts.netloc, path, "", ""))
    graphql_path = (path.removesuffix("/v3") if path.endswith("/v3") else path) + "/graphql"
    return rest, urlunsplit((parts.scheme, parts.netloc, graphql_path, "", ""))


def settings(section: SourceSection, person: Person | None = None) -> Settings:
    """Validate ``section`` (raises ConfigError naming the key) and return its settings."""
    where = f"sources.{section.name}"
    unknown = sorted(set(section.options) - OPTIONS)
    if unknown:
        raise ConfigError(f"{where}: unknown option {unknown[0]!r}; known: {', '.join(sorted(OPTIONS))}")
    url = section.get("url", DEFAULT_URL)
    if (
        not isinstance(url, str)
        or urlsplit(url).scheme not in ("http", "https")
        or not urlsplit(url).hostname
    ):
        raise ConfigError(
            f'{where}.url must be an http(s) URL such as "{DEFAULT_URL}" or "https://HOST/api/v3"'
        )
    token = section.get("token")
    if token is not None and (not isinstance(token, str) or not token.strip()):
        raise ConfigError(f'{where}.token must be a non-empty string, e.g. "env:GITHUB_TOKEN"')
    login = section.get("login")
    if login is not None and (not isinstance(login, str) or not login.strip().lstrip("@")):
        raise ConfigError(f"{where}.login must be a GitHub login")
    if login is None and person is not None:
        login = person.logins.get("github")
    orgs = _names(section, "orgs", lambda v: "/" not in v)
    repos = _names(section, "repos", lambda v: v.count("/") == 1 and all(v.split("/")))
    rest, graphql = endpoints(url)
    return Settings(
        name=section.name,
        url=rest,
        graphql_url=graphql,
        token=token.strip() if isinstance(token, str) else None,
        login=(login or "").strip().lstrip("@"),
        orgs=orgs,
        repos=repos,
        reviews=flag(section, "reviews", True),
        issues=flag(section, "issues", False),
        max_wait=seconds(section, "max_wait", DEFAULT_MAX_WAIT, minimum=0),
        timeout=int(seconds(section, "timeout", DEFAULT_TIMEOUT, minimum=1)),
    )


def _names(section: SourceSection, key: str, valid: Callable[[str], bool]) -> tuple[str, ...]:
    value = section.get(key, [])
    values = [value] if isinstance(value, str) else value
    example = '["acme/api"]' if key == "repos" else '["acme"]'
    if not isinstance(values, list) or not all(
        isinstance(v, str) and v.strip() and valid(v.strip()) for v in values
    ):
        raise ConfigError(f"sources.{section.name}.{key} must be a list like {key} = {example}")
    return tuple(dict.fromkeys(v.strip() for v in values))


def check(section: SourceSection) -> None:
    """Validate the section's options; makes no request and reads no token."""
    settings(section)


def resolve_token(
    config: Settings,
    env: Mapping[str, str],
    which: Callable[[str], str | None] = shutil.which,
) -> str:
    """The token: the section's, else ``GITHUB_TOKEN``/``GH_TOKEN``, else ``gh auth token`` when gh exists."""
    if config.token:
        return config.token
    for name in TOKEN_ENV:
        if env.get(name, "").strip():
            return env[name].strip()
    gh = which("gh")
    token = cli_token([gh, "auth", "token", "--hostname", config.host], env) if gh else ""
    if token:
        return token
    raise SourceError(
        f"no GitHub token for sources.{config.name}: {FIX_TOKEN.format(name=config.name)}, "
        f"or log in with `gh auth login --hostname {config.host}`"
    )


# ---- requests ----------------------------------------------------------------------------------------



class Client:
    """POSTs GraphQL through PyGithub's requester, counting requests and waiting out rate limits.

    PyGithub's own retry and request spacing are off: the retries are :mod:`impact_miner.http_policy`'s,
    every wait goes through ``sleep`` and is bounded by ``max_wait`` in total; "now" is ``now`` plus the
    time already waited.
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
        from github import Auth, Github

        self.config = config
        self._throttle = throttle  # shared by the workers of a batch (`mine team`)
        self._check_cancelled = check_cancelled
        self.requests = 0
        self.budget = WaitBudget(config.max_wait, start=now)
        self.sso: list[str] = []  # X-GitHub-SSO headers seen
        self._sleep = sleep
        self._github = Github(
            base_url=config.url,
            auth=Auth.Token(token),
            timeout=config.timeout,
            user_agent=f"impact-miner/{__version__}",
            per_page=PAGE_SIZE,
            retry=None,
            seconds_between_requests=None,
            seconds_between_writes=None,
            lazy=True,
        )

    def query(self, text: str, variables: Mapping[str, Any]) -> dict[str, Any]:
        """The response document (``data`` and maybe ``errors``) of one GraphQL query, after retries."""
        return call_with_retries(
            lambda: self._post(text, variables),
            self._plan(),
            sleep=self._sleep,
            budget=self.budget,
            throttle=self._throttle,
            source=self.config.name,
            check_cancelled=self._check_cancelled,
        )

    def _post(self, text: str, variables: Mapping[str, Any]) -> dict[str, Any]:
        """One request; raises RateLimited or Unavailable for what is worth another attempt."""
        from github.GithubException import GithubException
        from requests.exceptions import RequestException, Timeout

        requester = self._github.requester
        self.requests += 1
        try:
            headers, body = requester.requestJsonAndCheck(
                "POST", requester.graphql_url, input={"query": text, "variables": dict(variables)}
            )
        except GithubException as exc:
            headers = {str(k).lower(): str(v) for k, v in (exc.headers or {}).items()}
            message = _message(exc.data)
            if exc.status == 401:
                raise SourceError(
                    f"token rejected by GitHub (sources.{self.config.name}): "
                    + FIX_TOKEN.format(name=self.config.name)
                ) from None
            if _is_rate_limit(exc.status, headers, message):
                raise RateLimited(headers) from None
            if exc.status == 403 and headers.get("x-github-sso"):
                raise SourceError(sso_detail([headers["x-github-sso"]], 0, self.config.name)) from None
            if exc.status >= 500:
                raise Unavailable(f"GitHub answered {exc.status} ({message or 'server error'})") from None
            if exc.status == 404:
                raise SourceError(
                    f"no GitHub GraphQL API at {self.config.graphql_url} "
                    f'(sources.{self.config.name}.url): use "{DEFAULT_URL}", '
                    'or "https://HOST/api/v3" for GitHub Enterprise Server'
                ) from None
            raise SourceError(
                f"GitHub refused the query ({exc.status}: {message or 'no message'}) "
                f"for sources.{self.config.name}"
            ) from None
        except RequestException as exc:  # timeouts, refused or broken connections
            timeout = isinstance(exc, Timeout)
            reason = (
                f"no answer from {self.config.graphql_url} within {self.config.timeout} s"
                if timeout
                else f"cannot talk to {self.config.graphql_url} ({type(exc).__name__})"
            )
            raise Unavailable(reason, timeout=timeout) from None
        except ValueError:  # a body that starts like JSON but is not
            body = None
        if (
            not isinstance(body, dict)
            or not ("data" in body or "errors" in body)
            or not isinstance(body.get("data"), dict | None)
        ):
            raise SourceError(
                f"{self.config.graphql_url} did not answer like GitHub's GraphQL API; "
                f"check sources.{self.config.name}.url"
            )
        if any(_is_rate_limit_error(e) for e in body.get("errors") or []):
            raise RateLimited(headers)
        if headers.get("x-github-sso"):
            self.sso.append(headers["x-github-sso"])
        return body

    def _plan(self) -> Callable[[Exception], Retry | None]:
        return retry_plan(self.config.name, self.budget, rate_limit_wait)





def _message(data: Any) -> str:
    if isinstance(data, dict):
        if isinstance(data.get("message"), str):
            return str(data["message"])
        errors = data.get("errors")
        if isinstance(errors, list) and errors and isinstance(errors[0], dict):
            return str(errors[0].get("message", ""))
    return ""


def _is_rate_limit(status: int, headers: Mapping[str, str], message: str) -> bool:
    if status == 429:
        return True
    if status != 403:
        return False
    lowered = message.lower()
    return (
        has_retry_after(headers)
        or headers.get("x-ratelimit-remaining") == "0"
        or "rate limit" in lowered
        or "abuse" in lowered
    )


def _is_rate_limit_error(error: Any) -> bool:
    return isinstance(error, dict) and (
        error.get("type") == "RATE_LIMITED" or "rate limit" in str(error.get("message", "")).lower()
    )


def rate_limit_wait(headers: Mapping[str, str], now: datetime, attempt: int) -> float:
    """Seconds to wait: ``Retry-After``, else until ``X-RateLimit-Reset`` (when none remain), else ≥ 60 s
    doubling with each consecutive limit."""
    asked = retry_after(headers, now)
    if asked is not None:
        return max(1.0, asked)
    if headers.get("x-ratelimit-remaining", "0") == "0":
        reset = reset_after(headers, now, "X-RateLimit-Reset")
        if reset is not None:
            return max(1.0, reset + 1)
    return backoff(attempt, first=MIN_RATE_LIMIT_WAIT)


def sso_detail(headers: Iterable[str], hidden: int, name: str) -> str:
    """What SAML single sign-on hid and how to authorise the token, from ``X-GitHub-SSO`` headers."""
    orgs: list[str] = []
    links: list[str] = []
    for header in headers:
        for part in header.split(";"):
            key, _, value = part.strip().partition("=")
            if key == "url" and value:
                links.append(value)
                path = urlsplit(value).path.strip("/").split("/")
                if len(path) >= 2 and path[0] in ("orgs", "enterprises"):
                    orgs.append(path[1])
            elif key == "organizations" and value:
                orgs += [f"organization id {v.strip()}" for v in value.split(",") if v.strip()]
    names = ", ".join(dict.fromkeys(orgs)) or "an organization"
    what = f"{plural(hidden, 'result')} hidden" if hidden else "access refused"
    link = f" at {links[0]}" if links else " (GitHub → Settings → Personal access tokens → Configure SSO)"
    return (
        f"{what} by SAML single sign-on of {names}: authorise the token of sources.{name} "
        f"for {names}{link}, then rerun"
    )


# ---- search slices -----------------------------------------------------------------------------------


@dataclass
class Slice:
    """One search over one window: ``[since, until)`` of the kind's date (``until`` None: open-ended).

    Pull requests and issues are searched by their merge/close date, so a slice's window is what it
    holds; reviews are searched by the pull request's last update (always later than the review), and
    kept when submitted within ``member`` (the part of the range the slice serves).
    """

    kind: str
    scope: tuple[str, ...]
    since: datetime
    until: datetime | None
    member: tuple[datetime, datetime]
    parent: Slice | None = None
    cursor: str | None = None
    total: int | None = None
    nodes: list[dict[str, Any] | None] = field(default_factory=list)
    children: list[Slice] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    hidden: int = 0
    done: bool = False
    evidence: list[Evidence] | None = None

    @property
    def complete(self) -> bool:
        """Done, nothing hidden or missing, and so for every child."""
        whole = not self.problems and not self.hidden
        if self.children:
            return whole and all(child.complete for child in self.children)
        return whole and self.done

    @property
    def stands_alone(self) -> bool:
        """Whether the slice is cached on its own: any pull-request or issue slice, a top-level review one."""
        return self.kind != "review" or self.parent is None

    def child(self, since: datetime, until: datetime | None) -> Slice:
        member = self.member if self.kind == "review" else (since, until or self.member[1])
        return Slice(self.kind, self.scope, since, until, member, parent=self)


def _stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S+00:00")


def _floor_second(moment: datetime) -> datetime:
    return moment.replace(microsecond=0)


def window_qualifier(name: str, since: datetime, until: datetime | None) -> str:
    """GitHub's inclusive date qualifier for the half-open ``[since, until)`` (whole seconds)."""
    low = _floor_second(since)
    if until is None:
        return f"{name}:>={_stamp(low)}"
    high = _floor_second(until) - (SECOND if until.microsecond == 0 else timedelta(0))
    return f"{name}:{_stamp(low)}..{_stamp(high)}"


def search_string(
    kind: str, login: str, scope: Iterable[str], since: datetime, until: datetime | None
) -> str:
    """The search query of one slice."""
    base = {
        "pr": f"is:pr is:merged author:{login} {window_qualifier('merged', since, until)}",
        "review": f"is:pr reviewed-by:{login} -author:{login} {window_qualifier('updated', since, until)}",
        "issue": f"is:issue is:closed involves:{login} {window_qualifier('closed', since, until)}",
    }[kind]
    return " ".join([base, *scope])


def scopes(config: Settings) -> list[tuple[str, ...]]:
    """The ``org:``/``repo:`` qualifier groups, each short enough for GitHub's 256-character limit.

    No filter is one unscoped group; orgs and repos never share a group (each group is one search).
    """
    groups: list[tuple[str, ...]] = []
    budget = MAX_QUERY_LENGTH - len(search_string("review", config.login or "x" * 39, (), _EPOCH, _EPOCH)) - 1
    for qualifiers in ([f"org:{o}" for o in config.orgs], [f"repo:{r}" for r in config.repos]):
        current: list[str] = []
        for qualifier in qualifiers:
            if current and len(" ".join([*current, qualifier])) > budget:
                groups.append(tuple(current))
                current = []
            current.append(qualifier)
        if current:
            groups.append(tuple(current))
    return groups or [()]


_EPOCH = datetime(2000, 1, 1, tzinfo=UTC)


# ---- evidence from nodes -----------------------------------------------------------------------------


def _when(value: Any) -> datetime | None:
    return datetime.fromisoformat(value) if isinstance(value, str) and value else None


def _actor(actor: Any) -> str:
    """A login as people see it: ``dependabot[bot]`` for a bot, ``ghost`` for a deleted account."""
    if not isinstance(actor, dict) or not actor.get("login"):
        return "ghost"
    login = str(actor["login"])
    return f"{login}[bot]" if actor.get("__typename") == "Bot" and not login.endswith("[bot]") else login


def _nodes(connection: Any) -> list[dict[str, Any]]:
    if not isinstance(connection, dict):
        return []
    return [n for n in connection.get("nodes") or [] if isinstance(n, dict)]


def _repo(node: Mapping[str, Any]) -> str:
    repository = node.get("repository")
    return str(repository.get("nameWithOwner", "")) if isinstance(repository, dict) else ""


def pull_request_evidence(node: Mapping[str, Any]) -> Evidence | None:
    """A merged pull request as evidence, or None when the node is not one."""
    merged_at = _when(node.get("mergedAt"))
    repo = _repo(node)
    if node.get("__typename") != "PullRequest" or merged_at is None or not repo:
        return None
    number = int(node["number"])
    title, body = str(node.get("title") or ""), trim_body(str(node.get("body") or ""))
    branch = str(node.get("headRefName") or "")
    closing = [f"{_repo(i)}#{i['number']}" for i in _nodes(node.get("closingIssuesReferences")) if _repo(i)]
    shas = [str(c["commit"]["oid"]) for c in _nodes(node.get("commits")) if isinstance(c.get("commit"), dict)]
    merge_commit = node.get("mergeCommit")
    merge_sha = (
        str(merge_commit["oid"]) if isinstance(merge_commit, dict) and merge_commit.get("oid") else None
    )
    head = node.get("headRepository")
    refs = (
        extract_refs(f"{title}\n{branch}\n{body}", repo) + closing + shas + ([merge_sha] if merge_sha else [])
    )
    return Evidence(
        id=f"github:{repo}#{number}",
        source="github",
        kind="pull_request",
        title=title,
        url=str(node.get("url") or ""),
        completed_at=merged_at,
        body=body,
        author=_actor(node.get("author")),
        repo=repo,
        created_at=_when(node.get("createdAt")),
        refs=list(dict.fromkeys(refs)),
        labels=[str(label["name"]) for label in _nodes(node.get("labels"))],
        additions=_int(node.get("additions")),
        deletions=_int(node.get("deletions")),
        files=_int(node.get("changedFiles")),
        extra={
            "number": number,
            "branch": branch,
            "head_repository": head.get("nameWithOwner") if isinstance(head, dict) else None,
            "commits": _count(node.get("commits")),
            "reviews": _count(node.get("reviews")),
            "linked_issues": closing,
            "shas": shas,
            "merge_commit": merge_sha,
        },
    )


def review_evidence(node: Mapping[str, Any], login: str, since: datetime, until: datetime) -> Evidence | None:
    """The login's reviews of one pull request submitted in ``[since, until)`` as one evidence item."""
    repo = _repo(node)
    if node.get("__typename") != "PullRequest" or not repo:
        return None
    submitted = []
    for review in _nodes(node.get("reviews")):
        when = _when(review.get("submittedAt"))
        if when is not None and since <= when < until and review.get("state") in STATE_RANK:
            submitted.append((when, str(review["state"]), str(review.get("url") or "")))
    if not submitted:
        return None
    submitted.sort()
    best = min(submitted, key=lambda r: (STATE_RANK[r[1]], -r[0].timestamp()))
    number, title = int(node["number"]), str(node.get("title") or "")
    branch = str(node.get("headRefName") or "")
    return Evidence(
        id=f"github-review:{repo}#{number}",
        source="github",
        kind="review",
        title=f"Review of {title}",
        url=best[2] or str(node.get("url") or ""),
        completed_at=submitted[-1][0],
        author=login,
        repo=repo,
        created_at=submitted[0][0],
        refs=extract_refs(f"{title}\n{branch}", repo),
        extra={
            "number": number,
            "state": best[1],
            "states": list(dict.fromkeys(state for _, state, _ in submitted)),
            "reviews": len(submitted),
            "pr_author": _actor(node.get("author")),
            "pr_title": title,
            "pr_url": str(node.get("url") or ""),
        },
    )


def issue_evidence(node: Mapping[str, Any], login: str) -> Evidence | None:
    """A closed issue as evidence when ``login`` closed it, or their pull request or commit did."""
    closed_at, repo = _when(node.get("closedAt")), _repo(node)
    if node.get("__typename") != "Issue" or closed_at is None or not repo:
        return None
    events = _nodes(node.get("timelineItems"))
    event: dict[str, Any] = events[-1] if events else {}
    actor = _dict(event.get("actor"))
    closer = _dict(event.get("closer"))
    closer_login = ""
    closer_ref = ""
    if closer.get("__typename") == "PullRequest":
        closer_login = str(_dict(closer.get("author")).get("login") or "")
        closer_ref = f"{_repo(closer)}#{closer.get('number')}" if _repo(closer) else ""
    elif closer.get("__typename") == "Commit":
        closer_login = str(_dict(_dict(closer.get("author")).get("user")).get("login") or "")
        closer_ref = str(closer.get("oid") or "")
    me = login.lower()
    if me not in (str(actor.get("login") or "").lower(), closer_login.lower()):
        return None
    number, title, body = (
        int(node["number"]),
        str(node.get("title") or ""),
        trim_body(str(node.get("body") or "")),
    )
    refs = extract_refs(f"{title}\n{body}", repo) + ([closer_ref] if closer_ref else [])
    return Evidence(
        id=f"github-issue:{repo}#{number}",
        source="github",
        kind="issue",
        title=title,
        url=str(node.get("url") or ""),
        completed_at=closed_at,
        body=body,
        author=_actor(node.get("author")),
        repo=repo,
        created_at=_when(node.get("createdAt")),
        refs=list(dict.fromkeys(refs)),
        labels=[str(label["name"]) for label in _nodes(node.get("labels"))],
        extra={"number": number, "state_reason": node.get("stateReason"), "closed_by": closer_ref or None},
    )


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _int(value: Any) -> int | None:
    return int(value) if isinstance(value, int) else None


def _count(connection: Any) -> int | None:
    return _int(connection.get("totalCount")) if isinstance(connection, dict) else None


# ---- the run -----------------------------------------------------------------------------------------


class Run:
    """One fetch: the login, the slices, the paging, the cache, and the coverage line."""

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
        self.login = config.login
        self.token: str | None = None
        self.client: Client | None = None
        self.cache_hits = 0

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

    def _viewer(self) -> str:
        """The token's own login (remembered under the token's SHA-256 fingerprint, never the token)."""
        fingerprint = hashlib.sha256(self._token().encode()).hexdigest()
        key = {"v": CACHE_VERSION, "what": "viewer", "url": self.config.url, "token_sha256": fingerprint}
        problem = ""

        def ask() -> dict[str, str]:
            nonlocal problem
            body = self._client().query(VIEWER_QUERY, {})
            problem = _message(body)
            viewer = (body.get("data") or {}).get("viewer") or {}
            return {"login": str(viewer.get("login") or "")}

        found = cached(self.context.cache, CACHE_NAMESPACE, key, ask, storable=lambda v: bool(v.get("login")))
        if not found.get("login"):
            raise SourceError(
                f"GitHub did not say whose token sources.{self.config.name}.token is"
                + (f" ({problem})" if problem else "")
                + f"; set sources.{self.config.name}.login or [me.logins] github"
            )
        return str(found["login"])

    # slices

    def _key(self, item: Slice) -> dict[str, Any]:
        """What a slice is stored under: source, identity, kind, filters and the window it answers for."""
        window = [item.member[0].isoformat(), item.member[1].isoformat()]
        return {"v": CACHE_VERSION, "what": "search", "url": self.config.url, "login": self.login.lower(),
                "kind": item.kind, "scope": list(item.scope), "window": window}  # fmt: skip

    def _closed(self, item: Slice) -> bool:
        return item.member[1] <= self.context.now

    def roots(self) -> list[Slice]:
        """One slice per kind, scope group and part of the range (a range still open is split at today)."""
        since, until = self.range.since, self.range.until
        today = self.context.now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
        parts = [(since, today), (today, until)] if since < today < until else [(since, until)]
        kinds = (
            ["pr"] + (["review"] if self.config.reviews else []) + (["issue"] if self.config.issues else [])
        )
        found = []
        for kind in kinds:
            for scope in scopes(self.config):
                for start, end in parts:
                    found.append(Slice(kind, scope, start, None if kind == "review" else end, (start, end)))
        return found

    def _load(self, item: Slice) -> list[Evidence] | None:
        if self.context.cache is None:
            return None
        value = self.context.cache.get(CACHE_NAMESPACE, self._key(item))
        if not isinstance(value, dict):
            return None
        if "parts" in value:
            items: list[Evidence] = []
            for since, until in value["parts"]:
                part = self._load(item.child(datetime.fromisoformat(since), datetime.fromisoformat(until)))
                if part is None:
                    return None
                items += part
            return items
        return [Evidence.from_dict(d) for d in value.get("evidence", [])]

    def _store(self, item: Slice) -> None:
        cache = self.context.cache
        if cache is None or not item.stands_alone or not item.complete or not self._closed(item):
            return
        if item.children and all(c.stands_alone for c in item.children):
            parts = [[c.member[0].isoformat(), c.member[1].isoformat()] for c in item.children]
            cache.put(CACHE_NAMESPACE, self._key(item), {"parts": parts})
        else:
            cache.put(
                CACHE_NAMESPACE, self._key(item), {"evidence": [e.to_dict() for e in self.collect(item)]}
            )

    def collect(self, item: Slice) -> list[Evidence]:
        """Everything a slice holds so far (its children's, when split)."""
        if item.evidence is not None:
            return item.evidence
        if item.children:
            return [e for child in item.children for e in self.collect(child)]
        return self._convert(item)

    def _convert(self, item: Slice) -> list[Evidence]:
        since, until = item.member
        found: list[Evidence | None] = []
        for node in item.nodes:
            if node is None:
                continue
            if item.kind == "pr":
                evidence = pull_request_evidence(node)
                found.append(evidence if evidence and since <= evidence.completed_at < until else None)
            elif item.kind == "review":
                found.append(review_evidence(node, self.login, since, until))
            else:
                evidence = issue_evidence(node, self.login)
                found.append(evidence if evidence and since <= evidence.completed_at < until else None)
        return [e for e in found if e is not None]

    @staticmethod
    def _worth_splitting(item: Slice, total: int) -> bool:
        """Over the search cap; or, for a whole window, more than two pages: its slices' pages then
        travel side by side in the same requests instead of one after another."""
        return total > SEARCH_CAP or (item.parent is None and total > 2 * PAGE_SIZE)

    def _split(self, item: Slice) -> list[Slice]:
        """Equal-time children expected to hold fewer than SPLIT_TARGET results each, and at least as many
        as one request carries (their pages travel together, and a burst is narrowed faster); [] if the
        window is a single second."""
        end = item.until or max(self.context.now, item.since + SECOND)
        seconds = int((end - item.since).total_seconds())
        count = min(max(math.ceil((item.total or 0) / SPLIT_TARGET), MAX_SEARCHES_PER_REQUEST), seconds)
        if count < 2:
            return []
        bounds = [item.since + timedelta(seconds=round(seconds * i / count)) for i in range(count)]
        return [
            item.child(start, stop) for start, stop in zip(bounds, [*bounds[1:], item.until], strict=True)
        ]

    def _finish(self, item: Slice) -> None:
        """Mark a slice done: check it came back whole, keep its evidence, store it, then its parents."""
        item.done = True
        expected = min(item.total or 0, SEARCH_CAP)
        if not item.hidden and len(item.nodes) < expected:
            item.problems.append(
                f"GitHub search returned {len(item.nodes)} of {item.total} results for "
                f"`{self._query(item)}`; rerun later"
            )
        if (item.total or 0) > SEARCH_CAP:
            item.problems.append(
                f"more than {SEARCH_CAP} results within one second for `{self._query(item)}`; "
                f"kept the first {SEARCH_CAP}"
            )
        item.evidence = self._convert(item)
        self._store(item)
        if item.parent is not None:
            self._finish_parent(item.parent)

    def _finish_parent(self, parent: Slice) -> None:
        if all(child.done for child in parent.children):
            parent.done = True
            parent.evidence = self.collect(parent)
            self._store(parent)
            if parent.parent is not None:
                self._finish_parent(parent.parent)

    def _query(self, item: Slice) -> str:
        return search_string(item.kind, self.login, item.scope, item.since, item.until)

    def _request(self, batch: list[Slice]) -> dict[str, Any]:
        """One GraphQL request holding the next page of every slice in ``batch`` (aliases s0, s1, ...)."""
        declared, fields, fragments = [], [], {}
        variables: dict[str, Any] = {}
        for i, item in enumerate(batch):
            name, fragment = FRAGMENTS[item.kind]
            fragments[name] = fragment
            declared += [f"$q{i}: String!", f"$c{i}: String"]
            variables[f"q{i}"], variables[f"c{i}"] = self._query(item), item.cursor
            fields.append(
                f"  s{i}: search(type: ISSUE, query: $q{i}, first: {PAGE_SIZE}, after: $c{i}) {{\n"
                f"    issueCount pageInfo {{ hasNextPage endCursor }} nodes {{ ...{name} }}\n  }}"
            )
        if "ReviewedPullRequest" in fragments:
            declared.append("$login: String!")
            variables["login"] = self.login
        text = (
            f"query Search({', '.join(declared)}) {{\n"
            + "\n".join(fields)
            + "\n}"
            + "".join(fragments.values())
        )
        return self._client().query(text, variables)

    def page(self, pending: deque[Slice]) -> None:
        """Fetch every pending slice, up to MAX_SEARCHES_PER_REQUEST per request, splitting capped ones."""
        active: list[Slice] = []
        while pending or active:
            while pending and len(active) < MAX_SEARCHES_PER_REQUEST:
                item = pending.popleft()
                hit = self._load(item) if item.stands_alone else None
                if hit is None:
                    active.append(item)
                    continue
                self.cache_hits += 1
                item.evidence, item.done = hit, True
                if item.parent is not None:
                    self._finish_parent(item.parent)
            if not active:
                continue
            batch = list(active)
            body = self._request(batch)
            data = body.get("data")
            errors = [e for e in body.get("errors") or [] if isinstance(e, dict)]
            if not isinstance(data, dict):
                reason = errors[0].get("message", "no data") if errors else "no data"
                raise Stop(f"GitHub answered the search with an error: {reason}")
            for i, item in enumerate(batch):
                alias = f"s{i}"
                routed = [e for e in errors if (e.get("path") or [None])[0] == alias]
                self._take_page(item, data.get(alias), routed, active, pending)
            if self.context.progress:
                self.context.progress(f"{self.config.name}: {self.requests} GitHub requests")

    def _take_page(
        self,
        item: Slice,
        result: Any,
        errors: list[dict[str, Any]],
        active: list[Slice],
        pending: deque[Slice],
    ) -> None:
        """Add one page to ``item``: split it when over the cap, finish it on its last page."""
        others = [e for e in errors if not _is_saml(e)]
        item.problems += [f"search `{self._query(item)}`: {e.get('message', 'error')}" for e in others]
        if not isinstance(result, dict):
            active.remove(item)
            item.problems.append(f"search `{self._query(item)}` returned nothing")
            self._finish(item)
            return
        total = int(result.get("issueCount") or 0)
        if item.total is None and self._worth_splitting(item, total):
            item.total = total
            children = self._split(item)
            if children:
                item.children = children
                active.remove(item)
                pending.extendleft(reversed(children))
                return
        item.total = total
        nodes = [n if isinstance(n, dict) else None for n in result.get("nodes") or []]
        item.nodes += nodes
        item.hidden += max(nodes.count(None), len(errors) - len(others))
        page = result.get("pageInfo") or {}
        if page.get("hasNextPage") and page.get("endCursor") and len(item.nodes) < SEARCH_CAP:
            item.cursor = str(page["endCursor"])
        else:
            active.remove(item)
            self._finish(item)

    # the whole fetch

    def execute(self) -> FetchResult:
        if not self.login:
            self.login = self._viewer()
        roots = self.roots()
        stopped: Stop | None = None
        try:
            self.page(deque(roots))
        except Stop as exc:
            stopped = exc
        evidence: dict[str, Evidence] = {}
        for root in roots:
            for item in self.collect(root):
                item.extra["source_name"] = self.config.name
                evidence.setdefault(item.id, item)
        problems = self._problems(roots)
        if stopped is not None:
            if not evidence:
                raise stopped
            problems.insert(0, f"stopped: {stopped}")
        items = list(evidence.values())
        report = SourceReport(
            source=self.config.name,
            status="partial" if problems else "ok",
            items=len(items),
            detail="; ".join([self._summary(items), *problems]),
            type="github",
        )
        return FetchResult(evidence=items, report=report, identities=[self.login])

    def _problems(self, roots: list[Slice]) -> list[str]:
        problems: list[str] = []
        hidden = 0

        def walk(item: Slice) -> None:
            nonlocal hidden
            hidden += item.hidden
            problems.extend(item.problems)
            for child in item.children:
                walk(child)

        for root in roots:
            walk(root)
        sso = self.client.sso if self.client else []
        if hidden or sso:
            problems.insert(0, sso_detail(sso, hidden, self.config.name))
        return list(dict.fromkeys(problems))

    def _summary(self, items: list[Evidence]) -> str:
        kinds = {
            kind: sum(1 for e in items if e.kind == kind) for kind in ("pull_request", "review", "issue")
        }
        parts = [f"{plural(kinds['pull_request'], 'merged pull request')}"]
        if self.config.reviews:
            parts.append(f"{kinds['review']} reviewed")
        if self.config.issues:
            parts.append(f"{plural(kinds['issue'], 'issue')} closed")
        where = self.config.host + (f" ({', '.join([*self.config.orgs, *self.config.repos])})" if
                                    self.config.orgs or self.config.repos else "")  # fmt: skip
        cost = plural(self.requests, "request") + (
            f", {plural(self.cache_hits, 'window')} from cache" if self.cache_hits else ""
        )
        return f"{self.login} on {where}: {', '.join(parts)}; {cost}"


def _is_saml(error: Mapping[str, Any]) -> bool:
    extensions = error.get("extensions")
    return (isinstance(extensions, dict) and bool(extensions.get("saml_failure"))) or (
        error.get("type") == "FORBIDDEN" and "saml" in str(error.get("message", "")).lower()
    )


def fetch(
    person: Person, time_range: TimeRange, section: SourceSection, context: FetchContext | None = None
) -> FetchResult:
    """The person's merged pull requests, reviews and (when enabled) closed issues in ``time_range``."""
    context = context or FetchContext(now=datetime.now(UTC))
    return Run(settings(section, person), time_range, context, os.environ).execute()


connector = Connector(
    type="github",
    summary="merged pull requests, reviews and closed issues from GitHub or GitHub Enterprise Server",
    fetch=fetch,
    check=check,
    implicit=None,
    options=OPTIONS,
)
