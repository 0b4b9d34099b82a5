"""``mine team ROSTER --since 6m --out DIR``: one report per person on a roster, plus an index.

Roster, TOML (one ``[[people]]`` table per person)::

    [[people]]
    name = "Ada Lovelace"
    emails = ["ada@acme.io", "ada@users.noreply.github.com"]   # git identities
    github = "ada"                                              # GitHub login
    gitlab = "ada.l"                                            # GitLab username
    jira = "ada@acme.io"                                        # Jira user (account id, name or email)
    repos = ["~/src/api", "~/src/web"]                          # git repositories (replace the config's)

or CSV with the header ``name,emails,github,gitlab,jira,repos`` (columns in any order, only ``name``
required) and ``;`` between list items: ``Ada Lovelace,ada@acme.io;ada@x.io,ada,,~/src/api``. Blank
lines and lines starting with ``#`` are skipped.

A TOML row may also override options of the lead's sources for that person (for work the lead's
credentials do not reach), with ``env:``/``cmd:``/``file:`` secrets as in the config::

    [people.sources.gh]        # the config's [sources.gh]
    token = "env:EVE_GITHUB_TOKEN"

Sources and credentials come from the lead's config; identities come from the roster (see
:func:`member_spec`: a source whose identity a row lacks is skipped for that person). A row with bad
data (no name, no identity, a malformed email or login, an unknown key, a duplicate) is reported with
its line number and the other rows still run.

Limits shared by all workers, per source name, in the lead's config::

    [team.limits.github]
    concurrency = 2            # fetches of this source running at once, across all people (default 4;
                               # git sources are unlimited)
    requests_per_second = 10   # pacing for connectors that ask FetchContext.throttle (default: none)

Files in ``DIR``: ``SLUG.EXT`` per person and format (the slug of the name; names that collide get
``-`` and a short hash of the identity), ``index.md`` and ``index.html`` (people and links only: no
ranking, scores or comparisons), and ``.impact-miner/SLUG.json``, a manifest written after the
person's reports. Every file is written atomically. A rerun skips a person whose manifest says ``ok``
for the same identity, range and formats and whose files are unchanged, unless ``force``.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
import threading
import time
import tomllib
import unicodedata
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, as_completed
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal, Protocol

from impact_miner.config import check_keys, unknown_key_message
from impact_miner.errors import Cancelled, ConfigError, MineError, UsageError
from impact_miner.model import FetchResult, Person, Report, SourceReport, SourceSection, TimeRange
from impact_miner.registry import Connector, FetchContext
from impact_miner.render.formats import DEFAULT_FORMAT, format_of_extension, get_format
from impact_miner.runspec import RunSpec

Outcome = Literal["ok", "partial", "failed", "skipped"]
FIELDS = ("name", "emails", "github", "gitlab", "jira", "repos")
TOML_ONLY_FIELDS = ("sources",)
# The options by which a source section names whose work to fetch: in a batch the roster says who.
IDENTITY_OPTIONS = {"github": ("login",), "gitlab": ("username",), "jira": ("assignee",)}
# What a member needs for a source type to run; without it the source is skipped for them.
NEEDS = {
    "git": ("emails", "emails"),
    "github": ("github", "github login"),
    "gitlab": ("gitlab", "gitlab username"),
    "jira": ("jira", "jira user"),
}
LIST_FIELDS = ("emails", "repos")
EMAIL = re.compile(r"[^@\s;,]+@[^@\s;,]+\.[^@\s;,]+")
GITHUB_LOGIN = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9]|-(?=[A-Za-z0-9])){0,38}")
GITLAB_USERNAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,254}")
RESERVED_STEMS = frozenset({"index"})
MANIFEST_DIR = ".impact-miner"
MANIFEST_SCHEMA = "impact-miner/team-manifest@1"
DEFAULT_CONCURRENCY = 4
UNLIMITED_TYPES = frozenset({"git"})
TEAM_KEYS = frozenset({"limits"})
LIMIT_KEYS = frozenset({"concurrency", "requests_per_second"})


# ---- the roster ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Member:
    """One roster row: a person and where their work is."""

    name: str
    line: int
    emails: tuple[str, ...] = ()
    github: str = ""
    jira: str = ""
    repos: tuple[str, ...] = ()
    gitlab: str = ""
    overrides: Mapping[str, Mapping[str, Any]] = field(default_factory=dict, compare=False)

    def person(self) -> Person:
        pairs = (("github", self.github), ("gitlab", self.gitlab), ("jira", self.jira))
        logins = {source: login for source, login in pairs if login}
        return Person(name=self.name, emails=list(self.emails), logins=logins)

    def identity(self) -> str:
        """A short, stable hash of who this is (name and identities)."""
        key = {
            "name": self.name.casefold(),
            "emails": sorted(e.lower() for e in self.emails),
            "github": self.github.lower(),
            "jira": self.jira.lower(),
            **({"gitlab": self.gitlab.lower()} if self.gitlab else {}),  # old hashes stay the same
        }
        return hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:8]


@dataclass(frozen=True)
class RosterProblem:
    """A roster row that cannot run, and why."""

    line: int
    message: str
    name: str = ""


@dataclass
class Roster:
    path: Path
    members: list[Member]
    problems: list[RosterProblem]


def read_roster(path: Path) -> Roster:
    """Read a ``.toml`` or ``.csv`` roster; bad rows become problems, a bad file is a :class:`UsageError`."""
    try:
        text = path.expanduser().read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise UsageError(f"roster {path} does not exist; pass a .toml or .csv roster file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"roster {path} cannot be read: {exc}") from None
    suffix = path.suffix.lower()
    if suffix == ".toml":
        members, problems = parse_toml_roster(text, str(path))
    elif suffix == ".csv":
        members, problems = parse_csv_roster(text, str(path))
    else:
        raise UsageError(
            f"roster {path}: unknown format {suffix or '(no extension)'}; use a .toml or .csv file"
        )
    if not members and not problems:
        raise UsageError(f"roster {path} lists nobody; add [[people]] tables (TOML) or rows (CSV)")
    return Roster(path, members, problems)


def parse_toml_roster(text: str, where: str = "roster") -> tuple[list[Member], list[RosterProblem]]:
    """``[[people]]`` tables → members and problems, each with the line of its ``[[people]]`` header."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise UsageError(f"{where}: invalid TOML: {exc}; fix the file") from None
    unknown = sorted(set(data) - {"people"})
    if unknown:
        raise UsageError(f"{where}: unknown table {unknown[0]!r}; a roster holds [[people]] tables only")
    people = data.get("people", [])
    if not isinstance(people, list):
        raise UsageError(f"{where}: `people` must be an array of tables: write one [[people]] per person")
    headers = [n for n, line in enumerate(text.splitlines(), 1) if re.match(r"\s*\[\[\s*people\s*\]\]", line)]
    lines = headers if len(headers) == len(people) else [0] * len(people)
    raws: list[tuple[int, dict[str, Any] | str]] = []
    for line, row in zip(lines, people, strict=True):
        raws.append((line, row if isinstance(row, dict) else "each [[people]] entry must be a table"))
    return _check_rows(raws)


