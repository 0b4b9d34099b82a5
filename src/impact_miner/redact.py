"""Redact secrets and configured private names from text before it leaves the machine.

Three layers, each replacing what it finds with ``[REDACTED:<kind>]``:

1. Explicit patterns for what detect-secrets 1.5 misses or only half-matches: whole private-key blocks
   (it flags only the ``BEGIN`` line), whole JWTs (its lazy pattern stops before the signature),
   credentials in URLs (``scheme://user:password@``), current OpenAI (``sk-proj-…``) and Anthropic
   (``sk-ant-…``) keys (its OpenAI plugin knows only the legacy ``…T3BlbkFJ…`` shape) and GitHub
   fine-grained tokens (``github_pat_…``).
2. Every detect-secrets plugin, called directly per line (``plugin.analyze_line``), not through
   ``detect_secrets.core.scan.scan_line``: that one reads a process-wide settings singleton (no plugin
   at all is enabled until ``default_settings()`` or a baseline configures it), and in its ad-hoc mode
   the high-entropy plugins return every word unfiltered. Regex plugins are matched with their own
   ``denylist`` so the whole token goes (the GitHub plugin *reports* only the ``ghp`` prefix); the
   high-entropy plugins' candidates are kept only when at least ``MIN_ENTROPY_LENGTH`` characters long
   and above the plugin's own entropy limit; strings in ``keep`` (evidence ids, commit shas, evidence
   URLs) are never taken for high-entropy secrets, so the model can still cite them.
3. Configured patterns (``[llm] redact_patterns``): Python regular expressions matched
   case-insensitively, for customer names, internal host names, project code names.

Redaction is one-way: nothing maps a marker back to its secret, and no secret is stored or logged.
"""

from __future__ import annotations

import re
import threading
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, cast

from impact_miner.errors import ConfigError

MIN_ENTROPY_LENGTH = 20
# Shorter markers for detect-secrets' type names; the rest are slugs of them ("github-token", ...).
KIND_NAMES = {
    "base64-high-entropy-string": "high-entropy",
    "hex-high-entropy-string": "high-entropy",
    "public-ip-ipv4": "public-ip",
    "secret-keyword": "secret",
}
# When findings cover the same text, the most specific kind names it.
GENERIC_KINDS = ("custom", "secret", "high-entropy")
MIN_GROUP_LENGTH = 8
DETECT_SECRETS_FILENAME = "evidence.yaml"  # the keyword plugin reads `key: value` lines only in YAML mode

EXPLICIT_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = (
    (
        "private-key",
        re.compile(
            r"-----BEGIN[A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----.*?"
            r"(?:-----END[A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----|\Z)",
            re.S,
        ),
    ),
    ("jwt", re.compile(r"\beyJ[A-Za-z0-9_-]{2,}\.[A-Za-z0-9_-]{2,}\.[A-Za-z0-9_-]*")),
    ("url-credentials", re.compile(r"(?<=://)[^\s/?#@:]+:[^\s/?#@]+(?=@)")),
    ("anthropic-key", re.compile(r"\bsk-ant-[A-Za-z0-9_-]{20,}")),
    ("openai-key", re.compile(r"\bsk-(?:proj-|svcacct-|admin-|None-)?[A-Za-z0-9_-]{20,}")),
    ("github-token", re.compile(r"\bgithub_pat_[A-Za-z0-9_]{22,}")),
)


@dataclass(frozen=True)
class Finding:
    start: int
    end: int
    kind: str


class Redactor:
    """Redacts text; ``counts`` tallies what it replaced, by kind (never the values)."""

    def __init__(self, patterns: Sequence[str] = ()) -> None:
        self.patterns = compile_patterns(patterns)
        self.counts: Counter[str] = Counter()
        self._lock = threading.Lock()

    def redact(self, text: str, keep: Iterable[str] = ()) -> str:
        """``text`` with every finding replaced by ``[REDACTED:<kind>]``."""
        if not text:
            return text
        findings = self.findings(text, keep)
        pieces, position = [], 0
        for finding in findings:
            pieces += [text[position : finding.start], f"[REDACTED:{finding.kind}]"]
            position = finding.end
        pieces.append(text[position:])
        with self._lock:
            self.counts.update(f.kind for f in findings)
        return "".join(pieces)

    def findings(self, text: str, keep: Iterable[str] = ()) -> list[Finding]:
        """Non-overlapping findings in order; where two overlap, the union is taken with the first kind."""
        kept = [k for k in keep if k]
        found: list[Finding] = []
        for kind, pattern in EXPLICIT_PATTERNS:
            found += [Finding(*m.span(), kind) for m in pattern.finditer(text) if m.end() > m.start()]
        found += [Finding(*m.span(), "custom") for p in self.patterns for m in p.finditer(text) if m.group(0)]
        offset = 0
        for line in text.splitlines(keepends=True):
            found += [Finding(offset + f.start, offset + f.end, f.kind) for f in _line_findings(line, kept)]
            offset += len(line)
        return _merge(found)


