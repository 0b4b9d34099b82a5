"""Quantitative claims in what people wrote: "p95 from 320 ms to 218 ms", "cut build time 40%", "3x faster".

A claim is the author's word, not a measurement: it is reported as ``source: "claimed"`` with the id of
the evidence it was read from and the exact words (``text``), so a statement can quote it and the
verifier finds every number of the quote in that evidence.

Three shapes are recognised:

- a **change**: ``from X to Y`` or ``X → Y`` (also ``->``, ``=>``), where at least one side carries a
  unit (ms, s, min, h, %, KB/MB/GB/TB, req/s, rps, qps, $, errors, users, ...), or the words before it
  name a measure (latency, errors, build time, ...);
- a **percentage**: ``40%``, ``40 percent``, with its direction when a word near it says so
  (reduced, cut, faster, increased, ...);
- a **factor**: ``3x faster``, ``2.5× fewer errors``, ``10 times smaller``.

Numbers that are part of versions (1.2.3), dates (2026-11-12, 12/11/2026), times (10:30), ticket keys
(SEARCH-88), issue numbers (#123) or hex ids (3f2a9c1, 0x1F) are never read as claims.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from impact_miner.model import ClaimedMetric, Evidence

# Kinds of evidence whose text is the author's own description of the work.
CLAIM_KINDS = frozenset({"pull_request", "ticket", "commit"})

_NUMBER = (
    r"(?<![\w.#/:@])(?<![A-Za-z0-9]-)"  # not inside a word, version, path, ticket key or time
    r"(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?"
    r"(?![.,:/-]?\d)"  # not followed by more version, date or time digits
)
_UNITS = (
    r"ms|msec|milliseconds?|µs|us|microseconds?|ns|seconds?|secs?|s|minutes?|mins?|hours?|hrs?|h|days?"
    r"|%|percent|[KMGT]i?B|bytes|req/s|reqs?/sec|requests?/s(?:ec)?|rps|qps|ops/s|tps"
    r"|errors?|users?|customers?|requests?|queries|failures?|crashes|incidents?|alerts?|pages?"
    r"|tickets?|timeouts?|retries|dollars|USD|EUR|cores?|CPUs?|pods?|nodes?"
)
# A quantity: optional currency, the number, an optional k/M multiplier, an optional unit.
_QUANTITY = (
    rf"(?P<Pcur>[$€£])?\s?(?P<Pnum>{_NUMBER})(?P<Pmult>[kKM](?![A-Za-z]))?"
    rf"(?:\s?(?P<Punit>{_UNITS})(?![\w/]))?"
)
_ARROW = r"(?:→|->|=>|⟶|⇒)"
CHANGE = re.compile(
    r"(?:\bfrom\s+(?:~|about\s+|around\s+|roughly\s+)?"
    + _QUANTITY.replace("?P<P", "?P<a_")
    + r"\s+(?:(?:down|up)\s+)?(?:to|→|->|=>)\s+(?:~|about\s+|around\s+|roughly\s+|just\s+|only\s+)?"
    + _QUANTITY.replace("?P<P", "?P<b_")
    + r")|(?:"
    + _QUANTITY.replace("?P<P", "?P<c_")
    + rf"\s*{_ARROW}\s*"
    + _QUANTITY.replace("?P<P", "?P<d_")
    + r")",
    re.I,
)
PERCENT = re.compile(rf"(?P<sign>[+\-−])?(?P<num>{_NUMBER})\s?(?:%|\s(?:percent|per cent)\b)", re.I)
FACTOR = re.compile(
    rf"(?P<num>{_NUMBER})\s?(?:[x×]|\s(?:times))\s+"
    r"(?P<word>faster|quicker|slower|smaller|larger|bigger|fewer|less|more|cheaper|higher|lower"
    r"|speed-?ups?|improvement|reduction|throughput|better)\b",
    re.I,
)
# Words that name a measure: a change without units counts when one of these comes just before it.
MEASURE_WORDS = re.compile(
    r"\b(?:latency|latencies|p\d{2,3}|duration|time|times|errors?|failures?|crashes|timeouts?|size|memory"
    r"|cpu|throughput|rate|count|cost|users|customers|requests|queries|alerts|pages|incidents|retries"
    r"|load|usage|footprint|bundle|heap|rss|qps|rps|tps|uptime|downtime|conversion|churn|signups)\b",
    re.I,
)
NOT_MEASURES = re.compile(r"\b(?:bump(?:s|ed)?|upgrade[sd]?|version|v\d|release|python|node|java|go)\b", re.I)
# Words near a percentage that say which way it went; the nearest one is kept as the claim's direction.
DIRECTION = re.compile(
    r"\b(?:reduc\w*|cut|cuts|lower\w*|decreas\w*|drop\w*|down|fewer|less|shr[iu]nk\w*|sav\w*|trimm\w*"
    r"|faster|quicker|smaller|cheaper|eliminat\w*|minimi[sz]\w*|shorter|slower|increas\w*|rais\w*"
    r"|improv\w*|up|more|boost\w*|gr[eo]w\w*|higher|doubl\w*|tripl\w*|larger|bigger|gain\w*)\b",
    re.I,
)
# Words trimmed from either end of the words before a claim to leave its subject ("p95 search latency").
_FILLER_WORDS = (
    "a an and the our its their this that which it we i is are was were be been being has have had now "
    "by from to of in on at for with about around roughly approx approximately nearly almost over under "
    "down up went go goes going dropped fell rose came comes brought bring took takes take got get gets "
    "reduced reduce reduces cut cuts lowered lower decreased decrease improved improve improves "
    "increased increase increases raised raise boosted boost made make makes which so also overall "
    "total average avg median mean"
)
FILLER = frozenset(_FILLER_WORDS.split())
CLAUSE_BREAK = re.compile(r"[.;:!?()\[\]\n,]|\s[-–—]\s|\s(?:and|but|while|whereas|with)\s", re.I)
MAX_SUBJECT_WORDS = 5
MULTIPLIERS = {"k": 1_000.0, "m": 1_000_000.0}


@dataclass(frozen=True)
class Claim:
    """One quantitative claim, with the exact ``text`` it was read from and where (``evidence_id``).

    ``kind`` is ``change`` (``before``/``after``, ``delta``, ``percent``), ``percent`` (``percent`` as
    written) or ``factor`` (``factor``); ``direction`` is the word that says which way it went
    (``"reduced"``, ``"faster"``, ``"-"``), or ``decrease``/``increase`` for a change.
    """

    kind: str
    text: str
    subject: str
    evidence_id: str
    unit: str = ""
    before: float | None = None
    after: float | None = None
    delta: float | None = None
    percent: float | None = None
    factor: float | None = None
    direction: str = ""

    def to_metric(self) -> ClaimedMetric:
        """The claim as an entry of ``Project.metrics`` (``source: "claimed"``)."""
        return {
            "name": self.subject or self.text,
            "unit": self.unit,
            "better": None,
            "before": self.before,
            "after": self.after,
            "delta": self.delta,
            "percent": self.percent,
            "factor": self.factor,
            "direction": self.direction,
            "kind": self.kind,
            "text": self.text,
            "weak": [],
            "source": "claimed",
            "evidence_id": self.evidence_id,
        }


def extract_claims(text: str, evidence_id: str = "") -> list[Claim]:
    """Every quantitative claim in ``text``, in order of appearance, each tagged with ``evidence_id``."""
    claims: list[tuple[int, Claim]] = []
    taken: list[tuple[int, int]] = []
    for match in CHANGE.finditer(text):
        claim = _change(text, match, evidence_id)
        if claim is not None:
            claims.append((match.start(), claim))
            taken.append(match.span())
    for match in FACTOR.finditer(text):
        if _overlaps(match.span(), taken):
            continue
        start, subject = _subject(text, match.start())
        word = match.group("word").lower()
        factor = _number(match.group("num"))
        claims.append(
            (
                match.start(),
                Claim(
                    "factor", text[start : match.end()], subject, evidence_id, factor=factor, direction=word
                ),
            )
        )
        taken.append(match.span())
    for match in PERCENT.finditer(text):
        if _overlaps(match.span(), taken):
            continue
        start, subject = _subject(text, match.start())
        sign = match.group("sign") or ""
        value = -_number(match.group("num")) if sign in ("-", "−") else _number(match.group("num"))
        context_start = max(0, match.start() - 40)
        context = text[context_start : match.end() + 25]
        direction = _direction(context, match.start() - context_start, sign)
        claims.append(
            (
                match.start(),
                Claim(
                    "percent",
                    text[start : match.end()],
                    subject,
                    evidence_id,
                    unit="%",
                    percent=value,
                    direction=direction,
                ),
            )
        )
    return [claim for _, claim in sorted(claims, key=lambda pair: pair[0])]


def claims_in(evidence: Iterable[Evidence]) -> list[Claim]:
    """The claims in the titles and bodies of pull requests, tickets and commits, each once.

    The same claim (same kind, numbers and unit) repeated across items, e.g. in a pull request and its
    squashed commit, is kept once, with the first item that states it.
    """
    found: dict[tuple[Any, ...], Claim] = {}
    for item in evidence:
        if item.kind not in CLAIM_KINDS:
            continue
        for text in (item.title, item.body):
            for claim in extract_claims(text or "", item.id):
                key = (claim.kind, claim.unit, claim.before, claim.after, claim.percent, claim.factor)
                found.setdefault(key, claim)
    return list(found.values())


def _change(text: str, match: re.Match[str], evidence_id: str) -> Claim | None:
    """A change claim from a ``from X to Y`` / ``X → Y`` match, or None when it is not a measure."""
    first, second = ("a_", "b_") if match.group("a_num") else ("c_", "d_")
    units = [_unit(match, first), _unit(match, second)]
    unit = units[1] or units[0]
    start, subject = _subject(text, match.start())
    if not unit:
        before_words = text[max(0, match.start() - 60) : match.start()]
        if not MEASURE_WORDS.search(subject or before_words) or NOT_MEASURES.search(before_words):
            return None
    before, after = _quantity(match, first), _quantity(match, second)
    delta = _tidy(after - before)
    percent = _tidy(delta / before * 100) if before else None
    return Claim(
        "change",
        text[start : match.end()],
        subject,
        evidence_id,
        unit=unit,
        before=before,
        after=after,
        delta=delta,
        percent=percent,
        direction="decrease" if delta < 0 else "increase" if delta > 0 else "",
    )


def _unit(match: re.Match[str], prefix: str) -> str:
    currency = match.group(f"{prefix}cur")
    unit = match.group(f"{prefix}unit") or ""
    if currency:
        return currency
    return "%" if unit.lower() in ("percent",) else unit


def _quantity(match: re.Match[str], prefix: str) -> float:
    value = _number(match.group(f"{prefix}num"))
    multiplier = match.group(f"{prefix}mult")
    return value * MULTIPLIERS[multiplier.lower()] if multiplier else value


def _number(text: str) -> float:
    value = float(text.replace(",", ""))
    return int(value) if value.is_integer() else value


def _tidy(value: float) -> float:
    """6 significant digits, so no float noise (``-0.7000000000000002``) reaches the report."""
    tidy = float(f"{value:.6g}")
    return int(tidy) if tidy.is_integer() else tidy


def _subject(text: str, end: int) -> tuple[int, str]:
    """Where the subject of the claim ending at ``end`` starts, and the subject (filler words trimmed)."""
    clause_start = 0
    for found in CLAUSE_BREAK.finditer(text, 0, end):
        clause_start = found.end()
    words = list(re.finditer(r"[^\s\"'“”‘’`*]+", text[clause_start:end]))[-MAX_SUBJECT_WORDS * 2 :]
    while words and _filler(words[-1].group(0)):
        words.pop()
    kept = words[-MAX_SUBJECT_WORDS:]
    while kept and _filler(kept[0].group(0)):
        kept.pop(0)
    if not kept:
        return end, ""
    start = clause_start + kept[0].start()
    return start, " ".join(w.group(0) for w in kept)


def _filler(word: str) -> bool:
    lower = word.lower().strip(".,")
    return lower in FILLER or (lower.endswith("ed") and len(lower) > 4 and lower not in ("speed", "embed"))


def _direction(context: str, at: int, sign: str) -> str:
    """The explicit sign, else the direction word nearest to position ``at`` of ``context`` ("reduced")."""
    if sign in ("-", "−"):
        return "-"
    if sign == "+":
        return "+"
    words = [(abs(m.start() - at), m.group(0).lower()) for m in DIRECTION.finditer(context)]
    return min(words)[1] if words else ""


def _overlaps(span: tuple[int, int], taken: list[tuple[int, int]]) -> bool:
    return any(span[0] < end and start < span[1] for start, end in taken)
