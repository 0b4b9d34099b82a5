"""Quantitative claims in text: a table of real-looking sentences, and ones that must not match."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from impact_miner.claims import Claim, claims_in, extract_claims
from impact_miner.model import Evidence

# (sentence, [(kind, text, subject, unit, before, after, percent, factor, direction)])
MATCHES: list[tuple[str, list[tuple[Any, ...]]]] = [
    (
        "Moves index merges off the request path: p95 from 320 ms to 218 ms.",
        [("change", "p95 from 320 ms to 218 ms", "p95", "ms", 320, 218, -31.875, None, "decrease")],
    ),
    (
        "Reduced p95 search latency from 320ms to 218ms by caching segments",
        [
            (
                "change",
                "p95 search latency from 320ms to 218ms",
                "p95 search latency",
                "ms",
                320,
                218,
                -31.875,
                None,
                "decrease",
            )
        ],
    ),
    (
        "Cold start 4.2 s → 1.4 s after lazy imports",
        [("change", "Cold start 4.2 s → 1.4 s", "Cold start", "s", 4.2, 1.4, -66.667, None, "decrease")],
    ),
    (
        "Peak RSS 2.1 GB -> 1.4 GB (measured in staging)",
        [("change", "Peak RSS 2.1 GB -> 1.4 GB", "Peak RSS", "GB", 2.1, 1.4, -33.333, None, "decrease")],
    ),
    (
        "Error rate went down from 2% to 0.5% on checkout",
        [
            (
                "change",
                "Error rate went down from 2% to 0.5%",
                "Error rate",
                "%",
                2,
                0.5,
                -75,
                None,
                "decrease",
            )
        ],
    ),
    (
        "Throughput from 1,200 req/s to 1,850 req/s",
        [
            (
                "change",
                "Throughput from 1,200 req/s to 1,850 req/s",
                "Throughput",
                "req/s",
                1200,
                1850,
                54.1667,
                None,
                "increase",
            )
        ],
    ),
    (
        "Monthly bill from $1.5k to $300 after rightsizing",
        [
            (
                "change",
                "Monthly bill from $1.5k to $300",
                "Monthly bill",
                "$",
                1500,
                300,
                -80,
                None,
                "decrease",
            )
        ],
    ),
    (
        "Sentry errors dropped from 120 to 3 per day",
        [
            (
                "change",
                "Sentry errors dropped from 120 to 3",
                "Sentry errors",
                "",
                120,
                3,
                -97.5,
                None,
                "decrease",
            )
        ],
    ),
    (
        "Active users from 900 to 1,300 users in a week",
        [
            (
                "change",
                "Active users from 900 to 1,300 users",
                "Active users",
                "users",
                900,
                1300,
                44.444,
                None,
                "increase",
            )
        ],
    ),
    (
        "Build time down from 12 to 4 minutes",
        [
            (
                "change",
                "Build time down from 12 to 4 minutes",
                "Build time",
                "minutes",
                12,
                4,
                -66.667,
                None,
                "decrease",
            )
        ],
    ),
    ("Cut CI time 40%.", [("percent", "CI time 40%", "CI time", "%", None, None, 40, None, "cut")]),
    (
        "This reduces p99 latency by 32 percent for large tenants",
        [("percent", "p99 latency by 32 percent", "p99 latency", "%", None, None, 32, None, "reduces")],
    ),
    (
        "Checkout conversion +3.5%",
        [("percent", "Checkout conversion +3.5%", "Checkout conversion", "%", None, None, 3.5, None, "+")],
    ),
    (
        "Indexing is now 3x faster",
        [("factor", "Indexing is now 3x faster", "Indexing", "", None, None, None, 3, "faster")],
    ),
    ("2.5× fewer timeouts", [("factor", "2.5× fewer", "", "", None, None, None, 2.5, "fewer")]),
    (
        "Bundle is 10 times smaller",
        [("factor", "Bundle is 10 times smaller", "Bundle", "", None, None, None, 10, "smaller")],
    ),
    (
        "p50 from 80 ms to 60 ms and p95 from 320 ms to 218 ms; 3x faster cold starts",
        [
            ("change", "p50 from 80 ms to 60 ms", "p50", "ms", 80, 60, -25, None, "decrease"),
            ("change", "p95 from 320 ms to 218 ms", "p95", "ms", 320, 218, -31.875, None, "decrease"),
            ("factor", "3x faster", "", "", None, None, None, 3, "faster"),
        ],
    ),
]

NON_MATCHES = [
    "Bump requests from 2.31.0 to 2.32.0",
    "Bump lodash from 4.17 to 4.18",
    "Upgrade Python from 3.11 to 3.12",
    "Released v1.2.3 on 2026-11-12",
    "Deploy window moved from 2026-11-01 to 2026-11-12",
    "Meeting moved from 12/11/2026 to 13/11/2026",
    "Standup from 10:30 to 11:00",
    "Fixes #123 and #456, follow-up to SEARCH-88",
    "Reverts 3f2a9c1 and deadbeef; mask is 0x1F",
    "Renamed k8s manifests for IPv6 and HTTP/2",
    "Moved from 3 to 5 replicas",  # no unit and no measure word: a change, not an outcome
    "See https://example.com/report?from=10&to=20ms",
    "Merge branch 'SEARCH-1-p95' into main",
]


def _close(a: float | None, b: float | None) -> bool:
    return a == b if a is None or b is None else a == pytest.approx(b, rel=1e-4)


@pytest.mark.parametrize(("sentence", "expected"), MATCHES, ids=[s for s, _ in MATCHES])
def test_claims_in_real_looking_sentences(sentence: str, expected: list[tuple[Any, ...]]) -> None:
    claims = extract_claims(sentence, "git:acme/search@abc")
    assert len(claims) == len(expected), claims
    for claim, (kind, text, subject, unit, before, after, percent, factor, direction) in zip(
        claims, expected, strict=True
    ):
        assert (claim.kind, claim.text, claim.subject, claim.unit) == (kind, text, subject, unit)
        assert _close(claim.before, before) and _close(claim.after, after)
        assert _close(claim.percent, percent) and _close(claim.factor, factor)
        assert claim.direction == direction
        assert claim.text in sentence  # quoted verbatim, so the verifier finds its numbers
        assert claim.evidence_id == "git:acme/search@abc"


@pytest.mark.parametrize("sentence", NON_MATCHES)
def test_versions_dates_issue_numbers_and_hex_ids_are_not_claims(sentence: str) -> None:
    assert extract_claims(sentence) == []


def _item(kind: str, title: str, body: str = "", n: int = 1) -> Evidence:
    return Evidence(
        id=f"{kind}:{n}",
        source="test",
        kind=kind,
        title=title,
        url="",
        completed_at=datetime(2026, 11, 20, tzinfo=UTC),
        body=body,
    )


def test_claims_come_from_pull_requests_tickets_and_commits_once_each() -> None:
    items = [
        _item("pull_request", "Speed up search (#412)", "p95 from 320 ms to 218 ms.\n\nMetric: p95", 1),
        _item("commit", "Speed up search (#412)", "p95 from 320 ms to 218 ms.", 2),  # squashed: same claim
        _item("ticket", "SEARCH-88", "Users see 3x faster results", 3),
        _item("review", "LGTM", "This is 50% faster", 4),  # a reviewer's words are not the author's claim
        _item("metric", "search p95 latency", "PromQL: histogram_quantile(0.95, ...)", 5),
    ]
    claims = claims_in(items)
    assert [(c.kind, c.evidence_id) for c in claims] == [("change", "pull_request:1"), ("factor", "ticket:3")]


def test_a_claim_as_a_project_metric_is_marked_claimed() -> None:
    (claim,) = extract_claims("p95 from 320 ms to 218 ms", "github:acme/search#412")
    assert isinstance(claim, Claim)
    metric = claim.to_metric()
    assert metric["source"] == "claimed"
    assert metric["evidence_id"] == "github:acme/search#412"
    assert (metric["name"], metric["before"], metric["after"], metric["delta"]) == ("p95", 320, 218, -102)
    assert metric["percent"] == -31.875  # no float noise (-31.874999999999996) in the report
    assert metric["text"] == "p95 from 320 ms to 218 ms"