def compile_patterns(patterns: Sequence[str]) -> list[re.Pattern[str]]:
    """Configured patterns as case-insensitive regexes; an invalid one is a ConfigError naming it."""
    compiled = []
    for pattern in patterns:
        if not isinstance(pattern, str) or not pattern:
            raise ConfigError("[llm] redact_patterns must be non-empty strings (regular expressions)")
        try:
            compiled.append(re.compile(pattern, re.I))
        except re.error as exc:
            raise ConfigError(
                f"[llm] redact_patterns: {pattern!r} is not a valid regular expression ({exc}); "
                "escape special characters such as . ( [ with a backslash"
            ) from None
    return compiled


def _merge(found: list[Finding]) -> list[Finding]:
    merged: list[Finding] = []

    def rank(finding: Finding) -> tuple[int, int, int]:
        generic = GENERIC_KINDS.index(finding.kind) + 1 if finding.kind in GENERIC_KINDS else 0
        return finding.start, -finding.end, generic

    for finding in sorted(found, key=rank):
        if merged and finding.start < merged[-1].end:
            last = merged[-1]
            merged[-1] = Finding(last.start, max(last.end, finding.end), last.kind)
        else:
            merged.append(finding)
    return merged


_DETECT_LOCK = threading.Lock()  # the high-entropy plugins swap their regex while scanning


def _line_findings(line: str, keep: Sequence[str]) -> list[Finding]:
    stripped = line.rstrip("\r\n")
    if not stripped.strip():
        return []
    found: list[Finding] = []
    with _DETECT_LOCK:
        for kind, plugin in _plugins():
            denylist = getattr(plugin, "denylist", None)
            if denylist:
                for pattern in denylist:
                    found += [Finding(*_secret_span(m), kind) for m in pattern.finditer(stripped)]
                continue
            limit = getattr(plugin, "entropy_limit", None)
            secrets = plugin.analyze_line(
                filename=DETECT_SECRETS_FILENAME, line=stripped, line_number=1, enable_eager_search=True
            )
            values = [s.secret_value or "" for s in secrets or ()]
            if limit is not None:  # `NAME=value` is one candidate for the base64 charset: judge the parts
                values = [part for value in values for part in re.split(r"=(?=[^=])", value)]
            for value in values:
                if not value or any(value in k for k in keep):
                    continue
                if limit is not None and not (
                    len(value) >= MIN_ENTROPY_LENGTH and plugin.calculate_shannon_entropy(value) > limit
                ):
                    continue
                found += [Finding(m.start(), m.end(), kind) for m in re.finditer(re.escape(value), stripped)]
    return found


def _secret_span(match: re.Match[str]) -> tuple[int, int]:
    """The secret in a denylist match: its longest capture group when that is a real value, else the whole
    match without the separators some plugins include (spaces, quotes, ``=``, ``:``)."""
    groups = [i for i in range(1, (match.lastindex or 0) + 1) if match.group(i)]
    best = max(groups, key=lambda i: len(match.group(i)), default=None)
    if best is not None and len(match.group(best)) >= MIN_GROUP_LENGTH:
        return match.span(best)
    start, end = match.span()
    text = match.group(0)
    start += len(text) - len(text.lstrip(" \t=:\"'"))
    end -= len(text) - len(text.rstrip(" \t\"'"))
    return start, max(start, end)


@lru_cache(maxsize=1)
def _plugins() -> tuple[tuple[str, Any], ...]:
    """One instance of every detect-secrets plugin, with a slug of its secret type."""
    from detect_secrets.core.plugins.util import get_mapping_from_secret_type_to_class

    plugins = []
    mapping: dict[str, Any] = dict(get_mapping_from_secret_type_to_class())
    for secret_type, plugin_class in sorted(mapping.items()):
        slug = re.sub(r"[^a-z0-9]+", "-", secret_type.lower()).strip("-")
        plugins.append((KIND_NAMES.get(slug, slug), cast(Any, plugin_class)()))
    return tuple(plugins)
