"""Commits from local git repositories (read with GitPython and the ``git`` binary).

Configuration::

    [sources.code]
    type = "git"
    paths = ["~/src/api", "~/src/*"]   # repositories or globs; default: the repository containing the cwd
    revs = "HEAD"                      # what to walk (e.g. "--all" or "main"); default HEAD
    include_merges = false             # true: every merge the person made is a commit item (default: only
                                       # their merges of others' work, as ``merge`` items)
    include_bots = false               # commits by dependabot, renovate, github-actions, ... are left out
    web_url = "https://git.example.com/acme/api"   # optional: override the commit-link base for every repo

Without any ``[sources.*]`` of type git, a section ``git`` on the current repository is used.

- A path that is not a glob must be (inside) a git repository with at least one commit. Glob matches
  that are not repositories, or have no commits yet, are skipped; a glob matching none is an error.
- Units of work (see :mod:`impact_miner.topology`): a merge M brings in the commits of ``M^1..M^2``;
  taken oldest first along the walked branch, what a merge claims is one unit (a pull or merge
  request, numbered and titled from its message, or a topic branch); merges of long-lived branches
  (``main``, ``stable``, ``2.0.x`` …) are not units. Commits carry their unit in ``extra["unit"]``
  (``owner/repo#12``, ``group/project!3``, ``owner/repo@SHA`` for a topic branch) with its title,
  number, web link and authors. A squash-merged ``Title (#12)`` commit is that pull request; a release
  commit (``release version 2.1.2``, ``v2.9.1``) is a release unit.
- Membership: a commit is in the range when it *landed* on the walked branch in ``[since, until)``:
  when the first-parent commit that brought it in was committed (a pull request's commits land with
  its merge). The author date becomes ``created_at`` and the commit's own committer date
  ``extra["committed_at"]`` when it differs. The first-parent walk reaches a week past both ends, so
  skewed clocks do not hide commits; git ignores ``--since`` before 1973-03-10, so such ranges walk
  everything.
- The person's merge of someone else's pull request or branch is an item of kind ``merge`` (credited
  like a review given); merges of their own branches and of long-lived branches are counted in the
  coverage. Tags the person made (annotated) or that point at their commit, made in the range, are
  items of kind ``release``.
- Identity: a commit is the person's when its author email (raw or ``.mailmap``-ed) matches one of
  the person's emails (also ``.mailmap``-ed), or its author name matches one of their names (both
  case-insensitive); with a GitHub login, ``LOGIN@users.noreply.github.com`` and
  ``ID+LOGIN@users.noreply.github.com`` match too. A person with no emails and no names is the
  repository's ``user.email``.
- Each repository costs: the first-parent walk that bounds the range (skipped when the range starts
  before 1973), one ``git log`` of every commit that can have landed (no diffs, NUL-separated so any
  byte of a subject survives), and, side by side with it, ``git log --numstat`` filtered by git itself to
  the person's commits; plus ``git check-mailmap``, ``git for-each-ref`` when there are tags (and ``git
  config user.email`` when the person has no emails or names). Whole histories cost 1.0–1.1× ``git log
  --numstat --author=EMAIL`` where diffs dominate, up to ~1.5× where they are cheap
  (``bench/git_connector.py``).
- A shallow clone whose cut falls in the walked range marks the source partial (``git fetch
  --unshallow``), and its cut commit gets no line counts (its diff would be the whole tree).
- A repository whose git fails marks the source partial; when all fail the source fails.
- Evidence ids are ``git:OWNER/REPO@SHA`` (the remote's path; the directory name without a remote),
  ``git:OWNER/REPO@refs/tags/NAME`` for a release tag; urls are the commit's web page on GitHub, GitLab,
  Bitbucket, Gitea/Forgejo (or ``web_url``), a tag's release page where the host has one.
"""

from __future__ import annotations

import codecs
import glob
import math
import os
import re
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from git.exc import GitCommandError, InvalidGitRepositoryError, NoSuchPathError
from git.refs.symbolic import SymbolicReference
from git.repo import Repo

from impact_miner.errors import ConfigError, SourceError, UsageError
from impact_miner.model import Evidence, FetchResult, Person, SourceReport, SourceSection, TimeRange
from impact_miner.options import flag
from impact_miner.refs import extract_refs
from impact_miner.registry import Connector, FetchContext
from impact_miner.text import trim_body
from impact_miner.topology import (
    History,
    MergeInfo,
    Node,
    analyse,
    clean_title,
    parse_merge,
    release_version,
    squash_number,
)