def parse_csv_roster(text: str, where: str = "roster") -> tuple[list[Member], list[RosterProblem]]:
    """CSV with a ``name,emails,github,gitlab,jira,repos`` header (``;`` inside lists) → members, problems."""
    reader = csv.reader(io.StringIO(text))
    header: list[str] | None = None
    raws: list[tuple[int, dict[str, Any] | str]] = []
    start = 1
    for row in reader:
        line, start = start, reader.line_num + 1
        if not any(cell.strip() for cell in row) or row[0].lstrip().startswith("#"):
            continue
        if header is None:
            header = [cell.strip().lower() for cell in row]
            unknown = [c for c in header if c not in FIELDS]
            if unknown or "name" not in header or len(set(header)) != len(header):
                raise UsageError(
                    f"{where}:{line}: the header must name columns from {','.join(FIELDS)} (name required, "
                    f"each once); got {','.join(header)}"
                )
            continue
        if len(row) > len(header):
            raws.append(
                (line, f"{len(row)} fields but the header has {len(header)}; quote values with commas")
            )
            continue
        cells = dict(zip(header[: len(row)], (cell.strip() for cell in row), strict=True))
        values: dict[str, Any] = {k: v for k, v in cells.items() if v}
        for key in LIST_FIELDS:
            if key in values:
                values[key] = [part.strip() for part in values[key].split(";") if part.strip()]
        raws.append((line, values))
    if header is None:
        raise UsageError(f"{where}: no header; the first line must be {','.join(FIELDS)}")
    return _check_rows(raws)


