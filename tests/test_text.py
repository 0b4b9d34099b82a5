"""The one body trimmer every connector uses."""

from __future__ import annotations

from impact_miner.text import BODY_LIMIT, trim_body


def test_a_short_body_is_only_stripped() -> None:
    assert trim_body("  Fixes #12.\n\n") == "Fixes #12."
    assert trim_body("") == ""


def test_a_body_at_the_limit_is_kept_whole() -> None:
    body = "x" * BODY_LIMIT
    assert trim_body(body) == body


def test_a_longer_body_is_cut_to_the_limit_ending_in_an_ellipsis() -> None:
    cut = trim_body("word " * 2000)
    assert len(cut) <= BODY_LIMIT and cut.endswith("word…")  # the space before the cut is dropped
    assert trim_body("abcdef", limit=4) == "abc…"
