"""The SQLite cache: round trips, refresh, namespaces, the `cached` helper, and `mine cache`."""

from __future__ import annotations

import stat
from datetime import UTC, datetime
from pathlib import Path

import pytest

from impact_miner.cache import Cache, cached
from impact_miner.cli import main
from impact_miner.model import Evidence


def test_round_trip_refresh_and_clear(tmp_path: Path) -> None:
    cache = Cache(tmp_path / "c" / "cache.sqlite3")
    assert cache.get("github", {"q": 1}) is None
    cache.put("github", {"q": 1, "window": ["a", "b"]}, [{"id": "x"}])
    cache.put("llm", {"model": "m"}, {"statement": "s"})
    assert cache.get("github", {"window": ["a", "b"], "q": 1}) == [{"id": "x"}]  # key order is irrelevant
    assert cache.hits == 1
    assert stat.S_IMODE((tmp_path / "c" / "cache.sqlite3").stat().st_mode) == 0o600
    assert Cache(cache.path, refresh=True).get("github", {"q": 1, "window": ["a", "b"]}) is None
    assert cache.info().entries == {"github": 1, "llm": 1}
    assert cache.clear("llm") == 1
    assert cache.info().entries == {"github": 1}
    assert cache.clear() == 1
    assert cache.info().entries == {}


def test_cached_stores_only_what_is_storable(tmp_path: Path) -> None:
    cache = Cache(tmp_path / "cache.sqlite3")
    calls: list[int] = []

    def fetch() -> list[int]:
        calls.append(1)
        return [len(calls)]

    assert cached(cache, "ns", {"k": "open"}, fetch, storable=lambda _: False) == [1]
    assert cached(cache, "ns", {"k": "open"}, fetch, storable=lambda _: False) == [2]
    assert cached(cache, "ns", {"k": "closed"}, fetch, storable=lambda _: True) == [3]
    assert cached(cache, "ns", {"k": "closed"}, fetch, storable=lambda _: True) == [3]
    assert len(calls) == 3
    assert cached(None, "ns", {"k": "closed"}, fetch, storable=lambda _: True) == [4]


def test_evidence_survives_a_json_round_trip() -> None:
    item = Evidence(
        id="git:a@1", source="git", kind="commit", title="t", url="u", refs=["A-1"], extra={"sha": "1"},
        completed_at=datetime(2026, 11, 20, 10, tzinfo=UTC),
    )  # fmt: skip
    assert Evidence.from_dict(item.to_dict()) == item
    assert Evidence.from_dict({**item.to_dict(), "unknown": 1}) == item


def test_cache_commands(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "cache.sqlite3"
    monkeypatch.setenv("IMPACT_MINER_CACHE", str(path))
    Cache(path).put("github", {"q": 1}, [])
    with pytest.raises(SystemExit) as exited:
        main(["cache", "info"])
    assert exited.value.code == 0
    out = capsys.readouterr().out
    assert str(path) in out and "github" in out and "1 entries" in out
    with pytest.raises(SystemExit):
        main(["cache", "clear"])
    assert "Removed 1 cached entries." in capsys.readouterr().out
    assert Cache(path).info().entries == {}