def _check_rows(raws: Sequence[tuple[int, dict[str, Any] | str]]) -> tuple[list[Member], list[RosterProblem]]:
    members: list[Member] = []
    problems: list[RosterProblem] = []
    seen: dict[str, Member] = {}
    for line, raw in raws:
        checked = raw if isinstance(raw, str) else check_row(raw, line)
        if isinstance(checked, str):
            name = raw.get("name", "") if isinstance(raw, dict) else ""
            problems.append(RosterProblem(line, checked, name if isinstance(name, str) else ""))
            continue
        twin = seen.get(checked.identity())
        if twin is not None:
            problems.append(RosterProblem(line, f"same person as line {twin.line}; remove one", checked.name))
            continue
        seen[checked.identity()] = checked
        members.append(checked)
    return members, problems


def check_row(row: Mapping[str, Any], line: int) -> Member | str:
    """A valid :class:`Member`, or what is wrong with the row (one line, saying how to fix it)."""
    unknown = sorted(set(row) - set(FIELDS) - set(TOML_ONLY_FIELDS))
    if unknown:
        return f"unknown key {unknown[0]!r}; a person has {', '.join(FIELDS)} (and, in TOML, sources)"
    name = row.get("name")
    if not isinstance(name, str) or not name.strip():
        return "no name; every person needs a name"
    values: dict[str, Any] = {}
    for key in LIST_FIELDS:
        items = row.get(key, [])
        if not isinstance(items, list) or not all(isinstance(i, str) and i.strip() for i in items):
            return f'{key} must be a list of non-empty strings, e.g. {key} = ["…"]'
        values[key] = tuple(i.strip() for i in items)
    for key in ("github", "gitlab", "jira"):
        value = row.get(key, "")
        if not isinstance(value, str):
            return f"{key} must be a string"
        values[key] = value.strip()
    bad = [e for e in values["emails"] if not EMAIL.fullmatch(e)]
    if bad:
        return f"emails: {bad[0]!r} is not an email address"
    if values["github"] and not GITHUB_LOGIN.fullmatch(values["github"]):
        return f"github: {values['github']!r} is not a GitHub login (letters, digits, single hyphens)"
    if values["gitlab"] and not GITLAB_USERNAME.fullmatch(values["gitlab"]):
        return f"gitlab: {values['gitlab']!r} is not a GitLab username (letters, digits, _, - and .)"
    if any(ord(c) < 32 for c in values["jira"]):
        return "jira: the user contains control characters"
    if not (values["emails"] or values["github"] or values["gitlab"] or values["jira"]):
        return "no identity; give emails, github, gitlab or jira so the person's work can be found"
    overrides = row.get("sources", {})
    if not isinstance(overrides, dict) or not all(isinstance(t, dict) for t in overrides.values()):
        return "sources must hold one table per source of the config, e.g. [people.sources.gh]"
    return Member(name=" ".join(name.split()), line=line, overrides=overrides, **values)


# ---- file names ------------------------------------------------------------------------------------


def slug(name: str) -> str:
    """``"Zoë O'Brien"`` → ``"zoe-o-brien"``; names with no Latin letters become ``person``."""
    flat = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "-", flat.lower()).strip("-")[:60].strip("-") or "person"


def file_stems(members: Sequence[Member]) -> dict[Member, str]:
    """Each member's file stem: the slug of the name, plus ``-HASH`` of the identity when slugs collide."""
    by_slug: dict[str, list[Member]] = {}
    for member in members:
        by_slug.setdefault(slug(member.name), []).append(member)
    stems: dict[Member, str] = {}
    for base, group in by_slug.items():
        clash = len(group) > 1 or base in RESERVED_STEMS
        for member in group:
            stems[member] = f"{base}-{member.identity()[:6]}" if clash else base
    return stems


# ---- shared limits ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Limit:
    """How hard all workers together may use one source: concurrent fetches and requests per second."""

    concurrency: int | None = DEFAULT_CONCURRENCY
    requests_per_second: float | None = None


