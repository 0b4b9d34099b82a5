"""Find references to other work in free text: ticket keys, pull and merge requests, issues, commits.

References are normalised so that items from different sources meet on the same string: ticket keys
as ``ABC-123``; pull requests and issues as ``owner/repo#123`` and GitLab merge requests as
``group/project!12``, lower-cased, with the repository's own canonical name for every form that means
it (``#123``, ``(#123)``, ``GH-123``, ``owner/repo#123``, a web URL); commits a message reverts or
cherry-picks as their full sha.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

TICKET_KEY = re.compile(r"(?<![A-Za-z0-9_-])([A-Z][A-Z0-9]{1,9}-[1-9][0-9]{0,6})(?![A-Za-z0-9_]|-[0-9])")
# Upper-case words followed by a number that are standards, encodings or licences, not tickets.
# fmt: off
NOT_TICKETS = frozenset({
    "UTF", "UCS", "SHA", "MD", "ISO", "RFC", "CVE", "CWE", "GPL", "LGPL", "AGPL", "BSD", "MPL", "CC", "EPL",
    "PEP", "JSR", "JEP", "TLS", "SSL", "HTTP", "IPV", "X86", "ARM64", "AES", "RSA", "ECDSA", "HS", "RS", "ES",
    "PS", "FIPS", "BASE", "WIN", "ES2015", "ECMA", "IEEE", "ANSI", "POSIX", "GH",
})
# fmt: on
PR_NUMBER = re.compile(r"(?<![\w/&!])#([1-9][0-9]{0,6})\b")
GH_NUMBER = re.compile(r"(?<![\w-])GH-([1-9][0-9]{0,6})\b")
MR_NUMBER = re.compile(r"(?<![\w/&#!])!([1-9][0-9]{0,6})\b")
WEB_REF = re.compile(
    r"https?://[^\s/]+/([\w.-]+/[\w.-]+(?:/[\w.-]+)*?)/(?:-/)?(pull|pulls|issues|merge_requests)/([0-9]+)"
)
CROSS_REF = re.compile(r"(?<![\w./-])([A-Za-z0-9][\w.-]*/[\w.-]+(?:/[\w.-]+)*)([#!])([1-9][0-9]{0,6})\b")
REVERTED = re.compile(
    r"\b(?:reverts commit|cherry picked from commit|backport of commit)\s+([0-9a-f]{40})\b", re.I
)
URL = re.compile(r"https?://[^\s<>()\[\]\"'`]+")


def ticket_keys(text: str) -> list[str]:
    """Ticket keys such as ``SEARCH-88`` in ``text``, in order of first appearance."""
    found = [m.group(1) for m in TICKET_KEY.finditer(text)]
    return _unique(k for k in found if k.split("-", 1)[0] not in NOT_TICKETS)


def extract_refs(text: str, repo: str = "") -> list[str]:
    """Ticket keys, pull/merge-request and issue references, and reverted or cherry-picked commits.

    A bare ``#123``, ``GH-123`` or ``!12`` refers to ``repo`` (when it is known), ``owner/repo#123`` to
    that repository, and a web URL to the repository in its path; see :func:`canonical_ref`.
    """
    refs: list[str] = []
    for match in WEB_REF.finditer(text):
        sign = "!" if match.group(2) == "merge_requests" else "#"
        refs.append(canonical_ref(f"{match.group(1)}{sign}{match.group(3)}", repo))
    without_urls = URL.sub(" ", text)
    refs.extend(canonical_ref(f"{path}{sign}{n}", repo) for path, sign, n in CROSS_REF.findall(without_urls))
    if repo:
        refs.extend(canonical_ref(f"{repo}#{n}", repo) for n in PR_NUMBER.findall(without_urls))
        refs.extend(canonical_ref(f"{repo}#{n}", repo) for n in GH_NUMBER.findall(without_urls))
        refs.extend(canonical_ref(f"{repo}!{n}", repo) for n in MR_NUMBER.findall(without_urls))
    refs.extend(ticket_keys(without_urls))
    refs.extend(sha.lower() for sha in REVERTED.findall(text))
    return _unique(refs)


def canonical_ref(ref: str, repo: str = "") -> str:
    """One form for a reference: lower case, and a repository named by its last path part alone (or by
    the same last part under another owner, as after a rename or from a clone without a remote) is
    ``repo``'s own name: with ``repo = "pallets/click"``, ``click#3`` and ``Pallets/Click#3`` are
    ``pallets/click#3``; with ``repo = "click"``, ``pallets/click#3`` is ``click#3``."""
    ref = ref.lower()
    if not repo:
        return ref
    match = re.fullmatch(r"(.+)([#!])(\d+)", ref)
    if not match:
        return ref
    path, sign, number = match.groups()
    own = repo.lower()
    if path == own or path.rsplit("/", 1)[-1] == own.rsplit("/", 1)[-1]:
        return f"{own}{sign}{number}"
    return ref


def _unique(items: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(items))


CLOSING = re.compile(
    r"\b(?:close[sd]?|closing|fix(?:e[sd])?|fixing|resolve[sd]?|resolving)\b:?\s+"
    r"((?:(?:https?://\S+/(?:issues|pull)/\d+|(?:[\w.-]+/[\w.-]+)?#\d+)(?:\s*(?:,|and|&)\s*)?)+)",
    re.IGNORECASE,
)


def closing_refs(text: str, repo: str = "") -> list[str]:
    """Issues ``text`` says it closes, the way GitHub and GitLab read it (``fixes #12``, ``closes
    owner/repo#3 and #4``, ``resolves <issue URL>``), as canonical references."""
    found: list[str] = []
    for match in CLOSING.finditer(text):
        found += extract_refs(match.group(1), repo)
    return _unique(ref for ref in found if "#" in ref)
