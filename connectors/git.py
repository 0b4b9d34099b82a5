"""Commits from local git repositories (read with GitPython and the ``git`` binary).

Configuration::

    [sources.code]
    type = "git"
    paths = ["~/src/api", "~/src/*"]   # repositories or globs; default: the repository containing the cwd
    revs = "HEAD"                      # what to walk (e.g. "--all" or "main"); default HEAD
    include_merges = false             # merge commits (more than one parent) are left out by default
    include_bots = false               # commits by dependabot, renovate, github-actions, ... likewise
    web_url = "https://git.example.com/acme/api"   # optional: override the commit-link base for every repo

Without any ``[sources.*]`` of type git, a section ``git`` on the current repository is used.

- A path that is not a glob must be (inside) a git repository with at least one commit. Glob matches
  that are not repositories, or have no commits yet, are skipped; a glob matching none is an error.
- Membership: a commit is in the range when its *committer* date (when it landed on the branch) is in
  ``[since, until)``; the author date only becomes ``created_at``. The walk reaches a week past both
  ends, so a commit behind a descendant with a skewed clock is still found; a skew of more than a week
  can still hide one (git stops walking a line of history at the first commit older than that).
- Identity: a commit is the person's when its author email (raw or ``.mailmap``-ed) matches one of
  the person's emails (also ``.mailmap``-ed), or its author name matches one of their names (both
  case-insensitive); with a GitHub login, ``LOGIN@users.noreply.github.com`` and
  ``ID+LOGIN@users.noreply.github.com`` match too. A person with no emails and no names is the
  repository's ``user.email``.
- Each repository costs one ``git log --numstat`` process (parsed as it streams), plus one
  ``git check-mailmap`` (and ``git config user.email`` when the person has no emails or names).
- A repository whose git fails marks the source partial; when all fail the source fails.
- Evidence ids are ``git:OWNER/REPO@SHA`` (the remote's path; the directory name without a remote);
  urls are the commit's web page on GitHub, GitLab, Bitbucket, Gitea/Forgejo (or ``web_url``).
"""

from __future__ import annotations

import codecs
import glob
import math
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from urllib.parse import urlsplit

from git.exc import GitCommandError, InvalidGitRepositoryError, NoSuchPathError
from git.refs.symbolic import SymbolicReference
from git.repo import Repo

from impact_miner.errors import ConfigError, SourceError, UsageError
from impact_miner.model import Evidence, FetchResult, Person, SourceReport, SourceSection, TimeRange
from impact_miner.refs import extract_refs
from impact_miner.registry import Connector, FetchContext

# One record per commit: NUL (never inside a commit message or path), then fields split by US (0x1f);
# the body ends with a US so the --numstat lines that follow it can be split off.
FIELDS = ("%H", "%P", "%an", "%ae", "%aN", "%aE", "%ct", "%cI", "%aI", "%s", "%b")
LOG_FORMAT = "%x00" + "%x1f".join(FIELDS) + "%x1f"
# git's --since stops walking a line of history at the first commit older than the bound, so a commit
# in range behind a descendant with a skewed, older committer date would be lost. The walk is widened by
# a week each side (measured on bench/make_repo.py's history: a day's slack still lost 1 of 2,525
# commits, a week lost none); the exact half-open range is enforced here.
WIDEN_SECONDS = 7 * 86400
BODY_LIMIT = 4000
MAX_PATHS = 50
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


def _flag(section: SourceSection, key: str) -> bool:
    value = section.get(key, False)
    if not isinstance(value, bool):
        raise ConfigError(f"sources.{section.name}.{key} must be true or false")
    return value


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
    _flag(section, "include_merges")
    _flag(section, "include_bots")
    _strings(section, "revs", ["HEAD"])
    web_url = section.get("web_url")
    if web_url is not None and not (isinstance(web_url, str) and web_url.startswith(("http://", "https://"))):
        raise ConfigError(f"sources.{section.name}.web_url must be an http(s) URL")
    for target in _open(section):
        target.repo.close()


def implicit() -> SourceSection:
    """Git is on by default, on the repository containing the current directory."""
    return SourceSection(name="git", type="git", options={})


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
        try:
            emails = [str(repo.repo.git.config("--get", "user.email")).strip()]
        except GitCommandError:
            emails = []
        if not emails or not emails[0]:
            raise UsageError(
                f"no git identity to match in {repo.path}: pass --author EMAIL or set emails in [me] "
                "(git config user.email is not set either)"
            )
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