class SourceLimiter:
    """Per source name, shared by every worker: a fetch slot semaphore, a token bucket, and a hold.

    It implements :class:`impact_miner.registry.Throttle`: a connector calls ``wait(source)`` before
    each request and ``hold(source, seconds)`` when the service says to back off (429, ``Retry-After``),
    which makes every worker wait. ``clock`` and ``sleep`` are injectable so tests take no time. Once
    ``cancel`` is set (the batch is interrupted) ``wait`` raises :class:`Cancelled` instead: no worker
    makes another request, and a pacing wait ends at once.
    """

    def __init__(
        self,
        limits: Mapping[str, Limit] | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] | None = None,
        cancel: threading.Event | None = None,
    ) -> None:
        self.limits = dict(limits or {})
        self.clock = clock
        self.cancel = cancel if cancel is not None else threading.Event()
        self.sleep = sleep or self.cancel.wait
        self.waits = 0
        self._lock = threading.Lock()
        self._slots: dict[str, threading.BoundedSemaphore | None] = {}
        self._next: dict[str, float] = {}
        self._held_until: dict[str, float] = {}

    def limit(self, source: str, source_type: str = "") -> Limit:
        if source in self.limits:
            return self.limits[source]
        return Limit(concurrency=None) if source_type in UNLIMITED_TYPES else Limit()

    @contextmanager
    def slot(self, source: str, source_type: str = "") -> Iterator[None]:
        """Hold one of the source's fetch slots for the duration of a fetch."""
        with self._lock:
            if source not in self._slots:
                concurrency = self.limit(source, source_type).concurrency
                self._slots[source] = threading.BoundedSemaphore(concurrency) if concurrency else None
            semaphore = self._slots[source]
        if semaphore is None:
            yield
            return
        with semaphore:
            yield

    def wait(self, source: str) -> None:
        """Block until the source may take one more request (pacing and any hold)."""
        self._check_cancelled()
        rate = self.limit(source).requests_per_second
        with self._lock:
            now = self.clock()
            start = max(now, self._held_until.get(source, 0.0))
            if rate:
                start = max(start, self._next.get(source, 0.0))
                self._next[source] = start + 1.0 / rate
            delay = start - now
        if delay > 0:
            self.waits += 1
            self.sleep(delay)
            self._check_cancelled()

    def _check_cancelled(self) -> None:
        if self.cancel.is_set():
            raise Cancelled()

    def hold(self, source: str, seconds: float) -> None:
        """Every worker waits ``seconds`` before its next request to ``source``."""
        with self._lock:
            self._held_until[source] = max(
                self._held_until.get(source, 0.0), self.clock() + max(0.0, seconds)
            )


def read_limits(config_file: Path | None) -> dict[str, Limit]:
    """The ``[team.limits.NAME]`` tables of the lead's config (only that table is read)."""
    if config_file is None or not config_file.exists():
        return {}
    try:
        data = tomllib.loads(config_file.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"config {config_file} cannot be read: {exc}") from None
    team = data.get("team", {})
    if isinstance(team, dict):
        check_keys(team, TEAM_KEYS, "team", config_file)
    limits = team.get("limits", {}) if isinstance(team, dict) else None
    if not isinstance(limits, dict):
        raise ConfigError(f"config {config_file}: `team.limits` must be tables, e.g. [team.limits.github]")
    found: dict[str, Limit] = {}
    for name, table in limits.items():
        where = f"team.limits.{name}"
        if not isinstance(table, dict):
            raise ConfigError(
                f"config {config_file}: [{where}] takes concurrency and requests_per_second only"
            )
        for key in table:
            if key not in LIMIT_KEYS:
                raise ConfigError(
                    f"{unknown_key_message(key, LIMIT_KEYS, where, config_file)} "
                    f"([{where}] takes concurrency and requests_per_second only)"
                )
        concurrency = table.get("concurrency", DEFAULT_CONCURRENCY)
        rate = table.get("requests_per_second")
        if not isinstance(concurrency, int) or isinstance(concurrency, bool) or concurrency < 1:
            raise ConfigError(f"config {config_file}: {where}.concurrency must be a whole number ≥ 1")
        if rate is not None and (isinstance(rate, bool) or not isinstance(rate, int | float) or rate <= 0):
            raise ConfigError(f"config {config_file}: {where}.requests_per_second must be a number > 0")
        found[name] = Limit(concurrency, float(rate) if rate is not None else None)
    return found