# The first pass reads every commit that can have landed, without diffs: each field is NUL-terminated
# (NUL never appears in what git prints), so a subject holding any other byte stays one field.
COMMIT_FIELDS = ("%H", "%P", "%ct", "%cI", "%at", "%aI", "%an", "%ae", "%aN", "%aE", "%B")
COMMIT_FORMAT = "%x00" + "%x00".join(COMMIT_FIELDS) + "%x00"
# Whatever the user's config says: no signature checks, diff drivers or colours in the output.
QUIET = ["--no-show-signature", "--no-textconv", "--no-ext-diff", "--no-color"]
# git ignores --since=@N for N below this (dates before 1973-03-10) and walks everything instead.
GIT_EPOCH_FLOOR = 100_000_000
# git's --since stops walking a line of history at the first commit older than the bound, so the
# first-parent walk that bounds the range is widened by a week each side (measured on
# bench/make_repo.py's history: a day's slack still lost 1 of 2,525 commits, a week lost none); the
# exact half-open range is applied to each commit's landing time here.
WIDEN_SECONDS = 7 * 86400
# Paths kept per commit, most-changed first: enough to count a project's distinct files and to weigh
# shared files, without a vendored tree bloating the report.
MAX_PATHS = 1000
NOREPLY = "@users.noreply.github.com"
# Lower-case markers of bot authors, looked for in the author's names and emails (substring tests are
# several times faster than one regex with alternatives, which matters at tens of thousands of commits).
BOT_MARKERS = (
    "[bot]", "dependabot", "renovate", "github-actions", "action@github.com", "greenkeeper", "snyk-bot",
    "pre-commit-ci", "mergify", "imgbot", "allcontributors", "semantic-release-bot", "codecov", "depfu",
    "pyup-bot", "whitesource",
)  # fmt: skip
SCP_REMOTE = re.compile(r"(?:[^@/:]+@)?([^/:]{2,}):(?!//)(.+)")


@dataclass
class _Repo:
    """An opened repository and what is known about it before the walk."""

    repo: Repo
    path: str
    name: str
    remote_url: str | None


@dataclass
class _Identity:
    """What one repository's commits are matched against (emails and names lower-cased)."""

    emails: set[str] = field(default_factory=set)
    names: set[str] = field(default_factory=set)
    noreply: re.Pattern[str] | None = None
    shown: list[str] = field(default_factory=list)

    def patterns(self) -> list[str]:
        """Substrings at least one of which every matching author's mapped ``Name <email>`` holds."""
        found = [*self.emails, *self.names]
        if self.noreply is not None:
            found.append(NOREPLY)  # narrowed by the login in Python
        return sorted(set(found))

    def matches(self, an: str, ae: str, mapped_name: str, mapped_email: str) -> bool:
        emails, names = self.emails, self.names
        if ae.lower() in emails or mapped_email.lower() in emails:
            return True
        if an.lower() in names or mapped_name.lower() in names:
            return True
        noreply = self.noreply
        return noreply is not None and bool(noreply.fullmatch(ae) or noreply.fullmatch(mapped_email))


@dataclass
class _Counts:
    in_range: int = 0
    merges: int = 0
    bots: int = 0
    matched: int = 0
    own_merges: int = 0  # the person's merges of their own branches and of long-lived branches
    credited: int = 0  # the person's merges of other people's pull requests, credited as evidence
    releases: int = 0
    included_merges: int = 0  # with include_merges: every merge the person made, as a commit
    shallow: list[int] = field(default_factory=list)  # commit times of a shallow clone's boundary


# ---- remotes and urls ------------------------------------------------------------------------------


def _parse_remote(url: str) -> tuple[str, str, str] | None:
    """``(web scheme, web host, path)`` of a remote URL, or None for a local path."""
    url = url.strip()
    if "://" in url:
        try:
            parts = urlsplit(url)
            port = parts.port
        except ValueError:
            return None
        if parts.scheme not in ("http", "https", "ssh", "git", "git+ssh", "ssh+git") or not parts.hostname:
            return None
        host = parts.hostname
        if parts.scheme in ("http", "https") and port:
            host = f"{host}:{port}"
        scheme, path = ("http" if parts.scheme == "http" else "https"), parts.path
    else:
        match = SCP_REMOTE.fullmatch(url)
        if not match:
            return None
        scheme, host, path = "https", match.group(1).lower(), match.group(2)
    if host == "ssh.github.com":
        host = "github.com"
    path = path.strip("/").removesuffix(".git").strip("/")
    return (scheme, host, path) if path else None


def repo_name_from_remote(url: str) -> str | None:
    """``owner/repo`` (GitLab subgroups kept) from a remote URL in https, ssh:// or scp-like form."""
    parsed = _parse_remote(url)
    return parsed[2] if parsed else None


def commit_url(remote_url: str | None, repo_name: str, sha: str) -> str:
    """The web page of a commit, from the remote URL; ``repo_name@sha`` when there is no web remote."""
    parsed = _parse_remote(remote_url) if remote_url else None
    if parsed is None:
        return f"{repo_name}@{sha}"
    scheme, host, path = parsed
    base = f"{scheme}://{host}/{path}"
    if "gitlab" in host:
        return f"{base}/-/commit/{sha}"
    if "bitbucket" in host:
        return f"{base}/commits/{sha}"
    return f"{base}/commit/{sha}"


# ---- options and repositories ----------------------------------------------------------------------


def _strings(section: SourceSection, key: str, default: list[str]) -> list[str]:
    value = section.get(key)
    if value is None:
        return default
    if isinstance(value, str):
        return value.split() if key == "revs" else [value]
    if isinstance(value, list) and value and all(isinstance(v, str) for v in value):
        return list(value)
    raise ConfigError(f"sources.{section.name}.{key} must be a string or a list of strings")


def _has_commits(repo: Repo) -> bool:
    try:
        SymbolicReference.dereference_recursive(repo, "HEAD")  # reads refs; starts no process
    except ValueError:
        return False
    return True


