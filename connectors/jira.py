"""Resolved tickets from Jira Cloud or Jira Server / Data Center, through the REST API.

Configuration::

    [sources.work-jira]                     # one table per Jira site; several may coexist
    type = "jira"
    url = "https://acme.atlassian.net"      # the Jira base URL (Server/DC: with any context path)
    email = "ada@acme.io"                   # Cloud only: the account's email, used with an API token
    token = "env:JIRA_API_TOKEN"            # Cloud: API token (basic auth); without email: a Server/DC
                                            # personal access token (bearer)
    jql = "project in (SEARCH, API)"        # optional filter, ANDed with the person and range clauses
    assignee = "712020:3f2a…"               # optional: whose tickets (default: the token's own user)
    epic_field = "customfield_10014"        # optional: the "Epic Link" field; found by itself when not set
    story_points_field = "customfield_10016"  # optional: the story points field
    max_wait = 60                           # longest Retry-After (seconds) to wait for; default 60
    timeout = 30                            # seconds per request; default 30

- Which site: with ``email`` the site is Jira Cloud (``/rest/api/3/search/jql``, paged with
  ``nextPageToken``, descriptions in Atlassian Document Format); without it, Server/Data Center
  (``/rest/api/2/search``, paged with ``startAt``/``total``, descriptions as text).
- Whose tickets: ``assignee`` (or ``[me.logins] jira``): on Cloud an accountId, or an email that is
  resolved to the accountId of an active user (one request); on Server a username. Without either,
  ``assignee = currentUser()``: the token's own user, no lookup.
- Which tickets: ``assignee = … AND statusCategory = Done AND resolutiondate >= … AND resolutiondate < …``
  (and ``(jql)``). JQL datetimes are read in the Jira user's time zone, so the JQL window is one day
  wider on each side and the exact range ``[since, until)`` is enforced on ``resolutiondate`` here; so is
  the status category key ``done`` (status names are localised and never read).
- Epics: the agile ``epic`` field, else a ``parent`` at hierarchy level 1 (team-managed Cloud projects,
  and company-managed ones today), else the Epic Link custom field, which holds the epic's key (Jira
  Server/Data Center; older company-managed Cloud projects). Without ``epic_field`` that field is found
  in the site's field list, ``GET {api}/field``, as the field whose ``schema.custom`` is
  ``com.pyxis.greenhopper.jira:gh-epic-link`` (never by its name, which is localised); a site without
  one (no Jira Software) keeps the other two. Epics known only by key get their summaries in one search.
- Requests: ⌈N/100⌉ pages of 100 for N tickets (one page when there are none), plus at most one request
  for the field list (the first time a site is searched without ``epic_field``; then cached), one user
  lookup (Cloud, a person given by email) and one lookup of epic titles (Epic Link epics whose summary
  neither a ``parent`` nor the search itself gave): at most ⌈N/100⌉ + 2 on Server/Data Center, and on
  Cloud too except on a site's first run with a person given by email (user lookup and field list both)
  that finds no tickets, or finds Epic Link epics without a ``parent`` (Cloud's parent carries the
  epic's summary, so there is no title lookup as a rule): one more then.
  429 and 5xx answers are retried up to 3 times, honouring ``Retry-After`` up to ``max_wait``;
  timeouts and dropped connections likewise.
- Cache: a range that had ended when it was fetched, fetched completely, is stored in the local cache
  (keyed by site, user, assignee, jql, fields and range; never the token), so a rerun makes no request.
  The Epic Link field ids found in a site's field list (or that it has none) are stored per site URL
  (namespace ``jira-fields``), so only the first search of a site asks for them; ``--refresh`` asks again.
- Errors end in one line in the coverage, quoting Jira's own ``errorMessages``: 401/403 (credentials,
  permissions, CAPTCHA), 400 (the JQL), 404/410 (wrong kind of site: Cloud removed
  ``/rest/api/{2,3}/search``), rate limits, 5xx, timeouts. A failure after some pages keeps those
  tickets and marks the source partial; so does a field list Jira refuses (the tickets keep the epics
  the other fields give, and the line says to set ``epic_field``). A configured ``epic_field`` that
  none of the tickets has (a wrong id) gets one line too.
- Evidence: ``jira:KEY`` of kind ``ticket``, linked to ``{url}/browse/KEY``; title = summary, body =
  description as plain text; completed = resolution date; ``refs`` = ticket keys and pull-request
  references in the summary and description, linked issues and the parent; ``extra``: ``project``,
  ``status``, ``status_category``, ``issue_type``, ``hierarchy_level``, ``epic`` and ``epic_title`` (see
  Epics above), ``parent``, ``components``, ``fix_versions``, ``story_points`` and ``source_name``.
"""

from __future__ import annotations

import math
import re
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from impact_miner.cache import Cache, cached
from impact_miner.errors import ConfigError, SourceError
from impact_miner.http_policy import (
    DEFAULT_TIMEOUT,
    Retry,
    WaitBudget,
    backoff,
    call_with_retries,
    retry_after,
)
from impact_miner.model import Evidence, FetchResult, Person, SourceReport, SourceSection, TimeRange
from impact_miner.refs import TICKET_KEY, extract_refs
from impact_miner.registry import Connector, FetchContext, Throttle
from impact_miner.text import trim_body

