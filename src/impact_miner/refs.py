"""Find references to other work in free text: ticket keys, pull-request numbers and their URLs.

References are normalised so that items from different sources meet on the same string:
ticket keys as ``ABC-123``, pull requests and issues as ``owner/repo#123``.
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
    "PS", "FIPS", "BASE", "WIN", "ES2015", "ECMA", "IEEE", "ANSI", "POSIX",
})
# fmt: on
PR_NUMBER = re.compile(r"(?<![\w/&])#([1-9][0-9]{0,6})\b")
WEB_REF = re.compile(
    r"https?://[^\s/]+/([\w.-]+/[\w.-]+(?:/[\w.-]+)*?)/(?:-/)?(?:pull|pulls|issues|merge_requests)/([0-9]+)"
)
CROSS_REF = re.compile(r"(?<![\w./-])([A-Za-z0-9][\w.-]*/[\w.-]+)#([1-9][0-9]{0,6})\b")
URL = re.compile(r"https?://[^\s<>()\[\]\"'`]+")


def ticket_keys(text: str) -> list[str]:
    """Ticket keys such as ``SEARCH-88`` in ``text``, in order of first appearance."""
    found = [m.group(1) for m in TICKET_KEY.finditer(text)]
    return _unique(k for k in found if k.split("-", 1)[0] not in NOT_TICKETS)


def extract_refs(text: str, repo: str = "") -> list[str]:
    """Ticket keys, ``owner/repo#N`` references and pull-request/issue URLs found in ``text``.

    A bare ``#123`` refers to ``repo`` (when it is known), ``owner/repo#123`` to that repository, and
    a web URL to a pull request, issue or merge request to the repository in its path.
    """
    refs: list[str] = []
    for match in WEB_REF.finditer(text):
        refs.append(f"{match.group(1)}#{match.group(2)}")
    without_urls = URL.sub(" ", text)
    refs.extend(f"{owner_repo}#{n}" for owner_repo, n in CROSS_REF.findall(without_urls))
    if repo:
        refs.extend(f"{repo}#{n}" for n in PR_NUMBER.findall(without_urls))
    refs.extend(ticket_keys(without_urls))
    return _unique(refs)


def _unique(items: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(items))
