"""Small text helpers shared by the connectors."""

from __future__ import annotations

BODY_LIMIT = 4000  # characters of a pull request's, ticket's or commit's body kept in the evidence


def trim_body(text: str, limit: int = BODY_LIMIT) -> str:
    """``text`` without surrounding whitespace, cut to ``limit`` characters (ending in "…" when cut)."""
    text = text.strip()
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"