def limited(connector: Connector, limiter: SourceLimiter) -> Connector:
    """``connector`` taking a shared fetch slot per fetch, with the limiter as its context's throttle."""

    def fetch(
        person: Person, period: TimeRange, section: SourceSection, context: FetchContext
    ) -> FetchResult:
        with limiter.slot(section.name, connector.type):
            return connector.fetch(person, period, section, replace(context, throttle=limiter))

    return replace(connector, fetch=fetch)


# ---- the batch -------------------------------------------------------------------------------------


@dataclass
class PersonResult:
    """What happened to one roster row."""

    name: str
    line: int
    status: Outcome
    reason: str = ""
    stem: str = ""
    files: list[str] = field(default_factory=list)


@dataclass
class TeamBatch:
    """Everything a batch needs: the roster, the lead's spec and sections, where and how to write."""

    roster: Roster
    base: RunSpec
    lead_sections: list[SourceSection]
    out_dir: Path
    formats: tuple[str, ...] = (DEFAULT_FORMAT,)
    jobs: int = 4
    force: bool = False
    limiter: SourceLimiter = field(default_factory=SourceLimiter)
    env: Mapping[str, str] = field(default_factory=dict)


@dataclass
class TeamResult:
    results: list[PersonResult]
    index_files: list[Path]

    @property
    def exit_partial(self) -> bool:
        return any(r.status in ("partial", "failed") for r in self.results)


class TeamProgress(Protocol):
    """What the batch tells a display: a person started, a step of theirs, a person finished."""

    def start(self, name: str) -> None: ...
    def step(self, name: str, message: str) -> None: ...
    def finish(self, result: PersonResult) -> None: ...


def member_spec(batch: TeamBatch, member: Member) -> RunSpec:
    """The lead's spec for one member: the member's identities, repos and overrides, the shared limits.

    - The member's ``repos`` replace the paths of the config's git sources (the first git section's
      other options are kept); without ``repos`` the configured git sources run as they are, and the
      implicit current-repository source never runs in a batch.
    - Identity options of the lead's sections (github ``login``, jira ``assignee``) are dropped: the
      roster says whose work it is. A source whose identity the row lacks (git without ``emails``,
      github without ``github``, jira without ``jira``) is ``skipped`` for this member rather than
      falling back to the token's own user.
    - ``[people.sources.NAME]`` options (TOML rosters) override that section's options for this member;
      their ``env:``/``cmd:``/``file:`` references are resolved like the config's.
    """
    from impact_miner.config import SECRET_PREFIXES, resolve_secret

    configured = {s.name for s in batch.lead_sections}
    unknown = sorted(set(member.overrides) - configured)
    if unknown:
        raise UsageError(
            f"roster line {member.line}: sources.{unknown[0]} is not a source of the config "
            f"({', '.join(sorted(configured)) or 'none'}); fix the roster or the config"
        )
    pairs: list[tuple[Connector, SourceSection]] = []
    for connector, section in batch.base.sources:
        if connector.type == "git" and (member.repos or section.name not in configured):
            continue
        pairs.append((connector, section))
    if member.repos:
        git = next((c for c, _ in batch.base.sources if c.type == "git"), None)
        if git is None:
            from impact_miner.registry import available, lookup

            git = lookup("git", available())
        template = next((s for s in batch.lead_sections if s.type == "git"), SourceSection("git", "git"))
        section = SourceSection(template.name, "git", {**template.options, "paths": list(member.repos)})
        pairs.insert(0, (git, section))
    sources: list[tuple[Connector, SourceSection]] = []
    for connector, section in pairs:
        options = {
            k: v for k, v in section.options.items() if k not in IDENTITY_OPTIONS.get(connector.type, ())
        }
        for key, value in member.overrides.get(section.name, {}).items():
            where = f"roster line {member.line}: sources.{section.name}.{key}"
            if isinstance(value, str) and value.startswith(SECRET_PREFIXES):
                value = resolve_secret(value, where, batch.env)
            options[key] = value
        section = replace(section, options=options)
        need = NEEDS.get(connector.type)
        if need is not None and not getattr(member, need[0]):
            sources.append((skipped(connector, f"no {need[1]} on the roster row"), section))
        else:
            sources.append((limited(connector, batch.limiter), section))
    return replace(batch.base, person=member.person(), sources=sources)