def _describe(repo: Repo) -> _Repo:
    path = repo.working_tree_dir or repo.git_dir
    remotes = {r.name: r for r in repo.remotes}
    remote = remotes.get("origin") or next(iter(remotes.values()), None)
    remote_url: str | None = None
    if remote is not None:
        try:
            remote_url = str(remote.config_reader.get("url"))
        except Exception:  # a remote section without url
            remote_url = None
    fallback = os.path.basename(os.path.normpath(str(path))).removesuffix(".git")
    name = (repo_name_from_remote(remote_url) if remote_url else None) or fallback
    return _Repo(repo=repo, path=str(path), name=name, remote_url=remote_url)


def _open(section: SourceSection) -> list[_Repo]:
    """The section's repositories, opened (callers close them); raises UsageError for bad paths."""
    opened: dict[str, _Repo] = {}
    try:
        for given in _strings(section, "paths", ["."]):
            for repo in _open_path(given, section.name):
                key = os.path.realpath(repo.git_dir)
                if key in opened:
                    repo.close()
                else:
                    opened[key] = _describe(repo)
    except BaseException:
        for target in opened.values():
            target.repo.close()
        raise
    return list(opened.values())


def _open_path(given: str, section_name: str) -> list[Repo]:
    """The repositories one ``paths`` entry names: a glob's matches, or the repository around a path."""
    fix = f"pass --repo with a repository path or fix sources.{section_name}.paths"
    path = os.path.expanduser(given)
    if any(c in path for c in "*?["):
        found: list[Repo] = []
        for match in sorted(glob.glob(path)):
            try:
                repo = Repo(match)
            except (InvalidGitRepositoryError, NoSuchPathError):
                continue
            if _has_commits(repo):
                found.append(repo)
            else:
                repo.close()
        if not found:
            raise UsageError(f"{given} matches no git repository with commits; {fix}")
        return found
    try:
        repo = Repo(path, search_parent_directories=True)
    except (InvalidGitRepositoryError, NoSuchPathError):
        where = f"the current directory ({os.getcwd()})" if given == "." else given
        raise UsageError(f"{where} is not a git repository; {fix}") from None
    if not _has_commits(repo):
        repo.close()
        raise UsageError(f"{given} is a git repository with no commits yet; commit first or {fix}")
    return [repo]


def check(section: SourceSection) -> None:
    """Validate the section's options and paths without walking any history."""
    flag(section, "include_merges")
    flag(section, "include_bots")
    _strings(section, "revs", ["HEAD"])
    web_url = section.get("web_url")
    if web_url is not None and not (isinstance(web_url, str) and web_url.startswith(("http://", "https://"))):
        raise ConfigError(f"sources.{section.name}.web_url must be an http(s) URL")
    for target in _open(section):
        target.repo.close()


def implicit() -> SourceSection:
    """Git is on by default, on the repository containing the current directory."""
    return SourceSection(name="git", type="git", options={}, implicit=True)


def check_person(section: SourceSection, person: Person) -> None:
    """Without emails or names, every repository must have a ``user.email`` to match (UsageError)."""
    if any(e.strip() for e in person.emails) or any(n.strip() for n in person.names):
        return
    for target in _open(section):
        try:
            _default_email(target)
        finally:
            target.repo.close()


def _default_email(target: _Repo) -> str:
    try:
        email = str(target.repo.git.config("--get", "user.email")).strip()
    except GitCommandError:
        email = ""
    if not email:
        raise UsageError(
            f"no git identity to match in {target.path}: pass --author EMAIL or set emails in [me] "
            "(git config user.email is not set either)"
        )
    return email


# ---- identity ----------------------------------------------------------------------------------------


def _mailmap(repo: Repo, emails: list[str]) -> list[str]:
    """The .mailmap-ed form of each email, in one ``git check-mailmap`` process."""
    valid = [e for e in emails if e and not any(c in e for c in "<>\n")]
    if not valid:
        return []
    # git 2.39 accepts only "Name <email>" or "<email>" contacts, not a bare address.
    out = repo.git.check_mailmap(*[f"<{e}>" for e in valid])
    return [line[line.rfind("<") + 1 : line.rfind(">")] for line in str(out).splitlines() if "<" in line]


def _identity(repo: _Repo, person: Person) -> _Identity:
    emails = [e.strip() for e in person.emails if e.strip()]
    names = [n.strip() for n in person.names if n.strip()]
    login = person.logins.get("github", "").strip().lstrip("@")
    if not emails and not names:
        emails = [_default_email(repo)]
    mapped = _mailmap(repo.repo, emails)
    shown = list(dict.fromkeys([*emails, *mapped, *names]))
    noreply = None
    if login:
        shown += [f"{login}{NOREPLY}", f"ID+{login}{NOREPLY}"]
        noreply = re.compile(rf"(?:[0-9]+\+)?{re.escape(login)}{re.escape(NOREPLY)}", re.IGNORECASE)
    return _Identity(
        emails={e.lower() for e in [*emails, *mapped]},
        names={n.lower() for n in names},
        noreply=noreply,
        shown=shown,
    )


# ---- the walk ----------------------------------------------------------------------------------------


def _since_arg(seconds: int) -> list[str]:
    """``--since=@N``, or nothing when N is below git's 100000000 floor (it ignores such values)."""
    return [f"--since=@{seconds}"] if seconds >= GIT_EPOCH_FLOOR else []


