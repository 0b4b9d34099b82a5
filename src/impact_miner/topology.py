"""Units of work from a git history's merge topology: which commits one merge brought in, and when
each commit landed on the walked branch.

A merge M brings in the commits of ``M^1..M^2``. Taken oldest first along the walked branch, the
non-merge commits a merge brings in that no earlier merge claimed are one unit of work: a pull or
merge request, or a topic branch. A merge of a long-lived branch (``main``, ``stable``, ``2.0.x``, ...)
is not a unit: the units merged into that branch keep their own, and commits made straight on it are
units of their own, like commits made straight on the walked branch. Every commit lands when the
first-parent commit of the walked branch that brought it in was committed.

Everything here is pure: the caller reads the commits from git and passes them in.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

# Branch names that are lines of development, not pieces of work: the default branches, release and
# maintenance lines, and version-numbered branches (``2.0.x``, ``1.0-maintenance``, ``proposed/2.8.0``).
DEVELOPMENT_LINE = (
    r"main|master|trunk|develop|development|dev|devel|default|stable|next|staging|production|prod|live"
    r"|gh-pages|maint|maintenance|.*[/_-](?:maint|maintenance|stable)"
    r"|v?\d+(?:[._-]\d+)*(?:[._-](?:x|maint|maintenance|stable))?"
)
# A merged branch that is a line of development: the default branches and maintenance lines, and, in a
# ``Merge branch`` message, release and integration lines too (``release/2.0``, ``proposed/3.0.0``).
LONG_LIVED = re.compile(
    rf"(?:{DEVELOPMENT_LINE}|release|releases|(?:release|releases|maint|maintenance|stable|support|proposed)"
    r"[/_-].*|.*/v?\d+(?:\.\d+)+(?:\.x)?)",
    re.IGNORECASE,
)
# A pull request's head is long-lived only when it is a line of development: a pull request from
# ``release-2.0.0`` is the release's preparation, merged once, one unit.
LONG_LIVED_HEAD = re.compile(rf"(?:{DEVELOPMENT_LINE})", re.IGNORECASE)
GITHUB_MERGE = re.compile(r"^Merge pull request #(\d+) from (\S+)", re.IGNORECASE)
GITLAB_MERGE_REQUEST = re.compile(r"^See merge request (\S+?)!(\d+)\s*$", re.MULTILINE | re.IGNORECASE)
TITLE_NUMBER = re.compile(r"^(?P<title>.*\S)\s*\(#(?P<number>\d+)\)\s*$")
BITBUCKET_MERGE = re.compile(r"^Merged in (\S+) \(pull request #(\d+)\)", re.IGNORECASE)
AZURE_MERGE = re.compile(r"^Merged PR (\d+):\s*(.*)$", re.IGNORECASE)
# "Merge branch 'x'", "Merge branch 'x' of URL into y", "Merge remote-tracking branch 'origin/x'",
# "Merge branches 'a' and 'b'", "Merge tag 'v1.0'", "Merge commit 'sha'", "Merge URL into y".
GIT_MERGE = re.compile(
    r"^Merge (?:(?P<what>remote-tracking branch|branch|branches|tag|commit) )?'(?P<name>[^']+)'"
    r"(?: (?:of|from) (?P<url>\S+))?(?: into '?(?P<into>[^'\s]+)'?)?",
    re.IGNORECASE,
)
GIT_MERGE_URL = re.compile(r"^Merge (?P<url>(?:https?|git|ssh)://\S+|[\w.-]+@[\w.-]+:\S+)")
# Names a fork's default branch often has: a pull request from ``someone/master`` is still a pull request.
DEFAULT_BRANCHES = frozenset({"main", "master", "trunk", "develop", "development", "dev", "default"})


class Node(NamedTuple):
    """One commit of the walked history: its sha, parents (first parent first) and committer time.

    A named tuple: a whole history is made of these, and tuples are the cheapest to build."""

    sha: str
    parents: tuple[str, ...]
    committed: int

    @property
    def is_merge(self) -> bool:
        return len(self.parents) > 1


@dataclass(frozen=True)
class MergeInfo:
    """What a merge message says: the unit it makes (``None`` for a long-lived branch) and its title.

    ``key`` is the canonical reference of a pull or merge request (``owner/repo#12``, ``group/project!3``)
    or ``""`` for a topic branch, which is identified by the merge's sha.
    """

    kind: str  # "pull_request", "merge_request", "branch"
    key: str
    number: int | None
    title: str
    branch: str
    long_lived: bool = False


@dataclass
class History:
    """The analysis of one walked history."""

    landed: dict[str, int] = field(default_factory=dict)  # sha → when it landed on the walked branch
    unit_of: dict[str, str] = field(default_factory=dict)  # non-merge sha → the merge that claimed it
    claimed: dict[str, list[str]] = field(default_factory=dict)  # unit merge sha → its commits, oldest first


def parse_merge(message: str, repo: str) -> MergeInfo:
    """Read a merge message: a pull request, a merge request, a topic branch or a long-lived branch.

    ``repo`` is the repository's canonical name, which a bare ``#N`` refers to.
    """
    lines = [line.strip() for line in message.strip().splitlines()]
    subject = lines[0] if lines else ""
    rest = [line for line in lines[1:] if line]
    gitlab = GITLAB_MERGE_REQUEST.search(message)
    if gitlab:
        project, number = gitlab.group(1), int(gitlab.group(2))
        branch = _branch_of(subject)
        title = next((line for line in rest if not GITLAB_MERGE_REQUEST.match(line)), "") or branch
        return MergeInfo("merge_request", f"{project}!{number}", number, title, branch, _long_lived(branch))
    match = GITHUB_MERGE.match(subject)
    if match:
        number, source = int(match.group(1)), match.group(2)
        owner, _, branch = source.rpartition("/")
        title = rest[0] if rest else branch
        return MergeInfo(
            "pull_request",
            _pr_key(repo, number),
            number,
            title,
            branch,
            _long_lived_head(owner, branch, repo),
        )
    match = BITBUCKET_MERGE.match(subject)
    if match:
        branch, number = match.group(1), int(match.group(2))
        title = rest[0] if rest else branch
        return MergeInfo("pull_request", _pr_key(repo, number), number, title, branch, _long_lived(branch))
    match = AZURE_MERGE.match(subject)
    if match:
        number = int(match.group(1))
        return MergeInfo("pull_request", _pr_key(repo, number), number, match.group(2), "", False)
    match = GIT_MERGE.match(subject)
    if match:
        name = match.group("name")
        if (match.group("what") or "").lower() in ("tag", "commit"):
            return MergeInfo("branch", "", None, subject, name, True)
        branch = _strip_remote(name)
        return MergeInfo("branch", "", None, branch, branch, _long_lived(branch))
    if GIT_MERGE_URL.match(subject):  # ``git pull URL``: someone's default branch, a contribution
        return MergeInfo("branch", "", None, subject, "", False)
    match = TITLE_NUMBER.match(subject)
    if match:
        number = int(match.group("number"))
        return MergeInfo("pull_request", _pr_key(repo, number), number, match.group("title"), "", False)
    # a hand-written message ("merged with 0.5-maintenance", "Merged master"): a unit unless it names a
    # long-lived branch
    names = [_strip_remote(word.strip("'\".,:;()")) for word in subject.split()]
    return MergeInfo("branch", "", None, subject, "", any(_long_lived(n) for n in names if _branchy(n)))


def squash_number(subject: str) -> int | None:
    """The pull-request number of a squash-merged commit's subject (``Fix the thing (#123)``)."""
    match = TITLE_NUMBER.match(subject.strip())
    return int(match.group("number")) if match else None


def analyse(
    nodes: Mapping[str, Node], tips: Sequence[str], merge_info: Callable[[str], MergeInfo]
) -> History:
    """Landing times and merge units of ``nodes`` walked from ``tips`` (the first tip's branch first).

    ``nodes`` holds the commits that can still land (those outside it landed earlier); ``merge_info``
    reads a merge's message. A commit reached from several tips lands with the first.
    """
    history = History()
    seen: set[str] = set()
    for tip in tips:
        _walk_line(tip, None, nodes, seen, history, merge_info)
    return history


def _walk_line(
    tip: str,
    landing: int | None,
    nodes: Mapping[str, Node],
    seen: set[str],
    history: History,
    merge_info: Callable[[str], MergeInfo],
) -> None:
    """Walk the first-parent line from ``tip`` oldest first, each merge's side lines before the merge.

    Iterative (an explicit stack of lines), so deeply nested merges cannot exhaust Python's stack.
    Each stack entry is a line: its chain (newest first, consumed from the end), the landing time its
    commits inherit (None: each first-parent commit lands when it was committed), the non-merge commits
    it has collected, and the merge waiting for it with the side parents still to walk.
    """
    stack: list[_Line] = [_Line(_chain(tip, nodes, seen), landing, None)]
    while stack:
        line = stack[-1]
        if line.pending is not None:  # a merge of this line whose side lines are being walked
            merge, sides = line.pending
            if sides:
                side = sides.pop(0)
                stack.append(_Line(_chain(side, nodes, seen), line.landing_of(merge, nodes), line))
                continue
            _claim(merge, line.side_commits, history, merge_info)
            line.pending, line.side_commits = None, []
            continue
        if not line.chain:
            stack.pop()
            if line.owner is not None:
                line.owner.side_commits.extend(line.collected)
            continue
        sha = line.chain.pop()
        node = nodes[sha]
        history.landed[sha] = line.landing_of(sha, nodes)
        if node.is_merge:
            line.pending = (sha, list(node.parents[1:]))
        else:
            line.collected.append(sha)


@dataclass
class _Line:
    chain: list[str]
    landing: int | None
    owner: _Line | None
    collected: list[str] = field(default_factory=list)
    pending: tuple[str, list[str]] | None = None
    side_commits: list[str] = field(default_factory=list)

    def landing_of(self, sha: str, nodes: Mapping[str, Node]) -> int:
        return self.landing if self.landing is not None else nodes[sha].committed


def _chain(tip: str, nodes: Mapping[str, Node], seen: set[str]) -> list[str]:
    """The first-parent line from ``tip`` down to the first commit already seen or outside ``nodes``,
    newest first; its commits are marked seen."""
    chain = []
    sha: str | None = tip
    while sha is not None and sha in nodes and sha not in seen:
        seen.add(sha)
        chain.append(sha)
        parents = nodes[sha].parents
        sha = parents[0] if parents else None
    return chain


def _claim(merge: str, commits: list[str], history: History, merge_info: Callable[[str], MergeInfo]) -> None:
    """A unit merge claims what its side lines brought in; a long-lived one leaves them as they are."""
    if not commits or merge_info(merge).long_lived:
        return
    ordered = list(commits)
    history.claimed[merge] = ordered
    for sha in ordered:
        history.unit_of[sha] = merge


def _strip_remote(name: str) -> str:
    """``origin/2.0.x`` → ``2.0.x``; ``psf:main`` → ``main``; ``refs/heads/x`` → ``x``."""
    name = name.removeprefix("refs/heads/").removeprefix("refs/remotes/")
    if ":" in name:
        name = name.rsplit(":", 1)[1]
    first, _, rest = name.partition("/")
    if rest and first in ("origin", "upstream", "remotes", "fork", "github", "gitlab"):
        return rest
    return name


def _branch_of(subject: str) -> str:
    match = GIT_MERGE.match(subject)
    return _strip_remote(match.group("name")) if match else ""


def _branchy(word: str) -> bool:
    """Whether a word of free text looks like a branch name rather than a plain number or word."""
    return (
        bool(re.fullmatch(r"[\w./-]+", word))
        and not word.isdigit()
        and (word.lower() in DEFAULT_BRANCHES or any(c in word for c in "./-"))
    )


def _long_lived(branch: str) -> bool:
    return bool(branch) and bool(LONG_LIVED.fullmatch(_strip_remote(branch)))


def _long_lived_head(owner: str, branch: str, repo: str) -> bool:
    """Whether a pull request's head branch is a line of development of the repository itself.

    A fork's ``master`` is a contribution; the repository's own ``2.0.x`` (or ``main``) is not a unit.
    When the repository's owner is unknown, only names that are not a fork's usual default count.
    """
    if not LONG_LIVED_HEAD.fullmatch(_strip_remote(branch)):
        return False
    repo_owner = repo.rpartition("/")[0]
    if repo_owner:
        return owner.lower() == repo_owner.lower()
    return branch.lower() not in DEFAULT_BRANCHES


def _pr_key(repo: str, number: int) -> str:
    return f"{repo}#{number}".lower() if repo else f"#{number}"


VERSION = r"v?(\d+(?:\.\d+)+(?:[-.]?(?:a|b|c|rc|alpha|beta|dev|post|pre)\.?\d*)?)"
RELEASE_SUBJECT = re.compile(
    r"^(?:chore\(release\)!?:?\s*|build\(release\)!?:?\s*)?"
    r"(?:(?:release[sd]?|releasing|cut release|publish(?:ed)?"
    r"|prepare(?:d)?(?: for)?(?: the)? release(?: of)?)"
    r"[\s:]+(?:version\s+)?" + VERSION + r"|" + VERSION + r")\s*(?:release)?\.?\s*$",
    re.IGNORECASE,
)
TAG_VERSION = re.compile(r"^(?:[a-z][\w.-]*?[-_/@])?" + VERSION + r"$", re.IGNORECASE)


def release_version(text: str) -> str:
    """The version a release commit's subject or a release tag names (``v2.8.0`` → ``2.8.0``), or ``""``.

    Subjects count when they are the version alone or a release verb and the version (``release
    version 2.1.2``, ``Release v3.0.0``, ``chore(release): 1.4.0``); a version bump toward the next
    release (``start version 2.1.3``) is not a release.
    """
    text = text.strip()
    match = RELEASE_SUBJECT.match(text) or TAG_VERSION.match(text)
    if not match:
        return ""
    return next(group for group in match.groups() if group)


def clean_title(subject: str) -> str:
    """A squash-merged subject without its ``(#N)``: ``Fix the thing (#123)`` → ``Fix the thing``."""
    match = TITLE_NUMBER.match(subject.strip())
    return match.group("title").strip() if match else subject.strip()