def skipped(connector: Connector, why: str) -> Connector:
    """``connector`` that does not run for this member: its coverage says ``skipped`` and why."""

    def fetch(
        _person: Person, _period: TimeRange, section: SourceSection, _context: FetchContext
    ) -> FetchResult:
        return FetchResult([], SourceReport(section.name, "skipped", 0, why, connector.type))

    return replace(connector, fetch=fetch, check=None, check_person=None)


def run_team(batch: TeamBatch, progress: TeamProgress | None = None) -> TeamResult:
    """Run every member (``jobs`` at a time), write their reports, manifests and the index.

    The output directory is locked for the batch (a second batch into it is refused), so temporary
    files that a killed earlier batch left there are removed first. An interrupt (Ctrl-C, SIGTERM)
    sets ``batch.base.cancel``: people not started never start, running ones stop at their next
    request, finished reports stay, and the interrupt goes on.
    """
    batch.out_dir.mkdir(parents=True, exist_ok=True)
    (batch.out_dir / MANIFEST_DIR).mkdir(exist_ok=True)
    with _locked(batch.out_dir):
        return _run_locked(batch, progress)


@contextmanager
def _locked(out_dir: Path) -> Iterator[None]:
    """Hold ``DIR/.impact-miner/lock`` (flock) and clear stale temporary files; refuse a second batch."""
    from impact_miner.atomic import remove_stale_temps

    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows: no lock, and so no clean-up of others' files
        yield
        return
    with open(out_dir / MANIFEST_DIR / "lock", "a") as handle:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise UsageError(
                f"another `mine team` is writing to {out_dir}; wait for it to finish or use another --out"
            ) from None
        remove_stale_temps(out_dir)
        remove_stale_temps(out_dir / MANIFEST_DIR)
        yield


def _run_locked(batch: TeamBatch, progress: TeamProgress | None) -> TeamResult:
    from impact_miner.atomic import write_files

    stems = file_stems(batch.roster.members)
    results: list[PersonResult] = [
        PersonResult(p.name or f"line {p.line}", p.line, "failed", f"roster line {p.line}: {p.message}")
        for p in batch.roster.problems
    ]
    if progress:
        for result in results:
            progress.finish(result)
    pending: list[Member] = []
    for member in batch.roster.members:
        done = None if batch.force else completed(batch, member, stems[member])
        if done is not None:
            results.append(done)
            if progress:
                progress.finish(done)
        else:
            pending.append(member)
    with ThreadPoolExecutor(max_workers=max(1, batch.jobs), thread_name_prefix="person") as pool:
        futures: dict[Future[PersonResult], Member] = {
            pool.submit(run_member, batch, m, stems[m], progress): m for m in pending
        }
        try:
            for future in as_completed(futures):
                result = future.result()
                results.append(result)
                if progress:
                    progress.finish(result)
        except BaseException:
            batch.base.cancel.set()
            for future in futures:
                future.cancel()
            raise
    results.sort(key=lambda r: (r.name.casefold(), r.line))
    index = [batch.out_dir / "index.md", batch.out_dir / "index.html"]
    markdown, html = render_index(results, batch.base.time_range)
    write_files([(index[0], markdown.encode()), (index[1], html.encode())])
    return TeamResult(results, index)


def run_member(
    batch: TeamBatch, member: Member, stem: str, progress: TeamProgress | None = None
) -> PersonResult:
    """One person's run, isolated: whatever goes wrong becomes a failed result, never an exception."""
    from impact_miner.atomic import write_files
    from impact_miner.outputs import OutputTarget, write_outputs
    from impact_miner.pipeline import build_report

    if progress:
        progress.start(member.name)
    try:
        spec = member_spec(batch, member)
        report = build_report(
            spec, (lambda message: progress.step(member.name, message)) if progress else None
        )
        status, reason = judge(report)
        targets = [OutputTarget(batch.out_dir / report_name(stem, f), f) for f in batch.formats]
        files = [(path, data) for path, data in write_outputs(report, targets) if path is not None]
        write_files([(manifest_path(batch, stem), _manifest(batch, member, status, reason, files))])
    except Exception as exc:  # one person's failure must not stop the others
        reason = str(exc) if isinstance(exc, MineError) else f"{type(exc).__name__}: {exc}"
        return PersonResult(member.name, member.line, "failed", reason, stem)
    return PersonResult(member.name, member.line, status, reason, stem, [p.name for p, _ in files])