def log_args(time_range: TimeRange, revs: list[str]) -> list[str]:
    """The first-parent walk that finds which commits of ``revs`` can have landed in ``time_range``."""
    since = math.floor(time_range.since.timestamp()) - WIDEN_SECONDS
    return ["--first-parent", "--format=%H %P %ct", *_since_arg(since), *QUIET, *revs, "--"]


def _clean_path(path: str) -> str:
    """A numstat path as the file's new name: unquoted, with ``{old => new}`` renames resolved."""
    if path.startswith('"') and path.endswith('"'):
        path = codecs.escape_decode(path[1:-1].encode())[0].decode("utf-8", "replace")
    if " => " in path:
        if "{" in path and "}" in path:
            head, _, rest = path.partition("{")
            inner, _, tail = rest.partition("}")
            path = (head + inner.split(" => ", 1)[1] + tail).replace("//", "/")
        else:
            path = path.split(" => ", 1)[1]
    return path


def _numstat(text: str) -> tuple[int, int, int, list[str], str]:
    """Additions, deletions, files, the most-changed paths and the top-level directory with most lines."""
    additions = deletions = 0
    changed: list[tuple[int, str]] = []
    by_dir: dict[str, int] = {}
    for line in text.split("\n"):
        parts = line.split("\t", 2)
        if len(parts) != 3:
            continue
        added, deleted, path = parts
        path = _clean_path(path)
        lines_added = int(added) if added != "-" else 0  # "-": binary file
        lines_deleted = int(deleted) if deleted != "-" else 0
        additions += lines_added
        deletions += lines_deleted
        changed.append((lines_added + lines_deleted, path))
        top = path.split("/", 1)[0] if "/" in path else ""
        by_dir[top] = by_dir.get(top, 0) + lines_added + lines_deleted
    changed.sort(key=lambda item: -item[0])
    top_dir = max(by_dir, key=lambda d: by_dir[d]) if by_dir else ""
    return additions, deletions, len(changed), [p for _, p in changed[:MAX_PATHS]], top_dir


def _is_bot(author: str) -> bool:
    return any(marker in author for marker in BOT_MARKERS)


def _lines(repo: Repo, args: list[str]) -> list[str]:
    return str(repo.git.log(*args)).splitlines()


def _tips(repo: Repo, revs: list[str]) -> list[str]:
    """The commits ``revs`` name, in the order given (``--all`` and friends expanded); one plain
    revision is used as it is (the first-parent walk resolves it), saving a process."""
    if len(revs) == 1 and not revs[0].startswith("-"):
        return revs
    out = str(repo.git.rev_list("--no-walk=unsorted", *revs, "--"))
    return list(dict.fromkeys(line.strip() for line in out.splitlines() if line.strip()))


def _window(repo: Repo, tip: str, time_range: TimeRange) -> tuple[str | None, str | None]:
    """``(newest, boundary)``: the newest first-parent commit of ``tip`` that can have landed before
    ``until``, and the first-parent commit below everything that can have landed since ``since``
    (``None``: the root is reached). ``(None, None)`` when nothing on the line is near the range."""
    until = math.ceil(time_range.until.timestamp()) + WIDEN_SECONDS
    newest: str | None = None
    boundary: str | None = None
    for line in _lines(repo, log_args(time_range, [tip])):
        sha, *parents, committed = line.split()
        if newest is None and int(committed) < until:
            newest = sha
        boundary = parents[0] if parents else None
    return (newest, boundary) if newest is not None else (None, None)


def _whole_history(repo: Repo, tips: list[str], time_range: TimeRange) -> list[str]:
    """The tips' shas when the range starts before anything git can filter on (so the whole history
    is walked anyway and the first-parent walk that bounds it is not needed); else ``[]``."""
    if math.floor(time_range.since.timestamp()) - WIDEN_SECONDS >= GIT_EPOCH_FLOOR:
        return []
    found = []
    for tip in tips:
        if re.fullmatch(r"[0-9a-f]{40}", tip):
            found.append(tip)
            continue
        for ref in (tip,) if tip == "HEAD" else (f"refs/heads/{tip}", f"refs/remotes/{tip}"):
            try:
                found.append(SymbolicReference.dereference_recursive(repo, ref))  # reads files: no process
                break
            except (ValueError, OSError):
                continue
        else:
            return []  # anything else is resolved by git in the first-parent walk
    return found


def _newest_before(commits: dict[str, _Commit], tip: str, until: int) -> str | None:
    """The newest commit on ``tip``'s first-parent line committed before ``until``."""
    sha: str | None = tip
    while sha is not None and sha in commits:
        node = commits[sha].node
        if node.committed < until:
            return sha
        sha = node.parents[0] if node.parents else None
    return None