def log_args(time_range: TimeRange, revs: list[str]) -> list[str]:
    """The arguments of the one ``git log`` per repository (shared with bench/git_connector.py)."""
    since = math.floor(time_range.since.timestamp()) - WIDEN_SECONDS
    until = math.ceil(time_range.until.timestamp()) + WIDEN_SECONDS
    return [
        "--numstat",
        f"--format={LOG_FORMAT}",
        "--encoding=UTF-8",
        # whatever the user's config says: no signature checks, diff drivers or colours in the output
        "--no-show-signature",
        "--no-textconv",
        "--no-ext-diff",
        "--no-color",
        f"--since=@{since}",
        f"--until=@{until}",
        *revs,
        "--",
    ]


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


def _trim(text: str) -> str:
    text = text.strip()
    return text if len(text) <= BODY_LIMIT else text[: BODY_LIMIT - 1].rstrip() + "…"


def _records(repo: Repo, args: list[str]) -> Iterator[str]:
    """The NUL-separated records of one ``git log``, parsed while git is still writing them."""
    proc = repo.git.log(*args, as_process=True)
    try:
        pending = b""
        while chunk := proc.stdout.read1(1 << 16):
            *complete, pending = (pending + chunk).split(b"\x00")
            for record in complete:
                if record:
                    yield record.decode("utf-8", "replace")
        if pending:
            yield pending.decode("utf-8", "replace")
    except BaseException:  # including GeneratorExit: never leave git blocked on a full pipe
        proc.proc.kill()
        proc.proc.wait()
        raise
    proc.wait()  # raises GitCommandError, with git's stderr, when git failed


def _walk(
    target: _Repo,
    identity: _Identity,
    time_range: TimeRange,
    section: SourceSection,
    counts: _Counts,
) -> list[Evidence]:
    include_merges, include_bots = _flag(section, "include_merges"), _flag(section, "include_bots")
    web_url = section.get("web_url")
    url_prefix = commit_url(target.remote_url, target.name, "")  # every commit url ends with the sha
    if web_url:
        url_prefix = f"{web_url.rstrip('/')}/commit/"
    since, until = time_range.since.timestamp(), time_range.until.timestamp()
    found: list[Evidence] = []
    for record in _records(target.repo, log_args(time_range, _strings(section, "revs", ["HEAD"]))):
        sha, parents, an, ae, mapped_name, mapped_email, ct, ci, ai, rest = record.split("\x1f", 9)
        if not since <= int(ct) < until:
            continue
        counts.in_range += 1
        if not include_merges and " " in parents:
            counts.merges += 1
            continue
        if not include_bots and _is_bot(f"{an}\n{ae}\n{mapped_name}\n{mapped_email}".lower()):
            counts.bots += 1
            continue
        if not identity.matches(an, ae, mapped_name, mapped_email):
            continue
        counts.matched += 1
        subject, _, rest = rest.partition("\x1f")
        body, _, numstat = rest.rpartition("\x1f")
        additions, deletions, files, paths, top_dir = _numstat(numstat)
        body = _trim(body)
        found.append(
            Evidence(
                id=f"git:{target.name}@{sha}",
                source="git",
                kind="commit",
                title=subject,
                url=url_prefix + sha,
                completed_at=datetime.fromisoformat(ci),
                body=body,
                author=f"{mapped_name} <{mapped_email}>",
                repo=target.name,
                created_at=datetime.fromisoformat(ai),
                refs=extract_refs(f"{subject}\n{body}", target.name),
                additions=additions,
                deletions=deletions,
                files=files,
                extra={"sha": sha, "paths": paths, "top_dir": top_dir, "source_name": section.name},
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
    text = f"{_count(counts.in_range, 'commit')} in range, {counts.matched} by the person"
    excluded = []
    if not _flag(section, "include_merges"):
        excluded.append(_count(counts.merges, "merge"))
    if not _flag(section, "include_bots"):
        excluded.append(_count(counts.bots, "bot commit"))
    return text + (f", excluded {' and '.join(excluded)}" if excluded else "")


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
    options=frozenset({"type", "enabled", "paths", "revs", "include_merges", "include_bots", "web_url"}),
)