def judge(report: Report) -> tuple[Outcome, str]:
    """``ok``; ``partial`` when some source failed or came back incomplete; ``failed`` when every source
    that ran failed (or none could run)."""
    ran = [c for c in report.coverage if c.status != "skipped"]
    bad = [c for c in ran if c.status in ("partial", "failed")]
    reason = "; ".join(f"{c.source}: {c.status}: {c.detail}" for c in bad)
    if not ran:
        return "failed", "no source could run: " + "; ".join(
            f"{c.source}: {c.detail}" for c in report.coverage
        )
    if all(c.status == "failed" for c in ran):
        return "failed", reason
    return ("partial", reason) if bad else ("ok", "")


def report_name(stem: str, fmt: str) -> str:
    """The file name of a member's report in ``fmt``: ``ada-lovelace.md``."""
    return stem + get_format(fmt).extension


def manifest_path(batch: TeamBatch, stem: str) -> Path:
    return batch.out_dir / MANIFEST_DIR / f"{stem}.json"


def completed(batch: TeamBatch, member: Member, stem: str) -> PersonResult | None:
    """The earlier result of ``member`` when it is complete and still valid, else ``None``."""
    try:
        data = json.loads(manifest_path(batch, stem).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or data.get("schema") != MANIFEST_SCHEMA or data.get("status") != "ok":
        return None
    if data.get("identity") != member.identity() or data.get("range") != _range_key(batch.base.time_range):
        return None
    if data.get("inputs") != _inputs(batch, member):
        return None
    files = data.get("files")
    if not isinstance(files, dict) or sorted(files) != sorted(report_name(stem, f) for f in batch.formats):
        return None
    for name, digest in files.items():
        try:
            if hashlib.sha256((batch.out_dir / name).read_bytes()).hexdigest() != digest:
                return None
        except OSError:
            return None
    names = [report_name(stem, f) for f in batch.formats]  # in --format order, as a fresh run lists them
    return PersonResult(member.name, member.line, "skipped", "complete from an earlier run", stem, names)


def _manifest(
    batch: TeamBatch, member: Member, status: Outcome, reason: str, files: Sequence[tuple[Path, bytes]]
) -> bytes:
    data = {
        "schema": MANIFEST_SCHEMA,
        "name": member.name,
        "identity": member.identity(),
        "inputs": _inputs(batch, member),
        "range": _range_key(batch.base.time_range),
        "status": status,
        "reason": reason,
        "files": {path.name: hashlib.sha256(content).hexdigest() for path, content in files},
        "finished_at": datetime.now(UTC).isoformat(),
    }
    return (json.dumps(data, indent=2, sort_keys=True) + "\n").encode()


def _inputs(batch: TeamBatch, member: Member) -> str:
    """A hash of what else shapes the report: the member's repos and overrides, the lead's source names."""
    key = {
        "repos": list(member.repos),
        "overrides": member.overrides,
        "sources": sorted(f"{s.name}:{s.type}" for s in batch.lead_sections),
    }
    return hashlib.sha256(json.dumps(key, sort_keys=True, default=str).encode()).hexdigest()[:16]


def _range_key(period: TimeRange) -> dict[str, str]:
    return {"since": period.since.isoformat(), "until": period.until.isoformat()}


# ---- the index and the summary ---------------------------------------------------------------------

INDEX_HTML = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Team reports {{ since }} → {{ until }}</title>
<style>
body { font: 16px/1.5 system-ui, sans-serif; max-width: 44rem; margin: 2rem auto; padding: 0 1rem; }
li { margin: .25rem 0; } a { margin-right: .5rem; } .none { color: #666; }
</style>
</head>
<body>
<h1>Team reports</h1>
<p>{{ since }} → {{ until }} (<code>{{ spec }}</code>, end excluded). People in alphabetical order.</p>
<ul>
{% for person in people %}
<li>{{ person.name }}:
{% for label, href in person.links %}<a href="{{ href }}">{{ label }}</a>{% endfor %}
{% if not person.links %}<span class="none">no report</span>{% endif %}
</li>
{% endfor %}
</ul>
</body>
</html>
"""


def render_index(results: Sequence[PersonResult], period: TimeRange) -> tuple[str, str]:
    """The index in Markdown and HTML: each person (alphabetical) and links to their reports, nothing else."""
    from urllib.parse import quote

    from jinja2 import Environment

    from impact_miner.render.markdown import markdown_text

    people = [
        {"name": r.name, "links": [(_label(f), quote(f)) for f in r.files]}
        for r in sorted(results, key=lambda r: (r.name.casefold(), r.line))
        if r.stem
    ]
    since, until = f"{period.since:%Y-%m-%d %H:%M}", f"{period.until:%Y-%m-%d %H:%M}"
    lines = [
        "# Team reports",
        "",
        f"{since} → {until} (`{period.spec}`, end excluded). People in alphabetical order.",
        "",
    ]
    for person in people:
        links = " · ".join(f"[{label}]({href})" for label, href in person["links"]) or "no report"
        lines.append(f"- {markdown_text(str(person['name']))}: {links}")
    html = Environment(autoescape=True, trim_blocks=True, lstrip_blocks=True).from_string(INDEX_HTML)
    return "\n".join(lines) + "\n", html.render(people=people, since=since, until=until, spec=period.spec)


def _label(file_name: str) -> str:
    found = format_of_extension("." + file_name.rsplit(".", 1)[-1])
    return found.label if found is not None else file_name


def summary_rows(results: Sequence[PersonResult]) -> list[tuple[str, str, str]]:
    """``(person, status, why)`` for the summary table, in the index's order."""
    return [(r.name, r.status, r.reason) for r in sorted(results, key=lambda r: (r.name.casefold(), r.line))]


def summary_table(results: Sequence[PersonResult]) -> str:
    """The batch summary as a plain-text table: person, status, why."""
    rows = [("Person", "Status", "Why"), *summary_rows(results)]
    width = [max(len(row[i]) for row in rows) for i in range(2)]
    lines = [f"{row[0]:<{width[0]}}  {row[1]:<{width[1]}}  {row[2]}".rstrip() for row in rows]
    lines.insert(1, f"{'-' * width[0]}  {'-' * width[1]}  ---")
    counts = {
        status: sum(1 for r in results if r.status == status)
        for status in ("ok", "skipped", "partial", "failed")
    }
    lines.append("")
    lines.append(", ".join(f"{n} {status}" for status, n in counts.items() if n) or "nobody ran")
    return "\n".join(lines)


class LiveDisplay:
    """A live view on the terminal (stderr): overall progress and what each running person is doing.

    Finished people scroll above it, one line each. Use only when stderr is a terminal.
    """

    def __init__(self, total: int) -> None:
        from rich.console import Console
        from rich.live import Live

        self.total = total
        self.done = 0
        self.running: dict[str, str] = {}
        self.counts: dict[str, int] = {}
        self._lock = threading.Lock()
        self.console = Console(stderr=True)
        self.live = Live(self._render(), console=self.console, refresh_per_second=8, transient=True)

    def __enter__(self) -> LiveDisplay:
        self.live.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self.live.__exit__(None, None, None)

    def start(self, name: str) -> None:
        with self._lock:
            self.running[name] = "starting"
            self.live.update(self._render())

    def step(self, name: str, message: str) -> None:
        with self._lock:
            if name in self.running:
                self.running[name] = message
                self.live.update(self._render())

    def finish(self, result: PersonResult) -> None:
        from rich.text import Text

        colour = {"ok": "green", "skipped": "cyan", "partial": "yellow", "failed": "red"}[result.status]
        with self._lock:
            self.running.pop(result.name, None)
            self.done += 1
            self.counts[result.status] = self.counts.get(result.status, 0) + 1
            line = Text(f"{result.status:<8} ", style=colour)
            line.append(result.name)
            if result.reason:
                line.append(f"  {result.reason}", style="dim")
            self.live.console.print(line)
            self.live.update(self._render())

    def _render(self) -> Any:
        from rich.progress_bar import ProgressBar
        from rich.table import Table

        grid = Table.grid(padding=(0, 1))
        counts = ", ".join(f"{n} {status}" for status, n in sorted(self.counts.items()))
        head = Table.grid(padding=(0, 1))
        head.add_row(
            ProgressBar(total=max(1, self.total), completed=self.done, width=30),
            f"{self.done}/{self.total} people" + (f" ({counts})" if counts else ""),
        )
        grid.add_row(head)
        for name, message in list(self.running.items()):
            grid.add_row(f"  [bold]{_escape(name)}[/bold]  [dim]{_escape(message)}[/dim]")
        return grid


def _escape(text: str) -> str:
    from rich.markup import escape

    return escape(text)