class _Log:
    """One ``git log`` running in the background: its output is read by a thread, so that Python can
    work on something else while git computes diffs."""

    def __init__(self, repo: Repo, args: list[str], stdin: str | None = None) -> None:
        self.proc = repo.git.log(
            *args, as_process=True, istream=subprocess.PIPE if stdin is not None else None
        )
        self.output = b""
        self.reader = threading.Thread(target=self._read, daemon=True)
        try:
            if stdin is not None:
                self.proc.proc.stdin.write(stdin.encode())  # git reads all of stdin before it writes
                self.proc.proc.stdin.close()
        except BaseException:
            self.stop()
            raise
        self.reader.start()

    def _read(self) -> None:
        self.output = self.proc.stdout.read()

    def text(self) -> str:
        """Everything git wrote (NUL is one byte in UTF-8, so splitting after decoding is safe)."""
        try:
            self.reader.join()
            self.proc.wait()  # raises GitCommandError, with git's stderr, when git failed
        except BaseException:
            self.stop()
            raise
        return self.output.decode("utf-8", "replace")

    def stop(self) -> None:
        """Never leave git running (or blocked on a full pipe) when the fetch is abandoned."""
        if self.proc.proc.poll() is None:
            self.proc.proc.kill()
            self.proc.proc.wait()


def _records(text: str, width: int) -> Iterator[list[str]]:
    """Records of ``width`` fields plus what follows them (numstat lines, or a newline).

    Every field is NUL-terminated and NUL never appears in what git prints, so any byte a subject may
    hold (0x1F included) stays in its field."""
    tokens = text.split("\x00")[1:]  # the empty token before the first record's leading NUL
    if len(tokens) % (width + 1) == width:
        tokens.append("")
    for start in range(0, len(tokens) - width, width + 1):
        yield tokens[start : start + width + 1]


def _commits(repo: Repo, tips: list[str], boundaries: list[str]) -> dict[str, _Commit]:
    """Every commit reachable from ``tips`` but not from ``boundaries``, without diffs."""
    args = [f"--format={COMMIT_FORMAT}", "--encoding=UTF-8", *QUIET, *tips, *(f"^{b}" for b in boundaries)]
    found: dict[str, _Commit] = {}
    for record in _records(_Log(repo, [*args, "--"]).text(), len(COMMIT_FIELDS)):
        sha, parents, committed, *rest = record[: len(COMMIT_FIELDS)]
        found[sha] = _Commit(Node(sha, tuple(parents.split()), int(committed)), *rest)
    return found


def _numstats(log: _Log | None) -> dict[str, str]:
    """The ``--numstat`` text of each commit a :func:`_start_numstats` log found."""
    return {sha: text for sha, text in _records(log.text(), 1)} if log is not None else {}


def _start_numstats(repo: Repo, identity: _Identity, tips: list[str], boundaries: list[str]) -> _Log:
    """Start ``git log --numstat`` of the person's non-merge commits between ``boundaries`` and ``tips``.

    git's ``--author`` (fixed strings, any case, on the .mailmap-ed author) finds at least every commit
    the identity matches, without diffing anyone else's; the exact match is made in Python.
    """
    authors = [f"--author={pattern}" for pattern in identity.patterns()]
    args = ["--no-merges", "--numstat", "--format=%x00%H%x00", "--fixed-strings", "--regexp-ignore-case",
            "--use-mailmap", *authors, *QUIET, *tips, *(f"^{b}" for b in boundaries), "--"]  # fmt: skip
    return _Log(repo, args)


def _numstats_of(repo: Repo, shas: list[str]) -> _Log:
    """Start one ``git log --no-walk --stdin --numstat`` for exactly ``shas``."""
    args = ["--no-walk=unsorted", "--stdin", "--numstat", "--format=%x00%H%x00", *QUIET, "--"]
    return _Log(repo, args, "\n".join(shas) + "\n")


def _shallow(repo: Repo) -> set[str]:
    """The boundary commits of a shallow clone (empty for a complete one); no process started."""
    path = os.path.join(repo.common_dir, "shallow")
    try:
        with open(path, encoding="ascii") as file:
            return {line.strip() for line in file if line.strip()}
    except OSError:
        return set()


def _walk(
    target: _Repo,
    identity: _Identity,
    time_range: TimeRange,
    section: SourceSection,
    counts: _Counts,
) -> list[Evidence]:
    """The person's commits, merges of others' work and releases that landed in ``time_range``.

    Three git processes: the first-parent walk that bounds the range (per walked tip), then, side by
    side, one pass over every commit that can have landed (no diffs) and ``--numstat`` of the person's
    commits only (git's own author filter, a superset that Python narrows exactly), which git computes
    while the merge topology is analysed here.
    """
    repo = target.repo
    tips, newest, boundaries = _tips(repo, _strings(section, "revs", ["HEAD"])), [], []
    whole = _whole_history(repo, tips, time_range)
    for tip in [] if whole else tips:
        top, boundary = _window(repo, tip, time_range)
        if top is not None:
            newest.append(top)
            boundaries += [boundary] if boundary else []
    if not newest and not whole:
        return _walk_history(target, identity, time_range, section, counts, {}, [], set(), None)
    numstats = _start_numstats(repo, identity, whole or newest, boundaries)
    try:
        commits = _commits(repo, whole or newest, boundaries)
        if whole:
            until = math.ceil(time_range.until.timestamp()) + WIDEN_SECONDS
            newest = [top for sha in whole if (top := _newest_before(commits, sha, until))]
        shallow = _shallow(repo)
        return _walk_history(
            target, identity, time_range, section, counts, commits, newest, shallow, numstats
        )
    finally:
        if numstats is not None:
            numstats.stop()