if TYPE_CHECKING:
    import requests

PAGE_SIZE = 100
MAX_PAGES = 200  # 20,000 tickets: beyond that the source is reported truncated
MAX_RETRIES = 3
DEFAULT_MAX_WAIT = 60.0
WIDEN = timedelta(days=1)
MESSAGE_LIMIT = 300
CACHE_VERSION = 2  # 2: epics from a discovered Epic Link field
FIELDS_NAMESPACE = "jira-fields"  # per site: the Epic Link field ids found in its field list
FIELDS_CACHE_VERSION = 1
EPIC_LINK_TYPE = "com.pyxis.greenhopper.jira:gh-epic-link"  # schema.custom of Jira Software's Epic Link
BASE_FIELDS = (
    "summary", "status", "issuetype", "parent", "epic", "labels", "components", "fixVersions",
    "resolutiondate", "created", "description", "issuelinks", "project", "assignee",
)  # fmt: skip
FIELD_ID = re.compile(r"[A-Za-z][A-Za-z0-9_.]*")
ORDER_BY = re.compile(r"\border\s+by\b", re.I)
JQL_STRING = re.compile(r""""(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'""")
RETRIED_STATUSES = frozenset({429, 500, 502, 503, 504})
ZERO_WIDTH = re.compile("[\u200b\u200c\u200d\u2060\ufeff]")  # recorded summaries start with U+200B


# ---- settings ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Settings:
    """One ``[sources.NAME]`` table of type jira, validated."""

    name: str
    url: str
    token: str = field(repr=False)
    email: str = ""
    jql: str = ""
    assignee: str = ""
    epic_field: str = ""
    story_points_field: str = ""
    max_wait: float = DEFAULT_MAX_WAIT
    timeout: float = DEFAULT_TIMEOUT
    found_epic_fields: tuple[str, ...] = ()  # discovered Epic Link fields, when epic_field is not set

    @property
    def epic_fields(self) -> tuple[str, ...]:
        """The custom fields that may hold the epic key: ``epic_field``, else the discovered ones."""
        return (self.epic_field,) if self.epic_field else self.found_epic_fields

    @property
    def cloud(self) -> bool:
        return bool(self.email)

    @property
    def api(self) -> str:
        return f"{self.url}/rest/api/{'3' if self.cloud else '2'}"

    @property
    def search_path(self) -> str:
        return "/search/jql" if self.cloud else "/search"

    def fields(self) -> list[str]:
        extra = [f for f in (*self.epic_fields, self.story_points_field) if f]
        return list(dict.fromkeys([*BASE_FIELDS, *extra]))


def read_settings(section: SourceSection) -> Settings:
    """The section's options, validated; raises ConfigError with the fix for bad ones."""
    where = f"sources.{section.name}"
    url = section.get("url")
    if not isinstance(url, str) or not url.startswith(("http://", "https://")):
        raise ConfigError(f'{where}.url must be the Jira base URL, e.g. url = "https://acme.atlassian.net"')
    token = section.get("token")
    if not isinstance(token, str) or not token.strip():
        raise ConfigError(
            f'{where}.token is missing: set token = "env:JIRA_API_TOKEN" (Cloud: an API token, with '
            "email; Server/Data Center: a personal access token)"
        )
    email = _optional_string(section, "email")
    if email and "@" not in email:
        raise ConfigError(f"{where}.email must be the Cloud account's email address (or be left out)")
    jql = _optional_string(section, "jql")
    outside_strings = JQL_STRING.sub('""', jql)
    if ORDER_BY.search(outside_strings):
        raise ConfigError(f"{where}.jql must be a filter without ORDER BY (it is ANDed with other clauses)")
    if outside_strings.count("(") != outside_strings.count(")") or re.search(
        r"[\"']", JQL_STRING.sub("", jql)
    ):
        raise ConfigError(f"{where}.jql has unbalanced parentheses or quotes: {jql}")
    fields = {}
    for key in ("epic_field", "story_points_field"):
        fields[key] = _optional_string(section, key)
        if fields[key] and not FIELD_ID.fullmatch(fields[key]):
            raise ConfigError(f'{where}.{key} must be a field id such as "customfield_10014"')
    return Settings(
        name=section.name,
        url=url.strip().rstrip("/"),
        token=token.strip(),
        email=email,
        jql=jql,
        assignee=_optional_string(section, "assignee"),
        epic_field=fields["epic_field"],
        story_points_field=fields["story_points_field"],
        max_wait=_seconds(section, "max_wait", DEFAULT_MAX_WAIT, allow_zero=True),
        timeout=_seconds(section, "timeout", DEFAULT_TIMEOUT, allow_zero=False),
    )


def _optional_string(section: SourceSection, key: str) -> str:
    value = section.get(key, "")
    if not isinstance(value, str):
        raise ConfigError(f"sources.{section.name}.{key} must be a string")
    return value.strip()