def _walk_history(
    target: _Repo,
    identity: _Identity,
    time_range: TimeRange,
    section: SourceSection,
    counts: _Counts,
    commits: dict[str, _Commit],
    newest: list[str],
    shallow: set[str],
    numstats: _Log | None,
) -> list[Evidence]:
    include_merges, include_bots = flag(section, "include_merges"), flag(section, "include_bots")
    links = _Links.of(target, section.get("web_url"))
    nodes = {sha: commit.node for sha, commit in commits.items()}
    infos: dict[str, MergeInfo] = {}

    def merge_info(sha: str) -> MergeInfo:
        if sha not in infos:
            infos[sha] = parse_merge(commits[sha].message, target.name)
        return infos[sha]

    history = analyse(nodes, [t for t in newest if t in nodes], merge_info)
    since, until = time_range.since.timestamp(), time_range.until.timestamp()
    landed = [c for sha, c in commits.items() if since <= history.landed.get(sha, -1) < until]
    landed.sort(key=lambda c: (history.landed[c.node.sha], c.node.committed), reverse=True)
    counts.shallow = sorted(commits[s].node.committed for s in shallow if s in commits)
    mine: list[_Commit] = []
    merges: list[_Commit] = []
    for commit in landed:
        counts.in_range += 1
        if commit.node.is_merge:
            counts.merges += 1
            if identity.matches(commit.an, commit.ae, commit.mapped_name, commit.mapped_email):
                merges.append(commit)
            continue
        if not include_bots and _is_bot(commit.author_text):
            counts.bots += 1
            continue
        if identity.matches(commit.an, commit.ae, commit.mapped_name, commit.mapped_email):
            mine.append(commit)
    counts.matched = len(mine)
    stats = {sha: text for sha, text in _numstats(numstats).items() if sha not in shallow}
    missed = [c.node.sha for c in mine if c.node.sha not in stats and c.node.sha not in shallow]
    if missed:  # a name git's author filter did not see (say, before .mailmap renamed it)
        stats.update(_numstats(_numstats_of(target.repo, missed)))
    found: list[Evidence] = []
    for commit in mine:
        unit = history.unit_of.get(commit.node.sha)
        found.append(
            _commit_evidence(
                commit, commits, history, merge_info(unit) if unit else None, stats, links, section
            )
        )
    for merge in merges:
        claimed = history.claimed.get(merge.node.sha, [])
        info = merge_info(merge.node.sha)
        authors = [commits[s] for s in claimed]
        others = bool(claimed) and not identity.matches(
            authors[0].an, authors[0].ae, authors[0].mapped_name, authors[0].mapped_email
        )
        if others and not include_merges:
            counts.credited += 1
            found.append(_merge_evidence(merge, info, authors, history, links, section))
        elif include_merges:
            counts.included_merges += 1
            found.append(_commit_evidence(merge, commits, history, None, {}, links, section))
        else:
            counts.own_merges += 1
    found += _releases(target, identity, time_range, commits, history, links, section, counts)
    return found


def _moment(iso: str, unix: str) -> datetime:
    """A commit date in its own offset; in UTC when the offset git recorded is impossible (``+518:00``
    exists in real histories)."""
    try:
        return datetime.fromisoformat(iso)
    except ValueError:
        return datetime.fromtimestamp(int(unix), UTC)


@dataclass(slots=True)
class _Commit:
    """One commit as the first pass reads it: topology, dates, identity and message (no diff).

    Dates stay as git printed them until asked for: most commits of a long history are never shown.
    """

    node: Node
    committed_iso: str
    authored_unix: str
    authored_iso: str
    an: str
    ae: str
    mapped_name: str
    mapped_email: str
    raw_message: str

    @property
    def committed_at(self) -> datetime:
        return _moment(self.committed_iso, str(self.node.committed))

    @property
    def authored_at(self) -> datetime:
        return _moment(self.authored_iso, self.authored_unix)

    @property
    def message(self) -> str:
        return self.raw_message.strip("\n")

    @property
    def subject(self) -> str:
        return self.message.split("\n", 1)[0].strip()

    @property
    def body(self) -> str:
        return self.message.split("\n", 1)[1].strip() if "\n" in self.message else ""

    @property
    def author(self) -> str:
        return f"{self.mapped_name} <{self.mapped_email}>"

    @property
    def author_text(self) -> str:
        return f"{self.an}\n{self.ae}\n{self.mapped_name}\n{self.mapped_email}".lower()


@dataclass(frozen=True)
class _Links:
    """How to link a commit, a pull request and a tag of one repository."""

    name: str
    commit_prefix: str
    web: str  # scheme://host/path of the repository's web page, or ""
    gitlab: bool

    @classmethod
    def of(cls, target: _Repo, web_url: str | None) -> _Links:
        prefix = commit_url(target.remote_url, target.name, "")  # every commit url ends with the sha
        parsed = _parse_remote(target.remote_url) if target.remote_url else None
        web = f"{parsed[0]}://{parsed[1]}/{parsed[2]}" if parsed else ""
        if web_url:
            web = web_url.rstrip("/")
            prefix = f"{web}/commit/"
        return cls(target.name, prefix, web, "gitlab" in web)

    def commit(self, sha: str) -> str:
        return self.commit_prefix + sha

    def pull(self, info: MergeInfo) -> str:
        """The pull or merge request's web page, when the remote is a web host and the key is ours."""
        if not self.web or info.number is None or not info.key.startswith(self.name.lower()):
            return ""
        if info.kind == "merge_request":
            return f"{self.web}/-/merge_requests/{info.number}"
        return f"{self.web}/pull/{info.number}" if "github" in self.web else ""

    def tag(self, name: str, sha: str) -> str:
        if self.web and "github" in self.web:
            return f"{self.web}/releases/tag/{name}"
        if self.web and self.gitlab:
            return f"{self.web}/-/tags/{name}"
        return self.commit(sha)


def _unit_extra(info: MergeInfo | None, merge_sha: str, links: _Links) -> dict[str, Any]:
    if info is None:
        return {}
    key = info.key or f"{links.name}@{merge_sha}".lower()
    extra: dict[str, Any] = {"unit": key, "unit_kind": info.kind, "unit_title": info.title}
    if info.branch:
        extra["unit_branch"] = info.branch
    extra["unit_merge"] = merge_sha
    if info.number is not None:
        extra["unit_number"] = info.number
    url = links.pull(info)
    if url:
        extra["unit_url"] = url
    return extra


def _commit_evidence(
    commit: _Commit,
    commits: dict[str, _Commit],
    history: History,
    unit: MergeInfo | None,
    stats: dict[str, str],
    links: _Links,
    section: SourceSection,
) -> Evidence:
    sha, subject, body = commit.node.sha, commit.subject, trim_body(commit.body)
    landed = datetime.fromtimestamp(history.landed[sha], UTC)
    committed = commit.committed_at
    completed = committed if landed == committed else landed.astimezone(committed.tzinfo)
    extra: dict[str, Any] = {"sha": sha}
    additions: int | None = None
    deletions: int | None = None
    files: int | None = None
    paths: list[str] = []
    top_dir = ""
    if sha in stats:
        additions, deletions, files, paths, top_dir = _numstat(stats[sha])
    elif commit.node.is_merge:
        additions = deletions = files = 0  # git shows no diff for a merge
    else:
        extra["shallow_boundary"] = True  # a shallow clone's cut: its diff would be the whole tree
    extra.update(paths=paths, top_dir=top_dir, source_name=section.name)
    if completed != committed:
        extra["committed_at"] = committed.isoformat()
    merge_sha = history.unit_of.get(sha, "")
    extra.update(_unit_extra(unit, merge_sha, links))
    if merge_sha:
        claimed = [commits[s] for s in history.claimed.get(merge_sha, []) if s in commits]
        extra["unit_authors"] = list(dict.fromkeys(c.mapped_name for c in claimed))
        extra["unit_commits"] = len(claimed)
    refs = extract_refs(f"{subject}\n{body}", links.name)
    if unit is None and not commit.node.is_merge:
        number = squash_number(subject)
        if number is not None:
            squash = MergeInfo("pull_request", f"{links.name}#{number}".lower(), number, subject, "")
            extra.update(_unit_extra(squash, sha, links), unit_title=clean_title(subject))
    release = release_version(subject)
    if release:
        extra["release"] = release
        if "unit" not in extra:
            extra.update(unit=f"{links.name}@{release}".lower(), unit_kind="release", unit_title=release)
    if extra.get("unit") and extra["unit"] not in refs:
        refs.append(str(extra["unit"]))
    return Evidence(
        id=f"git:{links.name}@{sha}",
        source="git",
        kind="commit",
        title=subject,
        url=links.commit(sha),
        completed_at=completed,
        body=body,
        author=commit.author,
        repo=links.name,
        created_at=commit.authored_at,
        refs=refs,
        additions=additions,
        deletions=deletions,
        files=files,
        extra=extra,
    )


def _merge_evidence(
    merge: _Commit,
    info: MergeInfo,
    claimed: list[_Commit],
    history: History,
    links: _Links,
    section: SourceSection,
) -> Evidence:
    """The person's merge of someone else's pull request or branch: credited like a review given."""
    sha = merge.node.sha
    committed = merge.committed_at
    landed = datetime.fromtimestamp(history.landed[sha], UTC).astimezone(committed.tzinfo)
    extra = _unit_extra(info, sha, links)
    authors = list(dict.fromkeys(c.author for c in claimed))
    extra.update(sha=sha, commits=len(claimed), merged_authors=authors, source_name=section.name)
    extra["unit_authors"] = list(dict.fromkeys(c.mapped_name for c in claimed))
    refs = extract_refs(f"{info.title}\n{merge.body}", links.name)
    refs = list(dict.fromkeys([str(extra["unit"]), *refs]))
    return Evidence(
        id=f"git:{links.name}@{sha}",
        source="git",
        kind="merge",
        title=info.title,
        url=extra.get("unit_url") or links.commit(sha),
        completed_at=landed,
        body=trim_body(merge.body),
        author=merge.author,
        repo=links.name,
        created_at=claimed[0].authored_at if claimed else None,
        refs=refs,
        extra=extra,
    )