def _seconds(section: SourceSection, key: str, default: float, *, allow_zero: bool) -> float:
    value = section.get(key, default)
    ok = (
        isinstance(value, int | float)
        and not isinstance(value, bool)
        and (value > 0 or (allow_zero and value == 0))
    )
    if not ok:
        raise ConfigError(
            f"sources.{section.name}.{key} must be a number of seconds, e.g. {key} = {default:g}"
        )
    return float(value)


def check(section: SourceSection) -> None:
    """Validate the section without any request."""
    read_settings(section)


# ---- JQL ---------------------------------------------------------------------------------------------


def jql_string(value: str) -> str:
    """``value`` as a quoted JQL string."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def jql_datetime(moment: datetime, *, ceil: bool = False) -> str:
    """``"YYYY-MM-DD HH:mm"`` in UTC, rounded down (or up) to the minute."""
    seconds = moment.timestamp() / 60
    minute = math.ceil(seconds) if ceil else math.floor(seconds)
    return datetime.fromtimestamp(minute * 60, UTC).strftime("%Y-%m-%d %H:%M")


def build_jql(assignee_clause: str, time_range: TimeRange, extra: str = "") -> str:
    """The search: the person's tickets resolved in ``time_range`` widened by a day each side."""
    since = jql_datetime(time_range.since - WIDEN)
    until = jql_datetime(time_range.until + WIDEN, ceil=True)
    clauses = [
        f"assignee = {assignee_clause}",
        "statusCategory = Done",
        f'resolutiondate >= "{since}"',
        f'resolutiondate < "{until}"',
    ]
    if extra:
        clauses.append(f"({extra})")
    return " AND ".join(clauses) + " ORDER BY resolutiondate ASC, key ASC"


# ---- HTTP --------------------------------------------------------------------------------------------