def _releases(
    target: _Repo,
    identity: _Identity,
    time_range: TimeRange,
    commits: dict[str, _Commit],
    history: History,
    links: _Links,
    section: SourceSection,
    counts: _Counts,
) -> list[Evidence]:
    """Tags the person made (annotated) or that point at their commit, made in ``time_range``."""
    if not target.repo.tags:  # read from the refs files: no process for a repository without tags
        return []
    fields_ = ("%(refname:strip=2)", "%(objecttype)", "%(*objectname)", "%(objectname)", "%(taggername)",
               "%(taggeremail:trim)", "%(taggerdate:iso-strict)", "%(contents:subject)")  # fmt: skip
    out = str(target.repo.git.for_each_ref("refs/tags", f"--format={'%00'.join(fields_)}"))
    found = []
    for line in out.splitlines():
        name, kind, peeled, obj, tagger, email, tagged_at, message = (line.split("\x00") + [""] * 8)[:8]
        sha = peeled if kind == "tag" else obj
        target_commit = commits.get(sha)
        if kind == "tag" and tagged_at:
            when = datetime.fromisoformat(tagged_at)
        elif target_commit is not None and sha in history.landed:
            when = datetime.fromtimestamp(history.landed[sha], UTC)
        else:
            continue
        if not time_range.since <= when < time_range.until:
            continue
        by_person = kind == "tag" and identity.matches(tagger, email, tagger, email)
        by_person = by_person or (
            target_commit is not None
            and identity.matches(target_commit.an, target_commit.ae, target_commit.mapped_name,
                                 target_commit.mapped_email)
        )  # fmt: skip
        if not by_person:
            continue
        version = release_version(name) or name
        counts.releases += 1
        found.append(
            Evidence(
                id=f"git:{links.name}@refs/tags/{name}",
                source="git",
                kind="release",
                title=f"Released {name}",
                url=links.tag(name, sha),
                completed_at=when,
                body=trim_body(message if kind == "tag" else ""),
                author=f"{tagger} <{email}>"
                if kind == "tag"
                else (target_commit.author if target_commit else ""),
                repo=links.name,
                refs=[sha, f"{links.name}@{version}".lower()],
                extra={
                    "tag": name,
                    "sha": sha,
                    "release": version,
                    "unit": f"{links.name}@{version}".lower(),
                    "unit_kind": "release",
                    "unit_title": version,
                    "source_name": section.name,
                },
            )
        )
    return found


def _git_message(error: GitCommandError) -> str:
    """The last line git wrote to stderr (GitPython wraps it as ``stderr: '...'``)."""
    text = str(error.stderr).strip().removeprefix("stderr:").strip().removeprefix("'").removesuffix("'")
    lines = text.strip().splitlines()
    return lines[-1].strip() if lines else str(error)


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def _summary(counts: _Counts, section: SourceSection) -> str:
    landed = _count(counts.in_range - counts.merges, "commit")
    text = f"{landed} landed in range, {counts.matched} by the person"
    if counts.credited:
        text += f", {_count(counts.credited, 'merge')} of others' work"
    if counts.included_merges:
        text += f", {_count(counts.included_merges, 'merge')} included"
    if counts.releases:
        text += f", {_count(counts.releases, 'release tag')}"
    excluded = []
    if not flag(section, "include_merges"):
        excluded.append(f"{_count(counts.own_merges, 'merge')} of their own or long-lived branches")
    if not flag(section, "include_bots"):
        excluded.append(_count(counts.bots, "bot commit"))
    text += f"; excluded {' and '.join(excluded)}" if excluded else ""
    if counts.shallow:
        cut = datetime.fromtimestamp(max(counts.shallow), UTC).date().isoformat()
        text += f"; shallow clone: history before {cut} is missing (git fetch --unshallow)"
    return text


def fetch(
    person: Person, time_range: TimeRange, section: SourceSection, context: FetchContext | None = None
) -> FetchResult:
    """The person's commits that landed in ``time_range`` in every repository of the section."""
    evidence: list[Evidence] = []
    parts: list[str] = []
    identities: list[str] = []
    failures: list[str] = []
    targets = list(_open(section))
    try:
        for target in targets:
            counts = _Counts()
            try:
                identity = _identity(target, person)
                evidence += _walk(target, identity, time_range, section, counts)
            except GitCommandError as error:
                failures.append(f"{target.name}: git failed: {_git_message(error)}")
                continue
            identities += identity.shown
            if counts.shallow:  # the walk reached the cut: some of the range may be missing
                failures.append(f"{target.name}: shallow clone cuts the range; run git fetch --unshallow")
            parts.append(
                f"{target.name}: {_summary(counts, section)}"
                if len(targets) > 1
                else _summary(counts, section)
            )
    finally:
        for target in targets:
            target.repo.close()
    if failures and not parts:
        raise SourceError("; ".join(failures))
    identities = list(dict.fromkeys(identities))
    detail = "; ".join([*parts, *failures, f"identities: {', '.join(identities)}"])
    report = SourceReport(
        source=section.name,
        status="partial" if failures else "ok",
        items=len(evidence),
        detail=detail,
        type="git",
    )
    return FetchResult(evidence=evidence, report=report, identities=identities)


connector = Connector(
    type="git",
    summary="commits from local git repositories (default: the current repository)",
    fetch=fetch,
    check=check,
    implicit=implicit,
    check_person=check_person,
    options=frozenset({"type", "enabled", "paths", "revs", "include_merges", "include_bots", "web_url"}),
)