class JiraHttpError(SourceError):
    """Jira answered with an HTTP error (after any retries); ``status`` says which."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


@dataclass
class JiraClient:
    """GET requests to one Jira site through the jira library's session, with bounded retries.

    The session itself never retries (``max_retries=0``): the retries are :mod:`impact_miner.http_policy`'s,
    so every wait goes through ``sleep``, which tests replace; ``request_count`` counts every HTTP request
    made, retries included. ``budget`` has no total (``max_wait`` bounds each wait instead): it keeps the
    time waited, and its clock (the run's ``now`` plus that time) is what an HTTP-date ``Retry-After`` is
    counted from.
    """

    settings: Settings
    sleep: Callable[[float], None]
    session: requests.Session
    throttle: Throttle | None = None  # shared by the workers of a batch, when there is one
    request_count: int = 0
    budget: WaitBudget = field(default_factory=lambda: WaitBudget(start=datetime.now(UTC)))
    check_cancelled: Callable[[], None] | None = None

    @classmethod
    def connect(
        cls,
        settings: Settings,
        sleep: Callable[[float], None],
        throttle: Throttle | None = None,
        *,
        now: datetime | None = None,
        check_cancelled: Callable[[], None] | None = None,
    ) -> JiraClient:
        from jira.client import TokenAuth
        from jira.resilientsession import ResilientSession

        from impact_miner import __version__

        session = ResilientSession(timeout=settings.timeout, max_retries=0)
        session.auth = (settings.email, settings.token) if settings.cloud else TokenAuth(settings.token)
        session.headers["User-Agent"] = f"impact-miner/{__version__}"
        return cls(
            settings=settings,
            sleep=sleep,
            session=session,
            throttle=throttle,
            budget=WaitBudget(start=now or datetime.now(UTC)),
            check_cancelled=check_cancelled,
        )

    def get(self, path: str, params: dict[str, Any], *, purpose: str = "search") -> Any:
        """The JSON answer to ``GET {api}{path}``; raises SourceError with a message to act on."""
        url = self.settings.api + path

        def once() -> requests.Response:
            self.request_count += 1
            return self.session.get(url, params=params)

        response = call_with_retries(
            once,
            self._plan(path, purpose),
            sleep=self.sleep,
            budget=self.budget,
            throttle=self.throttle,
            source=self.settings.name,
            check_cancelled=self.check_cancelled,
        )
        return self._json(response, path)

    def _plan(self, path: str, purpose: str) -> Callable[[Exception], Retry | None]:
        """Up to MAX_RETRIES more attempts after a 429, a 5xx, a timeout or a refused connection."""
        import requests
        from jira.exceptions import JIRAError

        tries = 0

        def plan(error: Exception) -> Retry | None:
            nonlocal tries
            tries += 1
            last = tries > MAX_RETRIES
            if isinstance(error, JIRAError):
                status = error.status_code or 0
                wait = self._wait(status, error.response, tries)
                if status in RETRIED_STATUSES and not last and wait is not None:
                    return Retry(wait, hold=status == 429)  # every worker of a batch backs off
                raise JiraHttpError(self._http_message(status, error, path, purpose, tries), status)
            if isinstance(error, requests.Timeout):
                if not last:
                    return Retry(backoff(tries))
                raise SourceError(
                    f"Jira at {self.settings.url} did not answer within {self.settings.timeout:g} s "
                    f"({_attempts(tries)}); check sources.{self.settings.name}.url, or raise "
                    f"sources.{self.settings.name}.timeout"
                )
            if isinstance(error, requests.ConnectionError):
                if not last:
                    return Retry(backoff(tries))
                raise SourceError(
                    f"cannot connect to Jira at {self.settings.url} ({_reason(error)}); check "
                    f"sources.{self.settings.name}.url and your network"
                )
            return None

        return plan

    def _wait(self, status: int, response: requests.Response | None, tries: int) -> float | None:
        """Seconds to wait before retrying, or None when the wait is longer than ``max_wait``."""
        if status not in RETRIED_STATUSES:
            return None
        asked = self._retry_after(response)
        wait = asked if asked is not None else backoff(tries)
        return wait if wait <= self.settings.max_wait else None

    def _retry_after(self, response: requests.Response | None) -> float | None:
        return retry_after(response.headers, self.budget.now()) if response is not None else None

    def _json(self, response: requests.Response, path: str) -> Any:
        try:
            return response.json()
        except ValueError:
            kind = response.headers.get("Content-Type", "no content type").split(";")[0]
            raise SourceError(
                f"Jira at {self.settings.url} answered {path} with {kind}, not JSON; check that "
                f"sources.{self.settings.name}.url is the Jira base URL (a login page means the "
                "credentials were not accepted)"
            ) from None

    def _http_message(self, status: int, error: Any, path: str, purpose: str, attempts: int) -> str:
        """One line for a failed request: what Jira said, and what to do about it."""
        name, said = self.settings.name, _jira_says(error)
        quoted = f": {said}" if said else ""
        where = f"sources.{name}"
        if status == 401:
            if self.settings.cloud:
                fix = f"check {where}.email and {where}.token (Cloud: the account's email and an API token)"
            else:
                fix = f"check {where}.token (a Server/Data Center personal access token)"
            return f"Jira rejected the credentials (HTTP 401{quoted}); {fix}"
        if status == 403:
            return (
                f"Jira refused access (HTTP 403{quoted}); the token's user may lack permission to browse "
                "these projects, or Jira wants a CAPTCHA: log in once in a browser"
            )
        if status == 400 and purpose == "search":
            fix = (
                f"fix {where}.jql ({self.settings.jql})"
                if self.settings.jql
                else "check the person and range"
            )
            return f"Jira rejected the query (HTTP 400{quoted}); {fix}"
        if status == 410:
            return (
                f"Jira answered 410 Gone for {path}{quoted}: this is Jira Cloud, which removed that search; "
                f"set {where}.email (Cloud uses email + API token and /rest/api/3/search/jql)"
            )
        if status == 404 and purpose in ("search", "user"):
            hint = (
                f"is {self.settings.url} a Jira Cloud site? For Server/Data Center remove {where}.email "
                "and use a personal access token"
                if self.settings.cloud
                else f"is {where}.url the Jira base URL (with any context path such as /jira)?"
            )
            return f"Jira has no {self.settings.api.removeprefix(self.settings.url)}{path} (HTTP 404); {hint}"
        if status == 429:
            asked = self._retry_after(error.response)
            if asked is not None and asked > self.settings.max_wait:
                return (
                    f"Jira rate limit: asked to wait {asked:g} s, more than {where}.max_wait = "
                    f"{self.settings.max_wait:g} s; rerun later or raise {where}.max_wait"
                )
            return f"Jira kept answering 429 Too Many Requests ({_attempts(attempts)}); rerun later"
        if status >= 500:
            return f"Jira answered HTTP {status} for {path}{quoted} ({_attempts(attempts)}); try again later"
        return f"Jira answered HTTP {status} for {path}{quoted}"


def _attempts(n: int) -> str:
    return f"{n} attempt{'' if n == 1 else 's'}"


def _jira_says(error: Any) -> str:
    """Jira's own error message (``errorMessages``/``errors``, as the jira library parses it), trimmed."""
    text = str(getattr(error, "text", "") or "").strip()
    if text.startswith("<") or not text:  # an HTML error page says nothing useful in one line
        return ""
    text = " ".join(text.split())
    return text if len(text) <= MESSAGE_LIMIT else text[: MESSAGE_LIMIT - 1] + "…"


def _reason(error: Exception) -> str:
    text = str(error)
    match = re.search(r"\] ([^']+)'\)", text) or re.search(
        r"(Connection refused|Name or service not known)", text
    )
    return match.group(1) if match else type(error).__name__


# ---- searching ---------------------------------------------------------------------------------------


@dataclass
class Pages:
    """The issues of one search so far, and why it stopped early (``problem``) if it did."""

    issues: list[dict[str, Any]] = field(default_factory=list)
    problem: str = ""
    truncated: bool = False


def search(client: JiraClient, jql: str, fields: list[str], *, limit_pages: int = MAX_PAGES) -> Pages:
    """Every issue matching ``jql``: Cloud pages with ``nextPageToken``, Server with ``startAt``/``total``.

    A failure on the first page raises SourceError; a failure later keeps the pages already read.
    """
    pages = Pages()
    for number, page in enumerate(_pages(client, jql, fields, pages)):
        pages.issues.extend(issue for issue in page if isinstance(issue, dict))
        if number + 1 >= limit_pages:
            pages.truncated = True
            break
    return pages


def _pages(client: JiraClient, jql: str, fields: list[str], state: Pages) -> Iterator[list[Any]]:
    settings = client.settings
    params: dict[str, Any] = {"jql": jql, "maxResults": PAGE_SIZE, "fields": ",".join(fields)}
    token: str | None = None
    start, seen_tokens = 0, set()
    while True:
        if settings.cloud:
            params.pop("nextPageToken", None)
            if token:
                params["nextPageToken"] = token
        else:
            params["startAt"] = start
        try:
            body = client.get(settings.search_path, params)
        except SourceError as error:
            if not state.issues:
                raise
            state.problem = str(error)
            return
        issues = body.get("issues") if isinstance(body, dict) else None
        if not isinstance(issues, list):
            raise SourceError(f"Jira answered {settings.search_path} without an issues list; is this Jira?")
        yield issues
        if settings.cloud:
            token = body.get("nextPageToken")
            if not token or body.get("isLast") is True or token in seen_tokens or not issues:
                return
            seen_tokens.add(token)
        else:
            start = int(body.get("startAt", start)) + len(issues)
            if not issues or start >= int(body.get("total", 0)):
                return


def resolve_assignee(client: JiraClient | None, settings: Settings, login: str) -> str:
    """The JQL value for the person: ``currentUser()``, or a quoted accountId / username."""
    if not login:
        return "currentUser()"
    if not (settings.cloud and "@" in login):
        return jql_string(login)
    assert client is not None
    users = client.get("/user/search", {"query": login, "maxResults": 50}, purpose="user")
    matches = [
        u
        for u in users
        if isinstance(users, list)
        if isinstance(u, dict) and u.get("accountId") and u.get("active", True) is not False
    ]
    exact = [u for u in matches if str(u.get("emailAddress", "")).lower() == login.lower()]
    chosen = exact or (matches if len(matches) == 1 else [])
    if not chosen:
        raise SourceError(
            f"no single active Jira user has the email {login} (or its owner hides it); set "
            f"sources.{settings.name}.assignee to the accountId (the id in your Jira profile's URL)"
        )
    return jql_string(str(chosen[0]["accountId"]))


def epic_titles(client: JiraClient, keys: list[str]) -> tuple[dict[str, str], str]:
    """The summaries of the epics ``keys`` (one request, first 100 keys) and a note if the lookup failed."""
    wanted = sorted({k for k in keys if TICKET_KEY.fullmatch(k)})[:PAGE_SIZE]
    if not wanted:
        return {}, ""
    params = {"jql": f"key in ({', '.join(wanted)})", "maxResults": PAGE_SIZE, "fields": "summary"}
    try:
        body = client.get(client.settings.search_path, params, purpose="epics")
    except SourceError as error:
        return {}, f"epic titles unavailable ({error})"
    found = body.get("issues") if isinstance(body, dict) else None
    titles = {
        str(issue.get("key")): str((issue.get("fields") or {}).get("summary") or "")
        for issue in found or []
        if isinstance(issue, dict) and issue.get("key")
    }
    return {k: v for k, v in titles.items() if v}, ""


# ---- the Epic Link field -----------------------------------------------------------------------------

_DISCOVERY_LOCKS: dict[str, threading.Lock] = {}
_DISCOVERY_LOCKS_GUARD = threading.Lock()


def epic_link_fields(field_list: Any) -> list[str]:
    """The ids of the Epic Link fields in an answer of ``GET /field``, oldest (lowest ``customId``) first.

    Matched on ``schema.custom`` (Jira Software's ``gh-epic-link`` type), never on the name, which is
    localised ("Epic Link", "史诗链接", …) and editable; "Epic Name", "Epic Status" and the like have
    other types. A site without Jira Software, or team-managed Cloud projects only, has none.
    """
    found: dict[str, float] = {}
    for item in field_list if isinstance(field_list, list) else []:
        schema = _dict(item.get("schema")) if isinstance(item, dict) else {}
        ident = item.get("id") if isinstance(item, dict) else None
        if schema.get("custom") == EPIC_LINK_TYPE and isinstance(ident, str) and FIELD_ID.fullmatch(ident):
            number = schema.get("customId")
            found[ident] = number if isinstance(number, int) and not isinstance(number, bool) else math.inf
    return sorted(found, key=lambda ident: (found[ident], ident))


def discover_epic_fields(client: JiraClient, cache: Cache | None) -> tuple[tuple[str, ...], str]:
    """The site's Epic Link field ids, and a note for the coverage when its field list could not be read.

    One ``GET {api}/field`` per site URL, kept in the local cache (namespace ``jira-fields``) so later
    runs make no request for it; a failed lookup is not kept. What would fail the search just the same
    raises SourceError (a rate limit not waited out, timeouts, refused connections, a login page); an
    HTTP refusal of the field list (401, 403, 404, a 5xx from a broken field plugin) leaves the epics to
    the ``parent`` and agile fields, with the note, and the search says what is wrong if it fails too
    (it explains a wrong kind of site, e.g. Cloud's 410, better than the 401 the field list gets).
    """
    settings = client.settings

    def run() -> dict[str, Any]:
        try:
            answer = client.get("/field", {}, purpose="fields")
        except JiraHttpError as error:
            if error.status == 429:
                raise
            return {"epic_link": [], "note": _discovery_note(settings, str(error))}
        if not isinstance(answer, list):
            return {"epic_link": [], "note": _discovery_note(settings, "Jira answered /field without a list")}
        return {"epic_link": epic_link_fields(answer), "note": ""}

    with _DISCOVERY_LOCKS_GUARD:  # workers of a team batch share a site: one of them asks, the rest read
        lock = _DISCOVERY_LOCKS.setdefault(settings.url, threading.Lock())
    with lock:
        key = {"v": FIELDS_CACHE_VERSION, "url": settings.url}
        value = cached(cache, FIELDS_NAMESPACE, key, run, storable=lambda v: not v["note"])
    value = _dict(value)  # a cached value is read defensively: ids that are field ids, nothing else
    stored = value.get("epic_link")
    ids = (
        tuple(i for i in stored if isinstance(i, str) and FIELD_ID.fullmatch(i))
        if isinstance(stored, list)
        else ()
    )
    return ids, str(value.get("note") or "")


def _discovery_note(settings: Settings, reason: str) -> str:
    return (
        f"Epic Link field not found ({reason}); epics come from parent and agile fields only: set "
        f'sources.{settings.name}.epic_field = "customfield_…" if some are missing'
    )


def unknown_epic_field_note(settings: Settings, issues: list[dict[str, Any]]) -> str:
    """A line when the configured ``epic_field`` came back on none of the tickets.

    Jira sends every requested field the issue has (``null`` when empty) and leaves out ids it does
    not know, so a field missing from every ticket is a wrong id, or one not used by these projects.
    """
    name = settings.epic_field
    if not name or not issues or any(name in _dict(issue.get("fields")) for issue in issues):
        return ""
    return (
        f'sources.{settings.name}.epic_field = "{name}" is on none of the {len(issues)} tickets found: '
        f"Jira has no such field (or not in these projects); check the id in {settings.api}/field, "
        "or remove epic_field to have the Epic Link field found"
    )


# ---- issues → evidence -------------------------------------------------------------------------------


def parse_datetime(value: Any) -> datetime | None:
    """A Jira timestamp such as ``2020-06-12T08:40:54.210+0800`` (no colon in the offset), or None."""
    if not isinstance(value, str) or not value:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


ADF_INLINE = frozenset(
    {"text", "hardBreak", "mention", "emoji", "status", "date", "inlineCard", "placeholder", "mediaInline",
     "inlineExtension"}
)  # fmt: skip
ADF_HIDDEN = frozenset({"media", "mediaSingle", "mediaGroup", "extension", "bodiedExtension"})


def adf_text(document: Any) -> str:
    """Plain text of an Atlassian Document Format document (a v3 description); strings pass through.

    Paragraphs are separated by blank lines, list items start with ``- `` (nested ones indented), table
    rows become ``a | b`` lines; mentions, emoji, statuses, dates and link cards keep their text; media
    is left out. Unknown node types keep the text inside them.
    """
    if isinstance(document, str):
        return document.strip()
    text = _adf(document)
    lines = [line.rstrip() for line in text.split("\n")]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


def _adf(node: Any, tight: bool = False) -> str:
    if isinstance(node, list):
        return _adf_join(node, tight)
    if not isinstance(node, dict):
        return ""
    kind = node.get("type")
    attrs = _dict(node.get("attrs"))
    children = node.get("content")
    content: list[Any] = children if isinstance(children, list) else []
    if kind == "text":
        return str(node.get("text") or "")
    if kind == "hardBreak":
        return "\n"
    if kind in ("mention", "emoji", "status", "placeholder"):
        return str(attrs.get("text") or attrs.get("shortName") or "")
    if kind in ("inlineCard", "blockCard", "embedCard"):
        return str(attrs.get("url") or "")
    if kind == "date":
        try:
            return datetime.fromtimestamp(int(attrs["timestamp"]) / 1000, UTC).date().isoformat()
        except (KeyError, TypeError, ValueError, OverflowError):
            return ""
    if kind in ADF_HIDDEN:
        return ""
    if kind == "rule":
        return "---"
    if kind in ("bulletList", "orderedList"):
        items = [_adf(item, True) for item in content]
        return "\n".join("- " + item.replace("\n", "\n  ") for item in items if item)
    if kind == "tableRow":
        return " | ".join(_adf(cell, True).replace("\n", " ") for cell in content)
    if kind in ("listItem", "table", "tableCell", "tableHeader"):
        return _adf_join(content, True)
    return _adf_join(content, tight)


def _adf_join(nodes: list[Any], tight: bool) -> str:
    """Inline nodes run together; block nodes are separated by a blank line (a line break when tight)."""
    if all(isinstance(n, dict) and n.get("type") in ADF_INLINE for n in nodes):
        return "".join(_adf(n) for n in nodes)
    parts = [_adf(n, tight) for n in nodes]
    return ("\n" if tight else "\n\n").join(p for p in parts if p.strip())


def _summary(fields: dict[str, Any]) -> str:
    return " ".join(ZERO_WIDTH.sub("", str(fields.get("summary") or "")).split())


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _names(value: Any) -> list[str]:
    return [str(v["name"]) for v in value or [] if isinstance(v, dict) and v.get("name")]


def epic_of(fields: dict[str, Any], settings: Settings) -> tuple[str, str]:
    """``(epic key, epic summary)``: the agile ``epic`` field, else a parent at hierarchy level 1, else an
    Epic Link field (``epic_field`` or the discovered one; on Server its value is the epic's key, whose
    summary is looked up later); ``("", "")`` when there is none."""
    epic = _dict(fields.get("epic"))
    if epic.get("key"):
        return str(epic["key"]), str(epic.get("summary") or epic.get("name") or "")
    parent = _dict(fields.get("parent"))
    parent_fields = _dict(parent.get("fields"))
    if parent.get("key") and _dict(parent_fields.get("issuetype")).get("hierarchyLevel") == 1:
        return str(parent["key"]), str(parent_fields.get("summary") or "")
    for name in settings.epic_fields:
        value = fields.get(name)
        if isinstance(value, dict) and value.get("key"):
            return str(value["key"]), str(value.get("summary") or "")
        if isinstance(value, str) and TICKET_KEY.fullmatch(value.strip()):
            return value.strip(), ""
    return "", ""


def _hierarchy_level(issuetype: dict[str, Any]) -> int | None:
    """Cloud's ``hierarchyLevel`` (1 epic, 0 standard, -1 sub-task); Server only says ``subtask``."""
    level = issuetype.get("hierarchyLevel")
    if isinstance(level, int) and not isinstance(level, bool):
        return level
    return -1 if issuetype.get("subtask") is True else None


def _story_points(value: Any) -> float | int | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return int(value) if float(value).is_integer() else float(value)


def ticket_evidence(issue: dict[str, Any], settings: Settings) -> Evidence | None:
    """The evidence for one search result, or None when it has no key or resolution date."""
    key = issue.get("key")
    fields = _dict(issue.get("fields"))
    resolved = parse_datetime(fields.get("resolutiondate"))
    if not isinstance(key, str) or not key or resolved is None:
        return None
    summary = _summary(fields)
    body = trim_body(adf_text(fields.get("description")) if fields.get("description") else "")
    parent = _dict(fields.get("parent"))
    issuetype = _dict(fields.get("issuetype"))
    linked = [
        str(_dict(link.get(side)).get("key"))
        for link in fields.get("issuelinks") or []
        if isinstance(link, dict)
        for side in ("inwardIssue", "outwardIssue")
        if _dict(link.get(side)).get("key")
    ]
    refs = [r for r in extract_refs(f"{summary}\n{body}") if r != key]
    refs += [k for k in [*linked, str(parent.get("key") or "")] if k and k != key]
    epic, epic_title = epic_of(fields, settings)
    status = _dict(fields.get("status"))
    assignee = _dict(fields.get("assignee"))
    extra: dict[str, Any] = {
        "source_name": settings.name,
        "project": str(_dict(fields.get("project")).get("key") or key.rsplit("-", 1)[0]),
        "status": str(status.get("name") or ""),
        "status_category": str(_dict(status.get("statusCategory")).get("key") or ""),
        "issue_type": str(issuetype.get("name") or ""),
        "hierarchy_level": _hierarchy_level(issuetype),
        "epic": epic if epic != key else "",
        "epic_title": epic_title if epic != key else "",
        "parent": str(parent.get("key") or ""),
        "components": _names(fields.get("components")),
        "fix_versions": _names(fields.get("fixVersions")),
        "story_points": _story_points(fields.get(settings.story_points_field))
        if settings.story_points_field
        else None,
    }
    return Evidence(
        id=f"jira:{key}",
        source="jira",
        kind="ticket",
        title=summary or key,
        url=f"{settings.url}/browse/{key}",
        completed_at=resolved,
        body=body,
        author=str(assignee.get("displayName") or assignee.get("name") or ""),
        created_at=parse_datetime(fields.get("created")),
        refs=list(dict.fromkeys(refs)),
        labels=[str(label) for label in fields.get("labels") or [] if isinstance(label, str | int)],
        extra=extra,
    )


def _identity(issue: dict[str, Any], cloud: bool) -> str:
    """The assignee of ``issue``: ``Name (accountId)`` on Cloud, ``Name (username)`` on Server."""
    user = _dict(_dict(issue.get("fields")).get("assignee"))
    ident = str(user.get("accountId") or "") if cloud else str(user.get("name") or user.get("key") or "")
    if not ident:
        return ""
    name = str(user.get("displayName") or "")
    return f"{name} ({ident})" if name and name != ident else ident


# ---- fetch -------------------------------------------------------------------------------------------


@dataclass
class _Window:
    """What one fetch of the range produced (the cached value, as JSON)."""

    evidence: list[dict[str, Any]]
    complete: bool
    detail: str
    requests: int

    def to_json(self) -> dict[str, Any]:
        return {"evidence": self.evidence, "complete": self.complete, "detail": self.detail,
                "requests": self.requests}  # fmt: skip


def _fetch_window(
    settings: Settings, login: str, time_range: TimeRange, context: FetchContext
) -> dict[str, Any]:
    client = JiraClient.connect(
        settings,
        context.sleep,
        getattr(context, "throttle", None),
        now=context.now,
        check_cancelled=context.check_cancelled,
    )
    try:
        assignee = resolve_assignee(client, settings, login)
        discovery = ""
        if not settings.epic_field:
            found, discovery = discover_epic_fields(client, context.cache)
            settings = replace(settings, found_epic_fields=found)
        jql = build_jql(assignee, time_range, settings.jql)
        if context.progress:
            context.progress(f"{settings.name}: searching {settings.url}")
        pages = search(client, jql, settings.fields())
        items: list[Evidence] = []
        counts = {"outside": 0, "not_done": 0, "unresolved": 0}
        identities: list[str] = []
        for issue in pages.issues:
            identities.append(_identity(issue, settings.cloud))
            category = _dict(_dict(_dict(issue.get("fields")).get("status")).get("statusCategory")).get("key")
            evidence = ticket_evidence(issue, settings)
            if evidence is None:
                counts["unresolved"] += 1
            elif category is not None and category != "done":
                counts["not_done"] += 1
            elif evidence.completed_at not in time_range:
                counts["outside"] += 1
            else:
                items.append(evidence)
        items = list({e.id: e for e in items}.values())
        # An epic the search found itself (the person resolved it too) needs no lookup for its title.
        titles = {str(i.get("key")): _summary(_dict(i.get("fields"))) for i in pages.issues}
        missing = [e.extra["epic"] for e in items if e.extra["epic"] and not e.extra["epic_title"]]
        missing = [k for k in missing if not titles.get(k)]
        looked_up, note = epic_titles(client, missing) if missing else ({}, "")
        titles.update(looked_up)
        for item in items:
            if item.extra["epic"] and not item.extra["epic_title"] and titles.get(item.extra["epic"]):
                item.extra["epic_title"] = titles[item.extra["epic"]]
        detail = _detail(len(items), len(pages.issues), counts, assignee, identities)
        truncated = f"stopped after {MAX_PAGES} pages" if pages.truncated else ""
        unknown = unknown_epic_field_note(settings, pages.issues)
        problems = [p for p in (pages.problem, truncated, discovery, unknown, note) if p]
        return _Window(
            evidence=[e.to_dict() for e in items],
            complete=not pages.problem and not pages.truncated and not discovery,
            detail="; ".join([detail, *problems]),
            requests=client.request_count,
        ).to_json()
    finally:
        client.session.close()


def _detail(kept: int, fetched: int, counts: dict[str, int], assignee: str, identities: list[str]) -> str:
    text = f"{kept} ticket{'' if kept == 1 else 's'} resolved in range"
    dropped = [
        f"{n} {what}"
        for what, n in (
            ("outside the exact range", counts["outside"]),
            ("not in status category done", counts["not_done"]),
            ("without resolution date", counts["unresolved"]),
        )
        if n
    ]
    if dropped:
        text += f" (of {fetched} found; {', '.join(dropped)})"
    who = ", ".join(dict.fromkeys(i for i in identities if i))
    return text + f"; assignee {assignee}" + (f" = {who}" if who else "")


def fetch(
    person: Person, time_range: TimeRange, section: SourceSection, context: FetchContext | None = None
) -> FetchResult:
    """The person's tickets resolved in ``time_range`` on the section's Jira site."""
    context = context or FetchContext(now=datetime.now(UTC))
    settings = read_settings(section)
    login = settings.assignee or str(person.logins.get("jira") or "").strip()
    key = {
        "v": CACHE_VERSION,
        "source": settings.name,
        "url": settings.url,
        "user": settings.email,
        "assignee": login or "currentUser()",
        "jql": settings.jql,
        "fields": settings.fields(),
        "since": time_range.since.isoformat(),
        "until": time_range.until.isoformat(),
    }
    closed = time_range.until <= context.now
    fetched = False

    def run() -> dict[str, Any]:
        nonlocal fetched
        fetched = True
        return _fetch_window(settings, login, time_range, context)

    value = cached(context.cache, "jira", key, run, storable=lambda v: closed and bool(v.get("complete")))
    evidence = [Evidence.from_dict(item) for item in value["evidence"]]
    detail = str(value["detail"])
    requests = int(value["requests"])
    detail += f"; {requests} request{'' if requests == 1 else 's'}" if fetched else "; from cache, 0 requests"
    report = SourceReport(
        source=section.name,
        status="ok" if value["complete"] else "partial",
        items=len(evidence),
        detail=detail,
        type="jira",
    )
    return FetchResult(evidence=evidence, report=report, identities=[])


connector = Connector(
    type="jira",
    summary="resolved tickets from Jira Cloud or Server/Data Center",
    fetch=fetch,
    check=check,
    implicit=None,
    options=frozenset(
        {
            "type",
            "enabled",
            "url",
            "email",
            "token",
            "jql",
            "assignee",
            "epic_field",
            "story_points_field",
            "max_wait",
            "timeout",
        }
    ),
)
